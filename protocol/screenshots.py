"""A screenshot cut into parts for the wire, and put back together (and checked) on arrival.

Theory of operation. A screenshot is far larger than a thumbnail (a full-resolution PNG
runs to megabytes), so it travels as `ScreenshotPart` messages of at most
`SCREENSHOT_PART_BYTES`, sent by the agent before the command's `Result`. The Result
carries a `ScreenshotInfo` (size, pixel size, format, part count and SHA-256), so the
receiver knows when it has everything and that nothing was changed or lost on the way.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from .errors import ErrorCode, PeerError, UsageError
from .messages import (
    MAX_SCREENSHOT_BYTES,
    MAX_SCREENSHOT_PARTS,
    SCREENSHOT_PART_BYTES,
    ScreenshotInfo,
    ScreenshotPart,
)
from .sealing import TAG_BYTES

#: The largest picture an agent may encode: sealing it for the console adds its tag.
MAX_PICTURE_BYTES = MAX_SCREENSHOT_BYTES - TAG_BYTES


def cut(
    image: bytes,
    *,
    command_id: str,
    device_id: str,
    width: int,
    height: int,
    format: Literal["png", "webp"],
) -> tuple[list[ScreenshotPart], ScreenshotInfo]:
    """The parts to send, in order, and the description the Result carries."""
    if not 0 < len(image) <= MAX_SCREENSHOT_BYTES:
        raise UsageError(f"a screenshot of {len(image)} bytes is over {MAX_SCREENSHOT_BYTES}")
    parts = [
        ScreenshotPart(
            command_id=command_id,
            device_id=device_id,
            index=index,
            data=image[offset : offset + SCREENSHOT_PART_BYTES],
        )
        for index, offset in enumerate(range(0, len(image), SCREENSHOT_PART_BYTES))
    ]
    info = ScreenshotInfo(
        width=width,
        height=height,
        format=format,
        size=len(image),
        parts=len(parts),
        sha256=hashlib.sha256(image).digest(),
    )
    return parts, info


class ScreenshotAssembly:
    """Collects the parts of one device's screenshot for one command.

    `add` refuses what could not belong to a screenshot (too many parts, too many bytes,
    an index seen twice); `finish` checks the whole against the Result's description.
    """

    __slots__ = ("_parts", "_size", "command_id", "device_id")

    def __init__(self, command_id: str, device_id: str) -> None:
        self.command_id = command_id
        self.device_id = device_id
        self._parts: dict[int, bytes] = {}
        self._size = 0

    @property
    def size(self) -> int:
        """Bytes received so far."""
        return self._size

    def add(self, part: ScreenshotPart) -> None:
        if (part.command_id, part.device_id) != (self.command_id, self.device_id):
            raise UsageError("this part belongs to another screenshot")
        if part.index in self._parts:
            raise PeerError(ErrorCode.MALFORMED, f"screenshot part {part.index} sent twice")
        if len(self._parts) >= MAX_SCREENSHOT_PARTS:
            raise PeerError(ErrorCode.TOO_LARGE, "a screenshot in too many parts")
        if self._size + len(part.data) > MAX_SCREENSHOT_BYTES:
            raise PeerError(ErrorCode.TOO_LARGE, f"a screenshot over {MAX_SCREENSHOT_BYTES} bytes")
        self._parts[part.index] = part.data
        self._size += len(part.data)

    def finish(self, info: ScreenshotInfo) -> bytes:
        """The image, once every part is here and its digest matches the description."""
        if sorted(self._parts) != list(range(info.parts)):
            raise PeerError(
                ErrorCode.MALFORMED,
                f"screenshot incomplete: {len(self._parts)} of {info.parts} parts arrived",
            )
        image = b"".join(self._parts[index] for index in range(info.parts))
        if len(image) != info.size or hashlib.sha256(image).digest() != info.sha256:
            raise PeerError(ErrorCode.MALFORMED, "screenshot damaged: its digest does not match")
        return image
