"""The UI process's end of the pipe to the agent: the same messages as `agent.ui_wire`, stdlib only.

Messages are named tuples (two with no fields compare equal: tell them apart by type), built
without `typing` (`agent.records`). The UI process is a second Python process running all
day next to the agent, so what it imports stays resident twice over; this module lets it
speak the pipe with `json` and `struct` (already loaded by the standard library it needs
anyway) instead of msgspec (about 3 MiB).
The agent's end (`agent.ui_wire`) stays msgspec, strict: the agent takes nothing from the UI
process on trust. Here the agent's messages are checked field by field too, since a process
that acts on a malformed message can show the student something wrong; anything off is a
WireError, and the UI process closes.

Each message is one JSON object with its kind under "type", prefixed with its length as
4 bytes (big-endian); tests/agent/test_ui_wire.py checks both ends read each other.
"""

from __future__ import annotations

import json
import struct

from .on_screen import DesktopSnapshot
from .records import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, NamedTuple
else:
    from .records import NamedTuple

__all__ = [
    "MAX_FRAME",
    "Applies",
    "ClearCountdown",
    "Close",
    "FromAgent",
    "FromUi",
    "Lock",
    "MessageRead",
    "Messages",
    "QueuedMessage",
    "Reader",
    "Ready",
    "Report",
    "ShowCountdown",
    "Shown",
    "SnapshotTaken",
    "TakeSnapshot",
    "Unavailable",
    "Unlock",
    "Watched",
    "WireError",
    "decode",
    "encode",
]

#: No message comes close: ten 2,000-character messages are about 40 KB.
MAX_FRAME = 1024 * 1024
_LENGTH = struct.Struct(">I")


class WireError(ValueError):
    """The agent sent something that is not a message: the pipe is broken."""


# --- Agent to UI (read here) ---------------------------------------------------------


class Lock(NamedTuple):
    message: str
    by: str


class Unlock(NamedTuple):
    pass


class QueuedMessage(NamedTuple):
    id: int
    sender: str
    text: str


class Messages(NamedTuple):
    """Every message the student has not read yet, oldest first; the first is on screen."""

    waiting: tuple[QueuedMessage, ...]


class Watched(NamedTuple):
    """The banner's sentence (None hides it); answer `Shown(ack)` once it is on screen."""

    text: str | None
    ack: int


class ShowCountdown(NamedTuple):
    text: str
    deadline: float  # seconds since the epoch, as time.time()


class ClearCountdown(NamedTuple):
    pass


class TakeSnapshot(NamedTuple):
    request: int


class Applies(NamedTuple):
    """The "what applies now" panel's lines, shown as literal text."""

    lines: tuple[str, ...]


class Close(NamedTuple):
    """Remove every window and exit."""


FromAgent = (
    Lock
    | Unlock
    | Messages
    | Watched
    | ShowCountdown
    | ClearCountdown
    | TakeSnapshot
    | Applies
    | Close
)


# --- UI to agent (written here) ------------------------------------------------------


class Ready(NamedTuple):
    """Tk is up on the display; `monitors` are (x, y, width, height), the primary first."""

    monitors: tuple[tuple[int, int, int, int], ...]


class Unavailable(NamedTuple):
    """No window can be shown (no display, no Tk); `reason` says what to do. Exit follows."""

    reason: str


class Shown(NamedTuple):
    """The banner asked for by `Watched(ack=...)` (or a later one) is drawn on the screen."""

    ack: int


class MessageRead(NamedTuple):
    id: int


class Report(NamedTuple):
    """Something the school should hear about, as a protocol Event kind and detail."""

    kind: str
    detail: str


class SnapshotTaken(NamedTuple):
    request: int
    snapshot: DesktopSnapshot


FromUi = Ready | Unavailable | Shown | MessageRead | Report | SnapshotTaken

#: The tag each message travels under; the same as agent.ui_wire's.
_TAGS: dict[type, str] = {
    Lock: "lock",
    Unlock: "unlock",
    Messages: "messages",
    Watched: "watched",
    ShowCountdown: "countdown",
    ClearCountdown: "no_countdown",
    TakeSnapshot: "snapshot",
    Applies: "applies",
    Close: "close",
    Ready: "ready",
    Unavailable: "unavailable",
    Shown: "shown",
    MessageRead: "read",
    Report: "report",
    SnapshotTaken: "snapshot_taken",
}


def encode(message: FromUi | FromAgent) -> bytes:
    """The message as bytes to write: its length, then JSON."""
    # A named tuple inside (a snapshot, a window) goes as an array, as msgspec writes it.
    fields = message._asdict()
    body = json.dumps({"type": _TAGS[type(message)], **fields}, separators=(",", ":")).encode()
    return _LENGTH.pack(len(body)) + body


# What each of the agent's messages holds: field name to the JSON types it may have.
_INT = (int,)
_STR = (str,)
_FIELDS: dict[str, tuple[type, dict[str, tuple[type, ...]]]] = {
    "lock": (Lock, {"message": _STR, "by": _STR}),
    "unlock": (Unlock, {}),
    "messages": (Messages, {"waiting": (list,)}),
    "watched": (Watched, {"text": (str, type(None)), "ack": _INT}),
    "countdown": (ShowCountdown, {"text": _STR, "deadline": (int, float)}),
    "no_countdown": (ClearCountdown, {}),
    "snapshot": (TakeSnapshot, {"request": _INT}),
    "applies": (Applies, {"lines": (list,)}),
    "close": (Close, {}),
}
_QUEUED: dict[str, tuple[type, ...]] = {"id": _INT, "sender": _STR, "text": _STR}


def _checked(value: Any, fields: dict[str, tuple[type, ...]], what: str) -> dict[str, Any]:
    """`value` if it is an object with exactly `fields`, each of its type; else WireError."""
    if not isinstance(value, dict) or value.keys() != fields.keys():
        raise WireError(f"{what}: expected the fields {sorted(fields)}")
    for name, types in fields.items():
        field = value[name]
        # JSON's true and false arrive as bool, which Python counts as int: not a number here.
        if not isinstance(field, types) or isinstance(field, bool):
            raise WireError(f"{what}.{name}: {type(field).__name__} is not allowed")
    return value


def decode(body: bytes) -> FromAgent:
    """One of the agent's messages from its JSON; WireError if it is not exactly one."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise WireError(f"unreadable message: {error}") from None
    tag = value.pop("type", None) if isinstance(value, dict) else None
    if not isinstance(tag, str) or tag not in _FIELDS:
        raise WireError(f"not a message for the UI: {str(tag)[:40]!r}")
    kind, fields = _FIELDS[tag]
    checked = _checked(value, fields, tag)
    if kind is Messages:
        waiting = tuple(
            QueuedMessage(**_checked(item, _QUEUED, "messages.waiting"))
            for item in checked["waiting"]
        )
        return Messages(waiting=waiting)
    if kind is Applies:
        lines = checked["lines"]
        if not all(isinstance(line, str) for line in lines):
            raise WireError("applies.lines: every line must be a string")
        return Applies(lines=tuple(lines))
    message: FromAgent = kind(**checked)
    return message


class Reader:
    """Bytes in, the agent's messages out: `feed` what the pipe gave, get each complete one."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[FromAgent]:
        """The messages completed by `data`; raise WireError on anything malformed."""
        self._buffer += data
        messages: list[FromAgent] = []
        while len(self._buffer) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self._buffer)
            if length > MAX_FRAME:
                raise WireError(f"a {length}-byte message is over the {MAX_FRAME}-byte limit")
            end = _LENGTH.size + length
            if len(self._buffer) < end:
                break
            body = bytes(self._buffer[_LENGTH.size : end])
            del self._buffer[:end]
            messages.append(decode(body))
        return messages
