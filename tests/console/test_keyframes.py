"""Whole frames on demand: a console that cannot apply tiles asks, the hub relays it, the
agent sends one."""

from __future__ import annotations

from pathlib import Path

from agent.screen import SyntheticScreen
from console.session import Picture
from protocol.actions import Watch
from protocol.frames import Frame, TileFrame

from ..classroom import classroom


async def test_a_lost_frame_makes_the_console_ask_for_a_whole_picture(tmp_path: Path) -> None:
    now = [1_000_000.0]
    async with classroom(tmp_path) as room:
        screen = SyntheticScreen("Ada", 1, (640, 400), clock=lambda: now[0])
        agent = await room.start_agent("Ada's laptop", screen=screen)
        encoder = agent.capture.encoder
        encoder.coalesce_seconds, encoder.whole_share = 0.0, 2.0  # every change as tiles, now
        console = await room.console()
        await console.submit(Watch(width=160, fps=20, lease_seconds=60), [agent.state.device_id])
        first = await console.take(Picture)
        assert isinstance(first.frame, Frame)

        now[0] += 5  # the screen changes: tiles go, and are applied
        tiled = await console.take(Picture, lambda p: p.frame.sequence > first.frame.sequence)
        assert isinstance(tiled.frame, TileFrame)

        agent._sequence += 1  # the next frame is lost on the way: the console sees a gap
        now[0] += 5
        after = await console.take(Picture, lambda p: p.frame.sequence > tiled.frame.sequence)
        # The first picture after the gap is whole: the tiles that came after the gap were not
        # shown on a picture that misses some; the console asked, and a whole picture came.
        assert isinstance(after.frame, Frame)
        assert after.frame.sequence > tiled.frame.sequence + 2


async def test_a_second_console_of_the_same_teacher_gets_a_whole_picture(tmp_path: Path) -> None:
    now = [1_000_000.0]
    async with classroom(tmp_path) as room:
        screen = SyntheticScreen("Ada", 1, (640, 400), clock=lambda: now[0])
        agent = await room.start_agent("Ada's laptop", screen=screen)
        agent.capture.encoder.coalesce_seconds = 0.0
        teacher = room.staff()
        device = agent.state.device_id
        laptop = await room.console(teacher)
        await laptop.submit(Watch(width=160, fps=20, lease_seconds=60), [device])
        await laptop.take(Picture)
        # The same teacher on a second screen: to the agent, a renewal of the same watch, so
        # no whole picture is sent for it; the new console asks for one when tiles come.
        tablet = await room.console(teacher)
        await tablet.submit(Watch(width=160, fps=20, lease_seconds=60), [device])
        now[0] += 5
        picture = await tablet.take(Picture)
        assert isinstance(picture.frame, Frame)
