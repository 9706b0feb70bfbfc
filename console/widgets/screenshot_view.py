"""A whole-screen screenshot drawn to fit its widget, redrawn when the widget is resized."""

from __future__ import annotations

from textual import work
from textual.events import Resize
from textual.widgets import Static

from console.picture import HalfBlockPicture, PictureError, render_picture

#: A screenshot is a whole screen at full resolution: bigger than any thumbnail.
MAX_SCREENSHOT_PIXELS = 8192 * 8192


class ScreenshotView(Static):
    """Shows PNG or WebP bytes as a picture (half-block cells), or a sentence until then."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("No screenshot yet: press s to take one.", id=id, markup=False)
        self.image: bytes | None = None

    def show_image(self, image: bytes) -> None:
        self.image = image
        self._draw()

    def on_resize(self, event: Resize) -> None:
        if self.image is not None:
            self._draw()

    def _draw(self) -> None:
        if self.image is not None:
            width, height = self.content_size
            self._decode(self.image, max(width, 1), max(height, 1))

    @work(thread=True, exclusive=True, group="screenshot")
    def _decode(self, image: bytes, width: int, height: int) -> None:
        """Decode off the event loop: a whole screen takes tens of milliseconds."""
        picture: HalfBlockPicture | str
        try:
            picture = render_picture(image, width, height, max_pixels=MAX_SCREENSHOT_PIXELS)
        except PictureError as error:
            picture = f"The screenshot could not be shown: {error}"
        self.app.call_from_thread(self.update, picture)
