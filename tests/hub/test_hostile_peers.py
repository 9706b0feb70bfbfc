"""Peers that are authenticated but hostile or broken: floods, stalls, stale rights."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import msgspec
import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

from hub.links import MAX_OUTBOX
from link.dial import open_session
from link.tls import client_context
from protocol.certificates import Role, issue_certificate
from protocol.credentials import StaffCredential
from protocol.errors import ErrorCode, PeerError
from protocol.handshake import ClientHandshake
from protocol.keys import PrivateKey
from protocol.messages import (
    ClientRole,
    DeviceChanged,
    Event,
    Result,
    Roster,
    Status,
    encode_message,
)

from ..classroom import Classroom, classroom
from ..support import scaled
from .peers import agent_session, closed


@pytest.fixture
async def room(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with classroom(tmp_path) as room:
        yield room


async def test_a_flood_of_events_is_refused_then_cut_off(room: Classroom) -> None:
    _, ws = await agent_session(room, "Mallory's laptop")
    before = len(room.store.audit(limit=1000))
    for _ in range(200):
        await ws.send(encode_message(Event(kind="spam", at=1, detail="x" * 400)).decode())
    assert await closed(ws) == 1008
    assert room.hub.refusals[ErrorCode.BUSY] >= 1
    assert len(room.store.audit(limit=1000)) - before <= 35  # the burst, not the flood


async def test_a_result_nobody_asked_for_is_refused(room: Classroom) -> None:
    state, ws = await agent_session(room, "Mallory's laptop")
    made_up = Result(command_id="0" * 32, device_id=state.device_id, ok=True)
    await ws.send(encode_message(made_up).decode())
    reply = msgspec.json.decode(await ws.recv())
    assert reply["code"] == "out_of_state"


async def test_an_unchanged_status_is_not_broadcast(room: Classroom) -> None:
    _, ws = await agent_session(room, "Ada's laptop")
    console = await room.console()
    for _ in range(20):
        await ws.send(encode_message(Status(locked=False, user="ada")).decode())
    await ws.send(encode_message(Status(locked=True, user="ada")).decode())
    await console.take(DeviceChanged, lambda e: e.device.locked)
    changes = [e for e in console.inbox.events if isinstance(e, DeviceChanged)]
    assert len(changes) <= 2  # online, then the first "ada" status; never 20


async def test_a_console_that_stops_reading_is_hung_up_on_alone(room: Classroom) -> None:
    agent = await room.start_agent("Ada's laptop")
    stalled = await room.console()
    honest = await room.console(room.staff("Mr Jones"))
    await room.until(lambda: len(room.hub.consoles) == 2)
    link = next(c for c in room.hub.consoles if c.staff.name == "Ms Smith")
    for _ in range(MAX_OUTBOX + 1):  # as if it had not read for a long time
        link.post(Status(locked=False))  # posting never waits, whatever the console does
    await room.until(lambda: link not in room.hub.consoles)
    await asyncio.wait_for(stalled.inbox._task, scaled(10))  # its connection was closed
    from protocol.actions import UnlockScreen

    command = await honest.submit(UnlockScreen(), [agent.state.device_id])
    result = await honest.take(Result, lambda r: r.command_id == command.body.id)
    assert result.ok


async def test_a_console_behind_on_a_device_gets_its_newest_state_once_and_stays(
    room: Classroom,
) -> None:
    # 8 a.m. or a class just watched: thousands of states for devices a console covers
    # arrive faster than it reads. It must not be hung up on, nor read every stale state
    # before the result it waits for.
    agent = await room.start_agent("Ada's laptop")
    console = await room.console()
    await room.until(lambda: len(room.hub.consoles) == 1)
    [link] = room.hub.consoles
    record = room.store.device(agent.state.device_id)
    assert record is not None
    state = room.hub.device_state(record)
    for n in range(MAX_OUTBOX + 1):  # posted at once: the console reads none in between
        link.post(DeviceChanged(device=msgspec.structs.replace(state, user=f"u{n}")))
    link.post(Roster(devices=()))  # anything else keeps its place behind them
    await console.take(Roster)  # the one it signed in with
    await console.take(Roster)
    posted = [
        e.device.user
        for e in console.inbox.events
        if isinstance(e, DeviceChanged) and e.device.user.startswith("u")
    ]  # the device's own status may come through too
    assert posted == [f"u{MAX_OUTBOX}"]
    assert link in room.hub.consoles and not link.too_slow


async def test_a_guardian_credential_naming_no_device_cannot_sign_in(room: Classroom) -> None:
    # The organisation's tool and `staff add` refuse one; one signed and recorded anyway
    # would cover a whole group.
    key = PrivateKey.generate()
    certificate = issue_certificate(
        room.org.key, key.public, name="A parent", role=Role.GUARDIAN, groups=("7B",),
        now=int(time.time()) - 60, lifetime=3600,
    )  # fmt: skip
    credential = StaffCredential(
        hub_url=room.url,
        hub=room.keyring.hub_key.public.fingerprint,
        org=room.org.public.fingerprint,
        certificate=certificate,
        private_key=key.to_bytes(),
    )
    body = certificate.body
    room.store.add_staff(
        body.serial, body.name, body.role.value, list(body.groups), body.expires_at, body.issued_at
    )
    with pytest.raises(PeerError) as caught:
        await room.console(credential)
    assert caught.value.code is ErrorCode.WRONG_ROLE


async def test_the_whole_audit_log_is_for_school_wide_it_only(room: Classroom) -> None:
    from protocol.messages import Answer

    for staff, everything in (
        (room.staff(), False),
        (room.staff("Sam (IT, 8C)", Role.IT, ("8C",)), False),
        (room.staff("Sam (IT)", Role.IT, ("*",)), True),
    ):
        console = await room.console(staff)
        await console.session.query("audit")
        answer = await console.take(Answer)
        name = staff.certificate.body.name
        # Anyone else sees only their own rows (none yet): no other person's, no device's.
        assert bool(answer.audit) is everything
        assert everything or all(row.actor.startswith(name) for row in answer.audit)


async def test_a_revoked_credential_loses_its_open_session(room: Classroom) -> None:
    credential = room.staff()
    console = await room.console(credential)
    await room.until(lambda: len(room.hub.consoles) == 1)
    room.store.revoke_staff(credential.certificate.body.serial, int(time.time()))
    await room.hub.housekeep()  # the console sends nothing: only housekeeping can notice
    await asyncio.wait_for(console.inbox._task, scaled(10))  # its connection is over
    await room.until(lambda: not room.hub.consoles)


async def test_a_removed_device_loses_its_open_session(room: Classroom) -> None:
    state, ws = await agent_session(room, "Ada's laptop")  # online, and saying nothing
    room.store.remove_device(state.device_id, int(time.time()))
    await room.hub.housekeep()
    assert await closed(ws) == 1008 and ws.close_reason == "device removed by IT"
    await room.until(lambda: state.device_id not in room.hub.agents)


async def test_a_removed_device_is_cut_off_at_its_next_report(room: Classroom) -> None:
    state, ws = await agent_session(room, "Ada's laptop")
    room.store.remove_device(state.device_id, int(time.time()))
    await ws.send(encode_message(Status(locked=False, user="ada")).decode())
    assert await closed(ws) == 1008 and ws.close_reason == "device removed by IT"


async def test_strangers_cannot_send_big_messages_before_signing_in(room: Classroom) -> None:
    async with connect(room.url, ssl=client_context(), max_size=None) as ws:
        await ws.send(os.urandom(64 * 1024))
        assert await closed(ws) == 1009  # message too big, before any parsing


async def test_a_hub_that_never_answers_does_not_hold_the_client(room: Classroom) -> None:
    async def silent(ws) -> None:  # type: ignore[no-untyped-def]
        await ws.wait_closed()  # accepts the connection, then says nothing at all

    async with serve(silent, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        state, _ = await room.enroll("Ada's laptop")
        with pytest.raises(TimeoutError):
            await open_session(
                f"ws://127.0.0.1:{port}",
                lambda channel: ClientHandshake(
                    role=ClientRole.AGENT, key=state.key, pins=state.pins, channel=channel
                ),
                open_timeout=scaled(0.5),
            )


async def test_a_console_that_stops_reading_does_not_delay_a_lock_to_another_device(
    room: Classroom,
) -> None:
    from protocol.actions import LockScreen, Watch

    watched = await room.start_agent("Ada's laptop")
    other = await room.start_agent("Ben's laptop")
    stalled = await room.console(room.staff("Mr Stall"))
    honest = await room.console()
    watch = await stalled.submit(
        Watch(width=160, fps=10, lease_seconds=60), [watched.state.device_id]
    )
    await stalled.take(Result, lambda r: r.command_id == watch.body.id)
    link = next(c for c in room.hub.consoles if c.staff.name == "Mr Stall")
    await room.until(lambda: room.hub.frames_relayed > 0)
    assert stalled.session._ws is not None
    stalled.session._ws.transport.pause_reading()  # the console stops reading, keeps the socket
    # Its screen is huge, say: big frames fill every buffer between the hub and the console.
    while link.ws.transport.get_write_buffer_size() == 0:
        link.offer_frame(room.hub.stream_of(watched.state.device_id), os.urandom(1 << 20))
        await asyncio.sleep(0)  # let its pump write, until the kernel will take no more
    # Only the newest frame waits for a console that does not read: the next replaces it.
    # (Offered here: the agent sends nothing while its screen does not change.)
    dropped = link.frames_dropped
    link.offer_frame(room.hub.stream_of(watched.state.device_id), os.urandom(1 << 10))
    link.offer_frame(room.hub.stream_of(watched.state.device_id), os.urandom(1 << 10))
    assert link.frames_dropped > dropped
    command = await honest.submit(LockScreen(message="Eyes on me"), [other.state.device_id])
    result = await honest.take(Result, lambda r: r.command_id == command.body.id)
    assert result.ok and other.desktop.locked
    assert link in room.hub.consoles  # the stalled console is still connected, not hung up on


async def test_a_console_may_watch_only_so_many_screens(room: Classroom) -> None:
    from protocol.actions import Watch

    devices = [(await room.start_agent(name)).state.device_id for name in ("Ada", "Ben", "Cy")]
    room.hub.router.max_watches = 2
    console = await room.console()
    watch = await console.submit(Watch(width=160, fps=1, lease_seconds=30), devices)
    answers: dict[str, Result] = {}
    for _ in devices:
        result = await console.take(Result, lambda r: r.command_id == watch.body.id)
        answers[result.device_id] = result
    assert [answers[d].ok for d in devices] == [True, True, False]
    assert answers[devices[2]].code is ErrorCode.TOO_MANY_WATCHES
    renewal = await console.submit(Watch(width=160, fps=1, lease_seconds=30), devices[:2])
    for _ in devices[:2]:  # renewing what it already watches is always allowed
        assert (await console.take(Result, lambda r: r.command_id == renewal.body.id)).ok
