"""The grid fills the terminal: tiles cover the area between header and footer at any size."""

from __future__ import annotations

import pytest
from textual.geometry import Region
from textual.widgets import Footer, Header

from console.grid_shape import MIN_TILE_HIGH, MIN_TILE_WIDE, grid_shape
from tests.console.harness import device, running_console


@pytest.mark.parametrize("size", [(200, 55), (120, 40)])
@pytest.mark.parametrize("students", [12, 30])
async def test_tiles_cover_at_least_85_percent_between_header_and_footer(
    size: tuple[int, int], students: int
) -> None:
    devices = [device(f"d{n:02d}", f"Student {n:02d}") for n in range(students)]
    async with running_console(*devices) as console:
        await console.pilot.resize_terminal(*size)
        await console.wait_until(
            lambda: console.grid.shape.columns > 1 and console.grid.size.width == size[0],
            "the grid is laid out at the new size",
        )
        await console.pilot.pause()
        app = console.app
        top = app.query_one(Header).region.bottom
        bottom = app.query_one(Footer).region.y
        between = Region(0, top, size[0], bottom - top)
        covered = sum(
            tile.region.intersection(between).area for tile in console.grid.tiles if tile.display
        )
        print(
            f"{students} students at {size[0]}x{size[1]}: tiles cover {covered / between.area:.1%}"
        )
        assert covered / between.area >= 0.85, f"tiles cover {covered / between.area:.0%}"


@pytest.mark.parametrize("width", [40, 80, 120, 200, 320])
@pytest.mark.parametrize("height", [12, 30, 55, 90])
@pytest.mark.parametrize("students", [1, 2, 5, 12, 30, 40, 200])
@pytest.mark.parametrize("zoom", [-3, 0, 2])
def test_every_shape_fills_the_width_and_the_height_or_scrolls(
    width: int, height: int, students: int, zoom: int
) -> None:
    shape = grid_shape(students, width, height, zoom)
    used = shape.columns * shape.tile_width + (shape.columns - 1)
    assert width - shape.columns < used <= width  # columns share the width
    assert len(shape.rows) * shape.columns >= students
    if sum(shape.rows) <= height:
        assert sum(shape.rows) == height  # fits: the rows share the height exactly
    if zoom == 0 and sum(shape.rows) > height:
        # Only when everyone cannot fit at the smallest readable tile.
        assert students * MIN_TILE_WIDE * MIN_TILE_HIGH > width * height * 0.5


def test_zooming_in_never_makes_tiles_smaller() -> None:
    widths = [grid_shape(12, 197, 51, zoom).tile_width for zoom in range(-3, 4)]
    assert widths == sorted(widths)
