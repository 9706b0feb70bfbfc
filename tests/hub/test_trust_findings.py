"""Findings of issue 11, each attack made over real sockets: what a thief or insider tries."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
from websockets.asyncio.client import connect

from agent.desktop import HeadlessDesktop
from agent.runtime import Agent
from agent.screen import SyntheticScreen
from console.session import ConsoleSession, Picture
from link.tls import client_context
from protocol.actions import UnlockScreen, Watch
from protocol.certificates import Certificate, CertificateBody, Role, issue_certificate
from protocol.commands import sign_command
from protocol.credentials import StaffCredential
from protocol.errors import ErrorCode, InvalidValue, PeerError
from protocol.handshake import ClientHandshake, HubPins
from protocol.keys import PrivateKey, Purpose
from protocol.limits import fit
from protocol.messages import ClientRole, Error, Event, Hello, Result, encode_message
from protocol.tokens import parse_token
from protocol.types import check_name

from ..classroom import Classroom, Console, Inbox, classroom
from .peers import agent_session


@pytest.fixture
async def room(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with classroom(tmp_path) as room:
        yield room


def signed(org_key: PrivateKey, body: CertificateBody) -> Certificate:
    """A certificate for any body, as whoever holds the organisation key can make."""
    return Certificate(
        body=body, signature=org_key.sign(Purpose.CERTIFICATE, msgspec.json.encode(body))
    )


def minted_admin(room: Classroom, org_key: PrivateKey) -> StaffCredential:
    """What a copy of an old backup of the organisation key lets anyone make."""
    key = PrivateKey.generate()
    certificate = issue_certificate(
        org_key,
        key.public,
        name="Administrator",
        role=Role.ADMIN,
        groups=("*",),
        now=int(time.time()) - 60,
        lifetime=3600,
    )
    real = room.staff("Someone real")
    return msgspec.structs.replace(real, certificate=certificate, private_key=key.to_bytes())


async def test_a_certificate_the_hub_never_recorded_is_refused_at_sign_in(
    room: Classroom,
) -> None:
    minted = minted_admin(room, room.org.key)
    with pytest.raises(PeerError) as refused:
        await ConsoleSession(minted).connect()
    assert refused.value.code is ErrorCode.UNRECORDED_CERTIFICATE
    assert not room.hub.consoles


async def test_a_recorded_serial_with_other_rights_is_refused(room: Classroom) -> None:
    teacher = room.staff("Ms Smith", Role.TEACHER, ("7B",))
    body = teacher.certificate.body
    # Same serial and key, but the thief's copy says admin of every group.
    forged = signed(room.org.key, msgspec.structs.replace(body, role=Role.ADMIN, groups=("*",)))
    with pytest.raises(PeerError) as refused:
        await ConsoleSession(msgspec.structs.replace(teacher, certificate=forged)).connect()
    assert refused.value.code is ErrorCode.UNRECORDED_CERTIFICATE


async def test_any_serial_can_be_revoked_and_stays_refused(room: Classroom) -> None:
    minted = minted_admin(room, room.org.key)
    room.store.revoke_staff(minted.certificate.body.serial, int(time.time()))
    with pytest.raises(PeerError) as refused:
        await ConsoleSession(minted).connect()
    assert refused.value.code is ErrorCode.CERTIFICATE_REVOKED


async def test_the_audit_names_the_whole_serial(room: Classroom) -> None:
    agent = await room.start_agent("Ada's laptop")
    credential = room.staff()
    console = await room.console(credential)
    command = await console.submit(UnlockScreen(), [agent.state.device_id])
    await console.take(Result, lambda r: r.command_id == command.body.id)
    actors = [row.actor for row in room.store.audit(limit=50) if row.action == UnlockScreen().name]
    assert actors == [f"Ms Smith (teacher {credential.certificate.body.serial})"]


async def test_a_console_submits_only_under_the_certificate_it_signed_in_with(
    room: Classroom,
) -> None:
    agent = await room.start_agent("Ada's laptop")
    teacher = room.staff()
    console = await room.console(teacher)
    # Another recorded certificate (an admin's), re-signed onto the teacher's key by a thief.
    admin = room.staff("Head of IT", Role.ADMIN, ("*",)).certificate.body
    borrowed = signed(
        room.org.key,
        msgspec.structs.replace(admin, subject_key=teacher.key.public.raw),
    )
    command = sign_command(
        teacher.key,
        borrowed,
        targets=[agent.state.device_id],
        action=UnlockScreen(),
        now=int(time.time()),
    )
    await console.session.send_signed(command)
    assert (await console.take(Error)).code is ErrorCode.BAD_SIGNATURE


# --- Look-alike names ----------------------------------------------------------------


async def test_a_name_with_a_bidi_override_is_refused_at_enrolment(room: Classroom) -> None:
    token = parse_token(room.token())
    hello = ClientHandshake(
        role=ClientRole.ENROLL,
        key=PrivateKey.generate(),
        pins=HubPins(hub=token.hub, org=token.org),
        channel=b"",
        token=token,
        device_name="Ada's laptop",
    ).start()
    # Sent by hand: our own client would not even build it. U+202E shows "Ada's" reversed
    # text after it, so this device could pose as a classmate's in every list.
    text = encode_message(hello).decode().replace("Ada's laptop", "Ada's laptop\u202e")
    async with connect(room.url, ssl=client_context()) as ws:
        await ws.send(text)
        reply = msgspec.json.decode(await ws.recv())
    assert reply["code"] == ErrorCode.MALFORMED.value
    assert room.store.devices() == []
    assert [t.uses for t in room.store.tokens()] == [0]


@pytest.mark.parametrize("name", ["Ada\u202e", "A\u200bda", "Ada\u2066", "Ada\ue000", "\u00adAda"])
def test_no_name_holds_invisible_or_direction_characters(name: str) -> None:
    with pytest.raises(ValueError, match="cannot be a name"):
        check_name(name)
    assert check_name("Zoë Çelik-Ng 😀") == "Zoë Çelik-Ng 😀"  # letters of any script stay
    with pytest.raises(InvalidValue):
        Hello(
            versions=(1,),
            role=ClientRole.ENROLL,
            key=b"k" * 32,
            nonce=b"n" * 32,
            device_name=name,
            token_id="0" * 32,
        )


# --- The hidden watcher ------------------------------------------------------------


async def console_at(room: Classroom, credential: StaffCredential, clock: Any) -> Console:
    """A console whose clock says `clock()`, collecting what it receives."""
    session = ConsoleSession(credential, clock=clock)
    await session.connect()
    inbox = Inbox(session)
    room.tasks.append(inbox._task)
    return Console(session, inbox)


async def test_a_watch_that_expired_in_the_queue_earns_no_frame(room: Classroom) -> None:
    state, folder = await room.enroll("Ada's laptop")  # enrolled, not online yet
    mallory = await room.console(room.staff("Mr Mallory"))
    # Queued for the offline device, with the longest lease a watch may ask for.
    watch = Watch(width=160, fps=10, lease_seconds=3600)
    await mallory.submit(watch, [state.device_id], queue=True, ttl=60)
    await room.until(lambda: any(r.result == "queued 1" for r in room.store.audit(limit=5)))

    def later() -> float:  # ten minutes on: the queued watch is long out of date
        return time.time() + 600

    room.hub.clock = room.hub.router.clock = later
    agent = Agent(
        state,
        screen=SyntheticScreen("Ada", seed=1),
        desktop=HeadlessDesktop(),
        folder=folder,
        clock=later,
    )
    room.tasks.append(asyncio.create_task(agent.run()))
    await room.until(lambda: state.device_id in room.hub.agents)
    smith = await console_at(room, room.staff("Ms Smith"), later)
    await smith.submit(Watch(width=160, fps=10, lease_seconds=60), [state.device_id])
    for _ in range(3):
        await smith.take(Picture)
    assert agent.desktop.watchers == ("Ms Smith",)  # type: ignore[attr-defined]
    assert not [e for e in mallory.inbox.events if isinstance(e, Picture)]
    assert set(room.hub.router.watchers[state.device_id]) == {
        c for c in room.hub.consoles if c.staff.name == "Ms Smith"
    }


async def test_a_watch_the_device_refuses_earns_no_frame(room: Classroom) -> None:
    # The device's clock runs 400 s ahead (it forgives 120 s): a command signed by a
    # console on time for 60 s has expired there, while the hub (on time) routes it.
    agent = await room.start_agent("Ada's laptop", clock=lambda: time.time() + 400)
    device = agent.state.device_id
    smith = await console_at(room, room.staff("Ms Smith"), lambda: time.time() + 100)
    await smith.submit(Watch(width=160, fps=10, lease_seconds=60), [device], ttl=3600)
    await smith.take(Picture)
    mallory = await room.console(room.staff("Mr Mallory"))
    command = mallory.session.sign(Watch(width=160, fps=10, lease_seconds=3600), [device])
    await mallory.session.send_signed(command)
    refused = await mallory.take(Result, lambda r: r.command_id == command.body.id)
    assert not refused.ok and refused.code is ErrorCode.COMMAND_EXPIRED
    for _ in range(3):
        await smith.take(Picture)
    assert not [e for e in mallory.inbox.events if isinstance(e, Picture)]
    assert agent.desktop.watchers == ("Ms Smith",)  # type: ignore[attr-defined]


async def test_leases_end_when_the_device_goes_away(room: Classroom) -> None:
    agent = await room.start_agent("Ada's laptop")
    device = agent.state.device_id
    smith = await room.console()
    await smith.submit(Watch(width=160, fps=10, lease_seconds=60), [device])
    await smith.take(Picture)
    assert room.hub.router.watchers[device]
    link = room.hub.agents[device]
    await link.ws.close()
    await room.until(lambda: room.hub.agents.get(device) is not link)
    assert not room.hub.router.watchers.get(device)


# --- Terminal escapes from a device ----------------------------------------------------

ESCAPES = "\x1b]0;pwned\x07\x1b[2J\r\naudit chain intact"


@pytest.mark.parametrize(
    "message",
    [
        {"type": "event", "kind": "lock_tampered", "at": 1, "detail": ESCAPES},
        {"type": "inventory", "hostname": "ada", "os": ESCAPES, "agent_version": "1"},
    ],
    ids=["event detail", "inventory os"],
)
async def test_escape_sequences_from_a_device_are_refused(
    room: Classroom, message: dict[str, object]
) -> None:
    _, ws = await agent_session(room, "Mallory's laptop")
    await ws.send(msgspec.json.encode(message).decode())  # by hand: the agent would not
    reply = msgspec.json.decode(await ws.recv())
    assert reply["code"] == ErrorCode.MALFORMED.value
    rows = room.store.audit(limit=100)
    assert not any("\x1b" in row.detail or "pwned" in row.detail for row in rows)


async def test_a_result_detail_with_escapes_is_refused(room: Classroom) -> None:
    state, ws = await agent_session(room, "Mallory's laptop")
    console = await room.console()
    command = await console.submit(UnlockScreen(), [state.device_id])
    result = {
        "type": "result",
        "command_id": command.body.id,
        "device_id": state.device_id,
        "ok": True,
        "detail": ESCAPES,
    }
    while "deliver" not in await ws.recv():  # its copy of the command
        pass
    await ws.send(msgspec.json.encode(result).decode())
    error = msgspec.json.decode(await ws.recv())
    assert error["code"] == ErrorCode.MALFORMED.value
    assert not [e for e in console.inbox.events if isinstance(e, Result) and e.ok]


def test_the_agent_fits_what_it_reports_to_the_rule() -> None:
    event = Event(kind="lock_tampered", at=1, detail=fit(ESCAPES, 500, printable=True))
    assert "\x1b" not in event.detail
    with pytest.raises(InvalidValue):
        Event(kind="lock_tampered", at=1, detail=ESCAPES)
