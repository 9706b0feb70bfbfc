"""IT's fleet table: every device the staff member may see, searchable, sortable, exportable."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from console.dialogs.record_dialog import RecordDialog
from console.fleet_files import fleet_csv, when, write_labels
from console.it_desk import HubRefused, ITDesk
from console.printable import printable
from console.widgets.literal_table import LiteralTable
from protocol.actions import GetSystemInfo
from protocol.fleet import FleetEntry, LifeState

#: The fleet table's columns: (heading, what a row shows in it).
COLUMNS: tuple[tuple[str, Callable[[FleetEntry, dict[str, str]], str]], ...] = (
    ("Name", lambda e, _: e.name),
    ("Asset tag", lambda e, _: e.asset_tag),
    ("Student", lambda e, _: e.student),
    ("State", lambda e, names: state_words(e, names)),
    ("OS", lambda e, _: e.os),
    ("Model", lambda e, _: e.model),
    ("Serial", lambda e, _: e.serial),
    ("Last seen", lambda e, _: when(e.last_seen)),
    ("Online", lambda e, _: "online" if e.online else "offline"),
    ("Agent", lambda e, _: e.agent_version),
    ("Battery", lambda e, _: e.battery),
    ("Disk free", lambda e, _: e.disk_free),
)


def state_words(entry: FleetEntry, names: dict[str, str]) -> str:
    """The state as IT says it; a loan names the device it stands in for."""
    if entry.state is LifeState.ON_LOAN and entry.loan_for:
        return f"on loan for {names.get(entry.loan_for, entry.loan_for[:12])}"
    return entry.state.words


def matches(entry: FleetEntry, search: str, names: dict[str, str]) -> bool:
    """Whether any column of the row holds every word of `search` (case-insensitive)."""
    text = " ".join(show(entry, names) for _, show in COLUMNS).casefold()
    return all(word in text for word in search.casefold().split())


class FleetScreen(Screen[None]):
    """The fleet table. Enter opens a device; e edits its record; x exports; p prints labels."""

    CSS_PATH = "it_desk.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("slash", "search", "Search"),
        Binding("e", "edit", "Edit record"),
        Binding("x", "export", "Export CSV"),
        Binding("p", "labels", "Labels"),
        Binding("r", "refresh", "Refresh"),
        Binding("f", "ask_facts", "Ask facts"),
    ]

    def __init__(
        self,
        desk: ITDesk,
        *,
        export_folder: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.desk = desk
        self.export_folder = export_folder or Path.cwd()
        self.clock = clock
        self.entries: tuple[FleetEntry, ...] = ()
        self.sort_column = 0
        self.sort_reverse = False

    @property
    def table(self) -> LiteralTable:
        return self.query_one("#fleet-table", LiteralTable)

    @property
    def names(self) -> dict[str, str]:
        return {e.device_id: e.name for e in self.entries}

    @property
    def shown(self) -> list[FleetEntry]:
        """The rows on show, in table order: what an export or a label sheet covers."""
        by_id = {e.device_id: e for e in self.entries}
        keys = (row.key.value for row in self.table.ordered_rows)
        return [by_id[key] for key in keys if key in by_id]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="Search: name, tag, student, state, model, serial…", id="search")
        yield LiteralTable(id="fleet-table", cursor_type="row", zebra_stripes=True)
        yield Static("Asking the hub for the fleet…", id="fleet-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Homeroom: fleet"
        self.table.add_columns(*(heading for heading, _ in COLUMNS))
        self.table.focus()
        self.load()

    @work(exclusive=True, group="fleet")
    async def load(self) -> None:
        try:
            self.entries = await self.desk.fleet()
        except HubRefused as refused:
            self.status(str(refused))
            return
        self.show_rows()

    def show_rows(self) -> None:
        """Fill the table with the rows the search matches, in the chosen order."""
        table = self.table
        search = self.query_one("#search", Input).value
        names = self.names
        cursor = table.cursor_row
        table.clear()
        for entry in self.entries:
            if matches(entry, search, names):
                table.add_literal_row((show(entry, names) for _, show in COLUMNS), entry.device_id)
        table.sort_by(self.sort_column, reverse=self.sort_reverse)
        if table.row_count:
            table.move_cursor(row=min(cursor, table.row_count - 1))
        online = sum(e.online for e in self.entries)
        self.status(
            f"{table.row_count} of {len(self.entries)} devices shown, {online} online. "
            f"Sorted by {COLUMNS[self.sort_column][0].lower()}"
            f"{' (reversed)' if self.sort_reverse else ''}: click a heading to sort."
        )

    def status(self, text: str) -> None:
        self.query_one("#fleet-status", Static).update(Content(printable(text)))

    def on_input_changed(self, event: Input.Changed) -> None:
        self.show_rows()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.table.focus()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        column = event.column_index
        self.sort_reverse = not self.sort_reverse if column == self.sort_column else False
        self.sort_column = column
        self.show_rows()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        entry = self.current()
        if entry is not None:
            from console.screens.device_desk import DeviceDesk

            self.app.push_screen(DeviceDesk(self.desk, entry), callback=self._reload)

    def _reload(self, _: None) -> None:
        self.load()

    def current(self) -> FleetEntry | None:
        """The device under the cursor."""
        table = self.table
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return next((e for e in self.entries if e.device_id == key.value), None)

    def action_back(self) -> None:
        self.dismiss(None)

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_refresh(self) -> None:
        self.load()

    def action_ask_facts(self) -> None:
        self.ask_facts()

    @work(exclusive=True, group="facts")
    async def ask_facts(self) -> None:
        """Ask every online device shown for its system facts, then show what the hub kept."""
        online = [e for e in self.shown if e.online]
        self.status(f"Asking {len(online)} online devices for their system facts…")
        replies = await asyncio.gather(
            *(self.desk.ask(e.device_id, GetSystemInfo()) for e in online),
            return_exceptions=True,
        )
        answered = sum(not isinstance(r, BaseException) and r.result.ok for r in replies)
        self.notify(f"{answered} of {len(online)} devices sent their facts.", markup=False)
        self.load()

    def action_edit(self) -> None:
        entry = self.current()
        if entry is None:
            return
        others = {e.name: e.device_id for e in self.entries if e.device_id != entry.device_id}
        self.app.push_screen(
            RecordDialog(entry, others), callback=lambda fields: self._save(entry, fields)
        )

    def _save(self, entry: FleetEntry, fields: dict[str, Any] | None) -> None:
        if fields is not None:
            self.save_record(entry, fields)

    @work(group="records")
    async def save_record(self, entry: FleetEntry, fields: dict[str, Any]) -> None:
        try:
            saved = await self.desk.set_record(entry.device_id, **fields)
        except HubRefused as refused:
            self.notify(printable(str(refused)), severity="error", markup=False)
            return
        self.entries = tuple(saved if e.device_id == saved.device_id else e for e in self.entries)
        self.show_rows()
        self.notify(
            f"Saved {printable(saved.name)}: {state_words(saved, self.names)}.", markup=False
        )

    def _stamp(self) -> str:
        return datetime.fromtimestamp(self.clock(), UTC).strftime("%Y%m%d-%H%M%S")

    def action_export(self) -> None:
        path = self.export_folder / f"homeroom-fleet-{self._stamp()}.csv"
        rows = self.shown
        try:
            path.write_text(fleet_csv(rows), encoding="utf-8")
        except OSError as error:
            self.notify(f"Could not write {path}: {error.strerror}", severity="error", markup=False)
            return
        self.notify(f"Exported {len(rows)} devices to {path}", markup=False, timeout=8)

    def action_labels(self) -> None:
        self.write_label_sheet(self.export_folder / f"homeroom-labels-{self._stamp()}.pdf")

    @work(thread=True, group="labels")
    def write_label_sheet(self, path: Path) -> None:
        rows = self.app.call_from_thread(lambda: self.shown)
        try:
            written = write_labels(rows, path)
        except OSError as error:
            self.app.call_from_thread(
                self.notify,
                f"Could not write {path}: {error.strerror}",
                severity="error",
                markup=False,
            )
            return
        where = ", ".join(str(p) for p in written)
        self.app.call_from_thread(
            self.notify, f"Labels for {len(rows)} devices: {where}", markup=False, timeout=8
        )
