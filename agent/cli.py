"""`homeroom-agent`: enrol this device, then run in the student's desktop session."""

from __future__ import annotations

import asyncio
import functools
import logging
import platform
import shlex
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

from protocol.errors import PeerError

from .state import STATE_FILE, default_folder, load_state

if TYPE_CHECKING:
    import argparse


def _shared_options(*, after_command: bool) -> argparse.ArgumentParser:
    """Options people put before or after the command: `--state DIR run` and `run --state DIR`.

    The copy on each command defaults to SUPPRESS, so leaving it out there keeps what
    was given before the command instead of resetting it.
    """
    import argparse

    from link.help import TerminalHelp

    options = argparse.ArgumentParser(add_help=False, formatter_class=TerminalHelp)
    options.add_argument(
        "--state",
        type=Path,
        default=argparse.SUPPRESS if after_command else None,
        metavar="DIR",
        # Not computed here: the agent would load platformdirs at every start just for this.
        help="folder for this device's key and settings (default: one in this user's "
        "settings folder, e.g. ~/.config/homeroom-agent)",
    )
    options.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS if after_command else False,
        help="log what the agent does",
    )
    return options


def build_parser() -> argparse.ArgumentParser:
    import argparse

    from link.help import TerminalHelp

    parser = argparse.ArgumentParser(
        formatter_class=TerminalHelp,
        prog="homeroom-agent",
        description=__doc__,
        parents=[_shared_options(after_command=False)],
    )
    commands = parser.add_subparsers(dest="command", required=True)
    command = functools.partial(
        commands.add_parser,
        parents=[_shared_options(after_command=True)],
        formatter_class=TerminalHelp,
    )
    enroll = command("enroll", help="join a hub with a token from IT")
    enroll.add_argument("token")
    enroll.add_argument("--name", default=platform.node(), help="how teachers will see it")
    command("run", help="connect to the hub and serve (in the desktop session)")
    command("what-applies", help="who is watching this screen, focus mode, and more")
    return parser


def run_options(argv: list[str]) -> SimpleNamespace | None:
    """`run` with its options as the service starts it, read without argparse; else None.

    The service runs all day, and argparse (with gettext) would stay resident for all of it:
    0.35 MiB. Only `run`, `--state DIR` (or `--state=DIR`) and `-v`/`--verbose` are read
    here, each at most once, anywhere on the line; anything else, help included, goes to
    argparse, which also explains mistakes. tests/agent/test_cli.py checks both agree.
    """
    words = list(argv)
    state: Path | None = None
    verbose = False
    seen: set[str] = set()
    while words:
        word = words.pop(0)
        if word == "--state" and words and not words[0].startswith("-"):
            option, state = "--state", Path(words.pop(0))
        elif word.startswith("--state=") and len(word) > len("--state="):
            option, state = "--state", Path(word.removeprefix("--state="))
        elif word in ("-v", "--verbose"):
            option, verbose = "-v", True
        elif word == "run":
            option = "run"
        else:
            return None
        if option in seen:
            return None
        seen.add(option)
    if "run" not in seen:
        return None
    return SimpleNamespace(command="run", state=state, verbose=verbose)


def main(argv: list[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    args = run_options(words) or build_parser().parse_args(words)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    folder: Path = args.state or default_folder()
    # Every command we suggest names the same folder, so following the hint works.
    state_option = f" --state {shlex.quote(str(folder))}" if args.state else ""
    try:
        if args.command == "enroll":
            from .enrollment import enroll as enroll_device

            state = asyncio.run(enroll_device(args.token, args.name, folder))
            print(f"Enrolled as {state.name!r} in group {state.group!r}.")
            print(f"Device id {state.device_id}; key kept in {folder}.")
            print(f"Now run: homeroom-agent run{state_option}")
            return 0
        if args.command == "what-applies":
            from .what_applies import load

            applies = load(folder)
            if applies is None:
                print("Homeroom has not run on this device yet: nothing of it applies.")
            else:
                print("\n".join(applies.lines()))
            return 0
        if not (folder / STATE_FILE).exists():
            print(
                f"homeroom-agent: this device is not enrolled ({folder / STATE_FILE} is missing).\n"
                f"Ask IT for a token, then run: homeroom-agent enroll TOKEN{state_option}",
                file=sys.stderr,
            )
            return 2
        return asyncio.run(_run(folder))
    except PeerError as error:
        print(
            f"homeroom-agent: {error.detail or error.guidance}\n{error.guidance}", file=sys.stderr
        )
        return 2
    except (FileNotFoundError, FileExistsError, ValueError, OSError) as error:
        print(f"homeroom-agent: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def _run(folder: Path) -> int:
    from .runtime import Agent
    from .screen import open_screen
    from .ui_supervisor import open_desktop

    state = load_state(folder)
    screen = open_screen()
    # The windows live in a supervised child process (this one never loads Tk); with no
    # usable display the agent says so once and runs without them. Starting it waits for the
    # UI process to come up, so off the event loop. The screen's X connection, where there is
    # one, tells it where the monitors are (a connection of its own would hold 1 MiB more).
    monitors = getattr(screen, "monitors", None)
    desktop = await asyncio.to_thread(open_desktop, None, monitors)
    try:
        agent = Agent(state, screen=screen, desktop=desktop, folder=folder, watch_activity=True)
        await agent.run()
    finally:
        await asyncio.to_thread(desktop.close)
    return 0
