"""launch_app and close_app: only what the group's signed allow-list names, started for real."""

from __future__ import annotations

import re
import secrets
import shutil
import sys
import time
from pathlib import Path

import msgspec
import psutil
import pytest

from agent.actions.apps import APPS_FILE
from agent.desktop import HeadlessDesktop
from agent.runtime import Agent
from agent.screen import SyntheticScreen
from agent.state import AgentState
from console.session import ConsoleSession
from protocol.actions import AppEntry, CloseApp, LaunchApp, SetAppList
from protocol.certificates import Role
from protocol.errors import ErrorCode
from protocol.messages import Deliver, Error

from ..classroom import Classroom, classroom
from .actions_kit import admin, eventually, run


@pytest.fixture
async def room(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with classroom(tmp_path) as room:
        yield room


def writes(path: Path) -> tuple[str, ...]:
    """A harmless program: Python writing one file."""
    return (sys.executable, "-c", f"import pathlib; pathlib.Path({str(path)!r}).write_text('hi')")


SLEEPER = (sys.executable, "-c", "import time; time.sleep(600)")


def offline_agent(state: AgentState, folder: Path) -> Agent:
    return Agent(state, screen=SyntheticScreen("Ada", 1), desktop=HeadlessDesktop(), folder=folder)


async def test_launch_app_is_refused_for_a_program_off_the_list(room: Classroom) -> None:
    agent = await room.start_agent("Ada's laptop")
    teacher = await room.console()
    result = await run(teacher, LaunchApp(app="terminal"), agent.state.device_id)
    assert not result.ok and result.code is ErrorCode.ACTION_FAILED
    assert "not on this group's app list" in result.detail


async def test_launch_app_starts_a_program_on_the_signed_list(
    room: Classroom, tmp_path: Path
) -> None:
    agent = await room.start_agent("Ada's laptop")
    written = tmp_path / "launched.txt"
    apps = (AppEntry(name="notes", argv=writes(written)),)
    listed = await run(await admin(room), SetAppList(group="7B", apps=apps), agent.state.device_id)
    assert listed.ok, listed.detail
    teacher = await room.console()
    result = await run(teacher, LaunchApp(app="notes"), agent.state.device_id)
    assert result.ok and "notes started" in result.detail
    await eventually(written.exists, "the allowed program never ran")
    assert written.read_text() == "hi"
    refused = await run(teacher, LaunchApp(app="terminal"), agent.state.device_id)
    assert not refused.ok


async def test_only_an_admin_may_set_the_list(room: Classroom) -> None:
    agent = await room.start_agent("Ada's laptop")
    teacher = await room.console()
    await teacher.submit(SetAppList(group="7B"), [agent.state.device_id])
    error = await teacher.take(Error)
    assert error.code is ErrorCode.ROLE_FORBIDDEN


async def test_the_list_survives_a_restart_but_not_an_edit(room: Classroom, tmp_path: Path) -> None:
    state, folder = await room.enroll("Ada's laptop")
    console = await admin(room)
    apps = (AppEntry(name="notes", argv=writes(tmp_path / "a.txt")),)
    command = console.session.sign(SetAppList(group="7B", apps=apps), [state.device_id])
    assert (await offline_agent(state, folder).carry_out(Deliver(command=command))).ok
    assert set(offline_agent(state, folder).apps.apps) == {"notes"}
    # A student widens the list by hand: the signature no longer holds, the list is empty.
    saved = folder / APPS_FILE
    saved.write_bytes(saved.read_bytes().replace(b"a.txt", b"b.txt"))
    assert offline_agent(state, folder).apps.apps == {}


async def test_an_older_list_or_one_for_another_group_is_refused(room: Classroom) -> None:
    state, folder = await room.enroll("Ada's laptop")
    credential = room.staff("Ms Admin", Role.ADMIN, ("*",))
    now = time.time()
    earlier = ConsoleSession(credential, clock=lambda: now - 30)
    later = ConsoleSession(credential, clock=lambda: now)
    agent = offline_agent(state, folder)
    new = later.sign(
        SetAppList(group="7B", apps=(AppEntry(name="new", argv=SLEEPER),)), [state.device_id]
    )
    old = earlier.sign(
        SetAppList(group="7B", apps=(AppEntry(name="old", argv=SLEEPER),)), [state.device_id]
    )
    assert (await agent.carry_out(Deliver(command=new))).ok
    stale = await agent.carry_out(Deliver(command=old))
    assert not stale.ok and "newer app list" in stale.detail
    elsewhere = later.sign(SetAppList(group="8C"), [state.device_id])
    refused = await agent.carry_out(Deliver(command=elsewhere))
    assert not refused.ok and "8C" in refused.detail
    assert set(agent.apps.apps) == {"new"}


def own_sleep(folder: Path) -> tuple[str, ...]:
    """`sleep 600` from a copy of `sleep` under a name no other program on this machine has.

    close_app by name also looks at every process of the app's program name (`python3` for
    SLEEPER): the other pytest-xdist worker's Pythons and those they start, which come and go
    while the agent looks at them. Run as root, the agent refuses them as the system's; run
    as anyone else, they are that user's, and it would end them.
    """
    program = folder / f"hw{secrets.token_hex(5)}"  # within the 15 characters of a comm
    shutil.copy2(shutil.which("sleep") or "/bin/sleep", program)
    return (str(program), "600")


async def test_close_app_ends_a_program_it_launched(room: Classroom, tmp_path: Path) -> None:
    agent = await room.start_agent("Ada's laptop", grace_seconds=5.0)
    apps = (AppEntry(name="sleeper", argv=own_sleep(tmp_path)),)
    assert (
        await run(await admin(room), SetAppList(group="7B", apps=apps), agent.state.device_id)
    ).ok
    teacher = await room.console()
    started = await run(teacher, LaunchApp(app="sleeper"), agent.state.device_id)
    pid = int(re.findall(r"pid (\d+)", started.detail)[0])
    assert psutil.Process(pid).is_running()
    closed = await run(teacher, CloseApp(app="sleeper"), agent.state.device_id)
    assert closed.ok and closed.detail == "ended 1 process", closed.detail
    await eventually(lambda: pid not in agent.apps.launched, "the closed program was not reaped")
    assert not psutil.pid_exists(pid)


def test_an_app_list_names_each_app_once() -> None:
    twice = (AppEntry(name="notes", argv=SLEEPER), AppEntry(name="notes", argv=SLEEPER))
    with pytest.raises(ValueError, match="once"):
        SetAppList(group="7B", apps=twice)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"name": "notes", "argv": ["sh", "-c", "evil\nmore"]}, AppEntry)
