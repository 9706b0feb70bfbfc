"""A stalled disk delays only what needs it: frames keep flowing while a command waits."""

from __future__ import annotations

from pathlib import Path

from agent.desktop import HeadlessDesktop
from protocol.actions import SendMessage, Watch
from protocol.messages import Result

from ..classroom import classroom


async def test_frames_flow_while_the_store_is_stalled(tmp_path: Path) -> None:
    async with classroom(tmp_path) as room:
        desktop = HeadlessDesktop()
        agent = await room.start_agent("Ada's laptop", desktop=desktop)
        device = agent.state.device_id
        watcher = await room.console(room.staff("Mr Watch"))
        watch = await watcher.submit(Watch(width=160, fps=30, lease_seconds=60), [device])
        await watcher.take(Result, lambda r: r.command_id == watch.body.id)
        await room.until(lambda: room.hub.frames_relayed > 0)
        teacher = await room.console()

        # The disk stalls (a backup holds the file, a drive retries a sector): every store
        # call now waits, on the store's thread. The event loop must not.
        room.store._lock.acquire()
        try:
            command = await teacher.submit(SendMessage(text="Pens down"), [device])
            before = room.hub.frames_relayed
            await room.until(lambda: room.hub.frames_relayed >= before + 5)
            # The message waits for its audit row, as it must: not sent unaudited.
            assert not any(isinstance(e, Result) for e in teacher.inbox.events)
            assert not desktop.messages
        finally:
            room.store._lock.release()
        result = await teacher.take(Result, lambda r: r.command_id == command.body.id)
        assert result.ok and [m.text for m in desktop.messages] == ["Pens down"]
