"""The hub: the only listening server. Authenticates every peer, routes, fans out frames."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, suppress
from dataclasses import dataclass, field

import msgspec
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from protocol.actions import Unwatch, Watch
from protocol.certificates import CertificateBody
from protocol.commands import CommandBody, ReplayCache, SignedCommand, verify_command
from protocol.errors import ErrorCode, PeerError
from protocol.frames import MAX_FRAME_BYTES, restream
from protocol.handshake import Claim, HubHandshake
from protocol.messages import (
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
from .store import DeviceExists, DeviceRecord, Store, StoreError, TokenRefused

log = logging.getLogger("homeroom.hub")

HANDSHAKE_SECONDS = 10.0
#: Bad messages tolerated on one connection before the hub hangs up on it.
MAX_PEER_ERRORS = 5
#: Commands awaiting results; beyond this, the oldest are forgotten (results then go nowhere).
MAX_PENDING = 50_000
#: A device whose connection will not take a command within this long is treated as offline.
DELIVERY_SECONDS = 5.0


@dataclass
class Presence:
    """What the hub knows live about a device beyond its stored record."""

    online: bool = False
    locked: bool = False
    watched_by: tuple[str, ...] = ()
    user: str = ""


@dataclass(eq=False)
class ConsoleLink:
    """One signed-in staff member's connection; frames wait in a newest-only slot per stream."""

    ws: ServerConnection
    staff: CertificateBody
    frames: dict[int, bytes] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    frames_dropped: int = 0

    async def send(self, message: Message) -> None:
        with suppress(ConnectionClosed):
            await self.ws.send(encode_message(message).decode())

    def offer_frame(self, stream: int, data: bytes) -> None:
        # A slow console replaces its unsent frame: it always gets the newest picture
        # and never holds up commands or other devices.
        if stream in self.frames:
            self.frames_dropped += 1
        self.frames[stream] = data
        self.wake.set()

    async def pump_frames(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            batch, self.frames = self.frames, {}
            for data in batch.values():
                await self.ws.send(data)


@dataclass(eq=False)
class AgentLink:
    ws: ServerConnection
    device: DeviceRecord
    endpoint: HubHandshake


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
        self.pending: dict[str, ConsoleLink] = {}
        self.replay = ReplayCache()
        self.refusals: Counter[ErrorCode] = Counter()
        self.frames_relayed = 0
        self._channel = keyring.channel
        self._change = asyncio.Event()

    def _changed(self) -> None:
        """Wake whoever waits for the hub's state to move (tests, status views)."""
        self._change.set()
        self._change = asyncio.Event()

    async def next_change(self) -> None:
        await self._change.wait()

    # --- Serving -------------------------------------------------------------

    def serve(
        self, host: str, port: int, *, tls: bool = True
    ) -> AbstractAsyncContextManager[Server]:
        """The websockets server (use `async with`); plain ws only for loopback tests."""
        from .tls import server_context

        ssl = (
            server_context(str(self.keyring.tls_cert_path), str(self.keyring.tls_key_path))
            if tls
            else None
        )
        if not tls:
            self._channel = b""
        return serve(
            self.handle,
            host,
            port,
            ssl=ssl,
            max_size=MAX_FRAME_BYTES,
            # Browsers send an Origin header; agents and consoles do not. Refusing any
            # Origin stops cross-site websocket hijacking (MeshCentral's flaw).
            origins=[None],
            compression=None,
        )

    def now(self) -> int:
        return int(self.clock())

    async def handle(self, ws: ServerConnection) -> None:
        """One connection: the handshake, then the session for the peer's role."""
        endpoint = HubHandshake(
            key=self.keyring.hub_key,
            certificate=self.keyring.hub_certificate,
            org_key=self.keyring.org_public,
            channel=self._channel,
            revoked=self.store.revoked_serials(),
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
        except (TimeoutError, ConnectionClosed):
            log.info("handshake abandoned by %s", ws.remote_address)
            return
        await admit(ws)

    def _admit(self, claim: Claim, endpoint: HubHandshake):  # type: ignore[no-untyped-def]
        """Look the proven identity up in the store; returns the session to run."""
        if claim.role is ClientRole.ENROLL:
            return lambda ws: self._enroll(ws, claim, endpoint)
        if claim.role is ClientRole.CONSOLE:
            assert claim.staff is not None
            return lambda ws: self._serve_console(ws, claim.staff, endpoint)
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
    ) -> None:
        """Feed each message to its handler; refuse bad ones, hang up after too many."""
        errors = 0
        async for data in ws:
            try:
                if isinstance(data, bytes):
                    endpoint.receive_frame(data)  # validates header and role
                    if on_frame is not None:
                        on_frame(data)
                else:
                    await on_message(endpoint.receive(data))
            except StoreError as failure:
                # Not the peer's fault: tell them plainly, keep the connection.
                log.error("store unavailable while serving %s: %s", ws.remote_address, failure)
                error = PeerError(ErrorCode.HUB_STORAGE, str(failure))
                await ws.send(encode_message(Error.from_peer_error(error)).decode())
            except PeerError as error:
                errors += 1
                self.refusals[error.code] += 1
                self._changed()
                log.warning("from %s: %s %s", ws.remote_address, error.code.value, error.detail)
                await ws.send(encode_message(Error.from_peer_error(error)).decode())
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
                await console.send(change)

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
                lambda data: self._relay_frame(device_id, data),
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
        if isinstance(item, Status):
            live = self.presence[device_id]
            live.locked, live.watched_by, live.user = item.locked, item.watched_by, item.user
            self.store.mark_seen(device_id, self.now(), user=item.user or None)
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
            if item.device_id != device_id:
                raise PeerError(ErrorCode.MALFORMED, "a result names another device")
            self.store.append_audit(
                link.device.name,
                "result",
                [device_id],
                "ok" if item.ok else (item.code or ErrorCode.ACTION_FAILED).value,
                f"command {item.command_id}: {item.detail}"[:1000],
                self.now(),
            )
            console = self.pending.get(item.command_id)
            if console is not None:
                await console.send(item)
        elif isinstance(item, Event):
            self.store.append_audit(
                link.device.name,
                f"event:{item.kind}",
                [device_id],
                "reported",
                item.detail,
                self.now(),
            )

    def _relay_frame(self, device_id: str, data: bytes) -> None:
        """Pass a validated frame on to each console watching, relabelled with its stream."""
        leases = self.watchers.get(device_id)
        if not leases:
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
        pump = asyncio.create_task(console.pump_frames())
        try:
            devices = tuple(self.device_state(d) for d in self.visible_devices(staff))
            await console.send(Roster(devices=devices))
            await self._read(ws, endpoint, lambda item: self._from_console(console, item))
        except ConnectionClosed:
            pass
        finally:
            pump.cancel()
            self.consoles.discard(console)
            for leases in self.watchers.values():
                leases.pop(console, None)

    async def _from_console(self, console: ConsoleLink, item: Message) -> None:
        if isinstance(item, Submit):
            await self._submit(console, item)
        elif isinstance(item, Query):
            await console.send(self._answer(console.staff, item))

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
        if staff.role.value not in ("admin", "it"):
            raise PeerError(ErrorCode.ROLE_FORBIDDEN, "the audit log is for admins and IT")
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
            replay=self.replay,
            revoked=self.store.revoked_serials(),
        )
        action = body.action
        plan = {target: self._plan(body, target, queue=submit.queue) for target in body.targets}
        outcome = Counter(disposition for disposition in plan.values())
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
        self._remember_pending(body.id, console)
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
            async with asyncio.timeout(DELIVERY_SECONDS):
                await link.ws.send(deliver)
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
        await console.send(
            Result(command_id=command_id, device_id=target, ok=False, code=code, detail=code.value)
        )

    def _remember_pending(self, command_id: str, console: ConsoleLink) -> None:
        if len(self.pending) >= MAX_PENDING:
            for stale in list(self.pending)[: MAX_PENDING // 10]:
                del self.pending[stale]
        self.pending[command_id] = console


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
