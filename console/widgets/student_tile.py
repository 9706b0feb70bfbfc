"""One student's device in the class grid: name in the border, marks, what they do, their screen."""

from __future__ import annotations

import time
from collections.abc import Callable

from PIL import Image
from rich.console import RenderableType
from textual.app import ComposeResult
from textual.content import Content
from textual.events import Click
from textual.message import Message
from textual.reactive import var
from textual.widget import Widget
from textual.widgets import Static

from console.painter import Drawing, PicturePainter
from console.picture import PictureData, PictureError, PictureMode, render_picture, scale_for_cells
from console.printable import printable
from console.roster import ActionOutcome, DeviceView, LockAlert, OutcomeKind
from console.widgets.screen_picture import ScreenPicture

WAITING_FOR_PICTURE = "waiting for the screen…"
NO_PICTURE_OFFLINE = "offline"
PICTURE_FAILED = "can't show this screen"

_OUTCOME_MARKS = {
    OutcomeKind.SENT: ("… sent", "$text-muted"),
    OutcomeKind.DONE: ("✓", "$text-success"),
    OutcomeKind.FAILED: ("✗", "$text-error"),
    OutcomeKind.QUEUED: ("⏳ queued", "$text-warning"),
    OutcomeKind.OFFLINE: ("✗ offline", "$text-error"),
}


class StudentTile(Widget):
    """A device's name, state and thumbnail; every text in it comes from the device, unparsed."""

    DEFAULT_CSS = """
    StudentTile {
        layout: vertical;
        & > #status { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
        & > #doing { height: 1; text-wrap: nowrap; text-overflow: ellipsis; color: $text-muted; }
    }
    """

    selected: var[bool] = var(False, toggle_class="-selected")
    """Part of the devices the next action applies to."""
    has_cursor: var[bool] = var(False, toggle_class="-focused")
    """Under the class grid's keyboard cursor."""

    class Clicked(Message):
        """The tile was clicked; `chain` is 2 for a double click; `extend` with ctrl or shift."""

        def __init__(self, tile: StudentTile, chain: int, extend: bool = False) -> None:
            super().__init__()
            self.tile = tile
            self.chain = chain
            self.extend = extend

        @property
        def control(self) -> StudentTile:
            return self.tile

    def __init__(
        self,
        device: DeviceView,
        *,
        mode: PictureMode = PictureMode.HALFBLOCK,
        painter: PicturePainter | None = None,
    ) -> None:
        # No DOM id: device ids are not guaranteed to be valid CSS identifiers.
        super().__init__()
        self._device = device
        self._outcome: ActionOutcome | None = None
        self._alert: LockAlert | None = None
        self._status = Static(id="status", markup=False)
        self._doing = Static(id="doing", markup=False)
        self._picture = ScreenPicture(mode, id="picture")
        self._painter = painter
        self._showing_picture = False
        # The picture on show, kept to draw it again when the tile changes size.
        self._last_picture: PictureData | None = None
        self._last_picture_cells = (0, 0)

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

    @property
    def picture(self) -> ScreenPicture:
        """The area the screen is drawn in."""
        return self._picture

    def compose(self) -> ComposeResult:
        yield self._status
        yield self._doing
        yield self._picture

    def on_mount(self) -> None:
        if self._painter is None:
            # A tile on its own (no grid to share one): its own painter, one task for its life.
            self._painter = PicturePainter()
            self.run_worker(self._painter.run(), name="painter", group="picture")
        self._show_device()
        self._show_placeholder()

    def on_unmount(self) -> None:
        if self._painter is not None:
            self._painter.forget(self)

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
        """Show where the last command on this device stands in the status line."""
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
            self._picture.show_cells(picture)

    def receive_picture(self, data: PictureData) -> None:
        """Hand thumbnail bytes to the painter: drawn off the event loop while in view.

        Only the newest waiting picture is drawn: when pictures come faster than they
        can be drawn, the terminal shows the newest screen instead of queueing old ones.
        """
        if self._painter is not None:
            self._painter.paint(self, data)

    # The painter's side (console.painter.Canvas).

    def in_view(self) -> bool:
        """On the active screen and inside its scrolled container's visible part."""
        if not self.is_mounted or not self.display:
            return False
        try:
            if not self.screen.is_active:
                return False
        except Exception:  # no screen: being removed
            return False
        parent = self.parent
        if isinstance(parent, Widget) and parent.is_scrollable:
            visible = parent.scrollable_content_region.reset_offset.translate(parent.scroll_offset)
            return self.virtual_region.overlaps(visible)
        return True

    def cells(self) -> tuple[int, int]:
        size = self._picture.content_size
        return (size.width, size.height)

    def drawer(self) -> Callable[[PictureData, int, int], Drawing]:
        mode = self._picture.mode
        if mode.real_pixels:
            return lambda data, wide, high: scale_for_cells(data, wide, high, mode)
        # In the terminal's own palette when it has 256 colours (tmux, by default): matched
        # once here, off the event loop, rather than cell by cell when the screen is written.
        colours = self.app.console.color_system
        # Looked up at each call, so a test can stand in for the renderer.
        return lambda data, wide, high: render_picture(data, wide, high, colour_system=colours)

    def drawn(
        self, data: PictureData, cells: tuple[int, int], drawing: Drawing | Exception
    ) -> None:
        if not self.is_mounted:
            return
        if isinstance(drawing, Exception):
            if not isinstance(drawing, PictureError):
                self.log.error(f"drawing a picture failed: {drawing!r}")
            self.log.warning(f"picture from {self.device_id!r} not shown: {drawing}")
            self._last_picture = None
            self._showing_picture = False
            self._show_placeholder(PICTURE_FAILED)
            return
        self._last_picture = data
        self._last_picture_cells = cells
        if isinstance(drawing, tuple):
            image, fitted = drawing
            assert isinstance(image, Image.Image)
            self._showing_picture = True
            self._picture.show_pixels(image, fitted)
        else:
            self.show_picture(drawing)  # type: ignore[arg-type]

    def on_screen_picture_resized(self, event: ScreenPicture.Resized) -> None:
        """The picture area changed size: draw the picture on show again, to fit."""
        event.stop()
        painter = self._painter
        if painter is None:
            return
        if (
            self._last_picture is not None
            and self.cells() != self._last_picture_cells
            and not painter.waiting(self)
        ):
            painter.paint(self, self._last_picture)
        else:
            painter.look_again()

    def on_click(self, event: Click) -> None:
        self.post_message(self.Clicked(self, event.chain, extend=event.ctrl or event.shift))

    def _show_device(self) -> None:
        device = self._device
        self.set_class(not device.online, "-offline")
        self.set_class(device.locked, "-locked")
        self.set_class(device.watched, "-watched")
        self.set_class(self._alert is not None, "-alert")
        self.set_class(device.idle, "-idle")
        self.border_title = Content(printable(device.display_name))
        self.border_subtitle = Content(printable(device.user)) if device.user else None
        doing = device.doing
        self._doing.update(Content(printable(doing) if doing else "—"), layout=False)
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
        if device.idle:
            parts.append((f"💤 idle {_minutes(device.idle_seconds)}", "$text-muted"))
        if device.watched:
            parts.append(("👀", "$text-accent"))
        if outcome is not None:
            mark, style = _OUTCOME_MARKS[outcome.kind]
            if outcome.kind is OutcomeKind.DONE:
                mark = f"{mark} {printable(outcome.detail or outcome.action or outcome.code)}"
            elif outcome.kind is OutcomeKind.FAILED:
                mark = f"{mark} {printable(outcome.code)}"
            parts.append((mark, style))
        spaced: list[str | tuple[str, str]] = []
        for part in parts:
            spaced += [" ", part] if spaced else [part]
        # Content.assemble takes plain strings literally: nothing from the device is markup.
        self._status.update(Content.assemble(*spaced), layout=False)
        self.tooltip = self._describe()

    def _show_placeholder(self, text: str | None = None) -> None:
        if text is None:
            text = WAITING_FOR_PICTURE if self._device.online else NO_PICTURE_OFFLINE
        self._picture.placeholder(Content.styled(text, "$text-muted"))

    def _describe(self) -> Content:
        """The tooltip: everything known about the device, each line literal."""
        device, outcome = self._device, self._outcome
        lines = [device.display_name, "online" if device.online else "offline"]
        if device.locked:
            lines.append("🔒 screen locked")
        if device.idle:
            lines.append(f"💤 idle for {_minutes(device.idle_seconds)}")
        if device.watched:
            lines.append("👀 screen being watched")
        if device.doing:
            lines.append(f"using: {device.doing}")
        if (alert := self._alert) is not None:
            said = f": {alert.detail}" if alert.detail else ""
            lines.append(f"⚠ {alert.headline} at {alert.time}{said}")
        if device.user:
            lines.append(f"signed in: {device.user}")
        if device.group:
            lines.append(f"group: {device.group}")
        lines.append(f"device: {device.device_id}")
        if outcome is not None:
            lines.append(f"last command: {outcome.describe()}")
        return Content("\n".join(printable(line) for line in lines))


def _minutes(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds >= 60 else f"{seconds} s"


def _seen(last_seen: float) -> str:
    """When an offline device was last heard from: a time today, a date before that."""
    if last_seen <= 0:
        return ""
    seen, now = time.localtime(last_seen), time.localtime()
    if seen[:3] == now[:3]:
        return time.strftime(", seen %H:%M", seen)
    return time.strftime(", seen %d %b", seen)
