"""The running agent: dial out, authenticate, verify and carry out commands, stream on demand."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import getpass
import logging
import platform
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec
import psutil
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from link.dial import open_session
from link.files import write_private
from link.reconnect import SessionLost, stay_connected
from protocol.actions import (
    Action,
    GetSystemInfo,
    ListProcesses,
    LockScreen,
    OpenUrl,
    SendMessage,
    UnlockScreen,
    Unwatch,
    Watch,
)
from protocol.codec import decode_as
from protocol.commands import CommandBody, Recipient, ReplayCache, verify_command
from protocol.errors import ErrorCode, PeerError
from protocol.frames import Frame, ImageFormat, encode_frame
from protocol.handshake import ClientHandshake
from protocol.messages import (
    ClientRole,
    Deliver,
    Error,
    Event,
    Inventory,
    Message,
    ProcessInfo,
    Result,
    Status,
    encode_message,
)

from .desktop import BannerShown, Desktop, banner_shown
from .screen import ScreenSource
from .state import LOCK_FILE, REPLAY_FILE, AgentState
from .thumbnail import Thumbnail, ThumbnailEncoder

log = logging.getLogger("homeroom.agent")

AGENT_VERSION = "0.1.0"
HEARTBEAT_SECONDS = 30.0
#: How long a new watch waits for the "being viewed" banner to be on screen before the first
#: picture. A UI that takes longer (stopped, or restarting) does not get to block watching.
BANNER_SECONDS = 5.0
_FORMATS = {"jpeg": ImageFormat.JPEG, "webp": ImageFormat.WEBP}


class SavedLock(msgspec.Struct, frozen=True):
    message: str
    by: str


@dataclass(frozen=True, slots=True)
class WatchLease:
    """One staff member watching: at what size and rate, until when."""

    watcher: str
    width: int
    fps: float
    until: float


class Agent:
    """One student device's agent. `run()` stays connected until cancelled."""

    def __init__(
        self,
        state: AgentState,
        *,
        screen: ScreenSource,
        desktop: Desktop,
        folder: Path | None = None,
        clock: Callable[[], float] = time.time,
        user: str | None = None,
    ) -> None:
        self.state = state
        self.user = user if user is not None else _user()
        self.screen = screen
        self.desktop = desktop
        self.folder = folder
        self.clock = clock
        self.encoder = ThumbnailEncoder()
        #: Commands issued before this time are refused as possible replays: set when
        #: the saved replay cache was lost, so losing it never reopens the door.
        self.replay_floor = 0
        self.replay = self._load_replay()
        # --- desktop reports and the banner (ui) ---
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reports: collections.deque[Event] = collections.deque(maxlen=32)
        self._background: set[asyncio.Task[None]] = set()
        self._banner: BannerShown = banner_shown(True)
        desktop.set_reporter(self._desktop_reported)
        self._restore_lock()
        self.leases: dict[str, WatchLease] = {}  # by certificate serial
        self.captures = 0
        self.frames_sent = 0
        self.connected = asyncio.Event()
        self._watch_changed = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._endpoint: ClientHandshake
        self._sequence = 0

    # --- Connection ---------------------------------------------------------

    async def run(self) -> None:
        """Stay connected: reconnect with exponential backoff and full jitter."""
        self._loop = asyncio.get_running_loop()
        capture = asyncio.create_task(self._capture_loop())
        try:
            await stay_connected(self.run_once, on_lost=self._lost)
        finally:
            capture.cancel()

    @staticmethod
    def _lost(error: SessionLost | None) -> None:
        if isinstance(error, PeerError):
            log.error("the hub refused this device: %s", error)
        else:
            log.info("connection to the hub lost: %s", error or "closed by the hub")

    async def run_once(self) -> None:
        """One session: authenticate, report, then serve commands until disconnected."""
        state = self.state

        def handshake(channel: bytes) -> ClientHandshake:
            return ClientHandshake(
                role=ClientRole.AGENT,
                key=state.key,
                pins=state.pins,
                channel=channel,
                clock=self.clock,
            )

        ws, endpoint = await open_session(state.hub_url, handshake)
        self._ws = ws
        self._endpoint = endpoint
        self.connected.set()
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            await self._send(self._inventory())
            await self._send(self._status())
            await self._send_reports()
            async for data in ws:
                await self._on_message(data)
        finally:
            heartbeat.cancel()
            self._ws = None
            self.connected.clear()

    async def _send(self, message: Message) -> None:
        if self._ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await self._ws.send(encode_message(message).decode())

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            await self._send(self._status())

    async def _on_message(self, data: str | bytes) -> None:
        try:
            if isinstance(data, bytes):
                raise PeerError(ErrorCode.OUT_OF_STATE, "the hub sends an agent no frames")
            message = self._endpoint.receive(data)
        except PeerError as error:
            log.warning("unreadable message from the hub: %s", error)
            return
        if isinstance(message, Deliver):
            await self._send(await self.carry_out(message))
        elif isinstance(message, Error):
            log.warning("the hub reports %s: %s", message.code.value, message.message)

    # --- Commands -------------------------------------------------------------

    async def carry_out(self, deliver: Deliver) -> Result:
        """Verify a delivered command as if the hub were hostile, then do it."""
        command = deliver.command
        state = self.state
        try:
            body = verify_command(
                command,
                org_key=state.org_public,
                now=int(self.clock()),
                replay=self.replay,
                recipient=Recipient(device_id=state.device_id, group=state.group),
            )
            if body.issued_at < self.replay_floor:
                raise PeerError(ErrorCode.REPLAYED, "issued before the replay cache was lost")
        except PeerError as error:
            log.warning("refused command %s: %s", command.body.id, error)
            return Result(
                command_id=command.body.id,
                device_id=state.device_id,
                ok=False,
                code=error.code,
                detail=error.detail[:500],
            )
        self._save_replay()
        try:
            result = await self._act(body)
        except Exception as error:  # the action failed on this device, not the protocol
            log.exception("action %s failed", body.action.name)
            return Result(
                command_id=body.id,
                device_id=state.device_id,
                ok=False,
                code=ErrorCode.ACTION_FAILED,
                detail=str(error)[:500],
            )
        await self._send(self._status())
        return result

    async def _act(self, body: CommandBody) -> Result:
        action: Action = body.action
        issuer = body.issuer.body
        ok = Result(command_id=body.id, device_id=self.state.device_id, ok=True)
        if isinstance(action, LockScreen):
            self.desktop.lock(action.message, by=issuer.name)
            self._remember_lock(SavedLock(message=action.message, by=issuer.name))
        elif isinstance(action, UnlockScreen):
            self.desktop.unlock()
            self._remember_lock(None)
        elif isinstance(action, SendMessage):
            self.desktop.show_message(action.text, sender=issuer.name)
        elif isinstance(action, Watch):
            until = min(self.clock() + action.lease_seconds, body.expires_at + action.lease_seconds)
            self.leases[issuer.serial] = WatchLease(issuer.name, action.width, action.fps, until)
            self._leases_changed()
        elif isinstance(action, Unwatch):
            self.leases.pop(issuer.serial, None)
            self._leases_changed()
        elif isinstance(action, OpenUrl):
            opened = await asyncio.to_thread(webbrowser.open, action.url)
            if not opened:
                return _failed(ok, "no web browser could be started on this device")
        elif isinstance(action, ListProcesses):
            return _with(ok, processes=await asyncio.to_thread(_processes))
        elif isinstance(action, GetSystemInfo):
            return _with(ok, facts=await asyncio.to_thread(_system_facts))
        else:
            return _failed(ok, f"{action.name} is not supported by this agent version")
        return ok

    # --- Watching and capture ------------------------------------------------------

    def _active_leases(self) -> list[WatchLease]:
        now = self.clock()
        expired = [serial for serial, lease in self.leases.items() if lease.until <= now]
        for serial in expired:
            del self.leases[serial]
        if expired:
            self.desktop.set_watched(self.watchers())
        return list(self.leases.values())

    def watchers(self) -> list[str]:
        return sorted({lease.watcher for lease in self.leases.values()})

    def _leases_changed(self) -> None:
        # The student is told before the first picture is taken: the capture loop waits for
        # this banner to be on screen (_banner_shown).
        self._banner = self.desktop.set_watched(self.watchers())
        self.encoder.reset()
        self._watch_changed.set()

    async def _capture_loop(self) -> None:
        """Capture only while someone watches, at the largest size and rate asked for."""
        while True:
            leases = self._active_leases()
            if not leases:
                self._watch_changed.clear()
                await self._send(self._status())
                await self._watch_changed.wait()
                continue
            width = max(lease.width for lease in leases)
            fps = max(lease.fps for lease in leases)
            # Cleared before capturing, so a watch that arrives meanwhile is not missed.
            self._watch_changed.clear()
            await self._banner_shown()
            try:
                thumbnail = await asyncio.to_thread(self._capture, width)
            except Exception:  # a grab can fail (display gone, screen locked by the OS)
                log.exception("screen capture failed; trying again in a second")
                fps = min(fps, 1.0)
                thumbnail = None
            if thumbnail is not None and self._ws is not None:
                await self._send_frame(thumbnail)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._watch_changed.wait(), timeout=1.0 / fps)

    async def _banner_shown(self) -> None:
        """Wait until the latest "being viewed" banner is on the screen (ui).

        Returns at once when it is (every frame after the first of a watch), or when the
        desktop cannot show windows at all (it said so, and reports locks as not shown).
        """
        banner = self._banner
        if banner.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(banner)), BANNER_SECONDS)
        except TimeoutError:
            log.warning(
                "the 'being viewed' banner was not on screen after %.0f s; capturing anyway",
                BANNER_SECONDS,
            )

    def _capture(self, width: int) -> Thumbnail | None:
        self.captures += 1
        return self.encoder.encode(self.screen.grab(), width)

    async def _send_frame(self, thumbnail: Thumbnail) -> None:
        self._sequence += 1
        frame = Frame(
            stream=0,
            sequence=self._sequence,
            captured_at_ms=int(self.clock() * 1000),
            format=_FORMATS[thumbnail.format],
            width=thumbnail.width,
            height=thumbnail.height,
            image=thumbnail.data,
        )
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(encode_frame(frame))
                self.frames_sent += 1

    # --- Desktop reports (ui) -------------------------------------------------------------
    # The desktop reports, from its own threads, what the school should know: a lock that was
    # tampered with or could not be shown. They go to the hub as Events, now or on reconnect.

    def _desktop_reported(self, kind: str, detail: str) -> None:
        self._reports.append(Event(kind=kind, at=int(self.clock()), detail=detail[:500]))
        loop = self._loop
        if loop is None:
            return  # sent once connected (run_once)
        with contextlib.suppress(RuntimeError):  # the loop has closed: the agent is stopping
            loop.call_soon_threadsafe(self._report_soon)

    def _report_soon(self) -> None:
        if self._ws is not None:
            task = asyncio.create_task(self._send_reports())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _send_reports(self) -> None:
        while self._reports and self._ws is not None:
            await self._send(self._reports.popleft())

    # --- Reports --------------------------------------------------------------------

    def _status(self) -> Status:
        return Status(
            locked=self.desktop.locked,
            watched_by=tuple(self.watchers())[:32],
            user=self.user[:128],
            capturing=bool(self.leases),
        )

    def _inventory(self) -> Inventory:
        width, height = self.screen.size
        return Inventory(
            hostname=platform.node()[:255],
            os=platform.system()[:128],
            os_version=platform.release()[:255],
            agent_version=AGENT_VERSION,
            user=self.user[:128],
            cpu_count=psutil.cpu_count() or 0,
            memory_bytes=psutil.virtual_memory().total,
            screen_width=width,
            screen_height=height,
            boot_time=int(psutil.boot_time()),
        )

    # --- The lock, kept across restarts -----------------------------------------------
    # Killing the agent (or its lock window) must not unlock the screen: the service
    # manager restarts it, and it locks again before it even reaches the hub.

    def _remember_lock(self, lock: SavedLock | None) -> None:
        if self.folder is None:
            return
        try:
            if lock is None:
                (self.folder / LOCK_FILE).unlink(missing_ok=True)
            else:
                write_private(self.folder / LOCK_FILE, msgspec.json.encode(lock))
        except OSError as error:
            log.error("could not save the lock state: %s", error)

    def _restore_lock(self) -> None:
        if self.folder is None or not (self.folder / LOCK_FILE).exists():
            return
        try:
            lock = decode_as((self.folder / LOCK_FILE).read_bytes(), SavedLock, LOCK_FILE)
        except (PeerError, OSError):
            lock = SavedLock(message="", by="your school")  # damaged: stay locked, fail closed
        self.desktop.lock(lock.message, by=lock.by)

    # --- Replay cache, kept across restarts ---------------------------------------------

    def _load_replay(self) -> ReplayCache:
        if self.folder is None or not (self.folder / REPLAY_FILE).exists():
            return ReplayCache()
        try:
            return ReplayCache.from_bytes((self.folder / REPLAY_FILE).read_bytes())
        except PeerError:
            # Fail closed: any command issued before now might have been seen already.
            log.error("replay cache unreadable; refusing commands issued before this start")
            self.replay_floor = int(self.clock())
            return ReplayCache()

    def _save_replay(self) -> None:
        if self.folder is None:
            return
        self.replay.prune(int(self.clock()))
        try:
            write_private(self.folder / REPLAY_FILE, self.replay.to_bytes())
        except OSError as error:  # e.g. disk full: keep serving from memory
            log.error("could not save the replay cache: %s", error)


def _failed(result: Result, detail: str) -> Result:
    return _with(result, ok=False, code=ErrorCode.ACTION_FAILED, detail=detail[:500])


def _with(result: Result, **changes: object) -> Result:
    return msgspec.structs.replace(result, **changes)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def _processes() -> tuple[ProcessInfo, ...]:
    found = []
    for process in psutil.process_iter(["pid", "name", "username", "memory_info"]):
        info = process.info
        memory = info.get("memory_info")
        found.append(
            ProcessInfo(
                pid=info["pid"],
                name=(info.get("name") or "?")[:255],
                user=(info.get("username") or "")[:128],
                memory_bytes=memory.rss if memory else 0,
            )
        )
    return tuple(found[:4096])


def _system_facts() -> dict[str, str]:
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage("/")
    return {
        "hostname": platform.node(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "cpu_count": str(psutil.cpu_count()),
        "cpu_percent": str(psutil.cpu_percent(interval=None)),
        "memory_total": str(memory.total),
        "memory_available": str(memory.available),
        "disk_free": str(disk.free),
        "boot_time": str(int(psutil.boot_time())),
    }
