"""The hub's timers, shortened by injection: housekeeping, the handshake deadline, slow devices."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from agent.desktop import HeadlessDesktop
from agent.runtime import Agent
from agent.screen import SyntheticScreen
from link.tls import client_context
from protocol.actions import LockScreen
from protocol.messages import Result

from ..classroom import classroom
from ..support import scaled
from .peers import agent_session, closed

#: The most a test waits for a timer it shortened: well below each default (5 s or more),
#: so a test fails if the hub ignored the value it was given.
WELL_BEFORE_THE_DEFAULT = 1.0


async def test_housekeeping_runs_by_itself_at_the_period_it_was_given(tmp_path: Path) -> None:
    async with classroom(tmp_path, housekeeping_seconds=0.01) as room:
        credential = room.staff()
        console = await room.console(credential)
        await room.until(lambda: len(room.hub.consoles) == 1)
        room.store.revoke_staff(credential.certificate.body.serial, int(time.time()))
        await room.until(lambda: not room.hub.consoles, seconds=WELL_BEFORE_THE_DEFAULT)
        await asyncio.wait_for(console.inbox._task, scaled(10))


async def test_a_silent_client_is_dropped_at_the_handshake_deadline(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "homeroom.hub")
    async with (
        # From accept to sign-in (TLS and the upgrade included): long enough to open.
        classroom(tmp_path, handshake_seconds=scaled(0.5)) as room,
        connect(room.url, ssl=client_context()) as ws,
    ):
        code = await closed(ws, seconds=WELL_BEFORE_THE_DEFAULT)  # it never said a word
        assert (code, ws.close_reason) == (1008, "handshake_timeout")
    assert any("handshake_timeout" in r.getMessage() for r in caplog.records)
    assert not room.hub.agents and not room.hub.consoles


async def test_a_device_too_slow_to_take_a_command_is_dropped_and_the_command_kept(
    tmp_path: Path,
) -> None:
    async with classroom(tmp_path, delivery_seconds=0.05) as room:
        state, ws = await agent_session(room, "Ada's laptop")
        console = await room.console()
        link = room.hub.agents[state.device_id]
        try:
            # The device stops reading (asleep with its socket open, or on a link that
            # has stalled), and what the hub sent it before fills every buffer between:
            # the kernel's, the TCP transport's, then the TLS layer's above its limit.
            ws.transport.pause_reading()
            for unread in (_more_than_the_network_holds(), 2 * link.ws.write_limit_high):
                link.ws.protocol.send_binary(bytes(unread))
                link.ws.send_data()
            assert link.ws.transport.get_write_buffer_size() > link.ws.write_limit_high
            command = await console.submit(
                LockScreen(message="Stay after class"), [state.device_id], queue=True, ttl=600
            )
            # Treated as offline: its connection is dropped, not waited on.
            await room.until(
                lambda: state.device_id not in room.hub.agents, seconds=WELL_BEFORE_THE_DEFAULT
            )
            assert room.store.audit(limit=1)[0].result == "delivered 1"  # as planned
        finally:
            ws.transport.abort()
        # The command was kept for it: the device's real agent gets it when it comes back.
        desktop = HeadlessDesktop()
        agent = Agent(
            state,
            screen=SyntheticScreen("Ada", 1),
            desktop=desktop,
            folder=room.folder / "agents" / "Ada's laptop",
        )
        room.tasks.append(asyncio.create_task(agent.run()))
        result = await console.take(Result, lambda r: r.command_id == command.body.id)
        assert result.ok and desktop.locked and desktop.lock_message == "Stay after class"


def _more_than_the_network_holds() -> int:
    """Bytes enough to fill the hub's socket send buffer at its largest, and then some.

    A device that reads nothing takes, at most, its receive window and its TLS layer's
    buffer (a few hundred KiB); the rest stays in the hub's TCP transport, which holds
    back the TLS layer, so whatever the hub sends next waits in the TLS layer.
    """
    try:
        largest = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, ValueError, IndexError):
        largest = 8 << 20
    return largest + (4 << 20)
