"""Focus mode on a real X display: a program off the lesson's list, started by the student
during the session, is warned about on the student's screen, then closed once the grace
period is over, and both reach the teacher's console (a mark on the tile and a notice).

The grace period runs on the agent's injected clock: the test moves it on, nothing waits it out.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from agent.desktop import message_title
from agent.platforms.linux import LinuxPlatform
from agent.ui_supervisor import SupervisedDesktop
from console.app import ClassroomApp
from console.hub_link import HubConnection
from console.widgets.student_tile import StudentTile
from protocol.actions import StartFocus
from protocol.messages import DeviceAlert, Result

from ..agent.actions_kit import eventually
from ..classroom import classroom
from ..console.test_live_hub import until
from ..console.test_lock_alerts import toasts
from ..xvfb import find_windows, poll_until

pytestmark = pytest.mark.desktop

#: The student's uid: these tests run as root, whose programs the agent treats as the system's.
STUDENT = 4711


def _own_game() -> Path:
    """A copy of xmessage (a real X program that names its pid on its window) under a name
    of its own, so the program focus mode closes is this test's and nobody else's."""
    folder = Path(tempfile.mkdtemp(prefix="homeroom-focus-"))
    folder.chmod(0o755)  # the student's uid runs it
    atexit.register(shutil.rmtree, folder, True)
    program = folder / f"gm{secrets.token_hex(5)}"
    shutil.copy2(shutil.which("xmessage") or "/usr/bin/xmessage", program)
    program.chmod(0o755)
    return program


GAME = _own_game()


def start_game(display: str) -> int:
    """The game, run by the student and not the test's child (as on a real device)."""
    done = subprocess.run(
        ["sh", "-c", f"{GAME} -title 'Block Party' 'play' >/dev/null 2>&1 & echo $!"],
        user=STUDENT,
        cwd="/",
        env={"DISPLAY": display, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def ended(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
async def ui(xvfb_display: str) -> AsyncIterator[SupervisedDesktop]:
    desktop = await asyncio.to_thread(SupervisedDesktop, xvfb_display)
    try:
        yield desktop
    finally:
        await asyncio.to_thread(desktop.close)


async def test_a_blocked_program_is_warned_about_then_closed_and_the_teacher_sees_both(
    tmp_path: Path, ui: SupervisedDesktop, xvfb_display: str
) -> None:
    now = [float(int(time.time()))]
    platform = LinuxPlatform(
        student_uid=STUDENT, first_person_uid=1000, env={"DISPLAY": xvfb_display}
    )
    game: int | None = None
    async with classroom(tmp_path) as room:
        try:
            agent = await room.start_agent(
                "Ada's laptop",
                desktop=ui,
                platform=platform,
                clock=lambda: now[0],
                grace_seconds=2,  # for the program to end once asked, before it is killed
                focus_check_seconds=0.1,
            )
            device = agent.state.device_id
            teacher = await room.console(room.staff("Ms Smith"))
            app = ClassroomApp(HubConnection(room.staff("Ms Smith"), url=room.url))
            async with app.run_test(size=(140, 45), notifications=True) as pilot:
                await until(pilot, lambda: len(app.query(StudentTile)) == 1)
                tile = app.query_one(StudentTile)
                focus = StartFocus(apps=("writer",), sites=("youtube.com",), grace_seconds=30)
                sent = await teacher.submit(focus, [device])
                started = await teacher.take(Result, lambda r: r.command_id == sent.body.id)
                assert started.ok and "focus mode until" in started.detail

                game = start_game(xvfb_display)
                warned = await teacher.take(DeviceAlert, lambda a: a.kind == "focus_warned")
                assert warned.device_id == device
                assert f"{GAME.name} is not one of this lesson's programs" in warned.detail
                assert f"pid {game}" in warned.detail and "Block Party" in warned.detail
                # The student sees the warning, from their teacher, and the game still runs.
                title = f"^{re.escape(message_title('Ms Smith (focus mode)'))}$"
                await asyncio.to_thread(
                    poll_until,
                    lambda: find_windows(xvfb_display, title) or None,
                    10,
                    "no warning on the student's screen",
                )
                assert not ended(game)
                await until(pilot, lambda: tile.alert is not None)
                assert tile.alert is not None and tile.alert.kind == "focus_warned"

                now[0] += 30  # the grace period is over
                closed = await teacher.take(DeviceAlert, lambda a: a.kind == "focus_closed")
                assert "closed after the warning" in closed.detail and GAME.name in closed.detail
                await eventually(lambda: ended(game), "the blocked program was not closed")
                await until(
                    pilot, lambda: tile.alert is not None and tile.alert.kind == "focus_closed"
                )
                expected = f"Ada's laptop: closed by focus mode at {tile.alert.time}"
                await until(pilot, lambda: any(expected in toast for toast in toasts(app)))
            # Both attempts are in the audit log, as the device reported them.
            events = [r.action for r in room.store.audit(limit=50) if r.action.startswith("event:")]
            assert {"event:focus_warned", "event:focus_closed"} <= set(events)
        finally:
            if game is not None:
                with contextlib.suppress(psutil.NoSuchProcess):
                    psutil.Process(game).kill()
