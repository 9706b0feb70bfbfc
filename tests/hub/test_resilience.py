"""Restarts and absences: agents come back after a hub restart; queued commands wait."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from agent.desktop import HeadlessDesktop
from agent.enrollment import enroll
from agent.runtime import Agent
from agent.screen import SyntheticScreen
from console.demo import set_up_school
from hub.admin import create_token
from hub.server import Hub
from hub.store import Store
from protocol.actions import LockScreen
from protocol.messages import Result

from ..classroom import Classroom, classroom
from ..support import scaled


async def until(hub: Hub, predicate, seconds: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(scaled(seconds)):
        while not predicate():
            await hub.next_change()


async def test_agents_come_back_by_themselves_after_the_hub_restarts(tmp_path: Path) -> None:
    _, keyring = set_up_school(tmp_path, hub_url="wss://127.0.0.1:1", names=["127.0.0.1"])
    with Store.open(keyring.store_path) as store:
        first = Hub(keyring, store)
        async with first.serve("127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            url = f"wss://127.0.0.1:{port}"
            token = create_token(
                keyring, store, group="7B", uses=1, lifetime=600, now=int(time.time()), hub_url=url
            )
            state = await enroll(token.encode(), "Ada's laptop", tmp_path / "ada")
            agent = Agent(
                state,
                screen=SyntheticScreen("Ada", 1),
                desktop=HeadlessDesktop(),
                folder=tmp_path / "ada",
            )
            running = asyncio.create_task(agent.run())
            await until(first, lambda: state.device_id in first.agents)
        # The hub is gone (a restart, an update, a power cut): the agent keeps trying.
        second = Hub(keyring, store)
        try:
            async with second.serve("127.0.0.1", port):
                await until(second, lambda: state.device_id in second.agents)
                assert second.presence[state.device_id].online
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)


async def test_a_queued_command_waits_for_an_offline_device(tmp_path: Path) -> None:
    async with classroom(tmp_path) as room:
        await _queued(room)


async def _queued(room: Classroom) -> None:
    state, folder = await room.enroll("Ada's laptop")  # enrolled, agent not running yet
    console = await room.console()
    command = await console.submit(
        LockScreen(message="Stay after class"), [state.device_id], queue=True, ttl=600
    )
    await room.until(lambda: room.store.audit(limit=1)[0].result == "queued 1")
    desktop = HeadlessDesktop()
    agent = Agent(state, screen=SyntheticScreen("Ada", 1), desktop=desktop, folder=folder)
    room.tasks.append(asyncio.create_task(agent.run()))
    result = await console.take(Result, lambda r: r.command_id == command.body.id)
    assert result.ok and desktop.locked and desktop.lock_message == "Stay after class"
