"""Log-off, restart and shutdown: a countdown the student sees, which staff may cancel.

Only the last step is the operating system's (`PowerCommands`, configurable); the
countdown, its cancellation and the refusal of a second plan are all ours.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..desktop import Desktop
from ..platforms import PowerCommands

log = logging.getLogger("homeroom.agent")

#: How long the operating system's own command may take to answer.
COMMAND_SECONDS = 60.0

_WHAT = {
    "logoff": "You will be signed out",
    "reboot": "This computer will restart",
    "shutdown": "This computer will shut down",
}


def countdown_text(kind: str, by: str, message: str) -> str:
    """What the student reads above the countdown: what will happen, who asked, and why."""
    text = f"{_WHAT[kind]}: {by} asked for it. Save your work now."
    return f"{text}\n{message}" if message else text


@dataclass(frozen=True, slots=True)
class PowerPlan:
    kind: str
    deadline: float
    by: str


class PowerPlanner:
    """At most one power action counting down; cancelled by staff, or replaced by a new one."""

    def __init__(
        self,
        desktop: Desktop,
        commands: PowerCommands,
        clock: Callable[[], float],
        on_failure: Callable[[str], Awaitable[None]],
    ) -> None:
        self.desktop = desktop
        self.commands = commands
        self.clock = clock
        self.on_failure = on_failure
        self.plan: PowerPlan | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self, kind: str, *, seconds: int, by: str, message: str) -> str:
        """Show the countdown and schedule the final call; returns what the sender reads."""
        argv = self.commands.argv(kind)  # a misconfigured kind fails now, not at the deadline
        self.cancel(quietly=True)
        deadline = self.clock() + seconds
        self.plan = PowerPlan(kind, deadline, by)
        self.desktop.show_countdown(countdown_text(kind, by, message), deadline)
        self._task = asyncio.create_task(self._carry_out(argv, seconds))
        return f"{kind} in {seconds} s unless cancelled (cancel_power)"

    def cancel(self, *, quietly: bool = False) -> str | None:
        """Stop the countdown; returns what was cancelled, or None if nothing was pending."""
        plan, task = self.plan, self._task
        self.plan, self._task = None, None
        if task is not None:
            task.cancel()
        if plan is None:
            return None
        if not quietly:
            self.desktop.clear_countdown()
        return f"{plan.kind} cancelled"

    async def _carry_out(self, argv: tuple[str, ...], seconds: int) -> None:
        await asyncio.sleep(seconds)
        self.plan, self._task = None, None
        self.desktop.clear_countdown()
        try:
            # In a worker thread: one short-lived call needs no asyncio subprocess plumbing.
            done = await asyncio.to_thread(
                subprocess.run,
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=COMMAND_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as failure:
            await self.on_failure(f"{' '.join(argv)} could not run: {failure}")
            return
        if done.returncode != 0:
            said = done.stderr.decode(errors="replace").strip()[:200]
            await self.on_failure(f"{' '.join(argv)} failed ({done.returncode}): {said}")
