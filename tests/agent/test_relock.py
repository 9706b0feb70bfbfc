"""A lock the hub knows is due comes back whatever the agent's own files say, and only then:
a restarted agent whose lock file was deleted is locked again by the hub, on the real screen;
an unlock stays an unlock; an older lock sent after a newer unlock is refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from agent.desktop import LOCK_TITLE, HeadlessDesktop
from agent.lock_order import UNLOCK_FILE
from agent.runtime import Agent
from agent.screen import MssScreen, SyntheticScreen
from agent.state import LOCK_FILE, AgentState
from agent.ui_supervisor import SupervisedDesktop
from protocol.actions import LockScreen, UnlockScreen
from protocol.commands import SignedCommand, sign_command
from protocol.errors import ErrorCode
from protocol.messages import DeviceChanged, LockDue, Result, encode_message
from tests.support import scaled
from tests.xvfb import find_windows, poll_until

from ..classroom import Classroom, Console, classroom
from .test_ui_runtime import audited, eventually, locked_snapshot


@pytest.fixture
async def room(tmp_path: Path) -> AsyncIterator[Classroom]:
    async with classroom(tmp_path) as room:
        yield room


async def run_agent(room: Classroom, agent: Agent) -> asyncio.Task[None]:
    """Run an agent until the test ends (or the returned task is cancelled); wait till online."""
    task = asyncio.create_task(agent.run())
    room.tasks.append(task)
    device_id = agent.state.device_id
    async with asyncio.timeout(scaled(10)):
        await agent.connected.wait()  # the hub has it in its table before it welcomes it
    assert device_id in room.hub.agents
    return task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def lock_and_unlock(console: Console, device_id: str) -> SignedCommand:
    """Lock, then unlock, a device; both must succeed. Returns the teacher's signed lock."""
    commands = []
    for action in (LockScreen(message="Eyes on me"), UnlockScreen()):
        command = await console.submit(action, [device_id])
        result = await console.take(Result, answering(command))
        assert result.ok, result
        commands.append(command)
    return commands[0]


@pytest.mark.desktop
async def test_a_lock_is_back_after_a_restart_that_deleted_the_lock_file(
    room: Classroom, xvfb_display: str
) -> None:
    state, folder = await room.enroll("Ada's laptop")
    console = await room.console()
    first = await asyncio.to_thread(SupervisedDesktop, xvfb_display)
    try:
        agent = Agent(state, screen=MssScreen(xvfb_display), desktop=first, folder=folder)
        running = await run_agent(room, agent)
        command = await console.submit(LockScreen(message="Eyes on me"), [state.device_id])
        assert (await console.take(Result, lambda r: r.command_id == command.body.id)).ok
        await asyncio.to_thread(poll_until, lambda: locked_snapshot(first), 10, "no lock")
        await stop(running)
    finally:
        await asyncio.to_thread(first.close)  # the agent is killed: its UI goes with it
    # The student deletes the lock file before the agent starts again.
    (folder / LOCK_FILE).unlink()
    assert not find_windows(xvfb_display, f"^{LOCK_TITLE}$")
    console.inbox.events.clear()

    again = await asyncio.to_thread(SupervisedDesktop, xvfb_display)
    try:
        agent = Agent(state, screen=MssScreen(xvfb_display), desktop=again, folder=folder)
        assert not again.locked  # nothing on the device says a lock is due
        await run_agent(room, agent)
        snapshot = await asyncio.to_thread(
            poll_until, lambda: locked_snapshot(again), 10, "the hub did not re-assert the lock"
        )
        assert snapshot.of_role("lock")[0].texts[0] == "Eyes on me"
        assert find_windows(xvfb_display, f"^{LOCK_TITLE}$")  # as the X server sees it
        # The teacher's roster ends with the device back and locked (it came back unlocked;
        # a state the console had not read yet is replaced by the newer one).
        await console.take(DeviceChanged, lambda c: c.device.online and c.device.locked)
        assert (folder / LOCK_FILE).exists()  # and it holds through the next restart too
    finally:
        await asyncio.to_thread(again.close)


async def test_an_unlocked_device_refuses_the_older_lock_a_hostile_hub_sends_it(
    room: Classroom,
) -> None:
    state, folder = await room.enroll("Ada's laptop")
    console = await room.console()
    agent = headless_agent(state, folder)
    running = await run_agent(room, agent)
    old_lock = await lock_and_unlock(console, state.device_id)
    assert not agent.desktop.locked
    # The hub knows the device is unlocked: a reconnect brings no lock.
    assert room.store.due_lock(state.device_id) is None
    # A hub that kept the teacher's lock sends it again anyway, before and after a restart.
    for restart in (False, True):
        if restart:
            await stop(running)
            agent = headless_agent(state, folder)
            running = await run_agent(room, agent)
        await room.hub.agents[state.device_id].ws.send(
            encode_message(LockDue(command=old_lock)).decode()
        )
        await eventually(
            refusals_reach(room, int(restart) + 1),
            "the agent to refuse the re-asserted lock",
        )
    assert not agent.desktop.locked
    assert all("superseded" in detail for detail in audited(room, "event:lock_due_refused"))


async def test_a_fresh_lock_signed_before_the_last_unlock_is_refused(room: Classroom) -> None:
    state, folder = await room.enroll("Ada's laptop")
    console = await room.console()
    agent = headless_agent(state, folder)
    await run_agent(room, agent)
    # Signed a minute ago and held back (by a slow or hostile hub) until after an unlock.
    teacher = console.session.credential
    held_back = sign_command(
        teacher.key,
        teacher.certificate,
        targets=[state.device_id],
        action=LockScreen(message="Eyes on me"),
        now=int(console.session.clock()) - 60,
        ttl=600,
    )
    await lock_and_unlock(console, state.device_id)
    assert (folder / UNLOCK_FILE).exists()
    await console.session.send_signed(held_back)
    result = await console.take(Result, lambda r: r.command_id == held_back.body.id)
    assert not result.ok and result.code is ErrorCode.SUPERSEDED
    assert not agent.desktop.locked


def headless_agent(state: AgentState, folder: Path) -> Agent:
    return Agent(state, screen=SyntheticScreen("Ada", 1), desktop=HeadlessDesktop(), folder=folder)


def answering(command: SignedCommand) -> Callable[[Result], bool]:
    """Matches the result of `command`."""
    return lambda result: result.command_id == command.body.id


def refusals_reach(room: Classroom, count: int) -> Callable[[], bool]:
    """Whether the hub has audited `count` re-asserted locks refused by the agent."""
    return lambda: len(audited(room, "event:lock_due_refused")) == count
