"""A real classroom in one process for tests: a hub on loopback with TLS, agents, consoles."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.desktop import Desktop, HeadlessDesktop
from agent.enrollment import enroll
from agent.runtime import Agent
from agent.screen import ScreenSource, SyntheticScreen
from agent.state import AgentState
from console.demo import certified_staff, set_up_school
from console.organisation.folder import Organisation
from console.session import ConsoleSession, HubEvent
from hub.admin import create_token
from hub.keyring import Keyring
from hub.routing import DELIVERY_SECONDS
from hub.server import HANDSHAKE_SECONDS, HOUSEKEEPING_SECONDS, Hub
from hub.store import Store
from protocol.certificates import Role
from protocol.commands import SignedCommand
from protocol.credentials import StaffCredential

from .support import scaled


@dataclass
class Console:
    """A signed-in console session and what it has received."""

    session: ConsoleSession
    inbox: Inbox

    async def take(self, kind: type, where: Callable[[Any], bool] = lambda _: True) -> Any:
        return await self.inbox.take(kind, where)

    async def submit(self, action: Any, targets: list[str], **kw: Any) -> SignedCommand:
        return await self.session.submit(action, targets, **kw)


@dataclass
class Classroom:
    folder: Path
    keyring: Keyring
    store: Store
    hub: Hub
    url: str
    #: The organisation's folder, beside the hub's (as on an admin's machine, apart).
    org: Organisation
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    agents: dict[str, Agent] = field(default_factory=dict)

    def token(self, group: str = "7B", uses: int = 1, lifetime: int = 3600) -> str:
        return create_token(
            self.keyring,
            self.store,
            group=group,
            uses=uses,
            lifetime=lifetime,
            now=int(time.time()),
            hub_url=self.url,
        ).encode()

    def staff(
        self,
        name: str = "Ms Smith",
        role: Role = Role.TEACHER,
        groups: tuple[str, ...] = ("7B",),
        devices: tuple[str, ...] = (),
    ) -> StaffCredential:
        """A credential made as the documented steps make it; a guardian's names `devices`."""
        return certified_staff(
            self.org,
            self.keyring,
            self.store,
            name=name,
            role=role,
            groups=groups,
            devices=devices,
            now=int(time.time()) - 60,
            hub_url=self.url,
        )

    async def enroll(self, name: str, group: str = "7B") -> tuple[AgentState, Path]:
        folder = self.folder / "agents" / name
        return await enroll(self.token(group), name, folder), folder

    async def start_agent(
        self,
        name: str,
        *,
        group: str = "7B",
        screen: ScreenSource | None = None,
        desktop: Desktop | None = None,
        **options: Any,
    ) -> Agent:
        """Enrol a device and run its real agent code until the test ends; wait till online.

        `options` go to the Agent (platform, power commands, grace period...).
        """
        state, folder = await self.enroll(name, group)
        agent = Agent(
            state,
            screen=screen or SyntheticScreen(name, seed=len(self.agents)),
            desktop=desktop or HeadlessDesktop(),
            folder=folder,
            **options,
        )
        self.agents[state.device_id] = agent
        self.tasks.append(asyncio.create_task(agent.run()))
        await self.until(lambda: state.device_id in self.hub.agents)
        return agent

    async def console(self, credential: StaffCredential | None = None) -> Console:
        session = ConsoleSession(credential or self.staff())
        await session.connect()
        inbox = Inbox(session)
        self.tasks.append(inbox._task)
        return Console(session, inbox)

    async def until(self, predicate: Callable[[], bool], seconds: float = 10.0) -> None:
        """Wait for the hub's state to satisfy `predicate`, woken by each change."""
        async with asyncio.timeout(scaled(seconds)):
            while not predicate():
                await self.hub.next_change()


class Inbox:
    """Everything a console receives, kept so tests can wait for events in any order."""

    def __init__(self, session: ConsoleSession) -> None:
        self.session = session
        self.events: list[HubEvent] = []
        self._arrived = asyncio.Event()
        self._task = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        async for event in self.session:
            self.events.append(event)
            self._arrived.set()
        self._arrived.set()

    async def take(
        self, kind: type, where: Callable[[Any], bool] = lambda _: True, seconds: float = 10.0
    ) -> Any:
        """Remove and return the first event of `kind` matching `where`, waiting if need be."""
        async with asyncio.timeout(scaled(seconds)):
            while True:
                for index, event in enumerate(self.events):
                    if isinstance(event, kind) and where(event):
                        return self.events.pop(index)
                if self._task.done():
                    raise AssertionError(f"connection closed before a {kind.__name__} arrived")
                self._arrived.clear()
                await self._arrived.wait()


@contextlib.asynccontextmanager
async def classroom(
    folder: Path,
    *,
    tls: bool = True,
    housekeeping_seconds: float = HOUSEKEEPING_SECONDS,
    handshake_seconds: float = HANDSHAKE_SECONDS,
    delivery_seconds: float = DELIVERY_SECONDS,
    behind_proxy: bool = False,
    **hub_options: Any,
) -> AsyncIterator[Classroom]:
    """A hub serving on a free loopback port; shorten its timers rather than wait for them.

    `behind_proxy`: the hub listens plain (pass tls=False) for a TLS proxy that presents the
    hub's own certificate; the test starts the proxy and points `url` at it.
    """
    org, keyring = set_up_school(folder, hub_url="wss://127.0.0.1:1", names=["127.0.0.1"])
    store = Store.open(keyring.store_path)
    hub = Hub(
        keyring,
        store,
        housekeeping_seconds=housekeeping_seconds,
        handshake_seconds=handshake_seconds,
        delivery_seconds=delivery_seconds,
        **hub_options,
    )
    proxy_channel = keyring.channel if behind_proxy else None
    async with hub.serve("127.0.0.1", 0, tls=tls, proxy_channel=proxy_channel) as server:
        port = server.sockets[0].getsockname()[1]
        url = f"{'wss' if tls else 'ws'}://127.0.0.1:{port}"
        room = Classroom(folder, keyring, store, hub, url, org)
        try:
            yield room
        finally:
            for task in room.tasks:
                task.cancel()
            await asyncio.gather(*room.tasks, return_exceptions=True)
    store.close()
