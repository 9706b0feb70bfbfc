"""Signed command envelopes and the one verification function hub and agent share."""

import secrets
from collections.abc import Collection, Sequence
from typing import Annotated

import msgspec
from msgspec import Meta

from .actions import AnyAction
from .certificates import CLOCK_SKEW, STAFF_ROLES, Certificate, CertificateBody, verify_certificate
from .codec import WireStruct, canonical, decode_as
from .errors import ErrorCode, PeerError, UsageError
from .keys import PrivateKey, PublicKey, Purpose
from .limits import MAX_TARGETS
from .types import DeviceId, Nonce, RandomId, Signature, Timestamp

#: A command may be queued for an offline device, but never lives longer than this.
MAX_COMMAND_LIFETIME = 24 * 3600


class CommandBody(WireStruct, frozen=True):
    """What a staff member asks of some devices, and until when the request holds."""

    id: RandomId
    issuer: Certificate
    targets: Annotated[tuple[DeviceId, ...], Meta(min_length=1, max_length=MAX_TARGETS)]
    action: AnyAction
    issued_at: Timestamp
    expires_at: Timestamp
    nonce: Nonce

    def check_rules(self) -> None:
        if not 0 < self.expires_at - self.issued_at <= MAX_COMMAND_LIFETIME:
            raise ValueError(f"a command lives between 1 s and {MAX_COMMAND_LIFETIME} s")


class SignedCommand(WireStruct, frozen=True):
    body: CommandBody
    signature: Signature


def sign_command(
    staff_key: PrivateKey,
    certificate: Certificate,
    *,
    targets: Sequence[str],
    action: AnyAction,
    now: int,
    ttl: int = 60,
) -> SignedCommand:
    """Sign `action` for `targets`, valid for `ttl` seconds from `now`."""
    if certificate.body.subject_key != staff_key.public.raw:
        raise UsageError("the certificate does not belong to this key")
    body = CommandBody(
        id=secrets.token_hex(16),
        issuer=certificate,
        targets=tuple(dict.fromkeys(targets)),
        action=action,
        issued_at=now,
        expires_at=now + ttl,
        nonce=secrets.token_bytes(16),
    )
    body = canonical(body)
    signature = staff_key.sign(Purpose.COMMAND, msgspec.json.encode(body))
    return SignedCommand(body=body, signature=signature)


class Recipient(msgspec.Struct, frozen=True):
    """The device checking a command: its id and the group it was enrolled into."""

    device_id: str
    group: str


def verify_command(
    command: SignedCommand,
    *,
    org_key: PublicKey,
    now: int,
    replay: "ReplayCache | None",
    revoked: Collection[str] = (),
    recipient: Recipient | None = None,
) -> CommandBody:
    """Accept a command or raise PeerError naming the first check that failed.

    The hub calls this with `recipient=None` before routing; the agent calls it
    with itself as recipient. Both pass their own replay cache. Checks, in order:
    the issuer's certificate chains to the pinned organisation key, is in date and
    not revoked; the full signature is the issuer's; the issuer's role may sign the
    action; this device is a target in the issuer's groups; the command is in date;
    its nonce was never seen. The nonce is remembered only once all else passed.
    """
    body = command.body
    issuer: CertificateBody = verify_certificate(body.issuer, org_key, now=now, revoked=revoked)
    PublicKey(issuer.subject_key).verify(
        Purpose.COMMAND, msgspec.json.encode(body), command.signature
    )
    action = body.action
    if issuer.role not in STAFF_ROLES or issuer.role not in action.ALLOWED:
        raise PeerError(ErrorCode.ROLE_FORBIDDEN, f"{issuer.role.value} may not {action.name}")
    if recipient is not None:
        if recipient.device_id not in body.targets:
            raise PeerError(ErrorCode.NOT_A_TARGET, f"command {body.id} is for other devices")
        if not issuer.covers_group(recipient.group):
            raise PeerError(
                ErrorCode.GROUP_FORBIDDEN, f"{issuer.name!r} has no rights over {recipient.group!r}"
            )
        if not issuer.covers_device(recipient.device_id, recipient.group):
            raise PeerError(
                ErrorCode.GROUP_FORBIDDEN,
                f"{issuer.name!r} may act only on the devices their certificate names",
            )
    if now > body.expires_at + CLOCK_SKEW:
        raise PeerError(ErrorCode.COMMAND_EXPIRED, f"command {body.id} expired")
    if now + CLOCK_SKEW < body.issued_at:
        raise PeerError(ErrorCode.COMMAND_NOT_YET_VALID, f"command {body.id} is dated ahead")
    if replay is not None:
        replay.remember(body.nonce, body.expires_at, now=now, issuer=issuer.serial)
    return body


class ReplayCache:
    """The nonces of commands still in date, so a captured command cannot be replayed.

    A nonce need only be kept until its command expires (an expired command is
    refused anyway), which bounds the cache by the rate of valid signed commands.
    When full of live nonces it refuses new ones rather than forget one (fail closed).
    `per_issuer` caps the live nonces of any one certificate, so one person (or one
    stolen credential) can fill only their own share, never block everyone else.
    """

    __slots__ = ("_by_issuer", "_seen", "capacity", "per_issuer")

    def __init__(self, capacity: int = 100_000, *, per_issuer: int | None = None) -> None:
        if capacity < 1:
            raise UsageError("a replay cache holds at least one nonce")
        self.capacity = capacity
        self.per_issuer = per_issuer
        self._seen: dict[bytes, tuple[int, str]] = {}
        self._by_issuer: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._seen)

    def remember(self, nonce: bytes, expires_at: int, *, now: int, issuer: str = "") -> None:
        """Record `nonce`, or raise PeerError(REPLAYED) if it was seen before."""
        if nonce in self._seen:
            raise PeerError(ErrorCode.REPLAYED, "this command was received before")
        if len(self._seen) >= self.capacity or self._issuer_full(issuer):
            self.prune(now)
            if len(self._seen) >= self.capacity:
                raise PeerError(ErrorCode.REPLAY_CACHE_FULL, f"{self.capacity} live commands")
            if self._issuer_full(issuer):
                raise PeerError(
                    ErrorCode.REPLAY_CACHE_FULL, f"{self.per_issuer} live commands from one person"
                )
        self._seen[nonce] = (expires_at, issuer)
        self._by_issuer[issuer] = self._by_issuer.get(issuer, 0) + 1

    def _issuer_full(self, issuer: str) -> bool:
        return self.per_issuer is not None and self._by_issuer.get(issuer, 0) >= self.per_issuer

    def prune(self, now: int) -> None:
        """Forget nonces whose commands can no longer pass the expiry check."""
        self._seen = {n: e for n, e in self._seen.items() if e[0] + CLOCK_SKEW >= now}
        self._by_issuer = {}
        for _, issuer in self._seen.values():
            self._by_issuer[issuer] = self._by_issuer.get(issuer, 0) + 1

    def to_bytes(self) -> bytes:
        """A snapshot to save across restarts (the caller writes it to disk)."""
        return msgspec.json.encode(sorted((n, e, i) for n, (e, i) in self._seen.items()))

    @classmethod
    def from_bytes(
        cls, data: bytes, *, capacity: int = 100_000, per_issuer: int | None = None
    ) -> "ReplayCache":
        items = decode_as(data, list[tuple[bytes, int, str]], "replay cache")
        cache = cls(capacity=max(capacity, len(items)), per_issuer=per_issuer)
        for nonce, expires_at, issuer in items:
            cache._seen[nonce] = (expires_at, issuer)
            cache._by_issuer[issuer] = cache._by_issuer.get(issuer, 0) + 1
        return cache
