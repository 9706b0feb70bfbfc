"""A DataTable whose cells are always literal text: a device's words never become markup."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

from console.printable import printable


def literal(value: object) -> Text:
    """A cell showing `value` exactly, control characters made visible, markup inert.

    DataTable reads a plain str cell as Rich markup, so "[bold red]pwned[/]" from a device
    would turn red; a Text is drawn as it is.
    """
    return Text(printable(str(value)), no_wrap=True)


class LiteralTable(DataTable[Text]):
    """A read-only table of literal text cells, sortable by any column."""

    def add_literal_row(self, cells: Iterable[object], key: str | None = None) -> None:
        self.add_row(*(literal(cell) for cell in cells), key=key)

    def sort_by(self, column: int, *, reverse: bool = False) -> None:
        """Sort by the text of one column (case-insensitive)."""
        key = list(self.columns)[column]
        self.sort(key, key=lambda cell: cell.plain.casefold(), reverse=reverse)

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        # Textual (8.2) measures new rows on the table's next idle and keeps drawn cells and
        # rows by data version, not by column width: a repaint that came first (a busy event
        # loop) would leave the rows cut at the headings' widths ("[bol") until the data
        # changed again. New widths, so draw again.
        super()._update_dimensions(new_rows)
        self._clear_caches()
