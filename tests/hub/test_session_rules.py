"""Outside their own class session a teacher cannot watch or command that class's devices,
over a real hub; IT, admins and devices in no class are not bound by sessions."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from console.session import ConsoleSession
from protocol.actions import LockScreen, TakeScreenshot, Unwatch, Watch
from protocol.certificates import ALL_GROUPS, Role
from protocol.errors import ErrorCode
from protocol.messages import Answer, Result

from ..classroom import Classroom, Console, classroom
from ..policy_kit import EXAMPLE
from ..support import scaled


async def outcome(console: Console, action: object, target: str) -> ErrorCode | None:
    """The code of the one result (None for ok) of `action` sent to `target`."""
    command = await console.submit(action, [target])
    result: Result = await console.take(Result, lambda r: r.command_id == command.body.id)
    return None if result.ok else result.code


async def test_a_teacher_reaches_a_class_only_in_their_own_session(tmp_path: Path) -> None:
    async with classroom(tmp_path) as room:
        ada = (await room.start_agent("Ada")).state.device_id
        cara = (await room.start_agent("Cara")).state.device_id  # in no class
        room.store.create_class("Maths 7B", "7B", 0)
        room.store.add_to_class("Maths 7B", ada)
        smith = await room.console(room.staff("Ms Smith"))
        jones = await room.console(room.staff("Mr Jones"))
        it = await room.console(room.staff("IT desk", Role.IT, (ALL_GROUPS,)))

        for action in (Watch(), TakeScreenshot(max_width=64), LockScreen()):
            assert await outcome(smith, action, ada) is ErrorCode.NO_CLASS_SESSION
        assert await outcome(smith, LockScreen(), cara) is None  # no class: its group decides
        assert await outcome(it, LockScreen(), ada) is None  # IT is not bound by sessions
        # Refusals are audited with the plan, like every command.
        refused = [r for r in room.store.audit(limit=50) if r.result == "no_class_session 1"]
        assert len(refused) == 3

        started = await smith.session.class_session("Maths 7B", "start", 45)
        await smith.take(Answer, lambda a: a.id == started)
        assert await outcome(smith, Watch(), ada) is None
        assert await outcome(smith, LockScreen(), ada) is None
        assert await outcome(jones, LockScreen(), ada) is ErrorCode.NO_CLASS_SESSION  # not his

        ended = await smith.session.class_session("Maths 7B", "end")
        await smith.take(Answer, lambda a: a.id == ended)
        assert await outcome(smith, Watch(), ada) is ErrorCode.NO_CLASS_SESSION
        assert await outcome(smith, Unwatch(), ada) is None  # stopping is always allowed


async def console_command(room: Classroom, credential: Path, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console",
        *args,
        "--credential",
        str(credential),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(scaled(60)):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_a_teacher_starts_a_session_from_the_command_line_then_locks_the_class(
    tmp_path: Path,
) -> None:
    async with classroom(tmp_path) as room:
        ada = (await room.start_agent("Ada")).state.device_id
        room.store.create_class("7B-maths", "7B", 0)
        room.store.add_to_class("7B-maths", ada)
        me = tmp_path / "me.credential"
        me.write_bytes(room.staff("Ms Smith").encode())
        lock = ("do", "lock", "--class", "7B-maths")

        code, out, err = await console_command(room, me, *lock)
        assert code == 1 and "FAILED no_class_session" in out, (out, err)
        code, out, err = await console_command(room, me, "session", "start", "--class", "7B-maths")
        assert code == 0 and out.startswith("7B-maths: class session on until "), err
        assert out.rstrip().endswith("(Ms Smith).")
        code, out, err = await console_command(room, me, *lock)
        assert code == 0 and out == "Ada: ok\n", (out, err)
        code, out, err = await console_command(room, me, "session", "end", "--class", "7B-maths")
        assert code == 0 and out == "7B-maths: no class session on.\n", err
        code, out, err = await console_command(room, me, "session", "end", "--class", "7B-maths")
        assert code == 1 and "no class session on; there is none to end" in err


async def test_a_hub_that_does_not_answer_in_time_is_said_so(tmp_path: Path) -> None:
    """--wait running out is named as such (it was reported as an unreachable hub, with no
    reason: TimeoutError is an OSError, and that clause came first)."""
    async with classroom(tmp_path) as room:
        me = tmp_path / "me.credential"
        me.write_bytes(room.staff("Ms Smith").encode())
        start = ("session", "start", "--class", "7B-maths", "--wait", "0")
        code, _, err = await console_command(room, me, *start)
        assert code == 2 and "did not answer within 0 s" in err, err
        admin = tmp_path / "admin.credential"
        admin.write_bytes(room.staff("Ada Admin", Role.ADMIN, (ALL_GROUPS,)).encode())
        policy = tmp_path / "7B.toml"
        policy.write_text(EXAMPLE)
        code, _, err = await console_command(
            room, admin, "policy", "set", str(policy), "--group", "7B", "--wait", "0"
        )
        assert code == 2 and "did not answer within 0 s" in err, err


async def test_a_silent_address_is_a_connection_error_not_the_wait(tmp_path: Path) -> None:
    """ConsoleSession.connect: a hub that never finishes connecting is a ConnectionError,
    so `session` and `policy set` do not blame their --wait for it (TimeoutError is)."""
    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    async with silent, classroom(tmp_path) as room:
        port = silent.sockets[0].getsockname()[1]
        session = ConsoleSession(room.staff(), url=f"ws://127.0.0.1:{port}")
        with pytest.raises(ConnectionError, match=r"no answer from ws://127\.0\.0\.1:\d+ while"):
            await session.connect(open_timeout=0.2)
