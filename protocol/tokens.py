"""Enrollment tokens: one copy-pasteable string that lets a device join a group once."""

import base64
import binascii
import hashlib
import ipaddress
import secrets
from typing import Annotated

import msgspec
from msgspec import Meta

from .codec import decode_as
from .errors import ErrorCode, PeerError
from .types import Fingerprint, GroupName, RandomId, Timestamp

PREFIX = "hrt1."
MAX_TOKEN_CHARS = 2048
HubUrl = Annotated[str, Meta(pattern=r"^wss?://[^\s/?#]+(/[^\s?#]*)?$", max_length=512)]


def is_loopback(host: str) -> bool:
    """True for this computer's own addresses: the only place plain ws:// is allowed."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EnrollmentToken(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where the hub is, which keys to pin, which group to join, and the secret.

    Expiry and use limit are shown to the person enrolling, but the hub enforces
    them from its own records: a token edited on a device gains nothing.
    """

    hub_url: HubUrl
    hub: Fingerprint
    org: Fingerprint
    group: GroupName
    token_id: RandomId
    secret: Annotated[bytes, Meta(min_length=32, max_length=32)]
    expires_at: Timestamp
    max_uses: Annotated[int, Meta(ge=1, le=100_000)]

    def encode(self) -> str:
        return PREFIX + base64.urlsafe_b64encode(msgspec.json.encode(self)).decode().rstrip("=")


def new_token(
    *, hub_url: str, hub: str, org: str, group: str, expires_at: int, max_uses: int
) -> EnrollmentToken:
    return EnrollmentToken(
        hub_url=hub_url,
        hub=hub,
        org=org,
        group=group,
        token_id=secrets.token_hex(16),
        secret=secrets.token_bytes(32),
        expires_at=expires_at,
        max_uses=max_uses,
    )


def parse_token(text: str) -> EnrollmentToken:
    """Read a pasted token; surrounding whitespace and line breaks are forgiven."""
    text = "".join(text.split())
    if len(text) > MAX_TOKEN_CHARS or not text.startswith(PREFIX):
        raise PeerError(ErrorCode.MALFORMED, "this is not a Homeroom enrollment token (hrt1.…)")
    payload = text[len(PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    token: EnrollmentToken = decode_as(raw, EnrollmentToken, "enrollment token (copy it again)")
    return token


def secret_hash(secret: bytes) -> bytes:
    """What the hub stores instead of the secret, so its database cannot enrol devices."""
    return hashlib.sha256(b"homeroom/v1/token\x00" + secret).digest()


def check_redeemable(*, expires_at: int, max_uses: int, used: int, now: int) -> None:
    """Raise PeerError unless a token with these records may enrol one more device."""
    if now >= expires_at:
        raise PeerError(ErrorCode.TOKEN_EXPIRED, "the enrollment token has expired")
    if used >= max_uses:
        raise PeerError(ErrorCode.TOKEN_USED_UP, f"the token was used {used} of {max_uses} times")
