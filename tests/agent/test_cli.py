"""`homeroom-agent` as a student device's installer types it: options where people put them."""

from __future__ import annotations

import asyncio
import shlex
import sys
from pathlib import Path

import pytest

from agent.cli import build_parser, main, run_options
from agent.state import load_state

from ..classroom import Classroom, classroom
from ..support import scaled


@pytest.fixture
async def room(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with classroom(tmp_path) as room:
        yield room


@pytest.mark.parametrize(
    "argv",
    [
        ["--state", "/srv/ada", "-v", "run"],
        ["run", "--state", "/srv/ada", "-v"],
        ["-v", "run", "--state", "/srv/ada"],
        ["--state", "/elsewhere", "run", "--state", "/srv/ada", "--verbose"],  # the last wins
    ],
)
def test_state_and_verbose_go_before_or_after_the_command(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.command, args.state, args.verbose) == ("run", Path("/srv/ada"), True)


@pytest.mark.parametrize(
    "argv",
    [
        ["run"],
        ["--state", "/srv/ada", "-v", "run"],
        ["run", "--state", "/srv/ada", "--verbose"],
        ["-v", "run", "--state=/srv/ada lab"],
        ["--state", "", "run"],
        ["run", "-v"],
    ],
)
def test_the_service_start_reads_as_argparse_does(argv: list[str]) -> None:
    # `homeroom-agent run` is read without argparse (it would stay resident all day).
    quick = run_options(argv)
    args = build_parser().parse_args(argv)
    assert quick is not None
    assert (quick.command, quick.state, quick.verbose) == (args.command, args.state, args.verbose)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--help"],
        ["run", "--help"],
        ["run", "run"],
        ["--state", "/a", "run", "--state", "/b"],  # argparse knows which one wins
        ["--state", "-weird", "run"],
        ["--state"],
        ["run", "--state"],
        ["-vv", "run"],
        ["--verb", "run"],  # argparse's abbreviations are argparse's
        ["what-applies"],
        ["enroll", "TOKEN"],
        ["run", "extra"],
    ],
)
def test_anything_else_goes_to_argparse(argv: list[str]) -> None:
    assert run_options(argv) is None


def test_leaving_options_out_keeps_the_defaults() -> None:
    args = build_parser().parse_args(["run"])
    assert (args.state, args.verbose) == (None, False)


@pytest.mark.parametrize("where", ["before", "after"])
def test_an_unenrolled_device_is_told_the_enroll_command_for_its_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    folder = tmp_path / "Ada laptop"  # a space, so the hint must quote it
    options = ["--state", str(folder)]
    assert main([*options, "run"] if where == "before" else ["run", *options]) == 2
    err = capsys.readouterr().err
    assert "this device is not enrolled" in err
    hint = err.rsplit("then run: ", 1)[1].strip()
    assert shlex.split(hint) == ["homeroom-agent", "enroll", "TOKEN", "--state", str(folder)]


async def test_enroll_says_how_to_run_with_the_same_folder(room: Classroom, tmp_path: Path) -> None:
    folder = tmp_path / "Ada laptop"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys; from agent.cli import main; sys.exit(main(sys.argv[1:]))",
        "--state",
        str(folder),
        "enroll",
        room.token(),
        "--name",
        "Ada's laptop",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(scaled(60)):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert load_state(folder).name == "Ada's laptop"
    hint = out.decode().rsplit("Now run: ", 1)[1].strip()
    assert shlex.split(hint) == ["homeroom-agent", "run", "--state", str(folder)]
