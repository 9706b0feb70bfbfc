"""IT reads a device's privacy report in the console (the device desk's Privacy tab),
through a real hub: who watched, captured or commanded it, and how each ended."""

from __future__ import annotations

from pathlib import Path

from console.app import ClassroomApp
from console.hub_link import HubConnection
from console.screens.device_desk import DeviceDesk
from console.screens.fleet import FleetScreen
from protocol.actions import LockScreen, TakeScreenshot, Watch
from protocol.certificates import ALL_GROUPS, Role
from protocol.messages import Result

from ..classroom import classroom
from .test_it_desk import plain_rows
from .test_live_hub import until


async def test_the_device_desk_shows_who_watched_captured_or_commanded_the_device(
    tmp_path: Path,
) -> None:
    async with classroom(tmp_path) as room:
        ada = await room.start_agent("Ada's laptop")
        teacher = await room.console(room.staff("Ms Smith"))
        for action in (Watch(), TakeScreenshot(max_width=64), LockScreen()):
            sent = await teacher.submit(action, [ada.state.device_id])
            result: Result = await teacher.take(Result, lambda r: r.command_id == sent.body.id)  # noqa: B023
            assert result.ok
        app = ClassroomApp(HubConnection(room.staff("Sam", Role.IT, (ALL_GROUPS,)), url=room.url))
        async with app.run_test(size=(200, 50)) as pilot:
            await until(pilot, lambda: len(app.class_grid.device_ids) == 1)
            await pilot.press("i")
            assert isinstance(app.screen, FleetScreen)
            fleet = app.screen
            await until(pilot, lambda: fleet.table.row_count == 1)
            fleet.table.focus()
            await pilot.press("enter")
            assert isinstance(app.screen, DeviceDesk)
            desk = app.screen

            def smiths() -> list[list[str]]:
                # The grid of this IT console may watch Ada too: its own rows may be there.
                rows = [row[1:4] for row in plain_rows(desk.table("privacy"))]
                return [row for row in rows if row[0] == "Ms Smith (teacher)"]

            await until(pilot, lambda: len(smiths()) == 3)
            rows = smiths()
            assert rows[0] == ["Ms Smith (teacher)", "watched", "ok"]
            assert rows[1] == ["Ms Smith (teacher)", "captured", "ok"]
            assert rows[2][:2] == ["Ms Smith (teacher)", "commanded: lock"]
