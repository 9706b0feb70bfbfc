"""IT's requests to the hub as awaitable calls: the fleet, the audit log, records, device data.

The console's session delivers every hub event to one loop (`HubConnection.run`); that
loop hands each one to `ITDesk.offer`, which completes whichever call was waiting for it:
an Answer or Error by request id, a Result by command and device, with the screenshot's
parts put together on the way (`ScreenshotCollector`, also used by `homeroom-console do`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from protocol.actions import AnyAction
from protocol.errors import ErrorCode, PeerError
from protocol.fleet import FleetEntry, LifeChange
from protocol.messages import Answer, AuditEntry, Error, Result, ScreenshotPart
from protocol.screenshots import ScreenshotAssembly

from .session import ConsoleSession

#: How long IT waits for the hub or a device before being told it did not answer.
ANSWER_SECONDS = 20.0
#: Answers nobody (yet) waits for, kept at most: the rest were for someone else.
MAX_UNCLAIMED = 64


class HubRefused(Exception):
    """The hub said no; the message is its sentence, to show as it is (literally)."""


@dataclass(frozen=True, slots=True)
class DeviceReply:
    """What one device sent back for one command, its screenshot put back together."""

    result: Result
    screenshot: bytes | None = None


class ScreenshotCollector:
    """Puts screenshot parts together per (command, device) and checks them on the Result.

    `open` takes the picture out of its seal (ConsoleSession.open_screenshot).
    """

    def __init__(self, open: Callable[[Result, bytes], bytes] | None = None) -> None:
        self._assemblies: dict[tuple[str, str], ScreenshotAssembly] = {}
        self._open = open

    def add(self, part: ScreenshotPart) -> None:
        key = (part.command_id, part.device_id)
        assembly = self._assemblies.setdefault(key, ScreenshotAssembly(*key))
        assembly.add(part)

    def finish(self, result: Result) -> bytes | None:
        """The screenshot a Result describes (None if it has none); PeerError if damaged."""
        assembly = self._assemblies.pop((result.command_id, result.device_id), None)
        if result.screenshot is None:
            return None
        if assembly is None:
            assembly = ScreenshotAssembly(result.command_id, result.device_id)
        data = assembly.finish(result.screenshot)
        return data if self._open is None else self._open(result, data)


class ITDesk:
    """Fleet, audit, history and record changes, and single-device commands, for IT screens."""

    def __init__(self, session: Callable[[], ConsoleSession | None]) -> None:
        self._session = session
        self._answers: dict[str, asyncio.Future[Answer]] = {}
        self._results: dict[tuple[str, str], asyncio.Future[DeviceReply]] = {}
        self._screenshots = ScreenshotCollector(self._open_screenshot)
        # An answer may overtake the end of its own request's send: kept here till claimed.
        self._unclaimed: dict[str, Answer | Error] = {}

    def offer(self, event: object) -> None:
        """Complete the call waiting for `event`, if any (called for every hub event)."""
        if isinstance(event, Answer | Error):
            request_id = event.id if isinstance(event, Answer) else event.ref
            if request_id is None:
                return
            waiting = self._answers.pop(request_id, None)
            if waiting is None:
                self._unclaimed[request_id] = event
                while len(self._unclaimed) > MAX_UNCLAIMED:
                    del self._unclaimed[next(iter(self._unclaimed))]
            else:
                self._settle(waiting, event)
        elif isinstance(event, ScreenshotPart):
            # A bad part is reported when the Result arrives: its screenshot will not check out.
            if (event.command_id, event.device_id) in self._results:
                with contextlib.suppress(PeerError):
                    self._screenshots.add(event)
        elif isinstance(event, Result):
            key = (event.command_id, event.device_id)
            waiting_reply = self._results.pop(key, None)
            if waiting_reply is None or waiting_reply.done():
                return
            try:
                shot = self._screenshots.finish(event)
            except PeerError as error:
                waiting_reply.set_exception(HubRefused(f"the screenshot was damaged: {error}"))
                return
            waiting_reply.set_result(DeviceReply(event, shot))

    def _open_screenshot(self, result: Result, data: bytes) -> bytes:
        session = self._session()
        if session is None:  # its key went with the session that asked
            raise PeerError(ErrorCode.MALFORMED, "the console reconnected meanwhile: take it again")
        return session.open_screenshot(result, data)

    @staticmethod
    def _settle(waiting: asyncio.Future[Answer], event: Answer | Error) -> None:
        if waiting.done():
            return
        if isinstance(event, Error):
            waiting.set_exception(HubRefused(event.message))
        else:
            waiting.set_result(event)

    def _connected(self) -> ConsoleSession:
        session = self._session()
        if session is None:
            raise HubRefused("Not connected to the hub yet: wait for it, then try again.")
        return session

    async def _answer(self, send: Any) -> Answer:
        request_id = await send
        waiting: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._answers[request_id] = waiting
        if (early := self._unclaimed.pop(request_id, None)) is not None:
            self._settle(waiting, early)
        try:
            async with asyncio.timeout(ANSWER_SECONDS):
                return await waiting
        except TimeoutError:
            raise HubRefused(
                f"The hub did not answer within {ANSWER_SECONDS:g} s: check the connection."
            ) from None
        finally:
            self._answers.pop(request_id, None)

    async def fleet(self) -> tuple[FleetEntry, ...]:
        return (await self._answer(self._connected().query("fleet"))).fleet

    async def audit(self, limit: int = 1000) -> tuple[AuditEntry, ...]:
        return (await self._answer(self._connected().query("audit", limit))).audit

    async def history(self, device_id: str) -> tuple[LifeChange, ...]:
        query = self._connected().query("history", device_id=device_id)
        return (await self._answer(query)).history

    async def set_record(self, device_id: str, **fields: Any) -> FleetEntry:
        """Change a device's record; its new fleet row, or HubRefused with the reason."""
        answer = await self._answer(self._connected().set_record(device_id, **fields))
        return answer.fleet[0]

    async def ask(self, device_id: str, action: AnyAction) -> DeviceReply:
        """Send one signed command to one device and wait for what it returns."""
        session = self._connected()
        command = session.sign(action, [device_id])
        key = (command.body.id, device_id)
        waiting: asyncio.Future[DeviceReply] = asyncio.get_running_loop().create_future()
        self._results[key] = waiting
        try:
            await session.send_signed(command)
            async with asyncio.timeout(ANSWER_SECONDS):
                return await waiting
        except TimeoutError:
            raise HubRefused(
                f"The device did not answer within {ANSWER_SECONDS:g} s: is it online?"
            ) from None
        finally:
            self._results.pop(key, None)
