"""A signed-in staff connection to the hub, with no user interface: used by the app and CLI."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from link.dial import open_session
from link.ws import ClientConnection, ConnectionClosed
from protocol.actions import AnyAction, TakeScreenshot, Watch
from protocol.certificates import CLOCK_SKEW
from protocol.commands import SignedCommand, sign_command
from protocol.credentials import StaffCredential
from protocol.errors import PeerError
from protocol.frames import AnyFrame, decode_frame
from protocol.handshake import ClientHandshake
from protocol.messages import (
    Answer,
    ClassSessionRequest,
    ClientRole,
    CommandQueued,
    DeviceAlert,
    DeviceChanged,
    DeviceState,
    Error,
    KeyframeRequest,
    PolicySet,
    Query,
    Result,
    Roster,
    ScreenshotPart,
    SetDeviceRecord,
    Submit,
    encode_message,
)
from protocol.policy import SignedPolicy

if TYPE_CHECKING:
    from PIL import Image

    from protocol.sealing import SealedWatches

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


class ConsoleSession:
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
        self.credential = credential
        self.url = url or credential.hub_url
        self.clock = clock
        self.devices: dict[str, DeviceState] = {}
        self._streams: dict[int, str] = {}
        self._pictures: dict[str, LivePicture] = {}  # by device id
        self._keyframe_asked: dict[str, float] = {}  # by device id: when we last asked
        self._ws: ClientConnection | None = None
        self._key = credential.key
        #: Frames dropped because their seal failed, was for someone else, or was replayed.
        self.frames_refused = 0

    @cached_property
    def sealed(self) -> SealedWatches:
        """The keys put in this console's watches and screenshots; frames are opened with them.

        Made at first use: `homeroom-console do` sends a message without loading the sealing
        code."""
        from protocol.sealing import SealedWatches

        return SealedWatches()

    @property
    def name(self) -> str:
        return self.credential.certificate.body.name

    async def connect(self) -> None:
        credential = self.credential

        def handshake(channel: bytes) -> ClientHandshake:
            return ClientHandshake(
                role=ClientRole.CONSOLE,
                key=self._key,
                pins=credential.pins,
                channel=channel,
                certificate=credential.certificate,
                clock=self.clock,
            )

        self._ws, self._endpoint = await open_session(self.url, handshake)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()

    def sign(self, action: AnyAction, targets: Sequence[str], *, ttl: int = 60) -> SignedCommand:
        """Sign `action`; a watch or screenshot gets a fresh key, so the hub relays ciphertext."""
        key = None
        if isinstance(action, Watch | TakeScreenshot) and action.seal_to is None:
            from protocol.sealing import SealKey

            key = SealKey.generate()
            action = msgspec.structs.replace(action, seal_to=key.public)
        command = sign_command(
            self._key,
            self.credential.certificate,
            targets=targets,
            action=action,
            now=int(self.clock()),
            ttl=ttl,
        )
        if key is not None:
            body = command.body
            # As long as the device may send under it: its lease counts from the expiry at most.
            lease = action.lease_seconds if isinstance(action, Watch) else 0
            until = body.expires_at + lease + CLOCK_SKEW
            self.sealed.remember(key, body.id, body.targets, until)
        return command

    def open_screenshot(self, result: Result, data: bytes) -> bytes:
        """The picture a Result's assembled parts hold, opened if they were sealed for us."""
        info = result.screenshot
        if info is None:
            return data
        from protocol.sealing import screenshot_about

        about = screenshot_about(info.width, info.height, info.format)
        return self.sealed.open_screenshot(
            result.command_id, result.device_id, data, info.sealed_by, about
        )

    async def submit(
        self, action: AnyAction, targets: Sequence[str], *, queue: bool = False, ttl: int = 60
    ) -> SignedCommand:
        """Sign `action` for `targets` and hand it to the hub; results arrive as events."""
        command = self.sign(action, targets, ttl=ttl)
        await self.send_signed(command, queue=queue)
        return command

    async def send_signed(self, command: SignedCommand, *, queue: bool = False) -> None:
        if self._ws is None:
            raise ConnectionError("not connected to the hub")
        await self._ws.send(encode_message(Submit(command=command, queue=queue)).decode())

    async def query(
        self,
        subject: Literal["roster", "classes", "audit", "fleet", "history", "privacy"],
        limit: int = 1000,
        *,
        device_id: str | None = None,
    ) -> str:
        """Ask the hub for a list; the Answer event carries the returned id."""
        if self._ws is None:
            raise ConnectionError("not connected to the hub")
        query = Query(id=secrets.token_hex(16), subject=subject, limit=limit, device_id=device_id)
        await self._ws.send(encode_message(query).decode())
        return query.id

    async def set_record(self, device_id: str, **fields: Any) -> str:
        """Change a device's asset_tag, student, state or loan_for on the hub.

        An Answer (the device's new fleet row) or an Error carries the returned id.
        """
        if self._ws is None:
            raise ConnectionError("not connected to the hub")
        request = SetDeviceRecord(id=secrets.token_hex(16), device_id=device_id, **fields)
        await self._ws.send(encode_message(request).decode())
        return request.id

    async def class_session(
        self, class_name: str, action: Literal["start", "end"], minutes: int = 60
    ) -> str:
        """Start or end a class session; the Answer (the classes) or Error carries the id."""
        if self._ws is None:
            raise ConnectionError("not connected to the hub")
        request = ClassSessionRequest(
            id=secrets.token_hex(16), class_name=class_name, action=action, minutes=minutes
        )
        await self._ws.send(encode_message(request).decode())
        return request.id

    async def set_policy(self, policy: SignedPolicy) -> str:
        """Hand the hub a policy this admin signed; the Answer or Error carries the id."""
        if self._ws is None:
            raise ConnectionError("not connected to the hub")
        request = PolicySet(id=secrets.token_hex(16), policy=policy)
        await self._ws.send(encode_message(request).decode())
        return request.id

    async def __aiter__(self) -> AsyncIterator[HubEvent]:
        ws = self._ws
        if ws is None:
            raise ConnectionError("not connected to the hub")
        endpoint = self._endpoint
        with contextlib.suppress(ConnectionClosed):
            async for data in ws:
                try:
                    if isinstance(data, bytes):
                        picture = await self._frame_arrived(endpoint, data)
                        if picture is not None:
                            yield picture
                        continue
                    message = endpoint.receive(data)
                except PeerError:
                    continue  # the hub is not trusted blindly either: skip what is malformed
                if isinstance(message, Roster):
                    self.devices = {d.device_id: d for d in message.devices}
                    self._streams = {d.stream: d.device_id for d in message.devices}
                elif isinstance(message, DeviceChanged):
                    device = message.device
                    self.devices[device.device_id] = device
                    self._streams[device.stream] = device.device_id
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
