"""The installed `homeroom-console --demo` in a real terminal (tmux), driven by keys as IT:
the fleet, a device set to "in repair", a CSV export with one row per device, labels."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from ..support import scaled

# Its own tmux server: other terminal tests, and other suites, may run meanwhile.
SOCKET = f"homeroom-itdesk-test-{os.getpid()}"


def tmux(*args: str) -> str:
    return subprocess.run(
        ["tmux", "-L", SOCKET, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=scaled(20),
    ).stdout


def keys(*names: str) -> None:
    tmux("send-keys", "-t", "demo", *names)


def wait_for_screen(check, seconds: float = 40.0) -> str:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + scaled(seconds)
    while True:
        screen = tmux("capture-pane", "-p", "-t", "demo")
        if check(screen):
            return screen
        if time.monotonic() > deadline:
            raise AssertionError(f"the terminal never showed it; last screen:\n{screen}")
        time.sleep(0.2)


def test_it_sets_a_device_in_repair_exports_the_fleet_and_prints_labels(tmp_path: Path) -> None:
    command = Path(sys.executable).parent / "homeroom-console"
    tmux("kill-server")
    tmux(
        "new-session", "-d", "-s", "demo", "-x", "200", "-y", "50",
        f"cd {shlex.quote(str(tmp_path))} && {shlex.quote(str(command))} --demo 4",
    )  # fmt: skip
    # Without a client attached tmux may keep its default size: ask for ours.
    tmux("resize-window", "-t", "demo", "-x", "200", "-y", "50")
    try:
        wait_for_screen(lambda s: s.count("online") == 4)
        keys("i")
        screen = wait_for_screen(lambda s: "4 of 4 devices shown, 4 online" in s)
        assert "Asset tag" in screen and "Student" in screen
        keys("e")  # the cursor is on the first device: Ada
        wait_for_screen(lambda s: "Device record of Ada" in s)
        keys("Enter")  # the state comes first: open its list (in service ... retired)
        wait_for_screen(lambda s: "retired" in s)
        keys("Down")
        keys("Enter")
        wait_for_screen(lambda s: "retired" not in s and "in repair" in s)
        keys("C-s")
        wait_for_screen(lambda s: "On loan for" not in s and "in repair" in s)
        keys("x")
        wait_for_screen(lambda s: "Exported 4 devices" in s)
        [export] = tmp_path.glob("homeroom-fleet-*.csv")
        lines = export.read_text().splitlines()
        assert len(lines) == 1 + 4
        assert lines[1].startswith("Ada,,,in_repair,")
        keys("p")
        wait_for_screen(lambda s: "Labels for 4 devices" in s)
        [labels] = tmp_path.glob("homeroom-labels-*.pdf")
        assert labels.read_bytes().startswith(b"%PDF")
        keys("Escape")  # alone: Escape then q in one read would be taken for alt+q
        wait_for_screen(lambda s: "Homeroom: fleet" not in s)
        keys("q")
        wait_for_screen(lambda s: "online" not in s)
    finally:
        tmux("kill-server")
