"""The picture area draws a half-block picture's own cells, as Textual would render them."""

from __future__ import annotations

from io import BytesIO

import pytest
from PIL import Image
from rich.color import Color
from rich.console import RenderableType
from rich.segment import Segment
from textual.app import App, ComposeResult
from textual.widget import Widget

from console.picture import HalfBlockPicture, render_picture
from console.widgets.screen_picture import ScreenPicture
from tests.console.harness import rendered_lines

AREA = "width: 12; height: 5; background: #203040;"


class ThroughRich(Widget):
    """The same area and alignment, drawing the picture through Textual's usual render."""

    DEFAULT_CSS = "ThroughRich { align: center middle; content-align: center middle; }"

    def __init__(self, picture: RenderableType) -> None:
        super().__init__()
        self.picture = picture

    def render(self) -> RenderableType:
        return self.picture


class Side(App[None]):
    CSS = f"ScreenPicture, ThroughRich {{ {AREA} }}"

    def __init__(self, picture: HalfBlockPicture) -> None:
        super().__init__()
        self.picture = picture

    def compose(self) -> ComposeResult:
        yield ScreenPicture()
        yield ThroughRich(self.picture)


def striped(size: tuple[int, int]) -> HalfBlockPicture:
    """A picture whose every pixel differs from its neighbours, drawn as half-blocks."""
    image = Image.new("RGB", size)
    image.putdata(
        [
            (40 * x % 256, 60 * y % 256, (x * y * 7) % 256)
            for y in range(size[1])
            for x in range(size[0])
        ]
    )
    buffer = BytesIO()
    image.save(buffer, "PNG")
    return render_picture(buffer.getvalue(), *size)


def cells(line: list[Segment]) -> list[tuple[str, Color | None, Color | None]]:
    """Each cell's character and colours, however the line is cut into segments."""
    return [
        (
            character,
            segment.style.color if segment.style else None,
            segment.style.bgcolor if segment.style else None,
        )
        for segment in line
        for character in segment.text
    ]


@pytest.mark.parametrize("size", [(8, 6), (4, 3), (12, 10)])
async def test_a_picture_is_drawn_cell_for_cell_as_textual_renders_it(
    size: tuple[int, int],
) -> None:
    picture = striped(size)  # e.g. 8 cells by 3, centred in 12 by 5
    app = Side(picture)
    async with app.run_test(size=(30, 12)) as pilot:
        area, reference = app.query_one(ScreenPicture), app.query_one(ThroughRich)
        area.show_cells(picture)
        await pilot.pause()
        ours = [cells(list(strip)) for strip in rendered_lines(area)]
        theirs = [cells(list(strip)) for strip in rendered_lines(reference)]
    assert len(ours) == 5 and all(len(line) == 12 for line in ours)
    assert ours == theirs
    if size == (8, 6):
        assert ours[1][2][0] == "▀" and ours[0][2][0] == " "  # a blank row above, 2 columns left


async def test_an_odd_last_row_shows_the_area_background_below() -> None:
    picture = striped((4, 3))  # two cell rows: the second has no lower pixel
    app = Side(picture)
    async with app.run_test(size=(30, 12)) as pilot:
        area = app.query_one(ScreenPicture)
        area.show_cells(picture)
        await pilot.pause()
        lines = [cells(list(strip)) for strip in rendered_lines(area)]
    picture_rows = [line for line in lines if any(c == "▀" for c, _, _ in line)]
    assert len(picture_rows) == 2
    last = [cell for cell in picture_rows[-1] if cell[0] == "▀"]
    backgrounds = {bg.triplet.hex if bg and bg.triplet else None for _, _, bg in last}
    assert backgrounds == {"#203040"}


async def test_placeholder_text_after_a_picture_goes_through_the_usual_render() -> None:
    picture = striped((8, 6))
    app = Side(picture)
    async with app.run_test(size=(30, 12)) as pilot:
        area = app.query_one(ScreenPicture)
        area.show_cells(picture)
        await pilot.pause()
        from textual.content import Content

        area.placeholder(Content("offline"))
        await pilot.pause()
        text = "\n".join(strip.text for strip in rendered_lines(area))
    assert "offline" in text and "▀" not in text
