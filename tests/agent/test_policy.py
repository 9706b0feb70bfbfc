"""The policy on the device with no hub reachable: a night lock window on an injected
clock, the saved policy refused when edited by hand, policies the device must refuse."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.desktop import HeadlessDesktop
from agent.policy import POLICY_FILE
from agent.runtime import Agent
from agent.screen import SyntheticScreen
from agent.state import AgentState
from protocol.actions import AnyAction, LockScreen, UnlockScreen
from protocol.certificates import Role
from protocol.commands import sign_command
from protocol.credentials import StaffCredential
from protocol.errors import ErrorCode, PeerError
from protocol.messages import Deliver
from protocol.policy import SignedPolicy, sign_policy
from protocol.policy_file import read_policy
from tests.policy_kit import EVERY_WEEK, WallClock

from ..classroom import classroom


@dataclass
class Device:
    """An enrolled device whose hub has gone away, and the school's staff credentials."""

    state: AgentState
    folder: Path
    admin: StaffCredential
    teacher: StaffCredential
    it: StaffCredential
    clock: WallClock

    def agent(self) -> Agent:
        return Agent(
            self.state,
            screen=SyntheticScreen("Ada", 1),
            desktop=HeadlessDesktop(),
            folder=self.folder,
            clock=self.clock,
        )

    def sign(self, staff: StaffCredential, action: AnyAction) -> Deliver:
        command = sign_command(
            staff.key,
            staff.certificate,
            targets=[self.state.device_id],
            action=action,
            now=int(self.clock()),
        )
        return Deliver(command=command)

    def policy(self, *, sequence: int = 1, signer: StaffCredential | None = None) -> SignedPolicy:
        signer = signer or self.admin
        return sign_policy(
            signer.key,
            signer.certificate,
            read_policy(EVERY_WEEK),
            group="7B",
            sequence=sequence,
            now=int(self.clock()),
        )


@pytest.fixture
async def device(tmp_path: Path) -> AsyncIterator[Device]:
    async with classroom(tmp_path) as room:
        state, folder = await room.enroll("Ada's laptop")
        admin = room.staff("Ada Admin", Role.ADMIN, ("*",))
        teacher = room.staff("Ms Smith")
        it = room.staff("Sam", Role.IT, ("*",))
    # The hub has stopped: nothing below can reach it.
    yield Device(state, folder, admin, teacher, it, WallClock())


async def test_a_night_window_locks_and_unlocks_the_device_offline(device: Device) -> None:
    device.clock.set("mon 20:59")
    agent = device.agent()
    assert agent.policy.receive(device.policy())
    desktop = agent.desktop
    assert isinstance(desktop, HeadlessDesktop)
    assert not agent.enforce_policy() and not desktop.locked
    device.clock.set("mon 21:00")
    assert agent.enforce_policy() and desktop.locked
    assert desktop.locked_by == "the night window"
    assert desktop.lock_message == "Night time: this device is resting until 06:30."
    device.clock.set("tue 03:00")
    assert not agent.enforce_policy() and desktop.locked
    device.clock.set("tue 06:30")
    assert agent.enforce_policy() and not desktop.locked
    assert not agent.enforce_policy() and not desktop.locked


async def test_an_agent_started_in_the_night_locks_at_once(device: Device) -> None:
    device.clock.set("mon 12:00")
    assert device.agent().policy.receive(device.policy())  # saved in its folder
    device.clock.set("tue 02:00")
    restarted = device.agent()  # e.g. the student killed it
    assert restarted.desktop.locked and restarted.policy.sequence == 1


async def test_a_staff_lock_outlives_the_night_window(device: Device) -> None:
    # The example lets nobody lock at night; this policy lets IT, to show whose lock it is.
    text = EVERY_WEEK.replace('it = ["system_info"]', 'it = ["system_info", "lock"]')
    device.clock.set("mon 22:00")
    agent = device.agent()
    signed = sign_policy(
        device.admin.key,
        device.admin.certificate,
        read_policy(text),
        group="7B",
        sequence=1,
        now=int(device.clock()),
    )
    assert agent.policy.receive(signed)
    assert agent.enforce_policy() and agent.desktop.locked
    lock = device.sign(device.it, LockScreen(message="Sent for repair"))
    assert (await agent.carry_out(lock)).ok
    device.clock.set("tue 06:30")
    assert not agent.enforce_policy()  # the window's end lifts only its own lock
    desktop = agent.desktop
    assert isinstance(desktop, HeadlessDesktop)
    assert desktop.locked and desktop.lock_message == "Sent for repair"


async def test_a_policy_edited_by_hand_on_the_device_is_refused(device: Device) -> None:
    device.clock.set("mon 17:00")
    agent = device.agent()
    assert agent.policy.receive(device.policy())
    saved = json.loads((device.folder / POLICY_FILE).read_bytes())
    home = saved["body"]["rules"]["windows"][1]
    assert home["name"] == "home"
    home["capture"] = False
    home["allow"] = []  # the student closes the home window to everyone
    (device.folder / POLICY_FILE).write_text(json.dumps(saved))
    restarted = device.agent()
    assert restarted.policy.held is None and restarted.policy.problem is not None
    assert "bad_signature" in restarted.policy.problem
    assert [r.kind for r in restarted._reports] == ["policy_refused"]  # told once online


async def test_the_device_refuses_a_policy_not_an_admins_or_older(device: Device) -> None:
    agent = device.agent()
    assert agent.policy.receive(device.policy(sequence=2))
    with pytest.raises(PeerError) as refused:
        agent.policy.receive(device.policy(sequence=1))
    assert refused.value.code is ErrorCode.POLICY_OUTDATED
    with pytest.raises(PeerError) as refused:
        agent.policy.receive(device.policy(sequence=3, signer=device.teacher))
    assert refused.value.code is ErrorCode.ROLE_FORBIDDEN
    assert agent.policy.sequence == 2


async def test_commands_are_refused_on_the_device_clock_naming_the_window(device: Device) -> None:
    device.clock.set("mon 10:00")
    agent = device.agent()
    agent.policy.receive(device.policy())
    teacher = device.teacher
    assert (await agent.carry_out(device.sign(teacher, LockScreen()))).ok
    assert (await agent.carry_out(device.sign(teacher, UnlockScreen()))).ok
    device.clock.set("mon 16:00")
    refused = await agent.carry_out(device.sign(teacher, LockScreen()))
    assert refused.code is ErrorCode.POLICY_FORBIDDEN and "home window" in refused.detail
    assert not agent.desktop.locked


async def test_the_students_panel_names_the_window_in_force(device: Device) -> None:
    device.clock.set("mon 10:00")
    agent = device.agent()
    assert agent.what_applies().window is None  # no policy yet: the panel says none is set
    assert agent.policy.receive(device.policy())
    school = agent.what_applies().window
    assert school is not None and school.startswith("school 08:30-15:30: your screen may be")
    assert "teacher:" in school
    device.clock.set("mon 16:00")
    home = agent.what_applies().window
    assert home is not None and home.startswith("home 15:30-21:00: nobody may see your screen")
    device.clock.set("sat 12:00")
    assert "outside every window" in (agent.what_applies().window or "")
