"""A signed-in staff connection to the hub, with no user interface: used by the app and CLI."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from link.dial import open_session
from link.ws import ClientConnection, ConnectionClosed
from protocol.actions import AnyAction
from protocol.commands import SignedCommand
from protocol.credentials import StaffCredential
from protocol.errors import PeerError
from protocol.frames import AnyFrame, decode_frame
from protocol.handshake import ClientHandshake
from protocol.messages import (
    Answer,
    CommandQueued,
    DeviceAlert,
    DeviceChanged,
    Error,
    KeyframeRequest,
    Result,
    Roster,
    ScreenshotPart,
    encode_message,
)
from protocol.policy import SignedPolicy

from .session_state import SessionState, Subject

if TYPE_CHECKING:
    from PIL import Image

    from .picture import LivePicture

#: While a device's picture waits for a whole frame, ask again this often (seconds): the
#: request or its answer may be lost, but a device is never asked faster than this.
KEYFRAME_RETRY_SECONDS = 2.0


class Picture(msgspec.Struct, frozen=True):
    """A thumbnail of one device: the frame as it arrived, and the whole picture after it."""

    device_id: str
    frame: AnyFrame
    image: Image.Image
    #: The frame's size as it arrived (sealed, when it was): what the link carried.
    wire_bytes: int = 0


HubEvent = (
    Roster
    | DeviceChanged
    | DeviceAlert
    | CommandQueued
    | Result
    | ScreenshotPart
    | Answer
    | Error
    | Picture
)


class ConsoleSession(SessionState):
    """Roster, signed commands, results and pictures over one authenticated connection.

    Iterate it for events; the roster it keeps (`devices`) is updated as they pass.
    """

    def __init__(
        self,
        credential: StaffCredential,
        *,
        url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(credential, url=url, clock=clock)
        self._pictures: dict[str, LivePicture] = {}  # by device id
        self._keyframe_asked: dict[str, float] = {}  # by device id: when we last asked
        self._ws: ClientConnection | None = None
        #: Frames dropped because their seal failed, was for someone else, or was replayed.
        self.frames_refused = 0

    async def connect(self, *, open_timeout: float = 10.0) -> None:
        """Dial and sign in: PeerError, OSError (ConnectionError if it took longer than
        `open_timeout` seconds), or ValueError for a plain ws:// address off this computer."""
        try:
            self._ws, self._endpoint = await open_session(
                self.url, self.handshake, open_timeout=open_timeout
            )
        except TimeoutError:
            # Not a TimeoutError: callers read that as their own wait running out.
            raise ConnectionError(
                f"no answer from {self.url} while connecting; is the address right?"
            ) from None

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()

    async def _send(self, text: str) -> None:
        if self._ws is None:
            raise ConnectionError("not connected to the hub")
        await self._ws.send(text)

    async def submit(
        self, action: AnyAction, targets: Sequence[str], *, queue: bool = False, ttl: int = 60
    ) -> SignedCommand:
        """Sign `action` for `targets` and hand it to the hub; results arrive as events."""
        command = self.sign(action, targets, ttl=ttl)
        await self.send_signed(command, queue=queue)
        return command

    async def send_signed(self, command: SignedCommand, *, queue: bool = False) -> None:
        await self._send(self.submit_text(command, queue=queue))

    async def query(
        self, subject: Subject, limit: int = 1000, *, device_id: str | None = None
    ) -> str:
        """Ask the hub for a list; the Answer event carries the returned id."""
        request_id, text = self.query_text(subject, limit, device_id=device_id)
        await self._send(text)
        return request_id

    async def set_record(self, device_id: str, **fields: Any) -> str:
        """Change a device's asset_tag, student, state or loan_for on the hub.

        An Answer (the device's new fleet row) or an Error carries the returned id.
        """
        request_id, text = self.record_text(device_id, **fields)
        await self._send(text)
        return request_id

    async def class_session(
        self, class_name: str, action: Literal["start", "end"], minutes: int = 60
    ) -> str:
        """Start or end a class session; the Answer (the classes) or Error carries the id."""
        request_id, text = self.class_session_text(class_name, action, minutes)
        await self._send(text)
        return request_id

    async def set_policy(self, policy: SignedPolicy) -> str:
        """Hand the hub a policy this admin signed; the Answer or Error carries the id."""
        request_id, text = self.policy_text(policy)
        await self._send(text)
        return request_id

    async def __aiter__(self) -> AsyncIterator[HubEvent]:
        ws = self._ws
        if ws is None:
            raise ConnectionError("not connected to the hub")
        endpoint = self._endpoint
        with contextlib.suppress(ConnectionClosed):
            async for data in ws:
                if isinstance(data, bytes):
                    try:
                        picture = await self._frame_arrived(endpoint, data)
                    except PeerError:
                        continue  # the hub is not trusted blindly either: skip what is malformed
                    if picture is not None:
                        yield picture
                    continue
                message = self.message_arrived(endpoint, data)
                if message is not None:
                    yield message  # type: ignore[misc]

    async def _frame_arrived(self, endpoint: ClientHandshake, data: bytes) -> Picture | None:
        """Open a frame sealed for this console (drop and count any that is not), apply it."""
        header = endpoint.check_frame(data)
        device_id = self._streams.get(header.stream)
        if device_id is None:
            return None
        now = self.clock()
        plain = data
        try:
            if header.sealed or self.sealed.expects_sealed(device_id, now):
                plain = self.sealed.open_frame(device_id, data, now)
            frame = decode_frame(plain)
        except PeerError:
            self.frames_refused += 1
            await self.request_keyframe(device_id)  # a whole frame brings a fresh start
            return None
        return await self._assemble(device_id, frame, len(data))

    async def _assemble(self, device_id: str, frame: AnyFrame, size: int = 0) -> Picture | None:
        """Apply a frame to the device's picture; ask for a whole frame when it cannot apply."""
        # Imported here: `homeroom-console do` never sees a picture, and importing Pillow and
        # rich (about 50 modules) would lengthen its start for nothing.
        from .picture import LivePicture

        live = self._pictures.setdefault(device_id, LivePicture())
        # Decoding takes milliseconds: off the event loop, one frame at a time, in order.
        image = await asyncio.to_thread(live.apply, frame)
        if image is not None:
            self._keyframe_asked.pop(device_id, None)
            return Picture(device_id, frame, image, size)
        await self.request_keyframe(device_id)
        return None

    async def request_keyframe(self, device_id: str) -> None:
        """Ask a watched device for a whole picture, at most every KEYFRAME_RETRY_SECONDS."""
        now = time.monotonic()
        if now - self._keyframe_asked.get(device_id, -KEYFRAME_RETRY_SECONDS) < (
            KEYFRAME_RETRY_SECONDS
        ):
            return
        self._keyframe_asked[device_id] = now
        if self._ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await self._ws.send(encode_message(KeyframeRequest(device_id=device_id)).decode())
