"""The teacher's console: the class grid, commands to devices, and events from the hub."""

from __future__ import annotations

import asyncio
import collections
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import partial
from typing import Any, ClassVar
from urllib.parse import urlsplit

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Static

from console.classes import ClassView
from console.dialogs.class_picker import ALL_DEVICES, ClassPicker
from console.dialogs.confirm_dialog import ConfirmDialog
from console.dialogs.message_dialog import MessageDialog
from console.hangup import Ending
from console.it_desk import ITDesk
from console.link import QUEUED_ACTIONS, HubLink
from console.messages import (
    AlertReceived,
    ClassesChanged,
    DeviceChanged,
    HubStatusChanged,
    OutcomeReceived,
    PictureReceived,
    RequestRefused,
    RosterChanged,
)
from console.painter import PicturePainter
from console.picture import PictureData, PictureMode, cell_pixels
from console.printable import printable
from console.roster import (
    OFFLINE_CODE,
    QUEUED_CODE,
    SENT_CODE,
    ActionOutcome,
    DeviceView,
    LockAlert,
)
from console.screens.audit import AuditScreen
from console.screens.closer_look import CLOSER_LOOK_FPS, CLOSER_LOOK_WIDTH, CloserLook, Happening
from console.screens.fleet import FleetScreen
from console.widgets.class_grid import ClassGrid, Filter, SortOrder

GRID_THUMBNAIL_WIDTH = 320
"""Pixels wide the grid asks for before it knows its tiles' size."""
GRID_THUMBNAIL_FPS = 1.0
"""Thumbnails per second the grid asks for."""
MIN_THUMBNAIL_WIDTH = 64
MAX_THUMBNAIL_WIDTH = 1920
"""The widths a grid tile may ask for (the protocol's Watch allows 64 to 3840)."""
THUMBNAIL_WIDTH_STEP = 16
"""Widths are rounded up to this, so a resize by a cell or two asks nothing new."""
SCREEN_ASPECT = 16 / 9
"""The widest screen shape a tile is sized for: a picture never needs more width than this."""
LOCK_NOTE_MAX_LENGTH = 500
"""Longest note on a locked screen (`LockScreen.message` in protocol/actions.py)."""
MESSAGE_MAX_LENGTH = 2000
"""Longest message to students (`SendMessage.text` in protocol/actions.py)."""
ALERT_NOTICE_SECONDS = 30.0
"""A device's alerts of one kind pop up at most this often; its tile shows the latest always."""
URL_MAX_LENGTH = 2048
APP_NAME_MAX_LENGTH = 64
HISTORY_LENGTH = 50
"""Recent events kept per student for the detail view."""
WATCH_SETTLE_SECONDS = 0.3
"""How long the grid's layout must stay put before the devices are asked for new sizes."""
TERMINAL_CHECK_SECONDS = 1.0
"""How often the console checks that its terminal is still there."""
EXIT_GRACE_SECONDS = 3.0
"""How long a console whose terminal went away may take to close cleanly."""

#: Each action as the end of "Could not …", when the hub cannot be reached.
_TO_DO = {
    "lock": "lock screens",
    "unlock": "unlock screens",
    "message": "send the message",
    "open_url": "open the web page",
    "launch_app": "start the application",
    "close_app": "close the application",
    "screenshot": "take a screenshot",
}

CLASS_SESSION_MINUTES = 60
"""How long a class session the teacher starts lasts, unless ended sooner."""
CLASS_STATUS_SECONDS = 20.0
"""How often the class status is redrawn, so a session past its end shows as over."""

_Send = Callable[[], Awaitable[None]]
_SendTo = Callable[[Sequence[str]], Awaitable[None]]


def thumbnail_width(picture_cells: tuple[int, int], mode: PictureMode) -> int:
    """Pixels wide to ask devices for: all the pixels a tile's picture can show, no more."""
    cells_wide, cells_high = picture_cells
    cell_w, cell_h = cell_pixels(mode)
    wide = min(cells_wide * cell_w, round(cells_high * cell_h * SCREEN_ASPECT))
    wide = -(-wide // THUMBNAIL_WIDTH_STEP) * THUMBNAIL_WIDTH_STEP
    return max(MIN_THUMBNAIL_WIDTH, min(MAX_THUMBNAIL_WIDTH, wide))


def _check_url(text: str) -> str | None:
    """Why `text` is not a web page address (a sentence), or None when it is one."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "Type a web address starting with https:// or http://, or press Escape."
    return None


class ClassroomApp(App[None]):
    """Shows the class a hub link reports, and sends the teacher's commands through it."""

    CSS_PATH = "app.tcss"
    TITLE = "Homeroom"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "lock", "Lock", tooltip="Lock the selected screens, with an optional note"),
        Binding("u", "unlock", "Unlock", tooltip="Unlock the selected screens"),
        Binding("m", "message", "Message", tooltip="Show a message on the selected screens"),
        Binding("o", "open_url", "Open URL", tooltip="Open a web page on the selected devices"),
        Binding("r", "launch_app", "Run app", tooltip="Start an allowed application"),
        Binding("x", "close_app", "Close app", tooltip="Close an application"),
        Binding("p", "take_screenshot", "Screenshot", tooltip="Take a full screenshot"),
        Binding("ctrl+a", "select_all", "Select all", tooltip="Select every device, or none"),
        Binding("i", "fleet", "Fleet", tooltip="IT desk: every device, its record and facts"),
        Binding("v", "audit", "Audit", tooltip="Who did what to which devices, and when"),
        Binding("c", "switch_class", "Class", tooltip="Show one of your classes, or every device"),
        Binding(
            "t",  # "s" sorts the grid
            "class_session",
            "Session",
            tooltip=f"Start a {CLASS_SESSION_MINUTES}-minute class session, or end the one on",
        ),
        Binding("q", "quit", "Quit"),
    ]

    _ACTIONS = (
        "lock",
        "unlock",
        "message",
        "open_url",
        "launch_app",
        "close_app",
        "take_screenshot",
    )

    def __init__(
        self,
        link: HubLink,
        *,
        pictures: PictureMode = PictureMode.HALFBLOCK,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`pictures` is how screens are drawn (not AUTO: detect it first); `clock` dates
        the recent events of the detail view."""
        super().__init__()
        self._clock = clock
        if pictures is PictureMode.AUTO:
            raise ValueError("detect the picture mode before the app starts (detect_picture_mode)")
        self._link = link
        self.pictures = pictures
        # One queue, one sender: commands reach the link in the order the teacher gave them.
        self._commands: asyncio.Queue[tuple[str, _Send]] = asyncio.Queue()
        self._hub_ok = False
        self.painter = PicturePainter()
        self._grid = ClassGrid(mode=pictures, painter=self.painter)
        self._grid_width = GRID_THUMBNAIL_WIDTH
        self._history: dict[str, collections.deque[Happening]] = {}
        self._last_action: dict[str, str] = {}
        self._watch_timer: Timer | None = None
        self._leaving = False
        self._ending = Ending(self._terminal_gone, EXIT_GRACE_SECONDS)
        # When each (device, alert kind) last popped up: a device that floods the hub with
        # alerts must not bury the teacher's screen in notifications.
        self._alert_noticed: dict[tuple[str, str], float] = {}
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

    def alert_received(self, alert: LockAlert) -> None:
        """A device reported its lock tampered with or not shown."""
        self.post_message(AlertReceived(alert))

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
    def grid_thumbnail_width(self) -> int:
        """Pixels wide the grid asks devices for, following the tiles' size."""
        return self._grid_width

    @property
    def closer_look(self) -> CloserLook | None:
        """The closer look on show, if any."""
        # Not `self.screen`: while the app shuts down the stack is empty and that raises, yet
        # pictures from the hub may still be arriving.
        stack = self.screen_stack
        screen = stack[-1] if stack else None
        return screen if isinstance(screen, CloserLook) else None

    def history(self, device_id: str) -> tuple[Happening, ...]:
        """Recent events on one device, oldest first."""
        return tuple(self._history.get(device_id, ()))

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
        self.run_worker(self.painter.run(), name="painter", group="pictures")
        self.run_worker(self._run_link(), name="hub link", group="hub")
        self.run_worker(self._send_commands(), name="commands", group="hub")
        if not self.is_headless:
            self._end_with_the_terminal()
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
        before = grid.all_device_ids
        shown = [d for d in self._roster.values() if self._in_view(d.device_id)]
        for device in shown:
            self._remember(device)
        grid.show_roster(shown)
        after = set(grid.all_device_ids)
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
        self._remember(message.device)
        grid.update_device(message.device)
        if (closer := self.closer_look) and closer.device_id == message.device.device_id:
            closer.update_device(message.device)
        if is_new:
            self._watch_all()
            self._show_roster_size()

    def on_picture_received(self, message: PictureReceived) -> None:
        # A picture for a device no longer shown is simply late: drop it.
        if (closer := self.closer_look) and closer.device_id == message.device_id:
            closer.tile.receive_picture(message.data)
        if (tile := self.class_grid.tile(message.device_id)) is not None:
            # Kept undrawn while covered or scrolled away: the painter draws what is seen.
            tile.receive_picture(message.data)

    def on_outcome_received(self, message: OutcomeReceived) -> None:
        outcome = message.outcome
        if not outcome.action and (action := self._last_action.get(outcome.device_id)):
            outcome = ActionOutcome(
                outcome.device_id, outcome.ok, outcome.code, outcome.detail, action
            )
        self._show_outcome(outcome)

    def on_alert_received(self, message: AlertReceived) -> None:
        """Mark the student's tile, and tell the teacher who and when, at once."""
        alert = message.alert
        tile = self.class_grid.tile(alert.device_id)
        if tile is None:
            return  # not a device of this class (any more)
        tile.show_alert(alert)
        if (closer := self.closer_look) and closer.device_id == alert.device_id:
            closer.tile.show_alert(alert)
        now = time.monotonic()
        key = (alert.device_id, alert.kind)
        if now - self._alert_noticed.get(key, -ALERT_NOTICE_SECONDS) < ALERT_NOTICE_SECONDS:
            return
        self._alert_noticed[key] = now
        detail = f": {alert.detail}" if alert.detail else "."
        self.notify(
            printable(f"{tile.device.display_name}: {alert.headline} at {alert.time}{detail}"),
            title=alert.title,
            severity="error",
            markup=False,
            timeout=30,
        )

    def on_class_grid_focus_requested(self, message: ClassGrid.FocusRequested) -> None:
        """A closer look: a larger picture, more often, for as long as it is open."""
        tile = self.class_grid.tile(message.device_id)
        if tile is None or self.closer_look is not None:
            return
        device_ids = (message.device_id,)
        closer = partial(self._link.watch, device_ids, width=CLOSER_LOOK_WIDTH, fps=CLOSER_LOOK_FPS)
        self._send("take a closer look", closer)

        def back(_: None) -> None:
            watch = partial(
                self._link.watch, device_ids, width=self._grid_width, fps=GRID_THUMBNAIL_FPS
            )
            self._send("return to thumbnails", watch)
            self.painter.look_again()

        screen = CloserLook(
            tile.device,
            mode=self.pictures,
            painter=self.painter,
            history=self.history(tile.device_id),
        )
        self.push_screen(screen, callback=back)
        if tile.outcome is not None:
            screen.tile.show_outcome(tile.outcome)

    def on_class_grid_shape_changed(self, message: ClassGrid.ShapeChanged) -> None:
        """Tiles changed size: ask for pictures just big enough for them."""
        width = thumbnail_width(message.grid.shape.picture_cells, self.pictures)
        if width != self._grid_width:
            self._grid_width = width
            self._watch_all()

    def on_classes_changed(self, message: ClassesChanged) -> None:
        self._teacher_classes = {klass.name: klass for klass in message.classes}
        if self._current_class is not None and self._current_class not in self._teacher_classes:
            self._current_class = None  # the class is gone, or no longer the teacher's
        self._show_current_class()
        if isinstance(self.screen, ClassPicker):
            self.screen.show_teacher_classes(list(self._teacher_classes.values()))

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
        # While the app shuts down the status bar may be gone already.
        for status in self.query("#selection-status").results(Static):
            status.update(Content(printable(text)))
        self.refresh_bindings()

    # Actions.

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self._ACTIONS and self.closer_look is not None:
            return True
        if action == "class_session":
            return True if self.current_class is not None else None
        if action in (*self._ACTIONS, "select_all"):
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
            lock = partial(self._confirmed, targets, "lock", "Lock", self._link.lock)
            self.push_screen(dialog, callback=lock)

    def action_unlock(self) -> None:
        targets = self._targets()
        if targets:
            self._act("unlock", targets, self._link.unlock)
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

    def action_open_url(self) -> None:
        targets = self._targets()
        if targets:
            dialog = MessageDialog(
                f"Open a web page on {self._describe(targets)}",
                action="Open",
                placeholder="https://…",
                max_length=URL_MAX_LENGTH,
                check=_check_url,
            )
            open_url = partial(self._confirmed, targets, "open_url", "Open", self._link.open_url)
            self.push_screen(dialog, callback=open_url)

    def action_launch_app(self) -> None:
        targets = self._targets()
        if targets:
            dialog = MessageDialog(
                f"Start an application on {self._describe(targets)}",
                action="Start",
                placeholder="Its name on the class's list of allowed applications",
                max_length=APP_NAME_MAX_LENGTH,
            )
            launch = partial(self._confirmed, targets, "launch_app", "Start", self._link.launch_app)
            self.push_screen(dialog, callback=launch)

    def action_close_app(self) -> None:
        targets = self._targets()
        if targets:
            # The application in front on the first target is the likely one to close.
            first = self.class_grid.tile(targets[0])
            dialog = MessageDialog(
                f"Close an application on {self._describe(targets)}",
                action="Close",
                placeholder="The program's name, e.g. firefox",
                max_length=APP_NAME_MAX_LENGTH,
                value=first.device.app if first is not None else "",
            )
            close = partial(self._confirmed, targets, "close_app", "Close", self._link.close_app)
            self.push_screen(dialog, callback=close)

    def action_take_screenshot(self) -> None:
        targets = self._targets()
        if targets:
            self._act("screenshot", targets, self._link.screenshot)
            self.notify(
                f"Taking a screenshot of {self._describe(targets)}.", markup=False, timeout=3
            )

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

    def action_fleet(self) -> None:
        if (desk := self._it_desk()) is not None:
            self.push_screen(FleetScreen(desk))

    def action_audit(self) -> None:
        if (desk := self._it_desk()) is not None:
            self.push_screen(AuditScreen(desk))

    def _it_desk(self) -> ITDesk | None:
        desk = getattr(self._link, "it_desk", None)
        if not isinstance(desk, ITDesk):
            self.notify("This console has no hub connection for IT views.", markup=False)
            return None
        return desk

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        grid = self.class_grid
        commands: list[tuple[str, str, Callable[[], object]]] = [
            ("Fleet", "IT desk: every device, its record and facts (i)", self.action_fleet),
            (
                "Switch class",
                "Show one of your classes, or every device (c)",
                self.action_switch_class,
            ),
            (
                "Start or end the class session",
                f"A {CLASS_SESSION_MINUTES}-minute lesson with the class shown (t)",
                self.action_class_session,
            ),
            ("Audit trail", "Who did what to which devices (v)", self.action_audit),
            ("Lock screens", "Lock the selected students' screens (l)", self.action_lock),
            ("Unlock screens", "Unlock the selected students' screens (u)", self.action_unlock),
            ("Send a message", "Show a message on the selected screens (m)", self.action_message),
            ("Open a web page", "Open a URL on the selected devices (o)", self.action_open_url),
            ("Start an application", "Launch an allowed app (r)", self.action_launch_app),
            (
                "Close an application",
                "Close an app on the selected devices (x)",
                self.action_close_app,
            ),
            (
                "Take a screenshot",
                "A full screenshot of the selected devices (p)",
                self.action_take_screenshot,
            ),
            (
                "Select all or none",
                "Select every device, or clear the selection (ctrl+a)",
                self.action_select_all,
            ),
            ("Bigger tiles", "Fewer, larger tiles (+)", partial(grid.action_zoom, 1)),
            ("Smaller tiles", "More, smaller tiles (-)", partial(grid.action_zoom, -1)),
        ]
        for title, help_text, callback in commands:
            yield SystemCommand(title, help_text, callback)
        for order in SortOrder:
            yield SystemCommand(
                f"Sort by {order.value}", "Order the tiles (s)", partial(grid.set_sort, order)
            )
        for kind in (Filter.ALL, Filter.ONLINE, Filter.LOCKED, Filter.IDLE):
            title = "Show everyone" if kind is Filter.ALL else f"Show {kind.value} devices"
            yield SystemCommand(title, "Filter the tiles (f)", partial(grid.set_filter, kind))
        for application in sorted({t.device.app for t in grid.all_tiles if t.device.app}):
            yield SystemCommand(
                f"Show who uses {printable(application)}",
                "Filter the tiles by application",
                partial(grid.set_filter, Filter.APPLICATION, application),
            )

    # Internals.

    def _confirmed(
        self,
        targets: tuple[str, ...],
        action: str,
        verb: str,
        send: Callable[[Sequence[str], str], Awaitable[None]],
        text: str | None,
    ) -> None:
        """After a dialog: act at once on one device; on several, ask the teacher first."""
        if text is None:
            return
        go = partial(self._act, action, targets, partial(_with_text, send, text))
        if len(targets) == 1:
            go()
            return
        question = f"{verb}: {self._describe(targets)} at once?"

        def answered(yes: bool | None) -> None:
            if yes:
                go()

        self.push_screen(ConfirmDialog(question, action=verb), callback=answered)

    def _send_message(self, targets: tuple[str, ...], text: str | None) -> None:
        if text:
            self._act("message", targets, partial(_with_text, self._link.send_message, text))
            self.notify(f"Message sent to {self._describe(targets)}.", markup=False, timeout=3)

    def _act(self, action: str, targets: tuple[str, ...], send: _SendTo) -> None:
        """Send `action` to `targets`; each tile shows where it stands: sent to a device
        online, queued for or refused to one offline."""
        words = action.replace("_", " ")
        grid = self.class_grid
        for device_id in targets:
            self._last_action[device_id] = words
            tile = grid.tile(device_id)
            if tile is None or tile.device.online:
                code = SENT_CODE
            else:
                code = QUEUED_CODE if action in QUEUED_ACTIONS else OFFLINE_CODE
            self._show_outcome(ActionOutcome(device_id, code != OFFLINE_CODE, code, "", words))
        self._send(_TO_DO[action], partial(send, targets))

    def _show_outcome(self, outcome: ActionOutcome) -> None:
        if (tile := self.class_grid.tile(outcome.device_id)) is not None:
            tile.show_outcome(outcome)
        if (closer := self.closer_look) and closer.device_id == outcome.device_id:
            closer.tile.show_outcome(outcome)
        self._happened(outcome.device_id, outcome.describe())

    def _remember(self, device: DeviceView) -> None:
        """Keep what a student switched to, for the detail view's recent events."""
        tile = self.class_grid.tile(device.device_id)
        before = tile.device if tile is not None else None
        if (before is None or before.doing != device.doing) and device.doing:
            self._happened(device.device_id, f"using {device.doing}")
        if before is not None and before.online != device.online:
            self._happened(device.device_id, "came online" if device.online else "went offline")
        if before is not None and before.locked != device.locked:
            self._happened(device.device_id, "screen locked" if device.locked else "unlocked")

    def _happened(self, device_id: str, text: str) -> None:
        happening = Happening(self._clock(), text)
        history = self._history.setdefault(device_id, collections.deque(maxlen=HISTORY_LENGTH))
        history.append(happening)
        if (closer := self.closer_look) and closer.device_id == device_id:
            closer.add_happening(happening)

    def _watch_all(self) -> None:
        """Ask for every tile's pictures once the layout settles: a roster and the tile
        sizes it brings (and a window dragged bigger) cost the devices one watch, not many."""
        if self._watch_timer is not None:
            self._watch_timer.reset()  # still settling: wait from now
        else:
            self._watch_timer = self.set_timer(WATCH_SETTLE_SECONDS, self._send_watch)

    def _send_watch(self) -> None:
        self._watch_timer = None
        device_ids = self.class_grid.all_device_ids
        if (closer := self.closer_look) is not None:
            # The student looked at closely keeps the larger, faster pictures.
            device_ids = tuple(d for d in device_ids if d != closer.device_id)
        if device_ids:
            watch = partial(
                self._link.watch, device_ids, width=self._grid_width, fps=GRID_THUMBNAIL_FPS
            )
            self._send("ask for thumbnails", watch)

    def _end_with_the_terminal(self) -> None:
        """Exit when the terminal goes away (SIGHUP, or its tmux session killed) or at
        SIGTERM, instead of running on with nobody to see it: a console left behind must
        never spin. The signals are caught even while the event loop is stuck (hangup.py)."""
        self._ending.on_hangup(asyncio.get_running_loop())
        if not self.is_web:  # served to a browser (--web), there is no terminal to look for
            self.set_interval(TERMINAL_CHECK_SECONDS, self._check_terminal, name="terminal check")

    def _check_terminal(self) -> None:
        # SIGHUP may not reach us (another process group, ignored by a parent): a terminal
        # that hung up can no longer be opened, so look for it too.
        try:
            os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
        except OSError:
            self._terminal_gone()

    def _terminal_gone(self) -> None:
        if self._leaving:
            return
        self._leaving = True
        self.log.warning("the terminal went away: exiting")
        self._ending.start_deadline()
        self.exit(return_code=1)

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


async def _with_text(
    send: Callable[[Sequence[str], str], Awaitable[None]], text: str, device_ids: Sequence[str]
) -> None:
    await send(device_ids, text)
