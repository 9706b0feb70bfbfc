"""Commands queued for offline devices: sent at most once, kept until their result or expiry."""

from __future__ import annotations

import time
from pathlib import Path

from websockets.asyncio.client import ClientConnection

from link.dial import open_session
from protocol.actions import SendMessage
from protocol.certificates import CLOCK_SKEW
from protocol.errors import ErrorCode
from protocol.handshake import ClientHandshake
from protocol.messages import ClientRole, Deliver, Result, decode_message, encode_message

from ..classroom import classroom
from .peers import closed


async def test_a_queued_command_leaves_once_and_stays_until_its_result(tmp_path: Path) -> None:
    async with classroom(tmp_path) as room:
        state, _ = await room.enroll("Ada's laptop")  # enrolled, offline
        console = await room.console()
        queued = await console.submit(
            SendMessage(text="See me"), [state.device_id], queue=True, ttl=600
        )
        await room.until(lambda: bool(room.store.queued(state.device_id)))

        async def dial() -> ClientConnection:
            ws, _ = await open_session(
                room.url,
                lambda channel: ClientHandshake(
                    role=ClientRole.AGENT, key=state.key, pins=state.pins, channel=channel
                ),
            )
            return ws

        ws = await dial()
        delivered = decode_message(await ws.recv())
        assert isinstance(delivered, Deliver) and delivered.command.body.id == queued.body.id
        [kept] = room.store.queued(state.device_id)
        assert kept.delivered_at is not None  # taken, but not gone: no result yet
        ws.transport.abort()  # the device vanishes before answering
        await room.until(lambda: state.device_id not in room.hub.agents)

        ws = await dial()  # back again: the command is not sent a second time
        live = await console.submit(SendMessage(text="Hello"), [state.device_id])
        first = decode_message(await ws.recv())
        assert isinstance(first, Deliver) and first.command.body.id == live.body.id
        # The answer to the queued command, late: it still reaches the teacher, once.
        answer = Result(command_id=queued.body.id, device_id=state.device_id, ok=True)
        await ws.send(encode_message(answer).decode())
        result = await console.take(Result, lambda r: r.command_id == queued.body.id)
        assert result.ok
        assert room.store.queued(state.device_id) == []
        await ws.send(encode_message(answer).decode())  # twice is refused
        assert decode_message(await ws.recv()).code is ErrorCode.OUT_OF_STATE  # type: ignore[attr-defined]
        await ws.close()
        assert await closed(ws) == 1000


async def test_an_expired_queued_command_is_reported_to_its_sender(tmp_path: Path) -> None:
    skew = [0.0]
    async with classroom(tmp_path, clock=lambda: time.time() + skew[0]) as room:
        state, _ = await room.enroll("Ada's laptop")  # and it never comes online
        credential = room.staff()
        console = await room.console(credential)
        first = await console.submit(SendMessage(text="A"), [state.device_id], queue=True, ttl=60)
        second = await console.submit(SendMessage(text="B"), [state.device_id], queue=True, ttl=600)
        await room.until(lambda: len(room.store.queued(state.device_id)) == 2)

        skew[0] = 61
        await room.hub.housekeep()
        result = await console.take(Result, lambda r: r.command_id == first.body.id)
        assert result.code is ErrorCode.COMMAND_EXPIRED and not result.ok
        assert "before the device came online" in result.detail
        assert [q.command_id for q in room.store.queued()] == [second.body.id]
        assert room.store.audit(limit=1)[0].action == "expired"

        # Expired while the teacher was away: told at the next sign-in.
        await console.session.close()
        await room.until(lambda: not room.hub.consoles)
        skew[0] = 601 + CLOCK_SKEW
        await room.hub.housekeep()
        assert len(room.store.queued()) == 1  # kept until the sender can be told
        console = await room.console(credential)
        result = await console.take(Result, lambda r: r.command_id == second.body.id)
        assert result.code is ErrorCode.COMMAND_EXPIRED
        assert room.store.queued() == []
