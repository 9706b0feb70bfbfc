"""Where a tile shows a student's screen: half-block cells, or real pixels via textual-image."""

from __future__ import annotations

from PIL import Image
from rich.console import RenderableType
from textual.app import ComposeResult
from textual.content import Content
from textual.events import Resize
from textual.message import Message
from textual.widget import Widget

from console.picture import HalfBlockPicture, PictureMode


class ScreenPicture(Widget):
    """A picture area of fixed size; `show` puts a drawn picture in it, `placeholder` text.

    In half-block mode the picture is a renderable of cells; in Kitty or Sixel mode a
    textual-image widget inside draws the pixels, sized to the cells the picture fits.
    """

    DEFAULT_CSS = """
    ScreenPicture {
        height: 1fr;
        align: center middle;
        content-align: center middle;
        & > .pixels { width: 1; height: 1; }
    }
    """

    class Resized(Message):
        """The area changed size (Resize events do not bubble to the tile)."""

    def __init__(self, mode: PictureMode = PictureMode.HALFBLOCK, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.mode = mode
        self._content: RenderableType = ""
        self._pixels: Widget | None = None
        self._pixel_cells = (0, 0)
        if mode is PictureMode.KITTY:
            from textual_image.widget import TGPImage

            self._pixels = TGPImage(classes="pixels")
        elif mode is PictureMode.SIXEL:
            from textual_image.widget import SixelImage

            self._pixels = SixelImage(classes="pixels")

    @property
    def pixels(self) -> Widget | None:
        """The textual-image widget drawing real pixels, in Kitty or Sixel mode."""
        return self._pixels

    def compose(self) -> ComposeResult:
        if self._pixels is not None:
            self._pixels.display = False
            yield self._pixels

    def render(self) -> RenderableType:
        return self._content

    def placeholder(self, text: Content) -> None:
        """Show `text` instead of a picture."""
        if self._pixels is not None:
            self._pixels.display = False
        self._content = text
        self.refresh()

    def show_cells(self, picture: RenderableType) -> None:
        """Show a picture already drawn as cells (half-block mode)."""
        self._content = picture
        # The area's size is fixed by the grid, so no layout pass is needed.
        self.refresh()

    def show_pixels(self, image: Image.Image, cells: tuple[int, int]) -> None:
        """Show a picture in real pixels, taking `cells` (width, height) of the area."""
        pixels = self._pixels
        if pixels is None:
            raise RuntimeError("real pixels need Kitty or Sixel mode")
        self._content = ""
        width, height = cells
        if self._pixel_cells != cells:
            self._pixel_cells = cells
            pixels.styles.width, pixels.styles.height = width, height
        pixels.image = image  # type: ignore[attr-defined]
        pixels.display = True

    @property
    def showing_cells(self) -> HalfBlockPicture | None:
        """The half-block picture on show, if any."""
        return self._content if isinstance(self._content, HalfBlockPicture) else None

    def on_resize(self, event: Resize) -> None:
        self.post_message(self.Resized())
