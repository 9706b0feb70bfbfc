"""A thief copies the hub's whole data folder (issue 11): with everything in it they still
cannot certify a staff member, sign a command a device accepts, or start a watch.

The thief's tools are real: they load the copied folder as a hub would, start their own
hub from it (same hub key, same TLS key, same store, which they may edit), mint
certificates with every private key the folder holds, and deliver commands to a real
agent as a hostile hub would, past every check a hub makes.
"""

from __future__ import annotations

import io
import shutil
import time
from pathlib import Path

import msgspec
import pytest
from PIL import Image, UnidentifiedImageError

from console.organisation.folder import Organisation
from console.session import ConsoleSession, Picture
from hub.keyring import Keyring
from hub.links import AgentLink
from hub.server import Hub
from hub.store import Store
from protocol.actions import LockScreen, Watch
from protocol.certificates import (
    Certificate,
    CertificateBody,
    Role,
    issue_certificate,
    verify_certificate,
)
from protocol.commands import sign_command
from protocol.credentials import StaffCredential
from protocol.errors import ErrorCode, PeerError
from protocol.frames import HEADER, check_frame
from protocol.keys import PrivateKey, Purpose
from protocol.messages import Deliver
from protocol.sealing import SealedWatches, SealKey

from ..classroom import Classroom, classroom
from .secrets_scan import private_keys_in


@pytest.fixture
async def room(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with classroom(tmp_path) as room:
        yield room


def stolen(room: Classroom, tmp_path: Path) -> Path:
    """The hub's whole data folder, copied to the thief's machine."""
    return Path(shutil.copytree(room.keyring.folder, tmp_path / "thief" / "hub"))


def signing_keys_in(folder: Path) -> list[PrivateKey]:
    """Every Ed25519 private key in the folder the thief can use, as the thief reads them."""
    keys = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if len(data) == 32:
            keys.append(PrivateKey.from_bytes(data))
    return keys


def minted(
    room: Classroom, signer: PrivateKey, thief: PrivateKey, *, claim_org: bool
) -> StaffCredential:
    """An admin certificate for the thief's own key, signed with `signer`. With `claim_org`
    it names the organisation as its issuer (so only the signature can give it away)."""
    certificate = issue_certificate(
        signer,
        thief.public,
        name="Head of IT",
        role=Role.ADMIN,
        groups=("*",),
        now=int(time.time()) - 60,
        lifetime=3600,
    )
    if claim_org:
        body: CertificateBody = msgspec.structs.replace(
            certificate.body, issuer=room.keyring.org_public.fingerprint
        )
        certificate = Certificate(
            body=body, signature=signer.sign(Purpose.CERTIFICATE, msgspec.json.encode(body))
        )
    real = room.staff("Someone real")
    return msgspec.structs.replace(real, certificate=certificate, private_key=thief.to_bytes())


async def test_the_copied_folder_holds_no_key_that_certifies(
    room: Classroom, tmp_path: Path
) -> None:
    smith = room.staff("Ms Smith")  # a staff member recorded, as on any school's hub
    folder = stolen(room, tmp_path)
    # Parsed, not guessed from names: every 32-byte value the files hold, in any spelling,
    # tried as a private key. The hub's own key is found (the scan works); no value opens
    # the organisation's key or a staff member's.
    opened = {found.public for found in private_keys_in(folder)}
    assert room.keyring.hub_key.public.raw in opened
    assert room.keyring.org_public.raw not in opened
    assert smith.key.public.raw not in opened
    # The organisation's tool finds no organisation there.
    with pytest.raises(FileNotFoundError):
        Organisation.open(folder, None)
    # Every key the thief holds, used as an organisation: no certificate chains to the pin.
    thief = PrivateKey.generate()
    for signer in signing_keys_in(folder):
        for claim_org in (False, True):
            forged = minted(room, signer, thief, claim_org=claim_org).certificate
            with pytest.raises(PeerError) as refused:
                verify_certificate(forged, room.keyring.org_public, now=int(time.time()))
            assert refused.value.code in (ErrorCode.UNTRUSTED_ISSUER, ErrorCode.BAD_SIGNATURE)


async def test_the_thiefs_own_hub_refuses_the_admin_they_minted(
    room: Classroom, tmp_path: Path
) -> None:
    folder = stolen(room, tmp_path)
    keyring = Keyring.load(folder)  # the thief's hub: same keys, same TLS, their store
    thief = PrivateKey.generate()
    with Store.open(keyring.store_path) as store:
        hub = Hub(keyring, store)
        async with hub.serve("127.0.0.1", 0) as server:
            url = f"wss://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            for claim_org, code in (
                (False, ErrorCode.UNTRUSTED_ISSUER),
                (True, ErrorCode.BAD_SIGNATURE),
            ):
                credential = minted(room, keyring.hub_key, thief, claim_org=claim_org)
                body = credential.certificate.body
                # The thief owns this store: they record their certificate in it first.
                store.add_staff(
                    body.serial, body.name, body.role.value, list(body.groups), body.expires_at, 0
                )
                with pytest.raises(PeerError) as refused:
                    await ConsoleSession(credential, url=url).connect()
                assert refused.value.code is code
            assert not hub.consoles


@pytest.mark.parametrize(
    ("action", "claim_org", "code"),
    [
        (LockScreen(message="gotcha"), False, ErrorCode.UNTRUSTED_ISSUER),
        (LockScreen(message="gotcha"), True, ErrorCode.BAD_SIGNATURE),
        (Watch(), False, ErrorCode.UNTRUSTED_ISSUER),
        (Watch(), True, ErrorCode.BAD_SIGNATURE),
    ],
    ids=["lock, own issuer", "lock, org named", "watch, own issuer", "watch, org named"],
)
async def test_no_device_obeys_a_command_signed_with_what_the_folder_holds(
    room: Classroom, tmp_path: Path, action: LockScreen | Watch, claim_org: bool, code: ErrorCode
) -> None:
    agent = await room.start_agent("Ada's laptop")
    folder = stolen(room, tmp_path)
    thief = PrivateKey.generate()
    for signer in signing_keys_in(folder):
        credential = minted(room, signer, thief, claim_org=claim_org)
        command = sign_command(
            thief,
            credential.certificate,
            targets=[agent.state.device_id],
            action=action,
            now=int(time.time()),
        )
        # Delivered as a hostile hub would: past every hub check, straight to the device.
        result = await agent.carry_out(Deliver(command=command))
        assert not result.ok and result.code is code
    assert not agent.desktop.locked
    assert agent.watchers() == []


async def test_the_thief_cannot_read_a_relayed_frame(room: Classroom, tmp_path: Path) -> None:
    """A real teacher watches; the frames the hub relays, captured by a thief holding the
    copied folder, are no picture, and no key in that folder opens them."""
    relayed: list[bytes] = []
    relay = room.hub._relay_frame

    def recording(link: AgentLink, data: bytes) -> None:
        relayed.append(data)
        relay(link, data)

    room.hub._relay_frame = recording  # type: ignore[method-assign]
    agent = await room.start_agent("Ada's laptop")
    device = agent.state.device_id
    console = await room.console()
    await console.submit(Watch(width=320, fps=20, lease_seconds=60), [device])
    picture = await console.take(Picture)
    assert relayed
    folder = stolen(room, tmp_path)
    # Every 32-byte value in the folder, tried as the console's X25519 half of the watch.
    thief_keys = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if len(data) == 32:
            thief_keys.append(SealKey.from_private(data))
    for data in relayed:
        assert check_frame(data).sealed
        for attempt in (data, data[HEADER.size :]):
            with pytest.raises(UnidentifiedImageError):
                Image.open(io.BytesIO(attempt))
        assert picture.frame.image[:64] not in data
        for key in thief_keys:
            opener = SealedWatches()
            opener.remember(key, "thief", [device], until=time.time() + 60)
            with pytest.raises(PeerError):
                opener.open_frame(device, data, time.time())
