"""Many simulated devices in one process, each speaking the real protocol over its own TLS socket.

Run by the benchmark (`python -m bench.hub_load.agents STATES FIRST COUNT`), several at once
on a many-core machine. A simulated device costs little: it authenticates with the real
handshake (`link.dial.open_session`, the agent's own code path), reconnects with full
jitter (`link.reconnect.stay_connected`), answers each delivered command at once, and while
a console watches it sends one pre-encoded ~12 KB thumbnail at the asked rate. It does not
verify commands (about 220 µs each, the agent's cost, measured by `python -m bench`) nor
capture or encode anything: the hub is what is measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import random
import sys
import time
from pathlib import Path

import msgspec
from PIL import Image
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from agent.state import AgentState
from hub.capacity import run
from link.dial import open_session
from link.reconnect import SessionLost, stay_connected
from protocol.actions import Unwatch, Watch
from protocol.errors import PeerError
from protocol.frames import Frame, ImageFormat, encode_frame
from protocol.handshake import ClientHandshake
from protocol.messages import ClientRole, Deliver, Result, Status, encode_message

from .report import say

#: Handshakes one driver runs at once. A real device has a CPU of its own; a driver shares
#: one between thousands, and without this cap a reconnect storm starves its event loop until
#: every handshake times out client-side (measured: after a restart, none of 5,000 came back
#: in 4 minutes). So the hub sees at most DRIVERS x this many handshakes in flight; how it
#: copes with thousands at once is the pre-authentication limits' test, not this one's.
HANDSHAKES_AT_ONCE = 32
REPORT_SECONDS = 0.25
#: As the real agent (agent/runtime.py): a status every 30 s keeps the hub's view fresh.
HEARTBEAT_SECONDS = 30.0


def thumbnail(width: int = 320, height: int = 200, target: int = 12_000) -> bytes:
    """A JPEG of about `target` bytes: grain and soft shapes, like a busy screen at 320 px."""
    noise = random.Random(7)
    image = Image.effect_noise((width, height), 40).convert("RGB")
    pixels = image.load()
    assert pixels is not None
    for _ in range(40):
        x, y = noise.randrange(width), noise.randrange(height)
        colour = (noise.randrange(256), noise.randrange(256), noise.randrange(256))
        for dx in range(-12, 12):
            for dy in range(-12, 12):
                if 0 <= x + dx < width and 0 <= y + dy < height:
                    pixels[x + dx, y + dy] = colour
    best = b""
    for quality in range(95, 5, -5):
        out = io.BytesIO()
        image.save(out, "JPEG", quality=quality)
        best = out.getvalue()
        if len(best) <= target:
            break
    return best


class Fleet:
    """The counters every simulated device of this process adds to."""

    def __init__(self) -> None:
        self.online = 0
        self.sessions = 0
        self.lost = 0
        self.refused = 0
        self.frames = 0
        self.results = 0
        self.lag_ms = 0.0
        self.handshakes = asyncio.Semaphore(HANDSHAKES_AT_ONCE)

    def report(self) -> None:
        say(
            online=self.online,
            sessions=self.sessions,
            lost=self.lost,
            refused=self.refused,
            frames=self.frames,
            results=self.results,
            lag_ms=self.lag_ms,
        )
        self.lag_ms = 0.0


class SimulatedDevice:
    """One enrolled device: the real handshake, instant answers, pre-encoded thumbnails."""

    def __init__(self, state: AgentState, fleet: Fleet, picture: bytes) -> None:
        self.state = state
        self.fleet = fleet
        self.picture = picture
        self.status = encode_message(Status(locked=False)).decode()
        self.watching: asyncio.Task[None] | None = None

    async def run(self) -> None:
        await stay_connected(self.session, on_lost=self._lost)

    def _lost(self, error: SessionLost | None) -> None:
        self.fleet.lost += 1
        if isinstance(error, PeerError):
            self.fleet.refused += 1

    async def session(self) -> None:
        state = self.state

        def handshake(channel: bytes) -> ClientHandshake:
            return ClientHandshake(
                role=ClientRole.AGENT, key=state.key, pins=state.pins, channel=channel
            )

        async with self.fleet.handshakes:
            ws, endpoint = await open_session(state.hub_url, handshake)
        self.fleet.online += 1
        self.fleet.sessions += 1
        heartbeat = asyncio.create_task(self._heartbeat(ws))
        try:
            await ws.send(self.status)
            async for data in ws:
                if isinstance(data, bytes):
                    continue
                message = endpoint.receive(data)
                if isinstance(message, Deliver):
                    await self._carry_out(ws, message)
        finally:
            self.fleet.online -= 1
            heartbeat.cancel()
            self._stop_watch()

    async def _heartbeat(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.sleep(HEARTBEAT_SECONDS * (0.5 + random.random()))
                await ws.send(self.status)

    async def _carry_out(self, ws: ClientConnection, deliver: Deliver) -> None:
        body = deliver.command.body
        action = body.action
        if isinstance(action, Watch):
            self._stop_watch()
            self.watching = asyncio.create_task(self._send_frames(ws, action))
        elif isinstance(action, Unwatch):
            self._stop_watch()
        result = Result(command_id=body.id, device_id=self.state.device_id, ok=True)
        await ws.send(encode_message(result).decode())
        self.fleet.results += 1

    def _stop_watch(self) -> None:
        if self.watching is not None:
            self.watching.cancel()
            self.watching = None

    async def _send_frames(self, ws: ClientConnection, watch: Watch) -> None:
        period = 1.0 / watch.fps
        ends = time.monotonic() + watch.lease_seconds
        frame = encode_frame(
            Frame(
                stream=0,
                sequence=1,
                captured_at_ms=int(time.time() * 1000),
                format=ImageFormat.JPEG,
                width=320,
                height=200,
                image=self.picture,
            )
        )
        # Devices started watching together would send in lockstep; spread them in the period.
        await asyncio.sleep(random.random() * period)
        next_at = time.monotonic()
        with contextlib.suppress(ConnectionClosed):
            while next_at < ends:
                await ws.send(frame)
                self.fleet.frames += 1
                next_at += period
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def drive(states: list[AgentState]) -> None:
    fleet = Fleet()
    picture = thumbnail()
    devices = [SimulatedDevice(state, fleet, picture) for state in states]
    tasks = [asyncio.create_task(device.run()) for device in devices]
    try:
        while True:
            # How late this loop wakes: a starved driver answers commands late too, which
            # would show as round trip without being the hub's.
            asked = time.monotonic() + REPORT_SECONDS
            await asyncio.sleep(REPORT_SECONDS)
            fleet.lag_ms = max(fleet.lag_ms, 1000 * (time.monotonic() - asked))
            fleet.report()
    finally:
        for task in tasks:
            task.cancel()


def main() -> None:
    path, first, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    states = msgspec.json.decode(path.read_bytes(), type=list[AgentState])[first : first + count]
    with contextlib.suppress(KeyboardInterrupt):
        run(drive(states))


if __name__ == "__main__":
    main()
