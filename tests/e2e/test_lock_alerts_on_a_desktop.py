"""A student unmaps the lock on a real X display; the teacher's console, through a real hub,
marks the student's tile and says who and when, while the lock comes back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.desktop import LOCK_TITLE
from agent.screen import MssScreen
from agent.ui_supervisor import SupervisedDesktop
from console.app import ClassroomApp
from console.hub_link import HubConnection
from console.widgets.student_tile import StudentTile

from ..classroom import classroom
from ..console.test_live_hub import until
from ..console.test_lock_alerts import toasts
from ..xvfb import find_windows, poll_until, xdotool

pytestmark = pytest.mark.desktop


@pytest.fixture
async def ui(xvfb_display: str) -> AsyncIterator[SupervisedDesktop]:
    desktop = await asyncio.to_thread(SupervisedDesktop, xvfb_display)
    try:
        yield desktop
    finally:
        await asyncio.to_thread(desktop.close)


def lock_windows(display: str) -> list[int] | None:
    return find_windows(display, f"^{LOCK_TITLE}$") or None


async def test_the_teacher_sees_a_lock_unmapped_by_the_student(
    tmp_path: Path, ui: SupervisedDesktop, xvfb_display: str
) -> None:
    async with classroom(tmp_path) as room:
        with MssScreen(xvfb_display) as screen:
            await room.start_agent("Ada's laptop", screen=screen, desktop=ui)
            app = ClassroomApp(HubConnection(room.staff(), url=room.url))
            async with app.run_test(size=(140, 45), notifications=True) as pilot:
                await until(pilot, lambda: len(app.query(StudentTile)) == 1)
                await pilot.press("l", *"Eyes on me", "enter")
                (window,) = await asyncio.to_thread(
                    poll_until, lambda: lock_windows(xvfb_display), 10, "no lock on the screen"
                )
                await asyncio.to_thread(xdotool, xvfb_display, "windowunmap", str(window))

                tile = app.query_one(StudentTile)
                await until(pilot, lambda: tile.alert is not None)
                assert tile.alert is not None and tile.alert.kind == "lock_tampered"
                assert "unmapped" in tile.alert.detail
                expected = f"Ada's laptop: lock tampered with at {tile.alert.time}"
                await until(pilot, lambda: any(expected in toast for toast in toasts(app)))
                # The lock is back, and the console still says so.
                await asyncio.to_thread(
                    poll_until, lambda: lock_windows(xvfb_display), 10, "the lock stayed away"
                )
                assert tile.has_class("-locked") and tile.has_class("-alert")
