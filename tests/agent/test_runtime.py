"""The agent's command checks that need no display: replays across restarts, lost caches."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import pytest

from agent.desktop import HeadlessDesktop
from agent.runtime import Agent
from agent.screen import SyntheticScreen
from agent.state import LOCK_FILE, REPLAY_FILE
from protocol.actions import LockScreen, UnlockScreen
from protocol.errors import ErrorCode
from protocol.messages import Deliver

from ..classroom import Classroom, classroom
from ..xvfb import poll_until


@pytest.fixture
async def room(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with classroom(tmp_path) as room:
        yield room


def offline_agent(room: Classroom, state, folder: Path) -> Agent:  # type: ignore[no-untyped-def]
    return Agent(state, screen=SyntheticScreen("Ada", 1), desktop=HeadlessDesktop(), folder=folder)


async def test_a_command_is_refused_again_after_the_agent_restarts(room: Classroom) -> None:
    state, folder = await room.enroll("Ada's laptop")
    console = await room.console()
    command = console.session.sign(LockScreen(), [state.device_id])
    first = await offline_agent(room, state, folder).carry_out(Deliver(command=command))
    assert first.ok
    restarted = offline_agent(room, state, folder)  # reloads the saved replay cache
    again = await restarted.carry_out(Deliver(command=command))
    assert again.code is ErrorCode.REPLAYED


async def test_a_lost_replay_cache_fails_closed(room: Classroom) -> None:
    state, folder = await room.enroll("Ada's laptop")
    console = await room.console()
    earlier = console.session.sign(LockScreen(), [state.device_id])
    (folder / REPLAY_FILE).write_bytes(b"\x00 damaged by a full disk")
    agent = offline_agent(room, state, folder)
    agent.replay_floor = earlier.body.issued_at + 1  # as if it restarted a second later
    result = await agent.carry_out(Deliver(command=earlier))
    assert result.code is ErrorCode.REPLAYED and not agent.desktop.locked


async def test_a_restarted_agent_locks_again_before_it_reconnects(room: Classroom) -> None:
    # A student who kills the agent (or its lock window) gets it back, still locked.
    state, folder = await room.enroll("Ada's laptop")
    console = await room.console()
    lock = console.session.sign(LockScreen(message="Eyes on me"), [state.device_id])
    assert (await offline_agent(room, state, folder).carry_out(Deliver(command=lock))).ok
    restarted = offline_agent(room, state, folder)
    assert restarted.desktop.locked
    assert restarted.desktop.lock_message == "Eyes on me"  # type: ignore[attr-defined]
    unlock = console.session.sign(UnlockScreen(), [state.device_id])
    assert (await restarted.carry_out(Deliver(command=unlock))).ok
    assert not offline_agent(room, state, folder).desktop.locked


def _damage(folder: Path, how: str) -> None:
    """Leave lock.json as a full disk, a crash mid-write or a meddling student would."""
    lock = folder / LOCK_FILE
    saved = lock.read_bytes()
    if how == "directory":
        lock.unlink()
        lock.mkdir()
        return
    lock.write_bytes(
        {
            "not JSON": b"\x00 damaged by a full disk",
            "truncated": saved[: len(saved) // 2],
            "empty": b"",
            "not UTF-8": b'{"message": "\xff\xfe", "by": "Ms Smith"}',
            "another shape": b'{"message": 7, "by": ["Ms Smith"]}',
        }[how]
    )


@pytest.mark.parametrize(
    "how", ["not JSON", "truncated", "empty", "not UTF-8", "another shape", "directory"]
)
async def test_a_damaged_lock_file_locks_again_and_a_teacher_can_unlock(
    room: Classroom, how: str
) -> None:
    state, folder = await room.enroll("Ada's laptop")
    console = await room.console()
    lock = console.session.sign(LockScreen(message="Eyes on me"), [state.device_id])
    assert (await offline_agent(room, state, folder).carry_out(Deliver(command=lock))).ok
    _damage(folder, how)
    restarted = offline_agent(room, state, folder)
    desktop = restarted.desktop
    assert isinstance(desktop, HeadlessDesktop)
    # Fail closed: what the teacher wrote is lost, but the screen stays locked.
    assert desktop.locked and desktop.lock_message == "" and desktop.locked_by == "your school"
    unlock = console.session.sign(UnlockScreen(), [state.device_id])
    assert (await restarted.carry_out(Deliver(command=unlock))).ok
    assert not desktop.locked
    if how != "directory":  # a folder in its place cannot be cleared, so that one stays
        assert not offline_agent(room, state, folder).desktop.locked


class FlakyScreen(SyntheticScreen):
    """A real synthetic screen whose first grab fails, as a lost display would."""

    failed = False

    def grab(self):  # type: ignore[no-untyped-def]
        if not self.failed:
            self.failed = True
            raise OSError("display connection lost")
        return super().grab()


async def test_capture_carries_on_after_a_failed_grab(room: Classroom) -> None:
    from console.session import Picture
    from protocol.actions import Watch

    agent = await room.start_agent("Ada's laptop", screen=FlakyScreen("Ada", 1))
    console = await room.console()
    await console.submit(Watch(width=160, fps=10, lease_seconds=30), [agent.state.device_id])
    picture = await console.take(Picture)
    assert picture.device_id == agent.state.device_id
    assert agent.screen.failed  # type: ignore[attr-defined]


async def test_it_gets_processes_and_system_facts(room: Classroom) -> None:
    from protocol.actions import GetSystemInfo, ListProcesses
    from protocol.certificates import Role
    from protocol.messages import Result

    agent = await room.start_agent("Ada's laptop")
    it = await room.console(room.staff("Sam (IT)", Role.IT, ("*",)))
    command = await it.submit(ListProcesses(), [agent.state.device_id])
    result = await it.take(Result, lambda r: r.command_id == command.body.id)
    assert result.ok and any(p.pid == os.getpid() for p in result.processes)
    command = await it.submit(GetSystemInfo(), [agent.state.device_id])
    result = await it.take(Result, lambda r: r.command_id == command.body.id)
    assert result.ok and "logical" in result.facts["cpu cores"]


async def test_open_url_goes_through_the_browser_launcher(
    room: Classroom, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import webbrowser

    from protocol.actions import OpenUrl
    from protocol.messages import Result

    opened = tmp_path / "opened.txt"
    launcher = tmp_path / "browser.sh"
    launcher.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    launcher.chmod(0o755)
    monkeypatch.setenv("BROWSER", str(launcher))  # the standard way to name a browser
    monkeypatch.setattr(webbrowser, "_tryorder", None)  # re-read BROWSER
    agent = await room.start_agent("Ada's laptop")
    console = await room.console()
    command = await console.submit(
        OpenUrl(url="https://maths.example/lesson-4"), [agent.state.device_id]
    )
    result = await console.take(Result, lambda r: r.command_id == command.body.id)
    assert result.ok
    await asyncio.to_thread(poll_until, opened.exists, 10, "the launcher never ran")
    assert opened.read_text().strip() == "https://maths.example/lesson-4"


async def test_the_agent_records_what_is_in_front_and_keeps_it_when_it_stops(
    room: Classroom,
) -> None:
    # The activity watcher's samples reach the usage record; stopping the agent saves it,
    # and the restarted agent answers a summary from it. Time is injected.
    from agent.platforms import ActivitySample
    from agent.usage import USAGE_FILE

    state, folder = await room.enroll("Ada's laptop")
    now = [1_789_990_000.0]
    agent = Agent(
        state,
        screen=SyntheticScreen("Ada", 1),
        desktop=HeadlessDesktop(),
        folder=folder,
        clock=lambda: now[0],
    )
    running = asyncio.create_task(agent.run())
    agent._activity_sample(ActivitySample(app="firefox", title="a private title"))
    for _ in range(40):  # the agent's timer, every 15 s
        now[0] += 15
        agent.usage.tick()
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    assert "private" not in (folder / USAGE_FILE).read_text()
    restarted = Agent(
        state,
        screen=SyntheticScreen("Ada", 1),
        desktop=HeadlessDesktop(),
        folder=folder,
        clock=lambda: now[0],
    )
    summary = restarted.usage.summary(int(now[0]) - 3600)
    assert [(a.app, a.seconds) for a in summary.apps] == [("firefox", 600)]
