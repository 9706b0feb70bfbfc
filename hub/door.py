"""The hub's front door: accepts TCP itself, so a stranger costs almost nothing until it signs in.

Theory of operation. asyncio's TLS layer allocates a 256 KiB buffer for every socket it
wraps, the moment the socket is accepted; a thousand idle sockets from one address then
pin hundreds of megabytes and every descriptor (issue 9). So the hub does not let the
event loop's server accept for it. The `Door` accepts each socket and decides at once:

- an address arriving faster than `arrivals_per_second` (a token bucket per address), or
  already holding `waiting_per_address` connections that have not signed in, is refused:
  the socket is reset before TLS ever sees it;
- when `waiting_total` strangers are already waiting, the one waiting longest is let go to
  make room, so a flood from many addresses slows newcomers down but never locks them out;
- an admitted socket then *knocks*: it costs a descriptor and a few hundred bytes until
  its first bytes arrive (a client hello). Only then is it handed to TLS and websockets.

Every visit has one deadline from the moment it was accepted (`handshake_seconds`): TCP,
TLS, the websocket upgrade and Homeroom's own handshake must all be done by then, or the
connection is dropped. Running out of descriptors pauses accepting for a moment instead of
logging an error per socket. Refusals are counted per reason and logged in one summary
line per `summary_seconds`, never once per socket.

Behind a TLS proxy every peer has the proxy's address, so `per_address` is then off.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import socket
import ssl as ssl_module
import struct
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from websockets.asyncio.server import Server, ServerConnection
from websockets.protocol import State
from websockets.server import ServerProtocol

from protocol.errors import ErrorCode
from protocol.ratelimit import TokenBucket

from .refusals import Tally

log = logging.getLogger("homeroom.hub")
#: websockets logs every connection opened and closed at INFO: thousands of lines at
#: 8 a.m., one per socket in a flood. Only its warnings and errors reach the hub's log.
wire_log = logging.getLogger("homeroom.hub.wire")
wire_log.setLevel(logging.WARNING)

#: Errors of accept() that mean "out of descriptors or memory", not "this one socket failed".
_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_CROWD = ErrorCode.TOO_MANY_CONNECTIONS.value
#: Silent strangers let go when the descriptors run out, to make room for real devices.
_SHED_WHEN_EXHAUSTED = 32
#: How many sockets one wake-up of the accept loop takes, so a flood cannot starve frames.
_ACCEPTS_PER_WAKE = 64


@dataclass(frozen=True, slots=True)
class DoorLimits:
    """What a connection may cost before it signs in. Defaults fit one school behind one NAT."""

    #: Everything from TCP accept to a signed-in session must be done within this.
    handshake_seconds: float = 10.0
    #: Connections not yet signed in from one address (a whole school may share one).
    waiting_per_address: int = 256
    #: Connections not yet signed in, in all; past this the longest-waiting is let go.
    waiting_total: int = 512
    #: New connections a second from one address, on average and in a burst.
    arrivals_per_second: float = 300.0
    arrival_burst: float = 1000.0
    #: Off behind a TLS proxy, where every peer has the proxy's address.
    per_address: bool = True
    #: TLS handshakes under way at once: each holds asyncio's 256 KiB buffer. Past this,
    #: a peer stuck in its handshake longer than `tls_patience` is let go for a newcomer
    #: (a real handshake takes milliseconds); otherwise the newcomer waits its turn.
    tls_slots: int = 128
    tls_patience: float = 1.0
    #: Pause after the system refuses to give the hub another descriptor.
    exhausted_pause_seconds: float = 1.0
    #: At most one log line about refused connections this often.
    summary_seconds: float = 10.0


def address_of(peer: object) -> str:
    """The address limits count by: the IPv4 address, or the /64 an IPv6 host owns."""
    host = peer[0] if isinstance(peer, tuple) and peer else str(peer)
    try:
        ip = ipaddress.ip_address(str(host).split("%")[0])
    except ValueError:
        return str(host)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip.ipv4_mapped or ip) if isinstance(ip, ipaddress.IPv6Address) else str(ip)


@dataclass(eq=False)
class Visit:
    """One accepted connection, from accept until it signs in or leaves."""

    address: str
    sock: socket.socket | None
    deadline: asyncio.TimerHandle | None = None
    handoff: asyncio.Task[None] | None = None
    connection: ServerConnection | None = None
    over: bool = False
    #: When its TLS handshake began (loop time), while it holds a TLS slot.
    tls_since: float = 0.0


class HubConnection(ServerConnection):
    """A websocket connection that knows which visit of the door it is."""

    visit: Visit | None = None


class Door:
    """Accepts on `sock` and hands admitted connections to `server` (a websockets Server).

    Quacks like the `asyncio.Server` that websockets' Server wraps: websockets still
    runs each connection's opening handshake, keepalive and graceful close.
    """

    def __init__(
        self,
        sock: socket.socket,
        limits: DoorLimits,
        *,
        ssl: ssl_module.SSLContext | None,
        make_connection: Callable[[], HubConnection],
    ) -> None:
        self.sock = sock
        self.limits = limits
        self.ssl = ssl
        self.make_connection = make_connection
        self.tally = Tally(limits.summary_seconds)
        self.waiting: dict[Visit, None] = {}  # insertion order: the longest-waiting first
        self.waiting_by_address: Counter[str] = Counter()
        self.in_tls: dict[Visit, None] = {}  # in TLS handshake, the longest first
        self.ready: deque[Visit] = deque()  # spoke first, waiting for a TLS slot
        self._arrivals: dict[str, TokenBucket] = {}
        self._loop = asyncio.get_running_loop()
        self._serving = False  # until close(): websockets refuses upgrades (503) once False
        self._reading = False  # whether the listening socket is watched (not while paused)
        self._resume: asyncio.TimerHandle | None = None
        self._recheck: asyncio.TimerHandle | None = None  # when a TLS slot may be taken
        self._closed = asyncio.Event()
        self._closing: set[asyncio.Task[None]] = set()  # websockets told why, closing

    # --- what websockets' Server expects of an asyncio.Server ---------------------

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return (self.sock,)

    def is_serving(self) -> bool:
        return self._serving

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    async def start_serving(self) -> None:
        if not self._serving and not self._closed.is_set():
            self._serving = True
            self._watch(True)

    def _watch(self, reading: bool) -> None:
        if reading and not self._reading:
            self._loop.add_reader(self.sock.fileno(), self._take_arrivals)
        elif not reading and self._reading:
            self._loop.remove_reader(self.sock.fileno())
        self._reading = reading

    def close(self) -> None:
        """Stop accepting, and let go of everyone not yet signed in and not yet websocket."""
        self._serving = False
        self._watch(False)
        if self._resume is not None:
            self._resume.cancel()
        if self._recheck is not None:
            self._recheck.cancel()
        for visit in list(self.waiting):
            if visit.connection is None:  # signed-in and opening websockets close themselves
                self._let_go(visit, None)
        self.tally.cancel()
        if self.sock.fileno() >= 0:
            self.sock.close()
        self._closed.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    # --- accepting -------------------------------------------------------------------

    def _take_arrivals(self) -> None:
        for _ in range(_ACCEPTS_PER_WAKE):
            try:
                conn, peer = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                if error.errno in _EXHAUSTED:
                    self._pause(error)
                    return
                if error.errno in (errno.ECONNABORTED, errno.EPROTO):
                    continue  # the peer gave up while queued; nothing to do
                raise
            self._arrive(conn, address_of(peer))

    def _pause(self, error: OSError) -> None:
        """Out of descriptors: stop accepting for a moment, and free the oldest stranger's."""
        self.tally.note(
            "out_of_descriptors",
            "-",
            f"({errno.errorcode.get(error.errno or 0, '?')}): pausing accepts, letting the "
            "longest-silent strangers go; raise LimitNOFILE if this happens without an attack",
        )
        silent = [visit for visit in self.waiting if visit.sock is not None]
        for visit in silent[:_SHED_WHEN_EXHAUSTED]:
            self._let_go(visit, None)
        if self._reading:
            self._watch(False)
            self._resume = self._loop.call_later(self.limits.exhausted_pause_seconds, self._unpause)

    def _unpause(self) -> None:
        self._resume = None
        if self._serving:
            self._watch(True)

    def _arrive(self, conn: socket.socket, address: str) -> None:
        limits = self.limits
        refusal = None
        if limits.per_address:
            if not self._bucket(address).allow(self._loop.time()):
                refusal = f"{_CROWD} (arriving too fast)"
            elif self.waiting_by_address[address] >= limits.waiting_per_address:
                refusal = f"{_CROWD} (too many waiting)"
        if refusal is not None:
            self.tally.note(refusal, address)
            _reset(conn)
            return
        if len(self.waiting) >= limits.waiting_total:
            oldest = next(iter(self.waiting))
            self._let_go(oldest, f"{_CROWD} (longest waiting let go)")
        conn.setblocking(False)
        visit = Visit(address, conn)
        self.waiting[visit] = None
        self.waiting_by_address[address] += 1
        visit.deadline = self._loop.call_later(limits.handshake_seconds, self._too_late, visit)
        # Knocking: no TLS, no buffers, until the peer says something.
        self._loop.add_reader(conn.fileno(), self._knocked, visit)

    def _bucket(self, address: str) -> TokenBucket:
        bucket = self._arrivals.get(address)
        if bucket is None:
            if len(self._arrivals) >= 10_000:
                # Addresses not seen for long enough have full buckets again: forget them.
                self._arrivals = {
                    a: b for a, b in self._arrivals.items() if self.waiting_by_address[a]
                }
            bucket = TokenBucket(
                rate=self.limits.arrivals_per_second, burst=self.limits.arrival_burst
            )
            self._arrivals[address] = bucket
        return bucket

    def _knocked(self, visit: Visit) -> None:
        sock = visit.sock
        assert sock is not None
        self._loop.remove_reader(sock.fileno())
        try:
            first = sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            self._loop.add_reader(sock.fileno(), self._knocked, visit)
            return
        except OSError:
            first = b""
        if not first:  # gone before saying anything: nothing to hand to TLS
            self._let_go(visit, None)
            return
        # A TLS handshake record, or an HTTP GET without TLS: anything else is not a peer.
        if first != (b"\x16" if self.ssl is not None else b"G"):
            self._let_go(visit, ErrorCode.MALFORMED.value)
            return
        self.ready.append(visit)
        self._start_handshakes()

    def _start_handshakes(self) -> None:
        """Hand ready visits to TLS while slots are free (or held too long by others)."""
        now = self._loop.time()
        while self.ready:
            if len(self.in_tls) >= self.limits.tls_slots:
                stuck = next(iter(self.in_tls))
                if now - stuck.tls_since < self.limits.tls_patience:
                    # Unless a slot frees first, look again once that one has had its time:
                    # without new arrivals nothing else would, and the newcomer would wait
                    # for the stuck peers' deadline, as long as a device waits for the hub.
                    self._look_again_at(stuck.tls_since + self.limits.tls_patience)
                    return
                self._let_go(stuck, f"{_CROWD} (stuck in TLS, let go for a newcomer)")
            visit = self.ready.popleft()
            if visit.over or visit.sock is None:
                continue
            if _hung_up(visit.sock):  # gave up while waiting its turn: no TLS for nobody
                self._let_go(visit, None)
                continue
            visit.tls_since = now
            self.in_tls[visit] = None
            visit.handoff = self._loop.create_task(self._hand_over(visit, visit.sock))

    def _look_again_at(self, when: float) -> None:
        if self._recheck is None and self._serving:
            self._recheck = self._loop.call_at(when, self._looked_again)

    def _looked_again(self) -> None:
        self._recheck = None
        self._start_handshakes()

    def tls_done(self, visit: Visit | None) -> None:
        """Its TLS handshake is over: the slot goes to the next visit ready for one."""
        if visit is not None and visit in self.in_tls:
            del self.in_tls[visit]
            self._loop.call_soon(self._start_handshakes)

    async def _hand_over(self, visit: Visit, sock: socket.socket) -> None:
        """TLS and websockets take the socket; the connection's handler runs from here."""
        visit.sock = None

        def connection() -> HubConnection:
            made = self.make_connection()
            made.visit = visit
            visit.connection = made
            return made

        try:
            await self._loop.connect_accepted_socket(
                connection,
                sock,
                ssl=self.ssl,
                ssl_handshake_timeout=self.limits.handshake_seconds if self.ssl else None,
            )
        except (OSError, ssl_module.SSLError, TimeoutError, ConnectionError):
            self.left(visit)  # a failed TLS handshake: asyncio closed the socket
        finally:
            visit.handoff = None

    # --- leaving -------------------------------------------------------------------------

    def signed_in(self, visit: Visit | None) -> None:
        """The peer proved who it is: it no longer counts against the door's limits."""
        self.left(visit)

    def left(self, visit: Visit | None) -> None:
        if visit is None or visit.over:
            return
        visit.over = True
        self.tls_done(visit)
        if visit.deadline is not None:
            visit.deadline.cancel()
        self.waiting.pop(visit, None)
        self.waiting_by_address[visit.address] -= 1
        if self.waiting_by_address[visit.address] <= 0:
            del self.waiting_by_address[visit.address]

    def _too_late(self, visit: Visit) -> None:
        self._let_go(visit, ErrorCode.HANDSHAKE_TIMEOUT.value)

    def _let_go(self, visit: Visit, reason: str | None) -> None:
        """Drop a connection that has not signed in, wherever it is in its handshakes."""
        if visit.over:
            return
        if reason is not None:
            self.tally.note(reason, visit.address)
        if visit.sock is not None:
            self._loop.remove_reader(visit.sock.fileno())
            _reset(visit.sock)
            visit.sock = None
        elif visit.handoff is not None:
            # Still in TLS: its connection exists but has no transport before TLS is done.
            visit.handoff.cancel()  # asyncio closes the socket of a cancelled TLS handshake
        elif visit.connection is not None:
            connection = visit.connection
            if reason is not None and connection.protocol.state is State.OPEN:
                # A websocket can be told why: the code word (e.g. handshake_timeout).
                closing = self._loop.create_task(connection.close(1008, reason.split()[0]))
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)
            else:
                connection.transport.abort()
        self.left(visit)


def _hung_up(sock: socket.socket) -> bool:
    """Whether the peer closed its side (Linux: TCP state is no longer ESTABLISHED)."""
    if not hasattr(socket, "TCP_INFO"):
        return False
    try:
        return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] != _ESTABLISHED
    except OSError:
        return True


_ESTABLISHED = 1  # tcpi_state, from the kernel's tcp_states.h


def _reset(sock: socket.socket) -> None:
    """Close with a reset: no FIN handshake, no TIME_WAIT, nothing kept for the peer."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@contextlib.asynccontextmanager
async def open_door(
    handler: Callable[[HubConnection], Awaitable[None]],
    host: str,
    port: int,
    *,
    ssl: ssl_module.SSLContext | None,
    limits: DoorLimits,
    max_size: int,
    close_timeout: float,
    ping_interval: float | None = 20,
    ping_timeout: float | None = 20,
    max_queue: int = 16,
) -> AsyncIterator[tuple[Server, Door]]:
    """Listen on (host, port) behind a Door; on exit, close every connection (1001) and wait.

    `handler` runs once the websocket is open, as with `websockets.serve`.
    """
    door: Door | None = None

    def make_connection() -> HubConnection:
        protocol = ServerProtocol(
            # Browsers send an Origin header; agents and consoles do not. Refusing any
            # Origin stops cross-site websocket hijacking (MeshCentral's flaw).
            origins=[None],
            max_size=max_size,
            logger=wire_log,
        )
        return HubConnection(
            protocol,
            server,
            close_timeout=close_timeout,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            max_queue=max_queue,
        )

    async def run_connection(connection: ServerConnection) -> None:
        assert isinstance(connection, HubConnection)
        if door is not None:  # called once TLS is done (connection_made)
            door.tls_done(connection.visit)
        try:
            try:
                # The door's deadline bounds this too; websockets wants a timeout of its own.
                async with asyncio.timeout(limits.handshake_seconds):
                    await connection.handshake(server_header=None)
            except Exception:
                connection.transport.abort()
                return
            if connection.protocol.state is not State.OPEN:
                connection.transport.abort()
                return
            server.all_connections.add(connection)
            connection.start_keepalive()
            try:
                async with connection:
                    await handler(connection)
            except Exception:
                log.exception("a connection's handler failed")
            finally:
                server.all_connections.discard(connection)
        finally:
            if door is not None:
                door.left(connection.visit)
            task = asyncio.current_task()
            if task is not None:
                server.handler_tasks.discard(task)

    async def create() -> Door:
        nonlocal door
        ipv6 = ":" in host
        sock = socket.create_server(
            (host, port),
            family=socket.AF_INET6 if ipv6 else socket.AF_INET,
            backlog=1024,
            # "::" serves IPv4 too, as a server on every address is expected to.
            dualstack_ipv6=ipv6 and host == "::" and socket.has_dualstack_ipv6(),
        )
        sock.setblocking(False)
        door = Door(sock, limits, ssl=ssl, make_connection=make_connection)
        await door.start_serving()
        return door

    # The Door stands in for the asyncio.Server that websockets' Server wraps (duck typing).
    server = Server(create, run_connection, logger=log)  # type: ignore[arg-type]
    await server
    assert door is not None
    try:
        yield server, door
    finally:
        await close_gracefully(server, close_timeout)


async def close_gracefully(server: Server, close_timeout: float) -> None:
    """Close every connection with "going away" (1001); cut off whoever is not reading.

    websockets waits for each closing handshake; a peer that stopped reading (its
    buffers full) would hold shutdown up until its keepalive fails, so it is aborted.
    """
    server.close()
    try:
        async with asyncio.timeout(2 * close_timeout + 1):
            await server.wait_closed()
    except TimeoutError:
        for connection in list(server.all_connections):
            connection.transport.abort()
        await server.wait_closed()
