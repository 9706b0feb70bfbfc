"""Screenshots over a real hub from a real Xvfb screen: the console gets the screen's pixels,
sealed on the way so the hub passes on bytes it cannot read."""

from __future__ import annotations

import base64
import io
import os
import tkinter
from pathlib import Path

import pytest
from PIL import Image, ImageChops, UnidentifiedImageError

from agent.screen import MssScreen
from protocol.actions import TakeScreenshot
from protocol.errors import ErrorCode
from protocol.messages import SCREENSHOT_PART_BYTES, Result, ScreenshotPart
from protocol.screenshots import ScreenshotAssembly

from ..classroom import Classroom, classroom


@pytest.fixture
async def room(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with classroom(tmp_path) as room:
        yield room


def show_noise(probe: tkinter.Tk, size: int = 400) -> tkinter.PhotoImage:
    """A window of random pixels: a picture no encoder can shrink much, so it takes parts."""
    noise = Image.frombytes("RGB", (size, size), os.urandom(size * size * 3))
    encoded = io.BytesIO()
    noise.save(encoded, "PNG")
    photo = tkinter.PhotoImage(master=probe, data=base64.b64encode(encoded.getvalue()))
    tkinter.Label(probe, image=photo, borderwidth=0).pack()
    probe.geometry("+10+10")
    probe.update()
    return photo


async def test_a_screenshot_has_the_screens_pixels_and_is_audited(
    room: Classroom, probe: tkinter.Tk, xvfb_display: str
) -> None:
    photo = show_noise(probe)
    with MssScreen(xvfb_display) as screen:
        agent = await room.start_agent("Ada's laptop", screen=screen)
        teacher = await room.console()
        command = await teacher.submit(TakeScreenshot(), [agent.state.device_id])
        result = await teacher.take(Result, lambda r: r.command_id == command.body.id)
        on_screen = screen.grab()
    assert result.ok and result.screenshot is not None
    info = result.screenshot
    assert info.parts >= 2 and info.format == "png"
    assembly = ScreenshotAssembly(command.body.id, agent.state.device_id)
    for _ in range(info.parts):
        assembly.add(await teacher.take(ScreenshotPart, lambda p: p.command_id == command.body.id))
    relayed = assembly.finish(info)  # the bytes the hub passed on: sealed for this console
    assert info.sealed_by is not None
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(relayed))
    opened = teacher.session.open_screenshot(result, relayed)
    picture = Image.open(io.BytesIO(opened)).convert("RGB")
    assert picture.size == on_screen.size == (info.width, info.height)
    assert ImageChops.difference(picture, on_screen).getbbox() is None
    [audited] = [
        row
        for row in room.store.audit(limit=20)
        if row.detail.startswith(f"command {command.body.id}") and row.action == "result"
    ]
    assert audited.detail.endswith(f"screenshot {info.width}x{info.height}, {info.size} bytes")
    assert info.size > SCREENSHOT_PART_BYTES
    del photo


async def test_a_screenshot_can_be_capped_in_width(room: Classroom, xvfb_display: str) -> None:
    with MssScreen(xvfb_display) as screen:
        agent = await room.start_agent("Ada's laptop", screen=screen)
        teacher = await room.console()
        command = await teacher.submit(TakeScreenshot(max_width=512), [agent.state.device_id])
        result = await teacher.take(Result, lambda r: r.command_id == command.body.id)
        width, height = screen.size
    assert result.ok and result.screenshot is not None
    assert (result.screenshot.width, result.screenshot.height) == (512, height * 512 // width)


async def test_the_hub_refuses_screenshot_parts_nobody_asked_for(room: Classroom) -> None:
    agent = await room.start_agent("Ada's laptop")
    forged = ScreenshotPart(
        command_id="0" * 32, device_id=agent.state.device_id, index=0, data=b"not a picture"
    )
    await agent.connected.wait()
    await agent._send(forged)
    await room.until(lambda: room.hub.refusals[ErrorCode.OUT_OF_STATE] >= 1)
