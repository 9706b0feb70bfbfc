"""Every control message on the wire, as immutable typed values with strict decoding."""

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

import msgspec
from msgspec import Meta

from .certificates import Certificate
from .codec import WireStruct, decode_as, prepare_decoder
from .commands import SignedCommand
from .errors import GUIDANCE, ErrorCode, PeerError
from .fleet import AssetTag, FleetEntry, LifeChange, LifeState, StudentName
from .limits import (
    CONTROLS,
    MAX_AGENT_VERSION,
    MAX_AUDIT_ACTOR,
    MAX_AUDIT_DETAIL,
    MAX_AUDIT_WORD,
    MAX_CLASS_SESSION_MINUTES,
    MAX_ERROR_REF,
    MAX_EVENT_KIND,
    MAX_FACT_NAME,
    MAX_FACT_VALUE,
    MAX_FACTS,
    MAX_OS_NAME,
    MAX_OS_VERSION,
    MAX_PROCESSES,
    MAX_ROSTER,
    MAX_TARGETS,
    MAX_VERSIONS,
    MAX_WATCHERS,
)
from .policy import SignedPolicy
from .revocation import RevocationList
from .types import (
    AccountName,
    DeviceId,
    DeviceName,
    DeviceText,
    GroupName,
    Nonce,
    PersonName,
    ProgramName,
    RandomId,
    RawKey,
    ShortText,
    Signature,
    Timestamp,
    UserName,
    WindowTitle,
)
from .usage import UsageSummary

PROTOCOL_VERSIONS: tuple[int, ...] = (1,)
#: What a device reports is printed to staff: no control characters (see DeviceText).
_NO_CONTROLS = f"^[^{CONTROLS}]*$"
KiB = 1024
Version = Annotated[int, Meta(ge=1, le=255)]
#: Named facts about a device (system info, diagnostics), as short strings.
Facts = Annotated[
    dict[
        Annotated[str, Meta(max_length=MAX_FACT_NAME, pattern=_NO_CONTROLS)],
        Annotated[str, Meta(max_length=MAX_FACT_VALUE, pattern=_NO_CONTROLS)],
    ],
    Meta(max_length=MAX_FACTS),
]
Watchers = Annotated[tuple[PersonName, ...], Meta(max_length=MAX_WATCHERS)]


class Message(WireStruct, frozen=True, forbid_unknown_fields=True, tag_field="type", kw_only=True):
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
    versions: Annotated[tuple[Version, ...], Meta(min_length=1, max_length=MAX_VERSIONS)]
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
    watched_by: Watchers = ()
    user: UserName = ""
    capturing: bool = False


class Inventory(Message, tag="inventory", frozen=True):
    """Facts about the device for IT's fleet view."""

    MAX_BYTES = 8 * KiB
    hostname: AccountName
    os: Annotated[str, Meta(max_length=MAX_OS_NAME, pattern=_NO_CONTROLS)]
    agent_version: Annotated[str, Meta(max_length=MAX_AGENT_VERSION, pattern=_NO_CONTROLS)]
    os_version: Annotated[str, Meta(max_length=MAX_OS_VERSION, pattern=_NO_CONTROLS)] = ""
    user: UserName = ""
    cpu_count: Annotated[int, Meta(ge=0, le=100_000)] = 0
    memory_bytes: Annotated[int, Meta(ge=0)] = 0
    screen_width: Annotated[int, Meta(ge=0, le=65_535)] = 0
    screen_height: Annotated[int, Meta(ge=0, le=65_535)] = 0
    boot_time: Timestamp = 0


class Event(Message, tag="event", frozen=True):
    """Something the school should know happened on the device."""

    kind: Annotated[str, Meta(pattern=rf"^[a-z][a-z0-9_]{{0,{MAX_EVENT_KIND - 1}}}$")]
    at: Timestamp
    detail: DeviceText = ""


class ProcessInfo(WireStruct, frozen=True):
    """One running program: CPU is % of one core over the agent's sample window."""

    pid: Annotated[int, Meta(ge=0, le=2**31)]
    name: ProgramName
    user: UserName = ""
    cpu_percent: Annotated[float, Meta(ge=0.0, le=100_000.0)] = 0.0
    memory_bytes: Annotated[int, Meta(ge=0)] = 0
    window_title: WindowTitle = ""


#: The largest screenshot a device may send, and the size of each part it travels in.
MAX_SCREENSHOT_BYTES = 16 * 1024 * KiB
SCREENSHOT_PART_BYTES = 256 * KiB
MAX_SCREENSHOT_PARTS = MAX_SCREENSHOT_BYTES // SCREENSHOT_PART_BYTES


class ScreenshotInfo(WireStruct, frozen=True):
    """What a screenshot's parts add up to; the console checks the digest on assembly."""

    width: Annotated[int, Meta(ge=1, le=65_535)]
    height: Annotated[int, Meta(ge=1, le=65_535)]
    format: Literal["png", "webp"]
    size: Annotated[int, Meta(ge=1, le=MAX_SCREENSHOT_BYTES)]
    parts: Annotated[int, Meta(ge=1, le=MAX_SCREENSHOT_PARTS)]
    sha256: Annotated[bytes, Meta(min_length=32, max_length=32)]
    #: The agent's X25519 share when the parts are sealed for the console that asked
    #: (protocol/sealing.py): size and digest are then those of the sealed bytes.
    sealed_by: RawKey | None = None


class Result(Message, tag="result", frozen=True):
    """The outcome of one command on one device (or the hub's refusal for it)."""

    MAX_BYTES = 512 * KiB
    command_id: RandomId
    device_id: DeviceId
    ok: bool
    code: ErrorCode | None = None
    detail: DeviceText = ""
    processes: Annotated[tuple[ProcessInfo, ...], Meta(max_length=MAX_PROCESSES)] = ()
    facts: Facts = msgspec.field(default_factory=dict)
    screenshot: ScreenshotInfo | None = None
    summary: UsageSummary | None = None  # for "summary": applications and time, no titles


class ScreenshotPart(Message, tag="screenshot_part", frozen=True):
    """One piece of a screenshot, sent before the command's Result; the hub passes it on.

    Pieces keep every message small: thumbnails and commands keep flowing between them.
    """

    MAX_BYTES = 384 * KiB  # a part in base64, with room for the envelope
    command_id: RandomId
    device_id: DeviceId
    index: Annotated[int, Meta(ge=0, lt=MAX_SCREENSHOT_PARTS)]
    data: Annotated[bytes, Meta(min_length=1, max_length=SCREENSHOT_PART_BYTES)]


Platform = Literal["linux", "windows", "macos", "other"]
DisplayServer = Literal["x11", "wayland", "windows", "quartz", "none"]


class DeviceCapabilities(WireStruct, frozen=True):
    """What this device can do, so the console greys out the rest."""

    platform: Platform
    display_server: DisplayServer
    capture: bool
    lock: bool
    actions: Annotated[tuple[Annotated[str, Meta(max_length=32)], ...], Meta(max_length=64)] = ()
    #: Why something is missing, in a sentence (e.g. "Wayland: no screen capture route").
    note: WindowTitle = ""


class Capabilities(Message, tag="capabilities", frozen=True):
    """Agent, right after Welcome: what it can do on this device."""

    capabilities: DeviceCapabilities


class Activity(Message, tag="activity", frozen=True):
    """Agent: what the student is doing, sent when it changes (at most every few seconds).

    Kept live with presence on the hub and never written to the audit log.
    """

    app: ProgramName = ""
    title: WindowTitle = ""
    idle_seconds: Annotated[int, Meta(ge=0, le=2**31)] = 0
    #: The operating system's own screen lock or screen saver is on.
    session_locked: bool = False


# --- Hub to agent ------------------------------------------------------------


class Deliver(Message, tag="deliver", frozen=True):
    """Hub: a staff member's signed command, passed on untouched for the agent to verify."""

    MAX_BYTES = 256 * KiB
    command: SignedCommand


class LockDue(Message, tag="lock_due", frozen=True):
    """Hub: a lock the hub knows is still due for this device, re-asserted on reconnect.

    It carries the staff member's signed lock command untouched. The agent checks it as a
    command, except that it may be past its expiry and its nonce already seen: a lock only
    restricts, and an unlock the agent carried out that is newer always wins (protocol/relock.py).
    """

    MAX_BYTES = 256 * KiB
    command: SignedCommand


class PolicyUpdate(Message, tag="policy", frozen=True):
    """Hub: the admin-signed policy of the device's group, after sign-in and when it changes.

    The agent verifies it through the certificate chain and keeps the highest sequence,
    so the hub can neither alter a policy nor replay an older one (protocol/policy.py).
    """

    MAX_BYTES = 64 * KiB
    policy: SignedPolicy


class RevocationUpdate(Message, tag="revocation", frozen=True):
    """Hub: the newest organisation-signed revocation list, after sign-in and when it changes.

    The agent verifies it against its pinned organisation key and keeps the highest sequence;
    the hub only carries it, so it cannot un-revoke anyone (protocol/revocation.py).
    """

    MAX_BYTES = 256 * KiB
    revocations: RevocationList


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
    subject: Literal["roster", "classes", "audit", "fleet", "history", "privacy"]
    limit: Annotated[int, Meta(ge=1, le=1000)] = 100
    #: For "history" and "privacy": the device whose life cycle changes, or whose privacy
    #: report (who watched, captured or commanded it), are asked for.
    device_id: DeviceId | None = None


class SetDeviceRecord(Message, tag="set_device", frozen=True):
    """Console (IT or admin): change a device's asset tag, student or state; None keeps it.

    Not a signed command: the record lives on the hub, which is its authority, and the
    staff member's proven session is who the history and the audit log name.
    """

    id: RandomId
    device_id: DeviceId
    asset_tag: AssetTag | None = None
    student: StudentName | None = None
    state: LifeState | None = None
    #: With state "on_loan": the device this one replaces while it is away.
    loan_for: DeviceId | None = None

    def check_rules(self) -> None:
        if self.loan_for is not None and self.state is not LifeState.ON_LOAN:
            raise ValueError("loan_for goes with the state on_loan")


class PolicySet(Message, tag="policy_set", frozen=True):
    """Console (an admin): keep this policy, signed on the admin's own machine, for its group.

    The hub checks it as it checks `homeroom-hub policy set` (hub/policy.py `accept`),
    audits the attempt, and answers with an Answer (empty) or an Error of the same id.
    """

    MAX_BYTES = 64 * KiB
    id: RandomId
    policy: SignedPolicy


class ClassSessionRequest(Message, tag="class_session", frozen=True):
    """Console: start a class session (a lesson with one class, for `minutes`), or end it.

    The hub answers with an Answer of the same id listing the classes, or an Error.
    """

    id: RandomId
    class_name: DeviceName
    action: Literal["start", "end"]
    minutes: Annotated[int, Meta(ge=1, le=MAX_CLASS_SESSION_MINUTES)] = 60


# --- Hub to console ------------------------------------------------------------


class DeviceState(WireStruct, frozen=True):
    """One device as the console shows it. `stream` numbers its frames."""

    device_id: DeviceId
    name: DeviceName
    group: GroupName
    online: bool
    stream: Annotated[int, Meta(ge=0, lt=2**32)]
    locked: bool = False
    watched_by: Watchers = ()
    user: UserName = ""
    last_seen: Timestamp = 0
    capabilities: DeviceCapabilities | None = None
    activity: Activity | None = None


class Roster(Message, tag="roster", frozen=True):
    """Hub: every device this staff member may see (sent on sign-in)."""

    MAX_BYTES = 4096 * KiB
    devices: Annotated[tuple[DeviceState, ...], Meta(max_length=MAX_ROSTER)]


class DeviceChanged(Message, tag="device", frozen=True):
    MAX_BYTES = 8 * KiB
    device: DeviceState


#: What the teacher must see at once, not only in the audit log: a device's lock undone or
#: not shown, or focus mode warning about or closing a blocked program or site (reported by
#: the device); a device of a class in session dropping off (noticed by the hub).
AlertKind = Literal[
    "lock_tampered", "lock_not_shown", "focus_warned", "focus_closed", "left_session"
]
#: The alerts a device may raise by an Event; "left_session" is the hub's alone to say.
ALERT_KINDS: frozenset[str] = frozenset(AlertKind.__args__) - {"left_session"}  # type: ignore[attr-defined]


class DeviceAlert(Message, tag="alert", frozen=True):
    """Hub: something about a device its teacher must see now (see AlertKind).

    `at` and `detail` are the device's own words (for "left_session", the hub's): shown
    literally, never trusted.
    """

    device_id: DeviceId
    kind: AlertKind
    at: Timestamp
    detail: ShortText = ""


class CommandQueued(Message, tag="queued", frozen=True):
    """Hub: the device is offline and the sender asked to queue: the command waits for it.

    It goes out when the device connects, unless `expires_at` comes first (then a failed
    Result says so); its Result comes then. Without the queue flag the sender gets a failed
    Result with code device_offline at once instead.
    """

    command_id: RandomId
    device_id: DeviceId
    expires_at: Timestamp


class ClassSessionInfo(WireStruct, frozen=True):
    """The class session on for a class: who started it, and when it ends by itself."""

    teacher: PersonName
    started_at: Timestamp
    ends_at: Timestamp


class ClassInfo(WireStruct, frozen=True):
    name: DeviceName
    group: GroupName
    devices: Annotated[tuple[DeviceId, ...], Meta(max_length=MAX_TARGETS)]
    session: ClassSessionInfo | None = None


class AuditEntry(WireStruct, frozen=True):
    seq: int
    at: Timestamp
    actor: Annotated[str, Meta(max_length=MAX_AUDIT_ACTOR)]
    action: Annotated[str, Meta(max_length=MAX_AUDIT_WORD)]
    targets: Annotated[tuple[str, ...], Meta(max_length=MAX_TARGETS)]
    result: Annotated[str, Meta(max_length=MAX_AUDIT_WORD)]
    detail: Annotated[str, Meta(max_length=MAX_AUDIT_DETAIL)] = ""


class PrivacyLine(WireStruct, frozen=True):
    """One line of a device's privacy report (hub/privacy_report.py): who did what, when."""

    at: Timestamp
    who: Annotated[str, Meta(max_length=MAX_AUDIT_ACTOR)]
    role: Annotated[str, Meta(max_length=MAX_AUDIT_WORD)]
    kind: Literal["watched", "stopped watching", "captured", "commanded"]
    action: Annotated[str, Meta(max_length=MAX_AUDIT_WORD)]
    outcome: Annotated[str, Meta(max_length=MAX_AUDIT_WORD)]
    detail: Annotated[str, Meta(max_length=MAX_AUDIT_DETAIL)] = ""


class Answer(Message, tag="answer", frozen=True):
    """Hub: the reply to a Query, by its id."""

    MAX_BYTES = 4096 * KiB
    id: RandomId
    devices: tuple[DeviceState, ...] = ()
    classes: tuple[ClassInfo, ...] = ()
    audit: tuple[AuditEntry, ...] = ()
    fleet: tuple[FleetEntry, ...] = ()
    history: tuple[LifeChange, ...] = ()
    privacy: tuple[PrivacyLine, ...] = ()


# --- Both ways ---------------------------------------------------------------


class Error(Message, tag="error", frozen=True):
    """Something the receiver sent was refused. `ref` names the message or command."""

    code: ErrorCode
    message: ShortText
    ref: Annotated[str, Meta(max_length=MAX_ERROR_REF)] | None = None

    @classmethod
    def from_peer_error(cls, error: PeerError, ref: str | None = None) -> "Error":
        return cls(code=error.code, message=GUIDANCE[error.code], ref=ref)


AnyMessage = (
    Hello
    | Challenge
    | Proof
    | Welcome
    | Status
    | Inventory
    | Event
    | Result
    | ScreenshotPart
    | Capabilities
    | Activity
    | Deliver
    | LockDue
    | PolicyUpdate
    | RevocationUpdate
    | Submit
    | KeyframeRequest
    | Query
    | SetDeviceRecord
    | PolicySet
    | ClassSessionRequest
    | Roster
    | DeviceChanged
    | DeviceAlert
    | CommandQueued
    | Answer
    | Error
)
MESSAGE_TYPES: tuple[type[Message], ...] = AnyMessage.__args__
MAX_MESSAGE_BYTES = max(t.MAX_BYTES for t in MESSAGE_TYPES)

_encoder = msgspec.json.Encoder()


def encode_message(message: Message) -> bytes:
    """JSON bytes for a text frame (the websocket layer sends them as text)."""
    return _encoder.encode(message)


_BY_TAG: dict[str, type[Message]] = {str(t.__struct_config__.tag): t for t in MESSAGE_TYPES}


class _TypeOnly(msgspec.Struct):
    """A message's "type" and nothing else: every other field is skipped, not decoded."""

    type: str = ""


_type_only = msgspec.json.Decoder(_TypeOnly)
#: Whether `prepare_message_decoder` built the decoder of every message type at once.
_all_at_once = False


def prepare_message_decoder() -> None:
    """Decode every message in one pass from now on, with one decoder for all types, built now.

    For a process that decodes many messages of every kind (the hub). Without it, the type
    is read first and each type's decoder is built when a message of that type first comes:
    a `homeroom-console do` meets five types, whose decoders take 5 ms to build where the
    decoder of all 27 takes 22 (measured here), before it can read the hub's first answer.
    """
    global _all_at_once
    prepare_decoder(AnyMessage)
    _all_at_once = True


def _decoding_type(data: bytes) -> object:
    """The type to decode `data` as: the one it names, or the union of all when it names
    none we know or is no JSON object (the union's decoder then says what is wrong)."""
    if _all_at_once:
        return AnyMessage
    try:
        named = _type_only.decode(data).type
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, ValueError):
        return AnyMessage
    return _BY_TAG.get(named, AnyMessage)


def decode_message(data: bytes | str) -> Message:
    """Strictly decode one control message, or raise PeerError; nothing else escapes."""
    if isinstance(data, str):
        # Limits are in bytes: a text frame arrives as str, whose length counts characters.
        data = data.encode("utf-8", "surrogatepass")
    if len(data) > MAX_MESSAGE_BYTES:
        raise PeerError(ErrorCode.TOO_LARGE, f"message of {len(data)} bytes")
    kind = _decoding_type(data)
    try:
        message: Message = decode_as(data, kind, "message")
    except PeerError:
        if kind is AnyMessage:
            raise
        # Refused in the words of the decoder of all types (which reads the first "type"
        # where the look-up read the last): rare, and a peer learns nothing from the way.
        message = decode_as(data, AnyMessage, "message")
    # The per-type limit: a small type may not smuggle a large payload.
    if len(data) > message.MAX_BYTES:
        raise PeerError(ErrorCode.TOO_LARGE, f"{type(message).__name__} of {len(data)} bytes")
    return message
