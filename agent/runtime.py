"""The running agent: dial out, authenticate, verify and carry out commands, stream on demand."""

from __future__ import annotations

import asyncio
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
from protocol.frames import Frame, ImageFormat, Patch, TileFrame, encode_frame
from protocol.handshake import ClientHandshake
from protocol.messages import (
    ClientRole,
    Deliver,
    Error,
    Inventory,
    KeyframeRequest,
    Message,
    ProcessInfo,
    Result,
    Status,
    encode_message,
)

from .capture import Capture
from .desktop import Desktop
from .screen import ScreenSource
from .state import LOCK_FILE, REPLAY_FILE, AgentState
from .thumbnail import Thumbnail
from .tiles import TileUpdate

log = logging.getLogger("homeroom.agent")

AGENT_VERSION = "0.1.0"
HEARTBEAT_SECONDS = 30.0
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
        # Frames: whole pictures, changed tiles or nothing (agent/capture.py, agent/tiles.py).
        self.capture = Capture(screen)
        #: Commands issued before this time are refused as possible replays: set when
        #: the saved replay cache was lost, so losing it never reopens the door.
        self.replay_floor = 0
        self.replay = self._load_replay()
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
        elif isinstance(message, KeyframeRequest):
            # A watcher cannot apply tiles: the next capture (at the watched rate, never
            # sooner, so requests cannot speed capture up) sends a whole picture.
            if message.device_id == self.state.device_id:
                self.capture.request_keyframe()
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
            # A renewal keeps the stream going; only a new watcher needs a whole picture.
            new_watcher = issuer.serial not in self.leases
            self.leases[issuer.serial] = WatchLease(issuer.name, action.width, action.fps, until)
            self._leases_changed(new_watcher=new_watcher)
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

    def _leases_changed(self, *, new_watcher: bool = False) -> None:
        # The student is told before the first picture is taken.
        self.desktop.set_watched(self.watchers())
        if new_watcher:
            self.capture.request_keyframe()
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
            try:
                thumbnail = await asyncio.to_thread(self._capture, width)
            except Exception:  # a grab can fail (display gone, screen locked by the OS)
                log.exception("screen capture failed; trying again in a second")
                fps = min(fps, 1.0)
                thumbnail = None
                self.capture.request_keyframe()  # start again from a whole grab
            if thumbnail is not None and not await self._send_frame(thumbnail):
                # Tiles that never left would be missing under the next ones: start afresh.
                self.capture.request_keyframe()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._watch_changed.wait(), timeout=1.0 / fps)

    def _capture(self, width: int) -> Thumbnail | TileUpdate | None:
        self.captures += 1
        return self.capture.take(width)

    async def _send_frame(self, thumbnail: Thumbnail | TileUpdate) -> bool:
        """Send one frame; False if it could not go (no connection)."""
        if self._ws is None:
            return False
        # Tiles apply only onto the previous sequence number: the console asks for a whole
        # picture when one is missing (protocol/frames.py).
        self._sequence += 1
        frame: Frame | TileFrame
        if isinstance(thumbnail, TileUpdate):
            frame = TileFrame(
                stream=0,
                sequence=self._sequence,
                captured_at_ms=int(self.clock() * 1000),
                format=_FORMATS[thumbnail.format],
                width=thumbnail.width,
                height=thumbnail.height,
                patches=tuple(
                    Patch(p.x, p.y, p.width, p.height, p.data) for p in thumbnail.patches
                ),
            )
        else:
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
        if ws is None:
            return False
        try:
            await ws.send(encode_frame(frame))
        except ConnectionClosed:
            return False
        self.frames_sent += 1
        return True

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
