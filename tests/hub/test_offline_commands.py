"""Commands to an offline device: kept until their expiry or refused at once, as the sender
chose, and the sender is told which, over a real hub and through `homeroom-console do`."""

from __future__ import annotations

import json
from pathlib import Path

from protocol.actions import SendMessage
from protocol.errors import ErrorCode
from protocol.messages import CommandQueued, Result

from ..agent.test_actions_console_do import console_do
from ..classroom import classroom


async def test_the_sender_is_told_a_command_is_queued_or_refused_for_an_offline_device(
    tmp_path: Path,
) -> None:
    async with classroom(tmp_path) as room:
        ada, _ = await room.enroll("Ada's laptop")  # enrolled, offline (at home)
        bilal = await room.start_agent("Bilal's laptop")
        a, b = ada.device_id, bilal.state.device_id
        teacher = await room.console()

        kept = await teacher.submit(SendMessage(text="See me"), [a, b], queue=True, ttl=600)
        notice = await teacher.take(CommandQueued, lambda q: q.command_id == kept.body.id)
        assert (notice.device_id, notice.expires_at) == (a, kept.body.expires_at)
        done = await teacher.take(Result, lambda r: r.command_id == kept.body.id)
        assert done.device_id == b and done.ok
        assert [q.command_id for q in room.store.queued(a)] == [kept.body.id]

        refused = await teacher.submit(SendMessage(text="Now"), [a], ttl=600)
        result = await teacher.take(Result, lambda r: r.command_id == refused.body.id)
        assert (result.device_id, result.ok, result.code) == (a, False, ErrorCode.DEVICE_OFFLINE)
        assert not [
            e
            for e in teacher.inbox.events
            if isinstance(e, CommandQueued) and e.command_id == refused.body.id
        ]
        assert [q.command_id for q in room.store.queued(a)] == [kept.body.id]


async def test_console_do_prints_which_devices_have_it_queued_and_which_refused(
    tmp_path: Path,
) -> None:
    async with classroom(tmp_path) as room:
        await room.enroll("Ada's laptop")
        await room.start_agent("Bilal's laptop")
        to = ["--to", "Ada's laptop", "--to", "Bilal's laptop"]

        code, out, err = await console_do(room, "message", *to, "text=See me", "--queue")
        assert code == 0, err  # queued is what the sender asked for
        lines = out.splitlines()
        assert lines[0].startswith("Ada's laptop: QUEUED: offline; sent when it connects")
        assert lines[1] == "Bilal's laptop: ok"

        code, out, err = await console_do(room, "message", *to, "text=Now", "--json")
        assert code == 1, err
        rows = {row["name"]: row for row in json.loads(out)}
        assert rows["Ada's laptop"]["code"] == "device_offline" and not rows["Ada's laptop"]["ok"]
        assert rows["Bilal's laptop"]["ok"]
