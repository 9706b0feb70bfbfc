"""X11: window titles by process, and the active window, idleness and screen saver as events.

Everything here waits on the X connection: a property change on the root window
(_NET_ACTIVE_WINDOW, set by the window manager) or on the active window (its title),
a screen-saver notification, or raw input while the student is idle. The only timer is
the moment the student would become idle, computed from the server's own idle counter.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
from collections.abc import Callable, Iterator
from typing import Any

import psutil
from Xlib import X, Xatom
from Xlib import error as xerror
from Xlib.display import Display
from Xlib.ext import ge, res, screensaver, xinput
from Xlib.xobject.drawable import Window

from .. import xlib_extensions  # noqa: F401  # before any Display is opened
from . import ActivitySample

log = logging.getLogger("homeroom.agent")

_RAW_INPUT = xinput.RawKeyPressMask | xinput.RawButtonPressMask | xinput.RawMotionMask
#: Without raw input events (no XInput 2), an idle student is checked on this often.
_IDLE_RECHECK_SECONDS = 5.0


class _Atoms:
    def __init__(self, display: Display) -> None:
        self.active = display.intern_atom("_NET_ACTIVE_WINDOW")
        self.client_list = display.intern_atom("_NET_CLIENT_LIST")
        self.pid = display.intern_atom("_NET_WM_PID")
        self.name = display.intern_atom("_NET_WM_NAME")
        self.utf8 = display.intern_atom("UTF8_STRING")


def _title(display: Display, atoms: _Atoms, window: Window) -> str:
    prop = window.get_full_property(atoms.name, atoms.utf8)
    if prop is not None and prop.value:
        value = prop.value
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    name = window.get_wm_name()
    if isinstance(name, bytes):
        return name.decode("latin-1")
    return name or ""


def _pid(display: Display, atoms: _Atoms, window: Window) -> int | None:
    prop = window.get_full_property(atoms.pid, Xatom.CARDINAL)
    if prop is not None and len(prop.value):
        return int(prop.value[0])
    # Not every toolkit sets _NET_WM_PID (Tk does not); the X server knows its local clients.
    if display.has_extension("X-Resource"):
        reply = display.res_query_client_ids(
            [{"client": window.id, "mask": res.LocalClientPIDMask}]
        )
        for client in reply.ids:
            if client.spec.mask == res.LocalClientPIDMask and client.value:
                return int(client.value[0])
    return None


def _app(display: Display, atoms: _Atoms, window: Window) -> str:
    pid = _pid(display, atoms, window)
    if pid is not None:
        with contextlib.suppress(psutil.Error):
            return psutil.Process(pid).name()
    wm_class = window.get_wm_class()
    return wm_class[1] if wm_class else ""


def _top_level_windows(display: Display, atoms: _Atoms, root: Window) -> Iterator[Window]:
    """The windows a person sees as programs: the window manager's list, else the tree."""
    listed = root.get_full_property(atoms.client_list, Xatom.WINDOW)
    if listed is not None and len(listed.value):
        for window_id in listed.value:
            yield display.create_resource_object("window", int(window_id))
        return
    # No EWMH window manager: top-level windows, and one level in for reparenting ones.
    for child in root.query_tree().children:
        if child.get_attributes().map_state != X.IsViewable:
            continue
        yield child
        yield from child.query_tree().children


def window_titles(display_name: str) -> dict[int, str]:
    """The title of one visible window of each process that has one, by pid."""
    display = Display(display_name)
    try:
        atoms = _Atoms(display)
        titles: dict[int, str] = {}
        for window in _top_level_windows(display, atoms, display.screen().root):
            try:
                title = _title(display, atoms, window)
                pid = _pid(display, atoms, window) if title else None
            except xerror.XError:  # closed while we looked
                continue
            if pid is not None and pid not in titles:
                titles[pid] = title
        return titles
    finally:
        display.close()


class X11ActivityWatcher:
    """Reports the active application and title, idleness and the screen saver, on change.

    Runs on its own thread with its own X connection; `report` is called from that thread.
    """

    def __init__(
        self, display_name: str, report: Callable[[ActivitySample], None], *, idle_after: float
    ) -> None:
        self._display = Display(display_name)  # fails here, in the caller, if there is no X
        self._atoms = _Atoms(self._display)
        self._report = report
        self._idle_after = idle_after
        self._root = self._display.screen().root
        self._active: Window | None = None
        self._app = ""
        self._title = ""
        self._idle = False
        self._locked = False
        self._last: tuple[str, str, bool, bool] | None = None
        # python-xlib registers a copy of the event class per display: match by event code.
        saver = self._display.query_extension(screensaver.extname)
        self._saver = saver is not None
        self._saver_event = None if saver is None else saver.first_event
        self._xinput_opcode: int | None = None
        self._wake_read, self._wake_write = os.pipe()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="homeroom-activity", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        with contextlib.suppress(OSError):  # the thread may have ended already
            os.write(self._wake_write, b"x")
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)
        os.close(self._wake_write)

    # --- The watching thread ------------------------------------------------------

    def _run(self) -> None:
        try:
            self._watch()
        except Exception as error:  # the display went away: say so, end quietly
            if not self._stopping.is_set():
                log.warning("stopped watching the active window: %s", error)
        finally:
            self._display.close()
            os.close(self._wake_read)

    def _watch(self) -> None:
        display = self._display
        self._root.change_attributes(event_mask=X.PropertyChangeMask)
        if self._saver:
            self._root.screensaver_select_input(screensaver.NotifyMask)
        extension = display.query_extension(xinput.extname)
        if extension is not None:
            version = display.xinput_query_version()
            if (version.major_version, version.minor_version) >= (2, 0):
                self._xinput_opcode = extension.major_opcode
        self._follow_active()
        self._check_idle()
        self._emit()
        while not self._stopping.is_set():
            changed = False
            while display.pending_events():
                changed |= self._handle(display.next_event())
            changed |= self._check_idle()
            if changed:
                self._emit()
            timeout = self._until_next_check()
            # Every request (the idle query just now, the reads in `_handle`) waits for its
            # reply by reading the socket, and Xlib queues the events it finds on the way:
            # those are no longer on the socket, so select() would sleep past them.
            # pending_events() reads, without blocking, whatever has arrived since; only an
            # empty queue lets us wait. Nothing else reads this display in between.
            display.flush()
            if display.pending_events():
                continue
            ready, _, _ = select.select([display.fileno(), self._wake_read], [], [], timeout)
            if self._wake_read in ready:
                return

    def _handle(self, event: Any) -> bool:
        atoms = self._atoms
        if event.type == X.PropertyNotify:
            if event.window == self._root and event.atom == atoms.active:
                return self._follow_active()
            title = event.atom in (atoms.name, Xatom.WM_NAME)
            if title and self._active is not None and event.window == self._active:
                return self._read_title()
            return False
        if event.type == self._saver_event:
            locked = bool(event.state == screensaver.StateOn)
            changed, self._locked = locked != self._locked, locked
            return changed
        if event.type == ge.GenericEventCode and event.extension == self._xinput_opcode:
            return self._set_idle(False)
        return False

    def _follow_active(self) -> bool:
        prop = self._root.get_full_property(self._atoms.active, Xatom.WINDOW)
        window_id = int(prop.value[0]) if prop is not None and len(prop.value) else 0
        if self._active is not None and self._active.id == window_id:
            return self._read_title()
        if self._active is not None:
            # Stop hearing about the old window; it may be gone already, which is fine.
            self._active.change_attributes(event_mask=0, onerror=xerror.CatchError())
        if window_id == 0:
            self._active, self._app, self._title = None, "", ""
            return True
        window = self._display.create_resource_object("window", window_id)
        self._active = window
        window.change_attributes(event_mask=X.PropertyChangeMask, onerror=xerror.CatchError())
        try:
            self._app = _app(self._display, self._atoms, window)
        except xerror.XError:
            self._app = ""
        self._read_title()
        return True

    def _read_title(self) -> bool:
        if self._active is None:
            return False
        try:
            title = _title(self._display, self._atoms, self._active)
        except xerror.XError:
            title = ""
        changed, self._title = title != self._title, title
        return changed

    # --- Idleness: the server counts; we wake when the count would cross the line ----

    def _idle_seconds(self) -> float | None:
        if not self._saver:
            return None
        return float(self._root.screensaver_query_info().idle) / 1000.0

    def _check_idle(self) -> bool:
        idle = self._idle_seconds()
        if idle is None:
            return False
        return self._set_idle(idle >= self._idle_after)

    def _set_idle(self, idle: bool) -> bool:
        if idle == self._idle:
            return False
        self._idle = idle
        if self._xinput_opcode is not None:
            # Raw input wakes us only while idle: typing costs nothing the rest of the time.
            mask = _RAW_INPUT if idle else 0
            self._root.xinput_select_events([(xinput.AllMasterDevices, mask)])
        return True

    def _until_next_check(self) -> float | None:
        if not self._saver:
            return None
        if self._idle:
            return None if self._xinput_opcode is not None else _IDLE_RECHECK_SECONDS
        idle = self._idle_seconds() or 0.0
        return max(0.05, self._idle_after - idle)

    def _emit(self) -> None:
        key = (self._app, self._title, self._idle, self._locked)
        if key == self._last:
            return
        self._last = key
        # Idle is at least a second, so zero always means "active".
        idle = max(1, int(self._idle_seconds() or 0)) if self._idle else 0
        self._report(
            ActivitySample(
                app=self._app, title=self._title, idle_seconds=idle, session_locked=self._locked
            )
        )
