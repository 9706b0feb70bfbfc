"""What keeps a hub with thousands of devices cheap: heartbeats that do not each write the disk."""

from __future__ import annotations

import time
from pathlib import Path

from protocol.messages import Status, encode_message

from ..classroom import classroom
from .peers import agent_session


async def test_a_heartbeat_writes_last_seen_once_a_minute_and_a_new_user_at_once(
    tmp_path: Path,
) -> None:
    start = int(time.time())  # the test's zero: tokens and certificates are real
    now = [float(start)]
    async with classroom(tmp_path) as room:
        room.hub.clock = lambda: now[0]  # the hub's time, moved by the test
        state, ws = await agent_session(room, "Ada's laptop")
        device = state.device_id
        await room.until(lambda: device in room.hub.agents)
        assert room.store.device(device).last_seen == start  # type: ignore[union-attr]

        async def report(status: Status, *, arrived: object) -> None:
            await ws.send(encode_message(status).decode())
            await room.until(lambda: room.hub.presence[device].locked == arrived)

        # The hub reads a device's reports only once it has set the connection up, which
        # notes when it last wrote "last seen": the clock moves only after that.
        await report(Status(locked=True), arrived=True)
        assert room.store.device(device).last_seen == start  # type: ignore[union-attr]

        now[0] = start + 30
        await report(Status(locked=False), arrived=False)
        assert room.store.device(device).last_seen == start  # type: ignore[union-attr]

        # The hub keeps what the status says, then writes the disk on a worker thread (and
        # tells of the change after the write): wait for the write.
        now[0] = start + 61
        await report(Status(locked=True), arrived=True)
        await room.until(lambda: room.store.device(device).last_seen == start + 61)  # type: ignore[union-attr]

        now[0] = start + 62  # a student signs in: the fleet view shows it at once
        await report(Status(locked=False, user="ada"), arrived=False)
        await room.until(lambda: room.store.device(device).user == "ada")  # type: ignore[union-attr]
        record = room.store.device(device)
        assert record is not None and record.last_seen == start + 62
        await ws.close()
