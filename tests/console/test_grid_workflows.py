"""The class grid's workflows against a real hub and students running real agent code."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Static

from console.dialogs.confirm_dialog import ConfirmDialog
from console.dialogs.message_dialog import MessageDialog
from console.roster import OutcomeKind
from console.widgets.class_grid import Filter, SortOrder
from tests.console.harness import rendered_lines, tile_text
from tests.console.live_class import LiveClass, doing, live_class

PWNED = "[bold red]pwned[/]"
ESCAPING_TITLE = "\x1b]0;owned\x07\x1b[2J[bold]big[/bold] homework"


async def confirm(live: LiveClass) -> None:
    await live.until(lambda: isinstance(live.app.screen, ConfirmDialog))
    await live.pilot.press("enter")


async def in_dialog(live: LiveClass, key: str) -> MessageDialog:
    await live.pilot.press(key)
    await live.until(lambda: isinstance(live.app.screen, MessageDialog))
    screen = live.app.screen
    assert isinstance(screen, MessageDialog)
    return screen


async def test_select_by_keyboard_and_mouse_then_lock_with_a_note_and_unlock(
    tmp_path: Path,
) -> None:
    async with live_class(tmp_path, {"Ada": None, "Ben": None, "Cai": None}) as live:
        ada, ben, cai = (live.tile_of(agent) for agent in live.room.agents.values())
        assert [t.device.name for t in live.app.class_grid.tiles] == ["Ada", "Ben", "Cai"]
        await live.pilot.press("space")  # Ada, under the cursor
        await live.pilot.click(cai, offset=(3, 3), control=True)  # and Cai, with the mouse
        assert live.app.class_grid.selected_ids == (ada.device_id, cai.device_id)

        await in_dialog(live, "l")
        await live.pilot.press(*"Eyes", "enter")
        await confirm(live)

        agents = live.room.agents
        await live.until(lambda: agents[ada.device_id].desktop.locked)
        await live.until(lambda: agents[cai.device_id].desktop.locked)
        assert not agents[ben.device_id].desktop.locked
        await live.until(lambda: ada.has_class("-locked") and cai.has_class("-locked"))
        await live.until(
            lambda: all(t.outcome and t.outcome.kind is OutcomeKind.DONE for t in (ada, cai))
        )
        assert ben.outcome is None
        assert "🔒" in tile_text(ada)

        await live.pilot.press("u")  # unlock: not disruptive, no question asked
        await live.until(lambda: not agents[ada.device_id].desktop.locked)
        await live.until(lambda: not agents[cai.device_id].desktop.locked)


async def test_each_device_shows_done_failed_queued_or_offline(tmp_path: Path) -> None:
    students = {"Ada": doing("firefox", "Maths — Firefox")}
    async with live_class(tmp_path, students, offline=("Ben",)) as live:
        grid = live.app.class_grid
        [ada_agent] = live.room.agents.values()
        ada = live.tile_of(ada_agent)
        [ben] = [tile for tile in live.tiles() if tile.device.name == "Ben"]
        assert not ben.device.online
        await live.until(lambda: "offline" in tile_text(ben))

        grid.select_all()
        await in_dialog(live, "l")
        await live.pilot.press("enter")
        await confirm(live)
        await live.until(lambda: ada.outcome is not None and ada.outcome.kind is OutcomeKind.DONE)
        assert ben.outcome is not None and ben.outcome.kind is OutcomeKind.QUEUED  # kept for later
        assert "queued" in tile_text(ben)

        await live.pilot.press("p")  # a screenshot is no use later: refused for Ben
        await live.until(
            lambda: (
                ada.outcome is not None
                and ada.outcome.action == "screenshot"
                and ada.outcome.kind is OutcomeKind.DONE
            )
        )
        await live.until(
            lambda: ben.outcome is not None and ben.outcome.kind is OutcomeKind.OFFLINE
        )
        assert "✗ offline" in tile_text(ben)

        grid.clear_selection()
        grid.move_cursor(ada.device_id)
        dialog = await in_dialog(live, "r")
        await live.pilot.press(*"chess", "enter")  # not on the class's list of applications
        await live.until(lambda: ada.outcome is not None and ada.outcome.kind is OutcomeKind.FAILED)
        failed = ada.outcome
        assert failed is not None and failed.detail  # the device's reason, in the tooltip
        assert failed.detail in str(ada.tooltip)
        assert dialog is not None

        # Close app offers the application the student is in.
        dialog = await in_dialog(live, "x")
        assert dialog.query_one(Input).value == "firefox"
        await live.pilot.press("escape")

        # Open URL refuses what is not a web address before anything is sent.
        dialog = await in_dialog(live, "o")
        await live.pilot.press(*"file:/etc/passwd", "enter")
        await live.until(lambda: dialog.query_one("#hint", Static).display)
        assert isinstance(live.app.screen, MessageDialog)
        await live.pilot.press("escape")


async def test_filter_and_sort_by_state_and_application(tmp_path: Path) -> None:
    students = {
        "Ada": doing("firefox", "Fractions"),
        "Ben": doing("scratch", "Maze", idle_seconds=300),
        "Cai": doing("firefox", "Volcanoes"),
    }
    async with live_class(tmp_path, students) as live:
        grid = live.app.class_grid

        def names() -> list[str]:
            return [tile.device.name for tile in grid.tiles]

        await live.until(lambda: all(t.device.app for t in live.tiles()))
        await live.until(lambda: any(t.device.idle for t in live.tiles()))
        assert "Fractions" in tile_text(live.tile_of(next(iter(live.room.agents.values()))))
        assert "💤" in tile_text(grid.tiles[1])

        seen = []
        for _ in range(4):
            await live.pilot.press("f")
            seen.append((grid.filter, grid.filter_application, names()))
        assert seen == [
            (Filter.ONLINE, "", ["Ada", "Ben", "Cai"]),
            (Filter.LOCKED, "", []),
            (Filter.IDLE, "", ["Ben"]),
            (Filter.APPLICATION, "scratch", ["Ben"]),  # the student under the cursor's
        ]
        grid.set_filter(Filter.APPLICATION, "firefox")
        await live.pilot.pause()
        assert names() == ["Ada", "Cai"]
        await live.until(lambda: not grid.tiles[0].display or len(grid.device_ids) == 2)
        grid.set_filter(Filter.ALL)

        orders = []
        for _ in range(2):
            await live.pilot.press("s")
            orders.append((grid.order_by, names()))
        assert orders == [
            (SortOrder.APPLICATION, ["Ada", "Cai", "Ben"]),
            (SortOrder.STATE, ["Ben", "Ada", "Cai"]),  # idle first: it needs the teacher's eye
        ]


async def test_a_hostile_name_and_window_title_show_literally_in_grid_and_detail(
    tmp_path: Path,
) -> None:
    students = {PWNED: doing("firefox", ESCAPING_TITLE)}
    async with live_class(tmp_path, students) as live:
        [agent] = live.room.agents.values()
        tile = live.tile_of(agent)
        await live.until(lambda: "homework" in tile.device.title)

        text = tile_text(tile)
        assert PWNED in text
        assert "[bold]big[/bold] homework" in text
        assert all("\x1b" not in strip.text for strip in rendered_lines(tile))

        await live.pilot.press("enter")
        await live.until(lambda: live.app.closer_look is not None)
        closer = live.app.closer_look
        assert closer is not None
        await live.pilot.pause()
        assert closer.title == f"Closer look: {PWNED}"
        details = str(closer.query_one("#details", Static).render())
        assert "[bold]big[/bold] homework" in details and "\x1b" not in details
        assert PWNED in tile_text(closer.tile)
        events = str(closer.query_one("#events", Static).render())
        assert "[bold]big[/bold] homework" in events and "\x1b" not in events
