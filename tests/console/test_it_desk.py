"""The IT desk against a real hub and real agent code: fleet, life cycle, one device, audit.

A device calls itself `[bold red]pwned[/]` and reports a model full of escape sequences:
every view shows both as the literal characters they are.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from PIL import Image
from rich.text import Text
from textual.widgets import Button, Select

from agent.platforms.linux import LinuxPlatform
from console.app import ClassroomApp
from console.dialogs.record_dialog import RecordDialog
from console.hub_link import HubConnection
from console.screens.audit import AuditScreen
from console.screens.device_desk import DeviceDesk
from console.screens.fleet import FleetScreen
from console.widgets.literal_table import LiteralTable
from console.widgets.screenshot_view import ScreenshotView
from hub.lifecycle import LifeCycle
from protocol.certificates import Role
from protocol.fleet import LifeState

from ..classroom import Classroom, classroom
from .test_live_hub import until

HOSTILE_NAME = "[bold red]pwned[/]"
HOSTILE_MODEL = "\x1b]0;owned\x07\x1b[31m[link=x]Model X[/link]"
STUDENT = 4711


class HostilePlatform(LinuxPlatform):
    """This machine, as a student's: its model name is the device's to choose."""

    def machine_facts(self) -> dict[str, str]:
        return {**super().machine_facts(), "model": HOSTILE_MODEL, "serial number": "SN-42"}


@pytest.fixture
async def room(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with classroom(tmp_path) as room:
        yield room


@pytest.fixture
def student_program() -> Iterator[int]:
    """A `sleep` of the student's, not our child (the agent never kills its own helpers)."""
    done = subprocess.run(
        ["sh", "-c", "sleep 600 >/dev/null 2>&1 & echo $!"],
        user=STUDENT,
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(done.stdout)
    yield pid
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(pid).kill()


def plain_rows(table: LiteralTable) -> list[list[str]]:
    rows = [table.get_row_at(index) for index in range(table.row_count)]
    for row in rows:
        # Literal: no cell carries a style that a device's markup could have given it.
        assert all(isinstance(cell, Text) and not cell.spans for cell in row)
    return [[cell.plain for cell in row] for row in rows]


def ended(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_fleet_life_cycle_device_view_and_audit_on_a_live_hub(
    room: Classroom,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    student_program: int,
) -> None:
    monkeypatch.chdir(tmp_path)  # exports and label sheets go to the current folder
    platform = HostilePlatform(student_uid=STUDENT, env={})
    pwned = await room.start_agent(HOSTILE_NAME, platform=platform, sample_seconds=0.1)
    await room.start_agent("Ada's laptop")
    pwned_id = pwned.state.device_id
    it = room.staff("Sam", Role.IT, ("*",))
    app = ClassroomApp(HubConnection(it, url=room.url))
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: len(app.class_grid.device_ids) == 2)
        await pilot.press("i")
        assert isinstance(app.screen, FleetScreen)
        fleet = app.screen
        await until(pilot, lambda: fleet.table.row_count == 2)
        rows = plain_rows(fleet.table)
        assert [row[0] for row in rows] == [HOSTILE_NAME, "Ada's laptop"]  # "[" sorts first
        await until(pilot, lambda: "pwned[/]" in app.export_screenshot())
        # Model, serial, battery: what the devices last told the hub, asked for from here.
        await pilot.press("f")
        await until(pilot, lambda: plain_rows(fleet.table)[0][6] == "SN-42")
        assert (
            plain_rows(fleet.table)[0][5] == "\ufffd]0;owned\ufffd\ufffd[31m[link=x]Model X[/link]"
        )

        # The life cycle: the hostile device goes in for repair with a tag and a student.
        fleet.table.move_cursor(row=0)
        await pilot.press("e")
        dialog = app.screen
        assert isinstance(dialog, RecordDialog)
        dialog.query_one("#asset-tag").value = "HR-0042"
        dialog.query_one("#student").value = "Eve"
        dialog.query_one("#state", Select).value = LifeState.IN_REPAIR.value
        dialog.query_one("#save", Button).press()
        await until(
            pilot, lambda: LifeCycle(room.store).record(pwned_id).state is LifeState.IN_REPAIR
        )
        await until(pilot, lambda: "in repair" in plain_rows(fleet.table)[0])
        assert plain_rows(fleet.table)[0][1:3] == ["HR-0042", "Eve"]

        # Export and labels: one CSV row per device, a label sheet written.
        await pilot.press("x")
        await until(pilot, lambda: any(tmp_path.glob("homeroom-fleet-*.csv")))
        [export] = tmp_path.glob("homeroom-fleet-*.csv")
        lines = export.read_text().splitlines()
        assert len(lines) == 3 and lines[0].startswith("name,asset_tag,student,state")
        assert any(line.startswith(f"{HOSTILE_NAME},HR-0042,Eve,in_repair") for line in lines)
        await pilot.press("p")
        await until(pilot, lambda: any(tmp_path.glob("homeroom-labels-*.pdf")))

        # One device: system facts, processes, diagnostics and a screenshot, as they are.
        fleet.table.focus()
        await pilot.press("enter")
        assert isinstance(app.screen, DeviceDesk)
        desk = app.screen
        await until(pilot, lambda: desk.table("system").row_count > 0, seconds=30)
        facts = dict(map(tuple, plain_rows(desk.table("system"))))
        assert facts["model"] == "\ufffd]0;owned\ufffd\ufffd[31m[link=x]Model X[/link]"
        assert facts["serial number"] == "SN-42"
        await until(pilot, lambda: desk.table("diagnostics").row_count > 0, seconds=30)
        assert "hub round trip" in [row[0] for row in plain_rows(desk.table("diagnostics"))]
        await until(pilot, lambda: desk.table("processes").row_count > 0, seconds=30)
        pids = [int(row[0]) for row in plain_rows(desk.table("processes"))]
        assert student_program in pids

        desk.query_one("#device-tabs").active = "processes-tab"
        desk.table("processes").move_cursor(row=pids.index(student_program))
        await pilot.press("k")
        await until(pilot, lambda: ended(student_program), seconds=30)

        await pilot.press("s")
        view = desk.query_one(ScreenshotView)
        await until(pilot, lambda: view.image is not None, seconds=30)
        assert view.image is not None
        with Image.open(io.BytesIO(view.image)) as shot:
            assert shot.size == pwned.screen.size
        await until(pilot, lambda: desk.table("history").row_count == 3)

        # The audit trail names the device literally, and what IT did to it.
        await pilot.press("escape")
        await pilot.press("escape")
        await pilot.press("v")
        assert isinstance(app.screen, AuditScreen)
        audit = app.screen
        await until(pilot, lambda: audit.table.row_count > 0)
        rows = plain_rows(audit.table)
        actions = {(row[2], row[4]) for row in rows}
        assert {
            ("device_record", "ok"),
            ("kill_process", "delivered 1"),
            ("screenshot", "delivered 1"),
        } <= actions
        assert any(row[1] == HOSTILE_NAME and row[2] == "result" for row in rows)
        assert any(row[3] == HOSTILE_NAME for row in rows)
        await until(pilot, lambda: "pwned[/]" in app.export_screenshot())


async def test_a_teacher_sees_own_audit_rows_and_may_not_change_records(room: Classroom) -> None:
    from protocol.actions import LockScreen
    from protocol.messages import Result

    ada = (await room.start_agent("Ada's laptop")).state.device_id
    teacher = room.staff("Ms Smith", Role.TEACHER, ("7B",))
    for staff in (teacher, room.staff("Sam", Role.IT, ("*",))):
        console = await room.console(staff)
        await console.submit(LockScreen(message=""), [ada])
        await console.take(Result)
    app = ClassroomApp(HubConnection(teacher, url=room.url))
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: len(app.class_grid.device_ids) == 1)
        await pilot.press("v")
        audit = app.screen
        assert isinstance(audit, AuditScreen)
        await until(pilot, lambda: audit.table.row_count > 0)
        assert {row[1].split(" (")[0] for row in plain_rows(audit.table)} == {"Ms Smith"}
        await pilot.press("escape", "i")
        fleet = app.screen
        assert isinstance(fleet, FleetScreen)
        await until(pilot, lambda: fleet.table.row_count == 1)
        await pilot.press("e")
        dialog = app.screen
        assert isinstance(dialog, RecordDialog)
        dialog.query_one("#state", Select).value = LifeState.LOST.value
        await pilot.press("ctrl+s")
        await until(
            pilot, lambda: any("IT and admins" in str(n.message) for n in app._notifications)
        )
    assert LifeCycle(room.store).record(ada).state is LifeState.IN_SERVICE
