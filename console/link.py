"""The contract between the console's user interface and whatever connects it to a hub."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from console.app import ClassroomApp


QUEUED_ACTIONS = frozenset({"lock", "unlock", "message", "open_url"})
"""Actions the hub keeps for a device that is offline, until it connects or they expire;
the others are refused for it at once (console.roster.OFFLINE_CODE)."""


class HubLink(Protocol):
    """Carries the teacher's commands to the hub and the hub's events to the app.

    `run` pushes events by calling the app's `devices_changed`, `device_changed`,
    `picture_received`, `outcome_received`, `alert_received`, `classes_changed`,
    `request_refused` and `hub_status` from the app's event loop.
    """

    async def run(self, app: ClassroomApp) -> None:
        """Connect, then pump hub events into `app` until cancelled."""
        ...

    async def lock(self, device_ids: Sequence[str], message: str) -> None:
        """Lock the screens of `device_ids`, showing `message` (may be empty)."""
        ...

    async def unlock(self, device_ids: Sequence[str]) -> None:
        """Unlock the screens of `device_ids`."""
        ...

    async def send_message(self, device_ids: Sequence[str], text: str) -> None:
        """Show `text` to the students at `device_ids`."""
        ...

    async def open_url(self, device_ids: Sequence[str], url: str) -> None:
        """Open `url` (http or https) in the browser of `device_ids`."""
        ...

    async def launch_app(self, device_ids: Sequence[str], app: str) -> None:
        """Start the program named `app` on the group's allow-list on `device_ids`."""
        ...

    async def close_app(self, device_ids: Sequence[str], app: str) -> None:
        """Close the program named `app` on `device_ids`."""
        ...

    async def screenshot(self, device_ids: Sequence[str]) -> None:
        """Take a full screenshot of `device_ids` (the result reports its size)."""
        ...

    async def watch(self, device_ids: Sequence[str], width: int, fps: float) -> None:
        """Ask for thumbnails of `device_ids`, `width` pixels wide, `fps` per second."""
        ...

    async def unwatch(self, device_ids: Sequence[str]) -> None:
        """Stop thumbnails of `device_ids`, so those devices stop capturing for us."""
        ...

    async def refresh_classes(self) -> None:
        """Ask the hub for the teacher's classes; they arrive through `classes_changed`."""
        ...

    async def start_class_session(self, class_name: str, minutes: int) -> None:
        """Start a class session for `class_name`, `minutes` long."""
        ...

    async def end_class_session(self, class_name: str) -> None:
        """End the class session of `class_name`."""
        ...
