"""The hub's view of each connected peer: what it may send, and what waits to be sent to it."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from contextlib import suppress
from dataclasses import dataclass, field

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from protocol.certificates import CertificateBody
from protocol.handshake import HubHandshake
from protocol.messages import (
    Activity,
    DeviceCapabilities,
    DeviceChanged,
    Message,
    encode_message,
)
from protocol.ratelimit import TokenBucket

from .store import DeviceRecord

log = logging.getLogger("homeroom.hub")

#: Control messages waiting for one console; past this it is too slow and is hung up on.
MAX_OUTBOX = 5_000


@dataclass(eq=False, slots=True)
class _StateMark:
    """A device's place in a console's line; the state it carries may be replaced."""

    device_id: str


@dataclass
class Presence:
    """What the hub knows live about a device beyond its stored record."""

    online: bool = False
    locked: bool = False
    watched_by: tuple[str, ...] = ()
    user: str = ""
    capabilities: DeviceCapabilities | None = None
    activity: Activity | None = None


@dataclass(eq=False)
class ConsoleLink:
    """One signed-in staff member's connection, written only by its own pump task.

    Nothing else ever awaits this console's socket: a console on bad Wi-Fi (or one
    that stops reading on purpose) fills its own outbox and is hung up on; it never
    holds up a device or another console. Frames wait in a newest-only slot per stream.
    """

    ws: ServerConnection
    staff: CertificateBody
    #: Encoded messages in order; a device's state stands in line as its id alone.
    outbox: deque[str | _StateMark] = field(default_factory=deque)
    #: The newest unsent state of each device, and which mark in the outbox carries it.
    states: dict[str, tuple[_StateMark, str]] = field(default_factory=dict)
    frames: dict[int, bytes] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    frames_dropped: int = 0
    too_slow: bool = False
    #: Marks in the outbox whose state was replaced by a newer one.
    stale: int = 0

    def post(self, message: Message) -> None:
        """Queue a control message; never waits.

        A device's state replaces its unsent older state and moves to the back of the
        line: when thousands of devices change at once (watched, 8 a.m.), a console gets
        each device's newest state once, and a result behind them is not held up by
        states already out of date.
        """
        if self.too_slow:
            return
        if len(self.outbox) - self.stale >= MAX_OUTBOX:
            self.too_slow = True
            log.warning(
                "%s %r is not keeping up; hanging up", self.staff.role.value, self.staff.name
            )
            self.wake.set()
            return
        text = encode_message(message).decode()
        if isinstance(message, DeviceChanged):
            device_id = message.device.device_id
            if device_id in self.states:
                self.stale += 1  # its older mark stays in line, and is skipped
            mark = _StateMark(device_id)
            self.states[device_id] = (mark, text)
            self.outbox.append(mark)
        else:
            self.outbox.append(text)
        self.wake.set()

    def _next_message(self) -> str | None:
        """The next message to send, skipping states that a newer one replaced."""
        while self.outbox:
            item = self.outbox.popleft()
            if isinstance(item, str):
                return item
            mark, text = self.states[item.device_id]
            if mark is item:
                del self.states[item.device_id]
                return text
            self.stale -= 1
        return None

    def offer_frame(self, stream: int, data: bytes) -> None:
        # A slow console replaces its unsent frame: it always gets the newest picture.
        if stream in self.frames:
            self.frames_dropped += 1
        self.frames[stream] = data
        self.wake.set()

    async def pump(self) -> None:
        """The only writer to this console: control messages first, then the newest frames."""
        with suppress(ConnectionClosed):
            while True:
                await self.wake.wait()
                self.wake.clear()
                if self.too_slow:
                    await self.ws.close(1008, "console too slow to keep up")
                    return
                while (text := self._next_message()) is not None:
                    await self.ws.send(text)
                batch, self.frames = self.frames, {}
                for data in batch.values():
                    await self.ws.send(data)


@dataclass(eq=False)
class AgentLink:
    """One device's connection, with how fast it may talk."""

    ws: ServerConnection
    device: DeviceRecord
    endpoint: HubHandshake
    # Status, inventory and events: a device has no reason to send more than a few a
    # second; a flood (a student's forged client) is refused, then hung up on.
    reports: TokenBucket = field(default_factory=lambda: TokenBucket(rate=5.0, burst=30.0))
    # Frames: 30 a second is the most any watch asks for.
    frames: TokenBucket = field(default_factory=lambda: TokenBucket(rate=35.0, burst=60.0))
    #: When the hub last wrote this device's "last seen" (server.SEEN_RESOLUTION).
    seen_written: int = 0
