"""The console's live link to a hub: keeps a session up and turns its events into app updates."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from link.reconnect import SessionLost, stay_connected
from link.ws import ConnectionClosed
from protocol.actions import AnyAction, LockScreen, SendMessage, UnlockScreen, Unwatch, Watch
from protocol.credentials import StaffCredential
from protocol.errors import PeerError
from protocol.limits import MAX_MESSAGE_TEXT, MAX_SHORT_TEXT, fit
from protocol.messages import DeviceAlert, DeviceChanged, DeviceState, Error, Result, Roster

from .roster import ActionOutcome, DeviceView, LockAlert
from .session import ConsoleSession, Picture

if TYPE_CHECKING:
    from .app import ClassroomApp

log = logging.getLogger("homeroom.console")

#: A watch lasts this long on the device unless renewed, so a console that vanishes
#: stops the capture by itself; it is renewed at half that.
WATCH_LEASE_SECONDS = 60


def device_view(device: DeviceState) -> DeviceView:
    return DeviceView(
        device_id=device.device_id,
        name=device.name,
        group=device.group,
        online=device.online,
        locked=device.locked,
        watched=bool(device.watched_by),
        user=device.user,
        last_seen=float(device.last_seen),
    )


class HubConnection:
    """A HubLink over a real hub: reconnects with backoff, renews watches, signs commands."""

    def __init__(self, credential: StaffCredential | None, *, url: str | None = None) -> None:
        self.credential = credential
        self.url = url
        self.session: ConsoleSession | None = None
        self._watching: dict[str, tuple[int, float]] = {}
        self._live: set[str] = set()
        self._pending: set[asyncio.Task[None]] = set()

    async def run(self, app: ClassroomApp) -> None:
        if self.credential is None:
            raise ValueError("a hub connection needs a staff credential")
        credential = self.credential

        async def one_session() -> None:
            session = ConsoleSession(credential, url=self.url)
            app.hub_status(f"Connecting to {session.url}…", False)
            renew: asyncio.Task[None] | None = None
            try:
                await session.connect()
                self.session = session
                app.hub_status(f"Signed in to {session.url} as {session.name}", True)
                renew = asyncio.create_task(self._renew_watches())
                async for event in session:
                    self._dispatch(app, event)
            finally:
                self.session = None
                if renew is not None:
                    renew.cancel()

        def lost(error: SessionLost | None) -> None:
            if error is None:
                app.hub_status("The hub closed the connection; reconnecting…", False)
            elif isinstance(error, PeerError):
                app.hub_status(f"The hub refused: {error.guidance}", False)
            else:
                app.hub_status(f"Cannot reach the hub ({error}); retrying…", False)

        await stay_connected(one_session, on_lost=lost, cap=30.0)

    def _dispatch(self, app: ClassroomApp, event: object) -> None:
        if isinstance(event, Picture):
            app.picture_received(event.device_id, event.image)
        elif isinstance(event, Roster):
            app.devices_changed([device_view(d) for d in event.devices])
        elif isinstance(event, DeviceChanged):
            device = event.device
            app.device_changed(device_view(device))
            params = self._watching.get(device.device_id)
            if device.online and params is not None and device.device_id not in self._live:
                # A watched device came (back) online: it needs a watch of its own now.
                self._pending.add(
                    asyncio.create_task(self._send_watch([device.device_id], *params))
                )
            self._pending = {task for task in self._pending if not task.done()}
        if isinstance(event, (Roster, DeviceChanged)) and self.session is not None:
            self._live = {d.device_id for d in self.session.devices.values() if d.online}
        elif isinstance(event, Result):
            app.outcome_received(
                ActionOutcome(
                    device_id=event.device_id,
                    ok=event.ok,
                    code=event.code.value if event.code else "ok",
                    detail=event.detail,
                )
            )
        elif isinstance(event, DeviceAlert):
            app.alert_received(
                LockAlert(event.device_id, event.kind, float(event.at), event.detail)
            )
        elif isinstance(event, Error):
            app.hub_status(f"The hub refused a request: {event.message}", False)

    async def _submit(self, action: AnyAction, device_ids: Sequence[str]) -> None:
        if not device_ids:
            return
        session = self.session
        if session is None:
            raise ConnectionError("not connected to the hub yet")
        await session.submit(action, list(device_ids))

    async def lock(self, device_ids: Sequence[str], message: str) -> None:
        await self._submit(LockScreen(message=fit(message, MAX_SHORT_TEXT)), device_ids)

    async def unlock(self, device_ids: Sequence[str]) -> None:
        await self._submit(UnlockScreen(), device_ids)

    async def send_message(self, device_ids: Sequence[str], text: str) -> None:
        await self._submit(SendMessage(text=fit(text, MAX_MESSAGE_TEXT)), device_ids)

    async def watch(self, device_ids: Sequence[str], width: int, fps: float) -> None:
        for device_id in device_ids:
            self._watching[device_id] = (width, fps)
        online = [d for d in device_ids if d in self._live]
        await self._send_watch(online, width, fps)

    async def unwatch(self, device_ids: Sequence[str]) -> None:
        for device_id in device_ids:
            self._watching.pop(device_id, None)
        await self._submit(Unwatch(), device_ids)

    async def _send_watch(self, device_ids: list[str], width: int, fps: float) -> None:
        action = Watch(width=width, fps=fps, lease_seconds=WATCH_LEASE_SECONDS)
        await self._submit(action, device_ids)

    async def _renew_watches(self) -> None:
        """Watches are leases: renew them while the console still shows those devices."""
        while True:
            groups: dict[tuple[int, float], list[str]] = {}
            for device_id, params in self._watching.items():
                if device_id not in self._live:
                    continue  # offline: watched again when it comes back
                groups.setdefault(params, []).append(device_id)
            for (width, fps), device_ids in groups.items():
                with contextlib.suppress(ConnectionError, ConnectionClosed):
                    await self._send_watch(device_ids, width, fps)
            await asyncio.sleep(WATCH_LEASE_SECONDS / 2)
