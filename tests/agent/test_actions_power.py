"""Log-off, restart, shutdown: a countdown the student sees, cancellable; only the OS call replaced.

The final call is a real program that records what it was asked to do, so everything up to
the operating system runs as it would on a student's device.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from agent.desktop import HeadlessDesktop
from agent.platforms import PowerCommands
from protocol.actions import CancelPower, LogOff, Reboot, ShutDown

from ..classroom import Classroom, classroom
from .actions_kit import eventually, it_staff, run

# Written aside, then renamed into place: the test waits for the file to exist, and a file
# created by write_text exists, empty, before its text is in it.
RECORD = (
    "import pathlib, sys; done = pathlib.Path(sys.argv[1]); "
    "aside = done.with_suffix('.part'); aside.write_text(sys.argv[2]); aside.replace(done)"
)


@pytest.fixture
async def room(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with classroom(tmp_path) as room:
        yield room


def recording(record: Path) -> PowerCommands:
    def final(kind: str) -> tuple[str, ...]:
        return (sys.executable, "-c", RECORD, str(record), kind)

    return PowerCommands(logoff=final("logoff"), reboot=final("reboot"), shutdown=final("shutdown"))


async def test_a_restart_counts_down_on_screen_then_calls_the_system(
    room: Classroom, tmp_path: Path
) -> None:
    record, desktop = tmp_path / "called.txt", HeadlessDesktop()
    agent = await room.start_agent("Ada's laptop", desktop=desktop, power=recording(record))
    result = await run(
        await it_staff(room), Reboot(seconds=0, message="Updates tonight"), agent.state.device_id
    )
    assert result.ok and result.detail == "reboot in 0 s unless cancelled (cancel_power)"
    [shown] = desktop.countdowns
    assert "This computer will restart" in shown.text and "Sam (IT)" in shown.text
    assert "Updates tonight" in shown.text
    await eventually(record.exists, "the final call was never made")
    assert record.read_text() == "reboot"
    assert desktop.countdown is None


async def test_a_countdown_can_be_cancelled_before_it_ends(room: Classroom, tmp_path: Path) -> None:
    record, desktop = tmp_path / "called.txt", HeadlessDesktop()
    agent = await room.start_agent("Ada's laptop", desktop=desktop, power=recording(record))
    it = await it_staff(room)
    before = time.time()
    started = await run(it, ShutDown(seconds=600), agent.state.device_id)
    assert started.ok
    shown = desktop.countdown
    assert shown is not None and "shut down" in shown.text
    assert before + 600 <= shown.deadline <= time.time() + 600
    cancelled = await run(it, CancelPower(), agent.state.device_id)
    assert cancelled.ok and cancelled.detail == "shutdown cancelled"
    assert desktop.countdown is None and agent.power.plan is None
    again = await run(it, CancelPower(), agent.state.device_id)
    assert again.ok and again.detail == "nothing was counting down"
    # A log-off asked for now runs at once: the shutdown's call is not waiting behind it.
    assert (await run(it, LogOff(seconds=0), agent.state.device_id)).ok
    await eventually(record.exists, "the log-off's final call was never made")
    assert record.read_text() == "logoff"


async def test_a_failed_final_call_is_reported_to_the_hub(room: Classroom) -> None:
    fails = (sys.executable, "-c", "import sys; sys.exit('no permission to reboot')")
    power = PowerCommands(logoff=fails, reboot=fails, shutdown=fails)
    agent = await room.start_agent("Ada's laptop", power=power)
    assert (await run(await it_staff(room), Reboot(seconds=0), agent.state.device_id)).ok

    def reported() -> bool:
        return any(row.action == "event:power_failed" for row in room.store.audit(limit=20))

    await eventually(reported, "the failure never reached the hub")
    [row] = [row for row in room.store.audit(limit=20) if row.action == "event:power_failed"]
    assert "no permission to reboot" in row.detail
