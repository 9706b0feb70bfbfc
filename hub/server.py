"""The hub: the only listening server. Authenticates every peer, routes, fans out frames."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import msgspec
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from protocol.actions import Unwatch, Watch
from protocol.certificates import ALL_GROUPS, CLOCK_SKEW, CertificateBody, Role
from protocol.commands import CommandBody, ReplayCache, SignedCommand, verify_command
from protocol.errors import ErrorCode, PeerError
from protocol.frames import MAX_FRAME_BYTES, restream
from protocol.handshake import Claim, HubHandshake
from protocol.messages import (
    MAX_MESSAGE_BYTES,
    Answer,
    AuditEntry,
    ClassInfo,
    ClientRole,
    Deliver,
    DeviceChanged,
    DeviceState,
    Error,
    Event,
    Inventory,
    KeyframeRequest,
    Message,
    Query,
    Result,
    Roster,
    Status,
    Submit,
    encode_message,
)
from protocol.tokens import secret_hash

from .keyring import Keyring
from .links import AgentLink, ConsoleLink, PendingCommand, Presence
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

HANDSHAKE_SECONDS = 10.0
#: Before authentication a peer may send a handshake message, nothing bigger, so a crowd
#: of strangers cannot pin megabytes each.
PREAUTH_MAX_BYTES = 16 * 1024
#: How often the hub re-reads revocations and removals, ending sessions they affect.
HOUSEKEEPING_SECONDS = 5.0
#: Bad messages tolerated on one connection before the hub hangs up on it.
MAX_PEER_ERRORS = 5
#: Commands awaiting results; beyond this, the oldest are forgotten (results then go nowhere).
MAX_PENDING = 50_000
#: A device whose connection will not take a command within this long is treated as offline.
DELIVERY_SECONDS = 5.0


class Hub:
    """Presence, routing and fan-out over one store. Create, then `await hub.serve(...)`."""

    def __init__(
        self, keyring: Keyring, store: Store, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.keyring = keyring
        self.store = store
        self.clock = clock
        self.agents: dict[str, AgentLink] = {}
        self.consoles: set[ConsoleLink] = set()
        self.presence: dict[str, Presence] = {}
        self.streams: dict[str, int] = {}
        self.watchers: dict[str, dict[ConsoleLink, float]] = {}
        self.pending: dict[str, PendingCommand] = {}
        # One person may hold at most this many live commands (see ReplayCache).
        self.replay = ReplayCache(per_issuer=2_000)
        self.refusals: Counter[ErrorCode] = Counter()
        self.frames_relayed = 0
        self.housekeeping_seconds = HOUSEKEEPING_SECONDS
        self._channel = keyring.channel
        self._change = asyncio.Event()

    def _changed(self) -> None:
        """Wake whoever waits for the hub's state to move (tests, status views)."""
        self._change.set()
        self._change = asyncio.Event()

    async def next_change(self) -> None:
        await self._change.wait()

    # --- Serving -------------------------------------------------------------

    @asynccontextmanager
    async def serve(self, host: str, port: int, *, tls: bool = True) -> AsyncIterator[Server]:
        """The websockets server (use `async with`); plain ws only for loopback tests."""
        from .tls import server_context

        ssl = (
            server_context(str(self.keyring.tls_cert_path), str(self.keyring.tls_key_path))
            if tls
            else None
        )
        if not tls:
            self._channel = b""
        async with serve(
            self.handle,
            host,
            port,
            ssl=ssl,
            max_size=PREAUTH_MAX_BYTES,
            # Browsers send an Origin header; agents and consoles do not. Refusing any
            # Origin stops cross-site websocket hijacking (MeshCentral's flaw).
            origins=[None],
            compression=None,
            # A peer hung up on for flooding may not read our close frame; don't wait long.
            close_timeout=2,
        ) as server:
            housekeeping = asyncio.create_task(self._housekeeping())
            try:
                yield server
            finally:
                housekeeping.cancel()

    def now(self) -> int:
        return int(self.clock())

    async def handle(self, ws: ServerConnection) -> None:
        """One connection: the handshake, then the session for the peer's role."""
        try:
            revoked = self.store.revoked_serials()
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
            async with asyncio.timeout(HANDSHAKE_SECONDS):
                challenge = endpoint.step(await ws.recv())
                await ws.send(encode_message(challenge).decode())  # type: ignore[arg-type]
                claim = endpoint.step(await ws.recv())
                assert isinstance(claim, Claim)
                admit = self._admit(claim, endpoint)
        except PeerError as error:
            await self._refuse(ws, endpoint, error)
            return
        except StoreError as failure:
            await self._refuse(ws, endpoint, PeerError(ErrorCode.HUB_STORAGE, str(failure)))
            return
        except (TimeoutError, ConnectionClosed):
            log.info("handshake abandoned by %s", ws.remote_address)
            return
        # Until here a peer could send no more than a handshake needs; now its role's limit.
        ws.protocol.max_message_size = (
            MAX_FRAME_BYTES if claim.role is ClientRole.AGENT else MAX_MESSAGE_BYTES
        )
        await admit(ws)

    def _admit(self, claim: Claim, endpoint: HubHandshake):  # type: ignore[no-untyped-def]
        """Look the proven identity up in the store; returns the session to run."""
        if claim.role is ClientRole.ENROLL:
            return lambda ws: self._enroll(ws, claim, endpoint)
        if claim.role is ClientRole.CONSOLE:
            staff = claim.staff
            assert staff is not None
            if staff.role is Role.GUARDIAN:
                # Until home-hours policy and per-child scoping exist, a guardian would
                # see a whole group's names and screens: refuse rather than overshare.
                raise PeerError(ErrorCode.WRONG_ROLE, "guardian access is not available yet")
            return lambda ws: self._serve_console(ws, staff, endpoint)
        device = self.store.device(claim.device_id)
        if device is None:
            raise PeerError(ErrorCode.UNKNOWN_DEVICE, f"device {claim.device_id[:16]}")
        return lambda ws: self._serve_agent(ws, device, endpoint)

    async def _refuse(self, ws: ServerConnection, endpoint: HubHandshake, error: PeerError) -> None:
        self.refusals[error.code] += 1
        self._changed()
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
            group = self.store.redeem_token(claim.token_id, secret_hash(claim.token_secret), now)
            device = self.store.add_device(
                claim.device_id, claim.key.raw, claim.device_name, group, now
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
            self.store.append_audit(
                f"token {claim.token_id[:8]}", "enroll", [device.device_id], "ok", device.name, now
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
        )

    async def _announce(self, device: DeviceRecord) -> None:
        self._changed()
        change = DeviceChanged(device=self.device_state(device))
        for console in list(self.consoles):
            if console.staff.covers_group(device.group):
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
        self.presence.setdefault(device_id, Presence()).online = True
        try:
            welcome = endpoint.accept(name=device.name, group=device.group, device_id=device_id)
            await ws.send(encode_message(welcome).decode())
            log.info("device %r online", device.name)
            await self._announce(device)
            self.store.mark_seen(device_id, self.now())
            for payload in self.store.take_queued(device_id, self.now()):
                await ws.send(payload.decode())
            await self._read(
                ws,
                endpoint,
                lambda item: self._from_agent(link, item),
                lambda data: self._relay_frame(link, data),
            )
        except ConnectionClosed:
            pass
        except StoreError as failure:  # only before the session loop, which handles its own
            log.error("store unavailable while %r connected: %s", device.name, failure)
            await ws.close(1011, "hub storage unavailable")
        finally:
            if self.agents.get(device_id) is link:
                del self.agents[device_id]
                self.presence[device_id].online = False
                log.info("device %r offline", device.name)
                await self._announce(device)

    async def _from_agent(self, link: AgentLink, item: Message) -> None:
        device_id = link.device.device_id
        if not isinstance(item, Result) and not link.reports.allow(self.clock()):
            raise PeerError(ErrorCode.BUSY, "too many status reports or events")
        if isinstance(item, Status):
            live = self.presence[device_id]
            seen = (live.locked, live.watched_by, live.user)
            live.locked, live.watched_by, live.user = item.locked, item.watched_by, item.user
            self.store.mark_seen(device_id, self.now(), user=item.user or None)
            if seen != (item.locked, item.watched_by, item.user):
                await self._announce(link.device)
        elif isinstance(item, Inventory):
            self.store.mark_seen(
                device_id,
                self.now(),
                hostname=item.hostname,
                user=item.user or None,
                inventory_json=msgspec.json.encode(item).decode(),
            )
        elif isinstance(item, Result):
            pending = self.pending.get(item.command_id)
            # One result per device per command it was sent: no results for others,
            # none made up, none twice (each is an audit row).
            if item.device_id != device_id or pending is None or device_id not in pending.awaiting:
                raise PeerError(ErrorCode.OUT_OF_STATE, "no such command awaits this device")
            pending.awaiting.discard(device_id)
            if not pending.awaiting:
                del self.pending[item.command_id]
            pending.console.post(item)
            self.store.append_audit(
                link.device.name,
                "result",
                [device_id],
                "ok" if item.ok else (item.code or ErrorCode.ACTION_FAILED).value,
                f"command {item.command_id}: {item.detail}"[:1000],
                self.now(),
            )
        elif isinstance(item, Event):
            self.store.append_audit(
                link.device.name,
                f"event:{item.kind}",
                [device_id],
                "reported",
                item.detail,
                self.now(),
            )

    def _relay_frame(self, link: AgentLink, data: bytes) -> None:
        """Pass a validated frame on to each console watching, relabelled with its stream."""
        device_id = link.device.device_id
        leases = self.watchers.get(device_id)
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

    def visible_devices(self, staff: CertificateBody) -> list[DeviceRecord]:
        return [d for d in self.store.devices() if staff.covers_group(d.group)]

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
            devices = tuple(self.device_state(d) for d in self.visible_devices(staff))
            console.post(Roster(devices=devices))
            await self._read(
                ws, endpoint, lambda item: self._from_console(console, item), reply=reply
            )
        except ConnectionClosed:
            pass
        finally:
            pump.cancel()
            self.consoles.discard(console)
            self._changed()
            for leases in self.watchers.values():
                leases.pop(console, None)
            for command_id in [i for i, p in self.pending.items() if p.console is console]:
                del self.pending[command_id]

    async def _from_console(self, console: ConsoleLink, item: Message) -> None:
        if isinstance(item, Submit):
            await self._submit(console, item)
        elif isinstance(item, Query):
            console.post(self._answer(console.staff, item))
        elif isinstance(item, KeyframeRequest):
            await self._ask_keyframe(console, item)

    async def _ask_keyframe(self, console: ConsoleLink, request: KeyframeRequest) -> None:
        """Pass a watcher's "whole picture, please" on to the device (frames.py, tile frames).

        Only a console holding a live watch lease may ask; anything else is dropped quietly,
        since a console may ask just as its watch ends. It costs the device one whole picture.
        """
        until = self.watchers.get(request.device_id, {}).get(console)
        link = self.agents.get(request.device_id)
        if until is None or until < self.clock() or link is None:
            return
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            async with asyncio.timeout(DELIVERY_SECONDS):
                await link.ws.send(encode_message(request).decode())

    def _answer(self, staff: CertificateBody, query: Query) -> Answer:
        if query.subject == "roster":
            devices = self.visible_devices(staff)[: query.limit]
            return Answer(id=query.id, devices=tuple(self.device_state(d) for d in devices))
        if query.subject == "classes":
            classes = [c for c in self.store.classes() if staff.covers_group(c.group)]
            return Answer(
                id=query.id,
                classes=tuple(
                    ClassInfo(name=c.name, group=c.group, devices=c.device_ids)
                    for c in classes[: query.limit]
                ),
            )
        if staff.role not in (Role.ADMIN, Role.IT) or ALL_GROUPS not in staff.groups:
            # Audit rows name devices and people of every group: school-wide staff only.
            raise PeerError(ErrorCode.ROLE_FORBIDDEN, "the audit log is for school-wide IT")
        rows = self.store.audit(limit=query.limit)
        return Answer(
            id=query.id,
            audit=tuple(
                AuditEntry(
                    seq=r.seq,
                    at=r.at,
                    actor=r.actor[:256],
                    action=r.action[:64],
                    targets=tuple(r.targets)[:2000],
                    result=r.result[:64],
                    detail=r.detail[:1000],
                )
                for r in rows
            ),
        )

    async def _submit(self, console: ConsoleLink, submit: Submit) -> None:
        command = submit.command
        body = command.body
        if body.issuer.body.subject_key != console.staff.subject_key:
            raise PeerError(ErrorCode.BAD_SIGNATURE, "a console submits its own commands only")
        now = self.now()
        verify_command(
            command,
            org_key=self.keyring.org_public,
            now=now,
            replay=None,  # remembered below, once we know it goes somewhere
            revoked=self.store.revoked_serials(),
        )
        action = body.action
        plan = {target: self._plan(body, target, queue=submit.queue) for target in body.targets}
        outcome = Counter(disposition for disposition in plan.values())
        routed = {t for t, disposition in plan.items() if disposition in ("delivered", "queued")}
        if routed:
            # A command that reaches no device costs no room in the replay cache, so
            # nonsense addressed to made-up devices cannot crowd out real commands.
            self.replay.remember(
                body.nonce, body.expires_at, now=now, issuer=body.issuer.body.serial
            )
        staff = console.staff
        # Audited before anything is sent: a full disk stops the action, never the record.
        self.store.append_audit(
            f"{staff.name} ({staff.role.value} {staff.serial[:8]})",
            action.name,
            list(body.targets),
            ", ".join(f"{k} {v}" for k, v in sorted(outcome.items())),
            f"command {body.id}",
            now,
        )
        self._remember_pending(PendingCommand(console, set(routed), body.expires_at), body.id)
        self._changed()
        deliver = encode_message(Deliver(command=command)).decode()
        sends = [
            self._deliver(console, command, target, deliver, queue=submit.queue)
            for target, disposition in plan.items()
            if disposition == "delivered"
        ]
        await asyncio.gather(*sends)
        for target, disposition in plan.items():
            if disposition == "queued":
                await self._queue(console, command, target, deliver)
            elif disposition != "delivered":
                await self._refused(console, body.id, target, ErrorCode(disposition))
            if isinstance(action, Watch) and disposition in ("delivered", "queued"):
                self.watchers.setdefault(target, {})[console] = self.clock() + action.lease_seconds
            elif isinstance(action, Unwatch):
                self.watchers.get(target, {}).pop(console, None)

    def _plan(self, body: CommandBody, target: str, *, queue: bool) -> str:
        """What will happen to one target: delivered, queued, or the refusal's code."""
        device = self.store.device(target)
        if device is None:
            return ErrorCode.UNKNOWN_DEVICE.value
        if not body.issuer.body.covers_group(device.group):
            return ErrorCode.GROUP_FORBIDDEN.value
        if target in self.agents:
            return "delivered"
        return "queued" if queue else ErrorCode.DEVICE_OFFLINE.value

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
                async with asyncio.timeout(DELIVERY_SECONDS):
                    await link.ws.send(deliver)
            except TimeoutError:
                # The copy may still be in its send buffer; drop the connection so that
                # "offline" is true. The agent's replay cache makes a queued retry safe.
                link.ws.transport.abort()
                raise
        except (ConnectionClosed, TimeoutError):
            if queue:
                await self._queue(console, command, target, deliver)
            else:
                await self._refused(console, command.body.id, target, ErrorCode.DEVICE_OFFLINE)

    async def _queue(
        self, console: ConsoleLink, command: SignedCommand, target: str, deliver: str
    ) -> None:
        """Keep a command for an offline device until it connects or the command expires."""
        body = command.body
        try:
            self.store.queue_command(target, body.id, deliver.encode(), body.expires_at)
        except StoreError as error:
            log.error("could not queue for %s: %s", target[:16], error)
            await self._refused(console, body.id, target, ErrorCode.HUB_STORAGE)

    async def _refused(
        self, console: ConsoleLink, command_id: str, target: str, code: ErrorCode
    ) -> None:
        console.post(
            Result(command_id=command_id, device_id=target, ok=False, code=code, detail=code.value)
        )

    def _remember_pending(self, pending: PendingCommand, command_id: str) -> None:
        if not pending.awaiting:
            return
        if len(self.pending) >= MAX_PENDING:
            self._forget_expired_commands()
            for stale in list(self.pending)[: MAX_PENDING // 10]:
                del self.pending[stale]
        self.pending[command_id] = pending

    def _forget_expired_commands(self) -> None:
        # A result may come a little after expiry (clock skew); later ones go nowhere.
        cutoff = self.now() - CLOCK_SKEW
        for command_id in [i for i, p in self.pending.items() if p.expires_at < cutoff]:
            del self.pending[command_id]

    async def _housekeeping(self) -> None:
        """End sessions that revocations, expiries and removals made in the store mean to end."""
        while True:
            await asyncio.sleep(self.housekeeping_seconds)
            try:
                revoked = self.store.revoked_serials()
                removed = [i for i in self.agents if self.store.device(i) is None]
            except StoreError as failure:
                log.error("housekeeping could not read the store: %s", failure)
                continue
            now = self.now()
            for console in list(self.consoles):
                staff = console.staff
                if staff.serial in revoked or now > staff.expires_at + CLOCK_SKEW:
                    log.warning(
                        "ending the session of %r: credential revoked or expired", staff.name
                    )
                    await console.ws.close(1008, "credential revoked or expired")
            for device_id in removed:
                link = self.agents.get(device_id)
                if link is not None:
                    log.warning("ending the session of removed device %r", link.device.name)
                    await link.ws.close(1008, "device removed by IT")
            self._forget_expired_commands()


async def run_hub(keyring: Keyring, host: str, port: int, *, tls: bool) -> None:
    """Serve until cancelled (the `homeroom-hub serve` command)."""
    store = Store.open(keyring.store_path)
    hub = Hub(keyring, store)
    try:
        async with hub.serve(host, port, tls=tls) as server:
            log.info("hub listening on %s", _addresses(server))
            await asyncio.Future()
    finally:
        store.close()


def _addresses(server: Server) -> str:
    return ", ".join(str(s.getsockname()) for s in server.sockets)
