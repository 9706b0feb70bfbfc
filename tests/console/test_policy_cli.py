"""`homeroom-console policy set`: an admin signs a group's policy on their own machine and
sends it over their own session; the hub checks, audits, keeps and delivers it at once."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from console.policy_cli import _send, sign
from console.session import ConsoleSession
from protocol.actions import GetSystemInfo
from protocol.certificates import Role
from protocol.messages import Result
from protocol.policy import sign_policy
from protocol.policy_file import read_policy
from tests.policy_kit import EXAMPLE

from ..classroom import Classroom, classroom
from ..support import scaled


@pytest.fixture
async def room(tmp_path: Path) -> AsyncIterator[Classroom]:
    async with classroom(tmp_path) as room:
        yield room


#: Admins may do anything all day: a command's Result shows the device read the policy.
ALL_DAY = """\
time_zone = "UTC"

[[window]]
name = "all-day"
start = "00:00"
end = "00:00"
[window.allow]
admin = ["*"]
"""


def policy_file(room: Classroom, text: str = EXAMPLE) -> Path:
    path = room.folder / "7B.toml"
    path.write_text(text)
    return path


async def test_an_admin_sets_a_policy_over_their_own_session(
    room: Classroom, capsys: pytest.CaptureFixture[str]
) -> None:
    agent = await room.start_agent("Ada's laptop")
    admin = room.staff("Ada Admin", Role.ADMIN, ("*",))
    now = int(time.time())
    signed = sign(admin, policy_file(room, ALL_DAY), "7B", None, now=now)
    assert signed.body.sequence == signed.body.issued_at == now  # numbered by its time
    assert await _send(ConsoleSession(admin), signed, scaled(10)) == 0
    assert f"Policy {now} for '7B' set on the hub, signed by 'Ada Admin'" in (
        capsys.readouterr().out
    )
    # Sent to the group's online device at once, not at the next housekeeping round; the
    # hub sends a device everything in order, so a command's Result comes after it.
    console = await room.console(admin)
    command = await console.submit(GetSystemInfo(), [agent.state.device_id])
    result = await console.take(Result, lambda r: r.command_id == command.body.id)
    assert result.ok and agent.policy.held == signed
    (row,) = [r for r in room.store.audit(limit=20) if r.action == "policy_set"]
    assert row.result == "ok" and row.actor.startswith("Ada Admin (admin ")
    assert f"7B policy {now}: windows all-day" in row.detail
    # The same policy again, or an older one, is refused, and the hub says what to give.
    older = sign(admin, policy_file(room), "7B", 5, now=now)
    assert await _send(ConsoleSession(admin), older, scaled(10)) == 1
    said = capsys.readouterr().err
    assert f"already has policy {now}" in said and f"--sequence {now + 1}" in said
    rows = [r for r in room.store.audit(limit=20) if r.action == "policy_set"]
    assert [r.result for r in rows] == ["refused", "ok"]


async def test_only_the_signing_admin_of_the_group_sets_it(
    room: Classroom, capsys: pytest.CaptureFixture[str]
) -> None:
    teacher = room.staff("Ms Smith")
    with pytest.raises(ValueError, match="only an admin may sign a policy"):
        sign(teacher, policy_file(room), "7B", None, now=int(time.time()))
    other = room.staff("Olly Admin", Role.ADMIN, ("8C",))
    with pytest.raises(ValueError, match="does not cover '7B'"):
        sign(other, policy_file(room), "7B", None, now=int(time.time()))
    # A teacher's key signing by hand is refused by the hub, which names the role.
    rules = read_policy(EXAMPLE)
    forged = sign_policy(
        teacher.key, teacher.certificate, rules, group="7B", sequence=9, now=int(time.time())
    )
    assert await _send(ConsoleSession(teacher), forged, scaled(10)) == 1
    assert "teacher may not set a policy" in capsys.readouterr().err
    # An admin's signed policy is sent from that admin's own session, nobody else's.
    admin = room.staff("Ada Admin", Role.ADMIN, ("*",))
    signed = sign(admin, policy_file(room), "7B", None, now=int(time.time()))
    assert await _send(ConsoleSession(teacher), signed, scaled(10)) == 1
    assert "they send it from their own console" in capsys.readouterr().err
    assert room.store.policy("7B") is None


async def test_a_mistake_in_the_file_names_its_line(room: Classroom) -> None:
    admin = room.staff("Ada Admin", Role.ADMIN, ("*",))
    path = room.folder / "7B.toml"
    path.write_text(EXAMPLE.replace('start = "21:00"', 'start = "9pm"'))
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "9pm" in text)
    with pytest.raises(ValueError, match=f"7B.toml, line {line}: '9pm' is not a time of day"):
        sign(admin, path, "7B", None, now=int(time.time()))
