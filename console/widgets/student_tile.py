"""One student's device in the class grid: name in the border, a status line, its screen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from rich.console import RenderableType
from textual.app import ComposeResult
from textual.content import Content
from textual.events import Click, Resize
from textual.message import Message
from textual.reactive import var
from textual.widget import Widget
from textual.widgets import Static

from console.picture import PictureData, PictureError, render_picture
from console.roster import ActionOutcome, DeviceView, LockAlert, printable

# Decoding is done by a few threads shared by all tiles: however many devices send large
# pictures at once, only this many are decoded (and held in memory) at a time.
_DECODER_THREADS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="picture-decoder")

WAITING_FOR_PICTURE = "waiting for the screen…"
NO_PICTURE_OFFLINE = "offline"
PICTURE_FAILED = "can't show this screen"


class StudentTile(Widget):
    """A device's name, state and thumbnail; every text in it comes from the device, unparsed."""

    DEFAULT_CSS = """
    StudentTile {
        layout: vertical;
        & > #status { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
        & > #picture { height: 1fr; content-align: center middle; }
    }
    """

    selected: var[bool] = var(False, toggle_class="-selected")
    """Part of the devices the next action applies to."""
    has_cursor: var[bool] = var(False, toggle_class="-focused")
    """Under the class grid's keyboard cursor."""

    class Clicked(Message):
        """The tile was clicked; `chain` is 2 for a double click."""

        def __init__(self, tile: StudentTile, chain: int) -> None:
            super().__init__()
            self.tile = tile
            self.chain = chain

        @property
        def control(self) -> StudentTile:
            return self.tile

    def __init__(self, device: DeviceView) -> None:
        # No DOM id: device ids are not guaranteed to be valid CSS identifiers.
        super().__init__()
        self._device = device
        self._outcome: ActionOutcome | None = None
        self._alert: LockAlert | None = None
        self._status = Static(id="status", markup=False)
        self._picture = _PictureArea(self._refit_picture, id="picture", markup=False)
        self._showing_picture = False
        # The newest picture not yet decoded; a newer one replaces it (stale frames drop).
        self._waiting_picture: PictureData | None = None
        # The picture on show, kept to redraw it when the tile changes size.
        self._last_picture: PictureData | None = None
        self._last_picture_cells = (0, 0)
        self._decoding = False

    @property
    def device(self) -> DeviceView:
        """The device as last reported."""
        return self._device

    @property
    def device_id(self) -> str:
        """The id of the device this tile shows."""
        return self._device.device_id

    @property
    def alert(self) -> LockAlert | None:
        """The device's latest lock alert, until its screen is next unlocked."""
        return self._alert

    @property
    def outcome(self) -> ActionOutcome | None:
        """The result of the last command on this device, if any."""
        return self._outcome

    def compose(self) -> ComposeResult:
        yield self._status
        yield self._picture

    def on_mount(self) -> None:
        self._show_device()
        self._show_placeholder()

    def update_device(self, device: DeviceView) -> None:
        """Show the device's new state; an unchanged state costs nothing."""
        if device.device_id != self.device_id:
            raise ValueError(f"tile of {self.device_id!r} given device {device.device_id!r}")
        if device == self._device:
            return
        if self._device.locked and not device.locked:
            self._alert = None  # the lock it was about is over
        self._device = device
        if self.is_mounted:
            self._show_device()
            if not self._showing_picture:
                self._show_placeholder()

    def show_outcome(self, outcome: ActionOutcome) -> None:
        """Show the result of the last command on this device in the status line."""
        if outcome.device_id != self.device_id:
            raise ValueError(f"tile of {self.device_id!r} given outcome of {outcome.device_id!r}")
        self._outcome = outcome
        if self.is_mounted:
            self._show_status()

    def show_alert(self, alert: LockAlert) -> None:
        """Mark the tile: the device's lock was tampered with or could not be shown."""
        if alert.device_id != self.device_id:
            raise ValueError(f"tile of {self.device_id!r} given alert of {alert.device_id!r}")
        self._alert = alert
        if self.is_mounted:
            self._show_device()

    def show_picture(self, picture: RenderableType | None) -> None:
        """Show an already drawn thumbnail, or the placeholder when `picture` is None."""
        if picture is None:
            self._showing_picture = False
            self._last_picture = None  # nothing to redraw on resize
            self._show_placeholder()
        else:
            self._showing_picture = True
            # The picture area's size is fixed by the grid, so no layout pass is needed.
            self._picture.update(picture, layout=False)

    def receive_picture(self, data: PictureData) -> None:
        """Decode thumbnail bytes off the event loop and show them.

        At most one decode runs per tile; pictures arriving meanwhile replace each other,
        so a slow terminal shows the newest screen instead of queueing old ones.
        """
        self._waiting_picture = data
        self._start_decoding()

    def _refit_picture(self) -> None:
        """The picture area changed size: draw the picture on show again, to fit."""
        if (
            self._waiting_picture is None
            and self._last_picture is not None
            and self._picture_cells() != self._last_picture_cells
        ):
            self._waiting_picture = self._last_picture
        self._start_decoding()

    def on_click(self, event: Click) -> None:
        self.post_message(self.Clicked(self, event.chain))

    def _picture_cells(self) -> tuple[int, int]:
        size = self._picture.content_size
        return (size.width, size.height)

    def _start_decoding(self) -> None:
        cells_wide, cells_high = self._picture_cells()
        # Before the first layout the picture area has no size; its resize starts us then.
        if self._decoding or self._waiting_picture is None or cells_wide < 1 or cells_high < 1:
            return
        self._decoding = True
        self.run_worker(self._decode_pictures(), name="decode picture", group="picture")

    async def _decode_pictures(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while (data := self._waiting_picture) is not None:
                cells = self._picture_cells()
                if min(cells) < 1:
                    break  # squeezed to nothing: the area's next resize starts us again
                self._waiting_picture = None
                try:
                    picture = await loop.run_in_executor(
                        _DECODER_THREADS, render_picture, data, *cells
                    )
                except PictureError as error:
                    self.log.warning(f"picture from {self.device_id!r} not shown: {error}")
                    self._last_picture = None
                    self._showing_picture = False
                    self._show_placeholder(PICTURE_FAILED)
                else:
                    self._last_picture = data
                    self._last_picture_cells = cells
                    self.show_picture(picture)
        finally:
            self._decoding = False

    def _show_device(self) -> None:
        device = self._device
        self.set_class(not device.online, "-offline")
        self.set_class(device.locked, "-locked")
        self.set_class(device.watched, "-watched")
        self.set_class(self._alert is not None, "-alert")
        self.border_title = Content(printable(device.display_name))
        self.border_subtitle = Content(printable(device.user)) if device.user else None
        self._show_status()

    def _show_status(self) -> None:
        device, outcome = self._device, self._outcome
        # Icons keep the line short enough for a narrow tile; the tooltip spells them out.
        parts: list[tuple[str, str]] = []
        if device.online:
            parts.append(("● online", "$text-success"))
        else:
            parts.append((f"○ offline{_seen(device.last_seen)}", "$text-muted"))
        if self._alert is not None:  # before the icons: a narrow tile cuts the line short
            parts.append((self._alert.mark, "$text-error"))
        if device.locked:
            parts.append(("🔒", "$text-warning"))
        if device.watched:
            parts.append(("👀", "$text-accent"))
        if outcome is not None:
            if outcome.ok:
                parts.append((f"✓ {printable(outcome.detail or outcome.code)}", "$text-success"))
            else:
                parts.append((f"✗ {printable(outcome.code)}", "$text-error"))
        spaced: list[str | tuple[str, str]] = []
        for part in parts:
            spaced += [" ", part] if spaced else [part]
        # Content.assemble takes plain strings literally: nothing from the device is markup.
        self._status.update(Content.assemble(*spaced), layout=False)
        self.tooltip = self._describe()

    def _show_placeholder(self, text: str | None = None) -> None:
        if text is None:
            text = WAITING_FOR_PICTURE if self._device.online else NO_PICTURE_OFFLINE
        self._picture.update(Content.styled(text, "$text-muted"), layout=False)

    def _describe(self) -> Content:
        """The tooltip: everything known about the device, each line literal."""
        device, outcome = self._device, self._outcome
        lines = [device.display_name, "online" if device.online else "offline"]
        if device.locked:
            lines.append("🔒 screen locked")
        if device.watched:
            lines.append("👀 screen being watched")
        if (alert := self._alert) is not None:
            said = f": {alert.detail}" if alert.detail else ""
            lines.append(f"⚠ {alert.headline} at {alert.time}{said}")
        if device.user:
            lines.append(f"signed in: {device.user}")
        if device.group:
            lines.append(f"group: {device.group}")
        lines.append(f"device: {device.device_id}")
        if outcome is not None:
            result = "done" if outcome.ok else "failed"
            lines.append(f"last command {result}: {outcome.code} {outcome.detail}".rstrip())
        return Content("\n".join(printable(line) for line in lines))


class _PictureArea(Static):
    """Where a tile draws its thumbnail; reports its own resizes, which do not bubble."""

    def __init__(self, on_resize: Callable[[], None], *, id: str, markup: bool) -> None:
        super().__init__(id=id, markup=markup)
        self._on_resize = on_resize

    def on_resize(self, event: Resize) -> None:
        self._on_resize()


def _seen(last_seen: float) -> str:
    """When an offline device was last heard from: a time today, a date before that."""
    if last_seen <= 0:
        return ""
    seen, now = time.localtime(last_seen), time.localtime()
    if seen[:3] == now[:3]:
        return time.strftime(", seen %H:%M", seen)
    return time.strftime(", seen %d %b", seen)
