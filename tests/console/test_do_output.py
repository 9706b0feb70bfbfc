"""`homeroom-console do` prints what devices return readably, saves screenshots, and shows a
hostile device's words literally. A real hub, real agent code, the command in a new process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from ..agent.test_actions_console_do import console_do
from ..classroom import Classroom, classroom
from .test_it_desk import HOSTILE_NAME, STUDENT, HostilePlatform


@pytest.fixture
async def room(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with classroom(tmp_path) as room:
        yield room


async def test_system_facts_print_aligned_and_literally(room: Classroom) -> None:
    await room.start_agent(HOSTILE_NAME, platform=HostilePlatform(student_uid=STUDENT, env={}))
    code, out, err = await console_do(room, "system_info", "--to", HOSTILE_NAME)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"{HOSTILE_NAME}: ok"
    assert "\x1b" not in out and "\x07" not in out
    facts = {line.split()[0]: line for line in lines[1:]}
    model = next(line for line in lines if line.startswith("  model "))
    serial = next(line for line in lines if line.startswith("  serial number "))
    # Every value starts in one column, whatever the length of its name.
    assert model.index("\ufffd]0;owned") == serial.index("SN-42")
    assert model.endswith("\ufffd]0;owned\ufffd\ufffd[31m[link=x]Model X[/link]")
    assert "hostname" in facts


async def test_processes_print_as_an_aligned_table(room: Classroom) -> None:
    await room.start_agent(HOSTILE_NAME, sample_seconds=0.1)
    code, out, err = await console_do(room, "list_processes", "--to", HOSTILE_NAME)
    assert code == 0, err
    header, *rows = out.splitlines()[1:]
    assert header.split() == ["PID", "CPU", "%", "MEMORY", "USER", "NAME", "/", "WINDOW"]
    name_column = header.index("NAME")
    assert rows and all(len(row) > name_column and row[name_column - 2] == " " for row in rows)


async def test_a_screenshot_is_saved_where_the_command_line_says(
    room: Classroom, tmp_path: Path
) -> None:
    agent = await room.start_agent(HOSTILE_NAME)
    target = tmp_path / "shot.png"
    code, out, err = await console_do(
        room, "screenshot", "--to", HOSTILE_NAME, "--save", str(target), "--json"
    )
    assert code == 0, err
    [row] = json.loads(out)
    assert row["name"] == HOSTILE_NAME and row["saved_to"] == str(target)
    with Image.open(target) as image:
        assert image.format == "PNG"
        assert (
            image.size
            == agent.screen.size
            == (row["screenshot"]["width"], row["screenshot"]["height"])
        )
    code, out, err = await console_do(room, "screenshot", "--all", "--save", str(target))
    assert code == 0, err
    assert f"  saved to    {target}" in out.splitlines()
