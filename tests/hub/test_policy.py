"""Group policies over real sockets, on an injected clock: each window on the hub and on
the device, capture stopped where a window forbids it, delivery to online and offline
devices, and an older policy replayed by a hub."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from agent.desktop import HeadlessDesktop
from agent.enrollment import enroll
from agent.runtime import Agent
from agent.screen import SyntheticScreen
from console.session import ConsoleSession
from hub.policy import publish
from protocol.actions import (
    GetSystemInfo,
    LockScreen,
    SendMessage,
    TakeScreenshot,
    UnlockScreen,
    Watch,
)
from protocol.certificates import Role
from protocol.credentials import StaffCredential
from protocol.errors import ErrorCode
from protocol.messages import PolicyUpdate, Result, encode_message
from protocol.policy import SignedPolicy
from protocol.policy_file import read_policy
from tests.policy_kit import EVERY_WEEK, WallClock

from ..classroom import Classroom, Console, Inbox, classroom


@pytest.fixture
def clock() -> WallClock:
    return WallClock()


@pytest.fixture
async def room(tmp_path: Path, clock: WallClock):  # type: ignore[no-untyped-def]
    async with classroom(tmp_path, clock=clock) as room:
        yield room


async def start_agent(room: Classroom, name: str, clock: WallClock, **options: Any) -> Agent:
    """A device of 7B on the test's clock (its token lasts past the clock's week)."""
    folder = room.folder / "agents" / name
    state = await enroll(room.token("7B", lifetime=30 * 86400), name, folder)
    agent = Agent(
        state,
        screen=SyntheticScreen(name, seed=len(room.agents)),
        desktop=HeadlessDesktop(),
        folder=folder,
        clock=clock,
        **options,
    )
    room.agents[state.device_id] = agent
    room.tasks.append(asyncio.create_task(agent.run()))
    await room.until(lambda: state.device_id in room.hub.agents)
    return agent


async def console(room: Classroom, credential: StaffCredential, clock: WallClock) -> Console:
    session = ConsoleSession(credential, clock=clock)
    await session.connect()
    inbox = Inbox(session)
    room.tasks.append(inbox._task)
    return Console(session, inbox)


async def set_policy(room: Classroom, clock: WallClock, text: str = EVERY_WEEK) -> SignedPolicy:
    """An admin signs the policy (as `homeroom-hub policy set` does); the hub sends it on."""
    admin = room.staff("Ada Admin", Role.ADMIN, ("*",))
    signed = publish(
        room.store,
        room.keyring.org_public,
        admin,
        read_policy(text),
        group="7B",
        now=int(clock()),
    )
    await room.hub.housekeep()
    return signed


async def sent(console: Console, action: Any, device: str) -> Result:
    """Submit and wait for the answer; the hub sends a device everything in order, so by
    then the device has also handled any policy sent before."""
    command = await console.submit(action, [device])
    result: Result = await console.take(Result, lambda r: r.command_id == command.body.id)
    return result


def refused_by(result: Result, window: str) -> bool:
    return result.code is ErrorCode.POLICY_FORBIDDEN and f"{window} window" in result.detail


async def test_each_window_allows_and_refuses_on_the_hub(room: Classroom, clock: WallClock) -> None:
    agent = await start_agent(room, "Ada's laptop", clock)
    device = agent.state.device_id
    teacher = await console(room, room.staff("Ms Smith"), clock)
    it = await console(room, room.staff("Sam", Role.IT, ("*",)), clock)
    admin = await console(room, room.staff("Ada Admin", Role.ADMIN, ("*",)), clock)
    await set_policy(room, clock)
    # School hours: lessons as usual.
    for action in (Watch(), LockScreen(message="Eyes front"), UnlockScreen()):
        assert (await sent(teacher, action, device)).ok, action
    assert agent.policy.sequence == 1
    # After school: no screens for anyone; IT may still look after the device.
    clock.set("mon 17:00")
    for capture in (Watch(), TakeScreenshot()):
        result = await sent(teacher, capture, device)
        assert refused_by(result, "home") and "no screen capture" in result.detail
        assert refused_by(await sent(admin, capture, device), "home")
    assert refused_by(await sent(teacher, LockScreen(), device), "home")
    assert (await sent(it, GetSystemInfo(), device)).ok
    # Night: the device rests; IT may read its system information only.
    clock.set("mon 23:30")
    assert refused_by(await sent(teacher, SendMessage(text="homework?"), device), "night")
    assert (await sent(it, GetSystemInfo(), device)).ok
    # Breakfast: no window is open, so nobody may do anything.
    clock.set("tue 07:00")
    result = await sent(admin, LockScreen(), device)
    assert result.code is ErrorCode.POLICY_FORBIDDEN
    assert "No policy window of 7B is open" in result.detail
    audited = [e.result for e in room.store.audit(limit=100) if e.action == "watch"]
    assert "policy_forbidden 1" in audited


async def test_the_device_refuses_on_its_own_clock_through_a_hub_that_ignores_the_policy(
    room: Classroom, clock: WallClock
) -> None:
    agent = await start_agent(room, "Ada's laptop", clock)
    device = agent.state.device_id
    teacher = await console(room, room.staff("Ms Smith"), clock)
    await set_policy(room, clock)
    assert (await sent(teacher, SendMessage(text="hello"), device)).ok  # policy 1 is there
    room.hub.policies.policies.clear()  # a hub that no longer enforces it
    clock.set("mon 17:00")
    for action in (Watch(), TakeScreenshot(), LockScreen()):
        result = await sent(teacher, action, device)
        assert refused_by(result, "home"), action
    assert not agent.desktop.locked and not agent.leases


async def test_capture_stops_when_the_window_closes(room: Classroom, clock: WallClock) -> None:
    agent = await start_agent(room, "Ada's laptop", clock)
    device = agent.state.device_id
    teacher = await console(room, room.staff("Ms Smith"), clock)
    await set_policy(room, clock)
    assert (await sent(teacher, Watch(fps=5.0, lease_seconds=600), device)).ok
    await room.until(lambda: room.hub.frames_relayed > 0)
    clock.set("mon 15:30")  # school ends: the home window allows no capture
    await room.hub.housekeep()
    assert not room.hub.router.watchers.get(device)  # the hub relays no more frames
    await room.until(lambda: room.hub.presence[device].watched_by == ())  # the device stopped
    assert not agent.leases


async def test_a_new_policy_reaches_online_devices_now_and_offline_ones_at_sign_in(
    room: Classroom, clock: WallClock
) -> None:
    online = await start_agent(room, "Ada's laptop", clock)
    teacher = await console(room, room.staff("Ms Smith"), clock)
    await set_policy(room, clock)
    assert (await sent(teacher, SendMessage(text="hi"), online.state.device_id)).ok
    assert online.policy.sequence == 1
    later = await start_agent(room, "Ben's laptop", clock)  # was offline when it was set
    assert (await sent(teacher, SendMessage(text="hi"), later.state.device_id)).ok
    assert later.policy.sequence == 1 and later.policy.held == online.policy.held


async def test_an_older_policy_replayed_by_a_hub_is_refused(
    room: Classroom, clock: WallClock
) -> None:
    agent = await start_agent(room, "Ada's laptop", clock)
    device = agent.state.device_id
    teacher = await console(room, room.staff("Ms Smith"), clock)
    older = await set_policy(room, clock)  # policy 1
    await set_policy(room, clock, EVERY_WEEK.replace('"21:00"', '"20:00"'))  # policy 2
    assert (await sent(teacher, SendMessage(text="hi"), device)).ok
    assert agent.policy.sequence == 2
    # A stolen hub sends the older, laxer policy again.
    await room.hub.agents[device].ws.send(encode_message(PolicyUpdate(policy=older)).decode())
    assert (await sent(teacher, SendMessage(text="still there?"), device)).ok
    assert agent.policy.sequence == 2
    refusals = [e.detail for e in room.store.audit(limit=100) if e.action == "event:policy_refused"]
    assert refusals and "policy_outdated" in refusals[0]
