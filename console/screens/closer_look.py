"""A closer look at one student: a large, more frequent picture and the device's details."""

from __future__ import annotations

import time
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from console.roster import DeviceView, printable
from console.widgets.student_tile import StudentTile

CLOSER_LOOK_WIDTH = 960
"""Pixels wide a closer look asks for: enough to read a page on the student's screen."""
CLOSER_LOOK_FPS = 4.0


class CloserLook(Screen[None]):
    """One device, filling the terminal. Lock, unlock and message apply to it alone."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back to the class"),
    ]

    def __init__(self, device: DeviceView) -> None:
        super().__init__()
        self._device = device
        self.tile = StudentTile(device)

    def action_back(self) -> None:
        self.dismiss(None)  # runs the app's callback: back to grid-sized thumbnails

    @property
    def device_id(self) -> str:
        return self._device.device_id

    def compose(self) -> ComposeResult:
        yield Header()
        yield self.tile
        yield Static(id="details", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"Closer look: {printable(self._device.display_name)}"
        self._show_details()

    def update_device(self, device: DeviceView) -> None:
        self._device = device
        self.tile.update_device(device)
        if self.is_mounted:
            self._show_details()

    def _show_details(self) -> None:
        device = self._device
        seen = (
            time.strftime("%H:%M:%S", time.localtime(device.last_seen))
            if device.last_seen
            else "never"
        )
        facts = [
            f"Student: {device.user or 'unknown'}",
            f"Group: {device.group}",
            "Online" if device.online else f"Offline, last seen {seen}",
            "Screen locked" if device.locked else "Screen unlocked",
            f"Device {device.device_id[:16]}…",
        ]
        self.query_one("#details", Static).update(Content(printable("   ·   ".join(facts))))
