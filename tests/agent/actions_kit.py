"""Helpers shared by the agent's action tests: run one action, wait for a condition."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from protocol.certificates import Role
from protocol.messages import Result

from ..classroom import Classroom, Console
from ..support import scaled


async def run(console: Console, action: object, device_id: str) -> Result:
    """Submit `action` for one device and return that device's result."""
    command = await console.submit(action, [device_id])
    result: Result = await console.take(Result, lambda r: r.command_id == command.body.id)
    return result


async def it_staff(room: Classroom) -> Console:
    return await room.console(room.staff("Sam (IT)", Role.IT, ("*",)))


async def admin(room: Classroom) -> Console:
    return await room.console(room.staff("Ms Admin", Role.ADMIN, ("*",)))


async def eventually(check: Callable[[], object], failure: str, seconds: float = 10.0) -> None:
    """Wait, without blocking the event loop, until `check()` is true.

    For effects outside the hub (a file written, a process gone) that no event announces;
    the short sleep only spaces the checks out, as tests.xvfb.poll_until does.
    """
    try:
        async with asyncio.timeout(scaled(seconds)):
            while not check():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"{failure} (waited {scaled(seconds):.1f} s)") from None
