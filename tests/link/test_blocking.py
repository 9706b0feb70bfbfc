"""link.blocking: one thread drives websockets' sans-I/O client over a blocking socket.

The server side is a real websockets server on loopback (asyncio, in the test's loop);
the blocking link runs in a worker thread, as it runs alone in `homeroom-console do`.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.utils import accept_key

from hub.tls import make_self_signed, server_context
from link.blocking import Link, blocking_session, open_link
from protocol.handshake import ClientHandshake, HubPins
from protocol.keys import PrivateKey
from protocol.messages import ClientRole
from tests.support import fresh_python, scaled

Handler = Callable[[ServerConnection], Awaitable[None]]


@asynccontextmanager
async def server(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    """A websockets server on 127.0.0.1 running `handler` per connection; yields its URL."""
    async with serve(handler, "127.0.0.1", 0, ssl=tls) as running:
        port = running.sockets[0].getsockname()[1]
        yield f"{'wss' if tls else 'ws'}://127.0.0.1:{port}"


async def opened(url: str) -> Link:
    return await asyncio.to_thread(open_link, url, open_timeout=scaled(10))


async def test_whole_messages_arrive_whatever_their_fragments() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(["Eyes ", "on ", "me"])  # one text message in three frames
        await ws.send(b"\x00\x01")
        await ws.wait_closed()

    async with server(handler) as url:
        link = await opened(url)
        try:
            assert await asyncio.to_thread(link.recv, scaled(10)) == "Eyes on me"
            assert await asyncio.to_thread(link.recv, scaled(10)) == b"\x00\x01"
        finally:
            await asyncio.to_thread(link.close)


async def test_what_is_sent_arrives_and_the_hubs_pings_are_answered() -> None:
    answered = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        pong = await ws.ping()
        await ws.send("pinged")
        await pong  # only the link's pong ends this wait
        answered.set()
        await ws.send(f"echo {await ws.recv(decode=True)!s}")
        await ws.wait_closed()

    async with server(handler) as url:
        link = await opened(url)
        try:
            assert await asyncio.to_thread(link.recv, scaled(10)) == "pinged"
            await asyncio.to_thread(link.send, "hello")
            assert await asyncio.to_thread(link.recv, scaled(10)) == "echo hello"
            assert answered.is_set()
        finally:
            await asyncio.to_thread(link.close)


async def test_silence_is_a_timeout_and_a_close_is_connection_closed() -> None:
    go_on = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        await go_on.wait()
        await ws.send("last words")
        await ws.close(1001, "going away")

    async with server(handler) as url:
        link = await opened(url)
        try:
            with pytest.raises(TimeoutError):
                await asyncio.to_thread(link.recv, 0.05)
            go_on.set()
            # What came before the close is still delivered, then the close is said.
            assert await asyncio.to_thread(link.recv, scaled(10)) == "last words"
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.to_thread(link.recv, scaled(10))
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        finally:
            await asyncio.to_thread(link.close)


async def test_close_is_a_closing_handshake_the_server_sees() -> None:
    codes: asyncio.Queue[int | None] = asyncio.Queue()

    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()
        await codes.put(ws.close_code)

    async with server(handler) as url:
        link = await opened(url)
        await asyncio.to_thread(link.close)
        async with asyncio.timeout(scaled(10)):
            assert await codes.get() == 1000


async def test_a_server_that_is_not_a_websocket_is_named_clearly() -> None:
    async def not_a_hub(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    plain = await asyncio.start_server(not_a_hub, "127.0.0.1", 0)
    async with plain:
        port = plain.sockets[0].getsockname()[1]
        with pytest.raises(ConnectionError, match="is it a Homeroom hub"):
            await opened(f"ws://127.0.0.1:{port}")


async def test_a_server_that_says_nothing_times_out_within_the_open_timeout() -> None:
    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    async with silent:
        port = silent.sockets[0].getsockname()[1]
        with pytest.raises(TimeoutError):
            await asyncio.to_thread(open_link, f"ws://127.0.0.1:{port}", open_timeout=0.2)


def test_plain_ws_off_this_computer_is_refused_before_dialling() -> None:
    with pytest.raises(ValueError, match="not encrypted"):
        open_link("ws://hub.school.example:8443")


async def test_tls_with_the_servers_session_tickets(tmp_path: Path) -> None:
    """Over TLS 1.3 the server sends session tickets right after the handshake, while the
    client sends its upgrade request: the case websockets' threaded client lost 1 time in
    about 200 (two threads on one ssl socket). Here a few dozen connections in a row all
    open, and the link sees the certificate the channel binding is computed from."""
    cert, key = make_self_signed(["127.0.0.1"])
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    tls = server_context(str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"))
    assert tls.num_tickets > 0

    async def handler(ws: ServerConnection) -> None:
        await ws.send("welcome")
        await ws.wait_closed()

    async with server(handler, tls) as url:
        for _ in range(40):
            link = await opened(url)
            try:
                assert isinstance(link.socket, ssl.SSLSocket)
                assert link.socket.version() == "TLSv1.3"
                assert link.socket.getpeercert(binary_form=True)
                assert await asyncio.to_thread(link.recv, scaled(10)) == "welcome"
            finally:
                await asyncio.to_thread(link.close)


def test_dialling_an_address_loads_neither_idna_nor_asyncio() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listening:
        port = listening.getsockname()[1]
        code = (
            "import sys\n"
            "from link.blocking import open_link\n"
            "try:\n"
            f"    open_link('ws://127.0.0.1:{port}', open_timeout=0.2)\n"
            "except TimeoutError:\n"
            "    pass\n"
            "print(' '.join(m for m in ('encodings.idna', 'asyncio')"
            " if m in sys.modules) or '-')\n"
        )
        assert fresh_python(code).split() == ["-"]


async def test_a_hub_that_hangs_up_before_signing_in_is_a_connection_error() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()  # the client's hello
        await ws.close(1008, "handshake_timeout")

    def stranger(channel: bytes) -> ClientHandshake:
        """Enough of a client to say hello: this hub hangs up before anything is checked."""
        key = PrivateKey.generate()
        pins = HubPins(hub=key.public.fingerprint, org=key.public.fingerprint)
        return ClientHandshake(role=ClientRole.AGENT, key=key, pins=pins, channel=channel)

    def sign_in(url: str) -> None:
        with blocking_session(url, stranger, open_timeout=scaled(10)):
            pass

    async with server(handler) as url:
        with pytest.raises(ConnectionError, match=r"hung up before signing in.*handshake_timeout"):
            await asyncio.to_thread(sign_in, url)


# --- A hub that misbehaves after the upgrade: raw bytes on a socket, nothing of websockets.

# Server frames are not masked: FIN + opcode, length, payload.
CLOSE_1011 = b"\x88\x19\x03\xf3" + b"storage\x1b[2J unavailable!!"[:23]
BAD_UTF8 = b"\x81\x02\xff\xfe"


@asynccontextmanager
async def raw_hub(after_upgrade: bytes) -> AsyncIterator[str]:
    """Accepts the upgrade as a websocket server would, writes `after_upgrade` in the same
    write, then keeps the connection open and says nothing until the test is over."""
    done = asyncio.Event()

    async def upgrade(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = (await reader.readuntil(b"\r\n\r\n")).decode()
        key = next(
            line.split(":", 1)[1].strip()
            for line in request.split("\r\n")
            if line.lower().startswith("sec-websocket-key:")
        )
        accept = accept_key(key)
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
            + after_upgrade
        )
        await done.wait()
        writer.close()

    listening = await asyncio.start_server(upgrade, "127.0.0.1", 0)
    async with listening:
        try:
            yield f"ws://127.0.0.1:{listening.sockets[0].getsockname()[1]}"
        finally:
            done.set()


async def test_sending_after_the_hubs_close_is_a_connection_error_saying_why() -> None:
    """The hub's close frame came with its upgrade answer: the first send says the hub
    closed, with its reason made printable (a hub's words, like a device's, may hold escape
    sequences), instead of websockets' InvalidState (an AssertionError)."""
    async with raw_hub(CLOSE_1011) as url:
        link = await opened(url)
        try:
            with pytest.raises(ConnectionError) as refused:
                await asyncio.to_thread(link.send, "hello")
        finally:
            await asyncio.to_thread(link.close)
    said = str(refused.value)
    assert said.startswith("the hub closed the connection (code 1011: storage")
    assert "\x1b" not in said and "unavailable" in said


async def test_a_close_frame_without_the_hub_hanging_up_ends_within_close_seconds() -> None:
    async with raw_hub(b"\x81\x05hello" + CLOSE_1011) as url:
        link = await opened(url)
        link.close_seconds = 0.1
        try:
            assert await asyncio.to_thread(link.recv, scaled(10)) == "hello"
            # The hub sent its close and kept the socket open: the link gives up on it after
            # close_seconds, not at the end of the caller's 30 s.
            started = asyncio.get_running_loop().time()
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.to_thread(link.recv, 30.0)
            assert asyncio.get_running_loop().time() - started < 30
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
        finally:
            await asyncio.to_thread(link.close)


async def test_text_that_is_not_utf8_fails_the_connection_as_websockets_would() -> None:
    async with raw_hub(BAD_UTF8) as url:
        link = await opened(url)
        link.close_seconds = 0.1
        try:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.to_thread(link.recv, 30.0)
            assert closed.value.sent is not None and closed.value.sent.code == 1007
        finally:
            await asyncio.to_thread(link.close)  # and closing does not raise either


async def test_a_hosts_next_address_is_tried_when_one_refuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A name with two addresses, the first refusing: the name service is the only part
    replaced (nothing here resolves a name to two loopback addresses); both connects are
    real, and share the one open deadline."""

    async def handler(ws: ServerConnection) -> None:
        await ws.send("found")
        await ws.wait_closed()

    async with server(handler) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            refusing = unused.getsockname()
        tcp = (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "")
        addresses = [(*tcp, refusing), (*tcp, ("127.0.0.1", port))]
        asked: list[object] = []

        def resolve(host: object, *_: object, **__: object) -> object:
            asked.append(host)
            return addresses

        monkeypatch.setattr(socket, "getaddrinfo", resolve)
        link = await opened(f"ws://localhost:{port}")
        try:
            assert await asyncio.to_thread(link.recv, scaled(10)) == "found"
        finally:
            await asyncio.to_thread(link.close)
        assert asked == [b"localhost"]  # an ASCII name goes as bytes: no IDNA codec


def test_a_closed_port_is_refused_at_once() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        open_link(f"ws://127.0.0.1:{port}", open_timeout=scaled(10))
