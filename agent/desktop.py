"""What the student sees, as an interface: lock screen, messages, "being viewed" banner.

The agent drives a `Desktop`. On a real display that is `agent.ui_supervisor`'s
SupervisedDesktop, which draws with Tk (`agent.tk_desktop`) in a child process it restarts
when killed, so the agent process itself loads no GUI toolkit. `HeadlessDesktop` records
instead of drawing (simulated students, tests); `UnavailableDesktop` is what a device with no
usable display gets: it does the same, and reports every lock as not shown.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol

from .on_screen import (
    COUNTDOWN_BACKGROUND,
    COUNTDOWN_TITLE,
    INDICATOR_BACKGROUND,
    INDICATOR_TITLE,
    LOCK_BACKGROUND,
    LOCK_NOT_SHOWN,
    LOCK_TAMPERED,
    LOCK_TITLE,
    MAX_NAME,
    DesktopSnapshot,
    WindowView,
    clip_text,
    countdown_text,
    message_position,
    message_title,
)

__all__ = [
    "COUNTDOWN_BACKGROUND",
    "COUNTDOWN_TITLE",
    "INDICATOR_BACKGROUND",
    "INDICATOR_TITLE",
    "LOCK_BACKGROUND",
    "LOCK_NOT_SHOWN",
    "LOCK_TAMPERED",
    "LOCK_TITLE",
    "MAX_OPEN_MESSAGES",
    "Desktop",
    "DesktopSnapshot",
    "DesktopUnavailable",
    "HeadlessDesktop",
    "ReportThrottle",
    "Reporter",
    "ShownCountdown",
    "ShownMessage",
    "UnavailableDesktop",
    "WindowView",
    "banner_shown",
    "countdown_text",
    "message_position",
    "message_title",
    "watched_text",
]

# How many watcher names the indicator spells out before it says "and N others".
NAMED_WATCHERS = 3
# Messages wait in one window, one after the other ("1 of 3"). Beyond this many unread, the
# oldest waiting ones (never the one being read) are dropped, so a flood cannot bury the student.
MAX_OPEN_MESSAGES = 10

#: Called, from any thread, with an Event kind and a sentence for the school.
Reporter = Callable[[str, str], None]
#: Resolves to True once the banner is on the screen (mapped and drawn), or to False when this
#: desktop cannot show it at all. Await it with asyncio.wrap_future, or call .result(timeout).
#: (A name for type checkers only: the UI process imports this module, and concurrent.futures
#: would bring `logging` into it.)
if TYPE_CHECKING:
    import concurrent.futures

    BannerShown = concurrent.futures.Future[bool]


def banner_shown(value: bool) -> BannerShown:
    """An already settled BannerShown."""
    import concurrent.futures  # the agent has it loaded already (asyncio)

    future: BannerShown = concurrent.futures.Future()
    future.set_result(value)
    return future


def _distinct(watchers: Sequence[str]) -> tuple[str, ...]:
    # One teacher watching from two consoles is still one person to the student.
    return tuple(dict.fromkeys(clip_text(name, MAX_NAME) for name in watchers))


def watched_text(watchers: Sequence[str]) -> str | None:
    """The indicator's sentence for these watchers, or None when nobody watches."""
    names = _distinct(watchers)
    if not names:
        return None
    if len(names) == 1:
        listed = names[0]
    elif len(names) <= NAMED_WATCHERS:
        listed = f"{', '.join(names[:-1])} and {names[-1]}"
    else:
        others = len(names) - (NAMED_WATCHERS - 1)
        listed = f"{', '.join(names[: NAMED_WATCHERS - 1])} and {others} others"
    return f"Your screen is being viewed by {listed}"


class Desktop(Protocol):
    """The student's screen as the agent drives it.

    Every method returns at once and may be called from any thread (the agent calls them from
    its asyncio loop); the work happens in the background. What the student should see is
    kept here, so a UI that dies and comes back shows it again.
    """

    @property
    def locked(self) -> bool:
        """Whether a lock has been asked for and not lifted."""
        ...

    def lock(self, message: str, by: str) -> None:
        """Cover the whole screen with `message` and stop keyboard and mouse input."""
        ...

    def unlock(self) -> None:
        """Lift the lock, if any."""
        ...

    def show_message(self, text: str, sender: str) -> None:
        """Open a window with `text` from `sender` that the student dismisses."""
        ...

    def set_watched(self, watchers: Sequence[str]) -> BannerShown:
        """Show who is viewing the screen; an empty sequence hides the banner.

        The result settles once the banner is on the screen, so the agent can tell the student
        before it takes the first picture.
        """
        ...

    def show_countdown(self, text: str, deadline: float) -> None:
        """Show `text` (e.g. "Ms Smith is restarting this computer") counting down to
        `deadline` (seconds since the epoch); a new countdown replaces the last."""
        ...

    def clear_countdown(self) -> None:
        """Remove the countdown, if any (the sender cancelled, or it is done)."""
        ...

    def show_what_applies(self, lines: Sequence[str]) -> None:
        """The student's "what applies now" panel, one fact a line (agent/what_applies.py);
        replaces the last. Shown only when the student opens it; never takes the focus."""
        ...

    def set_reporter(self, report: Reporter) -> None:
        """Where to report what the school should know (a lock tampered with or not shown).

        Reports made before a reporter is set are kept (the last few) and handed over now.
        """
        ...

    def close(self) -> None:
        """Remove every window and release the display. Later calls are ignored."""
        ...


class ReportThrottle:
    """Reports to the hub, at most one per kind every `interval` seconds.

    A student's script that unmaps the lock in a loop must not flood the hub (which closes a
    connection that reports too much): the first report of a burst goes at once, the rest are
    counted and the count rides on the next report of that kind. Reports made before there is
    a reporter wait, the last `keep` of them.
    """

    def __init__(
        self,
        *,
        interval: float = 10.0,
        keep: int = 16,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._guard = threading.Lock()
        self._report: Reporter | None = None
        self._waiting: collections.deque[tuple[str, str]] = collections.deque(maxlen=keep)
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def set_reporter(self, report: Reporter) -> None:
        with self._guard:
            self._report = report
            waiting = list(self._waiting)
            self._waiting.clear()
        for kind, detail in waiting:
            report(kind, detail)

    def __call__(self, kind: str, detail: str) -> None:
        now = self._clock()
        with self._guard:
            last = self._last.get(kind)
            if last is not None and now - last < self._interval:
                self._held[kind] = self._held.get(kind, 0) + 1
                return
            self._last[kind] = now
            held = self._held.pop(kind, 0)
            if held:
                detail = f"{detail} (and {held} more time{'s' if held > 1 else ''} before)"
            report = self._report
            if report is None:
                self._waiting.append((kind, detail))
                return
        report(kind, detail)


class ShownMessage(NamedTuple):
    """A message as it was put in front of the student."""

    sender: str
    text: str


class ShownCountdown(NamedTuple):
    """A countdown as the student sees it: its sentence and when it ends (epoch seconds)."""

    text: str
    deadline: float


class HeadlessDesktop:
    """A Desktop with no windows, for simulated students and tests: it only records."""

    def __init__(self) -> None:
        self._state = threading.Lock()
        self._locked = False
        self._lock_message: str | None = None
        self._locked_by: str | None = None
        self._messages: list[ShownMessage] = []
        self._watchers: tuple[str, ...] = ()
        self._countdown: ShownCountdown | None = None
        self._countdowns: list[ShownCountdown] = []
        self._applies: tuple[str, ...] = ()
        self._closed = False
        self._reports = ReportThrottle()

    @property
    def locked(self) -> bool:
        with self._state:
            return self._locked

    @property
    def lock_message(self) -> str | None:
        """The lock screen's message while locked."""
        with self._state:
            return self._lock_message

    @property
    def locked_by(self) -> str | None:
        """Who locked the screen, while locked."""
        with self._state:
            return self._locked_by

    @property
    def messages(self) -> tuple[ShownMessage, ...]:
        """Every message shown so far, oldest first."""
        with self._state:
            return tuple(self._messages)

    @property
    def watchers(self) -> tuple[str, ...]:
        """Who the indicator currently names (no duplicates, in the order given)."""
        with self._state:
            return self._watchers

    @property
    def indicator(self) -> str | None:
        """The indicator's sentence as the student would read it, or None when hidden."""
        return watched_text(self.watchers)

    @property
    def countdown(self) -> ShownCountdown | None:
        """The countdown's text and deadline while one is shown."""
        with self._state:
            return self._countdown

    @property
    def countdowns(self) -> tuple[ShownCountdown, ...]:
        """Every countdown shown so far, oldest first."""
        with self._state:
            return tuple(self._countdowns)

    @property
    def what_applies(self) -> tuple[str, ...]:
        """The "what applies now" panel's lines, as last given."""
        with self._state:
            return self._applies

    @property
    def closed(self) -> bool:
        with self._state:
            return self._closed

    def set_reporter(self, report: Reporter) -> None:
        self._reports.set_reporter(report)

    def lock(self, message: str, by: str) -> None:
        with self._state:
            if not self._closed:
                self._locked, self._lock_message, self._locked_by = True, message, by

    def unlock(self) -> None:
        with self._state:
            self._locked, self._lock_message, self._locked_by = False, None, None

    def show_message(self, text: str, sender: str) -> None:
        with self._state:
            if not self._closed:
                self._messages.append(ShownMessage(sender, text))

    def set_watched(self, watchers: Sequence[str]) -> BannerShown:
        with self._state:
            if not self._closed:
                self._watchers = _distinct(watchers)
        # Recorded is as good as shown here: there is no screen to wait for.
        return banner_shown(True)

    def show_countdown(self, text: str, deadline: float) -> None:
        with self._state:
            if not self._closed:
                self._countdown = ShownCountdown(text, deadline)
                self._countdowns.append(self._countdown)

    def clear_countdown(self) -> None:
        with self._state:
            self._countdown = None

    def show_what_applies(self, lines: Sequence[str]) -> None:
        with self._state:
            if not self._closed:
                self._applies = tuple(lines)

    def close(self) -> None:
        with self._state:
            self._closed = True
            self._locked, self._lock_message, self._locked_by = False, None, None
            self._watchers = ()
            self._countdown = None


class UnavailableDesktop(HeadlessDesktop):
    """The desktop of a device that cannot show windows: it records, and says so.

    The agent still does everything else (watching, IT tools, power actions); every lock is
    reported to the hub as not shown, with `reason`, so the teacher's console does not claim a
    locked screen that the student can use.
    """

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason
        # Once, clearly, at start; the hub hears it with every lock that could not be shown.
        import logging  # here, not above: the UI process imports this module and never logs so

        logging.getLogger(__name__).warning("%s", reason)

    def lock(self, message: str, by: str) -> None:
        super().lock(message, by)
        if self.locked:
            self._reports(LOCK_NOT_SHOWN, self.reason)

    def set_watched(self, watchers: Sequence[str]) -> BannerShown:
        super().set_watched(watchers)
        return banner_shown(False)


class DesktopUnavailable(RuntimeError):
    """The desktop cannot show windows (no display, or Tk cannot start)."""
