"""`homeroom-agent`: enrol this device, then run in the student's desktop session."""

from __future__ import annotations

import argparse
import asyncio
import logging
import platform
import sys
from pathlib import Path

from protocol.errors import PeerError

from .state import default_folder, load_state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="homeroom-agent", description=__doc__)
    parser.add_argument(
        "--state",
        type=Path,
        default=None,
        help=f"folder for this device's key and settings (default: {default_folder()})",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)
    enroll = commands.add_parser("enroll", help="join a hub with a token from IT")
    enroll.add_argument("token")
    enroll.add_argument("--name", default=platform.node(), help="how teachers will see it")
    commands.add_parser("run", help="connect to the hub and serve (in the desktop session)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    folder: Path = args.state or default_folder()
    try:
        if args.command == "enroll":
            from .enrollment import enroll as enroll_device

            state = asyncio.run(enroll_device(args.token, args.name, folder))
            print(f"Enrolled as {state.name!r} in group {state.group!r}.")
            print(f"Device id {state.device_id}; key kept in {folder}.")
            print("Now run: homeroom-agent run" + (f" --state {folder}" if args.state else ""))
            return 0
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
    from .screen import MssScreen
    from .ui_supervisor import open_desktop

    state = load_state(folder)
    # The windows live in a supervised child process (this one never loads Tk); with no
    # usable display the agent says so once and runs without them. Starting it waits for the
    # UI process to come up, so off the event loop.
    desktop = await asyncio.to_thread(open_desktop)
    try:
        await Agent(state, screen=MssScreen(), desktop=desktop, folder=folder).run()
    finally:
        await asyncio.to_thread(desktop.close)
    return 0
