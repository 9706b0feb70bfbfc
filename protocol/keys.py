"""Ed25519 keys, fingerprints and domain-separated signatures for every identity."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import ErrorCode, PeerError, UsageError

KEY_BYTES = 32
SIGNATURE_BYTES = 64


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


@dataclass(frozen=True, slots=True)
class PublicKey:
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
        try:
            key = Ed25519PublicKey.from_public_bytes(self.raw)
            key.verify(signature, _signed_bytes(purpose, data))
        except (InvalidSignature, ValueError):
            raise PeerError(ErrorCode.BAD_SIGNATURE, f"{purpose.value} signature") from None


class PrivateKey:
    """An Ed25519 private key. Generated where it is used; never shared or sent."""

    __slots__ = ("_key", "public")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        # The *_raw methods spare importing cryptography's serialization package (ssh, ciphers),
        # about 1.3 MiB resident in the agent that nothing else needs.
        self.public = PublicKey(key.public_key().public_bytes_raw())

    @classmethod
    def generate(cls) -> PrivateKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_bytes(cls, raw: bytes) -> PrivateKey:
        if len(raw) != KEY_BYTES:
            raise UsageError(f"a private key is {KEY_BYTES} raw bytes, got {len(raw)}")
        return cls(Ed25519PrivateKey.from_private_bytes(raw))

    def to_bytes(self) -> bytes:
        """The raw private key, for the owner's credential file only."""
        return self._key.private_bytes_raw()

    def sign(self, purpose: Purpose, data: bytes) -> bytes:
        return self._key.sign(_signed_bytes(purpose, data))

    def __repr__(self) -> str:  # never print key material
        return f"PrivateKey(public={self.public.fingerprint[:16]}…)"
