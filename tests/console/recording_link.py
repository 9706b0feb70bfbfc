"""A HubLink test double: records the console's commands and lets a test push hub events."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from console.app import ClassroomApp


@dataclass(frozen=True)
class LinkCall:
    """One call the console made on its link."""

    action: str
    device_ids: tuple[str, ...]
    text: str = ""
    width: int = 0
    fps: float = 0.0


class RecordingLink:
    """Implements console.link.HubLink without a network."""

    def __init__(self) -> None:
        self.calls: list[LinkCall] = []
        self.running = asyncio.Event()
        self.stopped = asyncio.Event()
        self._app: ClassroomApp | None = None

    @property
    def app(self) -> ClassroomApp:
        """The app to push events into; `run` must have started."""
        assert self._app is not None, "the app has not started its link yet"
        return self._app

    def calls_to(self, action: str) -> list[LinkCall]:
        """The recorded calls of one kind, oldest first."""
        return [call for call in self.calls if call.action == action]

    async def run(self, app: ClassroomApp) -> None:
        self._app = app
        self.running.set()
        try:
            await asyncio.Event().wait()  # like a real link: until the app cancels us
        finally:
            self.stopped.set()

    async def lock(self, device_ids: Sequence[str], message: str) -> None:
        self.calls.append(LinkCall("lock", tuple(device_ids), message))

    async def unlock(self, device_ids: Sequence[str]) -> None:
        self.calls.append(LinkCall("unlock", tuple(device_ids)))

    async def send_message(self, device_ids: Sequence[str], text: str) -> None:
        self.calls.append(LinkCall("send_message", tuple(device_ids), text))

    async def open_url(self, device_ids: Sequence[str], url: str) -> None:
        self.calls.append(LinkCall("open_url", tuple(device_ids), url))

    async def launch_app(self, device_ids: Sequence[str], app: str) -> None:
        self.calls.append(LinkCall("launch_app", tuple(device_ids), app))

    async def close_app(self, device_ids: Sequence[str], app: str) -> None:
        self.calls.append(LinkCall("close_app", tuple(device_ids), app))

    async def screenshot(self, device_ids: Sequence[str]) -> None:
        self.calls.append(LinkCall("screenshot", tuple(device_ids)))

    async def watch(self, device_ids: Sequence[str], width: int, fps: float) -> None:
        self.calls.append(LinkCall("watch", tuple(device_ids), width=width, fps=fps))

    async def unwatch(self, device_ids: Sequence[str]) -> None:
        self.calls.append(LinkCall("unwatch", tuple(device_ids)))

    async def refresh_classes(self) -> None:
        self.calls.append(LinkCall("refresh_classes", ()))

    async def start_class_session(self, class_name: str, minutes: int) -> None:
        self.calls.append(LinkCall("start_class_session", (), class_name, width=minutes))

    async def end_class_session(self, class_name: str) -> None:
        self.calls.append(LinkCall("end_class_session", (), class_name))
