"""What Homeroom puts on the student's screen: its windows' colours, titles and words, and how
a snapshot describes them.

The agent and its UI process both import this, and the UI process runs all day beside the
agent, so it imports no more than the UI process needs: not even `typing` (about 0.7 MiB
resident there). Its named tuples are built by `agent.records`.
"""

from __future__ import annotations

import math

from .records import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from .records import NamedTuple

__all__ = [
    "COUNTDOWN_BACKGROUND",
    "COUNTDOWN_FOREGROUND",
    "COUNTDOWN_TITLE",
    "INDICATOR_BACKGROUND",
    "INDICATOR_FOREGROUND",
    "INDICATOR_TITLE",
    "LOCK_BACKGROUND",
    "LOCK_FOREGROUND",
    "LOCK_NOT_SHOWN",
    "LOCK_SECONDARY",
    "LOCK_TAMPERED",
    "LOCK_TITLE",
    "MAX_NAME",
    "MAX_TEXT",
    "DesktopSnapshot",
    "WindowView",
    "clip_text",
    "countdown_text",
    "message_position",
    "message_title",
]

# A deep indigo nobody uses as a wallpaper, so a screenshot (or a test) can tell a lock apart.
LOCK_BACKGROUND = "#2a1b5e"
LOCK_FOREGROUND = "#ffffff"
LOCK_SECONDARY = "#c9c1f0"
LOCK_TITLE = "Homeroom: screen locked"
# The indicator is red like a camera's recording light.
INDICATOR_BACKGROUND = "#c62828"
INDICATOR_FOREGROUND = "#ffffff"
INDICATOR_TITLE = "Homeroom: screen being viewed"
# A countdown to a restart or log-off is amber: a warning, not an alarm.
COUNTDOWN_BACKGROUND = "#8a4b00"
COUNTDOWN_FOREGROUND = "#ffffff"
COUNTDOWN_TITLE = "Homeroom: countdown"

#: Event kinds the desktop reports to the hub (protocol `Event.kind`).
LOCK_TAMPERED = "lock_tampered"
LOCK_NOT_SHOWN = "lock_not_shown"

# What one window can reasonably show; the protocol has its own, stricter limits.
MAX_TEXT = 2000
MAX_NAME = 100


def clip_text(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"


def message_title(sender: str) -> str:
    """The title of the window that shows a message from `sender`."""
    return f"Message from {clip_text(sender, MAX_NAME)}"


def message_position(index: int, total: int) -> str | None:
    """ "2 of 3" under a message when more wait, None when it is the only one."""
    return f"{index + 1} of {total}" if total > 1 else None


def countdown_text(remaining: float) -> str:
    """How long is left, as the countdown shows it: "in 1:05", then "now"."""
    if remaining <= 0:
        return "now"
    seconds = math.ceil(remaining)
    return f"in {seconds // 60}:{seconds % 60:02d}"


class WindowView(NamedTuple):
    """One Homeroom window (or the part of the lock standing in for one) as the display has it,
    from `SupervisedDesktop.snapshot`."""

    role: str  # "lock", "message", "indicator", "countdown", "applies" or "applies_tab"
    title: str
    texts: tuple[str, ...]
    x: int
    y: int
    width: int
    height: int
    viewable: bool


class DesktopSnapshot(NamedTuple):
    """Homeroom's windows on screen, and whether the lock holds the keyboard and pointer.

    Named tuples, not dataclasses: the UI process builds these, and `dataclasses` (with
    `inspect`) would be about 1 MiB more resident there."""

    windows: tuple[WindowView, ...]
    input_grabbed: bool
    #: Timers pending in the UI (Tcl `after`): none while idle, as nothing polls; a countdown
    #: ticking or a grab being retried has one.
    timers: int = 0

    def of_role(self, role: str) -> tuple[WindowView, ...]:
        """The windows with this role that are on screen (mapped and viewable)."""
        return tuple(w for w in self.windows if w.role == role and w.viewable)
