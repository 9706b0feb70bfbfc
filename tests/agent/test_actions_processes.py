"""kill_process and list_processes over a real hub: the student's programs only, never Homeroom.

The student's programs here run as their own uid (these tests run as root, whose
processes the agent rightly treats as the system's), started through a shell that
exits at once: on a real device the student's programs are not the agent's children.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import tkinter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from agent.actions.processes import (
    Ended,
    ProcessGuard,
    ProcessRefused,
    end_processes,
    list_processes,
)
from agent.platforms.linux import LinuxPlatform
from protocol.actions import CloseApp, KillProcess, ListProcesses

from ..classroom import Classroom, classroom
from .actions_kit import it_staff, run

STUDENT = 4711
SOMEONE_ELSE = 4712


@pytest.fixture
async def room(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with classroom(tmp_path) as room:
        yield room


@pytest.fixture
def programs() -> Iterator[list[int]]:
    """Pids of the students' programs a test starts; whatever is left is killed after it."""
    started: list[int] = []
    yield started
    for pid in started:
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()


def _own_sleep() -> Path:
    """A copy of `sleep` under a name no other program on this machine has.

    Killing by name must find only this test's programs, whatever else runs `sleep` here
    (another suite, a helper), so the count it reports is this test's alone.
    """
    folder = Path(tempfile.mkdtemp(prefix="homeroom-programs-"))
    folder.chmod(0o755)  # the student's uid runs it
    atexit.register(shutil.rmtree, folder, True)
    program = folder / f"hw{secrets.token_hex(5)}"  # within the 15 characters of a comm
    shutil.copy2(shutil.which("sleep") or "/bin/sleep", program)
    program.chmod(0o755)
    return program


SLEEP = _own_sleep()
SLEEP_NAME = SLEEP.name


def start_program(programs: list[int], uid: int, *, ignores_close: bool = False) -> int:
    """A SLEEP run by `uid`, not our child; with ignores_close it ignores SIGTERM."""
    trap = "trap '' TERM; " if ignores_close else ""
    done = subprocess.run(
        ["sh", "-c", f"{trap}{SLEEP} 600 >/dev/null 2>&1 & echo $!"],
        user=uid,
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(done.stdout)
    programs.append(pid)
    return pid


def ended(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def student_agent(room: Classroom, **options: Any) -> str:
    platform = LinuxPlatform(student_uid=STUDENT, env={})
    agent = await room.start_agent("Ada's laptop", platform=platform, **options)
    return agent.state.device_id


async def test_kill_process_refuses_the_agent_itself_and_the_system(room: Classroom) -> None:
    device = await student_agent(room)
    it = await it_staff(room)
    me = psutil.Process()
    own = await run(it, KillProcess(pid=me.pid, process_name=me.name()), device)
    assert not own.ok and "the Homeroom agent itself" in own.detail
    parent = psutil.Process(os.getppid())
    runs_us = await run(it, KillProcess(pid=parent.pid, process_name=parent.name()), device)
    assert not runs_us.ok and "runs the Homeroom agent" in runs_us.detail
    init = psutil.Process(1)
    first = await run(it, KillProcess(pid=1, process_name=init.name()), device)
    assert not first.ok and "first process" in first.detail
    assert me.is_running() and init.is_running()


async def test_kill_process_ends_a_students_program(room: Classroom, programs: list[int]) -> None:
    device = await student_agent(room)
    pid = start_program(programs, STUDENT)
    result = await run(await it_staff(room), KillProcess(pid=pid, process_name=SLEEP_NAME), device)
    assert result.ok and result.detail == "ended 1 process", result.detail
    assert ended(pid)


async def test_a_program_that_ignores_the_request_is_killed_after_the_grace(
    room: Classroom, programs: list[int]
) -> None:
    device = await student_agent(room, grace_seconds=0.2)
    pid = start_program(programs, STUDENT, ignores_close=True)
    result = await run(await it_staff(room), KillProcess(pid=pid, process_name=SLEEP_NAME), device)
    assert result.ok and result.detail == "ended 1 process (1 had to be forced)", result.detail
    assert ended(pid)


async def test_other_users_and_system_programs_are_refused(
    room: Classroom, programs: list[int]
) -> None:
    device = await student_agent(room)
    it = await it_staff(room)
    theirs = start_program(programs, SOMEONE_ELSE)
    other = await run(it, KillProcess(pid=theirs, process_name=SLEEP_NAME), device)
    assert not other.ok and "belongs to another user" in other.detail
    system = start_program(programs, 0)
    root = await run(it, CloseApp(pid=system), device)
    assert not root.ok and "system process" in root.detail
    assert not ended(theirs) and not ended(system)


async def test_a_reused_pid_is_not_killed(room: Classroom, programs: list[int]) -> None:
    device = await student_agent(room)
    pid = start_program(programs, STUDENT)
    result = await run(await it_staff(room), KillProcess(pid=pid, process_name="firefox"), device)
    assert not result.ok and f"now '{SLEEP_NAME}', not 'firefox'" in result.detail
    assert not ended(pid)


async def test_kill_by_name_ends_only_the_students_programs(
    room: Classroom, programs: list[int]
) -> None:
    device = await student_agent(room)
    mine = [start_program(programs, STUDENT) for _ in range(2)]
    theirs = start_program(programs, SOMEONE_ELSE)
    result = await run(await it_staff(room), KillProcess(process_name=SLEEP_NAME), device)
    assert result.ok and result.detail == "ended 2 processes", result.detail
    assert all(ended(pid) for pid in mine) and not ended(theirs)


def test_a_program_that_ends_while_it_is_looked_at_is_passed_over(programs: list[int]) -> None:
    # By name, the candidates are listed first and checked one by one: one may end between.
    # (Seen with close_app while another pytest-xdist worker started and ended Pythons.)
    gone = subprocess.Popen(["true"])
    ended_meanwhile = psutil.Process(gone.pid)
    gone.wait()
    mine = psutil.Process(start_program(programs, STUDENT))
    guard = ProcessGuard(LinuxPlatform(student_uid=STUDENT, env={}), lambda: ())
    result = end_processes([ended_meanwhile, mine], guard, 5.0, f"process called {SLEEP_NAME!r}")
    assert result == Ended(asked=1, forced=0)
    assert ended(mine.pid)
    with pytest.raises(ProcessRefused, match="no process called 'true' is running"):
        end_processes([ended_meanwhile], guard, 5.0, "process called 'true'")


async def test_list_processes_shows_cpu_memory_and_window_titles(
    room: Classroom, probe: tkinter.Tk, xvfb_display: str
) -> None:
    probe.title("Essay - Writer")
    probe.update()
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        platform = LinuxPlatform(env={"DISPLAY": xvfb_display})
        agent = await room.start_agent("Ada's laptop", platform=platform, sample_seconds=0.3)
        result = await run(await it_staff(room), ListProcesses(), agent.state.device_id)
    finally:
        busy.kill()
        busy.wait()
    assert result.ok
    listed = {p.pid: p for p in result.processes}
    me = listed[os.getpid()]
    assert me.window_title == "Essay - Writer"
    assert me.memory_bytes > 10_000_000 and me.user == "root"
    assert listed[busy.pid].cpu_percent > 0


def test_a_list_cut_at_the_results_limit_keeps_the_students_idle_programs(
    programs: list[int],
) -> None:
    idle = start_program(programs, STUDENT)
    platform = LinuxPlatform(student_uid=STUDENT, env={})
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # root's: the system's
    try:
        # Room for a dozen of the hundreds of processes here, and the student's program is
        # the idlest and smallest of them all.
        listed = list_processes(platform, 0.2, budget=12 * 120)
    finally:
        busy.kill()
        busy.wait()
    assert idle in [p.pid for p in listed], listed
    # What is kept is shown busiest first all the same.
    assert [p.cpu_percent for p in listed] == sorted((p.cpu_percent for p in listed), reverse=True)
