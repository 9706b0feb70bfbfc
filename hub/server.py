"""The hub: the only listening server. Authenticates every peer, routes, fans out frames."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import cast

import msgspec
from websockets.asyncio.server import Server, ServerConnection
from websockets.exceptions import ConnectionClosed

from protocol.certificates import ALL_GROUPS, CLOCK_SKEW, CertificateBody, Role
from protocol.commands import CommandBody
from protocol.errors import ErrorCode, PeerError
from protocol.frames import MAX_FRAME_BYTES, restream
from protocol.handshake import Claim, HubHandshake
from protocol.limits import (
    MAX_AUDIT_ACTOR,
    MAX_AUDIT_DETAIL,
    MAX_AUDIT_WORD,
    MAX_SHORT_TEXT,
    MAX_TARGETS,
    fit,
)
from protocol.messages import (
    ALERT_KINDS,
    MAX_MESSAGE_BYTES,
    Activity,
    AlertKind,
    Answer,
    AuditEntry,
    Capabilities,
    ClassInfo,
    ClassSessionInfo,
    ClassSessionRequest,
    ClientRole,
    DeviceAlert,
    DeviceChanged,
    DeviceState,
    Error,
    Event,
    Inventory,
    KeyframeRequest,
    LockDue,
    Message,
    PolicySet,
    PolicyUpdate,
    Query,
    Result,
    RevocationUpdate,
    Roster,
    ScreenshotPart,
    SetDeviceRecord,
    Status,
    Submit,
    encode_message,
    prepare_message_decoder,
)
from protocol.tokens import secret_hash

from .admin import is_recorded
from .class_sessions import ClassSession, ClassSessions, SessionRefused
from .door import Door, DoorLimits, address_of, open_door
from .due_locks import DueLocks
from .fleet import FleetDesk, staff_actor
from .heap import SteadyHeap
from .keyring import Keyring
from .links import AgentLink, ConsoleLink, Presence
from .offload import StoreThread
from .policy import PolicyBook, PolicyRefused
from .policy import accept as accept_policy
from .privacy_report import privacy_answer
from .revocation import Carrier
from .routing import DELIVERY_SECONDS, Router
from .session_alerts import left_session_alerts
from .session_rules import outside_sessions
from .store import (
    DeviceExists,
    DeviceRecord,
    Store,
    StoreCorrupt,
    StoreError,
    StoreUnavailable,
    TokenRefused,
    UnknownDevice,
)

log = logging.getLogger("homeroom.hub")

#: A peer that has not proven who it is within this long is hung up on.
HANDSHAKE_SECONDS = 10.0
#: Before authentication a peer may send a handshake message, nothing bigger, so a crowd
#: of strangers cannot pin megabytes each.
PREAUTH_MAX_BYTES = 16 * 1024
#: How often the hub re-reads revocations and removals, ending sessions they affect.
HOUSEKEEPING_SECONDS = 5.0
#: Received messages buffered per connection before the hub stops reading from it.
MAX_QUEUED_MESSAGES = 4
#: How often the hub pings a quiet peer, and how long it waits for the answer.
KEEPALIVE_SECONDS = 60.0
#: How stale a connected device's stored "last seen" may get (the roster shows minutes).
SEEN_RESOLUTION = 60
#: Bad messages tolerated on one connection before the hub hangs up on it.
MAX_PEER_ERRORS = 5


class Hub:
    """Presence, routing and fan-out over one store. Create, then `async with hub.serve(...)`.

    The timers are arguments so that tests can shorten them, or call `housekeep()`
    themselves, instead of waiting for them.
    """

    def __init__(
        self,
        keyring: Keyring,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        housekeeping_seconds: float = HOUSEKEEPING_SECONDS,
        handshake_seconds: float = HANDSHAKE_SECONDS,
        delivery_seconds: float = DELIVERY_SECONDS,
        door_limits: DoorLimits | None = None,
        heap: SteadyHeap | None = None,
    ) -> None:
        self.keyring = keyring
        #: Freezes long-lived objects each housekeeping round (heap.py); `serve` sets one.
        self.heap = heap
        self.store_thread = StoreThread()
        # Every store call goes through here, off the event loop (offload.py).
        self.run = self.store_thread.run
        self.door_limits = door_limits or DoorLimits()
        self.door: Door | None = None
        self.store = store
        self.clock = clock
        self.housekeeping_seconds = housekeeping_seconds
        self.handshake_seconds = handshake_seconds
        self.agents: dict[str, AgentLink] = {}
        self.consoles: set[ConsoleLink] = set()
        self.presence: dict[str, Presence] = {}
        self.streams: dict[str, int] = {}
        self.refusals: Counter[ErrorCode] = Counter()
        self.frames_relayed = 0
        self._channel = keyring.channel
        self._change = asyncio.Event()
        self.due_locks = DueLocks(store)
        self.class_sessions = ClassSessions(clock)
        # The organisation's revocation list, carried to agents that check it themselves.
        self.revocations = Carrier(keyring.folder, keyring.org_public)
        # Each group's admin-signed policy, enforced here and carried to its devices.
        self.policies = PolicyBook(keyring.org_public)
        self.router = Router(
            store,
            self.agents,
            org_key=keyring.org_public,
            clock=clock,
            changed=self._changed,
            delivery_seconds=delivery_seconds,
            on_routed=self.due_locks.routed,
            consoles=self.consoles,
            store_thread=self.store_thread,
            outside_sessions=self._outside_sessions,
            policy=self._policy_refusal,
        )
        self.fleet = FleetDesk(store, online=lambda device_id: device_id in self.agents)

    def _changed(self) -> None:
        """Wake whoever waits for the hub's state to move (tests, status views)."""
        self._change.set()
        self._change = asyncio.Event()

    async def next_change(self) -> None:
        await self._change.wait()

    # --- Serving -------------------------------------------------------------

    @asynccontextmanager
    async def serve(
        self, host: str, port: int, *, tls: bool = True, proxy_channel: bytes | None = None
    ) -> AsyncIterator[Server]:
        """The websockets server (use `async with`); plain ws only on loopback.

        `proxy_channel`: a TLS-terminating proxy on this machine presents the certificate
        with this channel-binding value (docs/operations.md, TLS offload), so the hub signs
        that in its handshakes while it listens plain (`tls=False`) behind the proxy.
        """
        from .tls import server_context

        # A hub decodes messages of every kind all day: one decoder for all, in one pass each.
        prepare_message_decoder()
        ssl = (
            server_context(str(self.keyring.tls_cert_path), str(self.keyring.tls_key_path))
            if tls
            else None
        )
        if not tls:
            self._channel = proxy_channel or b""
        limits = dataclasses.replace(
            self.door_limits,
            handshake_seconds=self.handshake_seconds,
            # Without TLS here, a TLS proxy in front is what connects: one address for all.
            per_address=self.door_limits.per_address and tls,
        )
        async with open_door(
            self.handle,
            host,
            port,
            ssl=ssl,
            limits=limits,
            max_size=PREAUTH_MAX_BYTES,
            # A peer hung up on for flooding may not read our close frame; don't wait long.
            close_timeout=2,
            # Devices ping every 20 s (which keeps NAT mappings open and finds a dead hub);
            # the hub only needs to notice a device that vanished, so it pings less often:
            # at 5,000 devices its 20 s pings were among its largest idle costs (cProfile).
            ping_interval=KEEPALIVE_SECONDS,
            ping_timeout=KEEPALIVE_SECONDS,
            # Messages read ahead per connection while the hub is busy (websockets keeps 16,
            # which at 12 KB thumbnails could be 190 KiB per watched device on a hub that
            # falls behind); past this many, reading pauses and TCP holds the rest.
            max_queue=MAX_QUEUED_MESSAGES,
        ) as (server, door):
            self.door = door
            await self.run(self.policies.refresh, self.store)
            housekeeping = asyncio.create_task(self._housekeeping())
            try:
                yield server
            finally:
                housekeeping.cancel()
                if self.heap is not None:
                    self.heap.release()
        # Every connection is closed: finish what was asked of the store, then stop its thread.
        await asyncio.to_thread(self.store_thread.close)

    def now(self) -> int:
        return int(self.clock())

    async def handle(self, ws: ServerConnection) -> None:
        """One connection: the handshake, then the session for the peer's role."""
        try:
            revoked = await self.run(self.store.revoked_serials)
        except StoreError as failure:
            log.error("store unavailable at sign-in: %s", failure)
            await ws.close(1011, "hub storage unavailable")
            return
        endpoint = HubHandshake(
            key=self.keyring.hub_key,
            certificate=self.keyring.hub_certificate,
            org_key=self.keyring.org_public,
            channel=self._channel,
            revoked=revoked,
            clock=self.clock,
        )
        try:
            async with asyncio.timeout(self.handshake_seconds):
                challenge = endpoint.step(await ws.recv())
                await ws.send(encode_message(challenge).decode())  # type: ignore[arg-type]
                claim = endpoint.step(await ws.recv())
                assert isinstance(claim, Claim)
                admit = await self._admit(claim, endpoint)
        except PeerError as error:
            await self._refuse(ws, endpoint, error)
            return
        except StoreError as failure:
            await self._refuse(ws, endpoint, PeerError(ErrorCode.HUB_STORAGE, str(failure)))
            return
        except TimeoutError:
            if self.door is not None:
                self.door.tally.note(
                    ErrorCode.HANDSHAKE_TIMEOUT.value, address_of(ws.remote_address), "abandoned"
                )
            return
        except ConnectionClosed:  # the peer left, or the door let it go (and counted it)
            return
        if self.door is not None:  # proven: no longer a stranger the door must limit
            self.door.signed_in(getattr(ws, "visit", None))
        # Until here a peer could send no more than a handshake needs; now its role's limit.
        ws.protocol.max_message_size = (
            MAX_FRAME_BYTES if claim.role is ClientRole.AGENT else MAX_MESSAGE_BYTES
        )
        await admit(ws)

    async def _admit(self, claim: Claim, endpoint: HubHandshake):  # type: ignore[no-untyped-def]
        """Look the proven identity up in the store; returns the session to run."""
        if claim.role is ClientRole.ENROLL:
            return lambda ws: self._enroll(ws, claim, endpoint)
        if claim.role is ClientRole.CONSOLE:
            staff = claim.staff
            assert staff is not None
            if staff.role is Role.GUARDIAN and not staff.devices:
                # A guardian sees and pauses their own children's devices only: a
                # certificate that names none would have nothing, or too much, to cover.
                raise PeerError(ErrorCode.WRONG_ROLE, "a guardian credential names no device")
            if not await self.run(is_recorded, self.store, staff):
                # Signed by the organisation but never recorded here: minted from a stolen
                # or old copy of the organisation key, so nobody could list or revoke it.
                raise PeerError(ErrorCode.UNRECORDED_CERTIFICATE, f"serial {staff.serial}")
            return lambda ws: self._serve_console(ws, staff, endpoint)
        device = await self.run(self.store.device, claim.device_id)
        if device is None:
            raise PeerError(ErrorCode.UNKNOWN_DEVICE, f"device {claim.device_id[:16]}")
        return lambda ws: self._serve_agent(ws, device, endpoint)

    async def _refuse(self, ws: ServerConnection, endpoint: HubHandshake, error: PeerError) -> None:
        self.refusals[error.code] += 1
        self._changed()
        if self.door is not None:  # the first in full, then one summary line, whoever floods
            self.door.tally.note(error.code.value, address_of(ws.remote_address), error.detail)
        else:
            log.warning("refused %s: %s %s", ws.remote_address, error.code.value, error.detail)
        try:
            await ws.send(encode_message(endpoint.refuse(error)).decode())
            await ws.close(1008, error.code.value)
        except ConnectionClosed:
            pass

    async def _read(
        self,
        ws: ServerConnection,
        endpoint: HubHandshake,
        on_message: Callable[[Message], Awaitable[None]],
        on_frame: Callable[[bytes], None] | None = None,
        reply: Callable[[Message], Awaitable[None]] | None = None,
    ) -> None:
        """Feed each message to its handler; refuse bad ones, hang up after too many."""

        async def answer(message: Message) -> None:
            if reply is not None:
                await reply(message)
            else:
                await ws.send(encode_message(message).decode())

        errors = 0
        async for data in ws:
            try:
                if isinstance(data, bytes):
                    endpoint.check_frame(data)  # validates header and role, copies nothing
                    if on_frame is not None:
                        on_frame(data)
                else:
                    await on_message(endpoint.receive(data))
            except UnknownDevice:
                await ws.close(1008, "device removed by IT")
                return
            except (StoreUnavailable, StoreCorrupt) as failure:
                # Not the peer's fault: tell them plainly, keep the connection.
                log.error("store unavailable while serving %s: %s", ws.remote_address, failure)
                error = PeerError(ErrorCode.HUB_STORAGE, str(failure))
                await answer(Error.from_peer_error(error))
            except PeerError as error:
                errors += 1
                self.refusals[error.code] += 1
                self._changed()
                log.warning("from %s: %s %s", ws.remote_address, error.code.value, error.detail)
                await answer(Error.from_peer_error(error))
                if errors >= MAX_PEER_ERRORS:
                    await ws.close(1008, "too many bad messages")
                    return

    # --- Enrollment -----------------------------------------------------------

    async def _enroll(self, ws: ServerConnection, claim: Claim, endpoint: HubHandshake) -> None:
        assert claim.token_id and claim.token_secret and claim.device_name
        now = self.now()
        try:
            group = await self.run(
                self.store.redeem_token, claim.token_id, secret_hash(claim.token_secret), now
            )
            device = await self.run(
                self.store.add_device, claim.device_id, claim.key.raw, claim.device_name, group, now
            )
        except TokenRefused as refused:
            await self._refuse(ws, endpoint, PeerError(ErrorCode(refused.reason)))
            return
        except DeviceExists:
            await self._refuse(
                ws, endpoint, PeerError(ErrorCode.WRONG_ROLE, "device key already enrolled")
            )
            return
        except StoreError as failure:
            await self._refuse(ws, endpoint, PeerError(ErrorCode.HUB_STORAGE, str(failure)))
            return
        try:
            await self.run(
                self.store.append_audit,
                f"token {claim.token_id[:8]}",
                "enroll",
                [device.device_id],
                "ok",
                device.name,
                now,
            )
        except StoreError as failure:  # enrolled, but say so in the log for IT
            log.error("enrolment of %r not audited: %s", device.name, failure)
        log.info("enrolled %r into %s", device.name, group)
        welcome = endpoint.accept(name=device.name, group=device.group, device_id=device.device_id)
        await ws.send(encode_message(welcome).decode())
        await ws.close()

    # --- Agents ------------------------------------------------------------------

    def stream_of(self, device_id: str) -> int:
        return self.streams.setdefault(device_id, len(self.streams) + 1)

    def device_state(self, device: DeviceRecord) -> DeviceState:
        live = self.presence.get(device.device_id, Presence())
        return DeviceState(
            device_id=device.device_id,
            name=device.name,
            group=device.group,
            online=live.online,
            stream=self.stream_of(device.device_id),
            locked=live.locked,
            watched_by=live.watched_by,
            user=live.user or (device.user or ""),
            last_seen=device.last_seen,
            capabilities=live.capabilities,
            activity=live.activity if live.online else None,
        )

    async def _announce(self, device: DeviceRecord) -> None:
        self._changed()
        change = DeviceChanged(device=self.device_state(device))
        for console in list(self.consoles):
            if console.staff.covers_device(device.device_id, device.group):
                console.post(change)

    async def _serve_agent(
        self, ws: ServerConnection, device: DeviceRecord, endpoint: HubHandshake
    ) -> None:
        device_id = device.device_id
        previous = self.agents.get(device_id)
        if previous is not None:  # the same device, reconnected: the newest proof wins
            await previous.ws.close(1000, "replaced by a newer connection")
        link = AgentLink(ws, device, endpoint)
        self.agents[device_id] = link
        self.router.device_left(device_id)  # a new connection may be a restarted agent
        self.presence.setdefault(device_id, Presence()).online = True
        try:
            welcome = endpoint.accept(name=device.name, group=device.group, device_id=device_id)
            await ws.send(encode_message(welcome).decode())
            log.info("device %r online", device.name)
            await self._announce(device)
            await self.run(self.store.mark_seen, device_id, self.now())
            link.seen_written = self.now()
            await self.run(self.revocations.refresh)
            await self._send_revocations(ws)  # before any command it must be checked against
            await self._send_policy(ws, device.group)
            for queued in await self.run(self.store.deliver_queued, device_id, self.now()):
                await ws.send(queued.payload.decode())
            # Whatever the device's own files say, a lock it is due is put back (due_locks.py).
            due = await self.run(self.due_locks.due, device_id)
            if due is not None:
                await ws.send(encode_message(LockDue(command=due)).decode())
            await self._read(
                ws,
                endpoint,
                lambda item: self._from_agent(link, item),
                lambda data: self._relay_frame(link, data),
            )
        except ConnectionClosed:
            pass
        except UnknownDevice:  # removed while it was signing in
            await ws.close(1008, "device removed by IT")
        except StoreError as failure:  # only before the session loop, which handles its own
            log.error("store unavailable while %r connected: %s", device.name, failure)
            await ws.close(1011, "hub storage unavailable")
        finally:
            if self.heap is not None:
                self.heap.departed()
            if self.agents.get(device_id) is link:
                del self.agents[device_id]
                self.router.device_left(device_id)
                self.presence[device_id].online = False
                self.presence[device_id].activity = None  # stale once the device is gone
                log.info("device %r offline", device.name)
                await self._announce(device)
                await self._flag_left_session(device)

    async def _outside_sessions(self, staff: CertificateBody, targets: list[str]) -> set[str]:
        """The targets a teacher may not reach now, for want of a class session of theirs."""
        if staff.role is not Role.TEACHER or not targets:
            return set()  # nobody else is bound by class sessions: no store read
        sessions = {s.class_name: s for s in self.class_sessions.active()}
        return outside_sessions(staff, targets, await self.run(self.store.classes), sessions)

    async def _flag_left_session(self, device: DeviceRecord) -> None:
        """Tell the teacher of a class in session that this device dropped off (session_alerts)."""
        sessions = {s.class_name: s for s in self.class_sessions.active()}
        if not sessions:
            return  # no lesson on: nothing to read, nobody to tell
        try:
            classes = await self.run(self.store.classes)
        except StoreError as failure:
            log.error("could not check %r against class sessions: %s", device.name, failure)
            return
        for serial, alert in left_session_alerts(device, classes, sessions, self.now()):
            for console in list(self.consoles):
                if console.staff.serial == serial:
                    console.post(alert)
            try:  # kept, for the teacher who was not looking and for the school
                await self.run(
                    self.store.append_audit,
                    "hub",
                    alert.kind,
                    [device.device_id],
                    "flagged",
                    alert.detail,
                    alert.at,
                )
            except StoreError as failure:
                log.error("could not record that %r left its lesson: %s", device.name, failure)

    async def _from_agent(self, link: AgentLink, item: Message) -> None:
        device_id = link.device.device_id
        # Results and screenshot parts are bounded by the commands awaiting them instead.
        answers = isinstance(item, Result | ScreenshotPart)
        if not answers and not link.reports.allow(self.clock()):
            raise PeerError(ErrorCode.BUSY, "too many status reports or events")
        if isinstance(item, Status):
            live = self.presence[device_id]
            seen = (live.locked, live.watched_by, live.user)
            live.locked, live.watched_by, live.user = item.locked, item.watched_by, item.user
            # A heartbeat moves "last seen" at most once a minute: a write per status was
            # 5,000 devices' worth of transactions (cProfile).
            if seen[2] != item.user or self.now() >= link.seen_written + SEEN_RESOLUTION:
                link.seen_written = self.now()
                await self.run(self.store.mark_seen, device_id, self.now(), user=item.user or None)
            if seen != (item.locked, item.watched_by, item.user):
                await self._announce(link.device)
        elif isinstance(item, Inventory):
            await self.run(
                self.store.mark_seen,
                device_id,
                self.now(),
                hostname=item.hostname,
                user=item.user or None,
                inventory_json=msgspec.json.encode(item).decode(),
            )
        elif isinstance(item, Result):
            detail = await self.router.settle(device_id, item)
            if item.facts:  # system information or diagnostics: the fleet table's facts
                await self.run(self.fleet.life.remember_facts, device_id, item.facts, self.now())
            await self.run(
                self.store.append_audit,
                link.device.name,
                "result",
                [device_id],
                "ok" if item.ok else (item.code or ErrorCode.ACTION_FAILED).value,
                fit(f"command {item.command_id}: {detail}", MAX_AUDIT_DETAIL),
                self.now(),
            )
        elif isinstance(item, ScreenshotPart):
            self.router.pass_on_screenshot(device_id, item)
        elif isinstance(item, Capabilities):
            await self._update_presence(link, capabilities=item.capabilities)
        elif isinstance(item, Activity):
            await self._update_presence(link, activity=item)
        elif isinstance(item, Event):
            await self.run(
                self.store.append_audit,
                link.device.name,
                f"event:{item.kind}",
                [device_id],
                "reported",
                item.detail,
                self.now(),
            )
            if item.kind in ALERT_KINDS:  # the teacher must see these now, not in the log
                self._alert(link.device, item)

    def _alert(self, device: DeviceRecord, event: Event) -> None:
        """Pass a device's alert to every console that sees the device, word for word."""
        kind = cast(AlertKind, event.kind)  # checked against ALERT_KINDS by the caller
        alert = DeviceAlert(device_id=device.device_id, kind=kind, at=event.at, detail=event.detail)
        for console in list(self.consoles):
            if console.staff.covers_device(device.device_id, device.group):
                console.post(alert)

    async def _update_presence(self, link: AgentLink, **live: object) -> None:
        """Keep what a device reports about itself; tell consoles when it changed."""
        presence = self.presence[link.device.device_id]
        changed = any(getattr(presence, name) != value for name, value in live.items())
        for name, value in live.items():
            setattr(presence, name, value)
        if changed:
            await self._announce(link.device)

    def _relay_frame(self, link: AgentLink, data: bytes) -> None:
        """Pass a validated frame on to each console watching, relabelled with its stream."""
        device_id = link.device.device_id
        leases = self.router.watchers.get(device_id)
        if not leases or not link.frames.allow(self.clock()):
            return
        now = self.clock()
        stream = self.stream_of(device_id)
        relabelled = restream(data, stream)
        for console, until in list(leases.items()):
            if until < now or console not in self.consoles:
                del leases[console]
            else:
                console.offer_frame(stream, relabelled)
                self.frames_relayed += 1
                self._changed()

    # --- Consoles -----------------------------------------------------------------

    async def visible_devices(self, staff: CertificateBody) -> list[DeviceRecord]:
        if staff.devices:  # a guardian: their own children's devices, nobody else's
            found = [await self.run(self.store.device, i) for i in sorted(set(staff.devices))]
            return [d for d in found if d is not None and staff.covers_device(d.device_id, d.group)]
        if ALL_GROUPS in staff.groups:
            return await self.run(self.store.devices)
        # A teacher's groups only, read through the group index: a class's sign-in must not
        # cost the hub a read of the whole school.
        mine = [
            d
            for group in sorted(set(staff.groups))
            for d in await self.run(self.store.devices, group)
        ]
        return sorted(mine, key=lambda d: (d.name, d.device_id))

    async def _serve_console(
        self, ws: ServerConnection, staff: CertificateBody, endpoint: HubHandshake
    ) -> None:
        console = ConsoleLink(ws, staff)
        welcome = endpoint.accept(name=staff.name)
        await ws.send(encode_message(welcome).decode())
        self.consoles.add(console)
        log.info("%s %r signed in", staff.role.value, staff.name)
        pump = asyncio.create_task(console.pump())

        async def reply(message: Message) -> None:
            console.post(message)

        try:
            devices = tuple(self.device_state(d) for d in await self.visible_devices(staff))
            console.post(Roster(devices=devices))
            await self._report_expired()  # what expired while they were away
            await self._read(
                ws, endpoint, lambda item: self._from_console(console, item), reply=reply
            )
        except ConnectionClosed:
            pass
        finally:
            pump.cancel()
            self.consoles.discard(console)
            if self.heap is not None:
                self.heap.departed()
            self._changed()
            self.router.console_left(console)

    async def _from_console(self, console: ConsoleLink, item: Message) -> None:
        if console.staff.role is Role.GUARDIAN and not _for_guardians(item):
            # Classes, the fleet and its history name other families' children. Answered,
            # not counted as the peer's error: a console may ask for them as it starts.
            ref = getattr(item, "id", None)
            if ref is not None:
                message = "Guardians see their own children's devices only."
                console.post(Error(code=ErrorCode.ROLE_FORBIDDEN, message=message, ref=ref))
            return
        if isinstance(item, Submit):
            await self.router.submit(console, item)
        elif isinstance(item, Query):
            console.post(await self._answer(console.staff, item))
        elif isinstance(item, SetDeviceRecord):
            console.post(await self.run(self.fleet.set_record, console.staff, item, self.now()))
        elif isinstance(item, ClassSessionRequest):
            console.post(await self._class_session(console.staff, item))
        elif isinstance(item, PolicySet):
            console.post(await self._set_policy(console.staff, item))
        elif isinstance(item, KeyframeRequest):
            await self._ask_keyframe(console, item)

    async def _ask_keyframe(self, console: ConsoleLink, request: KeyframeRequest) -> None:
        """Pass a watcher's "whole picture, please" on to the device (frames.py, tile frames).

        Only a console holding a live watch lease may ask; anything else is dropped quietly,
        since a console may ask just as its watch ends. It costs the device one whole picture.
        """
        until = self.router.watchers.get(request.device_id, {}).get(console)
        link = self.agents.get(request.device_id)
        if until is None or until < self.clock() or link is None:
            return
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            async with asyncio.timeout(self.router.delivery_seconds):
                await link.ws.send(encode_message(request).decode())

    async def _answer(self, staff: CertificateBody, query: Query) -> Answer | Error:
        if query.subject == "roster":
            devices = (await self.visible_devices(staff))[: query.limit]
            return Answer(id=query.id, devices=tuple(self.device_state(d) for d in devices))
        if query.subject == "classes":
            return Answer(id=query.id, classes=(await self._classes(staff))[: query.limit])
        if query.subject in ("fleet", "history"):
            return await self.run(self.fleet.answer, staff, query)
        if query.subject == "privacy":
            return await self.run(privacy_answer, self.store, staff, query)
        # Audit rows name devices and people of every group: school-wide IT and admins see
        # them all; anyone else sees only what they did themselves.
        everything = staff.role in (Role.ADMIN, Role.IT) and ALL_GROUPS in staff.groups
        actor = None if everything else staff_actor(staff)
        rows = await self.run(self.store.audit, limit=query.limit, actor=actor)
        return Answer(
            id=query.id,
            audit=tuple(
                AuditEntry(
                    seq=r.seq,
                    at=r.at,
                    actor=fit(r.actor, MAX_AUDIT_ACTOR),
                    action=fit(r.action, MAX_AUDIT_WORD),
                    targets=tuple(r.targets[:MAX_TARGETS]),
                    result=fit(r.result, MAX_AUDIT_WORD),
                    detail=fit(r.detail, MAX_AUDIT_DETAIL),
                )
                for r in rows
            ),
        )

    async def _classes(self, staff: CertificateBody) -> tuple[ClassInfo, ...]:
        """The classes `staff` may see, each with its class session if one is on."""

        def info(session: ClassSession | None) -> ClassSessionInfo | None:
            if session is None:
                return None
            return ClassSessionInfo(
                teacher=session.teacher, started_at=session.started_at, ends_at=session.ends_at
            )

        return tuple(
            ClassInfo(
                name=c.name,
                group=c.group,
                devices=c.device_ids,
                session=info(self.class_sessions.current(c.name)),
            )
            for c in await self.run(self.store.classes)
            if staff.covers_group(c.group)
        )

    async def _class_session(self, staff: CertificateBody, request: ClassSessionRequest) -> Message:
        """Start or end a class session (hub/class_sessions.py); the classes, or why not."""
        name = request.class_name
        klass = next(
            (
                c
                for c in await self.run(self.store.classes)
                if c.name == name and staff.covers_group(c.group)
            ),
            None,
        )
        if klass is None:
            message = f"You teach no class named {name!r}; pick one from your class list."
            return Error(code=ErrorCode.GROUP_FORBIDDEN, message=message, ref=request.id)
        if staff.role not in (Role.TEACHER, Role.ADMIN):
            message = "Class sessions are for teachers (and admins); your role has none."
            return Error(code=ErrorCode.ROLE_FORBIDDEN, message=message, ref=request.id)
        try:
            if request.action == "start":
                session = self.class_sessions.start(name, staff, request.minutes)
            else:
                session = self.class_sessions.end(name, staff)
        except SessionRefused as refused:
            message = fit(str(refused), MAX_SHORT_TEXT)
            return Error(code=ErrorCode.OUT_OF_STATE, message=message, ref=request.id)
        await self.run(
            self.store.append_audit,
            staff.name,
            f"class_session_{request.action}",
            list(klass.device_ids),
            "ok",
            fit(f"{name} by {session.teacher} until {session.ends_at}", MAX_AUDIT_DETAIL),
            self.now(),
        )
        self._changed()
        return Answer(id=request.id, classes=await self._classes(staff))

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(self.housekeeping_seconds)
            await self.housekeep()
            if self.heap is not None:
                self.heap.settle(len(self.agents) + len(self.consoles))

    async def housekeep(self) -> None:
        """One round: end sessions that revocations, expiries and removals in the store end.

        `serve()` runs this every `housekeeping_seconds`; tests call it directly.
        """
        try:
            revoked = await self.run(self.store.revoked_serials)
            # One query for the fleet, not one per connected device: with 5,000 devices a
            # lookup each held the event loop for half a second every round (cProfile).
            gone = await self.run(self.store.removed_device_ids)
            removed = [i for i in self.agents if i in gone]
        except StoreError as failure:
            log.error("housekeeping could not read the store: %s", failure)
            return
        now = self.now()
        for console in list(self.consoles):
            staff = console.staff
            if staff.serial in revoked or now > staff.expires_at + CLOCK_SKEW:
                log.warning("ending the session of %r: credential revoked or expired", staff.name)
                await console.ws.close(1008, "credential revoked or expired")
        for device_id in removed:
            link = self.agents.get(device_id)
            if link is not None:
                log.warning("ending the session of removed device %r", link.device.name)
                await link.ws.close(1008, "device removed by IT")
        self.router.forget_expired()
        await self._report_expired()
        await self._policies_changed(await self.run(self.policies.refresh, self.store))
        self._end_forbidden_watches()
        await self.run(self.revocations.refresh)
        if self.revocations.unsent():  # a new list: online agents get it now
            for link in list(self.agents.values()):
                with contextlib.suppress(ConnectionClosed):
                    await self._send_revocations(link.ws)

    # --- Group policies (hub/policy.py) -------------------------------------------------

    def address_of_device(self, device_id: str) -> str | None:
        """The address a connected device comes from, for policies fenced by network."""
        link = self.agents.get(device_id)
        peer = None if link is None else link.ws.remote_address
        return str(peer[0]) if peer else None

    def _policy_refusal(self, body: CommandBody, group: str, device_id: str) -> str | None:
        refused = self.policies.refusal(
            body, group, self.clock(), self.address_of_device(device_id)
        )
        return None if refused is None else refused.reason

    async def _set_policy(self, staff: CertificateBody, request: PolicySet) -> Answer | Error:
        """Keep a policy an admin signed on their own machine, as `homeroom-hub policy set`
        does; its group's devices get it at once."""
        group = request.policy.body.group
        try:
            await self.run(
                accept_policy, self.store, self.keyring.org_public, request.policy,
                group=group, now=self.now(), sender=staff,
            )  # fmt: skip
        except PolicyRefused as refused:
            message = fit(str(refused), MAX_SHORT_TEXT)
            return Error(code=ErrorCode.ACTION_FAILED, message=message, ref=request.id)
        await self._policies_changed(await self.run(self.policies.refresh, self.store))
        return Answer(id=request.id)

    async def _policies_changed(self, groups: list[str]) -> None:
        """Send new policies to their groups' online devices."""
        for link in list(self.agents.values()):
            if link.device.group in groups:
                with contextlib.suppress(ConnectionClosed):
                    await self._send_policy(link.ws, link.device.group)

    def _end_forbidden_watches(self) -> None:
        """Relay no more frames of devices whose policy window now forbids capture.

        The device stops capturing by itself on its own clock; this is the hub's half.
        """
        now = self.clock()
        for device_id, leases in self.router.watchers.items():
            agent = self.agents.get(device_id)
            if agent is None or not leases:
                continue
            address = self.address_of_device(device_id)
            if not self.policies.capture_allowed(agent.device.group, now, address):
                log.info("the policy window forbids capture: no frames of %r", agent.device.name)
                leases.clear()

    async def _send_policy(self, ws: ServerConnection, group: str) -> None:
        signed = self.policies.signed.get(group)
        if signed is not None:
            await ws.send(encode_message(PolicyUpdate(policy=signed)).decode())

    async def _send_revocations(self, ws: ServerConnection) -> None:
        revocations = self.revocations.current
        if revocations is not None:
            await ws.send(encode_message(RevocationUpdate(revocations=revocations)).decode())

    async def _report_expired(self) -> None:
        try:
            await self.router.report_expired()
        except StoreError as failure:
            log.error("could not report expired commands (will retry): %s", failure)


def _for_guardians(item: Message) -> bool:
    """What a guardian's console may ask: commands, their roster, their own audit rows."""
    return isinstance(item, Submit) or (
        isinstance(item, Query) and item.subject in ("roster", "audit")
    )


async def run_hub(
    keyring: Keyring, host: str, port: int, *, tls: bool, proxy_channel: bytes | None = None
) -> None:
    """Serve until cancelled (the `homeroom-hub serve` command)."""
    from .capacity import loop_name, raise_descriptor_limit

    descriptors = raise_descriptor_limit()
    store = Store.open(keyring.store_path)
    hub = Hub(keyring, store, heap=SteadyHeap())
    try:
        async with hub.serve(host, port, tls=tls, proxy_channel=proxy_channel) as server:
            log.info(
                "hub listening on %s (%s event loop, %s open files allowed)",
                _addresses(server),
                loop_name(),
                descriptors if descriptors >= 0 else "no limit on",
            )
            await until_told_to_stop()
            log.info("stopping: closing connections (going away), then the store")
    finally:
        store.close()


async def until_told_to_stop() -> None:
    """Return on SIGTERM or SIGINT (a service stop, Ctrl-C), so shutdown can be graceful."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        # Not on Windows: there Ctrl-C cancels the hub instead, and the same cleanup runs.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal_number, stop.set)
    try:
        await stop.wait()
    finally:
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal_number)


def _addresses(server: Server) -> str:
    return ", ".join(str(s.getsockname()) for s in server.sockets)
