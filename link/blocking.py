"""Dialling the hub without asyncio and without threads, for one-shot commands.

`homeroom-console do` is a new process for each command, and asyncio with what it loads
(about 40 modules: inspect, logging, concurrent.futures, subprocess support...) was an
eighth of its time before it could send anything. A command that sends one thing and reads
the answers needs no event loop, and no second thread either: here one thread writes and
reads, driving websockets' sans-I/O protocol (`ClientProtocol`) over a blocking socket.

Why not websockets' threaded client: it reads in a thread of its own while the caller
writes, and an ssl socket is not safe to use from two threads at once. Over TLS 1.3 the
hub's session tickets arrive just as the client sends its upgrade request; measured here,
one connection in about 200 then hung until the open timeout, the request lost (none in
600 once the hub sent no tickets). One thread cannot race itself.

The dialling is link.dial's (same options, same handshake); only the waiting differs.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from protocol.handshake import ClientHandshake, channel_of
from protocol.limits import fit
from protocol.messages import encode_message

from .address import connect_options
from .deferred import UNUSED_BY_HOMEROOM

# isort: split
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close, CloseCode, Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

__all__ = ["UNUSED_BY_HOMEROOM", "ConnectionClosed", "Link", "blocking_session", "why"]

#: How long a closing connection waits for the hub to finish it (its close frame, then its
#: end of the TCP stream) before hanging up anyway.
CLOSE_SECONDS = 2.0
#: Bytes asked of the socket at a time.
_READ_SIZE = 65536


class Link:
    """One websocket connection to the hub, written and read by one thread."""

    def __init__(self, sock: socket.socket, protocol: ClientProtocol, send_timeout: float) -> None:
        self.socket = sock
        self._protocol = protocol
        self._send_timeout = send_timeout
        self._messages: list[str | bytes] = []  # whole messages received, not yet taken
        self._parts: list[bytes] = []  # the fragments of a message still arriving
        self._text = False  # whether that message is text
        self._hang_up_by: float | None = None  # once closing: when to stop waiting for the hub
        self.close_seconds = CLOSE_SECONDS

    def send(self, text: str) -> None:
        """Send one text message; ConnectionError once the connection is closing or closed
        (the hub's close frame may have come with the last read), OSError if it is gone."""
        if self._protocol.state is not State.OPEN:
            raise ConnectionError(
                f"the hub closed the connection ({why(self._protocol.close_rcvd)})"
            )
        self._protocol.send_text(text.encode())
        self._flush()

    def recv(self, timeout: float) -> str | bytes:
        """The next whole message: TimeoutError if none came within `timeout` seconds,
        ConnectionClosed once the hub has closed the connection."""
        deadline = time.monotonic() + timeout
        while not self._messages:
            if self._protocol.state is State.CLOSED:
                assert self._protocol.close_exc is not None
                raise self._protocol.close_exc
            self._read(deadline)
        return self._messages.pop(0)

    def close(self) -> None:
        """The closing handshake, waiting briefly for the hub's answer; then hang up."""
        try:
            if self._protocol.state is State.OPEN:
                self._protocol.send_close(CloseCode.NORMAL_CLOSURE)
                self._flush()
            deadline = time.monotonic() + self.close_seconds
            while self._protocol.state is not State.CLOSED:
                self._read(deadline)
        except (OSError, ConnectionClosed):
            pass  # gone or slow: the socket is closed either way
        finally:
            self.socket.close()

    def _open(self, deadline: float) -> None:
        """Send the upgrade request and read until the hub's answer has come."""
        self._flush()
        while self._protocol.state is State.CONNECTING and self._protocol.handshake_exc is None:
            self._read(deadline)
        if self._protocol.handshake_exc is not None:
            said = fit(str(self._protocol.handshake_exc), 200, printable=True)  # its headers
            raise ConnectionError(
                f"the server did not open a websocket ({said}); is it a Homeroom hub?"
            ) from self._protocol.handshake_exc

    def _read(self, deadline: float) -> None:
        """Read once from the socket, by `deadline` (TimeoutError after it)."""
        if self._hang_up_by is None and (
            self._protocol.close_rcvd is not None or self._protocol.close_sent is not None
        ):
            self._hang_up_by = time.monotonic() + self.close_seconds
        wait_until = deadline if self._hang_up_by is None else min(deadline, self._hang_up_by)
        try:
            remaining = wait_until - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no answer from the hub in time")
            self.socket.settimeout(remaining)
            data = self.socket.recv(_READ_SIZE)
        except TimeoutError:
            if self._hang_up_by is None or deadline < self._hang_up_by:
                raise
            data = b""  # closing, and the hub kept the connection open: as if it had hung up
        if data:
            self._protocol.receive_data(data)
        else:
            self._protocol.receive_eof()
        for event in self._protocol.events_received():
            if isinstance(event, Frame):
                self._take(event)
        self._flush()  # pongs to the hub's pings, and the answer to its close

    def _take(self, frame: Frame) -> None:
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
            self._text = frame.opcode is Opcode.TEXT
            self._parts = [bytes(frame.data)]
        elif frame.opcode is Opcode.CONT:
            self._parts.append(bytes(frame.data))  # the protocol bounds the whole by max_size
        else:
            return  # ping, pong, close: the protocol has answered them
        if not frame.fin:
            return
        data = b"".join(self._parts)
        self._parts = []
        if not self._text:
            self._messages.append(data)
            return
        try:
            self._messages.append(data.decode())
        except UnicodeDecodeError:
            # As websockets itself does: the connection fails with 1007, and recv says so.
            self._protocol.fail(CloseCode.INVALID_DATA, "invalid UTF-8 in a text message")

    def _flush(self) -> None:
        self.socket.settimeout(self._send_timeout)
        for data in self._protocol.data_to_send():
            if data:  # b"" would ask for a half-close: the socket is closed whole instead
                self.socket.sendall(data)


def open_link(url: str, *, open_timeout: float = 10.0) -> Link:
    """TCP, TLS for wss://, and the websocket upgrade, all within `open_timeout` seconds.

    Raises OSError (TimeoutError and ConnectionError included), or ValueError for a
    plain ws:// address off this computer.
    """
    options: dict[str, Any] = connect_options(url, open_timeout)
    deadline = time.monotonic() + open_timeout
    where = parse_uri(url)
    sock = _dial(where.host, where.port, deadline)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)  # small messages
        if options["ssl"] is not None:
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            sock = options["ssl"].wrap_socket(sock, server_hostname=where.host)
        protocol = ClientProtocol(where, max_size=options["max_size"])
        request = protocol.connect()
        request.headers["User-Agent"] = options["user_agent_header"]
        protocol.send_request(request)
        link = Link(sock, protocol, send_timeout=open_timeout)
        link._open(deadline)
    except BaseException:
        sock.close()
        raise
    return link


def _dial(host: str, port: int, deadline: float) -> socket.socket:
    """A TCP connection to the first of the host's addresses that answers, all by `deadline`
    (`socket.create_connection` would give each address the whole time)."""
    # An ASCII host as bytes: `socket.getaddrinfo` passes a str through the IDNA codec,
    # whose first use loads it with stringprep and unicodedata (5 ms of `do`), even for
    # "127.0.0.1". (asyncio skips the look-up for an address; link/tls.py does the same
    # for the TLS server name.)
    name: Any = host.encode() if host.isascii() else host
    failed: OSError = TimeoutError(f"no connection to {host} in time")
    for family, kind, proto, _, address in socket.getaddrinfo(name, port, type=socket.SOCK_STREAM):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(remaining)
            sock.connect(address)
        except OSError as error:
            sock.close()
            failed = error
            continue
        return sock
    raise failed


@contextmanager
def blocking_session(
    url: str,
    make_handshake: Callable[[bytes], ClientHandshake],
    *,
    open_timeout: float = 10.0,
) -> Iterator[tuple[Link, ClientHandshake]]:
    """Connected to the hub at `url` and authenticated both ways, until the block ends.

    As link.dial.open_session: `make_handshake` receives the channel-binding value;
    raises PeerError, OSError (TimeoutError included), or ValueError for a plain ws://
    address off this computer.
    """
    deadline = time.monotonic() + open_timeout
    link = open_link(url, open_timeout=open_timeout)
    try:
        channel = b""
        if parse_uri(url).secure:
            channel = channel_of(link.socket.getpeercert(binary_form=True))  # type: ignore[attr-defined]
        handshake = make_handshake(channel)
        # A server that accepts the connection and then says nothing must not hold us.
        try:
            link.send(encode_message(handshake.start()).decode())
            proof = handshake.step(link.recv(max(0.0, deadline - time.monotonic())))
            assert proof is not None
            link.send(encode_message(proof).decode())
            handshake.step(link.recv(max(0.0, deadline - time.monotonic())))
        except ConnectionClosed as closed:
            # A hub that refuses says why in a message first (PeerError); this one did not.
            raise ConnectionError(
                f"the hub hung up before signing in ({why(closed.rcvd)})"
            ) from None
        yield link, handshake
    finally:
        link.close()


def why(close: Close | None) -> str:
    """What the hub's close frame said, safe to print: its reason is the hub's own text."""
    if close is None:
        return "without a close frame"
    reason = fit(close.reason, 200, printable=True) if close.reason else "no reason given"
    return f"code {close.code}: {reason}"
