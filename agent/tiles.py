"""Send only what changed visibly: a whole picture, the changed tiles of the last one, or nothing.

The encoder keeps the picture the console has (as raw pixels, before compression) and
compares each new thumbnail with it, tile by tile (`protocol.frames.TILE` pixels square):

- nothing changed: nothing is sent;
- a tiny change (a clock ticking, a cursor blinking, a few typed letters) waits up to
  `coalesce_seconds`, so several of them go together;
- tiles that keep changing (scrolling, a video) go at a lower quality while they move, and
  again at full quality once they have been still for `refine_after` seconds. Moving tiles
  go as JPEG unless WebP is clearly smaller (probed now and then, as for whole pictures):
  on text at low quality JPEG is as small and 7 times faster to encode; on a video WebP is
  half the size;
- when most tiles changed, the whole picture is encoded too and the smaller one goes.

Changed tiles are grouped into rectangles, one image each: measured on a desktop at 320 px,
one WebP per rectangle is 5 to 20 times smaller than one image per tile (each image has its
own header), and as small as packing all tiles into one strip, while keeping neighbouring
pixels together (see docs/benchmarks.md).
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass

from PIL import Image, ImageChops, features

from protocol.frames import TILE

from .thumbnail import Thumbnail, ThumbnailEncoder

__all__ = ["EncodedPatch", "FrameEncoder", "TileUpdate", "changed_tiles", "rectangles"]

# WebP method 2: measured on text and video patches, within 5 % of the smallest (method 6)
# at a fifth of its time, and 10 to 20 % smaller than method 0 for the same time.
_WEBP_METHOD = 2
_NO_TIME = float("-inf")


@dataclass(frozen=True, slots=True)
class EncodedPatch:
    """A rectangle of the thumbnail and its pixels, encoded as an image of exactly that size."""

    x: int
    y: int
    width: int
    height: int
    data: bytes


@dataclass(frozen=True, slots=True)
class TileUpdate:
    """Patches to paste onto the previous picture of a `width` x `height` thumbnail."""

    patches: tuple[EncodedPatch, ...]
    width: int
    height: int
    format: str  # "jpeg" or "webp", for every patch

    @property
    def data_size(self) -> int:
        """Bytes of pictures it carries (the frame adds 12 bytes per patch and a header)."""
        return sum(len(patch.data) for patch in self.patches)


def changed_tiles(current: Image.Image, reference: Image.Image) -> set[int]:
    """Indexes (row * columns + column) of the tiles where the two RGB pictures differ at all.

    All in Pillow's C code: the per-pixel difference (largest of the three channels) is
    scaled up to at least 200 wherever it is not 0, and a box reduction by the tile size
    leaves each tile's average, which is at least 1 as soon as one pixel in it differs
    ((200 + 128) // 256).
    """
    difference = ImageChops.difference(current, reference)
    if difference.getbbox() is None:
        return set()
    red, green, blue = difference.split()
    largest = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    # (v + v) / 0.01 saturates: a difference of 1 becomes 200, anything more 255.
    marked = ImageChops.add(largest, largest, scale=0.01)
    tiles = marked.reduce(TILE).tobytes()
    return {index for index, value in enumerate(tiles) if value}


def rectangles(tiles: set[int], columns: int) -> list[tuple[int, int, int, int]]:
    """Group tiles into rectangles (column, row, end column, end row; ends excluded).

    Runs of neighbouring tiles in a row are stacked with identical runs of the rows below:
    few rectangles, none overlapping, no unchanged tile included.
    """
    open_runs: dict[tuple[int, int], list[int]] = {}
    done: list[tuple[int, int, int, int]] = []
    for row in sorted({index // columns for index in tiles}):
        runs: list[tuple[int, int]] = []
        column = 0
        while column < columns:
            if row * columns + column in tiles:
                start = column
                while column < columns and row * columns + column in tiles:
                    column += 1
                runs.append((start, column))
            column += 1
        still_open: dict[tuple[int, int], list[int]] = {}
        for run in runs:
            rectangle = open_runs.pop(run, None)
            if rectangle is not None and rectangle[1] == row:
                rectangle[1] = row + 1
            else:
                if rectangle is not None:
                    done.append((run[0], rectangle[0], run[1], rectangle[1]))
                rectangle = [row, row + 1]
            still_open[run] = rectangle
        for run, (top, bottom) in open_runs.items():
            done.append((run[0], top, run[1], bottom))
        open_runs = still_open
    for run, (top, bottom) in open_runs.items():
        done.append((run[0], top, run[1], bottom))
    return sorted(done, key=lambda r: (r[1], r[0]))


class FrameEncoder:
    """Turns successive thumbnails of one stream into whole pictures, tile updates or nothing.

    `encode` takes the time (seconds, any monotonic clock) from its caller, so a test can
    drive coalescing and refinement without waiting.
    """

    def __init__(
        self,
        quality: int = 70,
        *,
        busy_quality: int = 20,
        webp: bool = True,
        coalesce_seconds: float = 3.0,
        small_change: float = 0.03,
        busy_seconds: float = 2.5,
        refine_after: float = 2.0,
        whole_share: float = 0.5,
        probe_every: int = 10,
    ) -> None:
        if not 1 <= busy_quality <= quality <= 95:
            raise ValueError(
                f"Qualities must satisfy 1 <= busy_quality <= quality <= 95, "
                f"not {busy_quality} and {quality}."
            )
        self.quality = quality
        self.busy_quality = busy_quality
        self.coalesce_seconds = coalesce_seconds
        self.small_change = small_change
        self.busy_seconds = busy_seconds
        self.refine_after = refine_after
        self.whole_share = whole_share
        self.probe_every = probe_every
        # Whole pictures are rare (a new watcher, a new window): probe both formats often.
        self.whole = ThumbnailEncoder(quality, webp=webp, probe_every=5, webp_method=_WEBP_METHOD)
        self.format = "webp" if webp and features.check("webp") else "jpeg"
        self._moving_format = "jpeg"  # for updates with moving tiles, chosen by probing
        self._until_probe = 0
        # Encoding may run on different worker threads (asyncio.to_thread), never two at once.
        self._lock = threading.Lock()
        self._reference: Image.Image | None = None  # what the console has, before compression
        self._sent_at: list[float] = []  # per tile: when it last went with new pixels
        self._rough: set[int] = set()  # tiles last sent at busy quality, to refine when still
        self._pending_since: float | None = None
        self._waiting: set[int] = set()  # changed tiles not sent yet (a tiny change waits)
        self._keyframe_due = True

    def request_keyframe(self) -> None:
        """Make the next `encode` return a whole picture (a watcher has none, or lost one)."""
        with self._lock:
            self._keyframe_due = True

    @property
    def keyframe_due(self) -> bool:
        return self._keyframe_due

    def encode(
        self, thumbnail: Image.Image, now: float, *, unchanged: bool = False
    ) -> Thumbnail | TileUpdate | None:
        """What to send for `thumbnail` (RGB) at time `now`; None when nothing should go yet.

        `unchanged=True` says the caller knows the screen did not change since the previous
        call (the display server said so), which skips the comparison; waiting tiles and
        refinements may still go.
        """
        with self._lock:
            reference = self._reference
            if self._keyframe_due or reference is None or reference.size != thumbnail.size:
                return self._keyframe(thumbnail)
            columns = -(-thumbnail.width // TILE)
            # Unchanged since the last call: the difference with the reference is the same.
            changed = self._waiting if unchanged else changed_tiles(thumbnail, reference)
            self._waiting = changed
            # Pixels already sent roughly and now still: worth sending once more, sharply.
            refine = {
                tile
                for tile in self._rough - changed
                if now - self._sent_at[tile] >= self.refine_after
            }
            if not changed and not refine:
                self._pending_since = None  # e.g. a blinking cursor that blinked back
                return None
            # A change that is not sent stays in the difference with the reference, so it is
            # found again next time: waiting needs no other bookkeeping.
            if self._pending_since is None:
                self._pending_since = now
            tiles = len(self._sent_at)
            tiny = len(changed) <= max(1, self.small_change * tiles)
            if tiny and not refine and now - self._pending_since < self.coalesce_seconds:
                return None
            self._pending_since = None
            self._waiting = set()
            busy = {tile for tile in changed if now - self._sent_at[tile] <= self.busy_seconds}
            update = self._update(thumbnail, columns, sharp=(changed - busy) | refine, rough=busy)
            if len(changed) + len(refine) >= self.whole_share * tiles:
                whole = self.whole.picture(thumbnail)
                # Near a tie, the whole picture wins: it is a fresh start for every watcher.
                if len(whole.data) <= 1.1 * (update.data_size + 12 * len(update.patches)):
                    return self._keyframe(thumbnail, whole)
            for tile in changed:
                self._sent_at[tile] = now
            self._rough = (self._rough - changed - refine) | busy
            for patch in update.patches:
                box = (patch.x, patch.y, patch.x + patch.width, patch.y + patch.height)
                reference.paste(thumbnail.crop(box), box[:2])
            return update

    def _keyframe(self, thumbnail: Image.Image, whole: Thumbnail | None = None) -> Thumbnail:
        self._reference = thumbnail.copy()
        self._sent_at = [_NO_TIME] * (-(-thumbnail.width // TILE) * -(-thumbnail.height // TILE))
        self._rough = set()
        self._pending_since = None
        self._waiting = set()
        self._keyframe_due = False
        return whole if whole is not None else self.whole.picture(thumbnail)

    def _update(
        self, thumbnail: Image.Image, columns: int, *, sharp: set[int], rough: set[int]
    ) -> TileUpdate:
        """The patches, in WebP when nothing moves; with moving tiles, in the probed format.

        The probe compares the moving patches alone: they come back frame after frame, while
        the still ones (a refinement, a clock tick) are one-offs. Measured on the scrolling
        page, a probe over every patch let a few small patches, where WebP's smaller header
        wins, pick WebP for the next ten frames, although the scrolled text is 20 % smaller in
        JPEG and 7 times faster to encode.
        """
        if not rough or self.format == "jpeg":
            format = self.format
            moving = self._patches(thumbnail, columns, rough, self.busy_quality, format)
        elif self._until_probe > 0:
            self._until_probe -= 1
            format = self._moving_format
            moving = self._patches(thumbnail, columns, rough, self.busy_quality, format)
        else:
            self._until_probe = self.probe_every
            jpeg = self._patches(thumbnail, columns, rough, self.busy_quality, "jpeg")
            webp = self._patches(thumbnail, columns, rough, self.busy_quality, "webp")
            # JPEG is several times cheaper to encode, so WebP must win by a margin.
            if _size(webp) < 0.9 * _size(jpeg):
                format, moving = "webp", webp
            else:
                format, moving = "jpeg", jpeg
            self._moving_format = format
        still = self._patches(thumbnail, columns, sharp, self.quality, format)
        return TileUpdate((*still, *moving), thumbnail.width, thumbnail.height, format)

    def _patches(
        self, thumbnail: Image.Image, columns: int, tiles: set[int], quality: int, format: str
    ) -> list[EncodedPatch]:
        patches = []
        for column, row, end_column, end_row in rectangles(tiles, columns):
            box = (
                column * TILE,
                row * TILE,
                min(end_column * TILE, thumbnail.width),
                min(end_row * TILE, thumbnail.height),
            )
            data = _image(thumbnail.crop(box), quality, format)
            patches.append(EncodedPatch(box[0], box[1], box[2] - box[0], box[3] - box[1], data))
        return patches


def _size(patches: list[EncodedPatch]) -> int:
    return sum(len(patch.data) for patch in patches)


def _image(patch: Image.Image, quality: int, format: str) -> bytes:
    buffer = io.BytesIO()
    if format == "webp":
        patch.save(buffer, "WEBP", quality=quality, method=_WEBP_METHOD)
    else:
        # Optimised Huffman tables: a small JPEG is mostly tables, and this halves it.
        patch.save(buffer, "JPEG", quality=quality, optimize=True)
    return buffer.getvalue()
