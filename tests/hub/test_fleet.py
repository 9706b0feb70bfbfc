"""The fleet on a real hub: life-cycle records, their history, facts kept, who sees the audit."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.lifecycle import ImportRefused, LifeCycle, RecordChange, RecordRefused, parse_import
from protocol.actions import GetSystemInfo, LockScreen
from protocol.certificates import Role
from protocol.fleet import LifeState
from protocol.messages import Answer, Error, Result

from ..classroom import Classroom, classroom


@pytest.fixture
async def room(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with classroom(tmp_path) as room:
        yield room


async def test_it_sets_a_record_and_the_history_names_who_changed_what(room: Classroom) -> None:
    ada = (await room.start_agent("Ada's laptop")).state.device_id
    spare = (await room.start_agent("Spare 1")).state.device_id
    it = await room.console(room.staff("Sam", Role.IT, ("*",)))
    asked = await it.session.set_record(ada, asset_tag="HR-0001", student="Ada Lovelace")
    answer = await it.take(Answer, lambda a: a.id == asked)
    [entry] = answer.fleet
    assert (entry.asset_tag, entry.student, entry.state) == (
        "HR-0001",
        "Ada Lovelace",
        "in_service",
    )
    asked = await it.session.set_record(ada, state=LifeState.IN_REPAIR)
    await it.take(Answer, lambda a: a.id == asked)
    asked = await it.session.set_record(spare, state=LifeState.ON_LOAN, loan_for=ada)
    [loan] = (await it.take(Answer, lambda a: a.id == asked)).fleet
    assert loan.state is LifeState.ON_LOAN and loan.loan_for == ada

    asked = await it.session.query("history", device_id=ada)
    history = (await it.take(Answer, lambda a: a.id == asked)).history
    assert [(c.field, c.old, c.new) for c in history] == [
        ("state", "in_service", "in_repair"),
        ("student", "", "Ada Lovelace"),
        ("asset_tag", "", "HR-0001"),
    ]
    assert all(c.actor.startswith("Sam (it ") and c.at > 0 for c in history)
    # The same tag on a second device is refused with a sentence, and changes nothing.
    asked = await it.session.set_record(spare, asset_tag="HR-0001")
    refusal = await it.take(Error, lambda e: e.ref == asked)
    assert "already on Ada's laptop" in refusal.message
    records = [r for r in room.store.audit(limit=50) if r.action == "device_record"]
    assert [r.result for r in records] == ["refused", "ok", "ok", "ok"]
    assert room.store.verify_audit() is None


async def test_a_teacher_may_not_change_records(room: Classroom) -> None:
    ada = (await room.start_agent("Ada's laptop")).state.device_id
    teacher = await room.console()
    asked = await teacher.session.set_record(ada, state=LifeState.LOST)
    refusal = await teacher.take(Error, lambda e: e.ref == asked)
    assert refusal.code == "role_forbidden" and "IT and admins" in refusal.message
    assert LifeCycle(room.store).record(ada).state is LifeState.IN_SERVICE
    [audited] = [r for r in room.store.audit(limit=20) if r.action == "device_record"]
    assert audited.result == "role_forbidden" and audited.actor.startswith("Ms Smith")


async def test_the_fleet_shows_the_facts_the_device_last_sent(room: Classroom) -> None:
    ada = (await room.start_agent("Ada's laptop")).state.device_id
    it = await room.console(room.staff("Sam", Role.IT, ("*",)))
    await it.submit(GetSystemInfo(), [ada])
    facts = (await it.take(Result)).facts
    asked = await it.session.query("fleet")
    [entry] = (await it.take(Answer, lambda a: a.id == asked)).fleet
    assert entry.online and entry.name == "Ada's laptop" and entry.facts_at > 0
    assert entry.battery == facts["battery"]
    assert entry.disk_free and "free of" in entry.disk_free
    assert entry.agent_version and entry.os


async def test_a_teacher_sees_only_their_own_audit_rows_an_admin_sees_all(
    room: Classroom,
) -> None:
    ada = (await room.start_agent("Ada's laptop")).state.device_id
    smith = await room.console()
    jones = await room.console(room.staff("Mr Jones", Role.TEACHER, ("7B",)))
    await smith.submit(LockScreen(message=""), [ada])
    await smith.take(Result)
    await jones.submit(LockScreen(message=""), [ada])
    await jones.take(Result)
    asked = await smith.session.query("audit")
    rows = (await smith.take(Answer, lambda a: a.id == asked)).audit
    assert rows and {r.actor.split(" (")[0] for r in rows} == {"Ms Smith"}
    admin = await room.console(room.staff("Head", Role.ADMIN, ("*",)))
    asked = await admin.session.query("audit")
    rows = (await admin.take(Answer, lambda a: a.id == asked)).audit
    assert {"Ms Smith", "Mr Jones", "Ada's laptop"} <= {r.actor.split(" (")[0] for r in rows}


async def test_a_csv_import_is_all_or_nothing_with_one_error_per_bad_line(
    room: Classroom,
) -> None:
    ada = (await room.start_agent("Ada's laptop")).state.device_id
    await room.start_agent("Bilal's laptop")
    devices = {d.name: d.device_id for d in room.store.devices()}
    bad = (
        "name,asset_tag,student,state\n"
        "Ada's laptop,HR-1,Ada,in_service\n"
        "Nobody's laptop,HR-2,,\n"
        "Bilal's laptop,HR-1,Bilal,\n"
        "Bilal's laptop,HR 3!,,broken\n"
    )
    with pytest.raises(ImportRefused) as refused:
        parse_import(bad, devices)
    assert [e.split(":")[0] for e in refused.value.errors] == ["line 3", "line 4", "line 5"]
    assert "no enrolled device" in refused.value.errors[0]
    assert "also on line 2" in refused.value.errors[1]
    life = LifeCycle(room.store)
    assert life.records() == {}
    good = "name,asset_tag,student\nAda's laptop,HR-1,Ada\nBilal's laptop,HR-2,Bilal\n"
    life.change_many(parse_import(good, devices), actor="test", now=1)
    assert {r.asset_tag for r in life.records().values()} == {"HR-1", "HR-2"}
    # A later change that clashes with a stored tag fails whole: nothing of it is kept.
    clash = [RecordChange(ada, student="Someone else"), RecordChange(ada, asset_tag="HR-2")]
    with pytest.raises(RecordRefused):
        life.change_many(clash, actor="test", now=2)
    assert life.record(ada).student == "Ada"


async def test_the_fleet_and_histories_stop_at_the_staff_members_groups(room: Classroom) -> None:
    await room.start_agent("Ada's laptop")
    other = (await room.start_agent("Zoe's laptop", group="8C")).state.device_id
    teacher = await room.console()  # 7B only
    asked = await teacher.session.query("fleet")
    assert [e.name for e in (await teacher.take(Answer, lambda a: a.id == asked)).fleet] == [
        "Ada's laptop"
    ]
    asked = await teacher.session.query("history", device_id=other)
    assert (await teacher.take(Error, lambda e: e.ref == asked)).code == "group_forbidden"
    it_7b = await room.console(room.staff("Sam (7B)", Role.IT, ("7B",)))
    asked = await it_7b.session.set_record(other, state=LifeState.LOST)
    refusal = await it_7b.take(Error, lambda e: e.ref == asked)
    assert refusal.code == "group_forbidden"
    assert LifeCycle(room.store).record(other).state is LifeState.IN_SERVICE
