"""The installed console commands: `do` from a shell, and `--demo` in a real terminal (tmux)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.desktop import HeadlessDesktop

from ..classroom import Classroom, classroom
from ..support import scaled


@pytest.fixture
async def room(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with classroom(tmp_path) as room:
        yield room


async def console_do(room: Classroom, *args: str) -> tuple[int, str, str]:
    credential = room.folder / "teacher.credential"
    if not credential.exists():
        credential.write_bytes(room.staff().encode())
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console",
        "do",
        *args,
        "--credential",
        str(credential),
        "--wait",
        str(scaled(10)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(scaled(60)):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_do_locks_a_named_device_and_prints_json(room: Classroom) -> None:
    desktop = HeadlessDesktop()
    await room.start_agent("Ada's laptop", desktop=desktop)
    code, out, err = await console_do(
        room, "lock", "--to", "Ada's laptop", "message=Eyes on me", "--json"
    )
    assert code == 0, err
    [row] = json.loads(out)
    assert row["name"] == "Ada's laptop" and row["ok"] and row["code"] == "ok"
    assert desktop.locked and desktop.lock_message == "Eyes on me"


async def test_do_exits_non_zero_when_a_device_cannot_do_it(room: Classroom) -> None:
    await room.start_agent("Ada's laptop")
    await room.enroll("Bilal's laptop")  # enrolled, but its agent is not running
    code, out, _ = await console_do(room, "message", "--all", "text=Tidy up please")
    assert code == 1
    assert "Ada's laptop: ok" in out
    assert "Bilal's laptop: FAILED device_offline" in out


async def test_do_refuses_what_the_role_may_not_do(room: Classroom) -> None:
    await room.start_agent("Ada's laptop")
    code, _, err = await console_do(room, "kill_process", "--all", "pid=1", "process_name=init")
    assert code == 2
    assert "role" in err.lower()


async def test_do_explains_bad_arguments(room: Classroom) -> None:
    code, _, err = await console_do(room, "open_url", "--all", "url=file:///etc/passwd")
    assert code == 2 and "http" in err


def tmux(*args: str) -> str:
    return subprocess.run(
        ["tmux", "-L", "homeroom-test", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=scaled(20),
    ).stdout


def wait_for_screen(check, seconds: float = 40.0) -> str:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + scaled(seconds)
    while True:
        screen = tmux("capture-pane", "-p", "-t", "demo")
        if check(screen):
            return screen
        if time.monotonic() > deadline:
            raise AssertionError(f"the terminal never showed it; last screen:\n{screen}")
        time.sleep(0.2)


def test_demo_in_a_real_terminal_shows_thumbnails_and_locks_from_the_keyboard() -> None:
    command = f"{sys.executable} -m console --demo 4"
    tmux("kill-server")
    tmux(
        "new-session", "-d", "-s", "demo", "-x", "140", "-y", "45", f"cd {os.getcwd()} && {command}"
    )
    try:
        screen = wait_for_screen(lambda s: s.count("online") == 4 and s.count("▀") > 400)
        assert "Signed in" in screen
        for name in ("Ada", "Bilal", "Chloé", "Dmitri"):
            assert name in screen
        tmux("send-keys", "-t", "demo", "a")
        tmux("send-keys", "-t", "demo", "l")
        wait_for_screen(lambda s: "Lock all 4 devices" in s)
        tmux("send-keys", "-t", "demo", "Enter")
        wait_for_screen(lambda s: s.count("🔒") == 4)
        tmux("send-keys", "-t", "demo", "u")
        wait_for_screen(lambda s: s.count("🔒") == 0 and s.count("online") == 4)
        tmux("send-keys", "-t", "demo", "q")
        wait_for_screen(lambda s: "online" not in s)
    finally:
        tmux("kill-server")
