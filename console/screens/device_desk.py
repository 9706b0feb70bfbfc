"""One device for IT: system information, processes (kill), diagnostics, a screenshot, history."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from console.fleet_files import when
from console.it_desk import DeviceReply, HubRefused, ITDesk
from console.printable import printable
from console.widgets.literal_table import LiteralTable
from console.widgets.screenshot_view import ScreenshotView
from protocol.actions import (
    GetSystemInfo,
    KillProcess,
    ListProcesses,
    RunDiagnostics,
    TakeScreenshot,
)
from protocol.fleet import FleetEntry
from protocol.messages import ProcessInfo


def megabytes(count: int) -> str:
    return f"{count / 1e6:,.1f} MB"


class DeviceDesk(Screen[None]):
    """What one device reports, each shown as what it is: tables, and a picture."""

    CSS_PATH = "it_desk.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("r", "refresh", "Refresh"),
        Binding("k", "kill", "Kill process"),
        Binding("s", "screenshot", "Screenshot"),
        Binding("w", "save_screenshot", "Save screenshot"),
    ]

    def __init__(self, desk: ITDesk, entry: FleetEntry, *, save_folder: Path | None = None) -> None:
        super().__init__()
        self.desk = desk
        self.entry = entry
        self.save_folder = save_folder or Path.cwd()
        self.processes: tuple[ProcessInfo, ...] = ()
        self.screenshot_format = "png"

    def compose(self) -> ComposeResult:
        entry = self.entry
        yield Header()
        summary = (
            f"{entry.name}  ·  {entry.asset_tag or 'no asset tag'}  ·  "
            f"{entry.student or 'no student'}  ·  {entry.state.words}  ·  "
            f"{'online' if entry.online else 'offline, last seen ' + when(entry.last_seen)}"
        )
        yield Static(Content(printable(summary)), id="device-summary")
        with TabbedContent(id="device-tabs"):
            with TabPane("System", id="system-tab"):
                yield LiteralTable(id="system", cursor_type="row")
            with TabPane("Processes", id="processes-tab"):
                yield LiteralTable(id="processes", cursor_type="row", zebra_stripes=True)
            with TabPane("Diagnostics", id="diagnostics-tab"):
                yield LiteralTable(id="diagnostics", cursor_type="row")
            with TabPane("Screenshot", id="screenshot-tab"):
                yield ScreenshotView(id="screenshot")
            with TabPane("History", id="history-tab"):
                yield LiteralTable(id="history", cursor_type="row")
            with TabPane("Privacy", id="privacy-tab"):
                yield LiteralTable(id="privacy", cursor_type="row", zebra_stripes=True)
        yield Static(id="device-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"Homeroom: {printable(self.entry.name)}"
        self.table("system").add_columns("Fact", "Value")
        self.table("diagnostics").add_columns("Check", "Result")
        self.table("processes").add_columns("PID", "CPU %", "Memory", "User", "Name", "Window")
        self.table("history").add_columns("When", "Who", "Field", "Was", "Now")
        self.table("privacy").add_columns("When", "Who", "Did", "Outcome", "Detail")
        self.action_refresh()

    def table(self, name: str) -> LiteralTable:
        return self.query_one(f"#{name}", LiteralTable)

    def status(self, text: str) -> None:
        self.query_one("#device-status", Static).update(Content(printable(text)))

    def action_back(self) -> None:
        self.dismiss(None)

    def action_refresh(self) -> None:
        self.load_history()
        self.load_privacy()
        if not self.entry.online:
            self.status("The device is offline: it answers when it is back.")
            return
        self.load_facts("system", GetSystemInfo())
        self.load_facts("diagnostics", RunDiagnostics())
        self.load_processes()

    async def _ask(self, action: GetSystemInfo | RunDiagnostics | ListProcesses) -> DeviceReply:
        reply = await self.desk.ask(self.entry.device_id, action)
        if not reply.result.ok:
            raise HubRefused(f"{action.name}: {reply.result.code}: {reply.result.detail}")
        return reply

    @work(group="facts")
    async def load_facts(self, name: str, action: GetSystemInfo | RunDiagnostics) -> None:
        try:
            reply = await self._ask(action)
        except HubRefused as refused:
            self.status(str(refused))
            return
        table = self.table(name)
        table.clear()
        for fact, value in reply.result.facts.items():
            table.add_literal_row((fact, value))

    @work(exclusive=True, group="processes")
    async def load_processes(self) -> None:
        try:
            reply = await self._ask(ListProcesses())
        except HubRefused as refused:
            self.status(str(refused))
            return
        self.processes = tuple(sorted(reply.result.processes, key=lambda p: -p.cpu_percent))
        table = self.table("processes")
        table.clear()
        for p in self.processes:
            cells = (p.pid, f"{p.cpu_percent:.1f}", megabytes(p.memory_bytes), p.user, p.name)
            table.add_literal_row((*cells, p.window_title), key=str(p.pid))
        self.status(f"{len(self.processes)} processes, busiest first.")

    @work(exclusive=True, group="history")
    async def load_history(self) -> None:
        try:
            history = await self.desk.history(self.entry.device_id)
        except HubRefused as refused:
            self.status(str(refused))
            return
        table = self.table("history")
        table.clear()
        for change in history:
            table.add_literal_row(
                (when(change.at), change.actor, change.field, change.old, change.new)
            )

    @work(exclusive=True, group="privacy")
    async def load_privacy(self) -> None:
        """Who watched, captured or commanded this device, when: its privacy report."""
        try:
            lines = await self.desk.privacy(self.entry.device_id)
        except HubRefused as refused:
            self.status(str(refused))
            return
        table = self.table("privacy")
        table.clear()
        for line in lines:
            did = line.kind if line.kind != "commanded" else f"commanded: {line.action}"
            who = f"{line.who} ({line.role})" if line.role else line.who
            table.add_literal_row((when(line.at), who, did, line.outcome, line.detail))

    def action_kill(self) -> None:
        table = self.table("processes")
        if not table.row_count or self.query_one(TabbedContent).active != "processes-tab":
            self.notify("Pick a process on the Processes tab first.", markup=False)
            return
        pid = int(str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value))
        process = next((p for p in self.processes if p.pid == pid), None)
        if process is not None:
            self.kill(process)

    @work(group="kill")
    async def kill(self, process: ProcessInfo) -> None:
        action = KillProcess(process_name=process.name, pid=process.pid)
        try:
            reply = await self.desk.ask(self.entry.device_id, action)
        except HubRefused as refused:
            self.status(str(refused))
            return
        result = reply.result
        outcome = "ended" if result.ok else f"not ended ({result.code}: {result.detail})"
        self.status(f"{process.name} (pid {process.pid}) {outcome}.")
        self.load_processes()

    def action_screenshot(self) -> None:
        self.query_one(TabbedContent).active = "screenshot-tab"
        self.take_screenshot()

    @work(exclusive=True, group="screenshot")
    async def take_screenshot(self) -> None:
        self.status("Asking the device for a screenshot…")
        try:
            reply = await self.desk.ask(self.entry.device_id, TakeScreenshot())
        except HubRefused as refused:
            self.status(str(refused))
            return
        shot, info = reply.screenshot, reply.result.screenshot
        if shot is None or info is None:
            result = reply.result
            self.status(f"No screenshot: {result.code or 'none sent'}: {result.detail}")
            return
        self.screenshot_format = info.format
        self.query_one(ScreenshotView).show_image(shot)
        self.status(f"Screenshot {info.width}x{info.height} ({info.format}): w saves it.")

    def action_save_screenshot(self) -> None:
        image = self.query_one(ScreenshotView).image
        if image is None:
            self.notify("Take a screenshot first (s).", markup=False)
            return
        name = f"homeroom-screenshot-{self.entry.device_id[:12]}.{self.screenshot_format}"
        path = self.save_folder / name
        try:
            path.write_bytes(image)
        except OSError as error:
            self.notify(f"Could not write {path}: {error.strerror}", severity="error", markup=False)
            return
        self.notify(f"Saved the screenshot to {path}", markup=False)
