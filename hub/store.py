"""The hub's persistent state in one SQLite file: tokens, devices, staff, classes, queue, audit."""

from __future__ import annotations

import hmac
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, get_args

from hub.audit import GENESIS_HASH, AuditRecord, chain_hash, first_broken_link

__all__ = [
    "AuditRecord",
    "ClassExists",
    "ClassRecord",
    "DeviceExists",
    "DeviceRecord",
    "QueuedCommand",
    "StaffExists",
    "StaffRecord",
    "Store",
    "StoreCorrupt",
    "StoreError",
    "StoreTooNew",
    "StoreUnavailable",
    "TokenExists",
    "TokenRecord",
    "TokenRefused",
    "TokenRefusedReason",
    "UnknownClass",
    "UnknownDevice",
    "UnknownStaff",
    "UnknownToken",
]

MEMORY: Final = ":memory:"


# ---------------------------------------------------------------------------
# Errors: every message is a sentence a person can act on.


class StoreError(Exception):
    """Base of every error the store raises on purpose."""


class StoreUnavailable(StoreError):
    """The database cannot be read or written right now (disk full, read-only, locked, I/O)."""


class StoreCorrupt(StoreError):
    """The file is damaged or is not a Homeroom database."""


class StoreTooNew(StoreError):
    """The file was written by a newer Homeroom than this one."""


TokenRefusedReason = Literal["unknown_token", "token_expired", "token_used_up", "bad_token_secret"]

_TOKEN_REFUSALS: Final[dict[str, str]] = {
    "unknown_token": "This enrollment token is not known to the hub (it may have been revoked); "
    "ask an administrator for a new one.",
    "token_expired": "This enrollment token has expired; ask an administrator for a new one.",
    "token_used_up": "This enrollment token has already been used as many times as allowed; "
    "ask an administrator for a new one.",
    "bad_token_secret": "This enrollment token's secret is wrong; copy the whole token again "
    "or ask an administrator for a new one.",
}


class TokenRefused(StoreError):
    """An enrollment token cannot be redeemed; `reason` is a stable code for the wire."""

    def __init__(self, reason: TokenRefusedReason) -> None:
        if reason not in get_args(TokenRefusedReason):
            raise ValueError(f"unknown token refusal reason {reason!r}")
        super().__init__(_TOKEN_REFUSALS[reason])
        self.reason: TokenRefusedReason = reason


class TokenExists(StoreError):
    """An enrollment token with this id is already recorded."""


class UnknownToken(StoreError):
    """No enrollment token has this id."""


class DeviceExists(StoreError):
    """This device id (or its key) is, or once was, enrolled."""


class UnknownDevice(StoreError):
    """No active device has this id."""


class StaffExists(StoreError):
    """A staff certificate with this serial is already recorded."""


class UnknownStaff(StoreError):
    """No staff certificate has this serial."""


class ClassExists(StoreError):
    """A class with this name already exists."""


class UnknownClass(StoreError):
    """No class has this name."""


def _unavailable_or_none(exc: sqlite3.Error, where: str) -> StoreError | None:
    """The StoreError a person should see for an environmental SQLite failure.

    Returns None for anything else (a constraint we did not expect, SQL misuse):
    those are bugs in the hub, and a traceback is the right report for them.
    """
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary == sqlite3.SQLITE_FULL:
        return StoreUnavailable(
            f"The hub could not save to {where} because the disk is full. "
            "Free disk space on that drive, then try again; nothing was half-saved."
        )
    if primary in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM):
        return StoreUnavailable(
            f"The hub cannot write to its database {where}. Make the file and its folder "
            "writable by the hub's user, check the drive has free disk space and is not mounted "
            "read-only, then try again; nothing was half-saved."
        )
    if primary == sqlite3.SQLITE_IOERR:
        return StoreUnavailable(
            f"A disk error stopped the hub using {where}. Check that the drive is still mounted, "
            "healthy and has free disk space, then restart the hub."
        )
    if primary == sqlite3.SQLITE_CANTOPEN:
        return StoreUnavailable(
            f"The hub could not open {where}. Check that the folder exists and that the hub's "
            "user may create and write files in it."
        )
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StoreUnavailable(
            f"The database {where} stayed locked by another program. Make sure only one hub "
            "uses this data folder and no backup tool holds the file open, then try again."
        )
    if primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return StoreCorrupt(
            f"{where} is damaged or is not a Homeroom database. Restore it from a backup, "
            "or move it aside so the hub starts with an empty one."
        )
    return None


# ---------------------------------------------------------------------------
# Records: plain, immutable values; the store knows nothing of the wire protocol.


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """An enrollment token as listed to an administrator (its secret hash is never listed)."""

    token_id: str
    group: str
    expires_at: int
    max_uses: int
    uses: int
    created_by: str
    created_at: int
    revoked: bool

    def is_usable(self, now: int) -> bool:
        """Whether redeeming it at `now` (with the right secret) would succeed."""
        return not self.revoked and now < self.expires_at and self.uses < self.max_uses


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """An enrolled student device; `removed_at` is set on the tombstone of a removed one."""

    device_id: str
    public_key: bytes
    name: str
    group: str
    enrolled_at: int
    last_seen: int
    removed_at: int | None
    user: str | None
    hostname: str | None
    inventory_json: str | None


@dataclass(frozen=True, slots=True)
class StaffRecord:
    """A staff certificate the organisation issued, as the hub recorded it."""

    serial: str
    name: str
    role: str
    groups: tuple[str, ...]
    expires_at: int
    issued_at: int
    revoked_at: int | None


@dataclass(frozen=True, slots=True)
class ClassRecord:
    """A class roster: its name, the device group it belongs to, and its devices."""

    name: str
    group: str
    created_at: int
    device_ids: tuple[str, ...]


_DEVICE_COLUMNS: Final = (
    "device_id, public_key, name, group_name, enrolled_at, last_seen, removed_at, "
    "user, hostname, inventory_json"
)
_TOKEN_COLUMNS: Final = (
    "token_id, group_name, expires_at, max_uses, uses, created_by, created_at, revoked"
)
_STAFF_COLUMNS: Final = "serial, name, role, groups_json, expires_at, issued_at, revoked_at"
_AUDIT_COLUMNS: Final = "seq, at, actor, action, targets_json, result, detail, prev_hash, hash"


@dataclass(frozen=True, slots=True)
class QueuedCommand:
    """A command kept for a device that was offline; `delivered_at` once it was sent."""

    device_id: str
    command_id: str
    payload: bytes
    expires_at: int
    sender: str
    delivered_at: int | None


_QUEUED_COLUMNS: Final = "device_id, command_id, payload, expires_at, sender, delivered_at"


def _queued(row: tuple[Any, ...]) -> QueuedCommand:
    device_id, command_id, payload, expires_at, sender, delivered_at = row
    return QueuedCommand(device_id, command_id, bytes(payload), expires_at, sender, delivered_at)


def _device(row: tuple[Any, ...]) -> DeviceRecord:
    return DeviceRecord(*row)


def _token(row: tuple[Any, ...]) -> TokenRecord:
    token_id, group, expires_at, max_uses, uses, created_by, created_at, revoked = row
    return TokenRecord(
        token_id, group, expires_at, max_uses, uses, created_by, created_at, bool(revoked)
    )


def _staff(row: tuple[Any, ...]) -> StaffRecord:
    serial, name, role, groups_json, expires_at, issued_at, revoked_at = row
    return StaffRecord(
        serial, name, role, tuple(json.loads(groups_json)), expires_at, issued_at, revoked_at
    )


def _audit(row: tuple[Any, ...]) -> AuditRecord:
    seq, at, actor, action, targets_json, result, detail, prev_hash, hash_ = row
    try:
        targets = tuple(json.loads(targets_json))
    except (TypeError, ValueError):
        # Only direct tampering produces this; keep the row readable so verify_audit can flag it.
        targets = (str(targets_json),)
    return AuditRecord(seq, at, actor, action, targets, result, detail, prev_hash, hash_)


def _json_list(items: list[str]) -> str:
    return json.dumps(list(items), separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------------------
# Schema. Each step takes the database from version i to i + 1 inside the one
# transaction that also records the new version, so a crash mid-migration
# leaves the old version intact. Append steps; never edit a released one.

_VERSION_1: Final = (
    """CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
    """CREATE TABLE enrollment_tokens (
        token_id TEXT PRIMARY KEY,
        secret_hash BLOB NOT NULL,
        group_name TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        max_uses INTEGER NOT NULL CHECK (max_uses >= 1),
        uses INTEGER NOT NULL DEFAULT 0 CHECK (uses BETWEEN 0 AND max_uses),
        created_by TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
    )""",
    # Rows are never deleted, only tombstoned: the primary key then refuses a
    # removed id forever, so a re-enrolled key cannot inherit old rights.
    """CREATE TABLE devices (
        device_id TEXT PRIMARY KEY,
        public_key BLOB NOT NULL UNIQUE,
        name TEXT NOT NULL,
        group_name TEXT NOT NULL,
        enrolled_at INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        removed_at INTEGER,
        user TEXT,
        hostname TEXT,
        inventory_json TEXT
    )""",
    # Names identify devices to teachers, so they are unique among active devices;
    # the partial index lets a removed device's name be reused.
    "CREATE UNIQUE INDEX devices_active_name ON devices (name) WHERE removed_at IS NULL",
    "CREATE INDEX devices_active_group ON devices (group_name, name) WHERE removed_at IS NULL",
    """CREATE TABLE staff (
        serial TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        groups_json TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        issued_at INTEGER NOT NULL,
        revoked_at INTEGER
    )""",
    "CREATE INDEX staff_revoked ON staff (serial) WHERE revoked_at IS NOT NULL",
    """CREATE TABLE classes (
        name TEXT PRIMARY KEY,
        group_name TEXT NOT NULL,
        created_at INTEGER NOT NULL
    )""",
    """CREATE TABLE class_members (
        class_name TEXT NOT NULL REFERENCES classes (name) ON DELETE CASCADE,
        device_id TEXT NOT NULL REFERENCES devices (device_id),
        UNIQUE (class_name, device_id)
    )""",
    "CREATE INDEX class_members_device ON class_members (device_id)",
    """CREATE TABLE queued_commands (
        seq INTEGER PRIMARY KEY,
        device_id TEXT NOT NULL REFERENCES devices (device_id),
        command_id TEXT NOT NULL,
        payload BLOB NOT NULL,
        expires_at INTEGER NOT NULL,
        UNIQUE (device_id, command_id)
    )""",
    "CREATE INDEX queued_commands_expiry ON queued_commands (expires_at)",
    """CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        targets_json TEXT NOT NULL,
        result TEXT NOT NULL,
        detail TEXT NOT NULL,
        prev_hash BLOB NOT NULL,
        hash BLOB NOT NULL
    )""",
    "CREATE INDEX audit_log_actor ON audit_log (actor, seq)",
    # Defence in depth against a bug in the hub: anyone with raw SQL access can
    # drop these triggers, which is what the hash chain is there to reveal.
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
)


def _create_version_1(db: sqlite3.Connection) -> None:
    # Statement by statement: executescript() would COMMIT the migration transaction.
    for statement in _VERSION_1:
        db.execute(statement)


def _add_delivery_and_replay(db: sqlite3.Connection) -> None:
    """Version 2: queued commands stay until their result (or expiry); nonces survive restarts."""
    # Who sent it (their certificate serial), to tell them of its result or its expiry
    # even after a restart; when it left the hub, so it leaves at most once.
    db.execute("ALTER TABLE queued_commands ADD COLUMN sender TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE queued_commands ADD COLUMN delivered_at INTEGER")
    db.execute(
        """CREATE TABLE replay_nonces (
            nonce BLOB PRIMARY KEY,
            expires_at INTEGER NOT NULL,
            issuer TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX replay_nonces_expiry ON replay_nonces (expires_at)")


# Each device's newest lock or unlock, so a lock is re-asserted whatever the device's own
# files say (hub/due_locks.py). A lock's signed envelope is kept once however many devices
# it names; an unlock is only remembered as newer, so it needs no envelope.
_LOCK_STATES: Final = (
    """CREATE TABLE lock_commands (
        command_id TEXT PRIMARY KEY,
        payload BLOB NOT NULL
    )""",
    """CREATE TABLE device_lock_states (
        device_id TEXT PRIMARY KEY REFERENCES devices (device_id),
        locked INTEGER NOT NULL CHECK (locked IN (0, 1)),
        issued_at INTEGER NOT NULL,
        command_id TEXT NOT NULL
    )""",
)


def _create_lock_states(db: sqlite3.Connection) -> None:
    for statement in _LOCK_STATES:
        db.execute(statement)


def _create_group_policies(db: sqlite3.Connection) -> None:
    """Version 4: each group's admin-signed policy, the newest only (hub/policy.py)."""
    db.execute(
        """CREATE TABLE group_policies (
            group_name TEXT PRIMARY KEY,
            sequence INTEGER NOT NULL,
            payload BLOB NOT NULL,
            set_at INTEGER NOT NULL
        )"""
    )


# _STEPS[i] migrates from version i to i + 1; the current version is len(_STEPS).
# A step that rebuilds a table must turn foreign keys off around it (outside the
# transaction) as SQLite's ALTER TABLE guide describes; none does yet.
_STEPS: list[Callable[[sqlite3.Connection], None]] = [
    _create_version_1,
    _add_delivery_and_replay,
    _create_lock_states,
    _create_group_policies,
]


def _schema_version(db: sqlite3.Connection) -> int:
    has_table = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if has_table is None:
        if db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is not None:
            raise StoreCorrupt(
                "This SQLite file is not a Homeroom database. Point the hub at its own "
                "data folder, or move the file aside so the hub starts with an empty one."
            )
        return 0
    row = db.execute("SELECT version FROM schema_version").fetchone()
    return 0 if row is None else int(row[0])


def _migrate(db: sqlite3.Connection, where: str) -> None:
    """Bring the schema up to date in one transaction (creating it in an empty file)."""
    # IMMEDIATE: two hubs started at once on a fresh file must not both create tables.
    db.execute("BEGIN IMMEDIATE")
    try:
        version = _schema_version(db)
        target = len(_STEPS)
        if version > target:
            raise StoreTooNew(
                f"{where} was written by a newer Homeroom (schema {version}; this hub knows "
                f"up to {target}). Upgrade this hub, or restore a backup made by this version."
            )
        if version < target:
            if version == 0:
                db.execute(
                    "CREATE TABLE schema_version ("
                    "only_row INTEGER PRIMARY KEY CHECK (only_row = 1), "
                    "version INTEGER NOT NULL)"
                )
            for step in _STEPS[version:]:
                step(db)
            db.execute(
                "INSERT INTO schema_version (only_row, version) VALUES (1, ?) "
                "ON CONFLICT (only_row) DO UPDATE SET version = excluded.version",
                (target,),
            )
        db.execute("COMMIT")
    except BaseException:
        _rollback_quietly(db)
        raise


def _rollback_quietly(db: sqlite3.Connection) -> None:
    # SQLite may already have rolled back by itself (it does on SQLITE_FULL and
    # some I/O errors); a second failure here must not hide the first one.
    if db.in_transaction:
        with suppress(sqlite3.Error):
            db.execute("ROLLBACK")


def _create_private_file(path: Path) -> None:
    """Create the database file readable by the hub's user only, if it does not exist.

    It holds names, usernames, inventories and the audit log of what staff saw:
    personal data that other local users have no business reading. SQLite gives
    its -wal and -shm files the same permissions as the database file.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


# ---------------------------------------------------------------------------


class Store:
    """The hub's SQLite store. Open with `Store.open(path)`; use as a context manager.

    One Store is one connection. Its methods block (use `asyncio.to_thread` from
    the event loop) and may be called from several threads: calls are serialised.
    Times are Unix seconds supplied by the caller; something "expires at" t is
    valid while now < t. Every write is one transaction: it happens completely
    or not at all, and failures of the disk surface as StoreUnavailable.
    """

    def __init__(self, db: sqlite3.Connection, where: str) -> None:
        """Wrap an already configured and migrated connection; use `Store.open`."""
        self._db = db
        self._where = where
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def open(cls, path: Path | str, *, busy_timeout: float = 5.0) -> Store:
        """Open (creating or migrating) the store at `path`, or in memory for ":memory:".

        `busy_timeout` is how long a write waits for another connection's write
        to finish before giving up with StoreUnavailable.
        """
        where = str(path)
        try:
            if where != MEMORY:
                _create_private_file(Path(where))
        except OSError as exc:
            raise StoreUnavailable(
                f"The hub could not create {where} ({exc.strerror}). Check that the folder "
                "exists, that the hub's user may write to it, and that the disk has free space."
            ) from exc
        try:
            # isolation_level=None: the store issues BEGIN/COMMIT itself, so the
            # sqlite3 module never opens or commits a transaction behind its back.
            db = sqlite3.connect(
                where, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            translated = _unavailable_or_none(exc, where)
            if translated is None:
                raise
            raise translated from exc
        try:
            cls._configure(db, where)
            _migrate(db, where)
        except sqlite3.Error as exc:
            db.close()
            translated = _unavailable_or_none(exc, where)
            if translated is None:
                raise
            raise translated from exc
        except BaseException:
            db.close()
            raise
        return cls(db, where)

    @staticmethod
    def _configure(db: sqlite3.Connection, where: str) -> None:
        # WAL: readers (console listings) never block the writer and vice versa.
        mode = str(db.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
        if mode != "wal" and where != MEMORY:
            raise StoreUnavailable(
                f"The hub could not put {where} in write-ahead-log mode (got {mode!r}). "
                "Keep the data folder on a local disk, not a network share, then restart."
            )
        # NORMAL is safe with WAL: a power cut may lose the last commits but never
        # corrupts the file, and it avoids an fsync on every write.
        db.execute("PRAGMA synchronous = NORMAL")
        # Off by default in SQLite, per connection; rosters and queues rely on it.
        db.execute("PRAGMA foreign_keys = ON")

    def close(self) -> None:
        """Close the connection; closing twice is harmless."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            # Cheap housekeeping SQLite recommends at close; a full disk must not stop closing.
            with suppress(sqlite3.Error):
                self._db.execute("PRAGMA optimize")
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """One transaction, committed if the block finishes, rolled back otherwise.

        Writes take the write lock up front (BEGIN IMMEDIATE): a read-then-write
        such as redeeming a token then cannot interleave with another
        connection's, and never fails half-way on a lock upgrade. Reads get one
        consistent snapshot across their statements.
        """
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield db
                except BaseException:
                    _rollback_quietly(db)
                    raise
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                _rollback_quietly(db)
                translated = _unavailable_or_none(exc, self._where)
                if translated is None:
                    raise
                raise translated from exc

    def schema_version(self) -> int:
        """The schema version of the open file."""
        with self._transaction(write=False) as db:
            return _schema_version(db)

    # -- settings ----------------------------------------------------------

    def get_setting(self, key: str) -> str | None:
        """The value stored under `key`, or None."""
        with self._transaction(write=False) as db:
            row = db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_setting(self, key: str, value: str) -> None:
        """Store `value` under `key`, replacing any earlier value."""
        with self._transaction(write=True) as db:
            db.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- enrollment tokens -------------------------------------------------

    def add_token(
        self,
        token_id: str,
        secret_hash: bytes,
        group: str,
        expires_at: int,
        max_uses: int,
        created_by: str,
        now: int,
    ) -> None:
        """Record a new enrollment token for `group`: `max_uses` uses, valid until `expires_at`."""
        if max_uses < 1:
            raise ValueError("max_uses must be at least 1")
        if expires_at <= now:
            raise ValueError("expires_at must be later than now")
        with self._transaction(write=True) as db:
            if db.execute(
                "SELECT 1 FROM enrollment_tokens WHERE token_id = ?", (token_id,)
            ).fetchone():
                raise TokenExists(
                    f"An enrollment token with id {token_id!r} already exists; "
                    "generate a new token instead."
                )
            db.execute(
                "INSERT INTO enrollment_tokens (token_id, secret_hash, group_name, expires_at,"
                " max_uses, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (token_id, secret_hash, group, expires_at, max_uses, created_by, now),
            )

    def redeem_token(self, token_id: str, secret_hash: bytes, now: int) -> str:
        """Check a token and count one use, atomically; return its group.

        Raises TokenRefused. The secret is checked before expiry and use count,
        so only someone holding the secret learns anything about the token's
        state, and a wrong secret never uses the token up.
        """
        with self._transaction(write=True) as db:
            row = db.execute(
                "SELECT secret_hash, group_name, expires_at, max_uses, uses, revoked "
                "FROM enrollment_tokens WHERE token_id = ?",
                (token_id,),
            ).fetchone()
            # A revoked token looks unknown: the agent has nothing to do differently.
            if row is None or row[5]:
                raise TokenRefused("unknown_token")
            stored_hash, group, expires_at, max_uses, uses, _ = row
            if not hmac.compare_digest(bytes(stored_hash), bytes(secret_hash)):
                raise TokenRefused("bad_token_secret")
            if now >= expires_at:
                raise TokenRefused("token_expired")
            if uses >= max_uses:
                raise TokenRefused("token_used_up")
            # The condition repeats the check so the database itself refuses a use past the limit.
            counted = db.execute(
                "UPDATE enrollment_tokens SET uses = uses + 1"
                " WHERE token_id = ? AND uses < max_uses",
                (token_id,),
            ).rowcount
            if counted != 1:
                raise TokenRefused("token_used_up")
            return str(group)

    def tokens(self) -> list[TokenRecord]:
        """Every enrollment token ever recorded (revoked and expired included), oldest first."""
        with self._transaction(write=False) as db:
            rows = db.execute(
                f"SELECT {_TOKEN_COLUMNS} FROM enrollment_tokens ORDER BY created_at, token_id"
            ).fetchall()
        return [_token(row) for row in rows]

    def revoke_token(self, token_id: str) -> None:
        """Make a token unusable from now on; revoking twice is harmless."""
        with self._transaction(write=True) as db:
            changed = db.execute(
                "UPDATE enrollment_tokens SET revoked = 1 WHERE token_id = ?", (token_id,)
            ).rowcount
            if changed == 0:
                raise UnknownToken(
                    f"There is no enrollment token {token_id!r}; list tokens to find its id."
                )

    # -- devices -----------------------------------------------------------

    def add_device(
        self, device_id: str, public_key: bytes, name: str, group: str, now: int
    ) -> DeviceRecord:
        """Enroll a device; its name gets " (2)", " (3)"... if another active device has it.

        Raises DeviceExists if this id or key is enrolled or ever was: an id is
        never reused, so a removed device cannot come back with its old rights.
        """
        if not name:
            raise ValueError("a device needs a non-empty name")
        with self._transaction(write=True) as db:
            clash = db.execute(
                "SELECT removed_at FROM devices WHERE device_id = ? OR public_key = ?",
                (device_id, public_key),
            ).fetchone()
            if clash is not None:
                was = "was removed" if clash[0] is not None else "is already enrolled"
                raise DeviceExists(
                    f"Device {device_id!r} {was}; a device key can be enrolled only once. "
                    "Have the agent generate a new key (re-install or reset it), then enroll again."
                )
            unique_name = self._free_device_name(db, name)
            db.execute(
                "INSERT INTO devices (device_id, public_key, name, group_name, enrolled_at,"
                " last_seen) VALUES (?, ?, ?, ?, ?, ?)",
                (device_id, public_key, unique_name, group, now, now),
            )
            return DeviceRecord(
                device_id, public_key, unique_name, group, now, now, None, None, None, None
            )

    @staticmethod
    def _free_device_name(db: sqlite3.Connection, name: str) -> str:
        candidate, n = name, 2
        # Inside the write transaction, so no other connection can take the name meanwhile.
        while db.execute(
            "SELECT 1 FROM devices WHERE name = ? AND removed_at IS NULL", (candidate,)
        ).fetchone():
            candidate, n = f"{name} ({n})", n + 1
        return candidate

    def device(self, device_id: str) -> DeviceRecord | None:
        """The active device with this id, or None (also for a removed one)."""
        with self._transaction(write=False) as db:
            row = db.execute(
                f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE device_id = ? AND removed_at IS NULL",
                (device_id,),
            ).fetchone()
        return None if row is None else _device(row)

    def devices(
        self, group: str | None = None, *, include_removed: bool = False
    ) -> list[DeviceRecord]:
        """Active devices (of one group, if given), by name; tombstones too if asked."""
        query = f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE 1"
        params: list[str] = []
        if not include_removed:
            query += " AND removed_at IS NULL"
        if group is not None:
            query += " AND group_name = ?"
            params.append(group)
        query += " ORDER BY name, device_id"
        with self._transaction(write=False) as db:
            rows = db.execute(query, params).fetchall()
        return [_device(row) for row in rows]

    def removed_device_ids(self) -> frozenset[str]:
        """Every removed device's id: one query, so housekeeping need not ask per device."""
        with self._transaction(write=False) as db:
            rows = db.execute("SELECT device_id FROM devices WHERE removed_at IS NOT NULL")
            return frozenset(row[0] for row in rows.fetchall())

    def mark_seen(
        self,
        device_id: str,
        now: int,
        *,
        hostname: str | None = None,
        user: str | None = None,
        inventory_json: str | None = None,
    ) -> None:
        """Record that a device was seen at `now`; given fields replace the stored ones."""
        with self._transaction(write=True) as db:
            # MAX: reports handled out of order must not move last_seen backwards.
            changed = db.execute(
                "UPDATE devices SET last_seen = MAX(last_seen, ?),"
                " hostname = COALESCE(?, hostname), user = COALESCE(?, user),"
                " inventory_json = COALESCE(?, inventory_json)"
                " WHERE device_id = ? AND removed_at IS NULL",
                (now, hostname, user, inventory_json, device_id),
            ).rowcount
            if changed == 0:
                raise self._unknown_device(device_id)

    def remove_device(self, device_id: str, now: int) -> None:
        """Tombstone a device: it leaves every class and its queued commands are dropped.

        Removing an already removed device is harmless and keeps the first time.
        """
        with self._transaction(write=True) as db:
            row = db.execute(
                "SELECT removed_at FROM devices WHERE device_id = ?", (device_id,)
            ).fetchone()
            if row is None:
                raise self._unknown_device(device_id)
            if row[0] is not None:
                return
            db.execute("DELETE FROM class_members WHERE device_id = ?", (device_id,))
            db.execute("DELETE FROM queued_commands WHERE device_id = ?", (device_id,))
            db.execute("DELETE FROM device_lock_states WHERE device_id = ?", (device_id,))
            db.execute("UPDATE devices SET removed_at = ? WHERE device_id = ?", (now, device_id))

    @staticmethod
    def _unknown_device(device_id: str) -> UnknownDevice:
        return UnknownDevice(
            f"There is no enrolled device {device_id!r} (it may have been removed); "
            "list devices to find the right one."
        )

    @staticmethod
    def _require_active_device(db: sqlite3.Connection, device_id: str) -> None:
        if not db.execute(
            "SELECT 1 FROM devices WHERE device_id = ? AND removed_at IS NULL", (device_id,)
        ).fetchone():
            raise Store._unknown_device(device_id)

    # -- staff certificates ------------------------------------------------

    def add_staff(
        self, serial: str, name: str, role: str, groups: list[str], expires_at: int, now: int
    ) -> None:
        """Record a staff certificate the organisation issued."""
        with self._transaction(write=True) as db:
            if db.execute("SELECT 1 FROM staff WHERE serial = ?", (serial,)).fetchone():
                raise StaffExists(
                    f"A staff certificate with serial {serial!r} is already recorded; "
                    "issue the new certificate with a fresh serial."
                )
            db.execute(
                "INSERT INTO staff (serial, name, role, groups_json, expires_at, issued_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (serial, name, role, _json_list(groups), expires_at, now),
            )

    def staff(self) -> list[StaffRecord]:
        """Every staff certificate recorded (revoked and expired included), oldest first."""
        with self._transaction(write=False) as db:
            rows = db.execute(
                f"SELECT {_STAFF_COLUMNS} FROM staff ORDER BY issued_at, serial"
            ).fetchall()
        return [_staff(row) for row in rows]

    def staff_member(self, serial: str) -> StaffRecord | None:
        """The recorded staff certificate with this serial, if the hub recorded one."""
        with self._transaction(write=False) as db:
            row = db.execute(
                f"SELECT {_STAFF_COLUMNS} FROM staff WHERE serial = ?", (serial,)
            ).fetchone()
        return None if row is None else _staff(row)

    def revoke_staff(self, serial: str, now: int) -> None:
        """Revoke a staff certificate, recorded or not; revoking twice keeps the first time.

        A serial the hub never recorded (a certificate minted from a stolen backup of
        the organisation key, say) is recorded as revoked, so it stays refused.
        """
        with self._transaction(write=True) as db:
            changed = db.execute(
                "UPDATE staff SET revoked_at = COALESCE(revoked_at, ?) WHERE serial = ?",
                (now, serial),
            ).rowcount
            if changed == 0:
                db.execute(
                    "INSERT INTO staff (serial, name, role, groups_json, expires_at, issued_at,"
                    " revoked_at) VALUES (?, '(not recorded)', 'unknown', '[]', 0, ?, ?)",
                    (serial, now, now),
                )

    def revoked_serials(self) -> frozenset[str]:
        """Serials of every revoked staff certificate."""
        with self._transaction(write=False) as db:
            rows = db.execute("SELECT serial FROM staff WHERE revoked_at IS NOT NULL").fetchall()
        return frozenset(str(row[0]) for row in rows)

    # -- classes -----------------------------------------------------------

    def create_class(self, name: str, group: str, now: int) -> None:
        """Create an empty class roster."""
        with self._transaction(write=True) as db:
            if db.execute("SELECT 1 FROM classes WHERE name = ?", (name,)).fetchone():
                raise ClassExists(f"A class named {name!r} already exists; choose another name.")
            db.execute(
                "INSERT INTO classes (name, group_name, created_at) VALUES (?, ?, ?)",
                (name, group, now),
            )

    def delete_class(self, name: str) -> None:
        """Delete a class roster (its devices stay enrolled)."""
        with self._transaction(write=True) as db:
            self._require_class(db, name)
            db.execute("DELETE FROM classes WHERE name = ?", (name,))

    def add_to_class(self, class_name: str, device_id: str) -> None:
        """Put an active device on a class roster; adding it twice is harmless."""
        with self._transaction(write=True) as db:
            self._require_class(db, class_name)
            self._require_active_device(db, device_id)
            db.execute(
                "INSERT OR IGNORE INTO class_members (class_name, device_id) VALUES (?, ?)",
                (class_name, device_id),
            )

    def remove_from_class(self, class_name: str, device_id: str) -> None:
        """Take a device off a class roster; a device not on it is ignored."""
        with self._transaction(write=True) as db:
            self._require_class(db, class_name)
            db.execute(
                "DELETE FROM class_members WHERE class_name = ? AND device_id = ?",
                (class_name, device_id),
            )

    def classes(self) -> list[ClassRecord]:
        """Every class with its devices, by class name; devices in the order added."""
        with self._transaction(write=False) as db:
            class_rows = db.execute(
                "SELECT name, group_name, created_at FROM classes ORDER BY name"
            ).fetchall()
            member_rows = db.execute(
                "SELECT class_name, device_id FROM class_members ORDER BY rowid"
            ).fetchall()
        members: dict[str, list[str]] = {}
        for class_name, device_id in member_rows:
            members.setdefault(class_name, []).append(device_id)
        return [
            ClassRecord(name, group, created_at, tuple(members.get(name, ())))
            for name, group, created_at in class_rows
        ]

    def class_members(self, name: str) -> list[str]:
        """Device ids on a class roster, in the order added."""
        with self._transaction(write=False) as db:
            self._require_class(db, name)
            rows = db.execute(
                "SELECT device_id FROM class_members WHERE class_name = ? ORDER BY rowid", (name,)
            ).fetchall()
        return [str(row[0]) for row in rows]

    @staticmethod
    def _require_class(db: sqlite3.Connection, name: str) -> None:
        if not db.execute("SELECT 1 FROM classes WHERE name = ?", (name,)).fetchone():
            raise UnknownClass(f"There is no class named {name!r}; list classes to find it.")

    # -- queued commands ---------------------------------------------------

    def queue_command(
        self, device_id: str, command_id: str, payload: bytes, expires_at: int, *, sender: str = ""
    ) -> bool:
        """Keep a command for an offline device until its result comes or `expires_at` passes.

        `sender` names who sent it (a certificate serial), to tell them how it ended.
        Returns False (and keeps the first payload) if this command id is already
        queued for the device, so a retried send does not deliver twice.
        """
        with self._transaction(write=True) as db:
            self._require_active_device(db, device_id)
            inserted = db.execute(
                "INSERT OR IGNORE INTO queued_commands"
                " (device_id, command_id, payload, expires_at, sender) VALUES (?, ?, ?, ?, ?)",
                (device_id, command_id, payload, expires_at, sender),
            ).rowcount
        return inserted == 1

    def deliver_queued(self, device_id: str, now: int) -> list[QueuedCommand]:
        """Claim a device's unexpired commands not yet delivered, oldest first, to send now.

        Each is marked delivered in the same transaction, before it is sent: a command
        leaves the hub at most once, even if the hub dies while sending. It stays in the
        store, delivered, until its result comes (`settle_queued`) or it expires.
        """
        with self._transaction(write=True) as db:
            rows = db.execute(
                f"SELECT {_QUEUED_COLUMNS} FROM queued_commands WHERE device_id = ?"
                " AND delivered_at IS NULL AND expires_at > ? ORDER BY seq",
                (device_id, now),
            ).fetchall()
            db.execute(
                "UPDATE queued_commands SET delivered_at = ?"
                " WHERE device_id = ? AND delivered_at IS NULL AND expires_at > ?",
                (now, device_id, now),
            )
        return [_queued(row) for row in rows]

    def settle_queued(self, device_id: str, command_id: str) -> QueuedCommand | None:
        """Remove a queued command whose result came; None if it was not queued (or is gone)."""
        with self._transaction(write=True) as db:
            row = db.execute(
                f"SELECT {_QUEUED_COLUMNS} FROM queued_commands"
                " WHERE device_id = ? AND command_id = ?",
                (device_id, command_id),
            ).fetchone()
            if row is not None:
                db.execute(
                    "DELETE FROM queued_commands WHERE device_id = ? AND command_id = ?",
                    (device_id, command_id),
                )
        return None if row is None else _queued(row)

    def queued(self, device_id: str | None = None) -> list[QueuedCommand]:
        """Every queued command (of one device, if given), delivered or not, oldest first."""
        query = f"SELECT {_QUEUED_COLUMNS} FROM queued_commands"
        params: tuple[str, ...] = ()
        if device_id is not None:
            query += " WHERE device_id = ?"
            params = (device_id,)
        with self._transaction(write=False) as db:
            rows = db.execute(query + " ORDER BY seq", params).fetchall()
        return [_queued(row) for row in rows]

    def expired_queued(self, now: int, *, late_results: int = 0) -> list[QueuedCommand]:
        """Queued commands past their expiry, to report to their senders; oldest first.

        One already delivered is given `late_results` seconds more, since its result may
        still be on its way (clocks differ).
        """
        with self._transaction(write=False) as db:
            rows = db.execute(
                f"SELECT {_QUEUED_COLUMNS} FROM queued_commands WHERE expires_at"
                " + CASE WHEN delivered_at IS NULL THEN 0 ELSE ? END <= ? ORDER BY seq",
                (late_results, now),
            ).fetchall()
        return [_queued(row) for row in rows]

    def purge_expired(self, now: int) -> int:
        """Drop every queued command that expired by `now`; return how many."""
        with self._transaction(write=True) as db:
            return db.execute("DELETE FROM queued_commands WHERE expires_at <= ?", (now,)).rowcount

    # -- lock states -------------------------------------------------------

    def record_lock_state(
        self,
        device_ids: list[str],
        *,
        locked: bool,
        command_id: str,
        issued_at: int,
        payload: bytes = b"",
    ) -> None:
        """Remember a routed lock (its signed `payload`) or unlock for each active device.

        A device keeps whichever of its lock and unlock commands was issued last; of two
        issued in the same second, the one recorded last. Unknown devices are skipped.
        """
        with self._transaction(write=True) as db:
            if locked:
                db.execute(
                    "INSERT OR IGNORE INTO lock_commands (command_id, payload) VALUES (?, ?)",
                    (command_id, payload),
                )
            for device_id in device_ids:
                db.execute(
                    "INSERT INTO device_lock_states (device_id, locked, issued_at, command_id)"
                    " SELECT device_id, ?, ?, ? FROM devices"
                    " WHERE device_id = ? AND removed_at IS NULL"
                    " ON CONFLICT (device_id) DO UPDATE SET locked = excluded.locked,"
                    " issued_at = excluded.issued_at, command_id = excluded.command_id"
                    " WHERE excluded.issued_at >= device_lock_states.issued_at",
                    (int(locked), issued_at, command_id, device_id),
                )
            # Envelopes no device is locked by any more are not kept.
            db.execute(
                "DELETE FROM lock_commands WHERE command_id NOT IN"
                " (SELECT command_id FROM device_lock_states WHERE locked = 1)"
            )

    def due_lock(self, device_id: str) -> bytes | None:
        """The signed lock a device should be under, or None if its newest command unlocked it."""
        with self._transaction(write=False) as db:
            row = db.execute(
                "SELECT payload FROM device_lock_states JOIN lock_commands USING (command_id)"
                " WHERE device_id = ? AND locked = 1",
                (device_id,),
            ).fetchone()
        return None if row is None else bytes(row[0])

    # -- the hub's replay cache ----------------------------------------------

    # -- group policies (hub/policy.py verifies them; the store keeps the newest) --------

    def set_policy(self, group: str, sequence: int, payload: bytes, now: int) -> bool:
        """Keep `payload` as `group`'s policy if `sequence` is newer; whether it was."""
        with self._transaction(write=True) as db:
            return (
                db.execute(
                    "INSERT INTO group_policies (group_name, sequence, payload, set_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (group_name) DO UPDATE SET"
                    " sequence = excluded.sequence, payload = excluded.payload,"
                    " set_at = excluded.set_at WHERE excluded.sequence > group_policies.sequence",
                    (group, sequence, payload, now),
                ).rowcount
                == 1
            )

    def policy(self, group: str) -> bytes | None:
        """The signed policy kept for `group`, if any."""
        with self._transaction(write=False) as db:
            row = db.execute(
                "SELECT payload FROM group_policies WHERE group_name = ?", (group,)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def policy_sequences(self) -> dict[str, int]:
        """Each group with a policy, and that policy's sequence (one cheap query a round)."""
        with self._transaction(write=False) as db:
            rows = db.execute("SELECT group_name, sequence FROM group_policies").fetchall()
        return {str(group): int(sequence) for group, sequence in rows}

    def remember_nonce(self, nonce: bytes, expires_at: int, issuer: str) -> None:
        """Record a routed command's nonce, so a restarted hub still refuses a replay of it."""
        with self._transaction(write=True) as db:
            db.execute(
                "INSERT OR IGNORE INTO replay_nonces (nonce, expires_at, issuer) VALUES (?, ?, ?)",
                (nonce, expires_at, issuer),
            )

    def forget_nonces(self, until: int) -> None:
        """Drop the nonces of commands that expired by `until` (they are refused anyway)."""
        with self._transaction(write=True) as db:
            db.execute("DELETE FROM replay_nonces WHERE expires_at <= ?", (until,))

    def live_nonces(self, since: int) -> list[tuple[bytes, int, str]]:
        """(nonce, expires_at, issuer) of commands that expire after `since`."""
        with self._transaction(write=False) as db:
            rows = db.execute(
                "SELECT nonce, expires_at, issuer FROM replay_nonces WHERE expires_at > ?",
                (since,),
            ).fetchall()
        return [(bytes(n), int(e), str(i)) for n, e, i in rows]

    # -- audit log ---------------------------------------------------------

    def append_audit(
        self,
        actor: str,
        action: str,
        targets: list[str],
        result: str,
        detail: str,
        now: int,
    ) -> AuditRecord:
        """Append one entry to the hash-chained audit log and return it."""
        target_tuple = tuple(targets)
        with self._transaction(write=True) as db:
            # The head is read inside the write transaction, so the chain never forks.
            head = db.execute(
                "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            seq, prev_hash = (1, GENESIS_HASH) if head is None else (head[0] + 1, bytes(head[1]))
            digest = chain_hash(prev_hash, seq, now, actor, action, target_tuple, result, detail)
            db.execute(
                f"INSERT INTO audit_log ({_AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (seq, now, actor, action, _json_list(targets), result, detail, prev_hash, digest),
            )
        return AuditRecord(seq, now, actor, action, target_tuple, result, detail, prev_hash, digest)

    def audit(
        self, limit: int = 100, actor: str | None = None, *, before_seq: int | None = None
    ) -> list[AuditRecord]:
        """Up to `limit` entries, newest first, optionally by one actor or older than a seq."""
        if limit < 0:
            raise ValueError("limit must not be negative")
        query = f"SELECT {_AUDIT_COLUMNS} FROM audit_log WHERE 1"
        params: list[object] = []
        if actor is not None:
            query += " AND actor = ?"
            params.append(actor)
        if before_seq is not None:
            query += " AND seq < ?"
            params.append(before_seq)
        query += " ORDER BY seq DESC LIMIT ?"
        params.append(limit)
        with self._transaction(write=False) as db:
            rows = db.execute(query, params).fetchall()
        return [_audit(row) for row in rows]

    def audit_head(self) -> tuple[int, bytes] | None:
        """The newest entry's (seq, hash), to keep outside the hub and detect truncation."""
        with self._transaction(write=False) as db:
            row = db.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def verify_audit(self) -> int | None:
        """None if the whole chain is intact, else the seq of the first row that breaks it.

        This Store's other calls wait while it reads the whole log; for a large
        log, verify from a second Store opened on the same file.
        """
        with self._transaction(write=False) as db:
            # Streamed, not fetched whole: the log grows for years.
            rows = db.execute(f"SELECT {_AUDIT_COLUMNS} FROM audit_log ORDER BY seq")
            return first_broken_link(_audit(row) for row in rows)
