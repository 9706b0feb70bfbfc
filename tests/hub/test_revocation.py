"""Revocation the device checks itself (issue 11): over real sockets, through a hub that
ignores a revocation or replays an old list, the device still refuses a revoked teacher."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from agent.desktop import HeadlessDesktop
from agent.runtime import Agent
from agent.screen import SyntheticScreen
from hub import revocation
from hub.admin import install_revocations
from protocol.actions import LockScreen, SendMessage
from protocol.credentials import StaffCredential
from protocol.errors import ErrorCode, PeerError
from protocol.keys import PrivateKey
from protocol.messages import Result
from protocol.revocation import RevocationList, sign_revocation_list

from ..classroom import Classroom, Console, classroom


@pytest.fixture
async def room(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with classroom(tmp_path) as room:
        yield room


async def org_revokes(room: Classroom, *credentials: StaffCredential) -> RevocationList:
    """The organisation signs a list naming `credentials` off the hub (homeroom-org), and the
    file alone reaches the hub's folder: its store never hears of it, so the hub itself
    keeps routing their commands."""
    published = room.org.revoke([c.certificate.body.serial for c in credentials])
    revocation.install(room.keyring.folder, room.keyring.org_public, published)
    await room.hub.housekeep()  # the running hub notices the new list and sends it on
    return published


async def sent(console: Console, action: object, device: str) -> Result:
    """Submit `action` and wait for the device's answer. The hub sends a device everything
    in order, so by then the device has also handled whatever list was sent before."""
    command = await console.submit(action, [device])
    result: Result = await console.take(Result, lambda r: r.command_id == command.body.id)
    return result


async def hostile_hub_sends(room: Classroom, device: str, revocations: RevocationList) -> None:
    """What a stolen hub can do: send the device any list it has ever seen, or made."""
    room.hub.revocations.current = revocations
    await room.hub._send_revocations(room.hub.agents[device].ws)


def audited(room: Classroom, action: str) -> list[str]:
    return [e.detail for e in room.store.audit(limit=100) if e.action == action]


async def test_a_revoked_teachers_command_through_a_hub_that_ignores_it_is_refused(
    room: Classroom,
) -> None:
    agent = await room.start_agent("Ada's laptop")
    device = agent.state.device_id
    credential = room.staff("Mr Mallory")
    mallory = await room.console(credential)
    await org_revokes(room, credential)
    refused = await sent(mallory, LockScreen(message="gotcha"), device)
    assert not refused.ok and refused.code is ErrorCode.CERTIFICATE_REVOKED
    assert not agent.desktop.locked
    # The hub did route it: only the device stood in the way.
    assert credential.certificate.body.serial not in room.store.revoked_serials()


async def test_an_older_list_replayed_is_refused_and_the_newer_kept(room: Classroom) -> None:
    agent = await room.start_agent("Ada's laptop")
    device = agent.state.device_id
    smith = await room.console(room.staff("Ms Smith"))
    credential = room.staff("Mr Mallory")
    mallory = await room.console(credential)
    older = await org_revokes(room)  # list 1: nobody revoked
    await org_revokes(room, credential)  # list 2: Mallory revoked
    assert (await sent(smith, SendMessage(text="hello"), device)).ok
    assert agent.revocations.sequence == 2
    await hostile_hub_sends(room, device, older)
    assert (await sent(smith, SendMessage(text="still here"), device)).ok
    assert agent.revocations.sequence == 2
    assert [d for d in audited(room, "event:revocation_refused") if "revocation_outdated" in d]
    refused = await sent(mallory, LockScreen(), device)
    assert refused.code is ErrorCode.CERTIFICATE_REVOKED


async def test_a_list_signed_by_another_key_is_refused(room: Classroom) -> None:
    agent = await room.start_agent("Ada's laptop")
    device = agent.state.device_id
    smith_credential = room.staff("Ms Smith")
    smith = await room.console(smith_credential)
    forged = sign_revocation_list(
        PrivateKey.generate(), [smith_credential.certificate.body.serial], sequence=99, now=1
    )
    await hostile_hub_sends(room, device, forged)
    assert (await sent(smith, SendMessage(text="hello"), device)).ok
    assert agent.revocations.sequence == 0
    assert [d for d in audited(room, "event:revocation_refused") if "untrusted_issuer" in d]


async def test_the_list_survives_an_agent_restart(room: Classroom) -> None:
    smith = await room.console(room.staff("Ms Smith"))
    credential = room.staff("Mr Mallory")
    mallory = await room.console(credential)
    agent = await room.start_agent("Ada's laptop")  # its task is the newest
    device = agent.state.device_id
    await org_revokes(room, credential)
    assert (await sent(smith, SendMessage(text="hello"), device)).ok
    # The agent stops; the hub then forgets the list (as a hub restored from backup would).
    task = room.tasks.pop()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    before = room.hub.agents[device]
    room.hub.revocations.current = None
    restarted = Agent(
        agent.state,
        screen=SyntheticScreen("Ada's laptop", seed=0),
        desktop=HeadlessDesktop(),
        folder=agent.folder,
    )
    room.tasks.append(asyncio.create_task(restarted.run()))
    await room.until(lambda: room.hub.agents.get(device) not in (None, before))
    assert restarted.revocations.sequence == 1
    refused = await sent(mallory, LockScreen(), device)
    assert refused.code is ErrorCode.CERTIFICATE_REVOKED


async def test_the_organisations_list_installed_on_the_hub_reaches_devices(
    room: Classroom,
) -> None:
    smith = await room.console(room.staff("Ms Smith"))
    first, second = room.staff("Mr Mallory"), room.staff("Mr Moriarty")
    now = int(time.time())
    one = room.org.revoke([first.certificate.body.serial])
    assert install_revocations(room.keyring, room.store, one, now=now) == 1
    two = room.org.revoke([second.certificate.body.serial])
    assert install_revocations(room.keyring, room.store, two, now=now) == 1
    assert room.store.revoked_serials() == {
        first.certificate.body.serial,
        second.certificate.body.serial,
    }
    with pytest.raises(PeerError) as replayed:  # the hub keeps no older list either
        install_revocations(room.keyring, room.store, one, now=now)
    assert replayed.value.code is ErrorCode.REVOCATION_OUTDATED
    agent = await room.start_agent("Ada's laptop")  # signs in after: receives it at once
    assert (await sent(smith, SendMessage(text="hello"), agent.state.device_id)).ok
    assert agent.revocations.sequence == 2
    assert agent.revocations.serials == {
        first.certificate.body.serial,
        second.certificate.body.serial,
    }


async def test_a_list_past_its_expiry_is_still_enforced_and_reported_stale(
    room: Classroom,
) -> None:
    # The device's clock is 31 days on (injected): the 30-day list has lapsed there.
    smith = await room.console(room.staff("Ms Smith"))
    credential = room.staff("Mr Mallory")
    mallory = await room.console(credential)
    later = time.time() + 31 * 24 * 3600
    agent = await room.start_agent("Ada's laptop", clock=lambda: later)
    device = agent.state.device_id
    await org_revokes(room, credential)
    # By its answer the device has handled the list (the command itself lapsed there).
    assert (await sent(smith, SendMessage(text="hello"), device)).code is ErrorCode.COMMAND_EXPIRED
    assert audited(room, "event:revocation_stale")
    assert agent.revocations.sequence == 1
    refused = await sent(mallory, LockScreen(), device)
    assert refused.code is ErrorCode.CERTIFICATE_REVOKED
