"""Only what changed visibly: nothing, the changed tiles, or a whole picture, whichever is right."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageDraw

from agent.screen import SyntheticScreen
from agent.thumbnail import Thumbnail, shrink
from agent.tiles import FrameEncoder, TileUpdate, changed_tiles, rectangles
from protocol.frames import TILE

SIZE = (320, 180)


def desktop(seed: int = 1) -> Image.Image:
    """A plausible 320 px thumbnail of a desktop (the synthetic screen at a pinned time)."""
    return shrink(SyntheticScreen("Ada", seed, (1920, 1080), clock=lambda: 1_000_000.0).grab(), 320)


def decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def reassemble(base: Image.Image, update: TileUpdate) -> Image.Image:
    picture = base.copy()
    for patch in update.patches:
        image = decode(patch.data)
        assert image.size == (patch.width, patch.height)
        picture.paste(image, (patch.x, patch.y))
    return picture


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    histogram = ImageChops.difference(a, b).convert("L").histogram()
    return sum(value * count for value, count in enumerate(histogram)) / (a.width * a.height)


def with_clock_ticked(picture: Image.Image) -> Image.Image:
    """The same picture with a few pixels of the taskbar clock redrawn."""
    changed = picture.copy()
    ImageDraw.Draw(changed).rectangle((300, 172, 306, 176), fill=(250, 250, 250))
    return changed


def test_an_unchanged_screen_sends_nothing() -> None:
    encoder = FrameEncoder()
    picture = desktop()
    assert isinstance(encoder.encode(picture, now=0.0), Thumbnail)  # the first is whole
    for second in range(1, 30):
        assert encoder.encode(picture.copy(), now=float(second)) is None


def test_a_small_change_sends_only_its_tiles_and_reassembles_to_the_picture() -> None:
    encoder = FrameEncoder(coalesce_seconds=0.0)
    before = desktop()
    whole = encoder.encode(before, now=0.0)
    assert isinstance(whole, Thumbnail)
    after = with_clock_ticked(before)
    update = encoder.encode(after, now=1.0)
    assert isinstance(update, TileUpdate)
    # The patches cover the changed pixels and nothing far from them: one tile here.
    covered = {(p.x, p.y, p.width, p.height) for p in update.patches}
    assert covered == {(288, 160, 32, 20)}  # tiles at x 288-319, the 20 px bottom row
    assert update.data_size < len(whole.data) / 5
    # What the console rebuilds equals the new picture, as closely as a whole frame does.
    rebuilt = reassemble(decode(whole.data), update)
    encoded_whole = decode(FrameEncoder().encode(after, now=0.0).data)  # type: ignore[union-attr]
    assert mean_difference(rebuilt, after) <= mean_difference(encoded_whole, after) + 0.5
    box = (288, 160, 320, 180)
    assert mean_difference(rebuilt.crop(box), after.crop(box)) < 8


def test_a_big_change_sends_a_whole_picture() -> None:
    encoder = FrameEncoder()
    encoder.encode(desktop(1), now=0.0)
    assert isinstance(encoder.encode(desktop(2), now=1.0), Thumbnail)  # another wallpaper


def test_tiny_changes_wait_and_go_together() -> None:
    encoder = FrameEncoder(coalesce_seconds=3.0)
    picture = desktop()
    encoder.encode(picture, now=0.0)
    ticked = with_clock_ticked(picture)
    assert encoder.encode(ticked, now=1.0) is None  # waits...
    assert encoder.encode(ticked, now=2.0, unchanged=True) is None
    update = encoder.encode(ticked, now=4.0, unchanged=True)  # ...and goes after 3 s
    assert isinstance(update, TileUpdate)
    assert encoder.encode(ticked, now=5.0) is None  # sent once


def test_a_big_change_does_not_wait() -> None:
    encoder = FrameEncoder(coalesce_seconds=3.0, whole_share=2.0)
    picture = desktop()
    encoder.encode(picture, now=0.0)
    moved = picture.copy()
    ImageDraw.Draw(moved).rectangle((40, 40, 200, 120), fill=(10, 120, 200))
    assert isinstance(encoder.encode(moved, now=0.5), TileUpdate)


def test_moving_tiles_go_roughly_then_sharply_once_still() -> None:
    encoder = FrameEncoder(coalesce_seconds=0.0, refine_after=2.0, whole_share=2.0)
    picture = desktop()
    first = encoder.encode(picture, now=0.0)
    assert isinstance(first, Thumbnail)
    sizes: list[int] = []
    base = picture
    for second in (1, 2, 3):
        moving = picture.copy()
        ImageDraw.Draw(moving).rectangle((40, 40, 200, 120), fill=(second * 60, 90, 40))
        ImageDraw.Draw(moving).text((50, 50), f"frame {second}" * 3, fill="white")
        update = encoder.encode(moving, now=float(second))
        assert isinstance(update, TileUpdate)
        sizes.append(update.data_size)
        base = reassemble(base, update) if second > 1 else reassemble(decode(first.data), update)
        assert mean_difference(base, moving) < 6  # in whichever format moving tiles went
    assert sizes[1] < sizes[0]  # still moving: the second change goes at busy quality
    assert encoder.encode(moving, now=4.0) is None  # still, but not for long enough
    refined = encoder.encode(moving, now=5.0)  # still for 2 s: sent again, sharply
    assert isinstance(refined, TileUpdate) and refined.data_size > sizes[1]
    assert encoder.encode(moving, now=9.0) is None


def test_a_watcher_can_ask_for_a_whole_picture() -> None:
    encoder = FrameEncoder()
    picture = desktop()
    encoder.encode(picture, now=0.0)
    encoder.request_keyframe()
    assert isinstance(encoder.encode(picture, now=1.0), Thumbnail)
    assert encoder.encode(picture, now=2.0) is None


def test_a_new_size_starts_with_a_whole_picture() -> None:
    encoder = FrameEncoder()
    encoder.encode(desktop(), now=0.0)
    assert isinstance(encoder.encode(desktop().resize((160, 90)), now=1.0), Thumbnail)


def test_one_pixel_one_level_apart_marks_its_tile_and_no_other() -> None:
    picture = desktop()
    for x, y in ((0, 0), (17, 33), (319, 179)):
        changed = picture.copy()
        red, green, blue = changed.getpixel((x, y))  # type: ignore[misc]
        changed.putpixel((x, y), (red, green, blue ^ 1))
        assert changed_tiles(changed, picture) == {(y // TILE) * 20 + x // TILE}
    assert changed_tiles(picture, picture.copy()) == set()


@given(st.sets(st.integers(0, 20 * 12 - 1), max_size=240))
def test_rectangles_cover_exactly_the_changed_tiles_once(tiles: set[int]) -> None:
    covered: list[int] = []
    for column, row, end_column, end_row in rectangles(tiles, 20):
        covered += [r * 20 + c for r in range(row, end_row) for c in range(column, end_column)]
    assert sorted(covered) == sorted(tiles)
