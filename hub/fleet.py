"""The hub's answers to IT: the fleet table, a device's history, and record changes.

Who may see what is decided here, on the hub: the fleet lists the devices a staff
member's groups cover; changing a record is for IT and admins covering the device's
group (teachers and guardians are refused), and every change is audited.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from protocol.certificates import CertificateBody, Role
from protocol.errors import ErrorCode
from protocol.fleet import FleetEntry
from protocol.limits import MAX_AUDIT_DETAIL, MAX_SHORT_TEXT, fit
from protocol.messages import Answer, Error, Query, SetDeviceRecord

from .lifecycle import LifeCycle, LifeRecord, RecordChange, RecordRefused
from .routing import _actor as routing_actor
from .store import DeviceRecord, Store

#: Who may change a device's asset tag, student and state.
RECORD_KEEPERS = frozenset({Role.ADMIN, Role.IT})
_FACT = 200


def staff_actor(staff: CertificateBody) -> str:
    """The name the audit log and the history give a staff member.

    The router's own: a teacher's audit entries are found by this name.
    """
    return routing_actor(staff)


def fleet_entry(device: DeviceRecord, record: LifeRecord, *, online: bool) -> FleetEntry:
    """One row of the fleet table from the stored record, inventory and facts."""
    inventory = _inventory(device.inventory_json)
    facts = dict(record.facts or {})
    os_name = " ".join(str(inventory.get(k, "")) for k in ("os", "os_version")).strip()
    return FleetEntry(
        device_id=device.device_id,
        name=device.name,
        group=device.group,
        asset_tag=record.asset_tag,
        student=record.student,
        state=record.state,
        loan_for=record.loan_for,
        online=online,
        last_seen=device.last_seen,
        agent_version=fit(str(inventory.get("agent_version", "")), _FACT),
        os=fit(os_name or facts.get("os", ""), _FACT),
        model=fit(facts.get("model", ""), _FACT),
        serial=fit(facts.get("serial number", ""), _FACT),
        battery=fit(facts.get("battery", ""), _FACT),
        disk_free=fit(_disk_free(facts), _FACT),
        facts_at=record.facts_at,
    )


def _inventory(text: str | None) -> Mapping[str, object]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _disk_free(facts: Mapping[str, str]) -> str:
    """The system disk's free space, e.g. "12.0 GB free of 64.0 GB", from the disk facts."""
    disks = sorted(k for k in facts if k.startswith("disk "))
    if not disks:
        return ""
    main = "disk /" if "disk /" in disks else disks[0]
    return facts[main].split(" (", 1)[0]


class FleetDesk:
    """Answers fleet and history queries and record changes for signed-in staff."""

    def __init__(self, store: Store, online: Callable[[str], bool]) -> None:
        self.store = store
        self.life = LifeCycle(store)
        self._online = online

    def answer(self, staff: CertificateBody, query: Query) -> Answer | Error:
        """The fleet table, or one device's history.

        A device outside the staff member's groups gets an Error by the query's id.
        """
        visible = [d for d in self.store.devices() if staff.covers_group(d.group)]
        if query.subject == "history":
            if query.device_id not in {d.device_id for d in visible}:
                return Error(
                    code=ErrorCode.GROUP_FORBIDDEN,
                    message="No such device in your groups.",
                    ref=query.id,
                )
            history = self.life.history(query.device_id or "", query.limit)
            return Answer(id=query.id, history=tuple(history))
        records = self.life.records()
        return Answer(
            id=query.id,
            fleet=tuple(
                fleet_entry(
                    d, records.get(d.device_id, LifeRecord()), online=self._online(d.device_id)
                )
                for d in visible[: query.limit]
            ),
        )

    def set_record(
        self, staff: CertificateBody, request: SetDeviceRecord, now: int
    ) -> Answer | Error:
        """Change one record for IT: the device's new fleet row, or an Error saying why not.

        Refusals carry their own sentence and the request's id (not the generic guidance),
        so the person who asked reads what to fix.
        """
        device = self.store.device(request.device_id)
        if device is None or not staff.covers_group(device.group):
            return _refusal(ErrorCode.GROUP_FORBIDDEN, "No such device in your groups.", request)
        actor = staff_actor(staff)
        if staff.role not in RECORD_KEEPERS:
            self.store.append_audit(
                actor, "device_record", [device.device_id], "role_forbidden", "", now
            )
            return _refusal(
                ErrorCode.ROLE_FORBIDDEN,
                "Device records are kept by IT and admins: ask them to make this change.",
                request,
            )
        change = RecordChange(
            request.device_id,
            asset_tag=request.asset_tag,
            student=request.student,
            state=request.state,
            loan_for=request.loan_for,
        )
        try:
            changes = self.life.change(change, actor=actor, now=now)
        except RecordRefused as refused:
            self.store.append_audit(
                actor,
                "device_record",
                [device.device_id],
                "refused",
                fit(str(refused), MAX_AUDIT_DETAIL),
                now,
            )
            return _refusal(ErrorCode.ACTION_FAILED, str(refused), request)
        described = "; ".join(f"{c.field}: {c.old!r} -> {c.new!r}" for c in changes)
        self.store.append_audit(
            actor,
            "device_record",
            [device.device_id],
            "ok",
            fit(described or "no change", MAX_AUDIT_DETAIL),
            now,
        )
        record = self.life.record(device.device_id)
        entry = fleet_entry(device, record, online=self._online(device.device_id))
        return Answer(id=request.id, fleet=(entry,))


def _refusal(code: ErrorCode, sentence: str, request: SetDeviceRecord) -> Error:
    """A refusal with its own sentence, by the request's id, so the console can say why."""
    return Error(code=code, message=fit(sentence, MAX_SHORT_TEXT), ref=request.id)
