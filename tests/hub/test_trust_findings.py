"""Findings of issue 11, each attack made over real sockets: what a thief or insider tries."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
import pytest
from websockets.asyncio.client import connect

from console.session import ConsoleSession
from link.tls import client_context
from protocol.actions import UnlockScreen
from protocol.certificates import Certificate, CertificateBody, Role, issue_certificate
from protocol.commands import sign_command
from protocol.credentials import StaffCredential
from protocol.errors import ErrorCode, InvalidValue, PeerError
from protocol.handshake import ClientHandshake, HubPins
from protocol.keys import PrivateKey, Purpose
from protocol.messages import ClientRole, Error, Hello, Result, encode_message
from protocol.tokens import parse_token
from protocol.types import check_name

from ..classroom import Classroom, classroom


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
    minted = minted_admin(room, room.keyring.org_key)
    with pytest.raises(PeerError) as refused:
        await ConsoleSession(minted).connect()
    assert refused.value.code is ErrorCode.UNRECORDED_CERTIFICATE
    assert not room.hub.consoles


async def test_a_recorded_serial_with_other_rights_is_refused(room: Classroom) -> None:
    teacher = room.staff("Ms Smith", Role.TEACHER, ("7B",))
    body = teacher.certificate.body
    # Same serial and key, but the thief's copy says admin of every group.
    forged = signed(
        room.keyring.org_key, msgspec.structs.replace(body, role=Role.ADMIN, groups=("*",))
    )
    with pytest.raises(PeerError) as refused:
        await ConsoleSession(msgspec.structs.replace(teacher, certificate=forged)).connect()
    assert refused.value.code is ErrorCode.UNRECORDED_CERTIFICATE


async def test_any_serial_can_be_revoked_and_stays_refused(room: Classroom) -> None:
    minted = minted_admin(room, room.keyring.org_key)
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
        room.keyring.org_key,
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
