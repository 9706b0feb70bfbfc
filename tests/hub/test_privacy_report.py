"""The privacy report lists exactly what the audit log recorded for one device, through a
real hub: the watches, screenshots and commands of every staff member, and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.cli import main
from hub.privacy_report import as_text, privacy_report
from protocol.actions import Action, GetSystemInfo, LockScreen, SendMessage, TakeScreenshot, Watch
from protocol.certificates import ALL_GROUPS, Role
from protocol.errors import ErrorCode
from protocol.messages import Answer, Error, Result

from ..agent.actions_kit import eventually
from ..classroom import Console, classroom


async def test_the_report_lists_exactly_the_watches_screenshots_and_commands_of_a_device(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with classroom(tmp_path) as room:
        ada = await room.start_agent("Ada")
        bilal = await room.start_agent("Bilal")
        a, b = ada.state.device_id, bilal.state.device_id
        teacher = await room.console(room.staff("Ms Smith"))
        it = await room.console(room.staff("IT desk", Role.IT, (ALL_GROUPS,)))

        async def done(console: Console, action: Action, targets: list[str]) -> str:
            command = await console.submit(action, targets)
            answered: set[str] = set()
            while answered != set(targets):
                result = await console.take(Result, lambda r: r.command_id == command.body.id)
                answered.add(result.device_id)
            return command.body.id

        watched = await done(teacher, Watch(), [a])
        captured = await done(teacher, TakeScreenshot(max_width=64), [a])
        locked = await done(teacher, LockScreen(message="Eyes up"), [a, b])
        await done(teacher, SendMessage(text="Only Bilal"), [b])  # not Ada's
        asked = await done(it, GetSystemInfo(), [a])
        # The hub passes a result on, then records it: wait for the record of the last one.
        await eventually(
            lambda: any(
                asked in r.detail for r in room.store.audit(limit=3) if r.action == "result"
            ),
            "the last result was never recorded",
        )

        entries = privacy_report(room.store, a)
        assert [(e.command_id, e.who, e.kind, e.action, e.outcome) for e in entries] == [
            (watched, "Ms Smith", "watched", "watch", "ok"),
            (captured, "Ms Smith", "captured", "screenshot", "ok"),
            (locked, "Ms Smith", "commanded", "lock", "ok"),
            (asked, "IT desk", "commanded", "system_info", "ok"),
        ]
        assert [e.role for e in entries] == ["teacher", "teacher", "teacher", "it"]
        assert entries[1].detail.startswith("screenshot ")  # its size, as the hub recorded it
        assert [e.action for e in privacy_report(room.store, b)] == ["lock", "message"]

        # The command line, on the running hub's data folder.
        data = str(room.folder / "hub")
        assert main(["privacy-report", "--data", data, "--device", "Ada"]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0] == "Privacy report for Ada: 4 recorded"
        assert [line.split("  ", 1)[1] for line in lines[1:3]] == [
            "Ms Smith (teacher) watched -> ok",
            f"Ms Smith (teacher) captured -> ok: {entries[1].detail}",
        ]
        assert "Ms Smith (teacher) commanded: lock -> ok" in lines[3]
        assert main(["privacy-report", "--data", data, "--device", a, "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["device"] == "Ada"
        assert [e["command_id"] for e in report["entries"]] == [watched, captured, locked, asked]
        assert main(["privacy-report", "--data", data, "--device", "Nobody"]) == 2
        assert "no device called 'Nobody'" in capsys.readouterr().err


def test_what_a_device_said_is_printed_without_its_escapes(tmp_path: Path) -> None:
    from hub.privacy_report import PrivacyEntry

    hostile = "done\x1b[2J\x1b]0;pwned\x07\nfake line"
    entry = PrivacyEntry(
        at=0,
        who="Ms Smith",
        role="teacher",
        serial="ab",
        kind="commanded",
        action="lock",
        command_id="0" * 32,
        outcome="ok",
        detail=hostile,
    )
    text = as_text("Ada\x1b[31m", [entry])
    assert "\x1b" not in text and "\x07" not in text
    assert len(text.splitlines()) == 2  # the device's newline does not forge a row


async def test_only_school_wide_it_and_admins_may_ask_the_hub_for_a_report(tmp_path: Path) -> None:
    async with classroom(tmp_path) as room:
        ada = await room.start_agent("Ada")
        teacher = await room.console(room.staff("Ms Smith"))
        asked = await teacher.session.query("privacy", device_id=ada.state.device_id)
        refused = await teacher.take(Error, lambda e: e.ref == asked)
        assert refused.code is ErrorCode.ROLE_FORBIDDEN and "school-wide IT" in refused.message
        it = await room.console(room.staff("IT desk", Role.IT, (ALL_GROUPS,)))
        asked = await it.session.query("privacy", device_id="0" * 64)
        unknown = await it.take(Error, lambda e: e.ref == asked)
        assert unknown.code is ErrorCode.UNKNOWN_DEVICE
        sent = await teacher.submit(Watch(), [ada.state.device_id])
        await teacher.take(Result, lambda r: r.command_id == sent.body.id)
        asked = await it.session.query("privacy", device_id=ada.state.device_id)
        answer = await it.take(Answer, lambda a: a.id == asked)
        assert [(line.who, line.kind) for line in answer.privacy] == [("Ms Smith", "watched")]
