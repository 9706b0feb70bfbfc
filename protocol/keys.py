"""Ed25519 keys, fingerprints and domain-separated signatures for every identity."""

import hashlib
from enum import StrEnum

import msgspec

from .ed25519 import KEY_BYTES, SIGNATURE_BYTES, backend, new_secret
from .errors import ErrorCode, PeerError, UsageError


class Purpose(StrEnum):
    """What a signature is for; signed into it so one can never pass for another."""

    CERTIFICATE = "certificate"
    CERTIFICATE_REQUEST = "certificate-request"
    COMMAND = "command"
    REVOCATION = "revocation"
    POLICY = "policy"
    HUB_HANDSHAKE = "hub-handshake"
    CLIENT_HANDSHAKE = "client-handshake"


def _signed_bytes(purpose: Purpose, data: bytes) -> bytes:
    return b"homeroom/v1/" + purpose.value.encode() + b"\x00" + data


def fingerprint(raw_public_key: bytes) -> str:
    """The SHA-256 of a raw public key in hex: a device's id and what tokens pin."""
    return hashlib.sha256(raw_public_key).hexdigest()


class PublicKey(msgspec.Struct, frozen=True):
    """A peer's Ed25519 public key, as its 32 raw bytes."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != KEY_BYTES:
            raise PeerError(ErrorCode.MALFORMED, f"a public key is {KEY_BYTES} bytes")

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.raw)

    def verify(self, purpose: Purpose, data: bytes, signature: bytes) -> None:
        """Raise PeerError(BAD_SIGNATURE) unless `signature` is this key's, in full."""
        # Length first so a truncated signature is named as such; the library
        # then checks all 64 bytes (never a prefix, unlike MeshCentral's MAC).
        if len(signature) != SIGNATURE_BYTES:
            raise PeerError(
                ErrorCode.BAD_SIGNATURE,
                f"signature is {len(signature)} bytes, not {SIGNATURE_BYTES}",
            )
        if not backend().verify(self.raw, signature, _signed_bytes(purpose, data)):
            raise PeerError(ErrorCode.BAD_SIGNATURE, f"{purpose.value} signature")


class PrivateKey:
    """An Ed25519 private key. Generated where it is used; never shared or sent."""

    __slots__ = ("_secret", "public")

    def __init__(self, secret: bytes) -> None:
        if len(secret) != KEY_BYTES:
            raise UsageError(f"a private key is {KEY_BYTES} raw bytes, got {len(secret)}")
        self._secret = bytes(secret)
        self.public = PublicKey(backend().public_key(self._secret))

    @classmethod
    def generate(cls) -> "PrivateKey":
        return cls(new_secret())

    @classmethod
    def from_bytes(cls, raw: bytes) -> "PrivateKey":
        return cls(raw)

    def to_bytes(self) -> bytes:
        """The raw private key, for the owner's credential file only."""
        return self._secret

    def sign(self, purpose: Purpose, data: bytes) -> bytes:
        return backend().sign(self._secret, _signed_bytes(purpose, data))

    def __repr__(self) -> str:  # never print key material
        return f"PrivateKey(public={self.public.fingerprint[:16]}…)"
