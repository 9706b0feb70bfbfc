"""The student's "what applies now" panel on a real display, through a real hub: opened from its
tab, it names the teacher once a watch is accepted, and says nobody once the watch ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.ui_supervisor import SupervisedDesktop
from protocol.actions import Unwatch, Watch
from protocol.messages import Result

from ..agent.test_ui_panel import open_panel, panel_texts
from ..classroom import Console, classroom
from ..xvfb import poll_until

pytestmark = pytest.mark.desktop


@pytest.fixture
async def ui(xvfb_display: str) -> AsyncIterator[SupervisedDesktop]:
    desktop = await asyncio.to_thread(SupervisedDesktop, xvfb_display)
    try:
        yield desktop
    finally:
        await asyncio.to_thread(desktop.close)


async def done(console: Console, action: object, device_id: str) -> None:
    command = await console.submit(action, [device_id])
    result = await console.take(Result, lambda r: r.command_id == command.body.id)
    assert result.ok, result.detail


def says(desktop: SupervisedDesktop, line: str) -> bool:
    return line in (panel_texts(desktop) or ())


async def test_the_panel_names_who_watches_and_follows_the_watch(
    tmp_path: Path, ui: SupervisedDesktop, xvfb_display: str
) -> None:
    async with classroom(tmp_path) as room:
        agent = await room.start_agent("Ada's laptop", desktop=ui)
        device = agent.state.device_id
        await asyncio.to_thread(open_panel, xvfb_display)
        nobody = "Nobody is watching your screen."
        await asyncio.to_thread(poll_until, lambda: says(ui, nobody), 10, "no panel")

        teacher = await room.console(room.staff("Ms Smith"))
        await done(teacher, Watch(), device)
        watching = "Watching your screen now: Ms Smith"
        await asyncio.to_thread(
            poll_until, lambda: says(ui, watching), 10, "the panel did not name Ms Smith"
        )

        await done(teacher, Unwatch(), device)
        await asyncio.to_thread(
            poll_until, lambda: says(ui, nobody), 10, "the panel still names a watcher"
        )
