"""The console app against a real embedded hub and simulated students running real agent code."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from agent.desktop import LOCK_BACKGROUND
from console.app import ClassroomApp
from console.demo import demo_classroom
from console.dialogs.confirm_dialog import ConfirmDialog
from console.hub_link import HubConnection
from console.picture import PictureData
from console.widgets.student_tile import StudentTile

from ..support import scaled


async def until(pilot, condition: Callable[[], bool], seconds: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    """Let the app run until `condition` holds (checked after each pause), or fail."""
    async with asyncio.timeout(scaled(seconds)):
        while not condition():
            await pilot.pause(0.05)


def centre_colour(data: PictureData) -> tuple[int, int, int]:
    # Whole frames arrive as bytes; pictures reassembled from tile frames as images.
    with data if isinstance(data, Image.Image) else Image.open(io.BytesIO(data)) as image:
        rgb = image.convert("RGB")
        return rgb.getpixel((rgb.width // 2, rgb.height // 4))  # type: ignore[return-value]


def near(colour: tuple[int, int, int], hex_colour: str, tolerance: int = 24) -> bool:
    target = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return all(abs(a - b) <= tolerance for a, b in zip(colour, target, strict=True))


async def test_tiles_fill_with_thumbnails_and_a_keyboard_lock_reaches_every_student(
    tmp_path: Path,
) -> None:
    async with demo_classroom(4, folder=tmp_path) as room:
        app = ClassroomApp(HubConnection(room.teacher, url=room.url))
        async with app.run_test(size=(140, 45)) as pilot:

            def tiles() -> list[StudentTile]:
                return list(app.query(StudentTile))

            await until(
                pilot,
                lambda: len(tiles()) == 4 and all(t._last_picture is not None for t in tiles()),
            )
            assert sorted(t.device.name for t in tiles()) == ["Ada", "Bilal", "Chloé", "Dmitri"]
            assert all(t.device.online and t.device.watched for t in tiles())

            await pilot.press("a")  # select all
            await pilot.press("l")  # lock: the dialog asks for an optional note
            await pilot.press(*"Eyes on me")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            await pilot.press("enter")  # yes: all four at once
            await until(pilot, lambda: all(agent.desktop.locked for agent in room.agents))
            assert {agent.desktop.lock_message for agent in room.agents} == {"Eyes on me"}  # type: ignore[attr-defined]
            await until(pilot, lambda: all(t.has_class("-locked") for t in tiles()))
            # The next thumbnails show the lock screen itself.
            await until(
                pilot,
                lambda: all(
                    t._last_picture is not None
                    and near(centre_colour(t._last_picture), LOCK_BACKGROUND)
                    for t in tiles()
                ),
            )

            await pilot.press("u")
            await until(pilot, lambda: not any(agent.desktop.locked for agent in room.agents))
            await until(pilot, lambda: not any(t.has_class("-locked") for t in tiles()))
