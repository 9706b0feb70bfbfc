"""Activity on Xvfb: the active window and its title, idleness and the screen saver, as events.

No window manager runs on the test display, so the test sets _NET_ACTIVE_WINDOW on the
root window itself, exactly as a window manager does when the student clicks a window.
"""

from __future__ import annotations

import queue
import tkinter
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from Xlib import X, Xatom
from Xlib.display import Display

from agent.actions.activity import ActivityThrottle, activity_message
from agent.platforms import ActivitySample
from agent.platforms.linux import LinuxPlatform
from agent.platforms.x11 import X11ActivityWatcher
from protocol.messages import DeviceChanged

from ..classroom import Classroom, classroom
from ..xvfb import find_windows, poll_until, xdotool


@pytest.fixture
async def room(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with classroom(tmp_path) as room:
        yield room


@pytest.fixture
def window_manager(xvfb_display: str) -> Iterator[Callable[[int], None]]:
    """Marks a window active the way a window manager does; forgets it afterwards."""
    display = Display(xvfb_display)
    root = display.screen().root
    active = display.intern_atom("_NET_ACTIVE_WINDOW")

    def activate(window: int) -> None:
        root.change_property(active, Xatom.WINDOW, 32, [window])
        display.flush()

    yield activate
    root.delete_property(active)
    display.force_screen_saver(X.ScreenSaverReset)
    # A round trip: the server has carried both out. A client that hangs up right after
    # sending loses requests the server had not read yet (seen: the saver stayed on).
    display.sync()
    display.close()


def titled(probe: tkinter.Tk, xvfb_display: str, title: str) -> int:
    probe.title(title)
    probe.update()
    [window] = find_windows(xvfb_display, f"^{title}$", only_visible=False)
    return window


class Samples:
    """What a watcher reported, in order; `next` waits for one matching a condition.

    `pump` keeps the test's own Tk client flushing its requests while we wait.
    """

    def __init__(self, pump: Callable[[], object] = lambda: None) -> None:
        self.queue: queue.Queue[ActivitySample] = queue.Queue()
        self.pump = pump
        self.seen: list[ActivitySample] = []

    def __call__(self, sample: ActivitySample) -> None:
        self.queue.put(sample)

    def next(self, where: Callable[[ActivitySample], bool], what: str) -> ActivitySample:
        def arrived() -> ActivitySample | None:
            self.pump()
            while not self.queue.empty():
                sample = self.queue.get()
                if where(sample):
                    return sample
                self.seen.append(sample)
            return None

        return poll_until(arrived, 10, lambda: f"never reported {what}; saw {self.seen}")


def test_the_active_window_and_its_title_are_reported_when_they_change(
    xvfb_display: str, probe: tkinter.Tk, window_manager: Callable[[int], None]
) -> None:
    samples = Samples(pump=probe.update)
    watcher = X11ActivityWatcher(xvfb_display, samples, idle_after=3600)
    try:
        window_manager(titled(probe, xvfb_display, "Essay - Writer"))
        found = samples.next(lambda s: s.title == "Essay - Writer", "the window's title")
        assert found.app == psutil.Process().name()  # this test's process owns the window
        probe.title("Essay (edited) - Writer")
        samples.next(lambda s: s.title == "Essay (edited) - Writer", "the new title")
        window_manager(0)
        samples.next(lambda s: s.title == "" and s.app == "", "that no window is active")
    finally:
        watcher.stop()


def test_the_agents_x_connections_set_up_only_the_extensions_they_use(xvfb_display: str) -> None:
    from agent.x11_screen import X11Screen

    offered = Display(xvfb_display).list_extensions()
    assert {"Composite", "RANDR", "XTEST"} <= set(offered)  # Xvfb offers many more
    used = {"Generic Event Extension", "XInputExtension", "X-Resource", "MIT-SCREEN-SAVER",
            "DAMAGE", "XINERAMA"}  # fmt: skip  # XINERAMA: the monitors, for the UI process
    watcher = X11ActivityWatcher(xvfb_display, Samples(pump=lambda: None), idle_after=3600)
    screen = X11Screen(xvfb_display)
    try:
        # python-xlib's own record of the extension modules it loaded and set up
        assert set(watcher._display.extensions) <= used
        assert "MIT-SCREEN-SAVER" in watcher._display.extensions
        assert set(screen._x.extensions) <= used
        assert "DAMAGE" in screen._x.extensions  # the capture still skips what is still
    finally:
        watcher.stop()
        screen.close()


def test_idleness_and_the_screen_saver_are_reported(
    xvfb_display: str, window_manager: Callable[[int], None]
) -> None:
    samples = Samples()
    watcher = X11ActivityWatcher(xvfb_display, samples, idle_after=0.3)
    try:
        samples.next(lambda s: s.idle_seconds >= 1, "the student idle")
        xdotool(xvfb_display, "key", "shift")
        samples.next(lambda s: s.idle_seconds == 0, "the student back")
        display = Display(xvfb_display)
        display.force_screen_saver(X.ScreenSaverActive)
        display.flush()
        samples.next(lambda s: s.session_locked, "the screen saver on")
        display.force_screen_saver(X.ScreenSaverReset)
        display.sync()  # carried out before this client hangs up, as in `window_manager`
        display.close()
        samples.next(lambda s: not s.session_locked, "the screen saver off")
    finally:
        watcher.stop()


async def test_the_console_sees_what_the_student_has_open(
    room: Classroom, xvfb_display: str, probe: tkinter.Tk, window_manager: Callable[[int], None]
) -> None:
    platform = LinuxPlatform(env={"DISPLAY": xvfb_display})
    agent = await room.start_agent("Ada's laptop", platform=platform, watch_activity=True)
    teacher = await room.console()
    window_manager(titled(probe, xvfb_display, "Fractions quiz"))

    def shows_quiz(change: DeviceChanged) -> bool:
        activity = change.device.activity
        return activity is not None and activity.title == "Fractions quiz"

    change = await teacher.take(DeviceChanged, shows_quiz)
    assert change.device.device_id == agent.state.device_id
    # What a student has open is live information, never written to the audit log.
    assert not any("Fractions" in row.detail for row in room.store.audit(limit=1000))


def test_activity_reports_are_held_back_and_only_the_newest_goes() -> None:
    throttle = ActivityThrottle(interval=2.0)
    first = ActivitySample(app="firefox", title="Maths")
    assert throttle.offer(first, now=100.0) == activity_message(first)
    assert throttle.offer(first, now=100.5) is None  # nothing new
    assert throttle.offer(ActivitySample(app="game", title="Level 1"), now=100.6) is None
    assert throttle.offer(ActivitySample(app="game", title="Level 2"), now=100.7) is None
    assert throttle.next_due() == 102.0
    assert throttle.due(101.9) is None
    newest = throttle.due(102.0)
    assert newest is not None and newest.title == "Level 2"
    assert throttle.next_due() is None
    assert throttle.resend() == newest


def test_hostile_titles_lose_their_control_characters() -> None:
    sample = ActivitySample(app="evil\x1b[2J", title="\x1b]0;pwned\x07" + "x" * 1000)
    message = activity_message(sample)
    assert "\x1b" not in message.app + message.title and len(message.title) == 500
