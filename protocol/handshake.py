"""The handshake as a table-driven state machine, shared by hub, agent and console.

Theory of operation. A client (agent, console, or a device enrolling) connects
to the hub and the two authenticate each other before anything else is read:

    client                                   hub
    Hello(versions, role, key, nonce, [certificate | enrollment])  ->
                  <-  Challenge(version, nonce, org key, hub certificate,
                                TLS channel, hub's signature over the transcript)
    Proof(client's signature over the transcript, [token secret])  ->
                  <-  Welcome(name, group, device id)  |  Error(code)

The transcript binds both nonces, both keys, the version, the role and the
hub's TLS certificate, so no signature can be replayed on another connection
and a machine in the middle that terminates TLS is caught (channel binding).
The client checks the organisation key against the one it pinned, and that
the organisation certified the hub (when enrolling: the very hub key the token
names), and fails closed. After its proof the hub layer looks the identity
up in its store (enrolled device? revoked staff?) and accepts or refuses.
Until Welcome, application messages and frames are refused; after it, each
side accepts only the message types in `ACCEPTED` for the peer's role.
"""

import hashlib
import secrets
import time
from collections.abc import Callable, Collection
from enum import Enum, auto
from typing import TypeVar

import msgspec

from .certificates import (
    STAFF_ROLES,
    Certificate,
    CertificateBody,
    Role,
    verify_certificate,
)
from .errors import ErrorCode, PeerError, UsageError
from .frames import AnyFrame, FrameHeader, check_frame, decode_frame
from .keys import PrivateKey, PublicKey, Purpose
from .messages import (
    PROTOCOL_VERSIONS,
    Activity,
    Answer,
    Capabilities,
    Challenge,
    ClassSessionRequest,
    ClientRole,
    CommandQueued,
    Deliver,
    DeviceAlert,
    DeviceChanged,
    Error,
    Event,
    Hello,
    Inventory,
    KeyframeRequest,
    LockDue,
    Message,
    PolicySet,
    PolicyUpdate,
    Proof,
    Query,
    Result,
    RevocationUpdate,
    Roster,
    ScreenshotPart,
    SetDeviceRecord,
    Status,
    Submit,
    Welcome,
    decode_message,
)
from .tokens import EnrollmentToken

T = TypeVar("T")


def channel_of(certificate_der: bytes | None) -> bytes:
    """The channel-binding value both sides sign: SHA-256 of the TLS certificate, or empty."""
    return hashlib.sha256(certificate_der).digest() if certificate_der else b""


class Side(Enum):
    HUB = auto()
    CLIENT = auto()


class Stage(Enum):
    START = auto()
    AWAIT_HELLO = auto()
    AWAIT_CHALLENGE = auto()
    AWAIT_PROOF = auto()
    AWAIT_DECISION = auto()
    AWAIT_WELCOME = auto()
    OPEN = auto()
    FAILED = auto()


#: (side, stage, message type received) -> stage after it. Anything else is refused.
TRANSITIONS: dict[tuple[Side, Stage, type[Message]], Stage] = {
    (Side.HUB, Stage.AWAIT_HELLO, Hello): Stage.AWAIT_PROOF,
    (Side.HUB, Stage.AWAIT_PROOF, Proof): Stage.AWAIT_DECISION,
    (Side.CLIENT, Stage.AWAIT_CHALLENGE, Challenge): Stage.AWAIT_WELCOME,
    (Side.CLIENT, Stage.AWAIT_WELCOME, Welcome): Stage.OPEN,
}

#: Once open: what each side accepts from a peer in each role.
ACCEPTED: dict[tuple[Side, ClientRole], frozenset[type[Message]]] = {
    (Side.HUB, ClientRole.AGENT): frozenset(
        {Status, Inventory, Event, Result, ScreenshotPart, Capabilities, Activity}
    ),
    (Side.HUB, ClientRole.CONSOLE): frozenset(
        {Submit, Query, SetDeviceRecord, PolicySet, ClassSessionRequest, KeyframeRequest}
    ),
    (Side.HUB, ClientRole.ENROLL): frozenset(),
    (Side.CLIENT, ClientRole.AGENT): frozenset(
        {Deliver, LockDue, PolicyUpdate, RevocationUpdate, KeyframeRequest, Error}
    ),
    (Side.CLIENT, ClientRole.CONSOLE): frozenset(
        {Roster, DeviceChanged, DeviceAlert, CommandQueued, Result, ScreenshotPart, Answer, Error}
    ),
    (Side.CLIENT, ClientRole.ENROLL): frozenset({Error}),
}
#: Who may send binary frames: agents to the hub, the hub to consoles.
FRAMES_ACCEPTED = frozenset({(Side.HUB, ClientRole.AGENT), (Side.CLIENT, ClientRole.CONSOLE)})

_APPLICATION_TYPES = frozenset().union(*ACCEPTED.values()) - {Error}


class _Transcript(msgspec.Struct, array_like=True):
    """What both sides sign: everything that makes this connection this one."""

    version: int
    role: str
    client_key: bytes
    client_nonce: bytes
    hub_key: bytes
    hub_nonce: bytes
    channel: bytes
    token_id: str


class HubPins(msgspec.Struct, frozen=True):
    """The keys a client trusts: the hub's and the organisation's fingerprints."""

    hub: str
    org: str


class Claim(msgspec.Struct, frozen=True):
    """A client that proved it holds `key`; the hub layer decides whether to admit it."""

    role: ClientRole
    key: PublicKey
    staff: CertificateBody | None
    device_name: str | None
    token_id: str | None
    token_secret: bytes | None

    @property
    def device_id(self) -> str:
        return self.key.fingerprint


class _Endpoint:
    """What hub and client share: the stage, the table checks, the open session."""

    side: Side

    def __init__(self) -> None:
        self.stage = Stage.START
        self.role: ClientRole | None = None

    @property
    def is_open(self) -> bool:
        return self.stage is Stage.OPEN

    def _decode_step(self, data: bytes | str) -> tuple[Message, Stage]:
        message = self._guard(decode_message, data)
        if isinstance(message, Error) and self.side is Side.CLIENT:
            self.stage = Stage.FAILED
            raise PeerError(message.code, f"the hub refused: {message.message}")
        following = TRANSITIONS.get((self.side, self.stage, type(message)))
        if following is None:
            self.stage = Stage.FAILED
            code = (
                ErrorCode.NOT_AUTHENTICATED
                if type(message) in _APPLICATION_TYPES
                else ErrorCode.OUT_OF_STATE
            )
            raise PeerError(code, f"{type(message).__name__} during {self.stage.name.lower()}")
        return message, following

    def _guard(self, check: Callable[..., T], *args: object) -> T:
        try:
            return check(*args)
        except PeerError:
            self.stage = Stage.FAILED
            raise

    def receive(self, data: bytes | str) -> Message:
        """An application message, once open, if this peer's role may send it."""
        if self.stage is not Stage.OPEN:
            raise PeerError(ErrorCode.NOT_AUTHENTICATED, "the handshake is not complete")
        assert self.role is not None
        message = decode_message(data)
        if type(message) not in ACCEPTED[self.side, self.role]:
            raise PeerError(
                ErrorCode.OUT_OF_STATE, f"{type(message).__name__} is not accepted here"
            )
        return message

    def receive_frame(self, data: bytes) -> AnyFrame:
        """A binary frame (whole or tiles), once open, if this peer's role may send frames."""
        self._frames_allowed()
        return decode_frame(data)

    def check_frame(self, data: bytes) -> FrameHeader:
        """As receive_frame, but only validates: a relay need not copy the picture."""
        self._frames_allowed()
        return check_frame(data)

    def _frames_allowed(self) -> None:
        if self.stage is not Stage.OPEN:
            raise PeerError(ErrorCode.NOT_AUTHENTICATED, "the handshake is not complete")
        assert self.role is not None
        if (self.side, self.role) not in FRAMES_ACCEPTED:
            raise PeerError(ErrorCode.OUT_OF_STATE, "frames are not accepted here")


class ClientHandshake(_Endpoint):
    """The agent's or console's side. Fails closed on any mismatch with its pins."""

    side = Side.CLIENT

    def __init__(
        self,
        *,
        role: ClientRole,
        key: PrivateKey,
        pins: HubPins,
        channel: bytes,
        certificate: Certificate | None = None,
        token: EnrollmentToken | None = None,
        device_name: str | None = None,
        versions: tuple[int, ...] = PROTOCOL_VERSIONS,
        clock: Callable[[], float] = time.time,
        revoked: Collection[str] = (),
    ) -> None:
        super().__init__()
        if (role is ClientRole.CONSOLE) != (certificate is not None):
            raise UsageError("a console signs in with a certificate, and only a console does")
        if (role is ClientRole.ENROLL) != (token is not None and device_name is not None):
            raise UsageError("enrolling takes a token and a device name, and only enrolling does")
        self.role = role
        self._key = key
        self._pins = pins
        self._revoked = revoked
        self._channel = channel
        self._certificate = certificate
        self._token = token
        self._device_name = device_name
        self._versions = versions
        self._clock = clock
        self._nonce = secrets.token_bytes(32)
        self.org_key: PublicKey | None = None
        self.welcome: Welcome | None = None

    def start(self) -> Hello:
        if self.stage is not Stage.START:
            raise UsageError("start() is called once")
        self.stage = Stage.AWAIT_CHALLENGE
        return Hello(
            versions=self._versions,
            role=self.role or ClientRole.AGENT,
            key=self._key.public.raw,
            nonce=self._nonce,
            certificate=self._certificate,
            device_name=self._device_name,
            token_id=self._token.token_id if self._token else None,
        )

    def step(self, data: bytes | str) -> Proof | None:
        """Feed one handshake message; returns the reply to send, if any."""
        message, following = self._decode_step(data)
        reply: Proof | None = None
        if isinstance(message, Challenge):
            reply = self._guard(self._answer, message)
        elif isinstance(message, Welcome):
            self.welcome = message
        self.stage = following
        return reply

    def _answer(self, challenge: Challenge) -> Proof:
        if challenge.version not in self._versions:
            raise PeerError(ErrorCode.UNSUPPORTED_VERSION, f"hub chose {challenge.version}")
        org_key = PublicKey(challenge.org_key)
        if org_key.fingerprint != self._pins.org:
            raise PeerError(ErrorCode.HUB_KEY_MISMATCH, "organisation key is not the pinned one")
        # Any hub the pinned organisation certifies (and has not revoked) will do, so the
        # hub's key can be rotated without re-enrolling a device; only enrolling, the first
        # contact, holds the hub to the key its token names.
        hub = verify_certificate(
            challenge.hub_certificate, org_key, now=int(self._clock()), revoked=self._revoked
        )
        hub_key = PublicKey(hub.subject_key)
        pinned = self.role is not ClientRole.ENROLL or hub_key.fingerprint == self._pins.hub
        if hub.role is not Role.HUB or not pinned:
            raise PeerError(ErrorCode.HUB_KEY_MISMATCH, "the hub's key is not the pinned one")
        if challenge.channel != self._channel:
            raise PeerError(ErrorCode.CHANNEL_MISMATCH, "TLS certificate differs from the hub's")
        transcript = self._transcript(challenge.version, challenge.nonce, hub_key)
        hub_key.verify(Purpose.HUB_HANDSHAKE, transcript, challenge.signature)
        self.org_key = org_key
        return Proof(
            signature=self._key.sign(Purpose.CLIENT_HANDSHAKE, transcript),
            token_secret=self._token.secret if self._token else None,
        )

    def _transcript(self, version: int, hub_nonce: bytes, hub_key: PublicKey) -> bytes:
        assert self.role is not None
        return msgspec.msgpack.encode(
            _Transcript(
                version=version,
                role=self.role.value,
                client_key=self._key.public.raw,
                client_nonce=self._nonce,
                hub_key=hub_key.raw,
                hub_nonce=hub_nonce,
                channel=self._channel,
                token_id=self._token.token_id if self._token else "",
            )
        )


class HubHandshake(_Endpoint):
    """The hub's side: proves the hub's key, checks the client's proof, then asks the caller."""

    side = Side.HUB

    def __init__(
        self,
        *,
        key: PrivateKey,
        certificate: Certificate,
        org_key: PublicKey,
        channel: bytes,
        revoked: Collection[str] = (),
        versions: tuple[int, ...] = PROTOCOL_VERSIONS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        if certificate.body.subject_key != key.public.raw or certificate.body.role is not Role.HUB:
            raise UsageError("the hub certificate must certify the hub key in the hub role")
        self.stage = Stage.AWAIT_HELLO
        self._key = key
        self._certificate = certificate
        self._org_key = org_key
        self._channel = channel
        self._revoked = revoked
        self._versions = versions
        self._clock = clock
        self._nonce = secrets.token_bytes(32)
        self._hello: Hello | None = None
        self._version = 0
        self.claim: Claim | None = None

    def step(self, data: bytes | str) -> Challenge | Claim:
        """Feed one handshake message: a Hello gives the Challenge to send, a Proof the Claim."""
        message, following = self._decode_step(data)
        result: Challenge | Claim
        if isinstance(message, Hello):
            result = self._guard(self._challenge, message)
        else:
            assert isinstance(message, Proof)
            result = self._guard(self._check_proof, message)
        self.stage = following
        return result

    def _challenge(self, hello: Hello) -> Challenge:
        common = set(hello.versions) & set(self._versions)
        if not common:
            raise PeerError(ErrorCode.UNSUPPORTED_VERSION, f"client speaks {hello.versions}")
        if hello.role is ClientRole.CONSOLE:
            if hello.certificate is None:
                raise PeerError(ErrorCode.WRONG_ROLE, "staff sign in with a certificate")
            staff = verify_certificate(
                hello.certificate, self._org_key, now=int(self._clock()), revoked=self._revoked
            )
            if staff.role not in STAFF_ROLES:
                raise PeerError(ErrorCode.WRONG_ROLE, f"a {staff.role.value} certificate")
            if staff.subject_key != hello.key:
                raise PeerError(ErrorCode.BAD_SIGNATURE, "the certificate is for another key")
        elif hello.certificate is not None:
            raise PeerError(ErrorCode.WRONG_ROLE, "devices do not present certificates")
        enrollment = (hello.token_id, hello.device_name)
        if hello.role is ClientRole.ENROLL and None in enrollment:
            raise PeerError(ErrorCode.MALFORMED, "enrollment takes a token id and a device name")
        if hello.role is not ClientRole.ENROLL and enrollment != (None, None):
            raise PeerError(ErrorCode.MALFORMED, "a token id or device name is for enrollment only")
        self.role = hello.role
        self._hello = hello
        self._version = max(common)
        return Challenge(
            version=self._version,
            nonce=self._nonce,
            org_key=self._org_key.raw,
            hub_certificate=self._certificate,
            channel=self._channel,
            signature=self._key.sign(Purpose.HUB_HANDSHAKE, self._transcript()),
        )

    def _check_proof(self, proof: Proof) -> Claim:
        hello = self._hello
        assert hello is not None
        key = PublicKey(hello.key)
        key.verify(Purpose.CLIENT_HANDSHAKE, self._transcript(), proof.signature)
        if (hello.role is ClientRole.ENROLL) != (proof.token_secret is not None):
            raise PeerError(ErrorCode.MALFORMED, "a token secret comes with enrollment only")
        staff = None
        if hello.certificate is not None:
            staff = hello.certificate.body
        self.claim = Claim(
            role=hello.role,
            key=key,
            staff=staff,
            device_name=hello.device_name,
            token_id=hello.token_id,
            token_secret=proof.token_secret,
        )
        return self.claim

    def accept(
        self, *, name: str, group: str | None = None, device_id: str | None = None
    ) -> Welcome:
        """The hub layer admits the claim: the session is open."""
        if self.stage is not Stage.AWAIT_DECISION:
            raise UsageError("accept() follows a verified proof")
        self.stage = Stage.OPEN
        return Welcome(name=name, group=group, device_id=device_id, hub_time=int(self._clock()))

    def refuse(self, error: PeerError) -> Error:
        """The hub layer (or a failed step) refuses: the message to send before closing."""
        self.stage = Stage.FAILED
        return Error.from_peer_error(error)

    def _transcript(self) -> bytes:
        hello = self._hello
        assert hello is not None
        return msgspec.msgpack.encode(
            _Transcript(
                version=self._version,
                role=hello.role.value,
                client_key=hello.key,
                client_nonce=hello.nonce,
                hub_key=self._key.public.raw,
                hub_nonce=self._nonce,
                channel=self._channel,
                token_id=hello.token_id or "",
            )
        )
