"""The group's allow-list of programs: kept signed, re-verified on start, launched by name only.

An admin signs a `set_apps` command; the agent verifies it like any command, then keeps
the signed command itself in its folder. On start it verifies the saved copy again
(signature and certificate as of the day it was issued), so a student who edits the
file gets an empty list, never a longer one. `launch_app` runs an entry's exec list as
it stands: no shell, no arguments from the sender, nothing off the list.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from link.files import write_private
from protocol.actions import AppEntry, SetAppList
from protocol.codec import decode_as
from protocol.commands import CommandBody, Recipient, SignedCommand, verify_command
from protocol.errors import PeerError
from protocol.keys import PublicKey

log = logging.getLogger("homeroom.agent")

APPS_FILE = "apps.json"


class AppRefused(Exception):
    """The app cannot be launched or the list cannot be taken; the message says why."""


@dataclass(frozen=True, slots=True)
class LaunchedApp:
    name: str
    pid: int


@dataclass
class AppList:
    """The allow-list in force on this device, and the programs launched from it."""

    folder: Path | None
    recipient: Recipient
    org_key: PublicKey
    issued_at: int = 0
    apps: dict[str, AppEntry] = field(default_factory=dict)
    launched: dict[int, LaunchedApp] = field(default_factory=dict)
    _children: set[asyncio.Task[int]] = field(default_factory=set)

    @classmethod
    def load(cls, folder: Path | None, recipient: Recipient, org_key: PublicKey) -> AppList:
        """The saved list, if its signature still verifies; otherwise an empty one."""
        app_list = cls(folder, recipient, org_key)
        path = None if folder is None else folder / APPS_FILE
        if path is None or not path.exists():
            return app_list
        try:
            command = decode_as(path.read_bytes(), SignedCommand, APPS_FILE)
            body = command.body
            # As of its issue date: an old list stays valid until a newer one replaces it.
            verify_command(
                command, org_key=org_key, now=body.issued_at, replay=None, recipient=recipient
            )
            app_list._take(body)
        except (PeerError, OSError, AppRefused) as error:
            log.error("ignoring the saved app list (%s); no app may be launched until "
                      "an admin sends the list again", error)  # fmt: skip
        return app_list

    def accept(self, command: SignedCommand, body: CommandBody) -> str:
        """Take a verified set_apps command as the list in force and save it."""
        if body.issued_at < self.issued_at:
            raise AppRefused("a newer app list is already in force on this device")
        self._take(body)
        if self.folder is not None:
            write_private(self.folder / APPS_FILE, msgspec.json.encode(command))
        return f"{len(self.apps)} apps allowed"

    def _take(self, body: CommandBody) -> None:
        action = body.action
        if not isinstance(action, SetAppList):
            raise AppRefused("not an app list")
        if action.group not in ("*", self.recipient.group):
            raise AppRefused(f"this list is for group {action.group!r}, not this device's")
        self.issued_at = body.issued_at
        self.apps = {app.name: app for app in action.apps}

    def entry(self, name: str) -> AppEntry:
        entry = self.apps.get(name)
        if entry is None:
            raise AppRefused(
                f"{name!r} is not on this group's app list; an admin can add it (set_apps)"
            )
        return entry

    async def launch(self, name: str, options: dict[str, Any]) -> LaunchedApp:
        """Start the allowed program `name` as the student, detached from the agent."""
        argv = self.entry(name).argv
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                **options,
            )
        except OSError as error:
            raise AppRefused(
                f"{name!r} could not be started ({argv[0]}: {error.strerror}); "
                "check the program is installed on this device"
            ) from None
        launched = LaunchedApp(name, process.pid)
        self.launched[process.pid] = launched
        # Wait for it in the background, so it is reaped when it ends and forgotten then.
        waiter = asyncio.create_task(process.wait())
        self._children.add(waiter)
        waiter.add_done_callback(lambda task: self._ended(task, process.pid))
        return launched

    def _ended(self, task: asyncio.Task[int], pid: int) -> None:
        self._children.discard(task)
        self.launched.pop(pid, None)

    def launched_pids(self, name: str | None = None) -> set[int]:
        """Programs started by launch_app (and still running), all or under one name."""
        return {pid for pid, app in self.launched.items() if name is None or app.name == name}
