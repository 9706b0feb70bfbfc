"""Where the monitors are: asked by the agent, handed to the UI process on its command line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agent.ui_monitors import (
    MAX_MONITORS,
    Monitor,
    monitors_argument,
    parse_monitors,
    without_containers,
)
from agent.ui_supervisor import SupervisedDesktop
from agent.x11_monitors import x11_monitors
from agent.x11_screen import X11Screen
from tests.xvfb import poll_until

from .conftest import TWO_MONITORS


def test_monitors_go_to_the_ui_process_and_back_unchanged() -> None:
    monitors = [(0, 0, 1920, 1080), (1920, -200, 1280, 1024)]
    assert monitors_argument(monitors) == "0,0,1920,1080;1920,-200,1280,1024"
    assert parse_monitors(monitors_argument(monitors)) == monitors
    assert parse_monitors("") == []


@pytest.mark.parametrize(
    "text",
    [
        "0,0,1920",
        "0,0,1920,1080,5",
        "0,0,wide,1080",
        "0,0,1920,1080;",
        "0,0,0,1080",
        "0,0,1920,-1080",
        "1e3,0,1920,1080",
        ";".join(["0,0,10,10"] * (MAX_MONITORS + 1)),
    ],
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_monitors(text)


def test_a_monitor_holding_others_is_dropped() -> None:
    whole = (0, 0, 3840, 1080)
    assert without_containers([*TWO_MONITORS, whole, TWO_MONITORS[0]]) == list(TWO_MONITORS)


def test_the_ui_process_refuses_a_malformed_monitor_list() -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "agent.ui_process", "--monitors", "0,0,big,1080"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert ran.returncode == 2
    assert "--monitors: not x,y,width,height" in ran.stderr


@pytest.mark.desktop
def test_the_agent_finds_a_projector_beside_the_laptop(two_monitor_display: str) -> None:
    # The primary first, and not the whole screen that holds both.
    assert x11_monitors(two_monitor_display) == list(TWO_MONITORS)


@pytest.mark.desktop
def test_one_screen_is_one_monitor(xvfb_display: str) -> None:
    assert len(x11_monitors(xvfb_display)) == 1


def test_no_display_is_no_monitors() -> None:
    assert x11_monitors(":4242") == []


@pytest.mark.desktop
def test_the_screen_grabbed_tells_where_the_monitors_are(two_monitor_display: str) -> None:
    # The agent asks on its screen's X connection: a connection of its own would stay resident.
    with X11Screen(two_monitor_display) as screen:
        assert screen.monitors() == list(TWO_MONITORS)
        screen.grab_reduced((0, 0, 3840, 1080), 12)  # the capture still works after it
    assert screen.monitors() == []  # closed: nothing to ask, and no error


@pytest.mark.desktop
def test_a_lock_goes_up_when_the_monitors_cannot_be_told(xvfb_display: str) -> None:
    def broken() -> list[Monitor]:
        raise RuntimeError("the X connection is gone")

    desktop = SupervisedDesktop(xvfb_display, monitors=broken)
    try:
        desktop.lock("Eyes on the board", by="Ms Smith")
        assert poll_until(lambda: desktop.snapshot().of_role("lock"), 10, "no lock")
    finally:
        desktop.close()
