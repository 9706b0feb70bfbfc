"""The organisation key on disk, sealed under a passphrase (scrypt, then ChaCha20-Poly1305).

A folder on a USB stick gets lost; whoever finds it must still not be able to certify
anyone. The passphrase is stretched with scrypt so each guess costs real memory and time,
and the key is sealed with an AEAD cipher so a wrong passphrase is told apart from a
damaged file. The parameters are stored beside the sealed key, so they can be raised later
without breaking folders sealed today.
"""

from __future__ import annotations

import os
from typing import Annotated

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from msgspec import Meta

from protocol.ed25519 import KEY_BYTES
from protocol.keys import PrivateKey

#: scrypt cost as a power of two: 2**15 takes 32 MiB and 0.2-0.3 s here (a guess costs the same).
WORK = 15
_SALT_BYTES = 16
_NONCE_BYTES = 12


class WrongPassphrase(Exception):
    """The passphrase does not open this key."""


class SealedKey(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A private key as stored: the KDF's parameters, and the key sealed with what it gave."""

    kdf: Annotated[str, Meta(pattern="^scrypt$")]
    work: Annotated[int, Meta(ge=10, le=22)]
    salt: Annotated[bytes, Meta(min_length=_SALT_BYTES, max_length=_SALT_BYTES)]
    nonce: Annotated[bytes, Meta(min_length=_NONCE_BYTES, max_length=_NONCE_BYTES)]
    sealed: Annotated[bytes, Meta(min_length=KEY_BYTES + 16, max_length=KEY_BYTES + 16)]


def _cipher(passphrase: str, salt: bytes, work: int) -> ChaCha20Poly1305:
    stretched = Scrypt(salt=salt, length=32, n=2**work, r=8, p=1).derive(passphrase.encode())
    return ChaCha20Poly1305(stretched)


def seal(key: PrivateKey, passphrase: str, *, work: int = WORK) -> bytes:
    """`key` sealed under `passphrase`, as the bytes of a file."""
    salt, nonce = os.urandom(_SALT_BYTES), os.urandom(_NONCE_BYTES)
    sealed = _cipher(passphrase, salt, work).encrypt(nonce, key.to_bytes(), b"homeroom org key")
    box = SealedKey(kdf="scrypt", work=work, salt=salt, nonce=nonce, sealed=sealed)
    return msgspec.json.format(msgspec.json.encode(box))


def is_sealed(data: bytes) -> bool:
    return len(data) != KEY_BYTES


def unseal(data: bytes, passphrase: str) -> PrivateKey:
    """The key in `data`, or WrongPassphrase."""
    box = msgspec.json.decode(data, type=SealedKey)
    try:
        raw = _cipher(passphrase, box.salt, box.work).decrypt(
            box.nonce, box.sealed, b"homeroom org key"
        )
    except InvalidTag:
        raise WrongPassphrase("that passphrase does not open the organisation key") from None
    return PrivateKey.from_bytes(raw)
