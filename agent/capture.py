"""From screen to frame: grab only what changed, shrink it, and encode only what changed visibly.

The pipeline for one watch: keep the screen shrunk by an integer factor (box averaging);
where the display server reports damage, grab and shrink only the damaged boxes and paste
them in; without damage reports, grab the whole screen each time. Then fit the shrunk screen
to the thumbnail size, and let the `FrameEncoder` decide between nothing, tiles and a whole
picture. Nothing is grabbed at all while the server reports no damage.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image

from .screen import Box, DamageReporting, ReducingScreen, ScreenSource, reduce_box
from .thumbnail import Thumbnail
from .tiles import FrameEncoder, TileUpdate

__all__ = ["Capture", "CaptureStats", "thumbnail_geometry"]

# More damaged boxes than this are grabbed as their bounding box: each grab is a round
# trip to the X server, and typing or scrolling reports many small boxes close together.
_MAX_BOXES = 8


def thumbnail_geometry(screen: tuple[int, int], max_width: int) -> tuple[int, tuple[int, int]]:
    """Integer shrink factor and final thumbnail size for a screen.

    The same arithmetic as `agent.thumbnail.shrink`, so both give the same picture.
    """
    if max_width <= 0:
        raise ValueError(f"max_width must be positive, not {max_width}.")
    width, height = screen
    if width <= max_width:
        return 1, screen
    return width // max_width, (max_width, max(1, round(height * max_width / width)))


@dataclass(slots=True)
class CaptureStats:
    """What the capture did, for the benchmark and the logs."""

    captures: int = 0  # calls of take()
    full_grabs: int = 0  # the whole screen grabbed
    partial_grabs: int = 0  # only damaged boxes grabbed
    skipped_grabs: int = 0  # nothing grabbed: the server reported no damage
    pixels_grabbed: int = 0
    #: Seconds each recent take() lasted, from asking the screen to the encoded frame...
    durations: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    #: ...and the CPU seconds this process spent on it (less than the above on a busy machine).
    cpu_durations: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))


class Capture:
    """Takes thumbnails of one screen for one stream of frames. Thread-safe, one take at a time."""

    def __init__(
        self,
        screen: ScreenSource,
        encoder: FrameEncoder | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.screen = screen
        self.encoder = encoder or FrameEncoder()
        self.clock = clock
        self.stats = CaptureStats()
        # Protocol isinstance checks are slow: look the capabilities up once.
        self._damage = screen if isinstance(screen, DamageReporting) else None
        self._reducing = screen if isinstance(screen, ReducingScreen) else None
        self._lock = threading.Lock()
        self._reduced: Image.Image | None = None
        self._geometry: tuple[tuple[int, int], int] | None = None  # screen size, max width
        self._thumbnail: Image.Image | None = None

    def request_keyframe(self) -> None:
        """The next take returns a whole picture, grabbed whole."""
        self.encoder.request_keyframe()

    def take(self, max_width: int) -> Thumbnail | TileUpdate | None:
        """Grab what is needed and return what to send now, or None."""
        with self._lock:
            started, cpu_started = time.perf_counter(), time.thread_time()
            try:
                return self._take(max_width)
            finally:
                self.stats.durations.append(time.perf_counter() - started)
                self.stats.cpu_durations.append(time.thread_time() - cpu_started)

    def _take(self, max_width: int) -> Thumbnail | TileUpdate | None:
        self.stats.captures += 1
        screen = self.screen
        areas = self._damage.changed_areas() if self._damage is not None else None
        size = screen.size
        factor, target = thumbnail_geometry(size, max_width)
        whole = (
            areas is None
            or self._reduced is None
            or self._geometry != (size, max_width)
            or self.encoder.keyframe_due
        )
        if whole:
            self._reduced = self._grab((0, 0, *size), factor)
            self._geometry = (size, max_width)
            self.stats.full_grabs += 1
        elif areas:
            assert self._reduced is not None
            for box in _aligned(areas, factor, size):
                self._reduced.paste(self._grab(box, factor), (box[0] // factor, box[1] // factor))
            self.stats.partial_grabs += 1
        else:
            self.stats.skipped_grabs += 1
        assert self._reduced is not None
        if whole or areas or self._thumbnail is None:
            reduced = self._reduced
            self._thumbnail = (
                reduced if reduced.size == target else reduced.resize(target, Image.Resampling.BOX)
            )
        return self.encoder.encode(self._thumbnail, self.clock(), unchanged=not (whole or areas))

    def _grab(self, box: Box, factor: int) -> Image.Image:
        left, top, right, bottom = box
        self.stats.pixels_grabbed += (right - left) * (bottom - top)
        if self._reducing is not None:
            return self._reducing.grab_reduced(box, factor)
        picture = self.screen.grab()
        if picture.mode != "RGB":
            picture = picture.convert("RGB")
        return reduce_box(picture.crop(box), factor)


def _aligned(areas: list[Box], factor: int, size: tuple[int, int]) -> list[Box]:
    """Damaged boxes clipped to the screen, widened to the shrink grid, a few at most."""
    width, height = size
    boxes = []
    for left, top, right, bottom in areas:
        left, top = max(0, left) // factor * factor, max(0, top) // factor * factor
        right = min(width, -(-min(width, right) // factor) * factor)
        bottom = min(height, -(-min(height, bottom) // factor) * factor)
        if left < right and top < bottom:
            boxes.append((left, top, right, bottom))
    boxes = _merge_overlapping(boxes)
    if len(boxes) > _MAX_BOXES:
        boxes = [
            (
                min(b[0] for b in boxes),
                min(b[1] for b in boxes),
                max(b[2] for b in boxes),
                max(b[3] for b in boxes),
            )
        ]
    return boxes


def _merge_overlapping(boxes: list[Box]) -> list[Box]:
    """Replace boxes that overlap by their bounding box until none overlap (a few boxes only)."""
    merged: list[Box] = []
    for box in sorted(set(boxes)):
        current = box
        changed = True
        while changed:
            changed = False
            for other in merged:
                if (
                    other[0] < current[2]
                    and current[0] < other[2]
                    and other[1] < current[3]
                    and current[1] < other[3]
                ):
                    merged.remove(other)
                    current = (
                        min(current[0], other[0]),
                        min(current[1], other[1]),
                        max(current[2], other[2]),
                        max(current[3], other[3]),
                    )
                    changed = True
                    break
        merged.append(current)
    return merged
