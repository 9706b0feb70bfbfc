"""render_picture: half-block drawing, fitting, and refusing hostile picture bytes."""

from __future__ import annotations

import struct
import zlib
from io import BytesIO

import pytest
from PIL import Image
from rich.color import Color, ColorSystem
from rich.console import Console
from rich.segment import Segment

from console.picture import (
    MAX_PICTURE_PIXELS,
    UPPER_HALF_BLOCK,
    HalfBlockPicture,
    LivePicture,
    PictureError,
    fit_cells,
    render_picture,
)
from protocol.frames import Frame, ImageFormat, Patch, TileFrame
from tests.console.harness import BLUE, RED, banded_picture


def encode(image: Image.Image, format: str) -> bytes:
    buffer = BytesIO()
    image.save(buffer, format)
    return buffer.getvalue()


def segments(picture: HalfBlockPicture) -> list[list[Segment]]:
    console = Console(width=200, color_system="truecolor")
    return [list(line) for line in Segment.split_lines(console.render(picture))]


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, idat: bytes) -> bytes:
    """A greyscale PNG built by hand, so its header can claim anything."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def black_png_bomb(width: int, height: int) -> bytes:
    """A valid, small PNG that decodes to width x height pixels."""
    squeeze = zlib.compressobj(9)
    row = bytes(1 + width)  # filter byte and black pixels
    idat = b"".join(squeeze.compress(row) for _ in range(height)) + squeeze.flush()
    return png(width, height, idat)


@pytest.mark.parametrize("format", ["PNG", "JPEG", "WEBP"])
def test_each_thumbnail_format_is_drawn_upper_pixel_on_lower(format: str) -> None:
    picture = render_picture(banded_picture((64, 64), format), cells_wide=8, cells_high=4)

    lines = segments(picture)
    assert (picture.width, picture.height) == (8, 4)
    top, bottom = lines[0][0].style, lines[-1][0].style
    assert top is not None and bottom is not None
    assert set("".join(segment.text for segment in lines[0])) == {UPPER_HALF_BLOCK}
    # Lossy formats blur colours a little: compare the dominant channel.
    assert top.color is not None and top.color.get_truecolor().red > 200
    assert bottom.bgcolor is not None and bottom.bgcolor.get_truecolor().blue > 200


def test_a_cell_holds_two_pixels_foreground_above_background_below() -> None:
    picture = render_picture(banded_picture((1, 2)), cells_wide=1, cells_high=1)

    [[cell]] = segments(picture)
    assert cell.text == UPPER_HALF_BLOCK
    assert cell.style is not None
    assert cell.style.color == Color.from_rgb(*RED)
    assert cell.style.bgcolor == Color.from_rgb(*BLUE)


def test_an_odd_last_pixel_row_leaves_the_lower_half_to_the_background() -> None:
    image = Image.new("RGB", (2, 3), RED)

    picture = render_picture(encode(image, "PNG"), cells_wide=2, cells_high=2)

    last = segments(picture)[-1]
    assert [segment.style.bgcolor for segment in last if segment.style] == [None]


def test_the_picture_keeps_its_aspect_ratio_inside_the_cells() -> None:
    wide = render_picture(banded_picture((320, 200)), cells_wide=24, cells_high=9)
    tall = render_picture(banded_picture((100, 400)), cells_wide=24, cells_high=9)

    # 24 cells wide holds 24 x 15 pixels of a 16:10 screen: 8 cells high.
    assert (wide.width, wide.height) == (24, 8)
    # 9 cells hold 18 pixels of height, so 4.5 -> 4 or 5 pixels of width.
    assert tall.height == 9 and tall.width in (4, 5)
    assert fit_cells((320, 200), 24, 9) == (24, 15)


def test_a_small_picture_is_scaled_up_to_fill_the_cells() -> None:
    picture = render_picture(banded_picture((4, 4)), cells_wide=10, cells_high=10)

    assert (picture.width, picture.height) == (10, 5)


def test_the_picture_measures_and_renders_at_its_own_width() -> None:
    picture = render_picture(banded_picture((320, 200)), cells_wide=24, cells_high=9)
    console = Console(width=80, record=True, color_system=None)

    console.print(picture)

    lines = console.export_text().splitlines()
    assert len(lines) == picture.height
    assert all(line == UPPER_HALF_BLOCK * 24 for line in lines)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a picture at all",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
        banded_picture((64, 64), "JPEG")[:200],  # truncated mid-scan
        banded_picture((64, 64), "PNG")[:-30],  # IDAT cut short
    ],
    ids=["empty", "text", "png-signature-only", "truncated-jpeg", "truncated-png"],
)
def test_undecodable_bytes_raise_picture_error(data: bytes) -> None:
    with pytest.raises(PictureError):
        render_picture(data, cells_wide=10, cells_high=5)


@pytest.mark.parametrize("format", ["GIF", "BMP", "TIFF"])
def test_formats_agents_do_not_send_are_refused(format: str) -> None:
    data = encode(Image.new("RGB", (8, 8), RED), format)

    with pytest.raises(PictureError):
        render_picture(data, cells_wide=4, cells_high=4)


def test_a_header_claiming_a_huge_picture_is_refused_before_decoding() -> None:
    claim = png(100_000, 100_000, zlib.compress(b"\x00" * 100))

    with pytest.raises(PictureError):
        render_picture(claim, cells_wide=24, cells_high=9)


def test_a_small_file_that_would_decode_to_too_many_pixels_is_refused() -> None:
    side = 5_000  # 25 megapixels in a file of a few kilobytes
    bomb = black_png_bomb(side, side)
    assert side * side > MAX_PICTURE_PIXELS and len(bomb) < 100_000

    with pytest.raises(PictureError, match="over the limit"):
        render_picture(bomb, cells_wide=24, cells_high=9)


def test_the_pixel_limit_is_checked_on_the_header() -> None:
    data = banded_picture((100, 100))

    with pytest.raises(PictureError, match="100x100 pixels is over the limit of 9999"):
        render_picture(data, cells_wide=8, cells_high=4, max_pixels=9_999)
    assert render_picture(data, cells_wide=8, cells_high=4, max_pixels=10_000).width == 8


@pytest.mark.parametrize("cells", [(0, 5), (5, 0), (-1, -1)])
def test_no_room_for_a_picture_is_a_programming_error(cells: tuple[int, int]) -> None:
    with pytest.raises(ValueError) as raised:
        render_picture(banded_picture((8, 8)), *cells)
    assert not isinstance(raised.value, PictureError)


# --- LivePicture: whole frames and tile frames reassembled -------------------------------


def whole(sequence: int, image: Image.Image, format: str = "PNG") -> Frame:
    kind = {"PNG": ImageFormat.PNG, "JPEG": ImageFormat.JPEG, "WEBP": ImageFormat.WEBP}[format]
    return Frame(1, sequence, 0, kind, image.width, image.height, encode(image, format))


def tiles(
    sequence: int, size: tuple[int, int], *patches: tuple[int, int, Image.Image]
) -> TileFrame:
    return TileFrame(
        1,
        sequence,
        0,
        ImageFormat.PNG,
        *size,
        tuple(Patch(x, y, p.width, p.height, encode(p, "PNG")) for x, y, p in patches),
    )


RED_SCREEN = Image.new("RGB", (64, 48), RED)
BLUE_TILE = Image.new("RGB", (16, 16), BLUE)


def test_tiles_are_pasted_onto_the_last_whole_picture() -> None:
    live = LivePicture()
    first = live.apply(whole(7, RED_SCREEN))
    assert first is not None and first.tobytes() == RED_SCREEN.tobytes()
    picture = live.apply(tiles(8, (64, 48), (16, 32, BLUE_TILE), (48, 0, BLUE_TILE)))
    assert picture is not None
    expected = RED_SCREEN.copy()
    expected.paste(BLUE_TILE, (16, 32))
    expected.paste(BLUE_TILE, (48, 0))
    assert picture.tobytes() == expected.tobytes()
    assert first.tobytes() == RED_SCREEN.tobytes()  # a picture handed out never changes
    assert not live.needs_keyframe


def test_tiles_after_a_gap_wait_for_a_whole_picture() -> None:
    live = LivePicture()
    live.apply(whole(7, RED_SCREEN))
    assert live.apply(tiles(9, (64, 48), (0, 0, BLUE_TILE))) is None  # frame 8 was lost
    assert live.needs_keyframe
    assert live.apply(tiles(10, (64, 48), (0, 0, BLUE_TILE))) is None  # still stale
    assert live.apply(whole(11, RED_SCREEN)) is not None
    assert live.apply(tiles(12, (64, 48), (0, 0, BLUE_TILE))) is not None


def test_tiles_without_a_picture_or_of_another_size_wait_for_a_whole_picture() -> None:
    assert LivePicture().apply(tiles(1, (64, 48), (0, 0, BLUE_TILE))) is None
    live = LivePicture()
    live.apply(whole(1, RED_SCREEN))
    assert live.apply(tiles(2, (128, 96), (0, 0, BLUE_TILE))) is None
    assert live.needs_keyframe


def test_sequence_numbers_wrap_around() -> None:
    live = LivePicture()
    live.apply(whole(2**32 - 1, RED_SCREEN))
    assert live.apply(tiles(0, (64, 48), (0, 0, BLUE_TILE))) is not None


@pytest.mark.parametrize(
    "patch",
    [
        Patch(0, 0, 16, 16, b"not a picture"),
        Patch(0, 0, 16, 16, encode(Image.new("RGB", (32, 16), BLUE), "PNG")),  # wrong size
        Patch(0, 0, 16, 16, black_png_bomb(20_000, 20_000)),
    ],
)
def test_a_patch_that_does_not_decode_to_its_rectangle_leaves_the_picture_whole(
    patch: Patch,
) -> None:
    live = LivePicture()
    live.apply(whole(1, RED_SCREEN))
    good = Patch(32, 32, 16, 16, encode(BLUE_TILE, "PNG"))
    assert live.apply(TileFrame(1, 2, 0, ImageFormat.PNG, 64, 48, (good, patch))) is None
    assert live.needs_keyframe
    restored = live.apply(whole(3, RED_SCREEN))
    assert restored is not None and restored.tobytes() == RED_SCREEN.tobytes()


def test_a_whole_frame_that_is_not_the_size_it_claims_is_refused() -> None:
    live = LivePicture()
    lying = Frame(1, 1, 0, ImageFormat.PNG, 32, 32, encode(RED_SCREEN, "PNG"))
    assert live.apply(lying) is None and live.needs_keyframe


def test_a_reassembled_picture_is_drawn_like_its_bytes() -> None:
    data = banded_picture((64, 64), "PNG")
    with Image.open(BytesIO(data)) as image:
        decoded = image.convert("RGB")
    assert segments(render_picture(decoded, 8, 4)) == segments(render_picture(data, 8, 4))


def test_in_a_256_colour_terminal_cells_are_in_its_palette_and_alike_neighbours_merge() -> None:
    # A gentle gradient: every pixel differs in truecolour, many share a palette colour.
    image = Image.new("RGB", (24, 4))
    image.putdata([(100 + x, 50, 20) for _ in range(4) for x in range(24)])
    buffer = BytesIO()
    image.save(buffer, "PNG")
    truecolour = render_picture(buffer.getvalue(), 24, 2)
    palette = render_picture(buffer.getvalue(), 24, 2, colour_system="256")
    assert [sum(len(s.text) for s in line) for line in palette.lines] == [24, 24]
    assert len(palette.lines[0]) < len(truecolour.lines[0])  # fewer, longer runs
    # Each cell is the palette colour Rich itself writes for the truecolour one.
    for ours, theirs in zip(
        [c for s in palette.lines[0] for c in [s.style] * len(s.text)],
        [c for s in truecolour.lines[0] for c in [s.style] * len(s.text)],
        strict=True,
    ):
        assert ours is not None and theirs is not None
        assert ours.color and theirs.color and ours.bgcolor and theirs.bgcolor
        assert ours.color.number == theirs.color.downgrade(ColorSystem.EIGHT_BIT).number
        assert ours.bgcolor.number == theirs.bgcolor.downgrade(ColorSystem.EIGHT_BIT).number
