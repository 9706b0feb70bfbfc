"""Thumbnails from student devices: reassembled from whole and tile frames, drawn with
half-block characters, two pixels per cell."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from io import BytesIO
from itertools import groupby

from PIL import Image
from rich.color import Color, ColorSystem, ColorType
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style

from protocol.frames import AnyFrame, Frame, TileFrame

PICTURE_FORMATS = ("JPEG", "PNG", "WEBP")
"""The only decoders a thumbnail may reach: fewer parsers exposed to hostile bytes."""

MAX_PICTURE_PIXELS = 3840 * 2400
"""The largest picture we agree to decode: a full 4K (16:10) screen, about 27 MB as RGB."""

UPPER_HALF_BLOCK = "▀"

_RGB = tuple[int, int, int]


PictureData = bytes | Image.Image
"""A thumbnail as it reaches the screen: encoded bytes, or a picture already reassembled."""


class PictureError(ValueError):
    """Picture bytes from a device could not be decoded: malformed, unsupported or too large."""


class LivePicture:
    """The picture of one device's stream as the console has it.

    A whole frame replaces it; a tile frame is pasted onto it, but only onto the frame just
    before it (sequence numbers follow each other) and of the same size. Otherwise the
    picture is stale until the next whole frame: `apply` returns None and the caller asks
    the device for one. Decoding takes milliseconds: call `apply` off the event loop, and
    for one stream from one task at a time (frames must be applied in order).
    """

    def __init__(self, max_pixels: int = MAX_PICTURE_PIXELS) -> None:
        self.max_pixels = max_pixels
        self._picture: Image.Image | None = None
        self._sequence: int | None = None  # of the frame the picture shows; None when stale

    @property
    def needs_keyframe(self) -> bool:
        return self._sequence is None

    def apply(self, frame: AnyFrame) -> Image.Image | None:
        """The picture after `frame` (a copy: later frames do not change it), or None.

        None means the frame could not be applied (a tile frame with no picture under it,
        after a gap, of another size, or with pictures that do not decode): ask for a whole
        frame. Nothing here raises for hostile bytes.
        """
        if isinstance(frame, Frame):
            return self._whole(frame)
        return self._tiles(frame)

    def _whole(self, frame: Frame) -> Image.Image | None:
        try:
            picture = _decode_exact(frame.image, (frame.width, frame.height), self.max_pixels)
        except PictureError:
            self._sequence = None
            return None
        self._picture, self._sequence = picture, frame.sequence
        return picture.copy()

    def _tiles(self, frame: TileFrame) -> Image.Image | None:
        picture, sequence = self._picture, self._sequence
        if (
            picture is None
            or sequence is None
            or frame.sequence != (sequence + 1) & 0xFFFFFFFF
            or picture.size != (frame.width, frame.height)
        ):
            self._sequence = None
            return None
        try:
            # All patches decode before any is pasted: a bad one leaves the picture whole.
            patches = [
                (_decode_exact(p.image, (p.width, p.height), self.max_pixels), (p.x, p.y))
                for p in frame.patches
            ]
        except PictureError:
            self._sequence = None
            return None
        for patch, corner in patches:
            picture.paste(patch, corner)
        self._sequence = frame.sequence
        return picture.copy()


def _decode_exact(data: bytes, size: tuple[int, int], max_pixels: int) -> Image.Image:
    """Decode `data` as RGB, refusing a picture of any size but `size`."""
    try:
        with Image.open(BytesIO(data), formats=PICTURE_FORMATS) as image:
            if image.size != size or size[0] * size[1] > max_pixels:
                raise PictureError(f"a picture of {image.size} where {size} was announced")
            return image.convert("RGB")
    except PictureError:
        raise
    except Exception as error:  # hostile bytes fail in any way the decoder likes
        raise PictureError(f"the picture could not be decoded: {error}") from error


class HalfBlockPicture:
    """A decoded picture as rows of half-block cells; a Rich renderable of a fixed size."""

    __slots__ = ("_lines", "height", "width")

    def __init__(self, lines: Iterable[Iterable[Segment]], width: int) -> None:
        self._lines = tuple(tuple(line) for line in lines)
        self.width = width
        """Width in cells."""
        self.height = len(self._lines)
        """Height in cells (each holding two rows of pixels)."""

    @property
    def lines(self) -> tuple[tuple[Segment, ...], ...]:
        """The cells, row by row, as styled segments (each row `width` cells long)."""
        return self._lines

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
    data: PictureData,
    cells_wide: int,
    cells_high: int,
    *,
    max_pixels: int = MAX_PICTURE_PIXELS,
    colour_system: str | None = None,
) -> HalfBlockPicture:
    """Decode a JPEG, PNG or WebP thumbnail (or take a reassembled picture) and draw it to fit
    in `cells_wide` x `cells_high`.

    `colour_system` is the terminal's, as Rich names it: with "256", each pixel is matched
    to the terminal's palette here, as Rich would match it when writing the cell, so that
    neighbouring cells of the same palette colour go as one segment and the event loop
    matches nothing. This decodes with Pillow and takes milliseconds: call it off the event
    loop. Raises `PictureError` when `data` is not a picture we can decode, or claims more
    than `max_pixels` pixels (checked from the header, before any pixel is decoded).
    """
    if cells_wide < 1 or cells_high < 1:
        raise ValueError(f"a picture needs at least one cell, not {cells_wide}x{cells_high}")
    image = _decode(data, cells_wide, cells_high, max_pixels)
    return _draw(image, eight_bit=colour_system == "256")


def _decode(data: PictureData, cells_wide: int, cells_high: int, max_pixels: int) -> Image.Image:
    """Decode and scale `data` to its final pixel size, as RGB."""
    if isinstance(data, Image.Image):
        width, height = data.size
        if width < 1 or height < 1 or width * height > max_pixels:
            raise PictureError(f"a picture of {width}x{height} pixels is over the limit")
        target = fit_cells((width, height), cells_wide, cells_high)
        return data.convert("RGB").resize(target, Image.Resampling.BOX)
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


# Styles are shared by every picture: a screen changing each second repaints mostly the
# same colours, and building a Rich Style per cell was most of the console's CPU.
_STYLE_CACHE_LIMIT = 1 << 16
_styles: dict[tuple[Color, Color | None], Style] = {}
_colours: dict[_RGB, Color] = {}
_palette_colours: dict[_RGB, Color] = {}


def _colour(rgb: _RGB) -> Color:
    colour = _colours.get(rgb)
    if colour is None:
        if len(_colours) >= _STYLE_CACHE_LIMIT:
            _colours.clear()
        colour = _colours[rgb] = Color.from_rgb(*rgb)
    return colour


def _palette_colour(rgb: _RGB) -> Color:
    """The colour of the 256-colour palette Rich would write for `rgb` (cached)."""
    colour = _palette_colours.get(rgb)
    if colour is None:
        if len(_palette_colours) >= _STYLE_CACHE_LIMIT:
            _palette_colours.clear()
        match = Color.from_rgb(*rgb).downgrade(ColorSystem.EIGHT_BIT)
        # One colour per palette entry (Rich's match keeps the truecolour's name), so that
        # alike cells compare equal and go as one segment; with its RGB value, without which
        # Textual's colour filter would turn it back into truecolour on every line.
        colour = _palette_colours[rgb] = Color(
            f"color({match.number})",
            ColorType.EIGHT_BIT,
            number=match.number,
            triplet=match.get_truecolor(),
        )
    return colour


def _style(upper: Color, lower: Color | None) -> Style:
    key = (upper, lower)
    style = _styles.get(key)
    if style is None:
        if len(_styles) >= _STYLE_CACHE_LIMIT:
            _styles.clear()  # a cheap bound: the next pictures refill what they use
        style = _styles[key] = Style.from_color(upper, lower)
    return style


def cell_style(upper: _RGB, lower: _RGB | None) -> Style:
    """The style of one half-block cell, from a cache shared by every picture."""
    return _style(_colour(upper), None if lower is None else _colour(lower))


def _draw(image: Image.Image, *, eight_bit: bool = False) -> HalfBlockPicture:
    """Turn an RGB image into half-block cells: upper pixel as foreground, lower as background.

    With `eight_bit`, colours are the terminal palette's (see `render_picture`).
    """
    width, height = image.size
    pixels = image.tobytes()
    row_bytes = width * 3
    colour = _palette_colour if eight_bit else _colour
    rows = [
        [
            colour(rgb)
            for rgb in zip(
                pixels[y : y + row_bytes : 3],
                pixels[y + 1 : y + row_bytes : 3],
                pixels[y + 2 : y + row_bytes : 3],
                strict=True,
            )
        ]
        for y in range(0, len(pixels), row_bytes)
    ]
    lines: list[list[Segment]] = []
    for y in range(0, height, 2):
        upper_row = rows[y]
        # An odd last row has no lower pixel: that half shows the background.
        lower_row: list[Color | None] = list(rows[y + 1]) if y + 1 < height else [None] * width
        lines.append(
            [
                Segment(UPPER_HALF_BLOCK * len(list(run)), _style(*cell))
                for cell, run in groupby(zip(upper_row, lower_row, strict=True))
            ]
        )
    return HalfBlockPicture(lines, width)


class PictureMode(StrEnum):
    """How pictures reach the terminal: its own graphics, or coloured half-block characters."""

    AUTO = "auto"
    KITTY = "kitty"
    SIXEL = "sixel"
    HALFBLOCK = "halfblock"

    @property
    def real_pixels(self) -> bool:
        return self in (PictureMode.KITTY, PictureMode.SIXEL)


def detect_picture_mode(wanted: PictureMode = PictureMode.AUTO) -> PictureMode:
    """The mode to use: `wanted` unless AUTO, else what the terminal answers it can show.

    Call before the app starts: textual-image asks the terminal when first imported (with a
    short timeout), and cannot once Textual reads the keyboard.
    """
    if wanted is not PictureMode.AUTO:
        return wanted
    from textual_image.renderable import Image as best
    from textual_image.renderable import SixelImage, TGPImage

    if best is TGPImage:
        return PictureMode.KITTY
    if best is SixelImage:
        return PictureMode.SIXEL
    return PictureMode.HALFBLOCK


def cell_pixels(mode: PictureMode) -> tuple[int, int]:
    """Pixels in one terminal cell for `mode`: half-blocks hold 1x2, real pixels what the
    terminal reports (textual-image asks it once, 10x20 when it will not say)."""
    if not mode.real_pixels:
        return (1, 2)
    from textual_image._terminal import get_cell_size

    size = get_cell_size()
    return (size.width, size.height)


def fit_picture_cells(
    size: tuple[int, int], cells_wide: int, cells_high: int, mode: PictureMode
) -> tuple[int, int]:
    """Cells a picture of `size` pixels takes, its aspect kept, within the given cells."""
    cell_w, cell_h = cell_pixels(mode)
    width, height = size
    scale = min(cells_wide * cell_w / width, cells_high * cell_h / height)
    return (
        max(1, min(cells_wide, round(width * scale / cell_w))),
        max(1, min(cells_high, round(height * scale / cell_h))),
    )


def scale_for_cells(
    data: PictureData,
    cells_wide: int,
    cells_high: int,
    mode: PictureMode,
    *,
    max_pixels: int = MAX_PICTURE_PIXELS,
) -> tuple[Image.Image, tuple[int, int]]:
    """A picture decoded and scaled to show in real pixels, with the cells it takes.

    Call it off the event loop, like `render_picture`.
    """
    cell_w, cell_h = cell_pixels(mode)
    image = _decode(data, cells_wide * cell_w, cells_high * cell_h // 2, max_pixels)
    cells = fit_picture_cells(image.size, cells_wide, cells_high, mode)
    return image, cells
