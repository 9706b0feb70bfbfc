"""Consoles that watch many devices at once and count the thumbnails the hub relays to them.

Run by the benchmark (`python -m bench.hub_load.watchers PLAN`), in a process of its own so
the console that times commands is not slowed by tens of megabytes a second of pictures.
Each console signs in with the real handshake, signs a real Watch for its devices, counts
what arrives without decoding the pictures (the console's cost, not the hub's), and unwatches
when the plan's time is up.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from pathlib import Path

import msgspec
from websockets.asyncio.client import ClientConnection

from hub.capacity import run
from link.dial import open_session
from protocol.actions import AnyAction, Unwatch, Watch
from protocol.commands import sign_command
from protocol.credentials import StaffCredential
from protocol.handshake import ClientHandshake
from protocol.messages import ClientRole, Submit, encode_message

from .report import say

#: Consoles signing in at once: each sign-in costs the hub a roster; teachers do not all
#: open their console in the same second.
SIGN_INS_AT_ONCE = 8
SIGN_IN_ATTEMPTS = 5


class ClassWatch(msgspec.Struct, frozen=True):
    credential: str  # path of the class teacher's credential file
    devices: list[str]


class WatchPlan(msgspec.Struct, frozen=True):
    """Which teacher watches which devices, how fast, for how long."""

    classes: list[ClassWatch]
    fps: float
    seconds: float


class Counts:
    def __init__(self) -> None:
        self.frames = 0
        self.bytes = 0
        self.watching = 0
        self.retries = 0


async def sign_in(credential: StaffCredential) -> ClientConnection:
    def handshake(channel: bytes) -> ClientHandshake:
        return ClientHandshake(
            role=ClientRole.CONSOLE,
            key=credential.key,
            pins=credential.pins,
            channel=channel,
            certificate=credential.certificate,
        )

    ws, _ = await open_session(credential.hub_url, handshake)
    return ws


async def submit(
    ws: ClientConnection, credential: StaffCredential, action: AnyAction, devices: list[str]
) -> None:
    command = sign_command(
        credential.key,
        credential.certificate,
        targets=devices,
        action=action,
        now=int(time.time()),
        ttl=60,
    )
    await ws.send(encode_message(Submit(command=command)).decode())


async def watch(
    plan: WatchPlan, lesson: ClassWatch, counts: Counts, gate: asyncio.Semaphore
) -> None:
    credential = StaffCredential.decode(Path(lesson.credential).read_bytes())
    devices = lesson.devices
    async with gate:
        # A hub busy with thousands of devices may let a sign-in time out: try again, as the
        # console does, rather than lose the class.
        for attempt in range(SIGN_IN_ATTEMPTS):
            try:
                ws = await sign_in(credential)
                break
            except (OSError, TimeoutError):
                if attempt == SIGN_IN_ATTEMPTS - 1:
                    raise
                counts.retries += 1
                await asyncio.sleep(1 + attempt)
    lease = int(plan.seconds) + 30
    await submit(ws, credential, Watch(width=320, fps=plan.fps, lease_seconds=lease), devices)
    counts.watching += 1
    ends = time.monotonic() + plan.seconds
    try:
        async with asyncio.timeout(plan.seconds):
            async for data in ws:
                if isinstance(data, bytes):
                    counts.frames += 1
                    counts.bytes += len(data)
    except TimeoutError:
        pass
    assert time.monotonic() >= ends - 1
    await submit(ws, credential, Unwatch(), devices)
    await ws.close()


async def main_async(plan: WatchPlan) -> None:
    counts = Counts()
    gate = asyncio.Semaphore(SIGN_INS_AT_ONCE)
    watching = asyncio.gather(*(watch(plan, lesson, counts, gate) for lesson in plan.classes))
    while not watching.done():
        say(
            watching=counts.watching,
            frames=counts.frames,
            bytes=counts.bytes,
            retries=counts.retries,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(watching), 0.25)
    say(watching=0, frames=counts.frames, bytes=counts.bytes, done=True)
    await watching


def main() -> None:
    plan = msgspec.json.decode(Path(sys.argv[1]).read_bytes(), type=WatchPlan)
    run(main_async(plan))


if __name__ == "__main__":
    main()
