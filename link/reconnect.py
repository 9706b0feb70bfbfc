"""Staying connected: one reconnect loop for agent and console, exponential with full jitter."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import NoReturn

from protocol.backoff import full_jitter
from protocol.errors import PeerError

from .ws import ConnectionClosed

#: A session that lasted this long counts as healthy: the next drop starts the backoff over.
#: One rule for every client, so a hub that admits and then drops a peer at once is not
#: hammered, and a hub restart after a long lesson is met by short, spread-out retries.
STABLE_SESSION_SECONDS = 60.0

#: What ends a session without ending the loop: the hub refused us, the network went,
#: the hub hung up or did not answer in time.
SessionLost = PeerError | OSError | ConnectionClosed | TimeoutError


async def stay_connected(
    session: Callable[[], Awaitable[None]],
    *,
    on_lost: Callable[[SessionLost | None], None],
    base: float = 1.0,
    cap: float = 60.0,
    stable_after: float = STABLE_SESSION_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> NoReturn:
    """Run `session()` forever: after each end, report it, wait a jittered delay, go again.

    `session` returns when the hub closed cleanly and raises one of `SessionLost` when
    the connection failed; anything else is a bug and propagates. The monotonic clock
    keeps the reset rule right when the wall clock jumps.
    """
    delays = full_jitter(base, cap)
    while True:
        started = clock()
        lost: SessionLost | None = None
        try:
            await session()
        except (PeerError, OSError, ConnectionClosed, TimeoutError) as error:
            lost = error
        on_lost(lost)
        if clock() - started >= stable_after:
            delays = full_jitter(base, cap)
        await sleep(next(delays))
