"""What a signed-in staff session knows and says, without the wire (sans-I/O).

The class grid, the CLI's commands and `homeroom-console do` share it: ConsoleSession
(console/session.py) carries it over asyncio, BlockingSession (console/blocking_session.py)
in one thread over a blocking socket. Here: the device list as the hub's messages pass, signed
commands and the keys their pictures are sealed with, and the text of each request.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from protocol.actions import AnyAction, TakeScreenshot, Watch
from protocol.certificates import CLOCK_SKEW
from protocol.commands import SignedCommand, sign_command
from protocol.credentials import StaffCredential
from protocol.errors import PeerError
from protocol.handshake import ClientHandshake
from protocol.messages import (
    ClassSessionRequest,
    ClientRole,
    DeviceChanged,
    DeviceState,
    Message,
    PolicySet,
    Query,
    Result,
    Roster,
    SetDeviceRecord,
    Submit,
    encode_message,
)
from protocol.policy import SignedPolicy

if TYPE_CHECKING:
    from protocol.sealing import SealedWatches

#: What the hub may be asked for a list of (`query`).
Subject = Literal["roster", "classes", "audit", "fleet", "history", "privacy"]


class SessionState:
    """One staff member's session with the hub, as messages in and text out."""

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
        #: The devices this member of staff may see, by id, as the hub last said.
        self.devices: dict[str, DeviceState] = {}
        #: Device ids by the stream number their frames carry.
        self._streams: dict[int, str] = {}
        self._key = credential.key

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

    def handshake(self, channel: bytes) -> ClientHandshake:
        """The console's side of the handshake, bound to the TLS channel `channel`."""
        return ClientHandshake(
            role=ClientRole.CONSOLE,
            key=self._key,
            pins=self.credential.pins,
            channel=channel,
            certificate=self.credential.certificate,
            clock=self.clock,
        )

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

    def message_arrived(self, endpoint: ClientHandshake, data: str) -> Message | None:
        """The hub's text message `data`, with the device list kept up to date as it passes;
        None for one that does not decode (the hub is not trusted blindly either)."""
        try:
            message = endpoint.receive(data)
        except PeerError:
            return None
        if isinstance(message, Roster):
            self.devices = {d.device_id: d for d in message.devices}
            self._streams = {d.stream: d.device_id for d in message.devices}
        elif isinstance(message, DeviceChanged):
            device = message.device
            self.devices[device.device_id] = device
            self._streams[device.stream] = device.device_id
        return message

    # The requests, as the text that goes on the wire (and the id the answer will carry).

    @staticmethod
    def submit_text(command: SignedCommand, *, queue: bool = False) -> str:
        return encode_message(Submit(command=command, queue=queue)).decode()

    @staticmethod
    def query_text(
        subject: Subject, limit: int = 1000, *, device_id: str | None = None
    ) -> tuple[str, str]:
        query = Query(id=secrets.token_hex(16), subject=subject, limit=limit, device_id=device_id)
        return query.id, encode_message(query).decode()

    @staticmethod
    def record_text(device_id: str, **fields: Any) -> tuple[str, str]:
        request = SetDeviceRecord(id=secrets.token_hex(16), device_id=device_id, **fields)
        return request.id, encode_message(request).decode()

    @staticmethod
    def class_session_text(
        class_name: str, action: Literal["start", "end"], minutes: int = 60
    ) -> tuple[str, str]:
        request = ClassSessionRequest(
            id=secrets.token_hex(16), class_name=class_name, action=action, minutes=minutes
        )
        return request.id, encode_message(request).decode()

    @staticmethod
    def policy_text(policy: SignedPolicy) -> tuple[str, str]:
        request = PolicySet(id=secrets.token_hex(16), policy=policy)
        return request.id, encode_message(request).decode()
