"""The console's live link to a hub: keeps a session up and turns its events into app updates."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from link.reconnect import SessionLost, stay_connected
from link.ws import ConnectionClosed
from protocol.actions import (
    AnyAction,
    CloseApp,
    LaunchApp,
    LockScreen,
    OpenUrl,
    SendMessage,
    TakeScreenshot,
    UnlockScreen,
    Unwatch,
    Watch,
)
from protocol.credentials import StaffCredential
from protocol.errors import PeerError
from protocol.limits import MAX_MESSAGE_TEXT, MAX_SHORT_TEXT, fit
from protocol.messages import (
    Answer,
    ClassInfo,
    CommandQueued,
    DeviceAlert,
    DeviceChanged,
    DeviceState,
    Error,
    Result,
    Roster,
)

from .classes import ClassView
from .it_desk import ITDesk
from .link import QUEUED_ACTIONS
from .roster import QUEUED_CODE, ActionOutcome, DeviceView, LockAlert
from .session import ConsoleSession, Picture

if TYPE_CHECKING:
    from .app import ClassroomApp

log = logging.getLogger("homeroom.console")

#: A watch lasts this long on the device unless renewed, so a console that vanishes
#: stops the capture by itself; it is renewed at half that.
WATCH_LEASE_SECONDS = 60
#: Watch commands whose results are still awaited, at most (the oldest are forgotten).
MAX_QUIET_COMMANDS = 1024


def device_view(device: DeviceState) -> DeviceView:
    activity = device.activity
    return DeviceView(
        device_id=device.device_id,
        name=device.name,
        group=device.group,
        online=device.online,
        locked=device.locked,
        watched=bool(device.watched_by),
        user=device.user,
        last_seen=float(device.last_seen),
        app=activity.app if activity else "",
        title=activity.title if activity else "",
        idle_seconds=activity.idle_seconds if activity else 0,
    )


def class_view(klass: ClassInfo) -> ClassView:
    session = klass.session
    return ClassView(
        name=klass.name,
        group=klass.group,
        device_ids=klass.devices,
        session_teacher=session.teacher if session else None,
        session_ends_at=float(session.ends_at) if session else None,
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
        #: The IT screens' requests (fleet, audit, records, one device's data).
        self.it_desk = ITDesk(lambda: self.session)
        # Watches renewed in the background: their results are not the teacher's business.
        self._quiet: dict[str, bool] = {}
        # Requests whose answer is the class list: class queries and class session changes.
        self._class_requests: set[str] = set()

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
                self._class_requests.add(await session.query("classes"))
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
        self.it_desk.offer(event)
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
        elif isinstance(event, CommandQueued):  # the hub keeps it for the offline device
            app.outcome_received(ActionOutcome(event.device_id, True, QUEUED_CODE, ""))
        elif isinstance(event, Result):
            if event.ok and event.command_id in self._quiet:
                return  # a watch that worked (one result per device): the pictures say so
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
        elif isinstance(event, Answer) and event.id in self._class_requests:
            self._class_requests.discard(event.id)
            app.classes_changed([class_view(klass) for klass in event.classes])
        elif isinstance(event, Error) and event.ref in self._class_requests:
            self._class_requests.discard(event.ref)
            app.request_refused(event.message)
        elif isinstance(event, Error):
            app.hub_status(f"The hub refused a request: {event.message}", False)

    async def _submit(self, action: AnyAction, device_ids: Sequence[str]) -> None:
        if not device_ids:
            return
        session = self.session
        if session is None:
            raise ConnectionError("not connected to the hub yet")
        command = await session.submit(
            action, list(device_ids), queue=action.name in QUEUED_ACTIONS
        )
        if isinstance(action, (Watch, Unwatch)):
            self._quiet[command.body.id] = True
            while len(self._quiet) > MAX_QUIET_COMMANDS:
                del self._quiet[next(iter(self._quiet))]  # results that never came

    async def lock(self, device_ids: Sequence[str], message: str) -> None:
        await self._submit(LockScreen(message=fit(message, MAX_SHORT_TEXT)), device_ids)

    async def unlock(self, device_ids: Sequence[str]) -> None:
        await self._submit(UnlockScreen(), device_ids)

    async def send_message(self, device_ids: Sequence[str], text: str) -> None:
        await self._submit(SendMessage(text=fit(text, MAX_MESSAGE_TEXT)), device_ids)

    async def open_url(self, device_ids: Sequence[str], url: str) -> None:
        await self._submit(OpenUrl(url=url), device_ids)

    async def launch_app(self, device_ids: Sequence[str], app: str) -> None:
        await self._submit(LaunchApp(app=app), device_ids)

    async def close_app(self, device_ids: Sequence[str], app: str) -> None:
        await self._submit(CloseApp(app=app), device_ids)

    async def screenshot(self, device_ids: Sequence[str]) -> None:
        await self._submit(TakeScreenshot(), device_ids)

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

    def _connected(self) -> ConsoleSession:
        if self.session is None:
            raise ConnectionError("not connected to the hub yet")
        return self.session

    async def refresh_classes(self) -> None:
        self._class_requests.add(await self._connected().query("classes"))

    async def start_class_session(self, class_name: str, minutes: int) -> None:
        session = self._connected()
        self._class_requests.add(await session.class_session(class_name, "start", minutes))

    async def end_class_session(self, class_name: str) -> None:
        self._class_requests.add(await self._connected().class_session(class_name, "end"))
