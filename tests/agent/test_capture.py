"""Screen to frame: the whole screen or only its damaged parts, shrunk exactly as `shrink` does;
on X11, nothing grabbed while the display server reports no damage."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageChops
from Xlib import X
from Xlib import display as xdisplay
from Xlib.protocol import event as xevent

from agent.capture import Capture, thumbnail_geometry
from agent.screen import SyntheticScreen
from agent.thumbnail import Thumbnail, shrink
from agent.tiles import TileUpdate
from agent.x11_screen import X11Screen
from tests.xvfb import poll_until, xvfb_fixture

# A private server per test: nothing else may draw while a test says "nothing changes".
quiet_display = xvfb_fixture(scope="function", screen="1280x720x24", name="quiet_display")


@pytest.mark.parametrize(
    ("screen", "width"), [((1920, 1080), 320), ((1366, 768), 320), ((1280, 800), 1280)]
)
def test_thumbnail_geometry_is_the_arithmetic_of_shrink(
    screen: tuple[int, int], width: int
) -> None:
    factor, target = thumbnail_geometry(screen, width)
    assert shrink(Image.new("RGB", screen), width).size == target
    assert factor == max(1, screen[0] // width)


def test_a_still_synthetic_screen_is_grabbed_but_sends_nothing() -> None:
    now = [1_000_000.0]
    capture = Capture(SyntheticScreen("Ada", 1, (1366, 768), clock=lambda: now[0]))
    first = capture.take(320)
    assert isinstance(first, Thumbnail) and (first.width, first.height) == (320, 180)
    assert capture.take(320) is None
    now[0] += 30  # the window drifts, the clock and progress bar move
    assert capture.take(320) is not None
    assert capture.stats.full_grabs == 3  # no damage reports: the whole screen each time


class Painter:
    """Another X client that draws rectangles on a window of its own."""

    def __init__(self, display: str) -> None:
        self.x = xdisplay.Display(display)
        screen = self.x.screen()
        self.window = screen.root.create_window(
            100, 100, 320, 240, 0, screen.root_depth, background_pixel=screen.black_pixel
        )
        self.window.change_attributes(override_redirect=True)
        self.window.map()
        self.gc = self.window.create_gc(foreground=screen.white_pixel)
        self.x.sync()

    def fill(self, x: int, y: int, width: int, height: int, colour: int) -> None:
        self.gc.change(foreground=colour)
        self.window.fill_rectangle(self.gc, x, y, width, height)
        self.x.sync()

    def announce_screen_size(self, width: int, height: int) -> None:
        """Tell the root window's listeners the screen has this size, as RandR would."""
        root = self.x.screen().root
        configured = xevent.ConfigureNotify(
            window=root,
            event=root,
            above_sibling=X.NONE,
            x=0,
            y=0,
            width=width,
            height=height,
            border_width=0,
            override=False,
        )
        root.send_event(configured, event_mask=X.StructureNotifyMask)
        self.x.sync()

    def close(self) -> None:
        self.window.destroy()
        self.x.close()


@pytest.fixture
def painter(quiet_display: str) -> Iterator[Painter]:
    painter = Painter(quiet_display)
    try:
        yield painter
    finally:
        painter.close()


@pytest.mark.desktop
def test_x11_screen_grabs_what_mss_grabs_and_shrinks_boxes_in_place(quiet_display: str) -> None:
    from agent.screen import MssScreen

    painter = Painter(quiet_display)
    try:
        painter.fill(10, 10, 100, 50, 0x13A85F)
        with X11Screen(quiet_display) as screen, MssScreen(quiet_display) as reference:
            whole = screen.grab()
            assert whole.size == screen.size == (1280, 720)
            assert whole.tobytes() == reference.grab().tobytes()
            assert whole.getpixel((150, 150)) == (0x13, 0xA8, 0x5F)
            # A box on the shrink grid, shrunk alone, is that part of the whole screen shrunk.
            part = screen.grab_reduced((96, 96, 288, 192), 4)
            shrunk = screen.grab_reduced((0, 0, 1280, 720), 4)
            assert part.tobytes() == shrunk.crop((24, 24, 72, 48)).tobytes()
            assert part.getpixel((8, 8)) == (0x13, 0xA8, 0x5F)
            assert reference.grab_reduced((96, 96, 288, 192), 4).tobytes() == part.tobytes()
    finally:
        painter.close()


def _paint_stripes(painter: Painter) -> None:
    """Colours across the rows where strips meet (1280 px: about 100 rows a strip), with
    edges inside shrink blocks, where averaging every row and every other row differ."""
    for index, top in enumerate(range(0, 720, 37)):
        painter.fill(13 * index, top, 400, 29, 0x102030 * (index + 1) & 0xFFFFFF)


def _shared_segments_mapped() -> list[int]:
    """Sizes of the System V shared memory segments this process has mapped."""
    sizes = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        if "/SYSV" in line:
            start, end = (int(part, 16) for part in line.split()[0].split("-"))
            sizes.append(end - start)
    return sizes


@pytest.mark.desktop
@pytest.mark.parametrize("factor", [1, 2, 3, 4, 6])
@pytest.mark.parametrize("server_halving", [False, True], ids=["shrunk here", "halved by X"])
def test_x11_screen_grabs_large_areas_in_strips_that_make_the_same_picture(
    quiet_display: str, factor: int, server_halving: bool
) -> None:
    from agent.screen import MssScreen

    painter = Painter(quiet_display)
    try:
        _paint_stripes(painter)
        with (
            X11Screen(quiet_display, server_halving=server_halving) as screen,
            MssScreen(quiet_display) as reference,
        ):
            assert screen.halves_on_server == server_halving  # Xvfb has RENDER
            whole = reference.grab()
            for box in [(0, 0, 1280, 720), (6, 12, 1211, 719), (0, 198, 1280, 612)]:
                ours = screen.grab_reduced(box, factor)
                if server_halving and factor % 2 == 0 and not any(v % 2 for v in box):
                    # Each pixel the average of its whole block, within a grey level.
                    exact = whole.crop(box).reduce(factor)
                    assert ours.size == exact.size
                    assert max(ImageChops.difference(ours, exact).tobytes()) <= 1, box
                else:  # an odd factor or edge: shrunk here, as mss's grab is
                    assert ours.tobytes() == reference.grab_reduced(box, factor).tobytes(), box
            # A whole screen went through, and the segment still holds only a strip of it.
            assert screen.grab().tobytes() == reference.grab().tobytes()
            assert _shared_segments_mapped() and max(_shared_segments_mapped()) <= 1 << 19
    finally:
        painter.close()


@pytest.mark.desktop
def test_a_server_that_does_not_average_is_not_asked_to_halve(
    quiet_display: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent import x11_render
    from agent.screen import MssScreen

    # Nearest-neighbour picks one pixel of each 2x2 block: the test at start must see it.
    monkeypatch.setattr(x11_render, "_FILTER", "nearest")
    painter = Painter(quiet_display)
    try:
        _paint_stripes(painter)
        with X11Screen(quiet_display) as screen, MssScreen(quiet_display) as reference:
            assert not screen.halves_on_server
            box = (0, 0, 1280, 720)
            assert screen.grab_reduced(box, 6).tobytes() == reference.grab_reduced(box, 6).tobytes()
    finally:
        painter.close()


@pytest.mark.desktop
def test_a_halving_the_server_refuses_is_grabbed_again_without_it(quiet_display: str) -> None:
    from agent.screen import MssScreen

    painter = Painter(quiet_display)
    try:
        _paint_stripes(painter)
        with X11Screen(quiet_display) as screen, MssScreen(quiet_display) as reference:
            assert screen._halving is not None
            screen._halving._free(screen._halving._screen)  # the next halving: BadPicture
            box = (0, 0, 1280, 720)
            assert screen.grab_reduced(box, 6).tobytes() == reference.grab_reduced(box, 6).tobytes()
            assert not screen.halves_on_server
    finally:
        painter.close()


@pytest.mark.desktop
def test_damage_comes_merged_and_once_and_a_new_screen_size_asks_for_everything(
    quiet_display: str, painter: Painter
) -> None:
    with X11Screen(quiet_display) as screen:
        assert screen.changed_areas() is None  # nothing grabbed yet: everything
        poll_until(lambda: screen.changed_areas() == [], 10, "the screen never settled")
        painter.fill(40, 40, 120, 80, 0x3050F0)  # screen pixels 140..260 x 140..220
        painter.fill(60, 50, 20, 20, 0x103010)  # drawn over, inside it
        painter.fill(200, 150, 10, 10, 0xF0F0F0)  # elsewhere: 300..310 x 250..260
        assert sorted(screen.changed_areas() or []) == [(140, 140, 260, 220), (300, 250, 310, 260)]
        assert screen.changed_areas() == []  # reported once: nothing is owed
        painter.announce_screen_size(*screen.size)
        assert screen.changed_areas() == []
        painter.announce_screen_size(1024, 768)
        assert screen.changed_areas() is None


@pytest.mark.desktop
def test_damage_no_grab_while_nothing_changes_and_a_grab_after_a_window_changes(
    quiet_display: str, painter: Painter
) -> None:
    with X11Screen(quiet_display) as screen:
        assert screen.reports_damage
        capture = Capture(screen)
        assert isinstance(capture.take(320), Thumbnail)

        # Settle: the window's own mapping may still be reported once or twice.
        def settled() -> bool:
            before = capture.stats.skipped_grabs
            capture.take(320)
            return capture.stats.skipped_grabs > before

        poll_until(settled, 10, "the screen never stopped reporting damage")
        stats = capture.stats
        grabbed = (stats.full_grabs, stats.partial_grabs, stats.pixels_grabbed)
        for _ in range(20):
            assert capture.take(320) is None
        assert (stats.full_grabs, stats.partial_grabs, stats.pixels_grabbed) == grabbed
        assert stats.skipped_grabs >= 21

        # Another program draws: only around its drawing is grabbed, and only it is sent.
        painter.fill(40, 40, 120, 80, 0x3050F0)  # screen pixels 140..260 x 140..220
        capture.encoder.coalesce_seconds = 0.0
        update = capture.take(320)
        assert stats.partial_grabs == grabbed[1] + 1
        assert stats.pixels_grabbed - grabbed[2] < 1280 * 720 / 10
        assert isinstance(update, TileUpdate)
        for patch in update.patches:  # 1280 -> 320 is a factor of 4: 35..65 x 35..55
            assert patch.x >= 32 and patch.x + patch.width <= 80
            assert patch.y >= 32 and patch.y + patch.height <= 64
