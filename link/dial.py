"""Dialling the hub, for agents and consoles: TLS, channel binding, then the handshake.

`open_session` is asyncio's; link.blocking dials the same way without it, for a command
that sends one thing and ends (`homeroom-console do`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from protocol.handshake import ClientHandshake, channel_of
from protocol.messages import encode_message

from .address import connect_options
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
    options: dict[str, Any] = connect_options(url, open_timeout)
    ws = await connect(url, **options)
    try:
        channel = b""
        if options["ssl"] is not None:
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
