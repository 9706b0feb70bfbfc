"""The class at a glance: a tile per device filling the window, sorted and filtered, with a
cursor and a selection."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.containers import ScrollableContainer
from textual.events import Resize
from textual.message import Message
from textual.widget import Widget

from console.grid_shape import GridShape, grid_shape
from console.painter import PicturePainter
from console.picture import PictureMode
from console.printable import printable
from console.roster import DeviceView
from console.widgets.student_tile import StudentTile

MAX_ZOOM = 6
"""Steps of bigger (or smaller) tiles a teacher can take from the fitted size."""


class SortOrder(StrEnum):
    """How tiles are ordered."""

    NAME = "name"
    APPLICATION = "application"
    STATE = "state"


class Filter(StrEnum):
    """Which tiles are shown; APPLICATION keeps those using one application."""

    ALL = "all"
    ONLINE = "online"
    LOCKED = "locked"
    IDLE = "idle"
    APPLICATION = "application"


def _sort_key(order: SortOrder) -> Callable[[DeviceView], tuple[object, ...]]:
    if order is SortOrder.APPLICATION:
        return lambda device: (not device.app, device.app.casefold(), *device.sort_key)
    if order is SortOrder.STATE:
        # What needs the teacher's eye first: offline, then idle, then locked, then the rest.
        return lambda device: (device.online, not device.idle, not device.locked, *device.sort_key)
    return lambda device: device.sort_key


class ClassGrid(ScrollableContainer):
    """Tiles sharing the whole window; arrows move the cursor, space selects, + and - zoom."""

    DEFAULT_CSS = """
    ClassGrid {
        layout: grid;
        grid-size: 1;
        grid-gutter: 0 1;
        overflow-x: hidden;
        scrollbar-size-vertical: 1;
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
        Binding("plus,equals_sign", "zoom(1)", "Bigger", key_display="+"),
        Binding("minus", "zoom(-1)", "Smaller", key_display="-"),
        Binding("s", "next_sort", "Sort"),
        Binding("f", "next_filter", "Filter"),
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

    class ShapeChanged(Message):
        """The tiles changed size: pictures of another size are worth asking for."""

        def __init__(self, grid: ClassGrid) -> None:
            super().__init__()
            self.grid = grid

        @property
        def control(self) -> ClassGrid:
            return self.grid

    def __init__(
        self,
        *,
        mode: PictureMode = PictureMode.HALFBLOCK,
        painter: PicturePainter | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.mode = mode
        self.painter = painter or PicturePainter()
        self._own_painter = painter is None
        self._tiles: dict[str, StudentTile] = {}
        # Display order of the device ids shown; the source of truth, since removal is
        # asynchronous. Filtered-out tiles stay mounted, hidden, and are not in it.
        self._order: list[str] = []
        self._selected: set[str] = set()
        self._cursor: str | None = None
        self._shape = GridShape(1, (1,), 1)
        self._zoom = 0
        self.order_by = SortOrder.NAME
        self.filter = Filter.ALL
        self.filter_application = ""

    @property
    def device_ids(self) -> tuple[str, ...]:
        """Every device shown (the filter passes), in display order."""
        return tuple(self._order)

    @property
    def all_device_ids(self) -> tuple[str, ...]:
        """Every device of the class, shown or filtered out."""
        return tuple(self._tiles)

    @property
    def shape(self) -> GridShape:
        """Columns and row heights as last laid out."""
        return self._shape

    @property
    def zoom(self) -> int:
        """Steps bigger (positive) or smaller (negative) than the tiles that fit."""
        return self._zoom

    @property
    def all_tiles(self) -> tuple[StudentTile, ...]:
        """Every tile, shown or filtered out."""
        return tuple(self._tiles.values())

    @property
    def tiles(self) -> tuple[StudentTile, ...]:
        """The tiles shown, in display order."""
        return tuple(self._tiles[device_id] for device_id in self._order)

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
        """How many tiles are side by side."""
        return self._shape.columns

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
                new_tiles.append(self._tiles.setdefault(device.device_id, self._new_tile(device)))
            else:
                tile.update_device(device)
        if new_tiles:
            self.mount_all(new_tiles)
        self._sort()

    def update_device(self, device: DeviceView) -> None:
        """Show one device's new state, adding a tile if it is new to the class."""
        tile = self._tiles.get(device.device_id)
        if tile is None:
            tile = self._tiles[device.device_id] = self._new_tile(device)
            self.mount(tile)
            self._sort()
        else:
            key = _sort_key(self.order_by)
            moved = key(tile.device) != key(device) or self._passes(tile.device) != self._passes(
                device
            )
            tile.update_device(device)
            if moved:
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

    def set_zoom(self, zoom: int) -> None:
        """Tiles `zoom` steps bigger (positive) or smaller than those that fit everyone."""
        zoom = max(-MAX_ZOOM, min(MAX_ZOOM, zoom))
        if zoom != self._zoom:
            self._zoom = zoom
            self._lay_out()

    def set_sort(self, order: SortOrder) -> None:
        """Order the tiles by name, by application, or by what needs attention first."""
        self.order_by = order
        self._sort()

    def set_filter(self, kind: Filter, application: str = "") -> None:
        """Show only some tiles; APPLICATION keeps those using `application`."""
        self.filter, self.filter_application = kind, application
        self._sort()

    def action_zoom(self, step: int) -> None:
        self.set_zoom(self._zoom + step)

    def action_next_sort(self) -> None:
        orders = list(SortOrder)
        self.set_sort(orders[(orders.index(self.order_by) + 1) % len(orders)])
        self.notify(f"Sorted by {self.order_by.value}.", timeout=2)

    def action_next_filter(self) -> None:
        """All, online, locked, idle, the application under the cursor, then all again."""
        kinds = list(Filter)
        kind = kinds[(kinds.index(self.filter) + 1) % len(kinds)]
        application = ""
        if kind is Filter.APPLICATION:
            cursor = self._tiles.get(self._cursor) if self._cursor else None
            application = cursor.device.app if cursor is not None else ""
            if not application:
                kind = Filter.ALL
        self.set_filter(kind, application)
        self.notify(self.describe_filter(), markup=False, timeout=2)

    def describe_filter(self) -> str:
        """What the filter shows, in words (the application name is shown literally)."""
        shown = f"{len(self._order)} of {len(self._tiles)}"
        if self.filter is Filter.ALL:
            return f"Showing everyone ({shown})."
        if self.filter is Filter.APPLICATION:
            return f"Showing who uses {printable(self.filter_application)} ({shown})."
        return f"Showing {self.filter.value} devices ({shown})."

    def action_cursor_up(self) -> None:
        self._step_cursor(-self.columns, wrap=False)

    def action_cursor_down(self) -> None:
        self._step_cursor(self.columns, wrap=False)

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

    def on_mount(self) -> None:
        if self._own_painter:
            self.run_worker(self.painter.run(), name="painter", group="picture")

    def on_resize(self, event: Resize) -> None:
        self._lay_out()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self.painter.look_again()  # tiles scrolled into view draw their newest picture

    def on_student_tile_clicked(self, event: StudentTile.Clicked) -> None:
        event.stop()
        self.focus()
        device_id = event.tile.device_id
        if event.extend:
            # Ctrl- or shift-click adds or removes one tile, as in a file manager.
            self._set_selection(self._selected ^ {device_id})
        self.move_cursor(device_id)
        if event.chain == 2:
            self.post_message(self.FocusRequested(device_id))

    def _new_tile(self, device: DeviceView) -> StudentTile:
        return StudentTile(device, mode=self.mode, painter=self.painter)

    def _passes(self, device: DeviceView) -> bool:
        kind = self.filter
        if kind is Filter.ONLINE:
            return device.online
        if kind is Filter.LOCKED:
            return device.locked
        if kind is Filter.IDLE:
            return device.idle
        if kind is Filter.APPLICATION:
            return device.app == self.filter_application
        return True

    def _lay_out(self) -> None:
        """Share the visible area among the tiles shown: columns, and rows to fill it."""
        region = self.scrollable_content_region
        if region.width < 1 or region.height < 1:
            return
        shape = grid_shape(max(1, len(self._order)), region.width, region.height, self._zoom)
        if shape == self._shape:
            return
        self._shape = shape
        self.styles.grid_size_columns = shape.columns
        self.styles.grid_rows = list(shape.rows)
        self.post_message(self.ShapeChanged(self))
        if self._cursor is not None:
            self.call_after_refresh(self._scroll_to_cursor)

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
            last_row = (len(self._order) - 1) // self.columns
            if self._order.index(self._cursor) // self.columns == last_row:
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
        self.painter.forget(tile)
        tile.remove()
        if device_id not in self._order:
            return  # filtered out: not selected, not under the cursor
        index = self._order.index(device_id)
        self._order.remove(device_id)
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
        key = _sort_key(self.order_by)
        shown = [device_id for device_id, tile in self._tiles.items() if self._passes(tile.device)]
        order = sorted(shown, key=lambda device_id: key(self._tiles[device_id].device))
        if order != self._order:
            hidden = set(self._order) - set(order)
            self._order = order
            for device_id, tile in self._tiles.items():
                tile.display = device_id in set(order)
            if hidden & self._selected:
                self._set_selection(self._selected - hidden)
            rank = {device_id: index for index, device_id in enumerate(order)}
            # Tiles being removed, or filtered out, are still children: they sort last.
            self.sort_children(key=lambda widget: _rank_of(widget, rank))
            self._lay_out()
            self.painter.look_again()
        if self._cursor is not None and self._cursor not in self._order:
            old = self._tiles.get(self._cursor)
            if old is not None:
                old.has_cursor = False
            self._cursor = None
            if not self._order:
                self.post_message(self.SelectionChanged(self))
        if self._cursor is None and self._order:
            self.move_cursor(self._order[0])


def _rank_of(widget: Widget, rank: dict[str, int]) -> int:
    if isinstance(widget, StudentTile):
        return rank.get(widget.device_id, len(rank))
    return len(rank)
