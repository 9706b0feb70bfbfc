"""The audit log's hash chain: record type, canonical encoding and verification."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# The chain starts from a fixed, all-zero link so the first row is hashed like every other.
GENESIS_HASH = bytes(32)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One thing a person (or the hub on their behalf) did, as stored in the log."""

    seq: int
    at: int
    actor: str
    action: str
    targets: tuple[str, ...]
    result: str
    detail: str
    prev_hash: bytes
    hash: bytes


def canonical_audit_bytes(
    seq: int,
    at: int,
    actor: str,
    action: str,
    targets: Sequence[str],
    result: str,
    detail: str,
) -> bytes:
    """The exact bytes hashed for one row.

    JSON quotes and escapes every string, so no choice of field values can move
    a boundary ("ab" + "c" never encodes like "a" + "bc"). The sequence number is
    hashed too, so rows cannot be reordered or renumbered without detection.
    This encoding is shared by every store backend; changing it breaks old chains.
    """
    fields = {
        "seq": seq,
        "at": at,
        "actor": actor,
        "action": action,
        "targets": list(targets),
        "result": result,
        "detail": detail,
    }
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def chain_hash(
    prev_hash: bytes,
    seq: int,
    at: int,
    actor: str,
    action: str,
    targets: Sequence[str],
    result: str,
    detail: str,
) -> bytes:
    """sha256(prev_hash || canonical row); prev_hash is always 32 bytes, so the join is fixed."""
    if len(prev_hash) != len(GENESIS_HASH):
        raise ValueError("prev_hash must be a 32-byte SHA-256 digest")
    digest = hashlib.sha256(prev_hash)
    digest.update(canonical_audit_bytes(seq, at, actor, action, targets, result, detail))
    return digest.digest()


def first_broken_link(records: Iterable[AuditRecord]) -> int | None:
    """The seq of the first record that breaks the chain, or None if it is intact.

    `records` must come in ascending seq order, starting from the first row ever
    written. A row altered in place fails its own hash; a row deleted from the
    middle or the start shows as a gap in seq (and a prev_hash mismatch) at the
    next row. Deleting rows from the end is not detectable from the rows alone:
    compare the head (seq, hash) against a copy kept elsewhere for that.
    """
    expected_seq = 1
    expected_prev = GENESIS_HASH
    for record in records:
        if record.seq != expected_seq or record.prev_hash != expected_prev:
            return record.seq
        try:
            recomputed = chain_hash(
                record.prev_hash,
                record.seq,
                record.at,
                record.actor,
                record.action,
                record.targets,
                record.result,
                record.detail,
            )
        except (TypeError, ValueError, UnicodeError):
            # A field whose type was changed behind our back cannot be hashed: that is tampering.
            return record.seq
        if recomputed != record.hash:
            return record.seq
        expected_seq += 1
        expected_prev = record.hash
    return None
