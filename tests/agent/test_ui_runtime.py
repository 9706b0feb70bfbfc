"""The agent with its real UI process on Xvfb, through a real hub: the banner comes before the
first picture; a lock tampered with, or not shown, is reported to the school."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from PIL import Image

from agent.desktop import (
    INDICATOR_BACKGROUND,
    LOCK_TITLE,
    DesktopSnapshot,
    UnavailableDesktop,
)
from agent.runtime import Agent
from agent.screen import MssScreen
from agent.ui_supervisor import SupervisedDesktop
from console.session import Picture
from protocol.actions import LockScreen, Watch
from protocol.frames import Frame
from protocol.messages import Deliver, Result
from tests.support import scaled
from tests.xvfb import find_windows, poll_until, rgb, xdotool

from ..classroom import Classroom, classroom

WIDTH = 512  # thumbnails at half the 1024 px wide screen


@pytest.fixture
async def room(tmp_path: Path) -> AsyncIterator[Classroom]:
    async with classroom(tmp_path) as room:
        yield room


@pytest.fixture
async def ui(xvfb_display: str) -> AsyncIterator[SupervisedDesktop]:
    desktop = await asyncio.to_thread(SupervisedDesktop, xvfb_display)
    try:
        yield desktop
    finally:
        await asyncio.to_thread(desktop.close)


async def eventually(check: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    """Wait until `check()` holds; the short sleep only spaces the checks."""
    deadline = time.monotonic() + scaled(seconds)
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {scaled(seconds):.0f} s for {what}")
        await asyncio.sleep(0.02)


def audited(room: Classroom, action: str) -> list[str]:
    """The details of the hub's audit entries for `action`."""
    return [record.detail for record in room.store.audit(limit=1000) if record.action == action]


def share_near(image: Image.Image, colour: str, box: tuple[int, int, int, int]) -> float:
    """The fraction of pixels in `box` within a JPEG's error of `colour`."""
    wanted = rgb(colour)
    data = image.convert("RGB").crop(box).tobytes()
    pixels = [data[i : i + 3] for i in range(0, len(data), 3)]
    close = sum(all(abs(a - b) <= 40 for a, b in zip(p, wanted, strict=True)) for p in pixels)
    return close / len(pixels)


@pytest.mark.desktop
async def test_the_first_picture_of_a_watch_shows_the_banner(
    room: Classroom, ui: SupervisedDesktop, xvfb_display: str
) -> None:
    with MssScreen(xvfb_display) as screen:
        agent = await room.start_agent("Ada's laptop", screen=screen, desktop=ui)
        console = await room.console()
        await console.submit(Watch(width=WIDTH, fps=1, lease_seconds=60), [agent.state.device_id])
        picture: Picture = await console.take(Picture)
        assert isinstance(picture.frame, Frame)  # a watch starts with a whole picture
        first = Image.open(io.BytesIO(picture.frame.image))
        assert picture.frame.sequence == 1
        (banner,) = (await asyncio.to_thread(ui.snapshot)).of_role("indicator")
        # Where the banner is on the screen, in the half-size picture: mostly its red (the
        # rest is its white words); no red at all had the picture come first.
        box = (
            banner.x // 2 + 1,
            banner.y // 2 + 1,
            (banner.x + banner.width) // 2 - 1,
            (banner.y + banner.height) // 2 - 1,
        )
        assert share_near(first, INDICATOR_BACKGROUND, box) > 0.5


@pytest.mark.desktop
async def test_the_school_hears_when_the_lock_is_tampered_with(
    room: Classroom, ui: SupervisedDesktop, xvfb_display: str
) -> None:
    agent = await room.start_agent("Ada's laptop", desktop=ui)
    console = await room.console()
    command = await console.submit(LockScreen(message="Eyes on me"), [agent.state.device_id])
    assert (await console.take(Result, lambda r: r.command_id == command.body.id)).ok

    def lock_windows() -> list[int] | None:
        return find_windows(xvfb_display, f"^{LOCK_TITLE}$") or None

    (window,) = await asyncio.to_thread(poll_until, lock_windows, 10, "no lock")
    await asyncio.to_thread(xdotool, xvfb_display, "windowunmap", str(window))
    await eventually(lambda: bool(audited(room, "event:lock_tampered")), "a lock_tampered event")
    assert "unmapped" in audited(room, "event:lock_tampered")[0]
    # And the lock is back.
    await asyncio.to_thread(poll_until, lock_windows, 10, "the lock did not come back")


async def test_the_school_hears_when_a_lock_cannot_be_shown(room: Classroom) -> None:
    desktop = UnavailableDesktop("There is no display (DISPLAY is not set).")
    agent = await room.start_agent("Ada's laptop", desktop=desktop)
    console = await room.console()
    command = await console.submit(LockScreen(message="Eyes on me"), [agent.state.device_id])
    assert (await console.take(Result, lambda r: r.command_id == command.body.id)).ok
    await eventually(lambda: bool(audited(room, "event:lock_not_shown")), "lock_not_shown")
    assert audited(room, "event:lock_not_shown") == ["There is no display (DISPLAY is not set)."]


@pytest.mark.desktop
async def test_a_restarted_agent_shows_its_due_lock_before_it_reconnects(
    room: Classroom, xvfb_display: str
) -> None:
    state, folder = await room.enroll("Ada's laptop")
    console = await room.console()
    lock = console.session.sign(LockScreen(message="Eyes on me"), [state.device_id])
    first = await asyncio.to_thread(SupervisedDesktop, xvfb_display)
    try:
        agent = Agent(state, screen=MssScreen(xvfb_display), desktop=first, folder=folder)
        assert (await agent.carry_out(Deliver(command=lock))).ok
    finally:
        await asyncio.to_thread(first.close)  # the agent is killed: its UI goes with it
    assert not find_windows(xvfb_display, f"^{LOCK_TITLE}$")

    again = await asyncio.to_thread(SupervisedDesktop, xvfb_display)
    try:
        Agent(state, screen=MssScreen(xvfb_display), desktop=again, folder=folder)  # no hub yet
        snapshot = await asyncio.to_thread(
            poll_until,
            lambda: locked_snapshot(again),
            10,
            "the lock did not come back",
        )
        assert snapshot.of_role("lock")[0].texts[0] == "Eyes on me"
    finally:
        await asyncio.to_thread(again.close)


def locked_snapshot(desktop: SupervisedDesktop) -> DesktopSnapshot | None:
    """The desktop's windows once the lock is among them, else None (for poll_until)."""
    snapshot = desktop.snapshot()
    return snapshot if snapshot.of_role("lock") else None
