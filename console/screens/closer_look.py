"""A closer look at one student: a larger picture more often, what they did lately, the details."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from console.painter import PicturePainter
from console.picture import PictureMode
from console.printable import printable
from console.roster import DeviceView
from console.widgets.student_tile import StudentTile

CLOSER_LOOK_WIDTH = 960
"""Pixels wide a closer look asks for: enough to read a page on the student's screen."""
CLOSER_LOOK_FPS = 4.0


@dataclass(frozen=True, slots=True)
class Happening:
    """One recent event on a student's device: what they switched to, or a command's outcome."""

    at: float
    text: str
    """Words from the device in it are hostile: shown literally, never as markup."""


class CloserLook(Screen[None]):
    """One device, filling the terminal. Every action applies to it alone."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back to the class"),
    ]

    def __init__(
        self,
        device: DeviceView,
        *,
        mode: PictureMode = PictureMode.HALFBLOCK,
        painter: PicturePainter | None = None,
        history: Iterable[Happening] = (),
    ) -> None:
        super().__init__()
        self._device = device
        self.tile = StudentTile(device, mode=mode, painter=painter)
        self._history = list(history)
        self._events = Static(id="events", markup=False)

    def action_back(self) -> None:
        self.dismiss(None)  # runs the app's callback: back to grid-sized thumbnails

    @property
    def device_id(self) -> str:
        return self._device.device_id

    @property
    def happenings(self) -> tuple[Happening, ...]:
        """The recent events listed, oldest first."""
        return tuple(self._history)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="closer-body"):
            yield self.tile
            with VerticalScroll(id="events-panel"):
                yield self._events
        yield Static(id="details", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"Closer look: {printable(self._device.display_name)}"
        self.query_one("#events-panel").border_title = "Recent events"
        self._show_details()
        self._show_events()

    def update_device(self, device: DeviceView) -> None:
        self._device = device
        self.tile.update_device(device)
        if self.is_mounted:
            self._show_details()

    def add_happening(self, happening: Happening) -> None:
        """List one more event, newest last."""
        self._history.append(happening)
        if self.is_mounted:
            self._show_events()

    def _show_events(self) -> None:
        lines = [
            f"{time.strftime('%H:%M:%S', time.localtime(happening.at))}  {happening.text}"
            for happening in self._history[-50:]
        ]
        text = "\n".join(printable(line) for line in lines) or "Nothing yet."
        self._events.update(Content(text))
        self.query_one("#events-panel", VerticalScroll).scroll_end(animate=False)

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
            f"Using: {device.doing or 'nothing reported'}",
            f"Device {device.device_id[:16]}…",
        ]
        self.query_one("#details", Static).update(Content(printable("   ·   ".join(facts))))
