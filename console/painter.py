"""Draws students' pictures for every tile, in one background thread, newest picture only.

A tile hands over each picture as it arrives; the painter keeps only the newest per tile
and draws, in batches, those of tiles a teacher can see. Tiles scrolled out of view, or
under another screen, keep their newest picture undrawn until they come back into view.
One long-lived task and one thread do all of it: no worker, no thread per picture.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from console.picture import PictureData

Drawing = object
"""What a painted picture is (a renderable, or an image with its cells): up to the tile."""


class Canvas(Protocol):
    """What the painter needs of a tile."""

    def in_view(self) -> bool:
        """Whether the teacher can see it now."""
        ...

    def cells(self) -> tuple[int, int]:
        """The cells its picture may take; (0, 0) before it is laid out."""
        ...

    def drawer(self) -> Callable[[PictureData, int, int], Drawing]:
        """The function drawing a picture for it (runs on the painter's thread)."""
        ...

    def drawn(
        self, data: PictureData, cells: tuple[int, int], drawing: Drawing | Exception
    ) -> None:
        """Show what was drawn, or that the picture could not be (on the event loop)."""
        ...


class PicturePainter:
    """Newest picture per canvas, drawn when in view; `run` is the one task doing it."""

    def __init__(self) -> None:
        self._waiting: dict[Canvas, PictureData] = {}
        self._wake = asyncio.Event()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="picture-painter")
        self.drawn_count = 0
        """Pictures drawn so far (for the benchmark and tests)."""

    def paint(self, canvas: Canvas, data: PictureData) -> None:
        """Draw `data` on `canvas` when it is in view; a newer picture replaces it."""
        self._waiting[canvas] = data
        self._wake.set()

    def forget(self, canvas: Canvas) -> None:
        """The canvas is gone: drop its waiting picture."""
        self._waiting.pop(canvas, None)

    def look_again(self) -> None:
        """Tiles moved into view (scroll, resize, a screen closed): draw what waits for them."""
        if self._waiting:
            self._wake.set()

    def waiting(self, canvas: Canvas) -> bool:
        """Whether a picture for `canvas` waits to be drawn."""
        return canvas in self._waiting

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                batch = []
                for canvas, data in list(self._waiting.items()):
                    cells = canvas.cells()
                    if min(cells) >= 1 and canvas.in_view():
                        del self._waiting[canvas]
                        batch.append((canvas, data, cells, canvas.drawer()))
                if not batch:
                    continue
                drawings = await loop.run_in_executor(self._thread, _draw_all, batch)
                for (canvas, data, cells, _), drawing in zip(batch, drawings, strict=True):
                    self.drawn_count += 1
                    canvas.drawn(data, cells, drawing)
        finally:
            self._thread.shutdown(wait=False, cancel_futures=True)


def _draw_all(
    batch: list[tuple[Canvas, PictureData, tuple[int, int], Callable[..., Drawing]]],
) -> list[Drawing | Exception]:
    drawings: list[Drawing | Exception] = []
    for _, data, (wide, high), draw in batch:
        try:
            drawings.append(draw(data, wide, high))
        except Exception as error:  # hostile bytes: the tile says it cannot show them
            drawings.append(error)
    return drawings
