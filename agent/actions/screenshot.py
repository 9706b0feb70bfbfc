"""Screenshots on demand: the whole screen at full resolution, lossless unless that is too big."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from protocol.screenshots import MAX_PICTURE_BYTES

from ..screen import ScreenSource

if TYPE_CHECKING:
    from PIL import Image

#: PNG up to this size (a typical 1080p desktop is well under); above it, WebP at
#: near-lossless quality, which keeps text sharp at a fraction of the bytes.
PNG_BUDGET = MAX_PICTURE_BYTES // 2
WEBP_QUALITIES = (92, 80, 60)
# zlib level 6: on a 1920x1080 synthetic desktop, 24 KB in 78 ms against level 3's 47 KB in
# 51 ms (this machine). Screenshots are rare and often cross school Wi-Fi: bytes win.
PNG_COMPRESSION = 6


@dataclass(frozen=True, slots=True)
class Screenshot:
    data: bytes
    width: int
    height: int
    format: Literal["png", "webp"]


def take_screenshot(screen: ScreenSource, max_width: int | None = None) -> Screenshot:
    """Grab the screen now (call from a worker thread) and encode it for the sender."""
    from ..thumbnail import shrink  # with Pillow: loaded when a picture is first needed

    image = screen.grab()
    if max_width is not None:
        image = shrink(image, max_width)
    return encode_screenshot(image)


def encode_screenshot(image: Image.Image) -> Screenshot:
    width, height = image.size
    png = _encode(image, "PNG", compress_level=PNG_COMPRESSION)
    if len(png) <= PNG_BUDGET:
        return Screenshot(png, width, height, "png")
    for quality in WEBP_QUALITIES:
        webp = _encode(image, "WEBP", quality=quality, method=4)
        if len(webp) <= MAX_PICTURE_BYTES:
            return Screenshot(webp, width, height, "webp")
    # A huge and noisy screen: halve it rather than send nothing.
    from ..thumbnail import shrink

    return encode_screenshot(shrink(image, max(64, width // 2)))


def _encode(image: Image.Image, kind: str, **options: object) -> bytes:
    # Registered before saving: Pillow would import every format it has (see agent.thumbnail).
    from PIL import PngImagePlugin, WebPImagePlugin  # noqa: F401

    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    return buffer.getvalue()
