"""Focus mode on the device: the rules (agent/actions/focus.py) applied to the real screen.

The agent runs `FocusMode.run()` for its whole life; it looks at the windows every
`check_seconds` while a focus command is in force, warns the student through the desktop's
message window, closes what is still breaking the rules after the grace period, and reports
each warning and closing to the hub as an Event (the teacher's console shows it as an alert).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection
from pathlib import Path

import msgspec
import psutil

from link.files import write_private
from protocol.actions import StartFocus
from protocol.codec import decode_as
from protocol.commands import CommandBody, Recipient, SignedCommand, verify_command
from protocol.errors import PeerError
from protocol.keys import PublicKey

from .actions import processes
from .actions.focus import Close, FocusRules, FocusWatch, FocusWindow, Warn
from .actions.processes import ProcessGuard, ProcessRefused
from .desktop import Desktop
from .platforms import Platform

log = logging.getLogger("homeroom.agent")

#: How often the windows are looked at while focus mode is on.
CHECK_SECONDS = 2.0
#: The focus command in force, kept signed so that a restarted agent verifies it again.
FOCUS_FILE = "focus.json"


class FocusMode:
    """Focus mode for one agent. `report(kind, detail)` sends an Event to the hub."""

    def __init__(
        self,
        *,
        platform: Platform,
        guard: ProcessGuard,
        desktop: Desktop,
        clock: Callable[[], float],
        report: Callable[[str, str], None],
        close_grace_seconds: float,
        check_seconds: float = CHECK_SECONDS,
        folder: Path | None = None,
    ) -> None:
        self.folder = folder
        self.platform = platform
        self.guard = guard
        self.desktop = desktop
        self.clock = clock
        self.report = report
        self.close_grace_seconds = close_grace_seconds
        self.check_seconds = check_seconds
        self.watch = FocusWatch()
        self._on = asyncio.Event()
        self._checking = asyncio.Lock()

    def start(self, action: StartFocus, body: CommandBody, command: SignedCommand) -> str:
        """Put a verified focus command in force, and keep it; what to tell the teacher."""
        rules = self._take(action, body)
        if self.folder is not None:
            try:  # a restarted agent (the first bypass tried) picks it up again
                write_private(self.folder / FOCUS_FILE, msgspec.json.encode(command))
            except OSError as error:
                log.warning("focus mode not kept for a restart: %s", error)
        until = time.strftime("%H:%M", time.localtime(rules.ends_at))
        allowed = ", ".join(sorted(rules.apps)) or "any program"
        blocked = ", ".join(rules.sites) or "no sites"
        return f"focus mode until {until}: {allowed}; blocked: {blocked}"

    def _take(self, action: StartFocus, body: CommandBody) -> FocusRules:
        rules = FocusRules.from_command(action, body.issuer.body.name, body.issued_at)
        self.watch.start(rules)
        self._on.set()
        return rules

    def restore(self, recipient: Recipient, org_key: PublicKey, revoked: Collection[str]) -> None:
        """Focus mode as it was before a restart, if the kept command still verifies.

        Checked as of its issue (signature, certificate, this device, revocations now); an
        edited or foreign file is ignored, and one past its end time has nothing to restore.
        """
        path = None if self.folder is None else self.folder / FOCUS_FILE
        if path is None or not path.exists():
            return
        try:
            command = decode_as(path.read_bytes(), SignedCommand, FOCUS_FILE)
            body = verify_command(
                command,
                org_key=org_key,
                now=command.body.issued_at,
                replay=None,
                revoked=revoked,
                recipient=recipient,
            )
        except (PeerError, OSError) as error:
            log.error("ignoring the kept focus mode (%s)", error)
            return
        if isinstance(body.action, StartFocus):
            self._take(body.action, body)
            if not self.watch.active(self.clock()):
                self._on.clear()

    def summary(self) -> str | None:
        """Focus mode in force, in words for the student's panel, or None."""
        rules = self.watch.rules
        if rules is None or not self.watch.active(self.clock()):
            return None
        until = time.strftime("%H:%M", time.localtime(rules.ends_at))
        allowed = ", ".join(sorted(rules.apps)) or "any program"
        blocked = ", ".join(rules.sites) or "no sites"
        return f"until {until} ({rules.teacher}): {allowed}; blocked: {blocked}"

    def stop(self) -> str:
        was_on = self.watch.active(self.clock())
        self.watch.stop()
        self._on.clear()
        if self.folder is not None:
            with contextlib.suppress(OSError):
                (self.folder / FOCUS_FILE).unlink(missing_ok=True)
        return "focus mode ended" if was_on else "focus mode was not on"

    async def run(self) -> None:
        """Look at the windows every `check_seconds` while focus mode is on."""
        while True:
            await self._on.wait()
            try:
                await self.check()
            except Exception:  # a bad moment on the display must not end focus mode
                log.exception("focus mode could not check the windows")
            await asyncio.sleep(self.check_seconds)

    async def check(self) -> None:
        """One look at the screen: warn, close and report as the rules say."""
        async with self._checking:  # the loop and a test's call never interleave
            if not self.watch.active(self.clock()):
                self._on.clear()
                return
            windows = await asyncio.to_thread(self._windows)
            rules = self.watch.rules
            for step in self.watch.review(windows, self.clock()):
                assert rules is not None
                window = step.window
                what = f"{window.program} (pid {window.pid}, window {window.title!r})"
                if isinstance(step, Warn):
                    seconds = round(rules.grace_seconds)
                    self.desktop.show_message(
                        f"{step.reason}. Close it within {seconds} seconds, "
                        "or it will be closed for you.",
                        sender=f"{rules.teacher} (focus mode)",
                    )
                    self.report("focus_warned", f"{step.reason}: {what}")
                elif isinstance(step, Close):
                    self.report("focus_closed", f"{await self._close(window)}: {what}")

    def _windows(self) -> list[FocusWindow]:
        """The student's windows now; the agent's, the system's and others' left out."""
        found = []
        for pid, title in self.platform.window_titles().items():
            try:
                process = psutil.Process(pid)
                name = process.name()
                if self.guard.refusal(process) is not None:
                    continue
            except psutil.Error:
                continue  # closed while we looked
            found.append(FocusWindow(pid, name, title))
        return found

    async def _close(self, window: FocusWindow) -> str:
        try:
            candidates = [processes.by_pid(window.pid, window.program)]
            ended = await asyncio.to_thread(
                processes.end_processes,
                candidates,
                self.guard,
                self.close_grace_seconds,
                window.program,
            )
        except ProcessRefused as refusal:
            return f"could not close it ({refusal})"
        return f"closed after the warning ({ended.describe()})"
