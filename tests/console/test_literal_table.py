"""The literal table: cells drawn at the width their columns end up with."""

from __future__ import annotations

import html
import re

from textual.app import App, ComposeResult

from console.widgets.literal_table import LiteralTable

HOSTILE_NAME = "[bold red]pwned[/]"


class OneTable(App[None]):
    def compose(self) -> ComposeResult:
        yield LiteralTable(id="table")


def screen_words(app: App[None]) -> list[str]:
    """The runs of text on the app's screen, as a screenshot draws them."""
    svg = app.export_screenshot()
    runs = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    return [html.unescape(run).replace("\xa0", " ").strip() for run in runs]


async def test_a_row_drawn_before_its_columns_were_measured_is_drawn_again_in_full() -> None:
    app = OneTable()
    async with app.run_test(size=(80, 10)) as pilot:
        table = app.query_one(LiteralTable)
        table.add_columns("Name", "State")
        await pilot.pause()
        table.add_literal_row((HOSTILE_NAME, "in service"), key="pwned")
        # A busy event loop may draw the table before the table measures its new row (on
        # its next idle): that drawing has the headings' widths.
        assert table.render_line(1).text.split() == ["[bol", "in", "se"]
        await pilot.pause()
        words = screen_words(app)
        assert HOSTILE_NAME in words and "in service" in words
