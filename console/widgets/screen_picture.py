"""Where a tile shows a student's screen: half-block cells, or real pixels via textual-image."""

from __future__ import annotations

from PIL import Image
from rich.console import RenderableType
from rich.segment import Segment
from textual.app import ComposeResult
from textual.content import Content
from textual.events import Resize
from textual.geometry import Size
from textual.message import Message
from textual.strip import Strip
from textual.style import Style
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
        # The half-block picture on show as lines of the area, made once per picture and size.
        self._strips: list[Strip] = []
        self._strips_size = Size(0, 0)
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

    def render_line(self, y: int) -> Strip:
        """A line of the area: a half-block picture's own cells, or the rendered content.

        A picture's cells carry their own colours, so they go to the screen as they are:
        through `render`, Textual would re-render every cell through Rich and add the
        widget's style to each, which was most of the console's CPU with 40 live tiles.
        """
        picture = self.showing_cells
        if picture is None:
            return super().render_line(y)
        # Keyed on the outer size, which the widget keeps: `size` asks the screen each time.
        if self._strips_size != self.outer_size or not self._strips:
            self._strips_size = self.outer_size
            self._strips = self._aligned(picture, self.size)
        if 0 <= y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, self.visual_style.rich_style)

    def _aligned(self, picture: HalfBlockPicture, size: Size) -> list[Strip]:
        """The picture's rows placed as `content-align` says, cropped to `size`."""
        width, height = size
        base = self.visual_style.rich_style
        rows = []
        for line in picture.lines[:height]:
            if any(segment.style is None or segment.style.bgcolor is None for segment in line):
                # An odd last row has no lower pixels: that half shows the area's background.
                line = tuple(Segment.apply_style(line, base))
            rows.append(Strip(line, picture.width).crop(0, width))
        # The space around the picture in the widget's own style, as Textual pads content.
        blank = (self.visual_style + Style(reverse=False)).rich_style
        horizontal, vertical = self.styles.content_align
        return list(Strip.align(rows, blank, width, height, horizontal, vertical))

    def placeholder(self, text: Content) -> None:
        """Show `text` instead of a picture."""
        if self._pixels is not None:
            self._pixels.display = False
        self._content = text
        self._strips = []
        self.refresh()

    def show_cells(self, picture: RenderableType) -> None:
        """Show a picture already drawn as cells (half-block mode)."""
        self._content = picture
        self._strips = []
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
