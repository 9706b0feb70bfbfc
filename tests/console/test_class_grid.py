"""ClassGrid in the console: tiles by name, columns by width, cursor, selection, focus requests."""

from __future__ import annotations

from console.roster import DeviceView
from console.widgets.class_grid import ClassGrid
from console.widgets.student_tile import StudentTile
from tests.console.harness import device, running_console

# Shown sorted by name, ignoring case: Ada, ben, Cleo, Dev, Eli, Fay.
CLASS = [
    device("d-eli", "Eli"),
    device("d-ada", "Ada"),
    device("d-fay", "Fay"),
    device("d-cleo", "Cleo"),
    device("d-ben", "ben"),
    device("d-dev", "Dev"),
]
ORDER = ("d-ada", "d-ben", "d-cleo", "d-dev", "d-eli", "d-fay")


async def test_tiles_are_sorted_by_name_and_laid_out_in_columns() -> None:
    async with running_console(*CLASS) as console:
        grid = console.grid
        assert grid.device_ids == ORDER
        assert [tile.device_id for tile in grid.query_children(StudentTile)] == list(ORDER)
        assert grid.columns == 3  # two rows of three: the largest pictures for six
        first_row = [console.tile(device_id).region for device_id in ORDER[:3]]
        assert len({region.y for region in first_row}) == 1
        assert [region.x for region in first_row] == sorted(region.x for region in first_row)
        assert console.tile("d-dev").region.y > first_row[0].y
        assert console.tile("d-dev").region.x == first_row[0].x


async def test_columns_follow_the_terminal_width() -> None:
    async with running_console(*CLASS) as console:
        await console.pilot.resize_terminal(64, 40)
        await console.wait_until(lambda: console.grid.columns == 2, "two columns fit")
        assert len(console.grid.shape.rows) == 3

        await console.pilot.resize_terminal(200, 40)
        await console.wait_until(lambda: console.grid.columns == 3, "back to three")
        tile = console.tile("d-ada")
        assert tile.region.width > 60  # the tiles grew with the window


async def test_plus_and_minus_make_tiles_bigger_and_smaller() -> None:
    async with running_console(*CLASS) as console:
        grid, press = console.grid, console.pilot.press
        width = console.tile("d-ada").region.width
        await press("minus")
        await console.wait_until(lambda: grid.columns == 4, "smaller tiles, one more column")
        await console.wait_until(lambda: console.tile("d-ada").region.width < width, "narrower")
        await press("plus", "plus")
        await console.wait_until(lambda: grid.columns == 2, "bigger tiles")
        await console.wait_until(lambda: console.tile("d-ada").region.width > width, "wider")
        # A tile as big as the window asks the devices for bigger pictures (half-blocks show
        # a pixel per cell: smaller tiles need no more than the protocol's smallest, 64).
        await press("plus", "plus")
        await console.wait_until(lambda: grid.columns == 1, "one tile across")
        await console.wait_until(
            lambda: (
                console.link.calls_to("watch")[-1].width == console.app.grid_thumbnail_width
                and console.app.grid_thumbnail_width > console.link.calls_to("watch")[0].width
            ),
            "a sharper picture is asked for",
        )


async def test_arrows_move_the_cursor_through_rows_and_columns() -> None:
    async with running_console(*CLASS) as console:
        grid, press = console.grid, console.pilot.press
        await press("minus")  # four columns: a short last row
        await console.wait_until(lambda: grid.columns == 4, "four columns")
        assert grid.cursor_id == "d-ada"
        assert console.tile("d-ada").has_class("-focused")

        await press("right", "right")
        assert grid.cursor_id == "d-cleo"
        await press("down")  # nothing straight below in the short last row: its last tile
        assert grid.cursor_id == "d-fay"
        await press("down")  # no row below: stay
        assert grid.cursor_id == "d-fay"
        await press("left")
        assert grid.cursor_id == "d-eli"
        await press("left")  # runs on to the end of the row above
        assert grid.cursor_id == "d-dev"
        await press("up")  # no row above: stay
        assert grid.cursor_id == "d-dev"
        await press("home", "down")  # straight down a row of four
        assert grid.cursor_id == "d-eli"
        await press("up")
        assert grid.cursor_id == "d-ada"
        await press("end")
        assert grid.cursor_id == "d-fay"
        assert [console.tile(i).has_class("-focused") for i in ORDER].count(True) == 1


async def test_space_selects_and_actions_apply_to_the_selection_or_else_the_cursor() -> None:
    async with running_console(*CLASS) as console:
        grid, press = console.grid, console.pilot.press
        assert grid.selected_ids == ("d-ada",)  # nothing selected: the cursor's tile

        await press("right", "right", "space", "left", "left", "space")
        assert list(grid.selected_ids) == ["d-ada", "d-cleo"]  # display order, not click order
        assert console.tile("d-cleo").has_class("-selected")

        await press("right", "right", "space")
        assert grid.selected_ids == ("d-ada",)
        assert not console.tile("d-cleo").has_class("-selected")


async def test_a_and_ctrl_a_select_everyone_then_no_one() -> None:
    async with running_console(*CLASS) as console:
        grid, press = console.grid, console.pilot.press

        await press("a")
        assert grid.selected_ids == ORDER
        assert all(console.tile(device_id).has_class("-selected") for device_id in ORDER)
        await press("a")
        assert not grid.has_selection
        await press("ctrl+a")
        assert grid.selected_ids == ORDER
        await press("ctrl+a")
        assert not grid.has_selection


async def test_enter_and_double_click_ask_for_a_closer_look() -> None:
    async with running_console(*CLASS) as console:
        await console.pilot.press("right", "enter")
        await console.wait_until(
            lambda: console.handled(ClassGrid.FocusRequested), "a closer look is asked for"
        )
        assert [m.device_id for m in console.handled(ClassGrid.FocusRequested)] == ["d-ben"]
        await console.pilot.press("escape")  # back from the closer look
        await console.wait_until(lambda: console.app.closer_look is None, "back at the grid")

        await console.pilot.double_click(console.tile("d-dev"))
        await console.wait_until(
            lambda: len(console.handled(ClassGrid.FocusRequested)) == 2, "a second closer look"
        )
        assert console.handled(ClassGrid.FocusRequested)[-1].device_id == "d-dev"
        assert console.grid.cursor_id == "d-dev"


async def test_a_click_moves_the_cursor() -> None:
    async with running_console(*CLASS) as console:
        await console.pilot.click(console.tile("d-eli"), offset=(4, 4))
        await console.pilot.pause()

        assert console.grid.cursor_id == "d-eli"
        assert console.tile("d-eli").has_class("-focused")
        assert not console.tile("d-ada").has_class("-focused")


async def test_departed_devices_lose_their_tile_selection_and_thumbnails() -> None:
    async with running_console(*CLASS) as console:
        await console.pilot.press("right", "space", "right", "space")  # ben, cleo; cursor cleo
        remaining = [view for view in CLASS if view.device_id not in ("d-ben", "d-cleo")]

        await console.show_devices(*remaining)

        grid = console.grid
        assert grid.device_ids == ("d-ada", "d-dev", "d-eli", "d-fay")
        await console.wait_until(
            lambda: len(grid.query_children(StudentTile)) == 4, "departed tiles are removed"
        )
        assert not grid.has_selection
        assert grid.cursor_id == "d-dev"  # the tile that slid into the cursor's place
        [unwatch] = await console.calls_to("unwatch")
        assert set(unwatch.device_ids) == {"d-ben", "d-cleo"}


async def test_a_device_joining_or_renamed_takes_its_place_by_name() -> None:
    async with running_console(*CLASS) as console:
        console.link.app.device_changed(device("d-bo", "Bo"))
        await console.wait_until(lambda: console.grid.tile("d-bo"), "Bo gets a tile")
        assert console.grid.device_ids[:3] == ("d-ada", "d-ben", "d-bo")

        console.link.app.device_changed(device("d-ada", "Zed"))
        await console.wait_until(lambda: console.grid.device_ids[-1] == "d-ada", "Zed sorts last")
        children = [tile.device_id for tile in console.grid.query_children(StudentTile)]
        assert children == list(console.grid.device_ids)


async def test_the_cursor_stays_on_its_device_when_the_order_changes() -> None:
    async with running_console(*CLASS) as console:
        await console.pilot.press("right")  # ben
        console.link.app.device_changed(DeviceView("d-0", "Aaron", "7B", online=True))
        await console.wait_until(lambda: console.grid.tile("d-0"), "Aaron gets a tile")

        assert console.grid.cursor_id == "d-ben"
        await console.pilot.press("left", "left")
        assert console.grid.cursor_id == "d-0"
