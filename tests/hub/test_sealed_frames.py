"""A hub that reads what it relays: with sealing, the frames it passes on are no pictures.

Over real sockets (tests/classroom.py): the hub's relay path is wrapped to record, and for the
attacks to change or replay, the exact bytes it sends each watching console.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat, UnidentifiedImageError

from agent.screen import SyntheticScreen
from console.session import Picture
from hub.links import AgentLink
from hub.server import Hub
from protocol.actions import Unwatch, Watch
from protocol.certificates import Role
from protocol.frames import HEADER, Frame, check_frame, encode_frame, restream
from protocol.messages import Result
from protocol.sealing import ENVELOPE, TAG_BYTES, WRAP

from ..classroom import Classroom, classroom
from ..support import scaled

NOW = 1_000_000.0


class RecordingRelay:
    """The hub's frame relay, wrapped: keeps every frame it passes on, may change the next."""

    def __init__(self, hub: Hub) -> None:
        self.relay = hub._relay_frame
        self.relayed: list[bytes] = []
        self.tamper: Callable[[bytes], bytes] | None = None

    def __call__(self, link: AgentLink, data: bytes) -> None:
        if self.tamper is not None:
            data, self.tamper = self.tamper(data), None
        self.relayed.append(data)
        self.relay(link, data)


async def watched_room(
    room: Classroom, now: list[float]
) -> tuple[RecordingRelay, SyntheticScreen, str]:
    relay = RecordingRelay(room.hub)
    room.hub._relay_frame = relay  # type: ignore[method-assign]
    screen = SyntheticScreen("Ada", 1, (640, 400), clock=lambda: now[0])
    agent = await room.start_agent("Ada's laptop", screen=screen)
    agent.capture.encoder.coalesce_seconds = 0.0  # every change goes out at once
    return relay, screen, agent.state.device_id


def assert_no_picture(data: bytes) -> None:
    header = check_frame(data)
    assert header.sealed
    for attempt in (data, data[HEADER.size :]):
        with pytest.raises(UnidentifiedImageError):
            Image.open(io.BytesIO(attempt))


async def test_the_hub_relays_frames_it_cannot_read_and_the_console_sees_the_screen(
    tmp_path: Path,
) -> None:
    now = [NOW]
    async with classroom(tmp_path) as room:
        relay, screen, device = await watched_room(room, now)
        console = await room.console()
        await console.submit(Watch(width=320, fps=20, lease_seconds=60), [device])
        picture = await console.take(Picture)
        assert isinstance(picture.frame, Frame)
        expected = screen.grab().reduce(2)
        assert picture.image.size == expected.size == (320, 200)
        difference = ImageStat.Stat(ImageChops.difference(picture.image.convert("RGB"), expected))
        assert max(difference.mean) < 8  # the screen, give or take JPEG
        now[0] += 5  # the screen changes: tiles go out, sealed as well
        tiled = await console.take(Picture, lambda p: p.frame.sequence > picture.frame.sequence)
        assert relay.relayed
        for data in relay.relayed:
            assert_no_picture(data)
            assert picture.frame.image[:64] not in data
        assert any(check_frame(d).sequence == tiled.frame.sequence for d in relay.relayed)
        # What sealing adds on the wire: the envelope and the tag, and one wrap in whole frames.
        assert tiled.wire_bytes == len(encode_frame(tiled.frame)) + ENVELOPE.size + TAG_BYTES
        assert picture.wire_bytes == len(encode_frame(picture.frame)) + 33 + WRAP.size
        assert console.session.frames_refused == 0


async def test_a_changed_or_replayed_frame_is_refused_by_the_console(tmp_path: Path) -> None:
    now = [NOW]
    async with classroom(tmp_path) as room:
        relay, _, device = await watched_room(room, now)
        console = await room.console()
        await console.submit(Watch(width=320, fps=20, lease_seconds=60), [device])
        first = await console.take(Picture)

        # The hub flips one bit of the next frame's sealed picture.
        flipped: list[int] = []

        def flip(data: bytes) -> bytes:
            flipped.append(check_frame(data).sequence)
            return data[:-20] + bytes([data[-20] ^ 1]) + data[-19:]

        relay.tamper = flip
        now[0] += 5
        after = await console.take(Picture, lambda p: p.frame.sequence > first.frame.sequence)
        [tampered] = flipped
        assert after.frame.sequence > tampered  # its picture never showed; a whole one came
        assert console.session.frames_refused == 1

        # The hub plays the first frame again, as if the screen had gone back.
        stream = room.hub.stream_of(device)
        for watcher in room.hub.consoles:
            watcher.offer_frame(stream, restream(relay.relayed[0], stream))
        now[0] += 5
        await console.take(Picture, lambda p: p.frame.sequence > after.frame.sequence)
        assert console.session.frames_refused == 2
        shown = [e.frame.sequence for e in console.inbox.events if isinstance(e, Picture)]
        assert first.frame.sequence not in shown and tampered not in shown


async def test_a_watcher_the_agent_never_accepted_gets_only_ciphertext(tmp_path: Path) -> None:
    now = [NOW]
    async with classroom(tmp_path) as room:
        _, _, device = await watched_room(room, now)
        smith = await room.console()
        jones = await room.console(room.staff("Mr Jones", Role.TEACHER))
        await smith.submit(Watch(width=320, fps=20, lease_seconds=60), [device])
        await smith.take(Picture)
        # A hostile hub lets Mr Jones watch too, without the agent (or the banner) knowing.
        [jones_link] = [c for c in room.hub.consoles if c.staff.name == "Mr Jones"]
        room.hub.router.watchers[device][jones_link] = float("inf")
        now[0] += 5
        async with asyncio.timeout(scaled(10)):
            while jones.session.frames_refused == 0:
                await asyncio.sleep(0.02)  # polling a count, not waiting for time to pass
        assert not [e for e in jones.inbox.events if isinstance(e, Picture)]


async def test_a_teacher_who_stopped_watching_cannot_read_what_follows(tmp_path: Path) -> None:
    now = [NOW]
    async with classroom(tmp_path) as room:
        _, _, device = await watched_room(room, now)
        smith = await room.console()
        jones = await room.console(room.staff("Mr Jones", Role.TEACHER))
        await smith.submit(Watch(width=320, fps=20, lease_seconds=60), [device])
        before = await smith.take(Picture)
        await jones.submit(Watch(width=320, fps=20, lease_seconds=60), [device])
        await jones.take(Picture)
        stop = await jones.submit(Unwatch(), [device])
        await jones.take(Result, lambda r: r.command_id == stop.body.id and r.ok)
        # A hostile hub keeps relaying to Mr Jones after he left the student's banner.
        [jones_link] = [c for c in room.hub.consoles if c.staff.name == "Mr Jones"]
        room.hub.router.watchers[device][jones_link] = float("inf")
        jones.inbox.events.clear()
        now[0] += 5
        after = await smith.take(Picture, lambda p: p.frame.sequence > before.frame.sequence)
        assert isinstance(after.frame, Frame)  # the new content key came in a whole frame
        async with asyncio.timeout(scaled(10)):
            while jones.session.frames_refused == 0:
                await asyncio.sleep(0.02)  # polling a count, not waiting for time to pass
        assert not [e for e in jones.inbox.events if isinstance(e, Picture)]
