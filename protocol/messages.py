"""Every control message on the wire, as immutable typed values with strict decoding."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

import msgspec
from msgspec import Meta

from .actions import SetPolicy
from .certificates import Certificate
from .codec import decode_as
from .commands import SignedCommand
from .errors import GUIDANCE, ErrorCode, PeerError
from .types import (
    AccountName,
    DeviceId,
    DeviceName,
    GroupName,
    Nonce,
    PersonName,
    RandomId,
    RawKey,
    ShortText,
    Signature,
    Timestamp,
    UserName,
)

PROTOCOL_VERSIONS: tuple[int, ...] = (1,)
KiB = 1024
Version = Annotated[int, Meta(ge=1, le=255)]
#: Named facts about a device (system info, diagnostics), as short strings.
Facts = Annotated[
    dict[Annotated[str, Meta(max_length=64)], Annotated[str, Meta(max_length=1024)]],
    Meta(max_length=128),
]


class Message(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="type", kw_only=True
):
    """Base of every control message. `MAX_BYTES` bounds its encoded size."""

    MAX_BYTES: ClassVar[int] = 4 * KiB


class ClientRole(StrEnum):
    AGENT = "agent"
    CONSOLE = "console"
    ENROLL = "enroll"


# --- Handshake -------------------------------------------------------------


class Hello(Message, tag="hello", frozen=True):
    """Client, first: who I am (my key, and for staff my certificate) and my nonce."""

    MAX_BYTES = 8 * KiB
    versions: Annotated[tuple[Version, ...], Meta(min_length=1, max_length=16)]
    role: ClientRole
    key: RawKey
    nonce: Nonce
    certificate: Certificate | None = None
    device_name: DeviceName | None = None  # enrollment only
    token_id: RandomId | None = None  # enrollment only


class Challenge(Message, tag="challenge", frozen=True):
    """Hub: the version chosen, my nonce, my certificate, and my signed transcript."""

    MAX_BYTES = 8 * KiB
    version: Version
    nonce: Nonce
    org_key: RawKey
    hub_certificate: Certificate
    channel: Annotated[bytes, Meta(max_length=64)]
    signature: Signature


class Proof(Message, tag="proof", frozen=True):
    """Client: my signature over the same transcript (and the token secret to enrol)."""

    signature: Signature
    token_secret: Annotated[bytes, Meta(min_length=32, max_length=32)] | None = None


class Welcome(Message, tag="welcome", frozen=True):
    """Hub: you are in. For a device, its name and group; for staff, their name."""

    name: PersonName
    hub_time: Timestamp
    group: GroupName | None = None
    device_id: DeviceId | None = None


# --- Agent to hub ------------------------------------------------------------


class Status(Message, tag="status", frozen=True):
    """What the device is doing now; sent on change and as a heartbeat."""

    locked: bool
    watched_by: Annotated[tuple[PersonName, ...], Meta(max_length=32)] = ()
    user: UserName = ""
    capturing: bool = False


class Inventory(Message, tag="inventory", frozen=True):
    """Facts about the device for IT's fleet view."""

    MAX_BYTES = 8 * KiB
    hostname: AccountName
    os: Annotated[str, Meta(max_length=128)]
    agent_version: Annotated[str, Meta(max_length=64)]
    os_version: Annotated[str, Meta(max_length=255)] = ""
    user: UserName = ""
    cpu_count: Annotated[int, Meta(ge=0, le=100_000)] = 0
    memory_bytes: Annotated[int, Meta(ge=0)] = 0
    screen_width: Annotated[int, Meta(ge=0, le=65_535)] = 0
    screen_height: Annotated[int, Meta(ge=0, le=65_535)] = 0
    boot_time: Timestamp = 0


class Event(Message, tag="event", frozen=True):
    """Something the school should know happened on the device."""

    kind: Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    at: Timestamp
    detail: ShortText = ""


class ProcessInfo(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pid: int
    name: Annotated[str, Meta(max_length=255)]
    user: UserName = ""
    cpu_percent: float = 0.0
    memory_bytes: int = 0


class Result(Message, tag="result", frozen=True):
    """The outcome of one command on one device (or the hub's refusal for it)."""

    MAX_BYTES = 512 * KiB
    command_id: RandomId
    device_id: DeviceId
    ok: bool
    code: ErrorCode | None = None
    detail: ShortText = ""
    processes: Annotated[tuple[ProcessInfo, ...], Meta(max_length=4096)] = ()
    facts: Facts = msgspec.field(default_factory=dict)


# --- Hub to agent ------------------------------------------------------------


class Deliver(Message, tag="deliver", frozen=True):
    """Hub: a staff member's signed command, passed on untouched for the agent to verify."""

    MAX_BYTES = 256 * KiB
    command: SignedCommand


class PolicyUpdate(Message, tag="policy", frozen=True):
    """Hub: the signed policy currently in force for the device's group."""

    MAX_BYTES = 64 * KiB
    command: SignedCommand

    def __post_init__(self) -> None:
        if not isinstance(self.command.body.action, SetPolicy):
            raise ValueError("a policy update carries a set_policy command")


# --- Console to hub ------------------------------------------------------------


class Submit(Message, tag="submit", frozen=True):
    """Console: route this signed command to its targets (queue it while offline?)."""

    MAX_BYTES = 256 * KiB
    command: SignedCommand
    queue: bool = False


class KeyframeRequest(Message, tag="keyframe", frozen=True):
    """Console to hub, and hub to agent: send a whole picture of this device next.

    A console asks when it cannot apply tiles (it has no picture yet, or missed a frame).
    It is not signed: it only makes a device that is already being watched (a signed
    lease) send its next picture whole, which costs bytes and reveals nothing new.
    """

    device_id: DeviceId


class Query(Message, tag="query", frozen=True):
    """Console: ask the hub for a list."""

    id: RandomId
    subject: Literal["roster", "classes", "audit"]
    limit: Annotated[int, Meta(ge=1, le=1000)] = 100


# --- Hub to console ------------------------------------------------------------


class DeviceState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One device as the console shows it. `stream` numbers its frames."""

    device_id: DeviceId
    name: DeviceName
    group: GroupName
    online: bool
    stream: Annotated[int, Meta(ge=0, lt=2**32)]
    locked: bool = False
    watched_by: Annotated[tuple[PersonName, ...], Meta(max_length=32)] = ()
    user: UserName = ""
    last_seen: Timestamp = 0


class Roster(Message, tag="roster", frozen=True):
    """Hub: every device this staff member may see (sent on sign-in)."""

    MAX_BYTES = 4096 * KiB
    devices: Annotated[tuple[DeviceState, ...], Meta(max_length=20_000)]


class DeviceChanged(Message, tag="device", frozen=True):
    MAX_BYTES = 8 * KiB
    device: DeviceState


class ClassInfo(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: DeviceName
    group: GroupName
    devices: Annotated[tuple[DeviceId, ...], Meta(max_length=2000)]


class AuditEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    seq: int
    at: Timestamp
    actor: Annotated[str, Meta(max_length=256)]
    action: Annotated[str, Meta(max_length=64)]
    targets: Annotated[tuple[str, ...], Meta(max_length=2000)]
    result: Annotated[str, Meta(max_length=64)]
    detail: Annotated[str, Meta(max_length=1000)] = ""


class Answer(Message, tag="answer", frozen=True):
    """Hub: the reply to a Query, by its id."""

    MAX_BYTES = 4096 * KiB
    id: RandomId
    devices: tuple[DeviceState, ...] = ()
    classes: tuple[ClassInfo, ...] = ()
    audit: tuple[AuditEntry, ...] = ()


# --- Both ways ---------------------------------------------------------------


class Error(Message, tag="error", frozen=True):
    """Something the receiver sent was refused. `ref` names the message or command."""

    code: ErrorCode
    message: ShortText
    ref: Annotated[str, Meta(max_length=64)] | None = None

    @classmethod
    def from_peer_error(cls, error: PeerError, ref: str | None = None) -> Error:
        return cls(code=error.code, message=GUIDANCE[error.code][:500], ref=ref)


AnyMessage = (
    Hello
    | Challenge
    | Proof
    | Welcome
    | Status
    | Inventory
    | Event
    | Result
    | Deliver
    | PolicyUpdate
    | Submit
    | KeyframeRequest
    | Query
    | Roster
    | DeviceChanged
    | Answer
    | Error
)
MESSAGE_TYPES: tuple[type[Message], ...] = AnyMessage.__args__
MAX_MESSAGE_BYTES = max(t.MAX_BYTES for t in MESSAGE_TYPES)

_encoder = msgspec.json.Encoder()


def encode_message(message: Message) -> bytes:
    """JSON bytes for a text frame (the websocket layer sends them as text)."""
    return _encoder.encode(message)


def decode_message(data: bytes | str) -> Message:
    """Strictly decode one control message, or raise PeerError; nothing else escapes."""
    if isinstance(data, str):
        # Limits are in bytes: a text frame arrives as str, whose length counts characters.
        data = data.encode("utf-8", "surrogatepass")
    if len(data) > MAX_MESSAGE_BYTES:
        raise PeerError(ErrorCode.TOO_LARGE, f"message of {len(data)} bytes")
    message: Message = decode_as(data, AnyMessage, "message")
    # The per-type limit: a small type may not smuggle a large payload.
    if len(data) > message.MAX_BYTES:
        raise PeerError(ErrorCode.TOO_LARGE, f"{type(message).__name__} of {len(data)} bytes")
    return message
