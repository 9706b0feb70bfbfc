"""What the student sees, as an interface: lock screen, messages, "being viewed" indicator.

The Tk implementation lives in `agent.tk_desktop`, so the runtime loads no GUI toolkit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "INDICATOR_BACKGROUND",
    "INDICATOR_TITLE",
    "LOCK_BACKGROUND",
    "LOCK_TITLE",
    "MAX_OPEN_MESSAGES",
    "Desktop",
    "DesktopSnapshot",
    "DesktopUnavailable",
    "HeadlessDesktop",
    "ShownCountdown",
    "ShownMessage",
    "WindowView",
    "message_title",
    "watched_text",
]

logger = logging.getLogger(__name__)

# A deep indigo nobody uses as a wallpaper, so a screenshot (or a test) can tell a lock apart.
LOCK_BACKGROUND = "#2a1b5e"
LOCK_FOREGROUND = "#ffffff"
LOCK_SECONDARY = "#c9c1f0"
LOCK_TITLE = "Homeroom: screen locked"
# The indicator is red like a camera's recording light.
INDICATOR_BACKGROUND = "#c62828"
INDICATOR_FOREGROUND = "#ffffff"
INDICATOR_TITLE = "Homeroom: screen being viewed"

# What one window can reasonably show; the protocol has its own, stricter limits.
MAX_TEXT = 2000
MAX_NAME = 100
# How many watcher names the indicator spells out before it says "and N others".
NAMED_WATCHERS = 3
# Open message windows beyond this close the oldest, so a flood cannot bury the desktop.
MAX_OPEN_MESSAGES = 10


def clip_text(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"


def message_title(sender: str) -> str:
    """The title of the window that shows a message from `sender`."""
    return f"Message from {clip_text(sender, MAX_NAME)}"


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
    its asyncio loop); the work happens in the background.
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

    def set_watched(self, watchers: Sequence[str]) -> None:
        """Show who is viewing the screen; an empty sequence hides the indicator."""
        ...

    def show_countdown(self, text: str, deadline: float) -> None:
        """Show `text` and the time left until `deadline` (a `time.time()` timestamp).

        One countdown at a time: a new one replaces the old.
        """
        ...

    def clear_countdown(self) -> None:
        """Remove the countdown, if any (it was cancelled, or its time came)."""
        ...

    def close(self) -> None:
        """Remove every window and release the display. Later calls are ignored."""
        ...


@dataclass(frozen=True, slots=True)
class ShownCountdown:
    """A countdown as it was put in front of the student."""

    text: str
    deadline: float


@dataclass(frozen=True, slots=True)
class ShownMessage:
    """A message as it was put in front of the student."""

    sender: str
    text: str


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
        self._closed = False

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
        """The countdown on screen now, if any."""
        with self._state:
            return self._countdown

    @property
    def countdowns(self) -> tuple[ShownCountdown, ...]:
        """Every countdown shown so far, oldest first."""
        with self._state:
            return tuple(self._countdowns)

    @property
    def closed(self) -> bool:
        with self._state:
            return self._closed

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

    def set_watched(self, watchers: Sequence[str]) -> None:
        with self._state:
            if not self._closed:
                self._watchers = _distinct(watchers)

    def show_countdown(self, text: str, deadline: float) -> None:
        with self._state:
            if not self._closed:
                self._countdown = ShownCountdown(text, deadline)
                self._countdowns.append(self._countdown)

    def clear_countdown(self) -> None:
        with self._state:
            self._countdown = None

    def close(self) -> None:
        with self._state:
            self._closed = True
            self._countdown = None
            self._locked, self._lock_message, self._locked_by = False, None, None
            self._watchers = ()


class DesktopUnavailable(RuntimeError):
    """The desktop cannot show windows (no display, or Tk cannot start)."""


@dataclass(frozen=True, slots=True)
class WindowView:
    """One Homeroom window as the display has it, from `TkDesktop.snapshot`."""

    role: str  # "lock", "message" or "indicator"
    title: str
    texts: tuple[str, ...]
    x: int
    y: int
    width: int
    height: int
    viewable: bool


@dataclass(frozen=True, slots=True)
class DesktopSnapshot:
    """Homeroom's windows on screen, and whether the lock holds the keyboard and pointer."""

    windows: tuple[WindowView, ...]
    input_grabbed: bool

    def of_role(self, role: str) -> tuple[WindowView, ...]:
        """The windows with this role that are on screen (mapped and viewable)."""
        return tuple(w for w in self.windows if w.role == role and w.viewable)
