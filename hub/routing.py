"""Where a staff member's signed command goes: to each device, delivered now, queued, or refused.

Theory of operation: a console submits one signed command for some devices. The router
checks the signature and the issuer's rights, then decides per device, from the store and
the live connections, one `Disposition`: `Delivered` (the device is connected now),
`Queued` (it is offline and the sender asked to queue) or `Refused(code)`. That plan is
audited before anything leaves the hub, so a full disk stops the action, never the record.
Then the copies go out; a device that will not take its copy within `delivery_seconds` is
treated as offline after all (its connection is dropped, the command queued or refused as
the sender chose). Results coming back are matched against what each device was sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Mapping
from contextlib import suppress
from dataclasses import dataclass, field

from websockets.exceptions import ConnectionClosed

from protocol.actions import TakeScreenshot, Unwatch, Watch
from protocol.certificates import CLOCK_SKEW, CertificateBody
from protocol.commands import CommandBody, ReplayCache, SignedCommand, verify_command
from protocol.errors import ErrorCode, PeerError
from protocol.keys import PublicKey
from protocol.limits import MAX_SHORT_TEXT, fit
from protocol.messages import (
    MAX_SCREENSHOT_BYTES,
    CommandQueued,
    Deliver,
    Result,
    ScreenshotPart,
    Submit,
    encode_message,
)

from .links import AgentLink, ConsoleLink
from .offload import StoreThread
from .store import Store, StoreError

log = logging.getLogger("homeroom.hub")

#: A device whose connection will not take a command within this long is treated as offline.
DELIVERY_SECONDS = 5.0
#: Commands awaiting results; beyond this, the oldest are forgotten (results then go nowhere).
MAX_PENDING = 50_000
#: Screens one console may watch at once (a class grid is 30 or so; IT's fleet view more).
MAX_WATCHES = 200
#: An expired queued command whose sender is not signed in waits this long to be reported.
KEEP_EXPIRY_REPORTS = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Delivered:
    """The device is connected: its copy is sent now."""

    @property
    def label(self) -> str:
        return "delivered"


@dataclass(frozen=True, slots=True)
class Queued:
    """The device is offline and the sender asked to wait: kept until it connects or expires."""

    @property
    def label(self) -> str:
        return "queued"


@dataclass(frozen=True, slots=True)
class Refused:
    """Not sent, for the reason `code` names; the console gets a failed result saying so."""

    code: ErrorCode
    #: A sentence for the sender where the code alone does not say it (the policy window).
    detail: str = ""

    @property
    def label(self) -> str:
        return self.code.value


Disposition = Delivered | Queued | Refused
#: (command, the device's group, the device) -> why the group's policy refuses it, or None.
PolicyCheck = Callable[[CommandBody, str, str], str | None]


@dataclass(eq=False)
class PendingCommand:
    """A routed command whose results are still due, and from which devices."""

    console: ConsoleLink
    awaiting: set[str]
    expires_at: int
    #: For a screenshot: the bytes each device has sent so far (bounded, and audited).
    screenshot_bytes: dict[str, int] | None = None
    #: Devices for which it waits in the store: their result also clears it there.
    queued: set[str] = field(default_factory=set)
    #: For a watch: the lease asked for, granted per device only once it accepts the watch.
    watch_lease: int | None = None


#: Given the issuer and the targets about to be reached, those to refuse (hub/session_rules.py).
SessionCheck = Callable[[CertificateBody, list[str]], Awaitable[set[str]]]


def routed(disposition: Disposition) -> bool:
    """Whether the command goes to the device, now or when it connects."""
    return isinstance(disposition, Delivered | Queued)


def outcome(plan: Mapping[str, Disposition]) -> str:
    """The plan as the audit log records it, e.g. "delivered 3, device_offline 1"."""
    counts = Counter(disposition.label for disposition in plan.values())
    return ", ".join(f"{label} {count}" for label, count in sorted(counts.items()))


class Router:
    """Routes commands from consoles to devices and remembers whose results are still due.

    It shares the hub's live table of connected devices (`agents`) and reads the store;
    the hub's connection layer calls `submit` for each `Submit` and `settle` for each
    `Result`, and tells it when a console leaves.
    """

    def __init__(
        self,
        store: Store,
        agents: Mapping[str, AgentLink],
        *,
        org_key: PublicKey,
        clock: Callable[[], float],
        changed: Callable[[], None],
        delivery_seconds: float = DELIVERY_SECONDS,
        on_routed: Callable[[SignedCommand, set[str]], None] | None = None,
        consoles: Collection[ConsoleLink] = (),
        store_thread: StoreThread | None = None,
        outside_sessions: SessionCheck | None = None,
        policy: PolicyCheck | None = None,
    ) -> None:
        self.store = store
        #: Which targets the issuer may not reach for want of a class session (session_rules).
        self.outside_sessions = outside_sessions
        #: The group policy's word on a command for one device, if it refuses (hub/policy.py).
        self.policy = policy
        #: Told of each command and the devices it goes to, once audited (hub/due_locks.py).
        self.on_routed = on_routed
        # Store calls run there, never on the event loop (offload.py).
        self.run = (store_thread or StoreThread()).run
        self.agents = agents
        self.consoles = consoles
        self.org_key = org_key
        self.clock = clock
        self.changed = changed
        self.delivery_seconds = delivery_seconds
        self.pending: dict[str, PendingCommand] = {}
        #: Per device, the consoles watching it and until when (clock time).
        self.watchers: dict[str, dict[ConsoleLink, float]] = {}
        self.max_watches = MAX_WATCHES
        # One person may hold at most this many live commands (see ReplayCache).
        self.replay = ReplayCache(per_issuer=2_000)
        # What was routed before a restart stays refused as a replay after it.
        for nonce, expires_at, issuer in store.live_nonces(self.now() - CLOCK_SKEW - 1):
            with suppress(PeerError):
                self.replay.remember(nonce, expires_at, now=self.now(), issuer=issuer)

    def now(self) -> int:
        return int(self.clock())

    # --- Commands out --------------------------------------------------------------

    async def submit(self, console: ConsoleLink, submit: Submit) -> None:
        """Check, plan, audit, then send a console's command; refusals go back as results."""
        command = submit.command
        body = command.body
        now = self.now()
        verify_command(
            command,
            org_key=self.org_key,
            now=now,
            replay=None,  # remembered below, once we know it goes somewhere
            revoked=await self.run(self.store.revoked_serials),
        )
        if body.issuer.body != console.staff:
            # The very certificate it signed in with, which the hub found recorded.
            raise PeerError(ErrorCode.BAD_SIGNATURE, "a console submits its own commands only")
        plan = await self.run(self.plan, body, queue=submit.queue)
        if self.outside_sessions is not None and not isinstance(body.action, Unwatch):
            reaching = [target for target, disposition in plan.items() if routed(disposition)]
            barred = await self.outside_sessions(body.issuer.body, reaching)
            no_session = Refused(ErrorCode.NO_CLASS_SESSION)
            plan = {t: no_session if t in barred else d for t, d in plan.items()}
        if isinstance(body.action, Watch):
            plan = self._within_watch_limit(console, plan)
        going = {target for target, disposition in plan.items() if routed(disposition)}
        if going:
            # A command that reaches no device costs no room in the replay cache, so
            # nonsense addressed to made-up devices cannot crowd out real commands.
            self.replay.remember(
                body.nonce, body.expires_at, now=now, issuer=body.issuer.body.serial
            )
            await self.run(
                self.store.remember_nonce, body.nonce, body.expires_at, body.issuer.body.serial
            )
        # Audited before anything is sent: a full disk stops the action, never the record.
        await self.run(
            self.store.append_audit,
            _actor(console.staff),
            body.action.name,
            list(body.targets),
            outcome(plan),
            f"command {body.id}",
            now,
        )
        if self.on_routed is not None:
            await self.run(self.on_routed, command, going)
        pending = PendingCommand(console, going, body.expires_at)
        pending.queued = {t for t, d in plan.items() if isinstance(d, Queued)}
        if isinstance(body.action, TakeScreenshot):
            pending.screenshot_bytes = {}
        if isinstance(body.action, Watch):
            pending.watch_lease = body.action.lease_seconds
        self._remember_pending(pending, body.id)
        self.changed()
        deliver = encode_message(Deliver(command=command)).decode()
        await asyncio.gather(
            *(
                self._deliver(console, command, target, deliver, queue=submit.queue)
                for target, disposition in plan.items()
                if isinstance(disposition, Delivered)
            )
        )
        for target, disposition in plan.items():
            match disposition:
                case Queued():
                    await self._queue(console, command, target, deliver)
                case Refused(code, detail):
                    _tell_refused(console, body.id, target, code, detail)
            if isinstance(body.action, Unwatch):
                self.watchers.get(target, {}).pop(console, None)

    def plan(self, body: CommandBody, *, queue: bool) -> dict[str, Disposition]:
        """What will happen to each target, decided before anything is sent or audited."""
        return {target: self._plan_one(body, target, queue=queue) for target in body.targets}

    def _within_watch_limit(
        self, console: ConsoleLink, plan: dict[str, Disposition]
    ) -> dict[str, Disposition]:
        """Refuse the watches past `max_watches` for this console (renewals always pass)."""
        now = self.clock()
        watching = {
            device
            for device, leases in self.watchers.items()
            if leases.get(console, now - 1) >= now
        }
        room = self.max_watches - len(watching)
        limited: dict[str, Disposition] = {}
        for target, disposition in plan.items():
            if routed(disposition) and target not in watching:
                if room <= 0:
                    disposition = Refused(ErrorCode.TOO_MANY_WATCHES)
                room -= 1
            limited[target] = disposition
        return limited

    def _plan_one(self, body: CommandBody, target: str, *, queue: bool) -> Disposition:
        device = self.store.device(target)
        if device is None:
            return Refused(ErrorCode.UNKNOWN_DEVICE)
        if not body.issuer.body.covers_device(target, device.group):
            return Refused(ErrorCode.GROUP_FORBIDDEN)
        if self.policy is not None:
            reason = self.policy(body, device.group, target)
            if reason is not None:
                return Refused(ErrorCode.POLICY_FORBIDDEN, reason)
        if target in self.agents:
            return Delivered()
        return Queued() if queue else Refused(ErrorCode.DEVICE_OFFLINE)

    async def _deliver(
        self,
        console: ConsoleLink,
        command: SignedCommand,
        target: str,
        deliver: str,
        *,
        queue: bool,
    ) -> None:
        """Send one device its copy; a device that is too slow to take it is not waited for."""
        link = self.agents.get(target)
        try:
            if link is None:
                raise ConnectionClosed(None, None)
            try:
                async with asyncio.timeout(self.delivery_seconds):
                    await link.ws.send(deliver)
            except TimeoutError:
                # The copy may still be in its send buffer; drop the connection so that
                # "offline" is true. The agent's replay cache makes a queued retry safe.
                log.warning("device %r too slow to take a command; dropping it", link.device.name)
                link.ws.transport.abort()
                raise
        except (ConnectionClosed, TimeoutError):
            if queue:
                await self._queue(console, command, target, deliver)
            else:
                _tell_refused(console, command.body.id, target, ErrorCode.DEVICE_OFFLINE)

    async def _queue(
        self, console: ConsoleLink, command: SignedCommand, target: str, deliver: str
    ) -> None:
        """Keep a command for an offline device until it connects or the command expires."""
        body = command.body
        try:
            await self.run(
                self.store.queue_command,
                target,
                body.id,
                deliver.encode(),
                body.expires_at,
                sender=body.issuer.body.serial,
            )
            pending = self.pending.get(body.id)
            if pending is not None:
                pending.queued.add(target)
            # The sender sees it waits, rather than silence until the device comes back.
            console.post(
                CommandQueued(command_id=body.id, device_id=target, expires_at=body.expires_at)
            )
            self.changed()
        except StoreError as error:
            log.error("could not queue for %s: %s", target[:16], error)
            _tell_refused(console, body.id, target, ErrorCode.HUB_STORAGE)

    # --- Results back ----------------------------------------------------------------

    async def settle(self, device_id: str, result: Result) -> str:
        """Pass a device's result to the console that sent the command, once; its audit detail.

        One result per device per command it was sent: none for other devices, none
        made up, none twice (each is an audit row). Anything else is the peer's error.
        """
        pending = self.pending.get(result.command_id)
        awaited = pending is not None and device_id in pending.awaiting
        queued = None
        if result.device_id == device_id and (pending is None or device_id in pending.queued):
            # Queued: it leaves the store now that its result came (also after a restart,
            # when nothing in memory remembers it, and its sender is found by serial).
            queued = await self.run(self.store.settle_queued, device_id, result.command_id)
        if result.device_id != device_id or not (awaited or queued):
            raise PeerError(ErrorCode.OUT_OF_STATE, "no such command awaits this device")
        if pending is None or not awaited:
            assert queued is not None
            for console in self._signed_in(queued.sender):
                console.post(result)
            return result.detail
        pending.awaiting.discard(device_id)
        if not pending.awaiting:
            del self.pending[result.command_id]
        pending.console.post(result)
        if pending.watch_lease is not None and result.ok:
            self._grant_lease(pending, device_id)
        if result.screenshot is not None and pending.screenshot_bytes is not None:
            shot = result.screenshot
            sent = pending.screenshot_bytes.pop(device_id, 0)
            return f"screenshot {shot.width}x{shot.height}, {sent} bytes"
        return result.detail

    def _grant_lease(self, pending: PendingCommand, device_id: str) -> None:
        """Relay frames to a watcher only once the device accepted its watch.

        The device then names the watcher on its banner; a watch it refused, or one
        that expired in the queue, never reaches a result here, so it earns no frame.
        The lease ends no later than the device's own (which counts from the expiry).
        """
        assert pending.watch_lease is not None
        until = min(self.clock(), pending.expires_at) + pending.watch_lease
        self.watchers.setdefault(device_id, {})[pending.console] = until

    def device_left(self, device_id: str) -> None:
        """A device disconnected: its leases end, since a restarted agent holds no watch.

        Consoles watch again when it comes back online, and the device accepts anew.
        """
        self.watchers.pop(device_id, None)

    def pass_on_screenshot(self, device_id: str, part: ScreenshotPart) -> None:
        """Forward a screenshot part to the console that asked, counting what it weighs."""
        pending = self.pending.get(part.command_id)
        sizes = None if pending is None else pending.screenshot_bytes
        if (
            pending is None
            or sizes is None
            or part.device_id != device_id
            or device_id not in pending.awaiting
        ):
            raise PeerError(ErrorCode.OUT_OF_STATE, "no screenshot awaits this device")
        sent = sizes.get(device_id, 0) + len(part.data)
        if sent > MAX_SCREENSHOT_BYTES:
            raise PeerError(ErrorCode.TOO_LARGE, f"screenshot over {MAX_SCREENSHOT_BYTES} bytes")
        sizes[device_id] = sent
        pending.console.post(part)

    def _signed_in(self, serial: str) -> list[ConsoleLink]:
        """The consoles signed in with this certificate (a person may have two open)."""
        return [c for c in self.consoles if serial and c.staff.serial == serial]

    async def report_expired(self) -> int:
        """Tell senders which of their queued commands expired, then forget those; how many.

        A sender who is not signed in is told at their next sign-in (up to a week later).
        Each report is audited first: if that fails, the command stays for the next round.
        """
        now = self.now()
        reported = 0
        for queued in await self.run(self.store.expired_queued, now, late_results=CLOCK_SKEW):
            consoles = self._signed_in(queued.sender)
            if not consoles and now < queued.expires_at + KEEP_EXPIRY_REPORTS:
                continue
            detail = (
                "delivered, but no result came back before it expired"
                if queued.delivered_at is not None
                else "expired before the device came online"
            )
            await self.run(
                self.store.append_audit,
                "hub",
                "expired",
                [queued.device_id],
                ErrorCode.COMMAND_EXPIRED.value,
                f"command {queued.command_id}: {detail}",
                now,
            )
            await self.run(self.store.settle_queued, queued.device_id, queued.command_id)
            pending = self.pending.get(queued.command_id)
            if pending is not None:
                pending.awaiting.discard(queued.device_id)
            for console in consoles:
                console.post(
                    Result(
                        command_id=queued.command_id,
                        device_id=queued.device_id,
                        ok=False,
                        code=ErrorCode.COMMAND_EXPIRED,
                        detail=detail,
                    )
                )
            reported += 1
        await self.run(self.store.forget_nonces, now - CLOCK_SKEW - 1)
        return reported

    def console_left(self, console: ConsoleLink) -> None:
        """Forget a console's leases and the results it was waiting for."""
        for leases in self.watchers.values():
            leases.pop(console, None)
        for command_id in [i for i, p in self.pending.items() if p.console is console]:
            del self.pending[command_id]

    def _remember_pending(self, pending: PendingCommand, command_id: str) -> None:
        if not pending.awaiting:
            return
        if len(self.pending) >= MAX_PENDING:
            self.forget_expired()
            for stale in list(self.pending)[: MAX_PENDING // 10]:
                del self.pending[stale]
        self.pending[command_id] = pending

    def forget_expired(self) -> None:
        """Drop commands whose results can no longer come."""
        # A result may come a little after expiry (clock skew); later ones go nowhere.
        cutoff = self.now() - CLOCK_SKEW
        for command_id in [i for i, p in self.pending.items() if p.expires_at < cutoff]:
            del self.pending[command_id]


def _actor(staff: CertificateBody) -> str:
    # The whole serial: eight hex digits are easy to collide with a minted certificate's.
    return f"{staff.name} ({staff.role.value} {staff.serial})"


def _tell_refused(
    console: ConsoleLink, command_id: str, target: str, code: ErrorCode, detail: str = ""
) -> None:
    console.post(
        Result(
            command_id=command_id,
            device_id=target,
            ok=False,
            code=code,
            detail=fit(detail or code.value, MAX_SHORT_TEXT),
        )
    )
