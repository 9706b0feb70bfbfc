"""Binary frames: a thumbnail or screenshot behind a small fixed header."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from .errors import ErrorCode, PeerError, UsageError

MAGIC = b"HF"
FRAME_VERSION = 1
#: magic, version, format, stream, sequence, captured_at (ms), width, height
HEADER = struct.Struct(">2sBBIIQHH")
MAX_IMAGE_BYTES = 4 * 1024 * 1024
MAX_FRAME_BYTES = HEADER.size + MAX_IMAGE_BYTES


class ImageFormat(IntEnum):
    JPEG = 1
    WEBP = 2
    PNG = 3


@dataclass(frozen=True, slots=True)
class Frame:
    """One picture of one stream. `stream` tells the console which device it shows."""

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
        if len(self.image) > MAX_IMAGE_BYTES:
            raise UsageError(f"image of {len(self.image)} bytes is over {MAX_IMAGE_BYTES}")


def encode_frame(frame: Frame) -> bytes:
    header = HEADER.pack(
        MAGIC,
        FRAME_VERSION,
        frame.format,
        frame.stream,
        frame.sequence & 0xFFFFFFFF,
        frame.captured_at_ms,
        frame.width,
        frame.height,
    )
    return header + frame.image


def decode_frame(data: bytes) -> Frame:
    """Read a binary message; anything but a well-formed frame is the peer's error."""
    stream, sequence, captured, image_format, width, height = check_frame(data)
    image = bytes(data[HEADER.size :])
    return Frame(stream, sequence, captured, image_format, width, height, image)


def check_frame(data: bytes) -> tuple[int, int, int, ImageFormat, int, int]:
    """Validate a frame's size and header without copying its picture (the hub's relay).

    Returns stream, sequence, capture time, format, width and height.
    """
    if len(data) > MAX_FRAME_BYTES:
        raise PeerError(ErrorCode.TOO_LARGE, f"frame of {len(data)} bytes")
    if len(data) <= HEADER.size:
        raise PeerError(ErrorCode.MALFORMED, "binary message shorter than a frame header")
    magic, version, fmt, stream, sequence, captured, width, height = HEADER.unpack_from(data)
    if magic != MAGIC or version != FRAME_VERSION:
        raise PeerError(ErrorCode.MALFORMED, "not a Homeroom frame (bad magic or version)")
    try:
        image_format = ImageFormat(fmt)
    except ValueError:
        raise PeerError(ErrorCode.MALFORMED, f"unknown image format {fmt}") from None
    if width == 0 or height == 0:
        raise PeerError(ErrorCode.MALFORMED, "frame of zero size")
    return stream, sequence, captured, image_format, width, height


_STREAM = struct.Struct(">I")
_STREAM_OFFSET = 4


def restream(data: bytes, stream: int) -> bytes:
    """The same frame relabelled with another stream id (the hub numbers devices)."""
    return data[:_STREAM_OFFSET] + _STREAM.pack(stream) + data[_STREAM_OFFSET + 4 :]
