"""Due locks: the hub remembers each device's newest lock or unlock, across its own restarts,
and re-asserts a due lock to a device whatever the device's own files say."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from agent.desktop import HeadlessDesktop
from agent.enrollment import enroll
from agent.runtime import Agent
from agent.screen import SyntheticScreen
from agent.state import LOCK_FILE
from console.demo import certified_staff, set_up_school
from hub.admin import create_token
from hub.server import Hub
from hub.store import Store
from protocol.actions import LockScreen, UnlockScreen
from protocol.certificates import Role
from protocol.commands import SignedCommand
from protocol.messages import Result

from ..classroom import Console, Inbox, classroom
from ..support import scaled

NOW = 1_750_000_000
ADA = "a" * 64


def store_with_ada(tmp_path: Path) -> Store:
    store = Store.open(tmp_path / "hub.sqlite")
    store.add_device(ADA, b"k" * 32, "Ada's laptop", "7B", NOW)
    return store


def test_the_newest_lock_or_unlock_wins_whatever_order_they_are_recorded_in(
    tmp_path: Path,
) -> None:
    with store_with_ada(tmp_path) as store:
        store.record_lock_state([ADA], locked=True, command_id="L1", issued_at=NOW, payload=b"L1")
        assert store.due_lock(ADA) == b"L1"
        store.record_lock_state([ADA], locked=False, command_id="U1", issued_at=NOW + 5)
        assert store.due_lock(ADA) is None
        # A lock signed before that unlock but routed after it is not due.
        store.record_lock_state([ADA], locked=True, command_id="L0", issued_at=NOW + 1, payload=b"")
        assert store.due_lock(ADA) is None
        store.record_lock_state(
            [ADA], locked=True, command_id="L2", issued_at=NOW + 9, payload=b"L2"
        )
        assert store.due_lock(ADA) == b"L2"
        # Devices the hub does not know are skipped, not an error.
        store.record_lock_state(
            ["f" * 64], locked=True, command_id="L3", issued_at=NOW, payload=b"x"
        )
        assert store.due_lock("f" * 64) is None
    # A restart of the hub forgets nothing.
    with Store.open(tmp_path / "hub.sqlite") as store:
        assert store.due_lock(ADA) == b"L2"
        store.remove_device(ADA, NOW + 60)
        assert store.due_lock(ADA) is None


async def test_a_due_lock_comes_back_after_the_hub_and_the_agent_restart(tmp_path: Path) -> None:
    org, keyring = set_up_school(tmp_path, hub_url="wss://127.0.0.1:1", names=["127.0.0.1"])
    folder = tmp_path / "ada"
    with Store.open(keyring.store_path) as store:
        first = Hub(keyring, store)
        async with first.serve("127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            url = f"wss://127.0.0.1:{port}"
            now = int(time.time())
            token = create_token(
                keyring, store, group="7B", uses=1, lifetime=600, now=now, hub_url=url
            )
            state = await enroll(token.encode(), "Ada's laptop", folder)
            teacher = certified_staff(
                org,
                keyring,
                store,
                name="Ms Smith",
                role=Role.TEACHER,
                groups=("7B",),
                now=now - 60,
                hub_url=url,
            )
            desktop = HeadlessDesktop()
            agent = Agent(state, screen=SyntheticScreen("Ada", 1), desktop=desktop, folder=folder)
            running = asyncio.create_task(agent.run())
            try:
                await until(first, lambda: state.device_id in first.agents)
                console = await connect(teacher, url)
                lock = await console.submit(
                    LockScreen(message="Stay after class"), [state.device_id]
                )
                assert (await console.take(Result, lambda r: r.command_id == lock.body.id)).ok
                await console.session.close()
            finally:
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)
        # The student deletes the lock file while the hub restarts.
        (folder / LOCK_FILE).unlink()
        second = Hub(keyring, store)
        async with second.serve("127.0.0.1", port):
            desktop = HeadlessDesktop()
            agent = Agent(state, screen=SyntheticScreen("Ada", 1), desktop=desktop, folder=folder)
            assert not desktop.locked  # nothing on the device says it is due
            running = asyncio.create_task(agent.run())
            try:
                await until(
                    second,
                    lambda: (
                        second.presence.get(state.device_id) is not None
                        and second.presence[state.device_id].online
                        and second.presence[state.device_id].locked
                    ),
                )
                assert desktop.locked and desktop.lock_message == "Stay after class"
                assert (folder / LOCK_FILE).exists()  # and it holds through the next restart
            finally:
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)


async def test_an_unlocked_device_stays_unlocked_when_it_reconnects(tmp_path: Path) -> None:
    async with classroom(tmp_path) as room:
        agent = await room.start_agent("Ada's laptop")
        device_id = agent.state.device_id
        console = await room.console()
        for action in (LockScreen(message="Eyes on me"), UnlockScreen()):
            command = await console.submit(action, [device_id])
            assert (await console.take(Result, answering(command))).ok
        assert room.store.due_lock(device_id) is None
        link = room.hub.agents[device_id]
        await link.ws.close()
        await room.until(
            lambda: device_id in room.hub.agents and room.hub.agents[device_id] is not link
        )
        assert not agent.desktop.locked


async def until(hub: Hub, predicate, seconds: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(scaled(seconds)):
        while not predicate():
            await hub.next_change()


async def connect(credential, url: str) -> Console:  # type: ignore[no-untyped-def]
    from console.session import ConsoleSession

    session = ConsoleSession(credential, url=url)
    await session.connect()
    return Console(session, Inbox(session))


def answering(command: SignedCommand) -> Callable[[Result], bool]:
    """Matches the result of `command`."""
    return lambda result: result.command_id == command.body.id


async def test_a_lock_made_with_a_credential_revoked_since_is_not_re_asserted(
    tmp_path: Path,
) -> None:
    async with classroom(tmp_path) as room:
        agent = await room.start_agent("Ada's laptop")
        device_id = agent.state.device_id
        console = await room.console()
        command = await console.submit(LockScreen(message="Eyes on me"), [device_id])
        assert (await console.take(Result, answering(command))).ok
        assert room.hub.due_locks.due(device_id) == command
        # The credential was stolen: revoking it also stops its locks coming back.
        room.store.revoke_staff(command.body.issuer.body.serial, int(time.time()))
        assert room.hub.due_locks.due(device_id) is None
