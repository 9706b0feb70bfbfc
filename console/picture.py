"""Thumbnails from student devices drawn with half-block characters, two pixels per cell."""

from __future__ import annotations

from collections.abc import Iterable
from io import BytesIO
from itertools import groupby

from PIL import Image
from rich.color import Color
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style

PICTURE_FORMATS = ("JPEG", "PNG", "WEBP")
"""The only decoders a thumbnail may reach: fewer parsers exposed to hostile bytes."""

MAX_PICTURE_PIXELS = 3840 * 2400
"""The largest picture we agree to decode: a full 4K (16:10) screen, about 27 MB as RGB."""

UPPER_HALF_BLOCK = "▀"

_RGB = tuple[int, int, int]


class PictureError(ValueError):
    """Picture bytes from a device could not be decoded: malformed, unsupported or too large."""


class HalfBlockPicture:
    """A decoded picture as rows of half-block cells; a Rich renderable of a fixed size."""

    __slots__ = ("_lines", "height", "width")

    def __init__(self, lines: Iterable[Iterable[Segment]], width: int) -> None:
        self._lines = tuple(tuple(line) for line in lines)
        self.width = width
        """Width in cells."""
        self.height = len(self._lines)
        """Height in cells (each holding two rows of pixels)."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self._lines:
            yield from line
            yield Segment.line()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(self.width, self.width)


def fit_cells(size: tuple[int, int], cells_wide: int, cells_high: int) -> tuple[int, int]:
    """The largest pixel size with the aspect ratio of `size` that fits in the given cells.

    A terminal cell is about twice as tall as it is wide, and holds two pixels one above
    the other, so pixels come out roughly square.
    """
    width, height = size
    room_wide, room_high = cells_wide, cells_high * 2
    scale = min(room_wide / width, room_high / height)
    return (
        max(1, min(room_wide, round(width * scale))),
        max(1, min(room_high, round(height * scale))),
    )


def render_picture(
    data: bytes,
    cells_wide: int,
    cells_high: int,
    *,
    max_pixels: int = MAX_PICTURE_PIXELS,
) -> HalfBlockPicture:
    """Decode a JPEG, PNG or WebP thumbnail and draw it to fit in `cells_wide` x `cells_high`.

    This decodes with Pillow and takes milliseconds: call it off the event loop.
    Raises `PictureError` when `data` is not a picture we can decode, or claims more than
    `max_pixels` pixels (checked from the header, before any pixel is decoded).
    """
    if cells_wide < 1 or cells_high < 1:
        raise ValueError(f"a picture needs at least one cell, not {cells_wide}x{cells_high}")
    image = _decode(data, cells_wide, cells_high, max_pixels)
    return _draw(image)


def _decode(data: bytes, cells_wide: int, cells_high: int, max_pixels: int) -> Image.Image:
    """Decode and scale `data` to its final pixel size, as RGB."""
    try:
        # Opening reads only the header; pixels are decoded later, after the size check.
        with Image.open(BytesIO(data), formats=PICTURE_FORMATS) as image:
            width, height = image.size
            if width < 1 or height < 1 or width * height > max_pixels:
                raise PictureError(
                    f"a picture of {width}x{height} pixels is over the limit of {max_pixels}"
                )
            target = fit_cells((width, height), cells_wide, cells_high)
            # JPEG can decode at 1/2, 1/4 or 1/8 scale: much less memory and time.
            image.draft("RGB", target)
            return image.convert("RGB").resize(target, Image.Resampling.BOX)
    except PictureError:
        raise
    except Exception as error:
        # Hostile bytes can make a decoder fail in any way it likes (OSError, SyntaxError,
        # struct.error, DecompressionBombError...): to the caller they are all one thing.
        raise PictureError(f"the picture could not be decoded: {error}") from error


def _draw(image: Image.Image) -> HalfBlockPicture:
    """Turn an RGB image into half-block cells: upper pixel as foreground, lower as background."""
    width, height = image.size
    pixels = image.tobytes()
    styles: dict[tuple[_RGB, _RGB | None], Style] = {}

    def pixel(x: int, y: int) -> _RGB:
        offset = (y * width + x) * 3
        return (pixels[offset], pixels[offset + 1], pixels[offset + 2])

    def style_of(cell: tuple[_RGB, _RGB | None]) -> Style:
        style = styles.get(cell)
        if style is None:
            upper, lower = cell
            style = styles[cell] = Style(
                color=Color.from_rgb(*upper),
                bgcolor=None if lower is None else Color.from_rgb(*lower),
            )
        return style

    lines: list[list[Segment]] = []
    for y in range(0, height, 2):
        # An odd last row has no lower pixel: that half shows the background.
        cells = [(pixel(x, y), pixel(x, y + 1) if y + 1 < height else None) for x in range(width)]
        lines.append(
            [
                Segment(UPPER_HALF_BLOCK * len(list(run)), style_of(cell))
                for cell, run in groupby(cells)
            ]
        )
    return HalfBlockPicture(lines, width)
