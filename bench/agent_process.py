"""The real agent in a process of its own, so the frame benchmark can measure its CPU alone.

Usage: python -m bench.agent_process STATE_FOLDER STATS_FILE [--tk]
Runs `agent.runtime.Agent` on the display in $DISPLAY (grabbing as `homeroom-agent run`
does, through `agent.screen.open_screen`) with the headless desktop, or the Tk desktop with
--tk. On SIGTERM it writes what its capture did (counts and durations) to STATS_FILE as
JSON, then exits.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from agent.desktop import Desktop, HeadlessDesktop
from agent.runtime import Agent
from agent.screen import open_screen
from agent.state import load_state


async def run(folder: Path, stats_file: Path, tk: bool) -> None:
    desktop: Desktop
    if tk:
        from agent.tk_desktop import TkDesktop

        desktop = TkDesktop()
    else:
        desktop = HeadlessDesktop()
    screen = open_screen()
    agent = Agent(load_state(folder), screen=screen, desktop=desktop, folder=folder)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    running = asyncio.create_task(agent.run())
    await stop.wait()
    running.cancel()
    stats = agent.capture.stats
    stats_file.write_text(
        json.dumps(
            {
                "screen": type(screen).__name__,
                "captures": stats.captures,
                "full_grabs": stats.full_grabs,
                "partial_grabs": stats.partial_grabs,
                "skipped_grabs": stats.skipped_grabs,
                "pixels_grabbed": stats.pixels_grabbed,
                "durations": list(stats.durations),
                "cpu_durations": list(stats.cpu_durations),
                "frames_sent": agent.frames_sent,
            }
        )
    )
    screen.close()
    desktop.close()


def main() -> None:
    folder, stats_file = Path(sys.argv[1]), Path(sys.argv[2])
    asyncio.run(run(folder, stats_file, "--tk" in sys.argv[3:]))


if __name__ == "__main__":
    main()
