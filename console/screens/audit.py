"""The audit trail: who did what to which devices, when, with which result.

The hub decides what a staff member may read (school-wide IT and admins: everything; a
teacher: their own actions); this screen shows what it sent, newest first, searchable.
"""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from console.fleet_files import when
from console.it_desk import HubRefused, ITDesk
from console.printable import printable
from console.widgets.literal_table import LiteralTable
from protocol.messages import AuditEntry

#: Targets listed by name in a row; more are counted.
NAMED_TARGETS = 3


def targets_text(entry: AuditEntry, names: dict[str, str]) -> str:
    """The devices a row names, by name where the fleet knows them."""
    shown = [names.get(t, t[:12]) for t in entry.targets[:NAMED_TARGETS]]
    more = len(entry.targets) - NAMED_TARGETS
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


class AuditScreen(Screen[None]):
    """The audit log as the hub lets this staff member see it."""

    CSS_PATH = "it_desk.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("slash", "search", "Search"),
        Binding("r", "refresh", "Refresh"),
    ]

    def __init__(self, desk: ITDesk) -> None:
        super().__init__()
        self.desk = desk
        self.entries: tuple[AuditEntry, ...] = ()
        self.names: dict[str, str] = {}

    @property
    def table(self) -> LiteralTable:
        return self.query_one("#audit-table", LiteralTable)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="Search: who, action, device, result, detail…", id="search")
        yield LiteralTable(id="audit-table", cursor_type="row", zebra_stripes=True)
        yield Static("Asking the hub for the audit log…", id="audit-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Homeroom: audit trail"
        self.table.add_columns("When", "Who", "Action", "Devices", "Result", "Detail")
        self.table.focus()
        self.load()

    @work(exclusive=True, group="audit")
    async def load(self) -> None:
        try:
            self.names = {e.device_id: e.name for e in await self.desk.fleet()}
            self.entries = await self.desk.audit()
        except HubRefused as refused:
            self.status(str(refused))
            return
        self.show_rows()

    def row(self, entry: AuditEntry) -> tuple[str, ...]:
        return (
            when(entry.at),
            entry.actor,
            entry.action,
            targets_text(entry, self.names),
            entry.result,
            entry.detail,
        )

    def show_rows(self) -> None:
        words = self.query_one("#search", Input).value.casefold().split()
        table = self.table
        table.clear()
        for entry in self.entries:
            cells = self.row(entry)
            text = " ".join(cells).casefold()
            if all(word in text for word in words):
                table.add_literal_row(cells, key=str(entry.seq))
        self.status(f"{table.row_count} of {len(self.entries)} entries shown, newest first.")

    def status(self, text: str) -> None:
        self.query_one("#audit-status", Static).update(Content(printable(text)))

    def on_input_changed(self, event: Input.Changed) -> None:
        self.show_rows()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.table.focus()

    def action_back(self) -> None:
        self.dismiss(None)

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_refresh(self) -> None:
        self.load()
