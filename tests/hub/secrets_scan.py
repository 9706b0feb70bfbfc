"""Look through a folder for private keys the way a thief would: by parsing every file.

Names prove nothing (a key can be renamed, or sit inside a JSON field or a database row),
so each file is read for what it holds: a raw 32-byte key, a PEM private key, a sealed
organisation key, JSON whose fields hold keys (base64, as msgspec writes bytes, or hex),
and every cell of every table of an SQLite store (WAL included, read by SQLite itself).
Any 32 bytes make an Ed25519 private key, so every 32-byte value found (public keys
included) is tried as one and returned with the public half it gives: a test asks whether
the public key it fears for (the organisation's, a staff member's) is among them, rather
than trusting a file's name. Known secret bytes are also searched for
verbatim in every file, in raw, hex and base64 spellings.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from protocol.ed25519 import KEY_BYTES
from protocol.keys import PrivateKey


@dataclass(frozen=True)
class Found:
    where: str  # file, and the field or table it was in
    public: bytes  # the Ed25519 public key of the private key found


def _as_key(raw: bytes) -> bytes | None:
    if len(raw) != KEY_BYTES:
        return None
    return PrivateKey.from_bytes(raw).public.raw


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _decodings(text: str) -> Iterator[bytes]:
    """The byte strings `text` may spell: base64 (msgspec's bytes), hex."""
    for decode in (lambda t: base64.b64decode(t, validate=True), bytes.fromhex):
        try:
            decoded = decode(text)
        except (ValueError, binascii.Error):
            continue
        yield decoded


def _in_text(where: str, text: str) -> Iterator[Found]:
    try:
        document = json.loads(text)
    except ValueError:
        document = text.split()
    for string in _strings(document):
        for raw in _decodings(string.strip()):
            if (public := _as_key(raw)) is not None:
                yield Found(where, public)
        if string.lstrip().startswith("{"):  # JSON kept as text inside JSON or a row
            yield from _in_text(where, string)


def _in_store(path: Path) -> Iterator[Found]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                for cell in row:
                    if isinstance(cell, bytes) and (public := _as_key(cell)) is not None:
                        yield Found(f"{path.name}:{table}", public)
                    elif isinstance(cell, str):
                        yield from _in_text(f"{path.name}:{table}", cell)
    finally:
        db.close()


def private_keys_in(folder: Path) -> list[Found]:
    """Every Ed25519 private key any file under `folder` holds, however it is written."""
    found: list[Found] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        where = str(path.relative_to(folder))
        if data.startswith(b"SQLite format 3"):
            found += _in_store(path)
            continue
        if (public := _as_key(data)) is not None:
            found.append(Found(where, public))
        if b"PRIVATE KEY-----" in data:
            key = load_pem_private_key(data, password=None)
            if isinstance(key, Ed25519PrivateKey):
                found.append(Found(where, key.public_key().public_bytes_raw()))
        try:
            text = data.decode()
        except UnicodeDecodeError:
            continue
        found += _in_text(where, text)
    return found


def spellings(secret: bytes) -> list[bytes]:
    """The ways a file may hold `secret`: raw, hex, base64 (standard and URL-safe)."""
    return [
        secret,
        secret.hex().encode(),
        base64.b64encode(secret).rstrip(b"="),
        base64.urlsafe_b64encode(secret).rstrip(b"="),
    ]


def files_holding(folder: Path, secret: bytes) -> list[str]:
    """Files under `folder` whose bytes contain `secret` in any of its spellings."""
    return [
        str(path.relative_to(folder))
        for path in sorted(p for p in folder.rglob("*") if p.is_file())
        if any(spelling in path.read_bytes() for spelling in spellings(secret))
    ]
