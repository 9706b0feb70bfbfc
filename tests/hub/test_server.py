"""The hub over real websockets and TLS on loopback: enrolment, presence, routing, refusals."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import msgspec
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from agent.desktop import HeadlessDesktop
from agent.enrollment import enroll
from hub.admin import create_token
from hub.store import StoreUnavailable
from link.dial import open_session
from link.tls import client_context
from protocol.actions import LockScreen, SendMessage, UnlockScreen, Watch
from protocol.certificates import Role, issue_certificate
from protocol.credentials import StaffCredential
from protocol.errors import ErrorCode, PeerError
from protocol.handshake import ClientHandshake
from protocol.keys import PrivateKey
from protocol.messages import (
    ClientRole,
    DeviceChanged,
    Error,
    Result,
    Roster,
)

from ..classroom import Classroom, classroom
from ..support import scaled


@pytest.fixture
async def room(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with classroom(tmp_path) as room:
        yield room


async def test_enrol_then_connect_and_appear_in_the_roster(room: Classroom) -> None:
    agent = await room.start_agent("Ada's laptop")
    console = await room.console()
    roster = await console.take(Roster)
    assert [d.name for d in roster.devices] == ["Ada's laptop"]
    assert roster.devices[0].online
    assert os.stat(agent.folder / "device.json").st_mode & 0o777 == 0o600  # type: ignore[operator]


async def test_lock_unlock_and_message_reach_the_agent(room: Classroom) -> None:
    desktop = HeadlessDesktop()
    agent = await room.start_agent("Ada's laptop", desktop=desktop)
    console = await room.console()
    device = agent.state.device_id
    command = await console.submit(LockScreen(message="Eyes on me"), [device])
    result = await console.take(Result)
    assert result.ok and result.command_id == command.body.id
    assert desktop.locked and desktop.lock_message == "Eyes on me"
    changed = await console.take(DeviceChanged, lambda e: e.device.locked)
    assert changed.device.device_id == device
    await console.submit(SendMessage(text="5 minutes left"), [device])
    assert (await console.take(Result)).ok
    assert desktop.messages[-1].text == "5 minutes left"
    assert desktop.messages[-1].sender == "Ms Smith"
    await console.submit(UnlockScreen(), [device])
    assert (await console.take(Result)).ok
    assert not desktop.locked
    actions = [row.action for row in room.store.audit(limit=20)]
    assert {"lock", "unlock", "message", "result", "enroll"} <= set(actions)
    assert room.store.verify_audit() is None


async def test_device_that_never_enrolled_is_refused(
    room: Classroom, caplog: pytest.LogCaptureFixture
) -> None:
    stranger = PrivateKey.generate()
    with pytest.raises(PeerError) as caught:
        await open_session(
            room.url,
            lambda channel: ClientHandshake(
                role=ClientRole.AGENT, key=stranger, pins=_pins(room), channel=channel
            ),
        )
    assert caught.value.code is ErrorCode.UNKNOWN_DEVICE
    assert room.hub.refusals[ErrorCode.UNKNOWN_DEVICE] == 1
    assert_logged(caplog, "unknown_device")


async def test_student_device_key_presented_as_staff(
    room: Classroom, caplog: pytest.LogCaptureFixture
) -> None:
    state, _ = await room.enroll("Ada's laptop")
    # The student makes herself an "admin" certificate with her device key.
    forged = issue_certificate(
        state.key,
        state.key.public,
        name="Ada",
        role=Role.ADMIN,
        groups=("*",),
        now=0,
        lifetime=10**10,
    )
    with pytest.raises(PeerError) as caught:
        await open_session(
            room.url,
            lambda channel: ClientHandshake(
                role=ClientRole.CONSOLE,
                key=state.key,
                pins=_pins(room),
                channel=channel,
                certificate=forged,
            ),
        )
    assert caught.value.code is ErrorCode.UNTRUSTED_ISSUER
    assert_logged(caplog, "untrusted_issuer")


async def test_command_signed_by_an_uncertified_key(
    room: Classroom, caplog: pytest.LogCaptureFixture
) -> None:
    agent = await room.start_agent("Ada's laptop")
    console = await room.console()
    rogue_org = PrivateKey.generate()
    forged_cert = issue_certificate(
        rogue_org,
        console.session._key.public,
        name="Ms Smith",
        role=Role.ADMIN,
        groups=("*",),
        now=0,
        lifetime=10**10,
    )
    forged = StaffCredential(
        hub_url=room.url,
        hub=console.session.credential.hub,
        org=console.session.credential.org,
        certificate=forged_cert,
        private_key=console.session._key.to_bytes(),
    )
    command = ConsoleSession_sign(forged, LockScreen(), [agent.state.device_id])
    await console.session.send_signed(command)
    error = await console.take(Error)
    assert error.code is ErrorCode.UNTRUSTED_ISSUER
    assert not agent.desktop.locked
    await _still_serving(room, console, agent)
    assert_logged(caplog, "untrusted_issuer")


async def test_command_captured_and_sent_again(
    room: Classroom, caplog: pytest.LogCaptureFixture
) -> None:
    desktop = HeadlessDesktop()
    agent = await room.start_agent("Ada's laptop", desktop=desktop)
    console = await room.console()
    command = await console.submit(LockScreen(), [agent.state.device_id])
    assert (await console.take(Result)).ok
    await console.session.send_signed(command)
    error = await console.take(Error)
    assert error.code is ErrorCode.REPLAYED
    # Even a hub that let it through would meet the agent's own replay cache.
    from protocol.messages import Deliver

    result = await agent.carry_out(Deliver(command=command))
    assert result.code is ErrorCode.REPLAYED
    await _still_serving(room, console, agent)
    assert_logged(caplog, "replayed")


async def test_message_over_its_size_limit(
    room: Classroom, caplog: pytest.LogCaptureFixture
) -> None:
    agent = await room.start_agent("Ada's laptop")
    console = await room.console()
    oversized = (
        b'{"type": "query", "id": "' + b"0" * 32 + b'", "subject": "roster"' + b" " * 8000 + b"}"
    )
    await console.session._ws.send(oversized.decode())  # type: ignore[union-attr]
    error = await console.take(Error)
    assert error.code is ErrorCode.TOO_LARGE
    await _still_serving(room, console, agent)
    assert_logged(caplog, "too_large")


async def test_random_bytes_after_the_handshake(
    room: Classroom, caplog: pytest.LogCaptureFixture
) -> None:
    agent = await room.start_agent("Ada's laptop")
    state, _ = await room.enroll("Bob's laptop")
    ws, _ = await open_session(
        room.url,
        lambda channel: ClientHandshake(
            role=ClientRole.AGENT, key=state.key, pins=state.pins, channel=channel
        ),
    )
    await ws.send(os.urandom(300))
    reply = msgspec.json.decode(await ws.recv())
    assert reply["type"] == "error" and reply["code"] == "malformed"
    await ws.send("\x00garbage\xff")
    assert msgspec.json.decode(await ws.recv())["code"] == "malformed"
    for _ in range(5):  # too many: the hub hangs up on this one connection
        await ws.send(os.urandom(64))
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(scaled(10)):
            while True:
                await ws.recv()
    assert ws.close_code == 1008
    console = await room.console()
    await _still_serving(room, console, agent)
    assert_logged(caplog, "malformed")


async def test_second_connection_claiming_a_device_without_its_key(
    room: Classroom, caplog: pytest.LogCaptureFixture
) -> None:
    agent = await room.start_agent("Ada's laptop")
    impostor = PrivateKey.generate()
    victim = agent.state

    # The impostor announces the victim's key but cannot sign with it.
    class Impersonation(ClientHandshake):
        """Says it is the victim's key everywhere, but can only sign with its own."""

        def start(self):  # type: ignore[no-untyped-def]
            hello = super().start()
            return msgspec.structs.replace(hello, key=victim.key.public.raw)

        def _transcript(self, version, hub_nonce, hub_key):  # type: ignore[no-untyped-def]
            real_key, self._key = self._key, victim.key  # only to lay out the same bytes
            try:
                return super()._transcript(version, hub_nonce, hub_key)
            finally:
                self._key = real_key

    with pytest.raises(PeerError) as caught:
        await open_session(
            room.url,
            lambda channel: Impersonation(
                role=ClientRole.AGENT, key=impostor, pins=victim.pins, channel=channel
            ),
        )
    assert caught.value.code is ErrorCode.BAD_SIGNATURE
    assert room.hub.agents[victim.device_id] is not None  # the real device stays connected
    console = await room.console()
    await _still_serving(room, console, agent)
    assert_logged(caplog, "bad_signature")


async def test_token_expired_and_used_up(room: Classroom) -> None:
    token = room.token(uses=1)
    await enroll(token, "first", room.folder / "a1")
    with pytest.raises(PeerError) as caught:
        await enroll(token, "second", room.folder / "a2")
    assert caught.value.code is ErrorCode.TOKEN_USED_UP
    expired = create_token(
        room.keyring,
        room.store,
        group="7B",
        uses=5,
        lifetime=1,
        now=int(time.time()) - 10,
        hub_url=room.url,
    )
    with pytest.raises(PeerError) as caught:
        await enroll(expired.encode(), "late", room.folder / "a3")
    assert caught.value.code is ErrorCode.TOKEN_EXPIRED


async def test_agent_refuses_a_hub_of_an_organisation_it_did_not_pin(
    room: Classroom, tmp_path: Path
) -> None:
    state, _ = await room.enroll("Ada's laptop")
    other_pins = msgspec.structs.replace(state, org=PrivateKey.generate().public.fingerprint)
    with pytest.raises(PeerError) as caught:
        await open_session(
            room.url,
            lambda channel: ClientHandshake(
                role=ClientRole.AGENT, key=state.key, pins=other_pins.pins, channel=channel
            ),
        )
    assert caught.value.code is ErrorCode.HUB_KEY_MISMATCH


async def test_no_capture_while_nobody_watches(room: Classroom) -> None:
    agent = await room.start_agent("Ada's laptop")
    console = await room.console()
    await console.take(Roster)
    await console.submit(LockScreen(), [agent.state.device_id])
    await console.take(Result)
    assert agent.captures == 0 and agent.frames_sent == 0
    await console.submit(Watch(width=160, fps=5, lease_seconds=30), [agent.state.device_id])
    from console.session import Picture

    picture = await console.take(Picture)
    assert picture.device_id == agent.state.device_id
    assert picture.frame.width <= 160
    assert agent.captures >= 1
    assert agent.desktop.watchers == ("Ms Smith",)  # type: ignore[attr-defined]


async def test_browser_origin_is_refused(room: Classroom) -> None:
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus):
        async with connect(room.url, ssl=client_context(), origin=Origin("https://evil.example")):
            pass


# --- helpers ---------------------------------------------------------------


def assert_logged(caplog: pytest.LogCaptureFixture, code: str) -> None:
    """The hub wrote the refusal, with its code, to its log for IT."""
    refusals = [r for r in caplog.records if r.name == "homeroom.hub" and r.levelname == "WARNING"]
    assert any(code in r.getMessage() for r in refusals), [r.getMessage() for r in refusals]


def _pins(room: Classroom):  # type: ignore[no-untyped-def]
    from protocol.handshake import HubPins

    return HubPins(
        hub=room.keyring.hub_key.public.fingerprint, org=room.keyring.org_public.fingerprint
    )


def ConsoleSession_sign(credential: StaffCredential, action, targets):  # type: ignore[no-untyped-def]
    from console.session import ConsoleSession

    return ConsoleSession(credential).sign(action, targets)


async def _still_serving(room: Classroom, console, agent) -> None:  # type: ignore[no-untyped-def]
    """Everyone else is still served: a fresh lock round-trips."""
    command = await console.submit(UnlockScreen(), [agent.state.device_id])
    result = await console.take(Result, lambda r: r.ok and r.command_id == command.body.id)
    assert result.device_id == agent.state.device_id


async def test_a_full_disk_stops_the_action_not_the_audit(room: Classroom) -> None:
    desktop = HeadlessDesktop()
    agent = await room.start_agent("Ada's laptop", desktop=desktop)
    console = await room.console()
    db = room.store._db
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is now full...
    try:
        for size in (900, 90, 1):  # ...once the audit table's free space is used up
            with pytest.raises(StoreUnavailable):
                for _ in range(10_000):
                    room.store.append_audit("filler", "fill", [], "ok", "x" * size, 1)
        await console.submit(LockScreen(message="Eyes on me"), [agent.state.device_id])
        error = await console.take(Error)
        assert error.code is ErrorCode.HUB_STORAGE and "disk" in error.message
        assert not desktop.locked  # not done, since it could not be recorded
    finally:
        db.execute("PRAGMA max_page_count = 1073741823")
    assert room.store.verify_audit() is None
    await _still_serving(room, console, agent)  # the same connection carries on


async def test_plain_websockets_are_refused_off_this_computer() -> None:
    with pytest.raises(ValueError, match="wss://"):
        await open_session("ws://hub.school.example:8443", lambda channel: None)  # type: ignore[arg-type,return-value]


async def test_a_removed_device_cannot_connect_again(room: Classroom) -> None:
    state, _ = await room.enroll("Ada's laptop")
    room.store.remove_device(state.device_id, int(time.time()))
    with pytest.raises(PeerError) as caught:
        await open_session(
            room.url,
            lambda channel: ClientHandshake(
                role=ClientRole.AGENT, key=state.key, pins=state.pins, channel=channel
            ),
        )
    assert caught.value.code is ErrorCode.UNKNOWN_DEVICE
