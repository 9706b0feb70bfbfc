"""`homeroom-console do` prints what the agent returned, and the console learns capabilities.

A real hub, a real agent, and the installed console command in a new process.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from agent.platforms.linux import LinuxPlatform
from agent.screen import MssScreen
from protocol.certificates import Role
from protocol.messages import Roster

from ..classroom import Classroom, classroom
from ..support import scaled
from .actions_kit import eventually


@pytest.fixture
async def room(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with classroom(tmp_path) as room:
        yield room


async def console_do(room: Classroom, *args: str, role: Role = Role.IT) -> tuple[int, str, str]:
    """Run `homeroom-console do ARGS` as staff with `role` (default IT) in a new process."""
    credential = room.folder / f"{role.value}.credential"
    if not credential.exists():
        credential.write_bytes(room.staff(f"Sam ({role.value})", role, ("*",)).encode())
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console",
        "do",
        *args,
        "--credential",
        str(credential),
        "--wait",
        str(scaled(20)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(scaled(60)):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_do_list_processes_json_prints_the_processes(room: Classroom) -> None:
    await room.start_agent("Ada's laptop", sample_seconds=0.1)
    code, out, err = await console_do(room, "list_processes", "--to", "Ada's laptop", "--json")
    assert code == 0, err
    [row] = json.loads(out)
    assert row["ok"] and row["name"] == "Ada's laptop"
    mine = [p for p in row["processes"] if p["pid"] == os.getpid()]  # the agent runs in here
    assert len(mine) == 1
    assert set(mine[0]) == {"pid", "name", "user", "cpu_percent", "memory_bytes", "window_title"}
    assert mine[0]["memory_bytes"] > 0


async def test_do_system_info_json_prints_the_facts(room: Classroom) -> None:
    await room.start_agent("Ada's laptop")
    code, out, err = await console_do(room, "system_info", "--to", "Ada's laptop", "--json")
    assert code == 0, err
    [row] = json.loads(out)
    facts = row["facts"]
    assert facts["hostname"] == platform.node()
    assert "logical" in facts["cpu cores"] and facts["uptime"].endswith("min")
    assert any(name.startswith("disk ") for name in facts)
    assert any(name.startswith("network ") for name in facts)
    assert "battery" in facts


async def test_do_diagnostics_json_prints_the_checks(room: Classroom) -> None:
    await room.start_agent("Ada's laptop", sample_seconds=0.1)
    code, out, err = await console_do(room, "diagnostics", "--all", "--json")
    assert code == 0, err
    [row] = json.loads(out)
    facts = row["facts"]
    assert facts["hub round trip"].endswith(" ms")
    assert facts["hub name lookup"] == "127.0.0.1 is an address: no lookup needed"
    assert "memory used" in facts and "memory pressure" in facts
    assert facts["busiest 1"]


async def test_do_prints_returned_data_readably_and_hostile_names_harmlessly(
    room: Classroom,
) -> None:
    # A program may call itself anything, escape sequences included.
    rename = "open('/proc/self/comm', 'w').write('\\x1b[2Jevil'); import time; time.sleep(600)"
    hostile = subprocess.Popen([sys.executable, "-c", rename])
    try:
        await room.start_agent("Ada's laptop", sample_seconds=0.1)
        code, out, err = await console_do(room, "list_processes", "--to", "Ada's laptop")
        _, facts, _ = await console_do(room, "system_info", "--to", "Ada's laptop")
    finally:
        hostile.kill()
        hostile.wait()
    assert code == 0, err
    assert out.startswith("Ada's laptop: ok\n")
    assert "\x1b" not in out and "\ufffd[2Jevil" in out
    assert "  hostname " in facts and platform.node() in facts


async def test_an_admin_sets_the_app_list_from_a_file_and_a_teacher_launches_from_it(
    room: Classroom, tmp_path: Path
) -> None:
    agent = await room.start_agent("Ada's laptop")
    written = tmp_path / "from-the-list.txt"
    program = [sys.executable, "-c", f"open({str(written)!r}, 'w').write('ok')"]
    apps = tmp_path / "apps.json"
    apps.write_text(json.dumps([{"name": "notes", "argv": program}]))
    code, out, err = await console_do(
        room, "set_apps", "--all", "group=7B", f"apps=@{apps}", role=Role.ADMIN
    )
    assert code == 0 and out == "Ada's laptop: ok: 1 apps allowed\n", err
    code, out, err = await console_do(room, "launch_app", "--all", "app=notes", role=Role.TEACHER)
    assert code == 0, err
    assert out.startswith("Ada's laptop: ok: notes started (pid ")
    await eventually(written.exists, "the program on the list never ran")
    assert set(agent.apps.apps) == {"notes"}


async def test_the_console_knows_what_each_device_can_do(room: Classroom) -> None:
    seeing = await room.start_agent("Ada's laptop")
    # A display that is not there: the agent says it cannot capture, and still serves.
    with MssScreen(":4095") as nowhere:
        blind = await room.start_agent(
            "Bilal's laptop", screen=nowhere, platform=LinuxPlatform(env={}), can_lock=False
        )
    ids = (seeing.state.device_id, blind.state.device_id)
    await room.until(lambda: all(room.hub.presence[i].capabilities for i in ids))
    teacher = await room.console()
    roster = await teacher.take(Roster)
    by_id = {d.device_id: d.capabilities for d in roster.devices}
    able, unable = by_id[ids[0]], by_id[ids[1]]
    assert able is not None and able.capture and able.lock and able.platform == "linux"
    assert "screenshot" in able.actions and "lock" in able.actions
    assert unable is not None and not unable.capture and not unable.lock
    assert unable.display_server == "none"
    assert "screenshot" not in unable.actions and "lock" not in unable.actions
    assert "list_processes" in unable.actions
    assert unable.note == (
        "no screen capture on none; no enforceable lock on none; "
        "no window list on none, so no focus mode"
    )
    assert "focus" not in unable.actions
