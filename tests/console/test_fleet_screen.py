"""The fleet table's search and sort, on a fleet the hub has already sent."""

from __future__ import annotations

from console.screens.fleet import FleetScreen

from .test_it_desk import plain_rows
from .test_it_snapshots import SIZE, AnsweredDesk, OneScreen


async def test_search_narrows_the_rows_and_a_heading_sorts_them() -> None:
    app = OneScreen(FleetScreen(AnsweredDesk()))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        fleet = app.screen
        assert isinstance(fleet, FleetScreen)
        assert [r[0] for r in plain_rows(fleet.table)] == [
            "[bold red]pwned[/]",
            "Ada's laptop",
            "Spare 1",
        ]
        await pilot.press("slash", *"eve")
        assert [r[0] for r in plain_rows(fleet.table)] == ["[bold red]pwned[/]", "Spare 1"]
        await pilot.press("backspace", "backspace", "backspace", *"on loan")
        assert [r[0] for r in plain_rows(fleet.table)] == ["Spare 1"]
        await pilot.press(*["backspace"] * 7, "enter")
        # A click on the "Asset tag" heading sorts by it; a second click reverses.
        x = (
            sum(
                column.get_render_width(fleet.table)
                for column in fleet.table.columns.values()
                if column.label.plain == "Name"
            )
            + 2
        )
        await pilot.click(fleet.table, offset=(x, 0))
        assert [r[1] for r in plain_rows(fleet.table)] == ["HR-0001", "HR-0002", "HR-0100"]
        await pilot.click(fleet.table, offset=(x, 0))
        assert [r[1] for r in plain_rows(fleet.table)] == ["HR-0100", "HR-0002", "HR-0001"]
        assert "Sorted by asset tag (reversed)" in app.export_screenshot().replace("&#160;", " ")
