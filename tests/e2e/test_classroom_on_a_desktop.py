"""One classroom end to end on a real X display: hub, TLS, an agent capturing with mss, Tk.

The agent's screen is an Xvfb display; what it captures travels through the hub to a
console client, and the test compares those pixels with what it put on the screen.
"""

from __future__ import annotations

import asyncio
import tkinter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from agent.desktop import LOCK_BACKGROUND
from agent.screen import MssScreen
from agent.tk_desktop import TkDesktop
from agent.ui_supervisor import SupervisedDesktop
from console.session import Picture
from protocol.actions import LockScreen, SendMessage, UnlockScreen, Watch
from protocol.messages import DeviceChanged, Result

from ..classroom import Classroom, classroom
from ..support import scaled
from ..xvfb import find_windows, poll_until, rgb

pytestmark = pytest.mark.desktop
MARKER = "#12c04a"  # a green no desktop shows by chance
WIDTH = 512  # thumbnails at half the 1024 px wide screen


@pytest.fixture
def probe(xvfb_display: str) -> Iterator[tkinter.Tk]:
    """Another program on the student's screen: a window of a known colour."""
    root = tkinter.Tk(screenName=xvfb_display, className="Probe")
    root.overrideredirect(True)
    root.geometry("400x300+100+100")
    root.configure(background=MARKER)
    root.update()
    try:
        yield root
    finally:
        root.destroy()


def share_near(
    image: Image.Image, colour: str, box: tuple[int, int, int, int], tolerance: int = 40
) -> float:
    """The fraction of pixels in `box` within `tolerance` of `colour` (JPEG is lossy)."""
    wanted = rgb(colour)
    region = image.convert("RGB").crop(box)
    data = region.tobytes()
    pixels = [data[i : i + 3] for i in range(0, len(data), 3)]
    close = sum(
        all(abs(a - b) <= tolerance for a, b in zip(p, wanted, strict=True)) for p in pixels
    )
    return close / len(pixels)


def decode(picture: Picture) -> Image.Image:
    # The whole picture after this frame, whether it came whole or as changed tiles.
    return picture.image


async def next_picture(
    console: Any,
    probe: tkinter.Tk,
    after_ms: int,
    check: Callable[[Image.Image], bool],
) -> Image.Image:
    """The first thumbnail captured after `after_ms` that passes `check`."""
    async with asyncio.timeout(scaled(20)):
        while True:
            probe.update()  # keep the other program painting, as a real one would
            picture = await console.take(Picture, lambda p: p.frame.captured_at_ms > after_ms)
            image = decode(picture)
            if check(image):
                return image


async def test_a_lesson_on_a_real_screen(
    tmp_path: Path, xvfb_display: str, probe: tkinter.Tk
) -> None:
    desktop = TkDesktop(xvfb_display)
    try:
        async with classroom(tmp_path) as room:
            await lesson(room, desktop, probe, xvfb_display)
    finally:
        desktop.close()


async def lesson(
    room: Classroom, desktop: SupervisedDesktop, probe: tkinter.Tk, display: str
) -> None:
    with MssScreen(display) as screen:
        agent = await room.start_agent("Ada's laptop", screen=screen, desktop=desktop)
        device = agent.state.device_id
        console = await room.console()
        assert agent.captures == 0  # nobody watches yet

        # The teacher watches: the thumbnail shows the green window where it is on screen.
        await console.submit(Watch(width=WIDTH, fps=4, lease_seconds=60), [device])
        image = await next_picture(console, probe, 0, lambda i: True)
        assert image.width == WIDTH  # 1024 px screen scaled to half
        assert share_near(image, MARKER, (55, 55, 245, 195)) > 0.95  # 100..500 x 100..400 / 2
        assert share_near(image, MARKER, (300, 250, 500, 370)) < 0.05
        # The student is told, on screen, that they are watched.
        assert find_windows(display, "screen being viewed")

        # Lock: the next captured screens show the overlay over the whole display.
        command = await console.submit(LockScreen(message="Eyes on me"), [device])
        result = await console.take(Result, lambda r: r.command_id == command.body.id)
        assert result.ok
        locked_at = result_time_ms(agent)
        await console.take(DeviceChanged, lambda e: e.device.locked)
        image = await next_picture(
            console,
            probe,
            locked_at,
            lambda i: share_near(i, LOCK_BACKGROUND, (0, 0, i.width, i.height)) > 0.8,
        )
        assert share_near(image, MARKER, (0, 0, image.width, image.height)) < 0.01

        # Unlock: the overlay goes, the green window is seen again.
        command = await console.submit(UnlockScreen(), [device])
        assert (await console.take(Result, lambda r: r.command_id == command.body.id)).ok
        unlocked_at = result_time_ms(agent)
        await console.take(DeviceChanged, lambda e: not e.device.locked)
        image = await next_picture(
            console, probe, unlocked_at, lambda i: share_near(i, MARKER, (55, 55, 245, 195)) > 0.95
        )
        assert share_near(image, LOCK_BACKGROUND, (0, 0, image.width, image.height)) < 0.05

        # A message opens a window titled with the sender, showing the text.
        command = await console.submit(SendMessage(text="Well done today!"), [device])
        assert (await console.take(Result, lambda r: r.command_id == command.body.id)).ok
        await asyncio.to_thread(
            poll_until,
            lambda: find_windows(display, "^Message from Ms Smith$"),
            10,
            "no message window appeared",
        )
        snapshot = await asyncio.to_thread(desktop.snapshot)
        assert [w.texts for w in snapshot.of_role("message")] == [("Well done today!",)]


def result_time_ms(agent) -> int:  # type: ignore[no-untyped-def]
    """The agent's clock now, in the frames' unit: later frames were captured after it."""
    return int(agent.clock() * 1000)
