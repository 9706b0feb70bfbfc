"""What the hub keeps across a kill -9: enrollments, classes, staff, audit, queued commands."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from agent.desktop import HeadlessDesktop
from agent.enrollment import enroll
from agent.runtime import Agent
from agent.screen import SyntheticScreen
from agent.state import AgentState
from console.session import ConsoleSession
from hub.keyring import Keyring
from hub.store import Store
from protocol.actions import LockScreen, SendMessage
from protocol.credentials import StaffCredential
from protocol.errors import ErrorCode
from protocol.messages import DeviceChanged, Error, Result

from ..classroom import Inbox
from ..support import scaled
from .processes import free_port, homeroom_hub, serving
from .test_cli import certify, set_up


@asynccontextmanager
async def running_agent(
    state: AgentState, folder: Path, desktop: HeadlessDesktop, inbox: Inbox
) -> AsyncIterator[Agent]:
    """Ada's agent, from when the teacher's console sees her online."""
    inbox.events = [e for e in inbox.events if not isinstance(e, DeviceChanged)]  # old news
    agent = Agent(state, screen=SyntheticScreen("Ada", 1), desktop=desktop, folder=folder)
    task = asyncio.create_task(agent.run())
    try:
        await inbox.take(
            DeviceChanged, lambda e: e.device.device_id == state.device_id and e.device.online
        )
        yield agent
    finally:
        connection = agent._ws
        task.cancel()
        if connection is not None:  # the laptop goes to sleep: its connection just stops
            connection.transport.abort()
        await asyncio.gather(task, return_exceptions=True)


async def signed_in(credential: StaffCredential) -> tuple[ConsoleSession, Inbox]:
    session = ConsoleSession(credential)
    await session.connect()
    return session, Inbox(session)


async def test_a_hub_killed_mid_lesson_keeps_everything_and_delivers_once(
    tmp_path: Path,
) -> None:
    port = free_port()
    data = set_up(tmp_path, "--url", f"wss://127.0.0.1:{port}", "--name", "127.0.0.1")
    hub = await serving(data)
    try:
        credential, _ = certify(tmp_path, "Ms Smith", "--role", "teacher", "--group", "7B")
        token = await homeroom_hub("token", "create", "--data", str(data), "--group", "7B")
        state = await enroll(token.strip(), "Ada's laptop", tmp_path / "ada")
        await homeroom_hub("class", "create", "7B Maths", "--group", "7B", "--data", str(data))
        await homeroom_hub("class", "add", "7B Maths", "Ada's laptop", "--data", str(data))

        # Mid-lesson: Ada is online and gets locked; then her laptop goes to sleep and the
        # teacher leaves her a message to be delivered when it is back.
        console, inbox = await signed_in(credential)
        async with running_agent(state, tmp_path / "ada", HeadlessDesktop(), inbox):
            lock = await console.submit(LockScreen(message="Eyes on me"), [state.device_id])
            assert (await inbox.take(Result, lambda r: r.command_id == lock.body.id)).ok
        await inbox.take(
            DeviceChanged, lambda e: e.device.device_id == state.device_id and not e.device.online
        )
        note = await console.submit(
            SendMessage(text="See me after class"), [state.device_id], queue=True, ttl=600
        )
        store = Store.open(Keyring.load(data).store_path)
        async with asyncio.timeout(scaled(10)):
            while not store.queued(state.device_id):
                await asyncio.sleep(0.05)  # another process writes it; nothing to wait on
        await console.close()

        hub.send_signal(signal.SIGKILL)  # no chance to flush or say goodbye
        assert await hub.wait() == -signal.SIGKILL
        hub = await serving(data)

        assert [d.name for d in store.devices()] == ["Ada's laptop"]
        assert [(c.name, c.device_ids) for c in store.classes()] == [
            ("7B Maths", (state.device_id,))
        ]
        assert "Ms Smith" in [s.name for s in store.staff()]
        actions = [row.action for row in store.audit(limit=100)]
        assert {"staff_add", "enroll", "lock", "message"} <= set(actions), actions
        assert store.verify_audit() is None

        # Ada's laptop comes back: the message arrives once, and its result reaches the teacher.
        console, inbox = await signed_in(credential)
        desktop = HeadlessDesktop()
        async with running_agent(state, tmp_path / "ada", desktop, inbox):
            result = await inbox.take(Result, lambda r: r.command_id == note.body.id)
            assert result.ok
            assert [m.text for m in desktop.messages] == ["See me after class"]
            await console.send_signed(lock)  # a copy of the earlier lock: still remembered
            assert (await inbox.take(Error)).code is ErrorCode.REPLAYED
        assert store.queued() == []
        # And again later: nothing is delivered twice.
        desktop = HeadlessDesktop()
        async with running_agent(state, tmp_path / "ada", desktop, inbox):
            hello = await console.submit(SendMessage(text="Welcome back"), [state.device_id])
            assert (await inbox.take(Result, lambda r: r.command_id == hello.body.id)).ok
            assert [m.text for m in desktop.messages] == ["Welcome back"]
        await console.close()
        store.close()
    finally:
        if hub.returncode is None:
            hub.send_signal(signal.SIGTERM)
            await hub.wait()
    assert os.path.exists(data)


async def test_sigterm_closes_connections_as_going_away_and_the_hub_restarts(
    tmp_path: Path,
) -> None:
    port = free_port()
    data = set_up(tmp_path, "--url", f"wss://127.0.0.1:{port}", "--name", "127.0.0.1")
    admin, _ = certify(tmp_path, "Administrator", "--role", "admin")
    hub = await serving(data)
    try:
        console, _ = await signed_in(admin)
        assert console._ws is not None
        hub.send_signal(signal.SIGTERM)
        await asyncio.wait_for(console._ws.wait_closed(), scaled(10))
        assert console._ws.close_code == 1001  # going away: reconnect later
        assert await asyncio.wait_for(hub.wait(), scaled(10)) == 0
        hub = await serving(data)  # and it starts again on the same port
        console, _ = await signed_in(admin)
        await console.close()
    finally:
        if hub.returncode is None:
            hub.send_signal(signal.SIGTERM)
            await hub.wait()
