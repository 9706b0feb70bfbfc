"""A student device's privacy report: who watched, captured or commanded it, and when.

Built only from the hash-chained audit log, so it says what the hub recorded, nothing
more: each staff command that named the device (a watch, a screenshot, a lock...), who
signed it, when, and how it ended on that device (the device's result, an expiry, or the
hub's refusal). Watches are leases a console renews while it keeps watching, so a long
watch shows as several rows. The device's own words (result details) are hostile text:
`as_text` makes them printable, and the JSON form leaves escaping to the JSON encoder.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Literal

from protocol.actions import ACTIONS
from protocol.certificates import ALL_GROUPS, CertificateBody, Role
from protocol.errors import ErrorCode
from protocol.limits import MAX_AUDIT_ACTOR, MAX_AUDIT_DETAIL, MAX_AUDIT_WORD, fit
from protocol.messages import Answer, Error, PrivacyLine, Query

from .audit import AuditRecord
from .store import Store

Kind = Literal["watched", "stopped watching", "captured", "commanded"]
_KINDS: dict[str, Kind] = {
    "watch": "watched",
    "unwatch": "stopped watching",
    "screenshot": "captured",
}
#: Rows read from the log at a time: the report walks the whole log, newest first.
_PAGE = 1000
_COMMAND_ID = re.compile(r"^command ([0-9a-f]+)")
_ACTOR = re.compile(r"^(?P<name>.*) \((?P<role>[a-z]+) (?P<serial>[0-9a-f]+)\)$")


@dataclass(frozen=True, slots=True)
class PrivacyEntry:
    """One thing a staff member did to the device, as the audit log recorded it."""

    at: int
    who: str
    role: str
    serial: str
    kind: Kind
    action: str
    command_id: str
    #: How it ended on this device: "ok", an error code, "expired", or the hub's routing.
    outcome: str
    detail: str


def _rows(store: Store) -> Iterator[AuditRecord]:
    before: int | None = None
    while page := store.audit(limit=_PAGE, before_seq=before):
        yield from page
        before = page[-1].seq


def privacy_report(store: Store, device_id: str) -> list[PrivacyEntry]:
    """Every staff command the audit log records for `device_id`, oldest first."""
    commands: list[AuditRecord] = []
    endings: dict[str, tuple[str, str]] = {}  # command id -> (outcome, detail) on this device
    for row in _rows(store):  # newest first: the newest ending of a command wins
        if device_id not in row.targets:
            continue
        match = _COMMAND_ID.match(row.detail)
        if match is None:
            continue
        if row.action in ACTIONS:
            commands.append(row)
        elif row.action in ("result", "expired") and len(row.targets) == 1:
            outcome = "expired" if row.action == "expired" else row.result
            detail = row.detail[match.end() :].removeprefix(":").strip()
            endings.setdefault(match[1], (outcome, detail))
    entries = []
    for row in reversed(commands):
        command_id = _COMMAND_ID.match(row.detail)[1]  # type: ignore[index]
        actor = _ACTOR.match(row.actor)
        name, role, serial = (
            (actor["name"], actor["role"], actor["serial"]) if actor else (row.actor, "", "")
        )
        # No result recorded: what the hub did with it (for one target, that is this device).
        routed = row.result if len(row.targets) == 1 else "sent, no result recorded"
        outcome, detail = endings.get(command_id, (routed, ""))
        entries.append(
            PrivacyEntry(
                at=row.at,
                who=name,
                role=role,
                serial=serial,
                kind=_KINDS.get(row.action, "commanded"),
                action=row.action,
                command_id=command_id,
                outcome=outcome,
                detail=detail,
            )
        )
    return entries


def _when(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _printable(text: str) -> str:
    return fit(text, max(len(text), 1), printable=True)


def as_text(device_name: str, entries: list[PrivacyEntry]) -> str:
    """The report for a person: one line per entry; every stored word made printable."""
    lines = [f"Privacy report for {_printable(device_name)}: {len(entries)} recorded"]
    for e in entries:
        what = e.kind if e.kind != "commanded" else f"commanded: {e.action}"
        role = f" ({e.role})" if e.role else ""
        detail = f": {e.detail}" if e.detail else ""
        lines.append(_printable(f"{_when(e.at)}  {e.who}{role} {what} -> {e.outcome}{detail}"))
    if not entries:
        lines.append("Nobody watched, captured or commanded this device.")
    return "\n".join(lines)


def as_json(device_id: str, device_name: str, entries: list[PrivacyEntry]) -> str:
    """The report as JSON (the encoder escapes control characters)."""
    report = {
        "device_id": device_id,
        "device": device_name,
        "entries": [asdict(e) for e in entries],
    }
    return json.dumps(report, indent=2)


def privacy_answer(store: Store, staff: CertificateBody, query: Query) -> Answer | Error:
    """The console's privacy report of one device (run on the store's thread).

    Like the whole audit log, it names staff of every group: school-wide IT and admins
    only. The newest `query.limit` lines, oldest first.
    """
    if staff.role not in (Role.ADMIN, Role.IT) or ALL_GROUPS not in staff.groups:
        message = "Privacy reports are for school-wide IT and admins; ask them for one."
        return Error(code=ErrorCode.ROLE_FORBIDDEN, message=message, ref=query.id)
    if query.device_id is None or store.device(query.device_id) is None:
        message = "Name an enrolled device for its privacy report."
        return Error(code=ErrorCode.UNKNOWN_DEVICE, message=message, ref=query.id)
    entries = privacy_report(store, query.device_id)[-query.limit :]
    return Answer(
        id=query.id,
        privacy=tuple(
            PrivacyLine(
                at=e.at,
                who=fit(e.who, MAX_AUDIT_ACTOR),
                role=fit(e.role, MAX_AUDIT_WORD),
                kind=e.kind,
                action=fit(e.action, MAX_AUDIT_WORD),
                outcome=fit(e.outcome, MAX_AUDIT_WORD),
                detail=fit(e.detail, MAX_AUDIT_DETAIL),
            )
            for e in entries
        ),
    )
