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
