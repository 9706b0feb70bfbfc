"""Command routing: one typed disposition per device, audited as planned, refusals answered."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.routing import Delivered, Disposition, Queued, Refused, outcome
from protocol.actions import LockScreen
from protocol.errors import ErrorCode
from protocol.keys import PrivateKey
from protocol.messages import Result

from ..classroom import Classroom, classroom


@pytest.fixture
async def room(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with classroom(tmp_path) as room:
        yield room


async def test_each_device_gets_the_disposition_its_state_allows(room: Classroom) -> None:
    online = (await room.start_agent("Ada's laptop")).state.device_id
    offline = (await room.enroll("Bob's laptop"))[0].device_id
    other_class = (await room.enroll("Cy's laptop", group="8C"))[0].device_id
    made_up = PrivateKey.generate().public.fingerprint
    console = await room.console()
    body = console.session.sign(LockScreen(), [online, offline, other_class, made_up]).body
    assert room.hub.router.plan(body, queue=False) == {
        online: Delivered(),
        offline: Refused(ErrorCode.DEVICE_OFFLINE),
        other_class: Refused(ErrorCode.GROUP_FORBIDDEN),
        made_up: Refused(ErrorCode.UNKNOWN_DEVICE),
    }
    assert room.hub.router.plan(body, queue=True)[offline] == Queued()


def test_the_audit_counts_dispositions_by_name() -> None:
    plan: dict[str, Disposition] = {
        "a": Delivered(),
        "b": Delivered(),
        "c": Queued(),
        "d": Refused(ErrorCode.GROUP_FORBIDDEN),
    }
    assert outcome(plan) == "delivered 2, group_forbidden 1, queued 1"


async def test_a_mixed_command_is_audited_as_planned_and_refusals_come_back(
    room: Classroom,
) -> None:
    agent = await room.start_agent("Ada's laptop")
    offline = (await room.enroll("Bob's laptop"))[0].device_id
    other_class = (await room.enroll("Cy's laptop", group="8C"))[0].device_id
    console = await room.console()
    targets = [agent.state.device_id, offline, other_class]
    command = await console.submit(LockScreen(), targets)
    results = {}
    for _ in targets:
        result = await console.take(Result, lambda r: r.command_id == command.body.id)
        results[result.device_id] = result.ok or result.code
    assert results == {
        agent.state.device_id: True,
        offline: ErrorCode.DEVICE_OFFLINE,
        other_class: ErrorCode.GROUP_FORBIDDEN,
    }
    row = next(r for r in room.store.audit(limit=20) if r.action == "lock")
    assert row.result == "delivered 1, device_offline 1, group_forbidden 1"
    assert row.detail == f"command {command.body.id}"
    # Only the device it went to may answer: nothing waits for the refused ones.
    assert command.body.id not in room.hub.router.pending
