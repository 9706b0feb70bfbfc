"""The running agent: dial out, authenticate, verify and carry out commands, stream on demand."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
import psutil

from link.dial import open_session
from link.files import write_private
from link.reconnect import SessionLost, stay_connected
from link.ws import ClientConnection, ConnectionClosed
from protocol.actions import (
    Action,
    CancelPower,
    CloseApp,
    EndFocus,
    GetSystemInfo,
    KillProcess,
    LaunchApp,
    ListProcesses,
    LockScreen,
    LogOff,
    OpenUrl,
    PauseDevice,
    Reboot,
    RunDiagnostics,
    SendMessage,
    SetAppList,
    ShowSummary,
    ShutDown,
    StartFocus,
    TakeScreenshot,
    UnlockScreen,
    Unwatch,
    Watch,
)
from protocol.codec import decode_as
from protocol.commands import CommandBody, Recipient, ReplayCache, SignedCommand, verify_command
from protocol.errors import ErrorCode, PeerError
from protocol.frames import Frame, ImageFormat, Patch, TileFrame, encode_frame
from protocol.handshake import ClientHandshake
from protocol.limits import (
    MAX_SHORT_TEXT,
    MAX_USER_NAME,
    MAX_WATCHERS,
    fit,
)
from protocol.messages import (
    Activity,
    Capabilities,
    ClientRole,
    Deliver,
    Error,
    Event,
    Inventory,
    KeyframeRequest,
    LockDue,
    Message,
    PolicyUpdate,
    Result,
    RevocationUpdate,
    Status,
    encode_message,
)
from protocol.policy import describe_window
from protocol.sealing import FrameSealer

from . import what_applies
from .actions import activity, diagnostics, facts, processes
from .actions.apps import AppList, AppRefused
from .actions.capabilities import detect
from .actions.power import PowerPlanner
from .actions.processes import ProcessGuard, ProcessRefused
from .desktop import Desktop, HeadlessDesktop, banner_shown
from .focus_mode import CHECK_SECONDS, FocusMode
from .lock_order import LockOrder
from .platforms import ActivitySample, ActivityWatcher, Platform, PowerCommands, current
from .policy import NightLock, PolicyKeeper
from .revocation import Revocations
from .screen import ScreenSource
from .state import LOCK_FILE, REPLAY_FILE, AgentState
from .usage import UsageRecord

if TYPE_CHECKING:
    from .capture import Capture
    from .desktop import BannerShown
    from .thumbnail import Thumbnail
    from .tiles import TileUpdate

log = logging.getLogger("homeroom.agent")

AGENT_VERSION = "0.1.0"
HEARTBEAT_SECONDS = 30.0
#: How often the agent looks whether a policy window opened or closed (agent/policy.py).
POLICY_SECONDS = 15.0
#: How long a new watch waits for the "being viewed" banner to be on screen before the first
#: picture. A UI that takes longer (stopped, or restarting) does not get to block watching.
BANNER_SECONDS = 5.0
_FORMATS = {"jpeg": ImageFormat.JPEG, "webp": ImageFormat.WEBP}


class SavedLock(msgspec.Struct, frozen=True):
    message: str
    by: str
    #: When the lock command was issued: an unlock issued before it does not lift it.
    issued_at: int = 0
    #: For a pause: when the device lifts it by itself (0: a lock until unlocked).
    until: int = 0


@dataclass(frozen=True, slots=True)
class WatchLease:
    """One staff member watching: at what size and rate, until when."""

    watcher: str
    width: int
    fps: float
    until: float


class Agent:
    """One student device's agent. `run()` stays connected until cancelled.

    `platform` holds what differs between operating systems (default: this one's);
    `power` replaces its final log-off/restart/shutdown calls; `grace_seconds` is how
    long a program asked to close gets before it is killed; `sample_seconds` is the
    window over which CPU use is measured; `watch_activity` reports the active window
    and idleness to the hub (off for simulated students); `focus_check_seconds` is how
    often focus mode looks at the windows (agent/focus_mode.py).
    """

    def __init__(
        self,
        state: AgentState,
        *,
        screen: ScreenSource,
        desktop: Desktop,
        folder: Path | None = None,
        clock: Callable[[], float] = time.time,
        user: str | None = None,
        platform: Platform | None = None,
        power: PowerCommands | None = None,
        grace_seconds: float = 5.0,
        sample_seconds: float = 0.5,
        watch_activity: bool = False,
        idle_after: float = activity.IDLE_AFTER,
        can_lock: bool | None = None,
        focus_check_seconds: float = CHECK_SECONDS,
    ) -> None:
        self.state = state
        # The OS's name for the student, fitted once: every Status and Inventory carries it.
        self.user = fit(user if user is not None else _user(), MAX_USER_NAME, printable=True)
        self.screen = screen
        self.desktop = desktop
        self.folder = folder
        self.clock = clock
        self.platform = platform or current()
        self.grace_seconds = grace_seconds
        self.sample_seconds = sample_seconds
        # Frames: whole pictures, changed tiles or nothing (agent/capture.py, agent/tiles.py).
        self._capture: Capture | None = None
        #: Commands issued before this time are refused as possible replays: set when
        #: the saved replay cache was lost, so losing it never reopens the door.
        self.replay_floor = 0
        self.replay = self._load_replay()
        # Checked here on every command, whatever the hub knows (agent/revocation.py).
        self.revocations = Revocations(folder, state.org_public)
        # The group's signed policy, enforced here on this clock, online or not.
        self.policy = PolicyKeeper(
            folder,
            state.org_public,
            state.group,
            clock=clock,
            revoked=lambda: self.revocations.serials,
        )
        self.night_lock = NightLock()
        #: When a guardian's pause ends by itself (0: no pause on).
        self.paused_until = 0
        # --- desktop reports and the banner (ui) ---
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reports: collections.deque[Event] = collections.deque(maxlen=32)
        self._background: set[asyncio.Task[None]] = set()
        self._banner: BannerShown = banner_shown(True)
        desktop.set_reporter(self._desktop_reported)
        self.recipient = Recipient(device_id=state.device_id, group=state.group)
        self.lock_order = LockOrder(
            folder, recipient=self.recipient, org_key=state.org_public, clock=clock
        )
        self._restore_lock()
        self.apps = AppList.load(folder, self.recipient, state.org_public)
        self.guard = ProcessGuard(self.platform, self.apps.launched_pids)
        #: The policy window in force, in words, for the student's panel (filled by policy).
        self.policy_window: Callable[[], str | None] = self._policy_in_words
        self._applies_written: what_applies.WhatApplies | None = None
        self._applies_shown: what_applies.WhatApplies | None = None
        self.focus = FocusMode(
            platform=self.platform,
            guard=self.guard,
            desktop=desktop,
            clock=clock,
            report=self._desktop_reported,
            close_grace_seconds=grace_seconds,
            check_seconds=focus_check_seconds,
            folder=folder,
        )
        self.focus.restore(self.recipient, state.org_public, self.revocations.serials)
        self.power = PowerPlanner(
            desktop, power or self.platform.power_commands(), clock, self._power_failed
        )
        # A simulated student's desktop records locks faithfully; a real one needs a
        # display server where a lock holds.
        self.capabilities = detect(
            self.platform,
            screen,
            lock=True if isinstance(desktop, HeadlessDesktop) and can_lock is None else can_lock,
        )
        self._watch_activity = watch_activity
        self._idle_after = idle_after
        self._activity = activity.ActivityThrottle()
        self._activity_timer: asyncio.TimerHandle | None = None
        # Application names and time in front, for a parent's summary (agent/usage.py).
        self.usage = UsageRecord(folder, clock=clock)
        self.leases: dict[str, WatchLease] = {}  # by certificate serial
        # Frames sealed for the watchers' consoles, so the hub relays what it cannot read.
        self.sealer = FrameSealer(state.device_id)
        self.captures = 0
        self.frames_sent = 0
        self.connected = asyncio.Event()
        self._watch_changed = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._endpoint: ClientHandshake
        self._sequence = 0
        self.enforce_policy()  # a device started inside a lock window locks at once
        if self.policy.problem is not None:
            self._desktop_reported("policy_refused", self.policy.problem)

    # --- Connection ---------------------------------------------------------

    async def run(self) -> None:
        """Stay connected: reconnect with exponential backoff and full jitter."""
        self._loop = asyncio.get_running_loop()
        self._note_what_applies()  # on screen from the start, online or not
        capture = asyncio.create_task(self._capture_loop())
        focus = asyncio.create_task(self.focus.run())
        policy = asyncio.create_task(self._keep_policy())
        watcher = self._start_activity_watch() if self._watch_activity else None
        try:
            await stay_connected(self.run_once, on_lost=self._lost)
        finally:
            capture.cancel()
            focus.cancel()
            policy.cancel()
            if watcher is not None:
                watcher.stop()
            self.usage.tick(locked=self.desktop.locked, save=False)
            self.usage.save()
            self.power.cancel(quietly=True)

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
                revoked=self.revocations.serials,  # a revoked hub certificate, after a theft
            )

        ws, endpoint = await open_session(state.hub_url, handshake)
        self._ws = ws
        self._endpoint = endpoint
        self.connected.set()
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            # What the device can do first, so the console knows before it offers anything.
            await self._send(Capabilities(capabilities=self.capabilities))
            await self._send(self._inventory())
            await self._send(self._status())
            await self._send_reports()
            last_activity = self._activity.resend()
            if last_activity is not None:
                await self._send(last_activity)
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
        elif isinstance(message, LockDue):
            await self._lock_due(message)
        elif isinstance(message, RevocationUpdate):
            await self._revocations_received(message)
        elif isinstance(message, PolicyUpdate):
            await self._policy_received(message)
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
                revoked=self.revocations.serials,
                recipient=Recipient(device_id=state.device_id, group=state.group),
            )
            if body.issued_at < self.replay_floor:
                raise PeerError(ErrorCode.REPLAYED, "issued before the replay cache was lost")
            self.lock_order.check(body)
            self.policy.check(body)  # the window open now, on this device's clock
        except PeerError as error:
            log.warning("refused command %s: %s", command.body.id, error)
            return Result(
                command_id=command.body.id,
                device_id=state.device_id,
                ok=False,
                code=error.code,
                detail=fit(error.detail, MAX_SHORT_TEXT, printable=True),
            )
        self._save_replay()
        try:
            result = await self._act(body, command)
        except (AppRefused, ProcessRefused) as refusal:  # a sentence for the staff member
            log.info("action %s refused: %s", body.action.name, refusal)
            return self._failed(body, str(refusal))
        except Exception as error:  # the action failed on this device, not the protocol
            log.exception("action %s failed", body.action.name)
            return self._failed(body, str(error))
        await self._send(self._status())
        return result

    def _failed(self, body: CommandBody, detail: str) -> Result:
        return Result(
            command_id=body.id,
            device_id=self.state.device_id,
            ok=False,
            code=ErrorCode.ACTION_FAILED,
            detail=fit(detail, MAX_SHORT_TEXT, printable=True),
        )

    def _done(self, body: CommandBody, detail: str = "", **data: object) -> Result:
        result = Result(
            command_id=body.id,
            device_id=self.state.device_id,
            ok=True,
            detail=fit(detail, MAX_SHORT_TEXT, printable=True),
        )
        return msgspec.structs.replace(result, **data) if data else result

    async def _act(self, body: CommandBody, command: SignedCommand) -> Result:
        action: Action = body.action
        match action:
            case LockScreen():
                return await self._lock(action, body)
            case PauseDevice():
                return await self._pause(action, body)
            case ShowSummary():
                return self._summary(action, body)
            case UnlockScreen():
                return await self._unlock(action, body, command)
            case SendMessage():
                return await self._message(action, body)
            case Watch():
                return await self._watch(action, body)
            case Unwatch():
                return await self._unwatch(action, body)
            case OpenUrl():
                return await self._open_url(action, body)
            case LaunchApp():
                return await self._launch_app(action, body)
            case CloseApp():
                return await self._close_app(action, body)
            case TakeScreenshot():
                return await self._screenshot(action, body)
            case ListProcesses():
                return await self._list_processes(action, body)
            case KillProcess():
                return await self._kill_process(action, body)
            case GetSystemInfo():
                return await self._system_info(action, body)
            case RunDiagnostics():
                return await self._diagnostics(action, body)
            case LogOff() | Reboot() | ShutDown():
                return await self._power_action(action, body)
            case CancelPower():
                return await self._cancel_power(action, body)
            case StartFocus():
                return self._done(body, self.focus.start(action, body, command))
            case EndFocus():
                return self._done(body, self.focus.stop())
            case SetAppList():
                # The signed command itself is kept, so it is verified again at each start.
                return self._done(body, self.apps.accept(command, body))
        return self._failed(body, f"{action.name} is not supported by this agent version")

    # --- Classroom actions ----------------------------------------------------------

    async def _lock(self, action: LockScreen, body: CommandBody, *, until: int = 0) -> Result:
        by = body.issuer.body.name
        self.desktop.lock(action.message, by=by)
        self.night_lock.staff_locked()
        self.paused_until = until  # a lock replaces a pause, a pause a lock
        self.lock_order.locked_at = body.issued_at
        self._remember_lock(
            SavedLock(message=action.message, by=by, issued_at=body.issued_at, until=until)
        )
        return self._done(body)

    async def _pause(self, action: PauseDevice, body: CommandBody) -> Result:
        """A lock the device lifts by itself after `minutes` (enforce_policy), offline too."""
        until = int(self.clock()) + action.minutes * 60
        ends = time.strftime("%H:%M", time.localtime(until))  # the device's own time zone
        message = action.message or f"Time off the device until {ends}."
        await self._lock(LockScreen(message=fit(message, MAX_SHORT_TEXT)), body, until=until)
        return self._done(body, f"paused until {ends} ({action.minutes} min)")

    async def _unlock(
        self, action: UnlockScreen, body: CommandBody, command: SignedCommand
    ) -> Result:
        self.desktop.unlock()
        self.paused_until = 0
        self._remember_lock(None)
        self.lock_order.unlocked(command)
        return self._done(body)

    async def _lock_due(self, due: LockDue) -> None:
        """The hub re-asserts a lock it knows is due (after a restart, say, that lost lock.json).

        Taken even past its expiry, since a lock only restricts; never over a newer unlock
        (protocol/relock.py). A refusal is reported, as it means the hub and device disagree.
        """
        try:
            body = self.lock_order.verify_due(due.command)
            self.revocations.check(body.issuer.body)
        except PeerError as error:
            log.warning("refused the lock the hub re-asserted: %s", error)
            detail = fit(f"{error.code.value}: {error.detail}", MAX_SHORT_TEXT)
            await self._send(Event(kind="lock_due_refused", at=int(self.clock()), detail=detail))
            return
        if self.desktop.locked and self.lock_order.locked_at >= body.issued_at:
            return  # already under this lock, or a newer one
        assert isinstance(body.action, LockScreen)  # verify_due_lock takes nothing else
        log.info("the hub re-asserted lock %s", body.id)
        await self._lock(body.action, body)
        await self._send(self._status())

    async def _revocations_received(self, update: RevocationUpdate) -> None:
        """Hold a newer organisation-signed list; report one that is older or not the org's."""
        now = int(self.clock())
        try:
            if self.revocations.receive(update.revocations):
                log.info("revocation list %d in force", self.revocations.sequence)
        except PeerError as error:
            log.warning("refused the revocation list the hub sent: %s", error)
            detail = fit(f"{error.code.value}: {error.detail}", MAX_SHORT_TEXT)
            await self._send(Event(kind="revocation_refused", at=now, detail=detail))
            return
        if self.revocations.is_stale(now):
            # Still enforced; the school should know the organisation owes a new list.
            detail = f"revocation list {self.revocations.sequence} is past its expiry"
            await self._send(Event(kind="revocation_stale", at=now, detail=detail))

    # --- Policy (agent/policy.py) -----------------------------------------------------

    async def _policy_received(self, update: PolicyUpdate) -> None:
        """Hold a newer admin-signed policy; report one that is older, altered or foreign."""
        try:
            if self.policy.receive(update.policy):
                log.info("policy %d of %s in force", self.policy.sequence, self.state.group)
        except PeerError as error:
            log.warning("refused the policy the hub sent: %s", error)
            detail = fit(f"{error.code.value}: {error.detail}", MAX_SHORT_TEXT)
            await self._send(Event(kind="policy_refused", at=int(self.clock()), detail=detail))
            return
        if self.enforce_policy():
            await self._send(self._status())

    def enforce_policy(self) -> bool:
        """Apply the policy window open now: lock or unlock for a lock window, stop capture
        where it is forbidden. True if the screen's lock changed. Runs on a timer, offline too.
        """
        if not self.policy.capture_allowed() and self.leases:
            log.info("the policy window forbids capture: watching stops")
            self.leases.clear()
            self._leases_changed()
        if self.paused_until and self.clock() >= self.paused_until:
            log.info("the pause is over: unlocking the screen")
            self.paused_until = 0
            self.lock_order.locked_at = 0
            self._remember_lock(None)
            self.desktop.unlock()
            return True
        change = self.night_lock.enforce(self.policy, self.desktop.locked)
        if change is None:
            return False
        if change.lock:
            log.info("%s opens: locking the screen", change.by)
            self.desktop.lock(change.message, by=change.by)
        else:
            log.info("the lock window closed: unlocking the screen")
            self.desktop.unlock()
        return True

    async def _keep_policy(self) -> None:
        while True:
            await asyncio.sleep(POLICY_SECONDS)
            if self.enforce_policy():
                await self._send(self._status())
            self._note_what_applies()  # a window may have opened or closed
            self.usage.tick(locked=self.desktop.locked)

    def _policy_in_words(self) -> str | None:
        if self.policy.policy is None:
            return None
        return describe_window(self.policy.window())

    def _summary(self, action: ShowSummary, body: CommandBody) -> Result:
        # The detail goes to the audit log: the time covered, never an application's name.
        summary = self.usage.summary(action.since)
        since = time.strftime("%a %H:%M", time.localtime(summary.since))
        detail = f"summary since {since}: {len(summary.apps)} applications"
        return self._done(body, detail, summary=summary)

    async def _message(self, action: SendMessage, body: CommandBody) -> Result:
        self.desktop.show_message(action.text, sender=body.issuer.body.name)
        return self._done(body)

    async def _watch(self, action: Watch, body: CommandBody) -> Result:
        issuer = body.issuer.body
        until = min(self.clock() + action.lease_seconds, body.expires_at + action.lease_seconds)
        # A renewal keeps the stream going; only a new watcher needs a whole picture.
        new_watcher = issuer.serial not in self.leases
        if action.seal_to is not None:
            self.sealer.admit(
                watch_id=body.id, serial=issuer.serial, watcher_key=action.seal_to, until=until
            )
        self.leases[issuer.serial] = WatchLease(issuer.name, action.width, action.fps, until)
        self._leases_changed(new_watcher=new_watcher)
        return self._done(body)

    async def _unwatch(self, action: Unwatch, body: CommandBody) -> Result:
        self.leases.pop(body.issuer.body.serial, None)
        self._leases_changed()
        return self._done(body)

    async def _open_url(self, action: OpenUrl, body: CommandBody) -> Result:
        # Imported here: webbrowser brings shutil with bz2 and lzma, held all day for a rare action.
        import webbrowser

        if not await asyncio.to_thread(webbrowser.open, action.url):
            return self._failed(body, "no web browser could be started on this device")
        return self._done(body)

    async def _launch_app(self, action: LaunchApp, body: CommandBody) -> Result:
        launched = await self.apps.launch(action.app, self.platform.launch_options())
        return self._done(body, f"{action.app} started (pid {launched.pid})")

    async def _close_app(self, action: CloseApp, body: CommandBody) -> Result:
        if action.pid is not None:
            pid = action.pid
            candidates = await asyncio.to_thread(lambda: [processes.by_pid(pid, None)])
            what = f"process {pid}"
        else:
            assert action.app is not None
            names = {action.app}
            entry = self.apps.apps.get(action.app)
            if entry is not None:  # an allow-listed app: its program's process name too
                names.add(Path(entry.argv[0]).name)
            launched = self.apps.launched_pids(action.app)
            candidates = await asyncio.to_thread(processes.by_name, names, launched)
            what = f"program called {action.app!r}"
        return await self._end(body, candidates, what)

    async def _kill_process(self, action: KillProcess, body: CommandBody) -> Result:
        if action.pid is not None:
            pid, name = action.pid, action.process_name
            candidates = await asyncio.to_thread(lambda: [processes.by_pid(pid, name)])
            what = f"process {pid}"
        else:
            names = {action.process_name}
            candidates = await asyncio.to_thread(processes.by_name, names)
            what = f"process called {action.process_name!r}"
        return await self._end(body, candidates, what)

    async def _end(self, body: CommandBody, candidates: list[psutil.Process], what: str) -> Result:
        ended = await asyncio.to_thread(
            processes.end_processes, candidates, self.guard, self.grace_seconds, what
        )
        return self._done(body, ended.describe())

    async def _screenshot(self, action: TakeScreenshot, body: CommandBody) -> Result:
        # Loaded at the first screenshot, an IT action: not held all day (issue 7's memory).
        from protocol.screenshots import cut
        from protocol.sealing import screenshot_about, seal_screenshot

        from .actions import screenshot

        shot = await asyncio.to_thread(screenshot.take_screenshot, self.screen, action.max_width)
        data, share = shot.data, None
        if action.seal_to is not None:
            about = screenshot_about(shot.width, shot.height, shot.format)
            data, share = seal_screenshot(
                data,
                command_id=body.id,
                device_id=self.state.device_id,
                seal_to=action.seal_to,
                about=about,
            )
        parts, info = cut(
            data,
            command_id=body.id,
            device_id=self.state.device_id,
            width=shot.width,
            height=shot.height,
            format=shot.format,
        )
        info = msgspec.structs.replace(info, sealed_by=share)
        # The parts go first: the Result tells the receiver it has them all.
        for part in parts:
            await self._send(part)
        return self._done(
            body, f"screenshot {shot.width}x{shot.height}, {len(shot.data)} bytes", screenshot=info
        )

    # --- IT actions ----------------------------------------------------------------

    async def _list_processes(self, action: ListProcesses, body: CommandBody) -> Result:
        found = await asyncio.to_thread(
            processes.list_processes, self.platform, self.sample_seconds
        )
        return self._done(body, processes=found)

    async def _system_info(self, action: GetSystemInfo, body: CommandBody) -> Result:
        found = await asyncio.to_thread(facts.system_facts, self.platform, user=self.user)
        return self._done(body, facts=found)

    async def _diagnostics(self, action: RunDiagnostics, body: CommandBody) -> Result:
        found = await diagnostics.diagnostics(
            self.platform,
            hub_url=self.state.hub_url,
            round_trip=self._round_trip if self._ws is not None else None,
            sample_seconds=self.sample_seconds,
        )
        return self._done(body, facts=found)

    async def _round_trip(self) -> float:
        ws = self._ws
        if ws is None:
            raise ConnectionError("not connected")
        latency: float = await (await ws.ping())
        return latency

    async def _power_action(self, action: LogOff | Reboot | ShutDown, body: CommandBody) -> Result:
        detail = self.power.start(
            action.name, seconds=action.seconds, by=body.issuer.body.name, message=action.message
        )
        return self._done(body, detail)

    async def _cancel_power(self, action: CancelPower, body: CommandBody) -> Result:
        return self._done(body, self.power.cancel() or "nothing was counting down")

    async def _power_failed(self, detail: str) -> None:
        log.error("power action failed: %s", detail)
        event = Event(
            kind="power_failed",
            at=int(self.clock()),
            detail=fit(detail, MAX_SHORT_TEXT, printable=True),
        )
        await self._send(event)

    # --- Activity ----------------------------------------------------------------------

    def _start_activity_watch(self) -> ActivityWatcher | None:
        loop = asyncio.get_running_loop()

        def report(sample: ActivitySample) -> None:  # on the watcher's thread
            loop.call_soon_threadsafe(self._activity_sample, sample)

        return self.platform.watch_activity(report, self._idle_after)

    def _activity_sample(self, sample: ActivitySample) -> None:
        self.usage.note(sample, locked=self.desktop.locked)
        loop = asyncio.get_running_loop()
        message = self._activity.offer(sample, loop.time())
        if message is not None:
            self._post(message)
        elif self._activity_timer is None:
            due = self._activity.next_due()
            if due is not None:
                self._activity_timer = loop.call_at(due, self._activity_due)

    def _activity_due(self) -> None:
        self._activity_timer = None
        message = self._activity.due(asyncio.get_running_loop().time())
        if message is not None:
            self._post(message)

    def _post(self, message: Activity) -> None:
        task = asyncio.create_task(self._send(message))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- Watching and capture ------------------------------------------------------

    def _active_leases(self) -> list[WatchLease]:
        if self.leases and not self.policy.capture_allowed():
            self.leases.clear()  # the window closed capture: not one more frame
            self.desktop.set_watched([])
        now = self.clock()
        expired = [serial for serial, lease in self.leases.items() if lease.until <= now]
        for serial in expired:
            del self.leases[serial]
        if expired:
            self.desktop.set_watched(self.watchers())
            self._note_what_applies()
        if self.sealer.update(now, self.leases):
            self.capture.request_keyframe()  # the new content key travels in whole frames
        return list(self.leases.values())

    def watchers(self) -> list[str]:
        return sorted({lease.watcher for lease in self.leases.values()})

    def _leases_changed(self, *, new_watcher: bool = False) -> None:
        # The student is told before the first picture is taken: the capture loop waits for
        # this banner to be on screen (_banner_shown).
        self._banner = self.desktop.set_watched(self.watchers())
        self._note_what_applies()
        # Someone who left can no longer read what follows: a new content key, in a whole frame.
        if self.sealer.update(self.clock(), self.leases) or new_watcher:
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
            await self._banner_shown()
            try:
                thumbnail = await asyncio.to_thread(self._take, width)
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

    @property
    def capture(self) -> Capture:
        """The frame pipeline, made on the first watch: an agent nobody watches never loads
        Pillow and the encoders (a few MiB of its memory)."""
        if self._capture is None:
            from .capture import Capture

            self._capture = Capture(self.screen)
        return self._capture

    def _take(self, width: int) -> Thumbnail | TileUpdate | None:
        self.captures += 1
        return self.capture.take(width)

    async def _send_frame(self, thumbnail: Thumbnail | TileUpdate) -> bool:
        """Send one frame; False if it could not go (no connection)."""
        if self._ws is None:
            return False
        # Tiles apply only onto the previous sequence number: the console asks for a whole
        # picture when one is missing (protocol/frames.py).
        self._sequence += 1
        frame = _frame(thumbnail, self._sequence, int(self.clock() * 1000))
        ws = self._ws
        if ws is None:
            return False
        data = encode_frame(frame)
        if self.sealer.sealing:
            data = self.sealer.seal(data, whole=isinstance(frame, Frame))
        try:
            await ws.send(data)
        except ConnectionClosed:
            return False
        self.frames_sent += 1
        return True

    # --- Desktop reports (ui) -------------------------------------------------------------
    # The desktop reports, from its own threads, what the school should know: a lock that was
    # tampered with or could not be shown. They go to the hub as Events, now or on reconnect.

    def _desktop_reported(self, kind: str, detail: str) -> None:
        self._reports.append(
            Event(
                kind=kind, at=int(self.clock()), detail=fit(detail, MAX_SHORT_TEXT, printable=True)
            )
        )
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

    def what_applies(self) -> what_applies.WhatApplies:
        """What the student's "what applies now" panel shows (agent/what_applies.py)."""
        return what_applies.WhatApplies(
            at=int(self.clock()),
            watched_by=tuple(self.watchers()),
            locked=self.desktop.locked,
            focus=self.focus.summary(),
            window=self.policy_window(),
        )

    def _note_what_applies(self) -> None:
        """Show and rewrite the student's panel when it changed (each status report asks, and
        a change of watchers at once)."""
        applies = self.what_applies()
        if not applies.same_as(self._applies_shown):
            self._applies_shown = applies
            self.desktop.show_what_applies(applies.lines())
        if self.folder is None or applies.same_as(self._applies_written):
            return
        try:
            what_applies.save(self.folder, applies)
            self._applies_written = applies
        except OSError as error:
            log.warning("could not write what applies now: %s", error)

    def _status(self) -> Status:
        self._note_what_applies()
        return Status(
            locked=self.desktop.locked,
            watched_by=tuple(self.watchers())[:MAX_WATCHERS],
            user=self.user,
            capturing=bool(self.leases),
        )

    def _inventory(self) -> Inventory:
        size = self.screen.size if self.capabilities.capture else (0, 0)
        return facts.inventory(agent_version=AGENT_VERSION, user=self.user, screen_size=size)

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
        self.lock_order.locked_at = lock.issued_at
        self.paused_until = lock.until

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


def _frame(
    thumbnail: Thumbnail | TileUpdate, sequence: int, captured_at_ms: int
) -> Frame | TileFrame:
    """The wire frame for one capture: a whole picture, or the tiles that changed."""
    from .tiles import TileUpdate  # loaded with the capture, which made `thumbnail`

    # Both kinds start with the same header fields, in this order (protocol/frames.py;
    # tests/protocol/test_frames_and_keys.py holds them to it).
    header = (
        0,  # stream: an agent sends only its own screen
        sequence,
        captured_at_ms,
        _FORMATS[thumbnail.format],
        thumbnail.width,
        thumbnail.height,
    )
    if isinstance(thumbnail, TileUpdate):
        patches = tuple(Patch(p.x, p.y, p.width, p.height, p.data) for p in thumbnail.patches)
        return TileFrame(*header, patches=patches)
    return Frame(*header, image=thumbnail.data)


def _user() -> str:
    import getpass  # only here, like webbrowser: a few modules fewer resident all day

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
