"""What the agent and its UI process say to each other over a pipe: typed messages, no I/O.

Theory of operation. The agent (the parent) owns what the student should see: the lock, the
queue of messages, the "being viewed" banner, a countdown. It tells the UI process (the child)
the whole wanted state of each part whenever it changes, and again from the start whenever it
starts a new child, so a child that was killed and replaced shows the same screen without
either side keeping a history. The child answers with what happened on screen: it is up (and
where the monitors are) or cannot show anything, the banner is drawn, a message was read, the
lock was tampered with, a snapshot of its windows.

Each message is one JSON object with its kind under "type", prefixed with its length as
4 bytes (big-endian). `Reader` turns bytes as they arrive into messages; `encode` turns a
message into bytes to write. Like the hub protocol, this module never touches a pipe.

This is the agent's end, strict (msgspec checks every field of what the UI process says,
which the agent does not trust). The UI process speaks the same messages through
`agent.ui_pipe`, which needs only the standard library, so msgspec is not resident twice.
"""

from __future__ import annotations

import struct
from typing import Any, Generic, TypeVar

import msgspec

from .desktop import DesktopSnapshot

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
    "encode",
]

#: No message comes close: ten 2,000-character messages are about 40 KB.
MAX_FRAME = 1024 * 1024
_LENGTH = struct.Struct(">I")


class WireError(ValueError):
    """The other end sent something that is not a message: it is broken, not to be trusted."""


# --- Agent to UI ------------------------------------------------------------------


class Lock(msgspec.Struct, tag="lock", frozen=True):
    message: str
    by: str


class Unlock(msgspec.Struct, tag="unlock", frozen=True):
    pass


class QueuedMessage(msgspec.Struct, frozen=True):
    id: int
    sender: str
    text: str


class Messages(msgspec.Struct, tag="messages", frozen=True):
    """Every message the student has not read yet, oldest first; the first is on screen."""

    waiting: tuple[QueuedMessage, ...]


class Watched(msgspec.Struct, tag="watched", frozen=True):
    """The banner's sentence (None hides it); answer `Shown(ack)` once it is on screen."""

    text: str | None
    ack: int


class ShowCountdown(msgspec.Struct, tag="countdown", frozen=True):
    text: str
    deadline: float  # seconds since the epoch, as time.time()


class ClearCountdown(msgspec.Struct, tag="no_countdown", frozen=True):
    pass


class TakeSnapshot(msgspec.Struct, tag="snapshot", frozen=True):
    request: int


class Applies(msgspec.Struct, tag="applies", frozen=True):
    """The "what applies now" panel's lines (agent/what_applies.py), already made printable."""

    lines: tuple[str, ...]


class Close(msgspec.Struct, tag="close", frozen=True):
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


# --- UI to agent ------------------------------------------------------------------


class Ready(msgspec.Struct, tag="ready", frozen=True):
    """Tk is up on the display; `monitors` are (x, y, width, height), the primary first."""

    monitors: tuple[tuple[int, int, int, int], ...]


class Unavailable(msgspec.Struct, tag="unavailable", frozen=True):
    """No window can be shown (no display, no Tk); `reason` says what to do. Exit follows."""

    reason: str


class Shown(msgspec.Struct, tag="shown", frozen=True):
    """The banner asked for by `Watched(ack=...)` (or a later one) is drawn on the screen."""

    ack: int


class MessageRead(msgspec.Struct, tag="read", frozen=True):
    id: int


class Report(msgspec.Struct, tag="report", frozen=True):
    """Something the school should hear about, as a protocol Event kind and detail."""

    kind: str
    detail: str


class SnapshotTaken(msgspec.Struct, tag="snapshot_taken", frozen=True):
    request: int
    snapshot: DesktopSnapshot


FromUi = Ready | Unavailable | Shown | MessageRead | Report | SnapshotTaken

_encoder = msgspec.json.Encoder()


def encode(message: FromAgent | FromUi) -> bytes:
    """The message as bytes to write: its length, then JSON."""
    body = _encoder.encode(message)
    return _LENGTH.pack(len(body)) + body


T = TypeVar("T")


class Reader(Generic[T]):
    """Bytes in, messages out: `feed` what the pipe gave and get every complete message.

    `Reader[FromUi](FromUi)` reads what the UI says; `Reader[FromAgent](FromAgent)` the agent.
    """

    def __init__(self, kind: Any) -> None:
        self._decoder: msgspec.json.Decoder[T] = msgspec.json.Decoder(kind)
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[T]:
        """The messages completed by `data`; raise WireError on anything malformed."""
        self._buffer += data
        messages: list[T] = []
        while len(self._buffer) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self._buffer)
            if length > MAX_FRAME:
                raise WireError(f"a {length}-byte message is over the {MAX_FRAME}-byte limit")
            end = _LENGTH.size + length
            if len(self._buffer) < end:
                break
            body = bytes(self._buffer[_LENGTH.size : end])
            del self._buffer[:end]
            try:
                messages.append(self._decoder.decode(body))
            except (msgspec.DecodeError, msgspec.ValidationError) as error:
                raise WireError(f"unreadable message: {error}") from None
        return messages
