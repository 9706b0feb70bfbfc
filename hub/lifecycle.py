"""Each device's life cycle (asset tag, assigned student, state) with its dated history.

Kept in the hub's SQLite file, in tables of its own beside the store's, written in the
store's transactions: a record and its history rows change together or not at all, and a
CSV import is one transaction, so a file with one bad line changes nothing. The newest
facts a device sent (system information, diagnostics) are kept here too, for the fleet
table: model, serial, battery and disk are known even while the device is offline.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import msgspec

from protocol.fleet import MAX_ASSET_TAG, AssetTag, LifeChange, LifeState, StudentName
from protocol.limits import fit

from .store import Store

_TABLES: Final = (
    # device_id is not a foreign key to devices: a removed device keeps its tombstone row
    # there, and its record and history here, for the inventory's sake.
    """CREATE TABLE IF NOT EXISTS device_life (
        device_id TEXT PRIMARY KEY,
        asset_tag TEXT NOT NULL DEFAULT '',
        student TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL DEFAULT 'in_service',
        loan_for TEXT,
        facts_json TEXT,
        facts_at INTEGER NOT NULL DEFAULT 0
    )""",
    # Tags are printed on labels: two devices with one tag would send IT to the wrong desk.
    "CREATE UNIQUE INDEX IF NOT EXISTS device_life_tag ON device_life (asset_tag)"
    " WHERE asset_tag != ''",
    """CREATE TABLE IF NOT EXISTS device_life_history (
        seq INTEGER PRIMARY KEY,
        device_id TEXT NOT NULL,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        field TEXT NOT NULL,
        old TEXT NOT NULL,
        new TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS device_life_history_device ON device_life_history (device_id, seq)",
)

#: The columns a CSV import reads; `name` (or `device_id`) says which device a line is for.
IMPORT_COLUMNS: Final = ("name", "device_id", "asset_tag", "student", "state")


class RecordRefused(ValueError):
    """A change IT asked for that cannot be made; the message says why and what to do."""


class ImportRefused(ValueError):
    """A CSV file with bad lines: one sentence per line, nothing imported."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class LifeRecord:
    """A device's life-cycle record (the defaults for a device nobody has touched yet)."""

    asset_tag: str = ""
    student: str = ""
    state: LifeState = LifeState.IN_SERVICE
    loan_for: str | None = None
    facts: Mapping[str, str] | None = None
    facts_at: int = 0


@dataclass(frozen=True, slots=True)
class RecordChange:
    """What IT asks to change on one device; None leaves a field as it is."""

    device_id: str
    asset_tag: str | None = None
    student: str | None = None
    state: LifeState | None = None
    loan_for: str | None = None


def _record(row: tuple[Any, ...]) -> LifeRecord:
    asset_tag, student, state, loan_for, facts_json, facts_at = row
    facts = json.loads(facts_json) if facts_json else None
    return LifeRecord(asset_tag, student, LifeState(state), loan_for, facts, facts_at)


class LifeCycle:
    """Life-cycle records over the hub's store. Create once per Store (creates its tables)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        # The store's own transaction, so these tables share its lock and its file.
        with store._transaction(write=True) as db:
            for statement in _TABLES:
                db.execute(statement)

    def record(self, device_id: str) -> LifeRecord:
        return self.records([device_id]).get(device_id, LifeRecord())

    def records(self, device_ids: Iterable[str] | None = None) -> dict[str, LifeRecord]:
        """Records by device id; devices nobody touched are absent (use LifeRecord())."""
        query = (
            "SELECT device_id, asset_tag, student, state, loan_for, facts_json, facts_at"
            " FROM device_life"
        )
        with self.store._transaction(write=False) as db:
            rows = db.execute(query).fetchall()
        wanted = None if device_ids is None else set(device_ids)
        return {str(row[0]): _record(row[1:]) for row in rows if wanted is None or row[0] in wanted}

    def history(self, device_id: str, limit: int = 1000) -> list[LifeChange]:
        """The device's changes, newest first."""
        with self.store._transaction(write=False) as db:
            rows = db.execute(
                "SELECT at, actor, device_id, field, old, new FROM device_life_history"
                " WHERE device_id = ? ORDER BY seq DESC LIMIT ?",
                (device_id, limit),
            ).fetchall()
        return [
            LifeChange(
                at=at,
                actor=fit(actor, 256),
                device_id=device,
                field=field,
                old=fit(old, 200),
                new=fit(new, 200),
            )
            for at, actor, device, field, old, new in rows
        ]

    def change(self, change: RecordChange, *, actor: str, now: int) -> list[LifeChange]:
        """Apply one change (checked first); returns what changed, as history rows."""
        return self.change_many([change], actor=actor, now=now)

    def change_many(self, changes: list[RecordChange], *, actor: str, now: int) -> list[LifeChange]:
        """Apply every change in one transaction, or none (RecordRefused says which failed)."""
        done: list[LifeChange] = []
        with self.store._transaction(write=True) as db:
            active = {
                str(row[0]): str(row[1])
                for row in db.execute(
                    "SELECT device_id, name FROM devices WHERE removed_at IS NULL"
                )
            }
            for change in changes:
                done += self._apply(db, change, active, actor=actor, now=now)
        return done

    def _apply(
        self,
        db: sqlite3.Connection,
        change: RecordChange,
        active: Mapping[str, str],
        *,
        actor: str,
        now: int,
    ) -> list[LifeChange]:
        device_id = change.device_id
        if device_id not in active:
            raise RecordRefused(
                f"no enrolled device {device_id[:16]}: list them with homeroom-hub devices"
            )
        row = db.execute(
            "SELECT asset_tag, student, state, loan_for, facts_json, facts_at"
            " FROM device_life WHERE device_id = ?",
            (device_id,),
        ).fetchone()
        old = LifeRecord() if row is None else _record(row)
        state = old.state if change.state is None else change.state
        loan_for = change.loan_for if change.state is not None else old.loan_for
        if state is not LifeState.ON_LOAN:
            loan_for = None
        elif loan_for is None or loan_for == device_id or loan_for not in active:
            raise RecordRefused(
                f"{active[device_id]}: a loan replaces another enrolled device; "
                "name the device it stands in for"
            )
        new = replace(
            old,
            asset_tag=old.asset_tag if change.asset_tag is None else change.asset_tag,
            student=old.student if change.student is None else change.student,
            state=state,
            loan_for=loan_for,
        )
        if new.asset_tag and new.asset_tag != old.asset_tag:
            holder = db.execute(
                "SELECT device_id FROM device_life WHERE asset_tag = ? AND device_id != ?",
                (new.asset_tag, device_id),
            ).fetchone()
            if holder is not None:
                other = active.get(str(holder[0]), str(holder[0])[:16])
                raise RecordRefused(
                    f"asset tag {new.asset_tag} is already on {other}: "
                    "clear it there first, or choose another tag"
                )
        db.execute(
            "INSERT INTO device_life (device_id, asset_tag, student, state, loan_for)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET"
            " asset_tag = excluded.asset_tag, student = excluded.student,"
            " state = excluded.state, loan_for = excluded.loan_for",
            (device_id, new.asset_tag, new.student, new.state.value, new.loan_for),
        )
        changes = []
        for field, before, after in (
            ("asset_tag", old.asset_tag, new.asset_tag),
            ("student", old.student, new.student),
            ("state", old.state.value, new.state.value),
            ("loan_for", active.get(old.loan_for or "", ""), active.get(new.loan_for or "", "")),
        ):
            if before != after:
                db.execute(
                    "INSERT INTO device_life_history (device_id, at, actor, field, old, new)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (device_id, now, actor, field, before, after),
                )
                changes.append(
                    LifeChange(
                        at=now,
                        actor=fit(actor, 256),
                        device_id=device_id,
                        field=field,
                        old=fit(before, 200),
                        new=fit(after, 200),
                    )
                )
        return changes

    def remember_facts(self, device_id: str, facts: Mapping[str, str], now: int) -> None:
        """Keep the newest value of each fact a device sent, for the fleet table."""
        with self.store._transaction(write=True) as db:
            row = db.execute(
                "SELECT facts_json FROM device_life WHERE device_id = ?", (device_id,)
            ).fetchone()
            kept = json.loads(row[0]) if row and row[0] else {}
            kept.update(facts)
            db.execute(
                "INSERT INTO device_life (device_id, facts_json, facts_at) VALUES (?, ?, ?)"
                " ON CONFLICT (device_id) DO UPDATE SET facts_json = excluded.facts_json,"
                " facts_at = excluded.facts_at",
                (device_id, json.dumps(kept, ensure_ascii=False), now),
            )


def parse_import(text: str, devices: Mapping[str, str]) -> list[RecordChange]:
    """The changes a CSV file asks for, or ImportRefused naming every bad line.

    `devices` maps each enrolled device's name to its id. The file has a header line
    with `name` (or `device_id`) and any of `asset_tag`, `student`, `state`; an empty
    cell leaves that field as it is.
    """
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    unknown = [c for c in header if c not in IMPORT_COLUMNS]
    if not header or unknown or not {"name", "device_id"} & set(header):
        return _refuse_header(header, unknown)
    errors: list[str] = []
    changes: list[RecordChange] = []
    tags: dict[str, int] = {}
    ids = set(devices.values())
    for row in reader:
        line = reader.line_num
        if None in row:
            errors.append(f"line {line}: more cells than the header names")
            continue
        cells = {k: (v or "").strip() for k, v in row.items()}
        if not any(cells.values()):
            continue  # blank lines are harmless
        device_id = cells.get("device_id") or devices.get(cells.get("name", ""), "")
        if device_id not in ids:
            who = cells.get("name") or cells.get("device_id") or "(no name)"
            errors.append(f"line {line}: no enrolled device {who!r}; check the name")
            continue
        try:
            change = _change(device_id, cells)
        except ValueError as error:
            errors.append(f"line {line}: {error}")
            continue
        if change.asset_tag:
            if change.asset_tag in tags:
                errors.append(
                    f"line {line}: asset tag {change.asset_tag} is also on line "
                    f"{tags[change.asset_tag]}; each tag belongs to one device"
                )
                continue
            tags[change.asset_tag] = line
        changes.append(change)
    if errors:
        raise ImportRefused(errors)
    return changes


def _refuse_header(header: Sequence[str], unknown: list[str]) -> list[RecordChange]:
    wanted = ", ".join(IMPORT_COLUMNS)
    if unknown:
        raise ImportRefused([f"line 1: unknown column {unknown[0]!r}; the columns are {wanted}"])
    raise ImportRefused([f"line 1: the header must name a name or device_id column ({wanted})"])


def _change(device_id: str, cells: Mapping[str, str]) -> RecordChange:
    tag = cells.get("asset_tag") or None
    student = cells.get("student") or None
    state_word = cells.get("state") or None
    if tag is not None:
        tag = checked_tag(tag)
    if student is not None:
        student = checked_student(student)
    state = None
    if state_word is not None:
        try:
            state = LifeState(state_word.replace(" ", "_").lower())
        except ValueError:
            words = ", ".join(s.value for s in LifeState)
            raise ValueError(f"state {state_word!r} is not one of {words}") from None
        if state is LifeState.ON_LOAN:
            raise ValueError("on_loan needs the device it replaces: set it with devices set")
    return RecordChange(device_id, asset_tag=tag, student=student, state=state)


def checked_tag(tag: str) -> str:
    """`tag` if it may go on a label, else ValueError with the rule."""
    rule = f"asset tag {tag!r}: up to {MAX_ASSET_TAG} letters, digits, '.', '_', '/' or '-'"
    return _checked(tag, AssetTag, rule)


def checked_student(student: str) -> str:
    """`student` if it is a valid assignment, else ValueError with the rule."""
    return _checked(student, StudentName, "student: up to 80 printable characters")


def _checked(value: str, kind: object, rule: str) -> str:
    try:
        return str(msgspec.convert(value, kind))
    except msgspec.ValidationError:
        raise ValueError(rule) from None
