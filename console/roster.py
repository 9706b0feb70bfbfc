"""The console's plain data model of the class: one view per device, one outcome per command."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class DeviceView:
    """What the console knows about one student device, as last reported by the hub."""

    device_id: str
    name: str
    group: str
    online: bool
    locked: bool = False
    watched: bool = False
    user: str = ""
    last_seen: float = 0.0
    """Unix time the hub last heard from the device; 0 when it never has."""
    app: str = ""
    """The application in front, as the device reports it (hostile text)."""
    title: str = ""
    """The title of the window in front (hostile text)."""
    idle_seconds: int = 0
    """How long the student has not touched keyboard or mouse, once the device calls it idle."""

    @property
    def idle(self) -> bool:
        """The device reported the student idle (it reports only past its idle threshold)."""
        return self.online and self.idle_seconds > 0

    @property
    def doing(self) -> str:
        """What the student is doing, in one line: application and window title."""
        if self.app and self.title and self.title != self.app:
            return f"{self.app} — {self.title}"
        return self.app or self.title

    @property
    def display_name(self) -> str:
        """The name to show a teacher, falling back to the device id for unnamed devices."""
        return self.name or self.device_id

    @property
    def sort_key(self) -> tuple[str, str]:
        """Order of tiles in the grid: by name, ignoring case; the id breaks ties stably."""
        return (self.display_name.casefold(), self.device_id)


#: What each alert a device can raise is called on the teacher's screen (protocol AlertKind),
#: in a sentence and on a narrow tile.
ALERT_HEADLINES = {
    "lock_tampered": ("lock tampered with", "tampered"),
    "lock_not_shown": ("lock not shown", "not shown"),
    "focus_warned": ("warned by focus mode", "focus warned"),
    "focus_closed": ("closed by focus mode", "focus closed"),
    "left_session": ("dropped off during the lesson", "dropped off"),
}
#: The notification's title for each kind of alert (a lock alert unless said here).
ALERT_TITLES = {
    "focus_warned": "Focus mode",
    "focus_closed": "Focus mode",
    "left_session": "Left the lesson",
}


@dataclass(frozen=True, slots=True)
class LockAlert:
    """A device reported that its lock was tampered with or could not be shown.

    `at` (Unix time) and `detail` are the device's own report: show them literally.
    """

    device_id: str
    kind: str
    at: float
    detail: str

    @property
    def headline(self) -> str:
        """The alert in a few words, e.g. "lock tampered with"."""
        return ALERT_HEADLINES.get(self.kind, (self.kind.replace("_", " "), ""))[0]

    @property
    def title(self) -> str:
        """The notification's title, e.g. "Lock alert"."""
        return ALERT_TITLES.get(self.kind, "Lock alert")

    @property
    def mark(self) -> str:
        """The alert as a tile's status line shows it, e.g. "⚠ tampered 14:03"."""
        words = ALERT_HEADLINES.get(self.kind, ("", "alert"))[1]
        return f"⚠ {words} {self.time[:5]}"

    @property
    def time(self) -> str:
        """When it happened, as the device's clock said, in this computer's time zone."""
        return clock_time(self.at)


def clock_time(at: float) -> str:
    """Unix time as a time of day, e.g. "14:03:07"."""
    return time.strftime("%H:%M:%S", time.localtime(at))


class OutcomeKind(StrEnum):
    """Where one command stands on one device, as a teacher reads it."""

    SENT = "sent"
    DONE = "done"
    FAILED = "failed"
    QUEUED = "queued"
    OFFLINE = "offline"


SENT_CODE = "sent"
"""Code of an outcome the console records itself when it hands a command to the hub."""
QUEUED_CODE = "queued"
"""Code of an outcome for an offline device the hub keeps the command for."""
OFFLINE_CODE = "device_offline"
"""The hub's code (protocol.errors.ErrorCode.DEVICE_OFFLINE) for a device it cannot reach."""


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """The result of one command on one device, e.g. a lock that succeeded or was refused."""

    device_id: str
    ok: bool
    code: str
    detail: str
    action: str = ""
    """What was asked, in words ("lock", "open URL"), when the console knows."""

    @property
    def kind(self) -> OutcomeKind:
        if self.code == SENT_CODE:
            return OutcomeKind.SENT
        if self.code == QUEUED_CODE:
            return OutcomeKind.QUEUED
        if self.code == OFFLINE_CODE:
            return OutcomeKind.OFFLINE
        return OutcomeKind.DONE if self.ok else OutcomeKind.FAILED

    def describe(self) -> str:
        """The outcome in words: "lock: done", "close app: failed (no such program)"."""
        kind = self.kind
        text = kind.value
        if kind is OutcomeKind.FAILED:
            text += f" ({self.detail or self.code})" if self.detail or self.code else ""
        elif kind is OutcomeKind.DONE and self.detail:
            text += f" ({self.detail})"
        return f"{self.action}: {text}" if self.action else text
