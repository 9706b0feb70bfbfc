"""The hub's key rotates without re-enrolling a device (issue 11): devices pin the
organisation, and take any hub it certified; a hub certificate it revoked is refused."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from agent.desktop import HeadlessDesktop
from agent.enrollment import enroll
from agent.runtime import Agent
from agent.screen import SyntheticScreen
from console.demo import certified_staff, set_up_school
from console.session import ConsoleSession
from hub import revocation
from hub.admin import create_token
from hub.keyring import install_certificate, rotate
from hub.server import Hub
from hub.store import Store
from link.dial import open_session
from protocol.actions import LockScreen
from protocol.certificates import Role
from protocol.errors import ErrorCode, PeerError
from protocol.handshake import ClientHandshake
from protocol.messages import ClientRole, Result
from protocol.requests import CertificateRequest

from ..classroom import Inbox
from .test_resilience import until


async def test_devices_follow_a_rotated_hub_key_and_refuse_the_revoked_one(
    tmp_path: Path,
) -> None:
    org, keyring = set_up_school(tmp_path, hub_url="wss://127.0.0.1:1", names=["127.0.0.1"])
    old_certificate = keyring.hub_certificate
    with Store.open(keyring.store_path) as store:
        first = Hub(keyring, store)
        async with first.serve("127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            url = f"wss://127.0.0.1:{port}"
            now = int(time.time())
            token = create_token(
                keyring, store, group="7B", uses=1, lifetime=600, now=now, hub_url=url
            )
            state = await enroll(token.encode(), "Ada's laptop", tmp_path / "ada")
            desktop = HeadlessDesktop()
            agent = Agent(
                state, screen=SyntheticScreen("Ada", 1), desktop=desktop, folder=tmp_path / "ada"
            )
            running = asyncio.create_task(agent.run())
            await until(first, lambda: state.device_id in first.agents)
            # Rotation: a new key beside the old, certified off the hub, installed; the old
            # certificate is revoked in the same visit to the organisation's machine.
            request = CertificateRequest.decode(rotate(keyring.folder).read_bytes())
            grant = org.certify_hub(request)
            revoked = org.revoke([old_certificate.body.serial])
        rotated = install_certificate(keyring.folder, grant)
        revocation.install(keyring.folder, keyring.org_public, revoked)
        assert rotated.hub_key.public != keyring.hub_key.public
        second = Hub(rotated, store)
        try:
            async with second.serve("127.0.0.1", port):
                # The device was pinned to the old key; it comes back to the new one, and
                # is sent the list at sign-in, before any command.
                await until(second, lambda: state.device_id in second.agents)
                teacher = certified_staff(
                    org,
                    rotated,
                    store,
                    name="Ms Smith",
                    role=Role.TEACHER,
                    groups=("7B",),
                    now=int(time.time()) - 60,
                    hub_url=url,
                )
                session = ConsoleSession(teacher)
                await session.connect()
                inbox = Inbox(session)
                lock = await session.submit(LockScreen(), [state.device_id])
                result = await inbox.take(Result, lambda r: r.command_id == lock.body.id)
                assert result.ok and desktop.locked
                assert old_certificate.body.serial in agent.revocations.serials
                await session.close()
            # The old key (a thief's copy, say) can no longer pass for the hub.
            third = Hub(keyring, store)
            async with third.serve("127.0.0.1", port):
                with pytest.raises(PeerError) as refused:
                    await open_session(
                        url,
                        lambda channel: ClientHandshake(
                            role=ClientRole.AGENT,
                            key=state.key,
                            pins=state.pins,
                            channel=channel,
                            revoked=agent.revocations.serials,  # as the agent dials
                        ),
                    )
                assert refused.value.code is ErrorCode.CERTIFICATE_REVOKED
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
