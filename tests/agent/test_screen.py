"""Screen sources: mss reads back what is really on the X display; synthetic screens move."""

from __future__ import annotations

import itertools
import tkinter
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image, ImageChops

from agent.screen import MssScreen, ScreenSource, SyntheticScreen
from tests.xvfb import poll_until, rgb, share_of_colour

WINDOW_COLOUR = "#13a85f"
# Xvfb's screen in the session fixture.
SCREEN_SIZE = (1024, 768)


@pytest.mark.desktop
def test_mss_screen_grabs_the_whole_display_as_rgb(screen: MssScreen) -> None:
    source: ScreenSource = screen  # MssScreen is a ScreenSource (checked by mypy)
    image = source.grab()
    assert image.mode == "RGB"
    assert image.size == source.size == SCREEN_SIZE


@pytest.mark.desktop
def test_mss_screen_shows_a_window_where_it_is(screen: MssScreen, probe: tkinter.Tk) -> None:
    probe.overrideredirect(True)  # no window manager here anyway; keep the position exact
    probe.configure(background=WINDOW_COLOUR)
    probe.geometry("200x150+100+120")
    inside = (110, 130, 290, 260)

    def window_on_screen() -> bool:
        probe.update()
        return share_of_colour(screen.grab(), WINDOW_COLOUR, inside) == 1.0

    poll_until(window_on_screen, 10, "the green window never showed up in a capture")
    image = screen.grab()
    # Exactly the window's rectangle is green: the channels are in the right order and the
    # picture is not shifted.
    assert image.getpixel((100, 120)) == rgb(WINDOW_COLOUR)
    assert image.getpixel((299, 269)) == rgb(WINDOW_COLOUR)
    assert image.getpixel((99, 120)) != rgb(WINDOW_COLOUR)
    assert image.getpixel((300, 269)) != rgb(WINDOW_COLOUR)
    assert image.getpixel((100, 270)) != rgb(WINDOW_COLOUR)

    probe.withdraw()

    def window_gone() -> bool:
        probe.update()
        return share_of_colour(screen.grab(), WINDOW_COLOUR, inside) == 0.0

    poll_until(window_gone, 10, "the window stayed in captures after it was hidden")


@pytest.mark.desktop
def test_mss_screen_grabs_from_many_threads(screen: MssScreen) -> None:
    # asyncio.to_thread may run each grab on a different worker thread.
    with ThreadPoolExecutor(max_workers=4) as pool:
        images = list(pool.map(lambda _: screen.grab(), range(16)))
    assert {image.size for image in images} == {SCREEN_SIZE}


@pytest.mark.desktop
def test_mss_screen_refuses_to_grab_once_closed(xvfb_display: str) -> None:
    source = MssScreen(xvfb_display)
    source.grab()
    source.close()
    source.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        source.grab()
    # A thread that never grabbed before must not open a new connection either.
    with ThreadPoolExecutor(max_workers=1) as pool, pytest.raises(RuntimeError, match="closed"):
        pool.submit(source.grab).result()


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def differs(first: Image.Image, second: Image.Image) -> bool:
    return ImageChops.difference(first, second).getbbox() is not None


def test_synthetic_screen_is_a_screen_source_of_its_size() -> None:
    source: ScreenSource = SyntheticScreen("Ada Lovelace", seed=1, size=(640, 400))
    image = source.grab()
    assert image.mode == "RGB"
    assert image.size == source.size == (640, 400)
    source.close()


def test_two_students_look_different() -> None:
    clock = FakeClock()
    ada = SyntheticScreen("Ada Lovelace", seed=1, clock=clock).grab()
    alan = SyntheticScreen("Alan Turing", seed=2, clock=clock).grab()
    assert differs(ada, alan)
    # Not just the name: the wallpapers differ too (top-left corner, clear of any window).
    assert ada.getpixel((5, 5)) != alan.getpixel((5, 5))


def test_a_synthetic_screen_moves_over_time() -> None:
    clock = FakeClock()
    source = SyntheticScreen("Ada Lovelace", seed=1, clock=clock)
    frames = []
    for _ in range(5):
        frames.append(source.grab())
        clock.now += 1.0
    for earlier, later in itertools.pairwise(frames):
        assert differs(earlier, later)


def test_a_synthetic_screen_is_a_function_of_seed_and_time() -> None:
    clock = FakeClock()
    first = SyntheticScreen("Ada Lovelace", seed=7, clock=clock).grab()
    again = SyntheticScreen("Ada Lovelace", seed=7, clock=clock).grab()
    assert not differs(first, again)


@pytest.mark.parametrize("size", [(320, 200), (1280, 800), (1920, 1080)])
def test_synthetic_screens_of_any_reasonable_size(size: tuple[int, int]) -> None:
    clock = FakeClock()
    source = SyntheticScreen("Grace Hopper", seed=3, size=size, clock=clock)
    for _ in range(50):  # the moving parts sweep across their whole range without errors
        assert source.grab().size == size
        clock.now += 7.3


def test_a_synthetic_screen_too_small_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 320x200"):
        SyntheticScreen("Tiny", seed=1, size=(100, 100))


def test_a_synthetic_grab_draws_only_the_moving_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A demo runs dozens of simulated students in one process: the wallpaper and the windows
    are drawn once, and each grab only pastes them and draws what moves (bench.classroom
    reports what a grab costs)."""
    source = SyntheticScreen("Ada Lovelace", seed=1)
    drawn: list[str] = []
    for helper in ("_draw_background", "_draw_window"):
        monkeypatch.setattr(source, helper, lambda *_, name=helper: drawn.append(name))
    clock_face = source.grab()
    for _ in range(20):
        source.grab()
    assert drawn == []
    assert clock_face.size == source.size


def _bgrx(picture: Image.Image) -> bytearray:
    """`picture` (RGB) as the B, G, R, X bytes a display server gives."""
    red, green, blue = picture.split()
    return bytearray(Image.merge("RGBA", (blue, green, red, red)).tobytes())


@pytest.mark.parametrize("factor", [2, 3, 4, 6])
def test_shrinking_raw_pixels_keeps_colours_and_the_parts_match_the_whole(factor: int) -> None:
    from agent.screen import reduce_bgrx, reduce_box

    # An odd height, so the last block is cut by the bottom edge.
    picture = SyntheticScreen("Ada", 3, (960, 601), clock=lambda: 1_000_000.0).grab()
    whole = reduce_bgrx(_bgrx(picture), picture.size, factor)
    assert whole.mode == "RGB"
    assert whole.size == reduce_box(picture, factor).size
    # A box whose left and top are on the shrink grid gives that part of the whole.
    box = (factor * 10, factor * 20, factor * 70, 601)
    part = reduce_bgrx(_bgrx(picture.crop(box)), (box[2] - box[0], box[3] - box[1]), factor)
    left, top = box[0] // factor, box[1] // factor
    assert part.tobytes() == whole.crop((left, top, left + part.width, top + part.height)).tobytes()
    # A plain colour stays exactly that colour, whichever rows are read.
    plain = Image.new("RGB", (factor * 8, factor * 5 + 1), (19, 168, 95))
    shrunk = reduce_bgrx(_bgrx(plain), plain.size, factor)
    assert shrunk.getcolors() == [(shrunk.width * shrunk.height, (19, 168, 95))]
    if factor % 2:  # odd factors average every row, exactly as reduce_box does
        assert whole.tobytes() == reduce_box(picture, factor).tobytes()
