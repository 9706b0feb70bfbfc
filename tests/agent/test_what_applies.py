"""The student's "what applies now" panel follows what staff do, over a real hub: who is
watching, focus mode, the lock, and the policy window the policy code fills in."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.cli import main
from protocol.actions import LockScreen, StartFocus, UnlockScreen, Unwatch, Watch
from protocol.messages import Result

from ..classroom import Console, classroom
from .actions_kit import eventually


async def done(console: Console, action: object, device_id: str) -> None:
    command = await console.submit(action, [device_id])
    result = await console.take(Result, lambda r: r.command_id == command.body.id)
    assert result.ok, result.detail


def panel(folder: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main(["what-applies", "--state", str(folder)]) == 0
    return capsys.readouterr().out.splitlines()[1:]  # after "Since HH:MM:SS:"


async def test_the_panel_says_who_watches_and_what_applies_as_it_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["what-applies", "--state", str(tmp_path / "nowhere")]) == 0
    assert "has not run on this device" in capsys.readouterr().out
    async with classroom(tmp_path) as room:
        agent = await room.start_agent("Ada")
        folder, device = agent.folder, agent.state.device_id
        assert folder is not None
        await eventually(lambda: (folder / "what-applies.json").exists(), "no panel written")
        assert panel(folder, capsys) == [
            "Nobody is watching your screen.",
            "Your screen is not locked.",
            "No focus mode.",
            "Policy window: none set.",
        ]
        teacher = await room.console(room.staff("Ms Smith"))
        await done(teacher, Watch(), device)
        await done(teacher, LockScreen(), device)
        await done(teacher, StartFocus(apps=("writer",), sites=("youtube.com",)), device)
        agent.policy_window = lambda: "school hours (teachers may watch and command)"
        await done(teacher, Unwatch(), device)
        lines = panel(folder, capsys)
        assert lines[0] == "Nobody is watching your screen."
        assert lines[1] == "Your screen is locked by your school."
        assert lines[2].startswith("Focus mode: until ") and lines[2].endswith(
            "(Ms Smith): writer; blocked: youtube.com"
        )
        assert lines[3] == "Policy window: school hours (teachers may watch and command)"

        await done(teacher, Watch(), device)
        await done(teacher, UnlockScreen(), device)
        lines = panel(folder, capsys)
        assert lines[:2] == ["Watching your screen now: Ms Smith", "Your screen is not locked."]
