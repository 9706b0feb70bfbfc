"""A whole-screen screenshot drawn to fit its widget, redrawn when the widget is resized."""

from __future__ import annotations

from textual.events import Resize
from textual.widgets import Static

from console.picture import PictureError, render_picture

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
        if self.image is None:
            return
        width, height = self.content_size
        try:
            picture = render_picture(
                self.image, max(width, 1), max(height, 1), max_pixels=MAX_SCREENSHOT_PIXELS
            )
        except PictureError as error:
            self.update(f"The screenshot could not be shown: {error}")
            return
        self.update(picture)
