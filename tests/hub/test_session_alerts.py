"""A device that drops off during its class's session is flagged to that session's teacher at
once, with the time, over real sockets; nobody is told outside a session, or another teacher."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from hub.audit import AuditRecord
from protocol.messages import Answer, DeviceAlert, DeviceChanged, Event, encode_message

from ..agent.actions_kit import eventually
from ..classroom import Classroom, classroom


async def stop_agent(room: Classroom, device_id: str) -> None:
    """Stop a device's agent, as a student ending its process would, and wait till it is gone."""
    agent = room.agents[device_id]
    task = room.tasks[list(room.agents).index(device_id)]
    assert agent.state.device_id == device_id and agent._ws is not None
    agent._ws.transport.abort()  # the process ended: its kernel closes the socket
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await room.until(lambda: device_id not in room.hub.agents)


async def test_a_device_that_drops_off_in_a_session_is_flagged_to_its_teacher(
    tmp_path: Path,
) -> None:
    now = [float(int(time.time()))]
    async with classroom(tmp_path, clock=lambda: now[0]) as room:
        ada = await room.start_agent("Ada")
        bilal = await room.start_agent("Bilal")
        cara = await room.start_agent("Cara")  # in no class
        a, b, c = (x.state.device_id for x in (ada, bilal, cara))
        room.store.create_class("Maths 7B", "7B", int(now[0]))
        room.store.add_to_class("Maths 7B", a)
        room.store.add_to_class("Maths 7B", b)
        smith = await room.console(room.staff("Ms Smith"))
        jones = await room.console(room.staff("Mr Jones"))  # same group, not her lesson
        started = await smith.session.class_session("Maths 7B", "start")
        await smith.take(Answer, lambda answer: answer.id == started)

        now[0] += 125  # two minutes into the lesson, Ada's agent is stopped
        await stop_agent(room, a)
        alert = await smith.take(DeviceAlert)
        assert (alert.device_id, alert.kind, alert.at) == (a, "left_session", int(now[0]))
        assert alert.detail == "went offline during Maths 7B"
        await smith.take(DeviceChanged, lambda d: d.device.device_id == a and not d.device.online)

        def recorded() -> list[AuditRecord]:
            return [r for r in room.store.audit(limit=50) if r.action == "left_session"]

        await eventually(recorded, "the drop-off was not recorded")  # written after the alert
        [kept] = recorded()
        assert (kept.actor, kept.targets, kept.at) == ("hub", (a,), alert.at)

        await stop_agent(room, c)  # in no class: no alert
        ended = await smith.session.class_session("Maths 7B", "end")
        await smith.take(Answer, lambda answer: answer.id == ended)
        await stop_agent(room, b)  # the lesson is over: going offline is nobody's business
        await smith.take(DeviceChanged, lambda d: d.device.device_id == b and not d.device.online)
        assert not [e for e in smith.inbox.events if isinstance(e, DeviceAlert)]
        await jones.take(DeviceChanged, lambda d: d.device.device_id == b and not d.device.online)
        assert not [e for e in jones.inbox.events if isinstance(e, DeviceAlert)]
        assert len(recorded()) == 1


async def test_a_device_cannot_raise_the_hubs_own_alert(tmp_path: Path) -> None:
    async with classroom(tmp_path) as room:
        ada = await room.start_agent("Ada")
        teacher = await room.console()
        forged = Event(kind="left_session", at=int(time.time()), detail="not me")
        assert ada._ws is not None
        await ada._ws.send(encode_message(forged).decode())
        # Recorded as what the device said, but no alert: sent after it, a real one arrives first.
        real = Event(kind="lock_tampered", at=int(time.time()), detail="unmapped")
        await ada._ws.send(encode_message(real).decode())
        alert = await teacher.take(DeviceAlert)
        assert alert.kind == "lock_tampered"
        assert not [e for e in teacher.inbox.events if isinstance(e, DeviceAlert)]
