"""The "what applies now" panel on a real display: a tab the student clicks opens it, every word
is drawn literally, it follows new facts in place, and it stands aside for the lock."""

from __future__ import annotations

import os
import signal

import pytest

from agent.desktop import DesktopSnapshot, HeadlessDesktop
from agent.ui_panel import APPLIES_TAB_TITLE, APPLIES_TITLE
from agent.ui_supervisor import SupervisedDesktop
from tests.xvfb import find_windows, poll_until, xdotool

#: Text that Tcl would substitute or Tk take for markup, were it not shown literally.
HOSTILE = (
    "Since 09:00:00:",
    "Watching your screen now: {Ms} [destroy .] $env(HOME) \\n <b>Smith</b> %s",
    "Your screen is not locked.",
)


def panel_texts(desktop: SupervisedDesktop) -> tuple[str, ...] | None:
    """What the open panel's label holds, read back from Tk; None while it is not open."""
    shown = desktop.snapshot().of_role("applies")
    return shown[0].texts if shown else None


def open_panel(display: str) -> int:
    """Click the tab the way the student would; the panel's X window id."""
    (tab,) = poll_until(
        lambda: find_windows(display, f"^{APPLIES_TAB_TITLE}$") or None, 10, "no tab on screen"
    )
    xdotool(display, "mousemove", "--window", str(tab), "4", "4", "click", "1")
    (panel,) = poll_until(
        lambda: find_windows(display, f"^{APPLIES_TITLE}$") or None,
        10,
        "a click on the tab did not open the panel",
    )
    return panel


@pytest.mark.desktop
def test_the_tab_opens_the_panel_and_shows_every_word_literally(
    desktop: SupervisedDesktop, xvfb_display: str
) -> None:
    # Nothing to show until the agent says what applies: no tab yet.
    assert not desktop.snapshot().of_role("applies_tab")
    desktop.show_what_applies(HOSTILE)
    open_panel(xvfb_display)
    assert poll_until(lambda: panel_texts(desktop), 10, "no panel") == HOSTILE
    # Idle, with the tab and panel up, the UI has no timer running: it sleeps.
    assert desktop.snapshot().timers == 0

    # New facts change the open panel in place.
    later = ("Since 09:05:00:", "Nobody is watching your screen.")
    desktop.show_what_applies(later)
    poll_until(lambda: panel_texts(desktop) == later, 10, "the panel did not follow")
    assert len(find_windows(xvfb_display, f"^{APPLIES_TITLE}$")) == 1


@pytest.mark.desktop
def test_the_lock_covers_the_tab_and_the_tab_comes_back_after(
    desktop: SupervisedDesktop, xvfb_display: str
) -> None:
    desktop.show_what_applies(("Nobody is watching your screen.",))
    open_panel(xvfb_display)
    desktop.lock("Eyes on the board", by="Ms Smith")

    def locked() -> DesktopSnapshot | None:
        snapshot = desktop.snapshot()
        return snapshot if snapshot.of_role("lock") else None

    snapshot = poll_until(locked, 10, "no lock on screen")
    assert not snapshot.of_role("applies_tab") and not snapshot.of_role("applies")
    desktop.unlock()
    poll_until(
        lambda: find_windows(xvfb_display, f"^{APPLIES_TAB_TITLE}$"), 10, "the tab stayed away"
    )
    # The panel stays closed until the student opens it again.
    assert not desktop.snapshot().of_role("applies")


def test_a_desktop_without_windows_keeps_the_lines() -> None:
    desktop = HeadlessDesktop()
    desktop.show_what_applies(["Nobody is watching your screen."])
    assert desktop.what_applies == ("Nobody is watching your screen.",)


@pytest.mark.desktop
def test_a_ui_process_started_again_shows_the_same_panel(
    desktop: SupervisedDesktop, xvfb_display: str
) -> None:
    lines = ("Watching your screen now: Ms Smith",)
    desktop.show_what_applies(lines)
    poll_until(lambda: desktop.snapshot().of_role("applies_tab"), 10, "no tab")
    first = desktop.ui_pid
    assert first is not None
    os.kill(first, signal.SIGKILL)  # a student ends the UI process
    poll_until(lambda: desktop.ui_pid not in (None, first), 10, "no new UI process")
    open_panel(xvfb_display)
    assert poll_until(lambda: panel_texts(desktop), 10, "no panel") == lines
