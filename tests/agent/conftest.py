"""Fixtures for the agent's desktop tests: Xvfb displays for the session, fresh windows per test."""

from __future__ import annotations

import tkinter
from collections.abc import Iterator

import pytest

from agent.screen import MssScreen
from agent.ui_supervisor import SupervisedDesktop
from tests.xvfb import xvfb_fixture

#: A laptop with a projector beside it: one X screen 3840 px wide, two RandR monitors.
TWO_MONITORS = ((0, 0, 1920, 1080), (1920, 0, 1920, 1080))

# Only UI processes and mss connect to it, never Tk in this process, so it may end with the
# session like the shared one (see tests/conftest.py).
two_monitor_display = xvfb_fixture(
    scope="session", screen="3840x1080x24", monitors=TWO_MONITORS, name="two_monitor_display"
)


@pytest.fixture
def screen(xvfb_display: str) -> Iterator[MssScreen]:
    """The Xvfb screen, captured for real with mss."""
    with MssScreen(xvfb_display) as source:
        yield source


@pytest.fixture
def desktop(xvfb_display: str) -> Iterator[SupervisedDesktop]:
    """The agent's desktop on the Xvfb display: Tk in a supervised UI process, closed after."""
    supervised = SupervisedDesktop(xvfb_display)
    try:
        yield supervised
    finally:
        supervised.close()


@pytest.fixture
def probe(xvfb_display: str) -> Iterator[tkinter.Tk]:
    """A separate X client on the display playing "another program", driven by the test.

    It lives on the test's own thread; tests pump it with `update()` while they poll.
    """
    root = tkinter.Tk(screenName=xvfb_display, className="Probe")
    try:
        yield root
    finally:
        # Destroy before the session's Xvfb goes away: Tk exits the process if its server dies.
        root.destroy()
