"""The class at a glance: a tile per device, sorted by name, with a cursor and a selection."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.containers import ScrollableContainer
from textual.events import Resize
from textual.message import Message
from textual.widget import Widget

from console.roster import DeviceView
from console.widgets.student_tile import StudentTile

TILE_MIN_WIDTH = 28
"""Cells a tile needs to show a name, a status line and a recognisable screen."""


class ClassGrid(ScrollableContainer):
    """Tiles in as many columns as fit; arrows move the cursor, space selects."""

    DEFAULT_CSS = """
    ClassGrid {
        layout: grid;
        grid-size: 1;
        overflow-x: hidden;
        scrollbar-gutter: stable;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("left", "cursor_left", "Left", show=False),
        Binding("right", "cursor_right", "Right", show=False),
        Binding("home", "cursor_first", "First", show=False),
        Binding("end", "cursor_last", "Last", show=False),
        Binding("space", "toggle_selection", "Select"),
        Binding("a", "toggle_all", "All/none"),
        Binding("enter", "closer_look", "Closer look"),
    ]

    class FocusRequested(Message):
        """The teacher asked for a closer look at one device."""

        def __init__(self, device_id: str) -> None:
            super().__init__()
            self.device_id = device_id

    class SelectionChanged(Message):
        """The devices an action would apply to changed (selection or cursor moved)."""

        def __init__(self, grid: ClassGrid) -> None:
            super().__init__()
            self.grid = grid

        @property
        def control(self) -> ClassGrid:
            return self.grid

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._tiles: dict[str, StudentTile] = {}
        # Display order of device ids; the source of truth, since removal is asynchronous.
        self._order: list[str] = []
        self._selected: set[str] = set()
        self._cursor: str | None = None
        self._columns = 1

    @property
    def device_ids(self) -> tuple[str, ...]:
        """Every device shown, in display order."""
        return tuple(self._order)

    @property
    def selected_ids(self) -> tuple[str, ...]:
        """The devices an action applies to: the selection, else the tile under the cursor."""
        if self._selected:
            return tuple(device_id for device_id in self._order if device_id in self._selected)
        return () if self._cursor is None else (self._cursor,)

    @property
    def has_selection(self) -> bool:
        """Whether any tile is selected (otherwise actions apply to the cursor's tile)."""
        return bool(self._selected)

    @property
    def cursor_id(self) -> str | None:
        """The device under the cursor, if any."""
        return self._cursor

    @property
    def columns(self) -> int:
        """How many tiles fit side by side at the current width."""
        return self._columns

    def tile(self, device_id: str) -> StudentTile | None:
        """The tile of a device, or None when the device is not shown."""
        return self._tiles.get(device_id)

    def show_roster(self, devices: Iterable[DeviceView]) -> None:
        """Show exactly these devices: add tiles for newcomers, remove the departed."""
        roster = {device.device_id: device for device in devices}
        for device_id in [device_id for device_id in self._tiles if device_id not in roster]:
            self._remove_tile(device_id)
        new_tiles = []
        for device in roster.values():
            tile = self._tiles.get(device.device_id)
            if tile is None:
                new_tiles.append(self._tiles.setdefault(device.device_id, StudentTile(device)))
            else:
                tile.update_device(device)
        if new_tiles:
            self.mount_all(new_tiles)
        self._sort()

    def update_device(self, device: DeviceView) -> None:
        """Show one device's new state, adding a tile if it is new to the class."""
        tile = self._tiles.get(device.device_id)
        if tile is None:
            tile = self._tiles[device.device_id] = StudentTile(device)
            self.mount(tile)
            self._sort()
        else:
            renamed = tile.device.sort_key != device.sort_key
            tile.update_device(device)
            if renamed:
                self._sort()

    def select_all(self) -> None:
        """Select every device shown."""
        self._set_selection(set(self._order))

    def clear_selection(self) -> None:
        """Select nothing, so actions apply to the tile under the cursor."""
        self._set_selection(set())

    def move_cursor(self, device_id: str) -> None:
        """Put the cursor on a device's tile and scroll it into view."""
        if device_id not in self._tiles:
            raise KeyError(device_id)
        if device_id == self._cursor:
            return
        if self._cursor is not None and (old := self._tiles.get(self._cursor)) is not None:
            old.has_cursor = False
        self._cursor = device_id
        tile = self._tiles[device_id]
        tile.has_cursor = True
        self.scroll_to_widget(tile, animate=False)
        self.post_message(self.SelectionChanged(self))

    def action_cursor_up(self) -> None:
        self._step_cursor(-self._columns, wrap=False)

    def action_cursor_down(self) -> None:
        self._step_cursor(self._columns, wrap=False)

    def action_cursor_left(self) -> None:
        self._step_cursor(-1, wrap=True)

    def action_cursor_right(self) -> None:
        self._step_cursor(1, wrap=True)

    def action_cursor_first(self) -> None:
        if self._order:
            self.move_cursor(self._order[0])

    def action_cursor_last(self) -> None:
        if self._order:
            self.move_cursor(self._order[-1])

    def action_toggle_selection(self) -> None:
        if self._cursor is not None:
            self._set_selection(self._selected ^ {self._cursor})

    def action_toggle_all(self) -> None:
        if self._order and self._selected == set(self._order):
            self.clear_selection()
        else:
            self.select_all()

    def action_closer_look(self) -> None:
        if self._cursor is not None:
            self.post_message(self.FocusRequested(self._cursor))

    def on_resize(self, event: Resize) -> None:
        columns = max(1, self.scrollable_content_region.width // TILE_MIN_WIDTH)
        if columns != self._columns:
            self._columns = columns
            self.styles.grid_size_columns = columns
            if self._cursor is not None:
                self.call_after_refresh(self._scroll_to_cursor)

    def on_student_tile_clicked(self, event: StudentTile.Clicked) -> None:
        event.stop()
        self.focus()
        self.move_cursor(event.tile.device_id)
        if event.chain == 2:
            self.post_message(self.FocusRequested(event.tile.device_id))

    def _step_cursor(self, step: int, *, wrap: bool) -> None:
        """Move the cursor `step` tiles along the reading order.

        Left and right run on to the next row; up and down stop at the edges, except that
        down from a short last row lands on the last tile.
        """
        if not self._order:
            return
        if self._cursor is None:
            self.move_cursor(self._order[0])
            return
        index = self._order.index(self._cursor) + step
        if not wrap and index < 0:
            return
        if not wrap and index >= len(self._order):
            last_row = (len(self._order) - 1) // self._columns
            if self._order.index(self._cursor) // self._columns == last_row:
                return
        self.move_cursor(self._order[max(0, min(index, len(self._order) - 1))])

    def _scroll_to_cursor(self) -> None:
        if self._cursor is not None and (tile := self._tiles.get(self._cursor)) is not None:
            self.scroll_to_widget(tile, animate=False)

    def _set_selection(self, selected: set[str]) -> None:
        if selected == self._selected:
            return
        for device_id in selected ^ self._selected:
            if (tile := self._tiles.get(device_id)) is not None:
                tile.selected = device_id in selected
        self._selected = selected
        self.post_message(self.SelectionChanged(self))

    def _remove_tile(self, device_id: str) -> None:
        tile = self._tiles.pop(device_id)
        index = self._order.index(device_id)
        self._order.remove(device_id)
        tile.remove()
        if device_id in self._selected:
            self._set_selection(self._selected - {device_id})
        if device_id == self._cursor:
            self._cursor = None
            if self._order:
                # The tile that slid into its place, so the cursor stays where the eye is.
                self.move_cursor(self._order[min(index, len(self._order) - 1)])
            else:
                self.post_message(self.SelectionChanged(self))

    def _sort(self) -> None:
        order = sorted(self._tiles, key=lambda device_id: self._tiles[device_id].device.sort_key)
        if order != self._order:
            self._order = order
            rank = {device_id: index for index, device_id in enumerate(order)}
            # Tiles being removed are still children for a moment: they sort last.
            self.sort_children(key=lambda widget: _rank_of(widget, rank))
        if self._cursor is None and self._order:
            self.move_cursor(self._order[0])


def _rank_of(widget: Widget, rank: dict[str, int]) -> int:
    if isinstance(widget, StudentTile):
        return rank.get(widget.device_id, len(rank))
    return len(rank)
