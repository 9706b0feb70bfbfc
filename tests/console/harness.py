"""Running the console under Pilot with a RecordingLink, and reading back what it shows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from io import BytesIO
from typing import Any, TypeVar

from PIL import Image
from textual.geometry import Region
from textual.message import Message
from textual.pilot import Pilot
from textual.strip import Strip
from textual.widget import Widget

from console.app import ClassroomApp
from console.roster import DeviceView
from console.widgets.class_grid import ClassGrid
from console.widgets.student_tile import StudentTile
from tests.console.recording_link import LinkCall, RecordingLink
from tests.support import scaled

SIZE = (120, 40)
MessageType = TypeVar("MessageType", bound=Message)


@dataclass
class Console:
    """A running console, its pilot and the link it talks to."""

    app: ClassroomApp
    pilot: Pilot[None]
    link: RecordingLink
    messages: list[Message]
    """Every message the app and its widgets handled, in order."""

    @property
    def grid(self) -> ClassGrid:
        return self.app.class_grid

    def tile(self, device_id: str) -> StudentTile:
        tile = self.grid.tile(device_id)
        assert tile is not None, f"no tile for {device_id!r}"
        return tile

    async def wait_until(
        self, condition: Callable[[], object], what: str, timeout: float = 5.0
    ) -> None:
        """Let the app run until `condition()` is true; fail saying `what` did not happen."""
        await wait_until(self.pilot, condition, what, timeout)

    async def show_devices(self, *devices: DeviceView) -> None:
        """Push a full roster, as the hub would, and wait for every tile to be on screen."""
        self.link.app.devices_changed(list(devices))
        wanted = {device.device_id for device in devices}
        await self.wait_until(
            lambda: (
                set(self.grid.device_ids) == wanted
                and all(self.tile(device_id).is_mounted for device_id in wanted)
            ),
            f"tiles show {sorted(wanted)}",
        )
        await self.pilot.pause()

    async def calls_to(self, action: str, count: int = 1) -> list[LinkCall]:
        """Wait until the link has seen `count` calls of `action`, and return them."""
        await self.wait_until(
            lambda: len(self.link.calls_to(action)) >= count, f"the link gets {count} {action}"
        )
        return self.link.calls_to(action)

    def toasts(self) -> list[str]:
        """The notifications on screen, each as one line of text."""
        return [" ".join(rendered_text(toast).split()) for toast in self.app.screen.query("Toast")]

    def handled(self, kind: type[MessageType]) -> list[MessageType]:
        """The messages of one kind handled so far, each once (bubbling repeats them)."""
        unique = {id(message): message for message in self.messages}
        return [message for message in unique.values() if isinstance(message, kind)]


async def wait_until(
    pilot: Pilot[Any], condition: Callable[[], object], what: str, timeout: float = 5.0
) -> None:
    """Let the app run until `condition()` is true; fail saying `what` did not happen.

    Polls between Pilot pauses instead of sleeping a fixed time; the timeout only bounds
    a failing wait, and scales with HOMEROOM_TIMEOUT_SCALE.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + scaled(timeout)
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await pilot.pause()


@asynccontextmanager
async def running_console(
    *devices: DeviceView, link: RecordingLink | None = None
) -> AsyncIterator[Console]:
    """A console at a fixed size, with its link running and `devices` shown."""
    link = RecordingLink() if link is None else link
    app = ClassroomApp(link)
    messages: list[Message] = []
    # Notifications are off by default under Pilot; the teacher sees them, so we do too.
    async with app.run_test(size=SIZE, message_hook=messages.append, notifications=True) as pilot:
        await asyncio.wait_for(link.running.wait(), scaled(5))
        console = Console(app, pilot, link, messages)
        if devices:
            await console.show_devices(*devices)
        yield console


def device(device_id: str, name: str, **state: object) -> DeviceView:
    """A device in group "7B", online unless told otherwise."""
    values: dict[str, object] = {"group": "7B", "online": True, **state}
    return DeviceView(device_id, name, **values)  # type: ignore[arg-type]


def rendered_lines(widget: Widget) -> list[Strip]:
    """What the widget itself draws (border included, children not), one strip per line."""
    width, height = widget.outer_size
    return widget.render_lines(Region(0, 0, width, height))


def rendered_text(widget: Widget) -> str:
    """The characters the widget itself draws, without styles."""
    return "\n".join(strip.text for strip in rendered_lines(widget))


def tile_text(tile: StudentTile) -> str:
    """Everything a tile draws: its border and titles, its status and activity lines, its
    picture area."""
    parts = (tile, tile.query_one("#status"), tile.query_one("#doing"), picture_area(tile))
    return "\n".join(rendered_text(widget) for widget in parts)


def picture_area(tile: StudentTile) -> Widget:
    """The part of a tile where the thumbnail (or its placeholder) is drawn."""
    return tile.query_one("#picture")


RED, BLUE = (255, 0, 0), (0, 0, 255)


def banded_picture(
    size: tuple[int, int],
    format: str = "PNG",
    top: tuple[int, int, int] = RED,
    bottom: tuple[int, int, int] = BLUE,
) -> bytes:
    """Encoded picture bytes: one colour above, another below, like a simple screen."""
    image = Image.new("RGB", size, top)
    image.paste(bottom, (0, size[1] // 2, size[0], size[1]))
    buffer = BytesIO()
    image.save(buffer, format)
    return buffer.getvalue()
