"""Guardians over real sockets, on an injected clock: a parent pauses their own child's
device in the home window, and is refused outside it, for a classmate's device, and for
watching or a screenshot at any time."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from agent.platforms import ActivitySample
from agent.runtime import Agent
from agent.usage import UsageRecord
from hub.policy import publish
from protocol.actions import LockScreen, PauseDevice, ShowSummary, TakeScreenshot, Watch
from protocol.certificates import Role
from protocol.credentials import StaffCredential
from protocol.errors import ErrorCode
from protocol.messages import Answer, Deliver, Error, Roster
from protocol.policy_file import read_policy
from tests.policy_kit import LONDON, WallClock

from ..classroom import Classroom, classroom
from ..support import scaled
from .test_policy import console, refused_by, sent, set_policy, start_agent


@pytest.fixture
def clock() -> WallClock:
    return WallClock()


@pytest.fixture
async def room(tmp_path: Path, clock: WallClock):  # type: ignore[no-untyped-def]
    async with classroom(tmp_path, clock=clock) as room:
        yield room


def guardian_of(room: Classroom, *device_ids: str) -> StaffCredential:
    """Ada's mum's credential as the documented steps make it: her key, the organisation's
    certificate naming her child's devices, recorded by the hub."""
    return room.staff("Ada's mum", Role.GUARDIAN, ("7B",), devices=device_ids)


async def test_a_guardian_pauses_their_childs_device_in_the_home_window(
    room: Classroom, clock: WallClock
) -> None:
    ada = await start_agent(room, "Ada's laptop", clock)
    await start_agent(room, "Ben's laptop", clock)  # a classmate, in the same group
    await set_policy(room, clock)
    mum = await console(room, guardian_of(room, ada.state.device_id), clock)
    roster = await mum.take(Roster)
    assert [d.name for d in roster.devices] == ["Ada's laptop"]  # nobody else's child
    clock.set("mon 17:00")
    paused = await sent(mum, PauseDevice(minutes=30), ada.state.device_id)
    assert paused.ok and "paused until" in paused.detail
    assert ada.desktop.locked
    assert ada.desktop.locked_by == "Ada's mum"  # type: ignore[attr-defined]
    assert "Time off the device until" in ada.desktop.lock_message  # type: ignore[attr-defined]
    clock.set("mon 17:29")
    assert not ada.enforce_policy() and ada.desktop.locked
    clock.set("mon 17:31")  # the pause ends by itself, hub or no hub
    assert ada.enforce_policy() and not ada.desktop.locked


async def test_a_guardian_is_refused_outside_home_for_a_classmate_and_for_screens(
    room: Classroom, clock: WallClock
) -> None:
    ada = await start_agent(room, "Ada's laptop", clock)
    ben = await start_agent(room, "Ben's laptop", clock)
    await set_policy(room, clock)
    credential = guardian_of(room, ada.state.device_id)
    mum = await console(room, credential, clock)
    # School hours: the school window grants guardians nothing.
    result = await sent(mum, PauseDevice(minutes=30), ada.state.device_id)
    assert refused_by(result, "school") and "does not let a guardian pause" in result.detail
    clock.set("mon 23:00")
    assert refused_by(await sent(mum, PauseDevice(), ada.state.device_id), "night")
    clock.set("mon 17:00")
    # A classmate's device, in the home window: not theirs.
    result = await sent(mum, PauseDevice(), ben.state.device_id)
    assert result.code is ErrorCode.GROUP_FORBIDDEN and not ben.desktop.locked
    # Watching, a screenshot or a teacher's lock: never, at any time. (A console is cut
    # off after five refused messages, so each moment gets its own.)
    for moment in ("mon 10:00", "mon 17:00", "mon 23:00"):
        clock.set(moment)
        again = await console(room, credential, clock)
        for action in (Watch(), TakeScreenshot(), LockScreen()):
            await again.submit(action, [ada.state.device_id])
            error = await again.take(Error)
            assert error.code is ErrorCode.ROLE_FORBIDDEN, (moment, action)
    assert not ada.desktop.locked and not ada.leases
    # Classes name other families' children: not for guardians.
    asked = await mum.session.query("classes")
    assert (await mum.take(Error, lambda e: e.ref == asked)).code is ErrorCode.ROLE_FORBIDDEN
    assert not [e for e in mum.inbox.events if isinstance(e, Answer)]


async def test_the_device_refuses_a_guardian_even_through_a_hub_that_lets_them(
    room: Classroom, clock: WallClock
) -> None:
    ada = await start_agent(room, "Ada's laptop", clock)
    ben = await start_agent(room, "Ben's laptop", clock)
    mum = guardian_of(room, ada.state.device_id)
    teacher = await console(room, room.staff("Ms Smith"), clock)
    session = (await console(room, mum, clock)).session
    # Without a policy there is no home window: a guardian may do nothing.
    no_policy = await ada.carry_out(
        Deliver(command=session.sign(PauseDevice(), [ada.state.device_id]))
    )
    assert no_policy.code is ErrorCode.POLICY_FORBIDDEN and "has no policy" in no_policy.detail
    await set_policy(room, clock)
    assert (await sent(teacher, LockScreen(), ben.state.device_id)).ok  # policy 1 arrived
    assert (await sent(teacher, LockScreen(), ada.state.device_id)).ok
    clock.set("mon 17:00")
    pause_ben = session.sign(PauseDevice(), [ben.state.device_id])
    classmate = await ben.carry_out(Deliver(command=pause_ben))
    assert classmate.code is ErrorCode.GROUP_FORBIDDEN  # the certificate names Ada's only
    clock.set("mon 12:00")
    in_school = await ada.carry_out(
        Deliver(command=session.sign(PauseDevice(), [ada.state.device_id]))
    )
    assert refused_by(in_school, "school")


def use_until(agent: Agent, clock: WallClock, hour: int, minute: int) -> None:
    """Monday's time passes up to hour:minute, with the agent's timer every 30 s."""
    start = datetime.fromtimestamp(clock(), LONDON)
    moment = start.replace(second=0, microsecond=0)
    while (moment.hour, moment.minute) < (hour, minute):
        moment += timedelta(seconds=30)
        clock.set(f"mon {moment:%H:%M:%S}")
        agent.usage.tick()


async def test_a_guardian_reads_their_childs_summary_in_the_home_window_only(
    room: Classroom, clock: WallClock
) -> None:
    ada = await start_agent(room, "Ada's laptop", clock)
    ben = await start_agent(room, "Ben's laptop", clock)
    await set_policy(room, clock)
    mum = await console(room, guardian_of(room, ada.state.device_id), clock)
    # After school Ada does her homework, then plays; the watcher sees names and titles.
    clock.set("mon 16:00")
    ada.usage.note(ActivitySample(app="soffice.bin", title="My secret diary.odt"))
    use_until(ada, clock, 16, 40)
    ada.usage.note(ActivitySample(app="\x1b]0;pwned\x07game", title="Level 3"))
    use_until(ada, clock, 17, 0)
    result = await sent(mum, ShowSummary(), ada.state.device_id)
    assert result.ok and result.summary is not None, result
    seconds = {entry.app: entry.seconds for entry in result.summary.apps}
    assert seconds["soffice.bin"] >= 2400 and seconds["\ufffd]0;pwned\ufffdgame"] >= 1200
    assert "diary" not in repr(result) and "Level" not in repr(result)  # never titles
    assert "soffice" not in result.detail  # the audit log's words: no application names
    # Outside the home window, and for a classmate: refused, and nothing of it is sent.
    clock.set("mon 10:00")
    in_school = await sent(mum, ShowSummary(), ada.state.device_id)
    assert refused_by(in_school, "school") and in_school.summary is None
    clock.set("mon 23:00")
    assert refused_by(await sent(mum, ShowSummary(), ada.state.device_id), "night")
    clock.set("mon 17:00")
    classmate = await sent(mum, ShowSummary(), ben.state.device_id)
    assert classmate.code is ErrorCode.GROUP_FORBIDDEN and classmate.summary is None


#: A home window open all day, every day: for the installed command, on the real clock.
ALL_DAY_HOME = """\
time_zone = "UTC"

[[window]]
name = "home"
start = "00:00"
end = "00:00"
[window.allow]
guardian = ["pause", "summary"]
"""


async def test_a_parent_pauses_from_the_installed_command(tmp_path: Path) -> None:
    async with classroom(tmp_path) as room:
        ada = await room.start_agent("Ada's laptop")
        ben = await room.start_agent("Ben's laptop")
        admin = room.staff("Ada Admin", Role.ADMIN, ("*",))
        publish(room.store, room.keyring.org_public, admin, read_policy(ALL_DAY_HOME),
                group="7B", now=int(time.time()))  # fmt: skip
        await room.hub.housekeep()
        credential = tmp_path / "mum.credential"
        credential.write_bytes(guardian_of(room, ada.state.device_id).encode())

        async def do(*args: str) -> tuple[int, str, str]:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "console", "do", *args,
                "--credential", str(credential), "--wait", str(scaled(10)),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            async with asyncio.timeout(scaled(60)):
                out, err = await process.communicate()
            return process.returncode or 0, out.decode(), err.decode()

        code, out, err = await do("pause", "--to", "Ada's laptop", "minutes=20")
        assert code == 0, err
        assert "Ada's laptop: ok" in out and ada.desktop.locked
        # Two hours of use on the device's record, on its own injected clock.
        used = [time.time() - 2 * 3600]
        ada.usage = UsageRecord(None, clock=lambda: used[0])
        ada.usage.note(ActivitySample(app="\x1b]0;pwned\x07firefox", title="Ada's chat"))
        for _ in range(2 * 60):
            used[0] += 60
            ada.usage.tick()
        since = f"since={int(used[0]) - 3 * 3600}"
        code, out, err = await do("summary", "--to", "Ada's laptop", since)
        assert code == 0, err
        assert out.startswith("Ada's laptop since ") and "on for 2 h 00 min;" in out, out
        assert "\ufffd]0;pwned\ufffdfirefox 2 h 00 min" in out and "\x1b" not in out
        code, out, err = await do("summary", "--to", "Ada's laptop", "--json", since)
        [row] = json.loads(out)
        assert row["summary"]["apps"] == [{"app": "\ufffd]0;pwned\ufffdfirefox", "seconds": 7200}]
        assert "chat" not in out
        code, _, err = await do("pause", "--to", "Ben's laptop")
        assert code != 0 and not ben.desktop.locked  # not on her roster at all
        code, _, err = await do("screenshot", "--to", "Ada's laptop")
        assert code == 2 and "role" in err.lower()
