"""Hand-driven peers for hub tests: a device's own connection that sends only what a test says."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from agent.state import AgentState
from link.dial import open_session
from protocol.handshake import ClientHandshake
from protocol.messages import ClientRole

from ..classroom import Classroom
from ..support import scaled


async def agent_session(room: Classroom, name: str) -> tuple[AgentState, ClientConnection]:
    """An enrolled device's real key and dial, but no agent: it sends what the test sends."""
    state, _ = await room.enroll(name)
    ws, _ = await open_session(
        room.url,
        lambda channel: ClientHandshake(
            role=ClientRole.AGENT, key=state.key, pins=state.pins, channel=channel
        ),
    )
    return state, ws


async def closed(ws: ClientConnection, seconds: float = 10.0) -> int:
    """Read until the hub hangs up, at most `seconds` (scaled); the close code."""
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(scaled(seconds)):
            while True:
                await ws.recv()
    return int(ws.close_code or 0)
