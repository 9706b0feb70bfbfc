"""The handshake, driven between a hub endpoint and a client endpoint with no sockets."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from protocol.certificates import Role, issue_certificate
from protocol.errors import ErrorCode, PeerError
from protocol.frames import Frame, ImageFormat, encode_frame
from protocol.handshake import Claim, ClientHandshake, HubHandshake, HubPins, Stage
from protocol.keys import PrivateKey
from protocol.messages import (
    Challenge,
    ClientRole,
    Hello,
    Status,
    Submit,
    Welcome,
    encode_message,
)
from protocol.tokens import new_token

from .conftest import NOW, YEAR, School

CHANNEL = b"\x01" * 32


@dataclass
class Hub:
    key: PrivateKey
    school: School

    def endpoint(
        self,
        *,
        channel: bytes = CHANNEL,
        revoked: tuple[str, ...] = (),
        versions: tuple[int, ...] = (1,),
    ) -> HubHandshake:
        certificate = issue_certificate(
            self.school.org,
            self.key.public,
            name="hub",
            role=Role.HUB,
            groups=("*",),
            now=NOW,
            lifetime=YEAR,
        )
        return HubHandshake(
            key=self.key,
            certificate=certificate,
            org_key=self.school.org.public,
            channel=channel,
            revoked=revoked,
            versions=versions,
            clock=lambda: NOW,
        )

    @property
    def pins(self) -> HubPins:
        return HubPins(hub=self.key.public.fingerprint, org=self.school.org.public.fingerprint)


@pytest.fixture
def hub(school: School) -> Hub:
    return Hub(PrivateKey.generate(), school)


def run(client: ClientHandshake, hub: HubHandshake) -> Claim:
    """Drive both ends to the hub's decision, as the I/O layers would."""
    challenge = hub.step(encode_message(client.start()))
    proof = client.step(encode_message(challenge))  # type: ignore[arg-type]
    assert proof is not None
    claim = hub.step(encode_message(proof))
    assert isinstance(claim, Claim)
    return claim


def agent(hub: Hub, key: PrivateKey | None = None, **kw: object) -> ClientHandshake:
    values: dict[str, Any] = dict(
        role=ClientRole.AGENT,
        key=key or PrivateKey.generate(),
        pins=hub.pins,
        channel=CHANNEL,
        clock=lambda: NOW,
    )
    values.update(kw)
    return ClientHandshake(**values)


def test_agent_and_hub_authenticate_each_other(hub: Hub) -> None:
    device = PrivateKey.generate()
    client, server = agent(hub, device), hub.endpoint()
    claim = run(client, server)
    assert claim.role is ClientRole.AGENT and claim.device_id == device.public.fingerprint
    welcome = server.accept(name="Ada's laptop", group="7B", device_id=claim.device_id)
    assert client.step(encode_message(welcome)) is None
    assert client.is_open and server.is_open
    assert client.welcome == welcome
    # Now application messages flow, each side accepting only its table's types.
    assert server.receive(encode_message(Status(locked=False))) == Status(locked=False)
    frame = Frame(0, 1, 5, ImageFormat.JPEG, 320, 200, b"jpeg")
    assert server.receive_frame(encode_frame(frame)) == frame


def test_console_signs_in_with_a_staff_certificate(hub: Hub, school: School) -> None:
    teacher = school.certify("Ms Smith", Role.TEACHER)
    client = agent(hub, teacher.key, role=ClientRole.CONSOLE, certificate=teacher.certificate)
    claim = run(client, hub.endpoint())
    assert claim.staff is not None and claim.staff.name == "Ms Smith"


def test_enrolling_holds_the_hub_to_the_key_its_token_names(hub: Hub, school: School) -> None:
    impostor = Hub(PrivateKey.generate(), school)  # even one the organisation certified
    token = new_token(
        hub_url="wss://hub:8443",
        hub=hub.pins.hub,
        org=hub.pins.org,
        group="7B",
        expires_at=NOW + 60,
        max_uses=1,
    )
    client = agent(hub, role=ClientRole.ENROLL, token=token, device_name="Ada's laptop")
    challenge = impostor.endpoint().step(encode_message(client.start()))
    with pytest.raises(PeerError) as caught:
        client.step(encode_message(challenge))  # type: ignore[arg-type]
    assert caught.value.code is ErrorCode.HUB_KEY_MISMATCH
    assert client.stage is Stage.FAILED
    # Failed is final: nothing more is accepted, no fallback to anything weaker.
    with pytest.raises(PeerError):
        client.receive(encode_message(Status(locked=False)))


def test_an_enrolled_device_accepts_a_rotated_hub_key_its_organisation_certified(
    hub: Hub, school: School
) -> None:
    rotated = Hub(PrivateKey.generate(), school)
    assert isinstance(run(agent(hub), rotated.endpoint()), Claim)
    # Unless the organisation revoked that hub certificate (the old key, stolen).
    serials: set[str] = set()  # the device's list, which the hub certificate then joins
    client = agent(hub, revoked=serials)
    challenge = rotated.endpoint().step(encode_message(client.start()))
    assert isinstance(challenge, Challenge)
    serials.add(challenge.hub_certificate.body.serial)
    with pytest.raises(PeerError) as caught:
        client.step(encode_message(challenge))
    assert caught.value.code is ErrorCode.CERTIFICATE_REVOKED


def test_hub_of_another_organisation(hub: Hub) -> None:
    stranger = Hub(hub.key, School())  # same hub key, certified by another org
    client = agent(hub)
    challenge = stranger.endpoint().step(encode_message(client.start()))
    with pytest.raises(PeerError) as caught:
        client.step(encode_message(challenge))  # type: ignore[arg-type]
    assert caught.value.code is ErrorCode.HUB_KEY_MISMATCH


def test_machine_in_the_middle_with_its_own_tls_certificate(hub: Hub) -> None:
    client = agent(hub, channel=b"\x02" * 32)  # what the client saw differs from the hub's
    challenge = hub.endpoint().step(encode_message(client.start()))
    with pytest.raises(PeerError) as caught:
        client.step(encode_message(challenge))  # type: ignore[arg-type]
    assert caught.value.code is ErrorCode.CHANNEL_MISMATCH


def test_proof_replayed_on_another_connection_fails(hub: Hub) -> None:
    device = PrivateKey.generate()
    client = agent(hub, device)
    first = hub.endpoint()
    hello = encode_message(client.start())
    proof = client.step(encode_message(first.step(hello)))  # type: ignore[arg-type]
    second = hub.endpoint()  # a fresh hub nonce: the captured proof no longer fits
    second.step(hello)
    with pytest.raises(PeerError) as caught:
        second.step(encode_message(proof))  # type: ignore[arg-type]
    assert caught.value.code is ErrorCode.BAD_SIGNATURE


def test_device_key_presented_as_staff(hub: Hub, school: School) -> None:
    device = PrivateKey.generate()
    forged = issue_certificate(
        PrivateKey.generate(),
        device.public,
        name="Ada",
        role=Role.ADMIN,
        groups=("*",),
        now=NOW,
        lifetime=YEAR,
    )
    client = agent(hub, device, role=ClientRole.CONSOLE, certificate=forged)
    with pytest.raises(PeerError) as caught:
        hub.endpoint().step(encode_message(client.start()))
    assert caught.value.code is ErrorCode.UNTRUSTED_ISSUER


def test_console_without_certificate_is_refused(hub: Hub) -> None:
    hello = Hello(versions=(1,), role=ClientRole.CONSOLE, key=b"k" * 32, nonce=b"n" * 32)
    with pytest.raises(PeerError) as caught:
        hub.endpoint().step(encode_message(hello))
    assert caught.value.code is ErrorCode.WRONG_ROLE


def test_revoked_staff_certificate(hub: Hub, school: School) -> None:
    teacher = school.certify("Ms Smith", Role.TEACHER)
    client = agent(hub, teacher.key, role=ClientRole.CONSOLE, certificate=teacher.certificate)
    with pytest.raises(PeerError) as caught:
        hub.endpoint(revoked=(teacher.certificate.body.serial,)).step(
            encode_message(client.start())
        )
    assert caught.value.code is ErrorCode.CERTIFICATE_REVOKED


def test_someone_elses_certificate(hub: Hub, school: School) -> None:
    teacher = school.certify("Ms Smith", Role.TEACHER)
    client = agent(
        hub, PrivateKey.generate(), role=ClientRole.CONSOLE, certificate=teacher.certificate
    )
    with pytest.raises(PeerError) as caught:
        hub.endpoint().step(encode_message(client.start()))
    assert caught.value.code is ErrorCode.BAD_SIGNATURE


def test_no_application_message_before_authentication(hub: Hub) -> None:
    server = hub.endpoint()
    with pytest.raises(PeerError) as caught:
        server.step(encode_message(Status(locked=True)))
    assert caught.value.code is ErrorCode.NOT_AUTHENTICATED
    with pytest.raises(PeerError) as caught:
        hub.endpoint().receive_frame(b"HF" + b"\x00" * 30)
    assert caught.value.code is ErrorCode.NOT_AUTHENTICATED


def test_messages_out_of_order(hub: Hub) -> None:
    client = agent(hub)
    server = hub.endpoint()
    hello = encode_message(client.start())
    server.step(hello)
    with pytest.raises(PeerError) as caught:
        server.step(hello)
    assert caught.value.code is ErrorCode.OUT_OF_STATE


def test_roles_are_held_to_their_message_table(hub: Hub, school: School) -> None:
    device = PrivateKey.generate()
    client, server = agent(hub, device), hub.endpoint()
    claim = run(client, server)
    client.step(encode_message(server.accept(name="x", group="7B", device_id=claim.device_id)))
    teacher = school.certify("Ms Smith", Role.TEACHER)
    from protocol.actions import LockScreen
    from protocol.commands import sign_command

    command = sign_command(
        teacher.key, teacher.certificate, targets=[claim.device_id], action=LockScreen(), now=NOW
    )
    # An agent may not submit commands as if it were a console.
    with pytest.raises(PeerError) as caught:
        server.receive(encode_message(Submit(command=command)))
    assert caught.value.code is ErrorCode.OUT_OF_STATE
    # And a hub may not send a device a Welcome twice or a frame.
    with pytest.raises(PeerError):
        client.receive(encode_message(Welcome(name="x", hub_time=1)))
    with pytest.raises(PeerError):
        client.receive_frame(encode_frame(Frame(0, 1, 1, ImageFormat.JPEG, 1, 1, b"x")))


def test_version_negotiation(hub: Hub) -> None:
    client = agent(hub, versions=(1, 2))
    challenge = hub.endpoint(versions=(1,)).step(encode_message(client.start()))
    assert challenge.version == 1  # type: ignore[union-attr]
    with pytest.raises(PeerError) as caught:
        hub.endpoint(versions=(3,)).step(encode_message(agent(hub).start()))
    assert caught.value.code is ErrorCode.UNSUPPORTED_VERSION


def test_enrollment_carries_the_token_secret_only_after_the_hub_proved_itself(hub: Hub) -> None:
    token = new_token(
        hub_url="wss://hub:8443",
        hub=hub.pins.hub,
        org=hub.pins.org,
        group="7B",
        expires_at=NOW + 60,
        max_uses=1,
    )
    device = PrivateKey.generate()
    client = agent(hub, device, role=ClientRole.ENROLL, token=token, device_name="Ada's laptop")
    server = hub.endpoint()
    hello = encode_message(client.start())
    assert base64.b64encode(token.secret) not in hello and b"secret" not in hello
    proof = client.step(encode_message(server.step(hello)))  # type: ignore[arg-type]
    claim = server.step(encode_message(proof))  # type: ignore[arg-type]
    assert isinstance(claim, Claim)
    assert claim.token_id == token.token_id and claim.token_secret == token.secret
    assert claim.device_name == "Ada's laptop"


def test_hub_refusal_is_raised_with_its_code(hub: Hub) -> None:
    client, server = agent(hub), hub.endpoint()
    run(client, server)
    refusal = server.refuse(PeerError(ErrorCode.UNKNOWN_DEVICE))
    with pytest.raises(PeerError) as caught:
        client.step(encode_message(refusal))
    assert caught.value.code is ErrorCode.UNKNOWN_DEVICE


def test_tampered_challenge_signature(hub: Hub) -> None:
    client = agent(hub)
    challenge = hub.endpoint().step(encode_message(client.start()))
    assert isinstance(challenge, Challenge)
    bad = msgspec.structs.replace(challenge, nonce=b"\x00" * 32)
    with pytest.raises(PeerError) as caught:
        client.step(encode_message(bad))
    assert caught.value.code is ErrorCode.BAD_SIGNATURE


@pytest.mark.parametrize("extra", [{"token_id": "0" * 32}, {"device_name": "laptop"}])
def test_enrollment_fields_are_refused_outside_enrollment(hub: Hub, extra: dict) -> None:  # type: ignore[type-arg]
    hello = msgspec.structs.replace(agent(hub).start(), **extra)
    with pytest.raises(PeerError) as caught:
        hub.endpoint().step(encode_message(hello))
    assert caught.value.code is ErrorCode.MALFORMED
