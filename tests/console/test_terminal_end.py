"""The console ends with its terminal: a killed tmux session leaves no Homeroom process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from tests.support import scaled

REPO = Path(__file__).resolve().parents[2]
SOCKET = f"homeroom-grid-{os.getpid()}"  # our own tmux server: other tests keep theirs


def tmux(*args: str) -> str:
    return subprocess.run(
        ["tmux", "-L", SOCKET, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=scaled(20),
    ).stdout


def wait_for_screen(check: Callable[[str], bool], seconds: float = 60.0) -> str:
    # tmux offers no event for "the pane shows this": poll its text, bounded by a deadline.
    deadline = time.monotonic() + scaled(seconds)
    while True:
        screen = tmux("capture-pane", "-p", "-t", "demo")
        if check(screen):
            return screen
        if time.monotonic() > deadline:
            raise AssertionError(f"the terminal never showed it; last screen:\n{screen}")
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        f"{Path(sys.executable).parent / 'homeroom-console'} --demo 12 --pictures halfblock",
        "make demo",
    ],
    ids=["installed", "make-demo"],
)
def test_killing_the_tmux_session_ends_the_console(command: str) -> None:
    tmux("new-session", "-d", "-s", "demo", "-x", "160", "-y", "48", f"cd {REPO} && {command}")
    try:
        wait_for_screen(_demo_is_up)
        pane = psutil.Process(int(tmux("display-message", "-p", "-t", "demo", "#{pane_pid}")))
        processes = [pane, *pane.children(recursive=True)]
        names = [" ".join(p.cmdline()[:3]) for p in processes]
        assert any("homeroom-console" in name or "console" in name for name in names), names

        tmux("kill-session", "-t", "demo")

        _, alive = psutil.wait_procs(processes, timeout=scaled(15))
        left = [(p.pid, " ".join(p.cmdline()), p.cpu_percent(0.5)) for p in alive if _running(p)]
        assert left == [], f"still running after the terminal went away: {left}"
    finally:
        tmux("kill-server")


def _demo_is_up(screen: str) -> bool:
    """Signed in, with students online and drawn. Not "four tiles online": how many tiles
    show their status line depends on where the grid is scrolled, which follows the cursor,
    whose start depends on the order the demo's students happen to connect in."""
    return "Signed in" in screen and "● online" in screen


def _running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.slow
def test_sigterm_ends_a_console_whose_terminal_stopped_reading() -> None:
    """A stopped tmux server reads nothing: the console's output queue fills and its event
    loop waits on it. SIGTERM must end it all the same (console/hangup.py)."""
    command = f"{Path(sys.executable).parent / 'homeroom-console'} --demo 12 --pictures halfblock"
    tmux("new-session", "-d", "-s", "demo", "-x", "160", "-y", "48", f"cd {REPO} && {command}")
    try:
        wait_for_screen(_demo_is_up)
        pane = psutil.Process(int(tmux("display-message", "-p", "-t", "demo", "#{pane_pid}")))
        processes = [pane, *pane.children(recursive=True)]
        [console] = [p for p in processes if "homeroom-console" in " ".join(p.cmdline())]
        server = psutil.Process(pane.ppid())
        server.suspend()
        try:
            _wait_until_stuck(console)
            console.terminate()
            _, alive = psutil.wait_procs([console], timeout=scaled(15))
            assert not [p for p in alive if _running(p)], "the console ignored SIGTERM"
        finally:
            server.resume()
    finally:
        tmux("kill-server")


def _wait_until_stuck(console: psutil.Process) -> None:
    """Until the console's main thread has waited on a lock for a while, not on its event
    loop's poll: its terminal no longer takes output. (Polled: Linux reports no event.)"""
    deadline = time.monotonic() + scaled(60)
    waiting = 0
    while waiting < 10:
        if time.monotonic() > deadline:
            raise AssertionError("the console's event loop never got stuck on its terminal")
        wchan = Path(f"/proc/{console.pid}/wchan").read_text()
        waiting = waiting + 1 if "futex" in wchan else 0
        time.sleep(0.1)
