"""Fixtures for the agent's desktop tests: one Xvfb for the session, fresh windows per test."""

from __future__ import annotations

import tkinter
from collections.abc import Iterator

import pytest

from agent.screen import MssScreen
from agent.tk_desktop import TkDesktop


@pytest.fixture
def screen(xvfb_display: str) -> Iterator[MssScreen]:
    """The Xvfb screen, captured for real with mss."""
    with MssScreen(xvfb_display) as source:
        yield source


@pytest.fixture
def desktop(xvfb_display: str) -> Iterator[TkDesktop]:
    """A TkDesktop on the Xvfb display, closed (every window gone) after the test."""
    tk_desktop = TkDesktop(xvfb_display)
    try:
        yield tk_desktop
    finally:
        tk_desktop.close()


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
