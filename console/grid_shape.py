"""How the class grid fills the window: how many columns, how tall each row.

Pure arithmetic on cells, so it is tested without a terminal. With no zoom, every tile
fits on screen and the tiles share the whole area, choosing the column count that gives
each student's screen the most room; a teacher can zoom in (fewer, bigger tiles that
scroll) or out (more, smaller ones). Rows are always as tall as the area allows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

TILE_CHROME_WIDE = 4
"""Cells across a tile that are not picture: border and padding on both sides."""
TILE_CHROME_HIGH = 4
"""Rows of a tile that are not picture: the border, the status line, the activity line."""
MIN_TILE_WIDE = 20
"""Narrowest tile: a name, the status marks and a picture you can still read a little."""
MIN_TILE_HIGH = 7
"""Shortest tile: its lines and three rows of picture."""
SCROLLING_TILE_WIDE = 28
"""Tile width when the class cannot all fit: a picture a teacher can still read."""
SCREEN_ASPECT = 1.6
"""Width over height of a typical student screen (16:10), for sizing tiles that scroll."""
CELL_ASPECT = 2.0
"""A terminal cell is about twice as tall as it is wide."""
GUTTER = 1
"""Cells between two columns."""


@dataclass(frozen=True, slots=True)
class GridShape:
    """Columns and row heights for a grid of tiles, and the picture room in each tile."""

    columns: int
    rows: tuple[int, ...]
    """The height of each row, top to bottom."""
    tile_width: int
    """The narrowest tile's width (columns share the width; some get one cell more)."""

    @property
    def picture_cells(self) -> tuple[int, int]:
        """Cells for the picture in the smallest tile."""
        return (
            max(0, self.tile_width - TILE_CHROME_WIDE),
            max(0, min(self.rows, default=0) - TILE_CHROME_HIGH),
        )


def _tile_width(width: int, columns: int) -> int:
    return (width - GUTTER * (columns - 1)) // columns


def _picture_room(tile_wide: int, tile_high: int) -> float:
    """How wide a 16:10 screen can be drawn in a tile, in cells: what a teacher sees."""
    wide = tile_wide - TILE_CHROME_WIDE
    high = tile_high - TILE_CHROME_HIGH
    return max(0.0, min(wide, high * CELL_ASPECT * SCREEN_ASPECT))


def _ideal_height(tile_wide: int) -> int:
    """The row height a tile of this width needs for a 16:10 screen."""
    picture_high = math.ceil((tile_wide - TILE_CHROME_WIDE) / (CELL_ASPECT * SCREEN_ASPECT))
    return max(MIN_TILE_HIGH, picture_high + TILE_CHROME_HIGH)


def _fill_rows(rows: int, height: int) -> tuple[int, ...]:
    """`rows` heights summing to `height`: the spare cells go to the first rows."""
    base, spare = divmod(height, rows)
    return tuple(base + (1 if row < spare else 0) for row in range(rows))


def fitting_columns(count: int, width: int, height: int) -> int:
    """The column count that shows all `count` tiles with the largest pictures, or 0 when
    they cannot all fit at the smallest tile size."""
    best, best_room, best_empty = 0, -1.0, 0
    for columns in range(1, count + 1):
        rows = math.ceil(count / columns)
        wide, high = _tile_width(width, columns), height // rows
        if wide < MIN_TILE_WIDE:
            break
        if high < MIN_TILE_HIGH:
            continue
        room, empty = _picture_room(wide, high), rows * columns - count
        # More room wins; at equal room, fewer empty places (the area is better covered).
        if room > best_room or (room == best_room and empty < best_empty):
            best, best_room, best_empty = columns, room, empty
    return best


def grid_shape(count: int, width: int, height: int, zoom: int = 0) -> GridShape:
    """The grid for `count` tiles in `width` x `height` cells.

    `zoom` 0 fits everyone on screen when possible; each step up takes one column away
    (bigger tiles), each step down adds one (smaller tiles).
    """
    width, height, count = max(1, width), max(1, height), max(1, count)
    most_columns = max(1, (width + GUTTER) // (MIN_TILE_WIDE + GUTTER))
    fitting = fitting_columns(count, width, height)
    # Too many to fit: tiles of a readable size, scrolling.
    natural = fitting or max(
        1, min(most_columns, (width + GUTTER) // (SCROLLING_TILE_WIDE + GUTTER))
    )
    columns = max(1, min(most_columns, count, natural - zoom))
    rows = math.ceil(count / columns)
    wide = _tile_width(width, columns)
    if rows * MIN_TILE_HIGH <= height and (zoom <= 0 or rows * _ideal_height(wide) <= height):
        heights = _fill_rows(rows, height)
    else:
        heights = (min(height, _ideal_height(wide)),) * rows
    return GridShape(columns, heights, wide)
