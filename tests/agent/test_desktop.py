"""The student's desktop: the lock screen, messages, the banner and a countdown, on real X.

The Tk windows run in the agent's supervised UI process; every claim is checked on the display
itself. The supervision (killing, restarting, tampering) is in test_ui_supervisor.py.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import time
import tkinter
from collections.abc import Callable
from functools import partial

import psutil
import pytest

from agent.desktop import (
    COUNTDOWN_BACKGROUND,
    COUNTDOWN_TITLE,
    INDICATOR_BACKGROUND,
    INDICATOR_TITLE,
    LOCK_BACKGROUND,
    LOCK_NOT_SHOWN,
    LOCK_TAMPERED,
    LOCK_TITLE,
    MAX_OPEN_MESSAGES,
    Desktop,
    DesktopSnapshot,
    HeadlessDesktop,
    ReportThrottle,
    ShownMessage,
    UnavailableDesktop,
    WindowView,
    countdown_text,
    message_position,
    message_title,
    watched_text,
)
from agent.screen import MssScreen
from agent.ui_supervisor import SupervisedDesktop
from tests.xvfb import find_windows, poll_until, share_of_colour, xdotool

SCREEN_WIDTH, SCREEN_HEIGHT = 1024, 768


# What the indicator says.


def test_nobody_watching_means_no_indicator() -> None:
    assert watched_text([]) is None


@pytest.mark.parametrize(
    ("watchers", "sentence"),
    [
        (["Ms Smith"], "Your screen is being viewed by Ms Smith"),
        (["Ms Smith", "Mr Jones"], "Your screen is being viewed by Ms Smith and Mr Jones"),
        (["A", "B", "C"], "Your screen is being viewed by A, B and C"),
        (["A", "B", "C", "D", "E"], "Your screen is being viewed by A, B and 3 others"),
        # Two consoles of the same teacher are one person to the student.
        (["Ms Smith", "Ms Smith"], "Your screen is being viewed by Ms Smith"),
    ],
)
def test_the_indicator_names_who_is_watching(watchers: list[str], sentence: str) -> None:
    assert watched_text(watchers) == sentence


@pytest.mark.parametrize(
    ("remaining", "shown"),
    [(65, "in 1:05"), (64.2, "in 1:05"), (0.5, "in 0:01"), (0, "now"), (-3, "now")],
)
def test_a_countdown_reads_in_minutes_and_seconds(remaining: float, shown: str) -> None:
    assert countdown_text(remaining) == shown


def test_a_message_says_how_many_wait_only_when_several_do() -> None:
    assert message_position(0, 1) is None
    assert message_position(0, 3) == "1 of 3"


def test_long_names_are_clipped() -> None:
    assert message_title("x" * 500) == "Message from " + "x" * 99 + "\N{HORIZONTAL ELLIPSIS}"


# HeadlessDesktop: the same interface, recording instead of drawing.


def test_headless_desktop_records_what_the_student_would_see() -> None:
    desktop: Desktop = HeadlessDesktop()
    assert isinstance(desktop, HeadlessDesktop)
    assert not desktop.locked

    desktop.lock("Eyes on the board", by="Ms Smith")
    assert desktop.locked
    assert (desktop.lock_message, desktop.locked_by) == ("Eyes on the board", "Ms Smith")
    desktop.unlock()
    assert not desktop.locked
    assert desktop.lock_message is None

    desktop.show_message("Well done", sender="Ms Smith")
    desktop.show_message("Five minutes left", sender="Mr Jones")
    assert desktop.messages == (
        ShownMessage("Ms Smith", "Well done"),
        ShownMessage("Mr Jones", "Five minutes left"),
    )

    shown = desktop.set_watched(["Ms Smith", "Ms Smith", "Mr Jones"])
    assert shown.result(0) is True  # nothing to wait for without a screen
    assert desktop.watchers == ("Ms Smith", "Mr Jones")
    assert desktop.indicator == "Your screen is being viewed by Ms Smith and Mr Jones"
    desktop.set_watched([])
    assert desktop.indicator is None

    desktop.show_countdown("Ms Smith is restarting this computer", deadline=1_000_060.0)
    assert desktop.countdown == ("Ms Smith is restarting this computer", 1_000_060.0)
    desktop.clear_countdown()
    assert desktop.countdown is None


def test_a_closed_headless_desktop_shows_nothing_more() -> None:
    desktop = HeadlessDesktop()
    desktop.lock("Stop", by="Ms Smith")
    desktop.set_watched(["Ms Smith"])
    desktop.show_countdown("Restarting", deadline=60.0)
    desktop.close()
    assert desktop.closed
    assert not desktop.locked
    assert desktop.watchers == ()
    assert desktop.countdown is None
    desktop.lock("Stop", by="Ms Smith")
    desktop.show_message("hello", sender="Ms Smith")
    desktop.show_countdown("Restarting", deadline=60.0)
    assert not desktop.locked
    assert desktop.messages == ()
    assert desktop.countdown is None


def test_headless_desktop_takes_calls_from_many_threads() -> None:
    desktop = HeadlessDesktop()
    start = threading.Barrier(8)

    def student_activity(worker: int) -> None:
        start.wait()
        for index in range(200):
            desktop.show_message(f"{worker}:{index}", sender="Ms Smith")
            desktop.lock("Stop", by="Ms Smith")
            desktop.set_watched([f"Teacher {worker}"])
            desktop.unlock()

    threads = [threading.Thread(target=student_activity, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(desktop.messages) == 8 * 200
    assert not desktop.locked
    assert len(desktop.watchers) == 1


def test_a_device_without_windows_reports_every_lock_as_not_shown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reports: list[tuple[str, str]] = []
    desktop = UnavailableDesktop("There is no display (DISPLAY is not set).")
    # Said once, at start, for whoever reads the agent's log.
    assert [r.getMessage() for r in caplog.records] == ["There is no display (DISPLAY is not set)."]
    desktop.lock("Eyes on me", by="Ms Smith")  # e.g. restored from lock.json before connecting
    desktop.set_reporter(lambda kind, detail: reports.append((kind, detail)))
    assert reports == [(LOCK_NOT_SHOWN, "There is no display (DISPLAY is not set).")]
    # Everything else is recorded as on any headless desktop; the banner is never "shown".
    assert desktop.locked and desktop.lock_message == "Eyes on me"
    assert desktop.set_watched(["Ms Smith"]).result(0) is False
    desktop.show_message("hello", sender="Ms Smith")
    assert desktop.messages == (ShownMessage("Ms Smith", "hello"),)


def test_reports_of_one_kind_are_held_back_in_a_burst_and_counted() -> None:
    now = [100.0]
    reports: list[tuple[str, str]] = []
    throttle = ReportThrottle(interval=10.0, clock=lambda: now[0])
    throttle.set_reporter(lambda kind, detail: reports.append((kind, detail)))
    for _ in range(50):  # a script unmapping the lock in a loop
        throttle(LOCK_TAMPERED, "unmapped")
    throttle(LOCK_NOT_SHOWN, "no display")  # another kind is not held back by the first
    assert reports == [(LOCK_TAMPERED, "unmapped"), (LOCK_NOT_SHOWN, "no display")]
    now[0] += 10.0
    throttle(LOCK_TAMPERED, "unmapped")
    assert reports[-1] == (LOCK_TAMPERED, "unmapped (and 49 more times before)")


# SupervisedDesktop on Xvfb. Every claim is checked on the display itself: by capturing the
# screen with mss, by asking the X server through xdotool, or by typing and clicking (XTEST).


def wait_for(
    desktop: SupervisedDesktop, what: str, ready: Callable[[DesktopSnapshot], bool]
) -> DesktopSnapshot:
    """Poll snapshots until `ready(snapshot)`; `what` says what we were waiting for."""
    last: list[DesktopSnapshot] = []

    def check() -> DesktopSnapshot | None:
        snapshot = desktop.snapshot()
        last[:] = [snapshot]
        return snapshot if ready(snapshot) else None

    return poll_until(check, 10, lambda: f"waited for {what}; last snapshot: {last}")


def only(windows: tuple[WindowView, ...]) -> WindowView:
    assert len(windows) == 1, windows
    return windows[0]


def inside(window: WindowView, inset: int = 2) -> tuple[int, int, int, int]:
    """The window's rectangle on screen, shrunk by `inset` pixels on every side."""
    return (
        window.x + inset,
        window.y + inset,
        window.x + window.width - inset,
        window.y + window.height - inset,
    )


def lock_share(screen: MssScreen) -> float:
    return share_of_colour(screen.grab(), LOCK_BACKGROUND)


def locked_and_grabbed(desktop: SupervisedDesktop) -> DesktopSnapshot:
    return wait_for(
        desktop,
        "the lock to grab keyboard and pointer",
        lambda snapshot: bool(snapshot.of_role("lock")) and snapshot.input_grabbed,
    )


@pytest.mark.desktop
def test_a_lock_covers_the_whole_screen_until_unlocked(
    desktop: SupervisedDesktop, screen: MssScreen, xvfb_display: str
) -> None:
    assert lock_share(screen) < 0.01
    desktop.lock("Eyes on the board, please", by="Ms Smith")
    assert desktop.locked

    # Everything but the lines of text is the lock colour.
    poll_until(lambda: lock_share(screen) > 0.95, 10, "the lock never covered the screen")
    window = only(desktop.snapshot().of_role("lock"))
    assert (window.x, window.y, window.width, window.height) == (0, 0, SCREEN_WIDTH, SCREEN_HEIGHT)
    assert window.texts == ("Eyes on the board, please", "Locked by Ms Smith")
    assert find_windows(xvfb_display, LOCK_TITLE)

    desktop.unlock()
    assert not desktop.locked
    poll_until(lambda: lock_share(screen) == 0.0, 10, "the lock stayed on screen after unlock")
    assert desktop.snapshot().of_role("lock") == ()
    assert not find_windows(xvfb_display, LOCK_TITLE)


@pytest.mark.desktop
def test_locking_again_changes_the_message_in_place(desktop: SupervisedDesktop) -> None:
    desktop.lock("First", by="Ms Smith")
    desktop.lock("Second", by="Mr Jones")
    window = only(desktop.snapshot().of_role("lock"))
    assert window.texts == ("Second", "Locked by Mr Jones")


@pytest.mark.desktop
def test_text_is_shown_as_typed_never_interpreted(desktop: SupervisedDesktop) -> None:
    # Tcl would run [..] and expand $..; HTML-minded widgets would render <b>.
    text = "<b>Stop</b> & [destroy .] $env(HOME) {braces} \\n \u2603 \N{SNOWMAN} done"
    desktop.lock(text, by="[exit]")
    desktop.show_message(text, sender="$argv")
    snapshot = desktop.snapshot()
    assert only(snapshot.of_role("lock")).texts == (text, "Locked by [exit]")
    message = only(snapshot.of_role("message"))
    assert message.title == "Message from $argv"
    assert message.texts == (text,)


@pytest.mark.desktop
def test_a_lock_takes_keyboard_and_pointer_from_other_programs(
    desktop: SupervisedDesktop, probe: tkinter.Tk, xvfb_display: str
) -> None:
    clicks: list[str] = []
    probe.geometry("300x80+50+600")
    entry = tkinter.Entry(probe)
    entry.pack(fill="x")
    button = tkinter.Button(probe, text="Click me", command=lambda: clicks.append("click"))
    button.pack(fill="both", expand=True)

    def probe_ready() -> bool:
        probe.update()
        return bool(probe.winfo_viewable())

    poll_until(probe_ready, 10, "the probe window never appeared")

    def type_into_probe(text: str) -> None:
        entry.focus_force()
        probe.update()
        xdotool(xvfb_display, "type", "--delay", "1", text)

    def pumped(condition: Callable[[], bool]) -> Callable[[], bool]:
        """The condition, checked after the probe has handled what the server sent it."""

        def check() -> bool:
            probe.update()
            return condition()

        return check

    def click_probe_button() -> None:
        x = button.winfo_rootx() + button.winfo_width() // 2
        y = button.winfo_rooty() + button.winfo_height() // 2
        xdotool(xvfb_display, "mousemove", str(x), str(y), "click", "1")

    # Unlocked, typing and clicking reach the other program: the test's own check.
    type_into_probe("abc")
    poll_until(pumped(lambda: entry.get() == "abc"), 10, "typing never reached the probe")
    click_probe_button()
    poll_until(pumped(lambda: clicks == ["click"]), 10, "the click never reached the probe")

    desktop.lock("Hands off", by="Ms Smith")
    locked_and_grabbed(desktop)
    # xdotool exits only after the server has handled its events (XCloseDisplay syncs), so
    # these keys and this click are delivered -- to the lock -- before the unlock below.
    type_into_probe("xyz")
    click_probe_button()

    desktop.unlock()
    wait_for(desktop, "the grab to go", lambda snapshot: not snapshot.input_grabbed)
    # update() syncs with the server: a click that leaked past the lock would be handled now.
    probe.update()
    assert clicks == ["click"]
    type_into_probe("123")
    # Had "xyz" reached the entry, it would read abcxyz123.
    poll_until(pumped(lambda: entry.get().endswith("123")), 10, "typing after unlock never arrived")
    assert entry.get() == "abc123"
    click_probe_button()
    poll_until(pumped(lambda: len(clicks) == 2), 10, "the click after unlock never arrived")


@pytest.mark.desktop
def test_the_lock_ignores_requests_to_close_it(
    desktop: SupervisedDesktop, xvfb_display: str
) -> None:
    desktop.lock("Stay", by="Ms Smith")
    desktop.show_message("You may close me", sender="Ms Smith")
    locked_and_grabbed(desktop)
    (lock_id,) = find_windows(xvfb_display, LOCK_TITLE)
    (message_id,) = find_windows(xvfb_display, "Message from Ms Smith")

    # The same request a window manager sends when someone clicks a close button.
    ask_window_to_close(xvfb_display, message_id)
    ask_window_to_close(xvfb_display, lock_id)
    # The message obeys, which shows the request arrives; the snapshot syncs with the server,
    # so the lock has seen its request too by then.
    snapshot = wait_for(desktop, "the message to close", lambda s: not s.of_role("message"))
    assert snapshot.of_role("lock")
    assert snapshot.input_grabbed
    assert desktop.locked


@pytest.mark.desktop
def test_messages_wait_in_one_window_one_after_the_other(
    desktop: SupervisedDesktop, xvfb_display: str
) -> None:
    desktop.show_message("Please hand in your essays by Friday.", sender="Ms Smith")
    desktop.show_message("Library trip tomorrow.", sender="Mr Jones")
    message = only(
        wait_for(desktop, "a message saying 1 of 2", lambda s: _message_says(s, "1 of 2")).of_role(
            "message"
        )
    )
    assert message.title == "Message from Ms Smith"
    assert message.texts == ("Please hand in your essays by Friday.", "1 of 2")
    # Found by title on the display, as the student's window list would show it; one window.
    assert len(find_windows(xvfb_display, "^Message from Ms Smith$")) == 1
    assert not find_windows(xvfb_display, "^Message from Mr Jones$")

    click_ok(xvfb_display, message)
    message = only(
        wait_for(desktop, "the next message", lambda s: _message_from(s, "Mr Jones")).of_role(
            "message"
        )
    )
    assert message.texts == ("Library trip tomorrow.",)  # the last one: no "1 of 1"
    assert len(find_windows(xvfb_display, "^Message from Mr Jones$")) == 1


def _message_says(snapshot: DesktopSnapshot, position: str) -> bool:
    return any(position in m.texts for m in snapshot.of_role("message"))


def _message_from(snapshot: DesktopSnapshot, sender: str) -> bool:
    return any(m.title == message_title(sender) for m in snapshot.of_role("message"))


def click_ok(display: str, message: WindowView) -> None:
    # OK sits at the bottom right, inside the window's 20 x 16 pixel padding.
    x, y = message.x + message.width - 20 - 20, message.y + message.height - 16 - 10
    xdotool(display, "mousemove", str(x), str(y), "click", "1")


@pytest.mark.desktop
def test_ok_closes_the_last_message(desktop: SupervisedDesktop, xvfb_display: str) -> None:
    desktop.show_message("Well done today!", sender="Ms Smith")
    message = only(
        wait_for(desktop, "the message", lambda s: bool(s.of_role("message"))).of_role("message")
    )
    click_ok(xvfb_display, message)
    wait_for(desktop, "the message to close", lambda s: not s.of_role("message"))
    assert not find_windows(xvfb_display, "Message from Ms Smith")
    # The agent heard it was read: a new message is "the only one", not "2 of 2".
    desktop.show_message("See you tomorrow.", sender="Ms Smith")
    message = only(
        wait_for(desktop, "a new message", lambda s: bool(s.of_role("message"))).of_role("message")
    )
    assert message.texts == ("See you tomorrow.",)


@pytest.mark.desktop
def test_a_flood_of_messages_keeps_the_one_being_read_and_the_newest(
    desktop: SupervisedDesktop, xvfb_display: str
) -> None:
    for index in range(MAX_OPEN_MESSAGES + 5):
        desktop.show_message(f"Message {index}", sender="Ms Smith")
    message = only(
        wait_for(
            desktop, "the flood to settle", lambda s: _message_says(s, f"1 of {MAX_OPEN_MESSAGES}")
        ).of_role("message")
    )
    # Still one window, showing the first; the oldest waiting ones were dropped.
    assert message.texts == ("Message 0", f"1 of {MAX_OPEN_MESSAGES}")
    assert len(find_windows(xvfb_display, "^Message from Ms Smith$")) == 1
    read: list[str] = []
    for _ in range(MAX_OPEN_MESSAGES):
        message = only(desktop.snapshot().of_role("message"))
        read.append(message.texts[0])
        click_ok(xvfb_display, message)
        wait_for(
            desktop,
            "the next message",
            partial(shown_other_than, message.texts[0]),
        )
    first_kept = 15 - (MAX_OPEN_MESSAGES - 1)
    assert read == ["Message 0"] + [f"Message {i}" for i in range(first_kept, 15)]


@pytest.mark.desktop
def test_long_messages_wrap_into_a_modest_window(desktop: SupervisedDesktop) -> None:
    desktop.show_message("word " * 300, sender="Ms Smith")
    message = only(
        wait_for(desktop, "the message", lambda s: bool(s.of_role("message"))).of_role("message")
    )
    assert message.width < SCREEN_WIDTH // 2


@pytest.mark.desktop
def test_the_indicator_shows_while_watched(
    desktop: SupervisedDesktop, xvfb_display: str, screen: MssScreen
) -> None:
    shown = desktop.set_watched(["Ms Smith"])
    # Acknowledged only once it is on the screen: a capture taken now shows it.
    assert shown.result(timeout=10) is True
    indicator = only(desktop.snapshot().of_role("indicator"))
    assert share_of_colour(screen.grab(), INDICATOR_BACKGROUND, inside(indicator)) > 0.5
    assert indicator.texts == ("\N{BLACK CIRCLE} Your screen is being viewed by Ms Smith",)
    assert find_windows(xvfb_display, INDICATOR_TITLE)
    # In the top-right corner, small.
    assert indicator.y < 20
    assert indicator.x + indicator.width > SCREEN_WIDTH - 20
    assert indicator.width * indicator.height < SCREEN_WIDTH * SCREEN_HEIGHT // 20

    assert desktop.set_watched(["Ms Smith", "Mr Jones"]).result(timeout=10)
    indicator = only(desktop.snapshot().of_role("indicator"))
    assert indicator.texts == (
        "\N{BLACK CIRCLE} Your screen is being viewed by Ms Smith and Mr Jones",
    )

    assert desktop.set_watched([]).result(timeout=10)
    assert not desktop.snapshot().of_role("indicator")
    assert not find_windows(xvfb_display, INDICATOR_TITLE)
    assert share_of_colour(screen.grab(), INDICATOR_BACKGROUND, inside(indicator)) == 0


@pytest.mark.desktop
def test_the_banner_shows_on_the_lock_and_messages_stay_below_it(
    desktop: SupervisedDesktop, screen: MssScreen
) -> None:
    desktop.show_message("Read me after the lock", sender="Ms Smith")
    desktop.lock("Eyes on the board", by="Ms Smith")
    desktop.set_watched(["Ms Smith"])
    # A change of watchers while locked keeps the banner in its corner, on the lock.
    assert desktop.set_watched(["Ms Smith", "Mr Jones"]).result(timeout=10)
    snapshot = locked_and_grabbed(desktop)
    indicator = only(snapshot.of_role("indicator"))
    message = only(snapshot.of_role("message"))
    assert indicator.x + indicator.width == SCREEN_WIDTH - 8
    assert indicator.texts == (
        "\N{BLACK CIRCLE} Your screen is being viewed by Ms Smith and Mr Jones",
    )

    def stacked_right() -> bool:
        image = screen.grab()
        return (
            share_of_colour(image, INDICATOR_BACKGROUND, inside(indicator)) > 0.5
            and share_of_colour(image, LOCK_BACKGROUND, inside(message)) == 1.0
        )

    poll_until(stacked_right, 10, "the banner is hidden or the message shows over the lock")

    desktop.unlock()
    poll_until(
        lambda: share_of_colour(screen.grab(), LOCK_BACKGROUND, inside(message)) == 0.0,
        10,
        "the message did not show after unlock",
    )
    # Back in its own window, in the same corner.
    indicator = only(
        wait_for(
            desktop, "the banner's own window", lambda s: bool(s.of_role("indicator"))
        ).of_role("indicator")
    )
    assert indicator.title == INDICATOR_TITLE
    poll_until(
        lambda: share_of_colour(screen.grab(), INDICATOR_BACKGROUND, inside(indicator)) > 0.5,
        10,
        "the banner did not come back after unlock",
    )


@pytest.mark.desktop
def test_the_lock_comes_back_on_top_of_a_program_that_raises_itself(
    desktop: SupervisedDesktop, screen: MssScreen, probe: tkinter.Tk
) -> None:
    colour = "#13a85f"
    probe.overrideredirect(True)
    probe.configure(background=colour)
    probe.geometry("200x150+100+120")
    area = (110, 130, 290, 260)
    desktop.lock("Eyes on the board", by="Ms Smith")
    poll_until(lambda: lock_share(screen) > 0.95, 10, "the lock never covered the screen")
    probe.update()
    # The program raises itself once above the lock, as a student's program would. The lock
    # hears it (VisibilityNotify: it is covered) and raises itself: no timer needed.
    probe.lift()
    probe.update()

    def lock_on_top() -> bool:
        probe.update()
        return share_of_colour(screen.grab(), LOCK_BACKGROUND, area) == 1.0

    poll_until(lock_on_top, 10, "the lock stayed under the other program")


@pytest.mark.desktop
def test_a_countdown_shows_the_time_left_until_cleared(
    desktop: SupervisedDesktop, xvfb_display: str, screen: MssScreen
) -> None:
    deadline = time.time() + 125
    desktop.show_countdown("Ms Smith is restarting this computer", deadline)
    countdown = only(
        wait_for(desktop, "the countdown", lambda s: bool(s.of_role("countdown"))).of_role(
            "countdown"
        )
    )
    text, left = countdown.texts[0].split("\n")
    assert text == "Ms Smith is restarting this computer"
    assert left in {countdown_text(deadline - time.time() + d) for d in (-2, -1, 0, 1)}
    assert find_windows(xvfb_display, COUNTDOWN_TITLE)
    poll_until(
        lambda: share_of_colour(screen.grab(), COUNTDOWN_BACKGROUND, inside(countdown)) > 0.5,
        10,
        "the countdown is not on screen",
    )

    # It counts: the words change as the seconds go.
    wait_for(
        desktop,
        "the countdown to tick",
        lambda s: any(not c.texts[0].endswith(left) for c in s.of_role("countdown")),
    )

    # Locked meanwhile: the lock shows the countdown too.
    desktop.lock("Save your work", by="Ms Smith")
    snapshot = locked_and_grabbed(desktop)
    (on_lock,) = snapshot.of_role("countdown")
    assert on_lock.texts[0].startswith("Ms Smith is restarting this computer\nin 2:")
    poll_until(
        lambda: share_of_colour(screen.grab(), COUNTDOWN_BACKGROUND, inside(on_lock)) > 0.5,
        10,
        "the countdown is not on the lock",
    )

    desktop.unlock()
    desktop.clear_countdown()
    wait_for(desktop, "the countdown to go", lambda s: not s.of_role("countdown"))
    assert not find_windows(xvfb_display, COUNTDOWN_TITLE)


@pytest.mark.desktop
def test_closing_removes_every_window(desktop: SupervisedDesktop, xvfb_display: str) -> None:
    desktop.lock("Stop", by="Ms Smith")
    desktop.show_message("hello", sender="Ms Smith")
    desktop.set_watched(["Ms Smith"])
    desktop.show_countdown("Restarting", time.time() + 60)
    locked_and_grabbed(desktop)
    pid = desktop.ui_pid
    desktop.close()
    assert not desktop.locked
    for title in (LOCK_TITLE, INDICATOR_TITLE, COUNTDOWN_TITLE, "Message from Ms Smith"):
        assert not find_windows(xvfb_display, title, only_visible=False)
    assert pid is not None and not psutil.pid_exists(pid)
    # Calls after close are ignored, not errors: the agent may be shutting down.
    desktop.lock("Stop", by="Ms Smith")
    desktop.show_message("hello", sender="Ms Smith")
    assert desktop.set_watched(["Ms Smith"]).result(0) is False
    desktop.show_countdown("Restarting", time.time() + 60)
    desktop.clear_countdown()
    desktop.unlock()
    desktop.close()
    assert not desktop.locked
    with pytest.raises(RuntimeError, match="closed"):
        desktop.snapshot()


# A polite close request, as a window manager sends it (xdotool cannot).


class _XClientMessageEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", ctypes.c_ulong),
        ("message_type", ctypes.c_ulong),
        ("format", ctypes.c_int),
        ("data", ctypes.c_long * 5),
    ]


class _XEvent(ctypes.Union):
    _fields_ = [
        ("xclient", _XClientMessageEvent),
        ("pad", ctypes.c_long * 24),  # XEvent is 24 longs, whatever the member
    ]


_CLIENT_MESSAGE = 33


def ask_window_to_close(display: str, window: int) -> None:
    """Send WM_DELETE_WINDOW to `window`, then sync, so it is queued for the owner."""
    xlib = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    xlib.XInternAtom.restype = ctypes.c_ulong
    xlib.XSendEvent.argtypes = [
        ctypes.c_void_p,
        ctypes.c_ulong,
        ctypes.c_int,
        ctypes.c_long,
        ctypes.POINTER(_XEvent),
    ]
    xlib.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    connection = xlib.XOpenDisplay(display.encode())
    assert connection, f"cannot open display {display}"
    try:
        event = _XEvent()
        event.xclient.type = _CLIENT_MESSAGE
        event.xclient.window = window
        event.xclient.message_type = xlib.XInternAtom(connection, b"WM_PROTOCOLS", 0)
        event.xclient.format = 32
        event.xclient.data[0] = xlib.XInternAtom(connection, b"WM_DELETE_WINDOW", 0)
        event.xclient.data[1] = 0  # CurrentTime
        assert xlib.XSendEvent(connection, window, 0, 0, ctypes.byref(event))
        xlib.XSync(connection, 0)
    finally:
        xlib.XCloseDisplay(connection)


def shown_other_than(text: str, snapshot: DesktopSnapshot) -> bool:
    """No message window shows `text` any more (the student read it)."""
    return all(m.texts[0] != text for m in snapshot.of_role("message"))
