"""The UI process under attack: unmapped, destroyed, killed, stopped, covered; and no display.

Each attack is one a student with the same user account can make. The lock must come back
by itself and the school must hear of it; the agent (this test process) must never go down
with the UI. How fast it comes back is measured by `bench/desktop_latency.py`, not here.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.desktop import (
    INDICATOR_BACKGROUND,
    LOCK_BACKGROUND,
    LOCK_NOT_SHOWN,
    LOCK_TAMPERED,
    LOCK_TITLE,
    DesktopSnapshot,
    DesktopUnavailable,
    UnavailableDesktop,
)
from agent.screen import MssScreen
from agent.ui_supervisor import (
    SupervisedDesktop,
    display_answers,
    open_desktop,
    why_no_windows,
)
from tests.xvfb import find_windows, poll_until, share_of_colour, xdotool

from .conftest import TWO_MONITORS

pytestmark = pytest.mark.desktop


class Reports:
    """What the desktop reported to the agent (and so to the hub), in order."""

    def __init__(self, desktop: SupervisedDesktop | UnavailableDesktop) -> None:
        self.seen: list[tuple[str, str]] = []
        self._guard = threading.Lock()
        desktop.set_reporter(self._add)

    def _add(self, kind: str, detail: str) -> None:
        with self._guard:
            self.seen.append((kind, detail))

    def kinds(self) -> list[str]:
        with self._guard:
            return [kind for kind, _ in self.seen]


@pytest.fixture
def reports(desktop: SupervisedDesktop) -> Reports:
    return Reports(desktop)


def lock_is_up(desktop: SupervisedDesktop, screen: MssScreen) -> DesktopSnapshot | None:
    """The snapshot, once the lock is on the screen and holds keyboard and pointer."""
    snapshot = desktop.snapshot()
    if not (snapshot.of_role("lock") and snapshot.input_grabbed):
        return None
    return snapshot if share_of_colour(screen.grab(), LOCK_BACKGROUND) > 0.95 else None


def locked(desktop: SupervisedDesktop, screen: MssScreen) -> DesktopSnapshot:
    desktop.lock("Eyes on the board", by="Ms Smith")
    return poll_until(lambda: lock_is_up(desktop, screen), 10, "the lock never came up")


def test_the_ui_process_reads_no_compose_table(desktop: SupervisedDesktop) -> None:
    # Its windows take no typing, and libX11's table of compose sequences would be about
    # 0.9 MiB resident all day (agent.ui_supervisor.ui_environment).
    desktop.snapshot()
    environment = Path(f"/proc/{desktop.ui_pid}/environ").read_bytes().split(b"\0")
    assert b"XCOMPOSEFILE=" + os.devnull.encode() in environment


def lock_window(display: str) -> int:
    (window,) = find_windows(display, f"^{LOCK_TITLE}$")
    return window


def test_the_lock_comes_back_after_another_program_unmaps_it(
    desktop: SupervisedDesktop, reports: Reports, screen: MssScreen, xvfb_display: str
) -> None:
    locked(desktop, screen)
    # Unlocking hides the same window (it is kept for the next lock): that is no tampering.
    desktop.unlock()
    poll_until(lambda: not desktop.snapshot().of_role("lock"), 10, "the lock stayed")
    locked(desktop, screen)
    assert reports.seen == []
    pid = desktop.ui_pid
    xdotool(xvfb_display, "windowunmap", str(lock_window(xvfb_display)))
    poll_until(lambda: lock_is_up(desktop, screen), 10, "the lock stayed unmapped")
    poll_until(lambda: LOCK_TAMPERED in reports.kinds(), 10, "nobody was told")
    assert "unmapped" in reports.seen[0][1]
    assert desktop.ui_pid == pid  # put back by the same process, from its Unmap event


def test_the_lock_comes_back_after_its_display_connection_is_killed(
    desktop: SupervisedDesktop, reports: Reports, screen: MssScreen, xvfb_display: str
) -> None:
    locked(desktop, screen)
    pid = desktop.ui_pid
    # XKillClient: the X server drops the UI process's connection, and Xlib ends the process.
    xdotool(xvfb_display, "windowkill", str(lock_window(xvfb_display)))
    poll_until(lambda: desktop.ui_pid not in (None, pid), 10, "no new UI process")
    poll_until(lambda: lock_is_up(desktop, screen), 10, "the lock did not come back")
    poll_until(lambda: LOCK_TAMPERED in reports.kinds(), 10, "nobody was told")
    assert pid is not None and not _alive(pid)


def test_the_lock_comes_back_after_its_window_is_destroyed(
    desktop: SupervisedDesktop, reports: Reports, screen: MssScreen, xvfb_display: str
) -> None:
    locked(desktop, screen)
    destroy_window(xvfb_display, lock_window(xvfb_display))
    poll_until(lambda: lock_is_up(desktop, screen), 10, "the lock did not come back")
    poll_until(lambda: LOCK_TAMPERED in reports.kinds(), 10, "nobody was told")


def test_the_lock_comes_back_after_its_process_is_killed(
    desktop: SupervisedDesktop, reports: Reports, screen: MssScreen
) -> None:
    desktop.set_watched(["Ms Smith"])
    desktop.show_message("Kept across restarts", sender="Ms Smith")
    locked(desktop, screen)
    pid = desktop.ui_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    poll_until(lambda: desktop.ui_pid not in (None, pid), 10, "no new UI process")
    snapshot = poll_until(lambda: lock_is_up(desktop, screen), 10, "the lock did not come back")
    # The new process shows all the student should see, not only the lock.
    assert snapshot.of_role("indicator")
    assert [m.texts for m in snapshot.of_role("message")] == [("Kept across restarts",)]
    poll_until(lambda: LOCK_TAMPERED in reports.kinds(), 10, "nobody was told")
    assert "process ended" in reports.seen[0][1]
    assert desktop.restarts == 1


def test_a_stopped_ui_process_is_replaced_and_never_blocks_the_agent(
    desktop: SupervisedDesktop, screen: MssScreen
) -> None:
    locked(desktop, screen)
    pid = desktop.ui_pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # it holds its pipe, reads nothing, answers nothing
    try:
        # Messages keep coming; each call returns at once although nobody reads the pipe.
        for index in range(400):
            desktop.show_message(f"{index} " + "x" * 1500, sender="Ms Smith")
        poll_until(lambda: desktop.ui_pid not in (None, pid), 10, "the stuck process stayed")
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGCONT)
    poll_until(lambda: lock_is_up(desktop, screen), 10, "the lock did not come back")


def test_a_window_covering_the_lock_goes_under_it_again(
    desktop: SupervisedDesktop, screen: MssScreen, xvfb_display: str
) -> None:
    locked(desktop, screen)
    colour = "#13a85f"
    # Another program, in its own process: a borderless window raised above everything.
    program = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import tkinter, sys\n"
            f"root = tkinter.Tk(screenName={xvfb_display!r})\n"
            "root.overrideredirect(True)\n"
            f"root.configure(background={colour!r})\n"
            "root.geometry('200x150+100+120')\n"
            "root.update(); root.lift(); root.update()\n"
            "print('up', flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert program.stdout is not None
        assert program.stdout.readline() == b"up\n"
        poll_until(
            lambda: share_of_colour(screen.grab(), LOCK_BACKGROUND, (110, 130, 290, 260)) == 1.0,
            10,
            "the other program's window stayed above the lock",
        )
    finally:
        program.kill()
        program.wait()


def test_nothing_polls_while_locked_and_watched(
    desktop: SupervisedDesktop, screen: MssScreen
) -> None:
    desktop.show_message("hello", sender="Ms Smith")
    assert desktop.set_watched(["Ms Smith"]).result(timeout=10)
    snapshot = locked(desktop, screen)
    # No Tcl timer waits: the UI sleeps until the pipe or the X server wakes it.
    assert snapshot.timers == 0


def test_a_lock_covers_both_monitors(two_monitor_display: str) -> None:
    desktop = SupervisedDesktop(two_monitor_display)
    try:
        with MssScreen(two_monitor_display) as screen:
            assert screen.size == (3840, 1080)
            desktop.set_watched(["Ms Smith"])
            desktop.lock("Eyes on the board", by="Ms Smith")

            def both_halves_locked() -> bool:
                image = screen.grab()
                return all(
                    share_of_colour(image, LOCK_BACKGROUND, (x, y, x + w, y + h)) > 0.95
                    for x, y, w, h in TWO_MONITORS
                )

            poll_until(both_halves_locked, 10, "a monitor is not locked")
            snapshot = desktop.snapshot()
            (lock,) = snapshot.of_role("lock")
            assert (lock.x, lock.y, lock.width, lock.height) == (0, 0, 3840, 1080)
            # The words are on each monitor, not split across the seam.
            assert lock.texts == ("Eyes on the board", "Locked by Ms Smith") * 2
            assert snapshot.input_grabbed
            # The banner sits in the primary monitor's top-right corner.
            (banner,) = snapshot.of_role("indicator")
            assert banner.x + banner.width == 1920 - 8
            area = (banner.x + 2, banner.y + 2, banner.x + banner.width - 2, banner.y + 10)
            assert share_of_colour(screen.grab(), INDICATOR_BACKGROUND, area) > 0.5
    finally:
        desktop.close()


def test_the_windows_work_with_the_reader_thread_too(xvfb_display: str, screen: MssScreen) -> None:
    # The path for platforms whose Tcl cannot watch a pipe (Windows), run here on purpose.
    command = [sys.executable, "-m", "agent.ui_process", "--reader-thread"]
    desktop = SupervisedDesktop(xvfb_display, command=command)
    try:
        assert desktop.set_watched(["Ms Smith"]).result(timeout=10)
        desktop.show_message("hello", sender="Ms Smith")
        snapshot = locked(desktop, screen)
        assert snapshot.of_role("indicator") and snapshot.of_role("message")
    finally:
        desktop.close()
    assert not find_windows(xvfb_display, f"^{LOCK_TITLE}$", only_visible=False)


# No windows at all.


def test_no_display_says_what_to_do_and_reports_locks_as_not_shown() -> None:
    desktop = SupervisedDesktop(":4242")
    try:
        assert desktop.problem is not None
        assert ":4242" in desktop.problem and "desktop session" in desktop.problem
        reports = Reports(desktop)
        desktop.lock("Eyes on me", by="Ms Smith")
        assert desktop.locked  # still due: shown as soon as a display is there
        assert reports.seen == [(LOCK_NOT_SHOWN, desktop.problem)]
        assert desktop.set_watched(["Ms Smith"]).result(0) is False
        with pytest.raises(DesktopUnavailable, match="4242"):
            desktop.snapshot()
        assert desktop.restarts == 0  # it waits for the display, not restarting in a loop
    finally:
        desktop.close()


def test_a_display_that_comes_back_gets_its_lock() -> None:
    number = next(n for n in range(400 + os.getpid() % 200, 1000) if not _x_socket(n).exists())
    desktop = SupervisedDesktop(f":{number}", max_backoff=0.1)
    server: subprocess.Popen[bytes] | None = None
    try:
        reports = Reports(desktop)
        desktop.lock("Eyes on me", by="Ms Smith")
        assert reports.kinds() == [LOCK_NOT_SHOWN]
        # While the display is away, no UI process is started over and over: the supervisor
        # knocks on the display's socket instead.
        poll_until(lambda: desktop.ui_pid is None, 10, "the failed UI process stayed")
        assert not display_answers(f":{number}")

        # The display comes back (the student logs in again, an X server restarts).
        server = subprocess.Popen(
            ["Xvfb", f":{number}", "-screen", "0", "640x480x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        poll_until(lambda: desktop.problem is None, 20, "the desktop never came back")
        with MssScreen(f":{number}") as screen:
            poll_until(lambda: lock_is_up(desktop, screen), 10, "the due lock was not shown")
    finally:
        desktop.close()
        if server is not None:
            server.terminate()
            server.wait()


def _x_socket(number: int) -> Path:
    return Path(f"/tmp/.X11-unix/X{number}")


def test_no_tk_says_what_to_do(xvfb_display: str) -> None:
    # A Python without Tk: importing tkinter fails in the UI process, as it would there.
    without_tk = (
        "import sys; sys.modules['tkinter'] = None\n"
        "from agent.ui_process import main; sys.exit(main())"
    )
    desktop = SupervisedDesktop(xvfb_display, command=[sys.executable, "-c", without_tk])
    try:
        assert desktop.problem is not None and "python3-tk" in desktop.problem
    finally:
        desktop.close()


@pytest.mark.parametrize(
    ("environ", "platform", "says"),
    [
        ({}, "linux", "DISPLAY is not set"),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", "Wayland session without X"),
        ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "linux", None),  # Xwayland
        ({}, "win32", None),  # Tk finds the Windows desktop itself
    ],
)
def test_why_no_windows(environ: dict[str, str], platform: str, says: str | None) -> None:
    reason = why_no_windows(environ=environ, platform=platform)
    if says is None:
        assert reason is None
    else:
        assert reason is not None and says in reason and "everything else" in reason


def test_without_a_display_the_agent_runs_without_windows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    desktop = open_desktop()
    assert isinstance(desktop, UnavailableDesktop)
    assert "DISPLAY is not set" in desktop.reason


def test_the_agent_process_never_loads_tk() -> None:
    # The boundary that keeps a killed UI from taking the agent down, checked on a real import.
    code = (
        "import sys\n"
        "import agent.cli, agent.runtime, agent.ui_supervisor, agent.ui_wire, agent.desktop\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('tkinter', '_tkinter'))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


# A window destroyed by another program (xdotool cannot; the X call is one line).


def destroy_window(display: str, window: int) -> None:
    xlib = ctypes.CDLL("libX11.so.6")
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XDestroyWindow.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    xlib.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    connection = xlib.XOpenDisplay(display.encode())
    assert connection, f"cannot open display {display}"
    try:
        xlib.XDestroyWindow(connection, window)
        xlib.XSync(connection, 0)
    finally:
        xlib.XCloseDisplay(connection)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


@pytest.fixture(autouse=True)
def _no_windows_left(xvfb_display: str) -> Iterator[None]:
    yield
    # Every test's UI process has gone, and its windows with it.
    poll_until(
        lambda: not find_windows(xvfb_display, f"^{LOCK_TITLE}$", only_visible=False),
        10,
        "a lock window outlived its test",
    )
