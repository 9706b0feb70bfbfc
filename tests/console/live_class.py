"""A console against a real hub on loopback (TLS) with students running real agent code."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from textual.pilot import Pilot

from agent.platforms import ActivitySample, ActivityWatcher, Platform, current
from agent.runtime import Agent
from console.app import ClassroomApp
from console.hub_link import HubConnection
from console.picture import PictureMode
from console.widgets.student_tile import StudentTile
from tests.classroom import Classroom, classroom
from tests.support import scaled


class _Reported:
    """An activity watcher that reports one sample at start, as a student sitting still."""

    def __init__(self, report: Callable[[ActivitySample], None], sample: ActivitySample) -> None:
        report(sample)

    def stop(self) -> None:
        pass


class _ActivityPlatform:
    """This machine's platform, but the active window and idleness are given."""

    def __init__(self, sample: ActivitySample) -> None:
        self._real = current()
        self._sample = sample

    def watch_activity(
        self, report: Callable[[ActivitySample], None], idle_after: float
    ) -> ActivityWatcher | None:
        return _Reported(report, self._sample)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def doing(app: str, title: str = "", idle_seconds: int = 0) -> Platform:
    """A platform whose student is in `app` with `title` (and idle, if `idle_seconds`)."""
    return cast(Platform, _ActivityPlatform(ActivitySample(app, title, idle_seconds)))


@dataclass
class LiveClass:
    room: Classroom
    app: ClassroomApp
    pilot: Pilot[None]

    def tiles(self) -> list[StudentTile]:
        return list(self.app.class_grid.all_tiles)

    def tile_of(self, agent: Agent) -> StudentTile:
        tile = self.app.class_grid.tile(agent.state.device_id)
        assert tile is not None
        return tile

    async def until(self, condition: Callable[[], object], seconds: float = 20.0) -> None:
        """Let the app run until `condition` holds (checked after each pause), or fail."""
        async with asyncio.timeout(scaled(seconds)):
            while not condition():
                await self.pilot.pause(0.05)


@asynccontextmanager
async def live_class(
    folder: Path,
    students: Mapping[str, Platform | None],
    *,
    size: tuple[int, int] = (160, 48),
    pictures: PictureMode = PictureMode.HALFBLOCK,
    offline: tuple[str, ...] = (),
) -> AsyncIterator[LiveClass]:
    """A hub, the named students' agents (with their activity), and a console watching.

    Devices named in `offline` are enrolled but never connect.
    """
    async with classroom(folder) as room:
        for name in offline:
            await room.enroll(name)
        for name, platform in students.items():
            options: dict[str, Any] = {}
            if platform is not None:
                options = {"platform": platform, "watch_activity": True}
            await room.start_agent(name, **options)
        app = ClassroomApp(HubConnection(room.staff(), url=room.url), pictures=pictures)
        async with app.run_test(size=size, notifications=True) as pilot:
            live = LiveClass(room, app, pilot)
            await live.until(
                lambda: (
                    len(live.tiles()) == len(students) + len(offline)
                    and all(tile.region.area for tile in live.tiles())
                )
            )
            yield live
