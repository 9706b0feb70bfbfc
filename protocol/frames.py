"""Binary frames: a whole picture, or the changed tiles of the last one, behind a fixed header.

A stream starts with a whole frame (a keyframe). While the screen changes a little, the
agent sends only tile frames: rectangles of the thumbnail, each with its own small image,
to paste onto the picture the console already has. The header is the same for both; the
high half of the format byte says which kind follows. A tile frame applies only on top of
the frame with the previous sequence number: after a gap, the console asks for a keyframe.
"""

import struct
from enum import IntEnum

import msgspec

from .errors import ErrorCode, PeerError, UsageError

MAGIC = b"HF"
FRAME_VERSION = 1
#: magic, version, kind and format, stream, sequence, captured_at (ms), width, height
HEADER = struct.Struct(">2sBBIIQHH")
MAX_IMAGE_BYTES = 4 * 1024 * 1024
#: Set in the kind-and-format byte of a frame sealed for its watchers (protocol/sealing.py):
#: what follows the header is an envelope and ciphertext, which only a watcher can check.
SEALED = 0x80
#: What sealing may add to a frame: the envelope with its key wraps, and the tag.
MAX_SEAL_BYTES = 16 * 1024
MAX_FRAME_BYTES = HEADER.size + MAX_IMAGE_BYTES + MAX_SEAL_BYTES

#: Tiles are squares of this many thumbnail pixels. A patch starts on the tile grid and
#: covers whole tiles, except where the picture's right or bottom edge cuts the last one.
TILE = 16
#: At most this many patches in one tile frame: a thumbnail of 320x180 has 240 tiles.
MAX_PATCHES = 1024
#: A tile frame may only update a picture up to 4K (16:10): this bounds the overlap check.
MAX_TILED_PIXELS = 3840 * 2400
#: After the header, a tile frame holds a count, then one entry per patch, then the images.
PATCH_COUNT = struct.Struct(">H")
#: x, y, width, height (pixels of the thumbnail), length of the patch's image in bytes
PATCH_ENTRY = struct.Struct(">HHHHI")


class ImageFormat(IntEnum):
    JPEG = 1
    WEBP = 2
    PNG = 3


class FrameKind(IntEnum):
    """What follows the header: stored in the high four bits of the format byte."""

    WHOLE = 0  # one picture of the whole screen: a keyframe
    TILES = 1  # changed patches, to paste onto the previous frame of the stream


class Frame(msgspec.Struct, frozen=True):
    """One whole picture of one stream. `stream` tells the console which device it shows."""

    stream: int
    sequence: int
    captured_at_ms: int
    format: ImageFormat
    width: int
    height: int
    image: bytes

    def __post_init__(self) -> None:
        if not (0 < self.width < 2**16 and 0 < self.height < 2**16):
            raise UsageError(f"frame size {self.width}x{self.height} out of range")
        if not 0 < len(self.image) <= MAX_IMAGE_BYTES:
            raise UsageError(f"image of {len(self.image)} bytes is empty or over {MAX_IMAGE_BYTES}")


class Patch(msgspec.Struct, frozen=True):
    """A rectangle of the thumbnail and its new pixels, encoded as an image of exactly that size."""

    x: int
    y: int
    width: int
    height: int
    image: bytes


class TileFrame(msgspec.Struct, frozen=True):
    """What changed since the previous frame of the stream: patches to paste, in any order.

    `width` and `height` are those of the whole picture the patches apply to; a console
    whose picture has another size needs a keyframe instead.
    """

    stream: int
    sequence: int
    captured_at_ms: int
    format: ImageFormat
    width: int
    height: int
    patches: tuple[Patch, ...]

    def __post_init__(self) -> None:
        problem = _layout_problem(
            self.width,
            self.height,
            [(p.x, p.y, p.width, p.height, len(p.image)) for p in self.patches],
        )
        if problem is not None:
            raise UsageError(problem)
        body = sum(PATCH_ENTRY.size + len(p.image) for p in self.patches)
        if PATCH_COUNT.size + body > MAX_IMAGE_BYTES:
            raise UsageError(f"tile frame of {body} bytes is over {MAX_IMAGE_BYTES}")


AnyFrame = Frame | TileFrame


class FrameHeader(msgspec.Struct, frozen=True):
    """A frame's header, read and checked without copying its pictures."""

    kind: FrameKind
    format: ImageFormat
    stream: int
    sequence: int
    captured_at_ms: int
    width: int
    height: int
    sealed: bool = False


def encode_frame(frame: AnyFrame) -> bytes:
    kind = FrameKind.TILES if isinstance(frame, TileFrame) else FrameKind.WHOLE
    header = HEADER.pack(
        MAGIC,
        FRAME_VERSION,
        kind << 4 | frame.format,
        frame.stream,
        frame.sequence & 0xFFFFFFFF,
        frame.captured_at_ms,
        frame.width,
        frame.height,
    )
    if isinstance(frame, Frame):
        return header + frame.image
    parts = [header, PATCH_COUNT.pack(len(frame.patches))]
    parts += [PATCH_ENTRY.pack(p.x, p.y, p.width, p.height, len(p.image)) for p in frame.patches]
    parts += [p.image for p in frame.patches]
    return b"".join(parts)


def decode_frame(data: bytes) -> AnyFrame:
    """Read a binary message; anything but a well-formed frame is the peer's error."""
    header = check_frame(data)
    if header.sealed:
        raise PeerError(ErrorCode.MALFORMED, "a sealed frame: open it first (protocol/sealing.py)")
    if header.kind is FrameKind.WHOLE:
        return Frame(
            header.stream,
            header.sequence,
            header.captured_at_ms,
            header.format,
            header.width,
            header.height,
            bytes(data[HEADER.size :]),
        )
    patches = []
    offset = _images_offset(data)
    for x, y, width, height, length in _entries(data):
        patches.append(Patch(x, y, width, height, bytes(data[offset : offset + length])))
        offset += length
    return TileFrame(
        header.stream,
        header.sequence,
        header.captured_at_ms,
        header.format,
        header.width,
        header.height,
        tuple(patches),
    )


def check_frame(data: bytes) -> FrameHeader:
    """Validate a frame's size, header and tile layout without copying a picture (the hub's relay).

    Raises PeerError, and only PeerError, for anything that is not a well-formed frame.
    """
    if len(data) > MAX_FRAME_BYTES:
        raise PeerError(ErrorCode.TOO_LARGE, f"frame of {len(data)} bytes")
    if len(data) <= HEADER.size:
        raise PeerError(ErrorCode.MALFORMED, "binary message shorter than a frame header")
    magic, version, kind_format, stream, sequence, captured, width, height = HEADER.unpack_from(
        data
    )
    if magic != MAGIC or version != FRAME_VERSION:
        raise PeerError(ErrorCode.MALFORMED, "not a Homeroom frame (bad magic or version)")
    sealed = bool(kind_format & SEALED)
    kind_format &= ~SEALED
    if not sealed and len(data) > HEADER.size + MAX_IMAGE_BYTES:
        raise PeerError(ErrorCode.TOO_LARGE, f"frame of {len(data)} bytes")
    try:
        kind = FrameKind(kind_format >> 4)
        image_format = ImageFormat(kind_format & 0x0F)
    except ValueError:
        raise PeerError(ErrorCode.MALFORMED, f"unknown frame format {kind_format:#x}") from None
    if width == 0 or height == 0:
        raise PeerError(ErrorCode.MALFORMED, "frame of zero size")
    if kind is FrameKind.TILES and not sealed:  # a sealed frame's tiles are the watcher's to check
        _check_tiles(data, width, height)
    return FrameHeader(kind, image_format, stream, sequence, captured, width, height, sealed)


def _check_tiles(data: bytes, width: int, height: int) -> None:
    if width * height > MAX_TILED_PIXELS:
        raise PeerError(ErrorCode.MALFORMED, f"tile frame for a {width}x{height} picture")
    if len(data) < HEADER.size + PATCH_COUNT.size:
        raise PeerError(ErrorCode.MALFORMED, "tile frame without a patch count")
    (count,) = PATCH_COUNT.unpack_from(data, HEADER.size)
    if not 0 < count <= MAX_PATCHES:
        raise PeerError(ErrorCode.MALFORMED, f"tile frame of {count} patches")
    images = _images_offset(data)
    if images > len(data):
        raise PeerError(ErrorCode.MALFORMED, "tile frame cut short in its patch table")
    entries = _entries(data)
    if images + sum(entry[4] for entry in entries) != len(data):
        raise PeerError(ErrorCode.MALFORMED, "tile frame whose images do not fill it exactly")
    problem = _layout_problem(width, height, entries)
    if problem is not None:
        raise PeerError(ErrorCode.MALFORMED, problem)


def _images_offset(data: bytes) -> int:
    (count,) = PATCH_COUNT.unpack_from(data, HEADER.size)
    return HEADER.size + PATCH_COUNT.size + int(count) * PATCH_ENTRY.size


def _entries(data: bytes) -> list[tuple[int, int, int, int, int]]:
    (count,) = PATCH_COUNT.unpack_from(data, HEADER.size)
    start = HEADER.size + PATCH_COUNT.size
    return [PATCH_ENTRY.unpack_from(data, start + i * PATCH_ENTRY.size) for i in range(count)]


def _layout_problem(
    width: int, height: int, entries: list[tuple[int, int, int, int, int]]
) -> str | None:
    """Why these patches cannot tile a `width` x `height` picture, or None if they can.

    Each patch has a picture, lies inside the frame on the tile grid, and no two overlap.
    """
    if not (0 < width < 2**16 and 0 < height < 2**16) or width * height > MAX_TILED_PIXELS:
        return f"tile frame for a {width}x{height} picture"
    if not 0 < len(entries) <= MAX_PATCHES:
        return f"tile frame of {len(entries)} patches"
    # One bit per tile column, one integer per tile row: overlap is a bitwise AND. The
    # work is bounded by the rows each patch spans, which the frame size bounds.
    rows = [0] * -(-height // TILE)
    for x, y, w, h, length in entries:
        if length < 1:
            return "patch without a picture"
        if w < 1 or h < 1 or x + w > width or y + h > height:
            return f"patch {w}x{h} at {x},{y} outside a {width}x{height} picture"
        if x % TILE or y % TILE:
            return f"patch at {x},{y} is not on the {TILE}-pixel tile grid"
        if (w % TILE and x + w != width) or (h % TILE and y + h != height):
            return f"patch {w}x{h} at {x},{y} does not end on the tile grid or the edge"
        columns = ((1 << -(-w // TILE)) - 1) << (x // TILE)
        for row in range(y // TILE, -(-(y + h) // TILE)):
            if rows[row] & columns:
                return f"patches overlap at row {row * TILE}"
            rows[row] |= columns
    return None


_STREAM = struct.Struct(">I")
_STREAM_OFFSET = 4


def restream(data: bytes, stream: int) -> bytes:
    """The same frame relabelled with another stream id (the hub numbers devices)."""
    return data[:_STREAM_OFFSET] + _STREAM.pack(stream) + data[_STREAM_OFFSET + 4 :]
