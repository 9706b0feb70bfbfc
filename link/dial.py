"""Dialling the hub, for agents and consoles: TLS, channel binding, then the handshake."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from urllib.parse import urlsplit

from protocol.frames import MAX_FRAME_BYTES
from protocol.handshake import ClientHandshake, channel_of
from protocol.messages import encode_message
from protocol.tokens import is_loopback

from .tls import client_context
from .ws import ClientConnection, connect


async def open_session(
    url: str,
    make_handshake: Callable[[bytes], ClientHandshake],
    *,
    open_timeout: float = 10.0,
) -> tuple[ClientConnection, ClientHandshake]:
    """Connect to the hub at `url` and authenticate both ways; never falls back to less.

    `make_handshake` receives the channel-binding value (the SHA-256 of the TLS
    certificate the hub presented) so the handshake can check the hub signed it.
    Raises PeerError (with the hub's or our own reason), OSError, or ValueError for a
    plain ws:// address off this computer.
    """
    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    if not secure and not is_loopback(parts.hostname or ""):
        raise ValueError(
            f"{url} is not encrypted: plain ws:// is only for a hub on this same computer. "
            "Use the wss:// address IT gave you."
        )
    ws = await connect(
        url,
        ssl=client_context() if secure else None,
        max_size=MAX_FRAME_BYTES,
        compression=None,
        open_timeout=open_timeout,
        proxy=None,
        user_agent_header="Homeroom",
    )
    try:
        channel = b""
        if secure:
            ssl_object = ws.transport.get_extra_info("ssl_object")
            channel = channel_of(ssl_object.getpeercert(binary_form=True))
        handshake = make_handshake(channel)
        # A server that accepts the connection and then says nothing must not hold us.
        async with asyncio.timeout(open_timeout):
            await ws.send(encode_message(handshake.start()).decode())
            proof = handshake.step(await ws.recv())
            assert proof is not None
            await ws.send(encode_message(proof).decode())
            handshake.step(await ws.recv())
    except BaseException:
        await ws.close()
        raise
    return ws, handshake
