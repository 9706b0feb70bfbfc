"""The teacher's console: the class grid, commands to devices, and events from the hub."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import partial
from typing import Any, ClassVar

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from console.classes import ClassView
from console.dialogs.class_picker import ALL_DEVICES, ClassPicker
from console.dialogs.message_dialog import MessageDialog
from console.link import HubLink
from console.messages import (
    ClassesChanged,
    DeviceChanged,
    HubStatusChanged,
    OutcomeReceived,
    PictureReceived,
    RequestRefused,
    RosterChanged,
)
from console.picture import PictureData
from console.roster import ActionOutcome, DeviceView, printable
from console.screens.closer_look import CLOSER_LOOK_FPS, CLOSER_LOOK_WIDTH, CloserLook
from console.widgets.class_grid import ClassGrid

GRID_THUMBNAIL_WIDTH = 320
"""Pixels wide the grid asks devices to capture: plenty for a tile, cheap for the device."""
GRID_THUMBNAIL_FPS = 1.0
"""Thumbnails per second the grid asks for."""
LOCK_NOTE_MAX_LENGTH = 500
"""Longest note on a locked screen (`LockScreen.message` in protocol/actions.py)."""
MESSAGE_MAX_LENGTH = 2000
"""Longest message to students (`SendMessage.text` in protocol/actions.py)."""
CLASS_SESSION_MINUTES = 60
"""How long a class session the teacher starts lasts, unless ended sooner."""
CLASS_STATUS_SECONDS = 20.0
"""How often the class status is redrawn, so a session past its end shows as over."""

_Send = Callable[[], Awaitable[None]]


class ClassroomApp(App[None]):
    """Shows the class a hub link reports, and sends the teacher's commands through it."""

    CSS_PATH = "app.tcss"
    TITLE = "Homeroom"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "lock", "Lock", tooltip="Lock the selected screens, with an optional note"),
        Binding("u", "unlock", "Unlock", tooltip="Unlock the selected screens"),
        Binding("m", "message", "Message", tooltip="Show a message on the selected screens"),
        Binding("ctrl+a", "select_all", "Select all", tooltip="Select every device, or none"),
        Binding("c", "switch_class", "Class", tooltip="Show one of your classes, or every device"),
        Binding(
            "s",
            "class_session",
            "Session",
            tooltip=f"Start a {CLASS_SESSION_MINUTES}-minute class session, or end the one on",
        ),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, link: HubLink) -> None:
        super().__init__()
        self._link = link
        # One queue, one sender: commands reach the link in the order the teacher gave them.
        self._commands: asyncio.Queue[tuple[str, _Send]] = asyncio.Queue()
        self._hub_ok = False
        self._grid = ClassGrid()
        # Every device the hub reports; the grid shows those of the current class only.
        self._roster: dict[str, DeviceView] = {}
        self._teacher_classes: dict[str, ClassView] = {}
        self._current_class: str | None = None  # None: every device

    # Events from the link. They only queue messages, so the link never waits on the UI.

    def devices_changed(self, devices: Sequence[DeviceView]) -> None:
        """The hub sent the full roster of the class."""
        self.post_message(RosterChanged(tuple(devices)))

    def device_changed(self, device: DeviceView) -> None:
        """One device changed state, or joined the class."""
        self.post_message(DeviceChanged(device))

    def picture_received(self, device_id: str, data: PictureData) -> None:
        """A thumbnail (JPEG, WebP or PNG bytes, or a reassembled picture) arrived."""
        self.post_message(PictureReceived(device_id, data))

    def outcome_received(self, outcome: ActionOutcome) -> None:
        """A device reported the result of a command."""
        self.post_message(OutcomeReceived(outcome))

    def classes_changed(self, classes: Sequence[ClassView]) -> None:
        """The hub sent the teacher's classes (after a query, or a class session change)."""
        self.post_message(ClassesChanged(tuple(classes)))

    def request_refused(self, text: str) -> None:
        """The hub refused a request that was not a device command; `text` says why."""
        self.post_message(RequestRefused(text))

    def hub_status(self, text: str, ok: bool) -> None:
        """The connection to the hub changed; `text` is shown to the teacher as it is."""
        self.post_message(HubStatusChanged(text, ok))

    # The interface.

    @property
    def class_grid(self) -> ClassGrid:
        """The grid of student tiles (kept while a closer look covers it)."""
        return self._grid

    @property
    def closer_look(self) -> CloserLook | None:
        """The closer look on show, if any."""
        # Not `self.screen`: while the app shuts down the stack is empty and that raises, yet
        # pictures from the hub may still be arriving.
        stack = self.screen_stack
        screen = stack[-1] if stack else None
        return screen if isinstance(screen, CloserLook) else None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(
            "No devices yet: they appear here as they connect to the hub.", id="empty-class"
        )
        yield self._grid
        with Horizontal(id="status-bar"):
            yield Static("Connecting to the hub…", id="hub-status", markup=False)
            yield Static(id="class-status", markup=False)
            yield Static(id="selection-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.class_grid.focus()
        self.run_worker(self._run_link(), name="hub link", group="hub")
        self.run_worker(self._send_commands(), name="commands", group="hub")
        # A class session ends by itself at its end time: the status bar follows the clock.
        self.set_interval(CLASS_STATUS_SECONDS, self._show_roster_size)

    @property
    def current_class(self) -> ClassView | None:
        """The class the grid shows, or None for every device."""
        return self._teacher_classes.get(self._current_class) if self._current_class else None

    def _in_view(self, device_id: str) -> bool:
        klass = self.current_class
        return klass is None or device_id in klass.device_ids

    def on_roster_changed(self, message: RosterChanged) -> None:
        self._roster = {device.device_id: device for device in message.devices}
        self._show_current_class()

    def _show_current_class(self) -> None:
        """Show the devices of the current class; watch who came into view, unwatch who left."""
        grid = self.class_grid
        before = grid.device_ids
        grid.show_roster([d for d in self._roster.values() if self._in_view(d.device_id)])
        after = set(grid.device_ids)
        departed = [device_id for device_id in before if device_id not in after]
        if departed:
            # Nobody watching means no capture on the device.
            self._send("stop thumbnails", partial(self._link.unwatch, departed))
        if after - set(before):
            self._watch_all()
        self._show_roster_size()

    def on_device_changed(self, message: DeviceChanged) -> None:
        self._roster[message.device.device_id] = message.device
        if not self._in_view(message.device.device_id):
            return  # another class's device: kept for when the teacher switches
        grid = self.class_grid
        is_new = grid.tile(message.device.device_id) is None
        grid.update_device(message.device)
        if (closer := self.closer_look) and closer.device_id == message.device.device_id:
            closer.update_device(message.device)
        if is_new:
            self._watch_all()
            self._show_roster_size()

    def on_picture_received(self, message: PictureReceived) -> None:
        # A picture for a device no longer shown is simply late: drop it.
        if (tile := self.class_grid.tile(message.device_id)) is not None:
            tile.receive_picture(message.data)
        if (closer := self.closer_look) and closer.device_id == message.device_id:
            closer.tile.receive_picture(message.data)

    def on_outcome_received(self, message: OutcomeReceived) -> None:
        if (tile := self.class_grid.tile(message.outcome.device_id)) is not None:
            tile.show_outcome(message.outcome)
        if (closer := self.closer_look) and closer.device_id == message.outcome.device_id:
            closer.tile.show_outcome(message.outcome)

    def on_class_grid_focus_requested(self, message: ClassGrid.FocusRequested) -> None:
        """A closer look: a larger picture, more often, for as long as it is open."""
        tile = self.class_grid.tile(message.device_id)
        if tile is None or self.closer_look is not None:
            return
        device_ids = (message.device_id,)
        closer = partial(self._link.watch, device_ids, width=CLOSER_LOOK_WIDTH, fps=CLOSER_LOOK_FPS)
        self._send("take a closer look", closer)
        back = partial(
            self._link.watch, device_ids, width=GRID_THUMBNAIL_WIDTH, fps=GRID_THUMBNAIL_FPS
        )
        self.push_screen(
            CloserLook(tile.device), callback=lambda _: self._send("return to thumbnails", back)
        )

    def on_classes_changed(self, message: ClassesChanged) -> None:
        self._teacher_classes = {klass.name: klass for klass in message.classes}
        if self._current_class is not None and self._current_class not in self._teacher_classes:
            self._current_class = None  # the class is gone, or no longer the teacher's
        self._show_current_class()

    def on_request_refused(self, message: RequestRefused) -> None:
        self.notify(printable(message.text), severity="error", markup=False)

    def on_hub_status_changed(self, message: HubStatusChanged) -> None:
        status = self.query_one("#hub-status", Static)
        status.update(Content(printable(message.text)))
        status.set_class(message.ok, "-ok")
        status.set_class(not message.ok, "-error")
        if message.ok and not self._hub_ok:
            # After a reconnect the hub has forgotten what we watched.
            self._watch_all()
        self._hub_ok = message.ok

    def on_class_grid_selection_changed(self, message: ClassGrid.SelectionChanged) -> None:
        grid = message.grid
        if grid.has_selection:
            text = f"{len(grid.selected_ids)} of {len(grid.device_ids)} selected"
        elif grid.cursor_id is not None:
            text = f"Nothing selected: actions apply to {self._describe(grid.selected_ids)}"
        else:
            text = ""
        self.query_one("#selection-status", Static).update(Content(printable(text)))
        self.refresh_bindings()

    # Actions.

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("lock", "unlock", "message") and self.closer_look is not None:
            return True
        if action == "class_session":
            return True if self.current_class is not None else None
        if action in ("lock", "unlock", "message", "select_all"):
            # None greys the key out in the footer: there is nobody to act on yet.
            return True if self.class_grid.device_ids else None
        return True

    def action_lock(self) -> None:
        targets = self._targets()
        if targets:
            dialog = MessageDialog(
                f"Lock {self._describe(targets)}",
                action="Lock",
                placeholder="Optional note to show on the locked screen",
                required=False,
                max_length=LOCK_NOTE_MAX_LENGTH,
            )
            self.push_screen(dialog, callback=partial(self._lock, targets))

    def action_unlock(self) -> None:
        targets = self._targets()
        if targets:
            self._send("unlock screens", partial(self._link.unlock, targets))
            self.notify(f"Unlocking {self._describe(targets)}.", markup=False, timeout=3)

    def action_message(self) -> None:
        targets = self._targets()
        if targets:
            dialog = MessageDialog(
                f"Message to {self._describe(targets)}",
                action="Send",
                placeholder="What students will see on their screen",
                max_length=MESSAGE_MAX_LENGTH,
            )
            self.push_screen(dialog, callback=partial(self._send_message, targets))

    def _targets(self) -> tuple[str, ...]:
        """What an action applies to: the student looked at closely, else the selection."""
        if (closer := self.closer_look) is not None:
            return (closer.device_id,)
        return self.class_grid.selected_ids

    def action_select_all(self) -> None:
        self.class_grid.action_toggle_all()

    def action_switch_class(self) -> None:
        self._send("list your classes", self._link.refresh_classes)
        picker = ClassPicker(list(self._teacher_classes.values()), self._current_class)
        self.push_screen(picker, callback=self._switch_class)

    def _switch_class(self, name: str | None) -> None:
        if name is None:
            return  # cancelled
        self._current_class = None if name == ALL_DEVICES else name
        self._show_current_class()

    def action_class_session(self) -> None:
        klass = self.current_class
        if klass is None:
            self.notify("Switch to a class first (c).", markup=False, timeout=3)
        elif klass.session_on(time.time()):
            self._send("end the class session", partial(self._link.end_class_session, klass.name))
        else:
            start = partial(self._link.start_class_session, klass.name, CLASS_SESSION_MINUTES)
            self._send("start a class session", start)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Lock screens", "Lock the selected students' screens (l)", self.action_lock
        )
        yield SystemCommand(
            "Unlock screens", "Unlock the selected students' screens (u)", self.action_unlock
        )
        yield SystemCommand(
            "Send a message", "Show a message on the selected screens (m)", self.action_message
        )
        yield SystemCommand(
            "Switch class",
            "Show one of your classes, or every device (c)",
            self.action_switch_class,
        )
        yield SystemCommand(
            "Start or end the class session",
            f"A {CLASS_SESSION_MINUTES}-minute lesson with the class shown (s)",
            self.action_class_session,
        )
        yield SystemCommand(
            "Select all or none",
            "Select every device, or clear the selection (ctrl+a)",
            self.action_select_all,
        )

    # Internals.

    def _lock(self, targets: tuple[str, ...], message: str | None) -> None:
        if message is not None:
            self._send("lock screens", partial(self._link.lock, targets, message))
            self.notify(f"Locking {self._describe(targets)}.", markup=False, timeout=3)

    def _send_message(self, targets: tuple[str, ...], text: str | None) -> None:
        if text:
            self._send("send the message", partial(self._link.send_message, targets, text))
            self.notify(f"Message sent to {self._describe(targets)}.", markup=False, timeout=3)

    def _watch_all(self) -> None:
        device_ids = self.class_grid.device_ids
        if device_ids:
            watch = partial(
                self._link.watch, device_ids, width=GRID_THUMBNAIL_WIDTH, fps=GRID_THUMBNAIL_FPS
            )
            self._send("ask for thumbnails", watch)

    def _send(self, what: str, send: _Send) -> None:
        """Queue a call to the link; `what` completes "Could not …" if it fails."""
        self._commands.put_nowait((what, send))

    async def _send_commands(self) -> None:
        while True:
            what, send = await self._commands.get()
            try:
                await send()
            except Exception as error:
                # A failed command must not take the console down; the teacher can retry.
                self.log.error(f"could not {what}: {error!r}")
                self.notify(
                    printable(
                        f"Could not {what}: {error}. Check the hub connection, then try again."
                    ),
                    severity="error",
                    markup=False,
                )

    async def _run_link(self) -> None:
        try:
            await self._link.run(self)
        except Exception as error:
            self.log.error(f"hub link failed: {error!r}")
            self.hub_status(
                f"The hub connection failed: {error}. Restart the console to try again.", False
            )
        else:
            self.hub_status("The hub connection closed. Restart the console to reconnect.", False)

    def _describe(self, device_ids: Sequence[str]) -> str:
        """Who an action applies to, in words: one student's name, or how many."""
        if len(device_ids) == 1 and (tile := self.class_grid.tile(device_ids[0])) is not None:
            return printable(tile.device.display_name)
        if len(device_ids) == len(self.class_grid.device_ids):
            return f"all {len(device_ids)} devices"
        return f"{len(device_ids)} devices"

    def _show_roster_size(self) -> None:
        self.query_one("#empty-class").display = not self.class_grid.device_ids
        klass = self.current_class
        text = "Every device" if klass is None else f"Class {klass.describe(time.time())}"
        status = self.query_one("#class-status", Static)
        status.update(Content(printable(text)))
        status.set_class(klass is not None and klass.session_on(time.time()), "-session")
        self.refresh_bindings()
