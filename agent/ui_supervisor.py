"""The agent's side of the desktop UI: a Desktop whose windows live in a supervised child process.

Tk runs in `agent.ui_process`, never in the agent: a student (or a crash) that kills the UI
process, or closes its display connection with `xdotool windowkill`, takes down only that
process. The supervisor sees the pipe close at once, starts a new one and tells it everything
the student should see (the lock first), so a due lock is back in well under a second.

Theory of operation. What the student should see is kept here, under one lock: the lock
screen, the unread messages, the banner, a countdown. A change updates it and sends the new
state of that part to the current child; a new child gets all of it. One thread per child
blocks reading the child's answers (banner drawn, message read, lock tampered with, exited);
another blocks writing to it, so a stalled child never blocks the agent. Nothing here runs on
a timer except the back-off between restarts of a child that cannot start.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import importlib.util
import logging
import os
import queue
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

from .desktop import (
    MAX_OPEN_MESSAGES,
    Desktop,
    DesktopUnavailable,
    Reporter,
    ReportThrottle,
    UnavailableDesktop,
    banner_shown,
    watched_text,
)
from .on_screen import (
    LOCK_NOT_SHOWN,
    LOCK_TAMPERED,
    MAX_NAME,
    MAX_TEXT,
    DesktopSnapshot,
    clip_text,
)
from .ui_monitors import Monitor, monitors_argument
from .ui_wire import (
    Applies,
    ClearCountdown,
    Close,
    FromAgent,
    FromUi,
    Lock,
    MessageRead,
    Messages,
    QueuedMessage,
    Reader,
    Ready,
    Report,
    ShowCountdown,
    Shown,
    SnapshotTaken,
    TakeSnapshot,
    Unavailable,
    Unlock,
    Watched,
    WireError,
    encode,
)

if TYPE_CHECKING:
    from .desktop import BannerShown

__all__ = [
    "SupervisedDesktop",
    "display_answers",
    "find_monitors",
    "open_desktop",
    "ui_environment",
    "why_no_windows",
]

logger = logging.getLogger("homeroom.agent.ui")
T = TypeVar("T")

#: A child that has this many messages unwritten is not reading: it is stuck, start another.
MAX_BACKLOG = 256
#: Starts in a row of a child that dies before it is up that go at once, before backing off.
#: A child that was up and died (killed by a student, say) is always started again at once.
QUICK_RESTARTS = 3
MAX_BACKOFF = 30.0
#: Report kinds a UI process may raise (anything else it says is dropped, not relayed).
_UI_REPORTS = frozenset({LOCK_TAMPERED, LOCK_NOT_SHOWN})


def ui_environment(environment: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The UI process's environment: the agent's, with no X11 compose table.

    libX11 reads the locale's compose sequences (0.5 MB of text for en_US.UTF-8) into a table
    for every program that opens an input method, as Tk does: about 0.9 MiB resident in a
    process that runs all day. Homeroom's windows take no typing (the lock swallows every key,
    a message has a button), so the UI process is given an empty table. Typing on the
    student's desktop, in other programs, is not touched.
    """
    return {**environment, "XCOMPOSEFILE": os.devnull}


def why_no_windows(
    display: str | None = None,
    *,
    environ: Mapping[str, str] = os.environ,
    platform: str = sys.platform,
) -> str | None:
    """Why this device cannot show the agent's windows at all, or None if it may.

    Said once, in words for whoever installs the agent; the agent then runs without windows.
    """
    keeps = (
        "the agent keeps doing everything else, and reports every lock to the school as not shown."
    )
    if platform not in ("win32", "darwin") and not (display or environ.get("DISPLAY")):
        if environ.get("WAYLAND_DISPLAY"):
            return (
                "This is a Wayland session without X (WAYLAND_DISPLAY is set, DISPLAY is not), "
                "so the lock screen, messages and the 'being viewed' banner cannot be shown. "
                "Enable Xwayland for the session or choose an X11 session at login; " + keeps
            )
        return (
            "There is no display (DISPLAY is not set), so the lock screen, messages and the "
            "'being viewed' banner cannot be shown. Start the agent inside the student's "
            "desktop session (the installer's user service does); " + keeps
        )
    if importlib.util.find_spec("tkinter") is None or importlib.util.find_spec("_tkinter") is None:
        return (
            f"Tk is not installed for {sys.executable}, so the lock screen, messages and the "
            "'being viewed' banner cannot be shown. Install it (Debian and Ubuntu: apt install "
            "python3-tk); " + keeps
        )
    return None


def find_monitors(display: str | None) -> list[Monitor]:
    """The monitors of the display the UI process will open; [] where it cannot be told."""
    if sys.platform in ("win32", "darwin") or importlib.util.find_spec("Xlib") is None:
        return []  # one monitor it is, as far as the lock knows
    from .x11_monitors import x11_monitors

    return x11_monitors(display)


def display_answers(display: str | None = None) -> bool:
    """Whether a local X display's socket takes a connection; True when that cannot be told."""
    name = display or os.environ.get("DISPLAY", "")
    number = re.fullmatch(r"(?:unix)?:(\d+)(?:\.\d+)?", name)
    if number is None or not hasattr(socket, "AF_UNIX"):
        return True  # a remote display, or not X at all: only a real start can tell
    path = f"/tmp/.X11-unix/X{number[1]}"
    # Linux X servers also listen on an abstract socket of the same name.
    for address in ("\0" + path, path) if sys.platform.startswith("linux") else (path,):
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(address)
            except OSError:
                continue
            return True
    return False


def open_desktop(
    display: str | None = None, monitors: Callable[[], list[Monitor]] | None = None
) -> Desktop:
    """The desktop the agent should drive here: supervised Tk windows, or none (said once).

    `monitors` says where the monitors are, primary first, none holding another (default:
    asked on a new X connection each time).
    """
    reason = why_no_windows(display)
    if reason is not None:
        return UnavailableDesktop(reason)
    return SupervisedDesktop(display, monitors=monitors)


class _Child:
    """One UI process, and the thread that writes to it."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.ready = False
        self.unavailable: str | None = None
        self._outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._writer = threading.Thread(
            target=self._write, name=f"homeroom-ui-writer-{process.pid}", daemon=True
        )

    def start_writing(self) -> None:
        self._writer.start()

    def post(self, message: FromAgent) -> bool:
        """Queue `message`; False if the child is not keeping up (it is stuck)."""
        if self._outbox.qsize() >= MAX_BACKLOG:
            return False
        self._outbox.put(encode(message))
        return True

    def _write(self) -> None:
        assert self.process.stdin is not None
        fd = self.process.stdin.fileno()
        while (data := self._outbox.get()) is not None:
            view = memoryview(data)
            try:
                while view:
                    view = view[os.write(fd, view) :]
            except OSError:  # the child is gone; its reader sees the end of the pipe
                return

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()

    def reap(self, timeout: float) -> int:
        """Wait for the process to end (killing it after `timeout`) and release its pipes."""
        self._outbox.put(None)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._writer.join(timeout)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                # A pipe still full of unread messages to a dead child may refuse to flush.
                with contextlib.suppress(OSError):
                    stream.close()
        return code


class SupervisedDesktop:
    """A Desktop drawn by Tk in a child process that is started again whenever it dies.

    `display` is the X display (default: $DISPLAY). The constructor waits up to
    `start_timeout` seconds for the first UI process to come up or say it cannot; either way
    it returns, and a desktop that cannot show windows says why in `problem` and keeps trying,
    at least every `max_backoff` seconds. `command` starts the UI process (tests use it to
    choose its reader path or to take Tk away from it).
    """

    def __init__(
        self,
        display: str | None = None,
        *,
        start_timeout: float = 10.0,
        command: Sequence[str] | None = None,
        reports: ReportThrottle | None = None,
        max_backoff: float = MAX_BACKOFF,
        monitors: Callable[[], list[Monitor]] | None = None,
    ) -> None:
        self._display = display
        self._max_backoff = max_backoff
        self._command = list(command or (sys.executable, "-m", "agent.ui_process"))
        if display is not None:
            self._command += ["--display", display]
        self._monitors = monitors or functools.partial(find_monitors, display)
        self._reports = reports or ReportThrottle()
        self._guard = threading.Lock()
        # What the student should see.
        self._lock: Lock | None = None
        self._waiting: list[QueuedMessage] = []
        self._message_ids = 0
        self._banner = Watched(text=None, ack=0)
        self._countdown: ShowCountdown | None = None
        self._applies: Applies | None = None
        # Who waits for an answer from the UI.
        self._acks: dict[int, BannerShown] = {}
        self._snapshots: dict[int, concurrent.futures.Future[DesktopSnapshot]] = {}
        self._requests = 0
        # The UI process.
        self._child: _Child | None = None
        self._problem: str | None = None
        self._closed = False
        self._stopping = threading.Event()
        self._first_outcome = threading.Event()
        #: UI processes started after the first (for tests, diagnostics and the bench).
        self.restarts = 0
        self._thread = threading.Thread(
            target=self._supervise, name="homeroom-ui-supervisor", daemon=True
        )
        self._thread.start()
        self._first_outcome.wait(start_timeout)

    # --- Desktop ---------------------------------------------------------------------------

    @property
    def locked(self) -> bool:
        with self._guard:
            return self._lock is not None

    @property
    def problem(self) -> str | None:
        """Why no windows can be shown right now, or None while the UI is up (or starting)."""
        with self._guard:
            return self._problem

    @property
    def ui_pid(self) -> int | None:
        """The process id of the current UI process, if one runs."""
        with self._guard:
            return None if self._child is None else self._child.process.pid

    def set_reporter(self, report: Reporter) -> None:
        self._reports.set_reporter(report)

    def lock(self, message: str, by: str) -> None:
        with self._guard:
            if self._closed:
                return
            self._lock = Lock(message=clip_text(message, MAX_TEXT), by=clip_text(by, MAX_NAME))
            self._post(self._lock)
            problem = self._problem
        if problem is not None:
            self._reports(LOCK_NOT_SHOWN, problem)

    def unlock(self) -> None:
        with self._guard:
            if self._closed:
                return
            self._lock = None
            self._post(Unlock())

    def show_message(self, text: str, sender: str) -> None:
        with self._guard:
            if self._closed:
                return
            self._message_ids += 1
            self._waiting.append(
                QueuedMessage(
                    id=self._message_ids,
                    sender=clip_text(sender, MAX_NAME),
                    text=clip_text(text, MAX_TEXT),
                )
            )
            if len(self._waiting) > MAX_OPEN_MESSAGES:
                # Keep the one being read and the newest; drop the oldest of those waiting.
                del self._waiting[1]
            self._post(Messages(waiting=tuple(self._waiting)))

    def set_watched(self, watchers: Sequence[str]) -> BannerShown:
        text = watched_text(watchers)
        with self._guard:
            if self._closed:
                return banner_shown(False)
            ack = self._banner.ack + 1
            self._banner = Watched(text=text, ack=ack)
            if self._problem is not None:
                return banner_shown(False)
            future: BannerShown = concurrent.futures.Future()
            self._acks[ack] = future
            self._post(self._banner)
        return future

    def show_countdown(self, text: str, deadline: float) -> None:
        with self._guard:
            if self._closed:
                return
            self._countdown = ShowCountdown(text=clip_text(text, MAX_TEXT), deadline=deadline)
            self._post(self._countdown)

    def clear_countdown(self) -> None:
        with self._guard:
            if self._closed:
                return
            self._countdown = None
            self._post(ClearCountdown())

    def show_what_applies(self, lines: Sequence[str]) -> None:
        with self._guard:
            if self._closed:
                return
            self._applies = Applies(lines=tuple(clip_text(line, MAX_TEXT) for line in lines))
            self._post(self._applies)

    def snapshot(self, timeout: float = 10.0) -> DesktopSnapshot:
        """Homeroom's windows as the display has them, once pending work is done.

        Blocks the caller (use asyncio.to_thread from the event loop). Meant for tests and
        diagnostics: it proves what is on screen, not just what was asked for. A UI process
        that dies meanwhile is replaced, and the new one answers.
        """
        future: concurrent.futures.Future[DesktopSnapshot] = concurrent.futures.Future()
        with self._guard:
            if self._closed:
                raise RuntimeError("This desktop is closed.")
            if self._problem is not None:
                raise DesktopUnavailable(self._problem)
            self._requests += 1
            request = self._requests
            self._snapshots[request] = future
            self._post(TakeSnapshot(request=request))
        try:
            return future.result(timeout)
        finally:
            with self._guard:
                self._snapshots.pop(request, None)

    def close(self, timeout: float = 5.0) -> None:
        """Remove every window and end the UI process; waits up to `timeout` seconds."""
        with self._guard:
            if self._closed:
                return
            self._closed = True
            self._lock = None
            self._stopping.set()
            child = self._child
            self._post(Close())
            self._settle_waiters(closed=True)
        if child is not None:
            try:
                child.process.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    # --- Supervision -----------------------------------------------------------------------

    def _post(self, message: FromAgent) -> None:
        # With self._guard held. No child: the state is replayed to the next one.
        child = self._child
        if child is not None and not child.post(message):
            logger.error("the desktop UI process stopped reading; starting a new one")
            child.kill()

    def _supervise(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            child = self._start()
            if child is None:
                failures += 1
            else:
                self._serve(child)
                code = child.reap(timeout=5.0)
                with self._guard:
                    self._child = None
                    lock_due = self._lock is not None
                if self._stopping.is_set():
                    break
                failures = 0 if child.ready else failures + 1
                self._ended(child, code, lock_due, failures)
            delay = (
                0.0
                if failures <= QUICK_RESTARTS
                else min(self._max_backoff, 0.5 * 2 ** (failures - QUICK_RESTARTS - 1))
            )
            if self._stopping.wait(delay):
                break
            # While the display is away, knock on its socket before paying for a whole UI
            # process (a Python and Tk start-up every 30 s would be 1 % of a core).
            while self.problem is not None and not display_answers(self._display):
                if self._stopping.wait(self._max_backoff):
                    break
            self.restarts += 1
        self._first_outcome.set()

    def _start(self) -> _Child | None:
        # Asked at every start: a projector plugged in since the last one counts.
        command = list(self._command)
        try:
            monitors = self._monitors()
        except Exception as error:  # whatever went wrong, the lock must still go up
            logger.warning("cannot tell where the monitors are (%s); showing one screen", error)
            monitors = []
        if monitors:
            command += ["--monitors", monitors_argument(monitors)]
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                # Its log lines go where the agent's go.
                stderr=None,
                env=ui_environment(),
                close_fds=True,
                # On Windows, no console window for it.
                creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
            )
        except OSError as error:
            self._cannot_show(f"The desktop UI process could not be started: {error}.")
            return None
        child = _Child(process)
        with self._guard:
            if self._closed:
                child.kill()  # closed while it started: its reader sees the end at once
                child.start_writing()
                return child
            self._child = child
            # Everything the student should see, the lock first.
            replay: list[FromAgent] = []
            if self._lock is not None:
                replay.append(self._lock)
            if self._banner.text is not None or self._acks:
                replay.append(self._banner)
            if self._countdown is not None:
                replay.append(self._countdown)
            if self._waiting:
                replay.append(Messages(waiting=tuple(self._waiting)))
            if self._applies is not None:
                replay.append(self._applies)
            replay.extend(TakeSnapshot(request=request) for request in self._snapshots)
            for message in replay:
                child.post(message)
        child.start_writing()
        return child

    def _serve(self, child: _Child) -> None:
        """Read what the child says until it exits (or talks nonsense, and is killed)."""
        assert child.process.stdout is not None
        fd = child.process.stdout.fileno()
        reader: Reader[FromUi] = Reader(FromUi)
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            if not data:
                return
            try:
                messages = reader.feed(data)
            except WireError as error:
                logger.error("the desktop UI process sent nonsense (%s); restarting it", error)
                child.kill()
                return
            for message in messages:
                self._heard(child, message)

    def _heard(self, child: _Child, message: FromUi) -> None:
        if isinstance(message, Ready):
            child.ready = True
            with self._guard:
                was, self._problem = self._problem, None
            if was is not None:
                logger.warning("the desktop can show windows again")
            self._first_outcome.set()
        elif isinstance(message, Unavailable):
            child.unavailable = message.reason[:1000]
            self._cannot_show(child.unavailable)
        elif isinstance(message, Shown):
            with self._guard:
                done = [ack for ack in self._acks if ack <= message.ack]
                settled = [self._acks.pop(ack) for ack in done]
            for future in settled:
                _settle(future, True)
        elif isinstance(message, MessageRead):
            with self._guard:
                self._waiting = [m for m in self._waiting if m.id != message.id]
                self._post(Messages(waiting=tuple(self._waiting)))
        elif isinstance(message, Report):
            if message.kind in _UI_REPORTS:
                self._reports(message.kind, message.detail[:500])
        elif isinstance(message, SnapshotTaken):
            with self._guard:
                waiter = self._snapshots.pop(message.request, None)
            if waiter is not None:
                _settle(waiter, message.snapshot)

    def _ended(self, child: _Child, code: int, lock_due: bool, failures: int) -> None:
        if child.unavailable is not None:
            return  # said already, in _cannot_show
        if failures > QUICK_RESTARTS:
            self._cannot_show(
                f"The desktop UI process keeps ending (exit status {code}); the log above says "
                "why. The agent keeps starting it, less and less often."
            )
            return
        logger.warning("the desktop UI process ended (exit status %s); starting it again", code)
        if lock_due:
            self._reports(
                LOCK_TAMPERED,
                f"the lock screen's process ended (exit status {code}) while locked; "
                "it was started again",
            )

    def _cannot_show(self, reason: str) -> None:
        with self._guard:
            was, self._problem = self._problem, reason
            lock_due = self._lock is not None
            self._settle_waiters(closed=False)
        if was != reason:
            # Once per cause, however often the agent retries.
            logger.warning("%s", reason)
        if lock_due:
            self._reports(LOCK_NOT_SHOWN, reason)
        self._first_outcome.set()

    def _settle_waiters(self, *, closed: bool) -> None:
        # With self._guard held: nobody waits for a banner or a snapshot that cannot come.
        acks, self._acks = self._acks, {}
        for future in acks.values():
            _settle(future, False)
        if closed or self._problem is not None:
            snapshots, self._snapshots = self._snapshots, {}
            error = RuntimeError("This desktop is closed.") if closed else None
            for waiter in snapshots.values():
                if not waiter.done():
                    waiter.set_exception(error or DesktopUnavailable(self._problem or ""))


def _settle(future: concurrent.futures.Future[T], value: T) -> None:
    # A waiter may have given up (cancelled) meanwhile.
    if not future.done():
        future.set_result(value)
