"""What differs between operating systems, behind one interface; `current()` picks this one's.

Each system has its own module (`linux`, `windows`, `macos`), written against that
system's documented interfaces; what they share (rules, parsing, scheduling) lives in
platform-free modules so it is tested on any machine.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import psutil

from protocol.messages import DisplayServer
from protocol.messages import Platform as PlatformName

__all__ = [
    "ActivitySample",
    "ActivityWatcher",
    "Platform",
    "PowerCommands",
    "current",
]


@dataclass(frozen=True, slots=True)
class PowerCommands:
    """The final call to the operating system for each power action, as exec lists.

    Configurable so a school can use its own tooling, and so tests can replace only this
    last step with a command that records it.
    """

    logoff: tuple[str, ...]
    reboot: tuple[str, ...]
    shutdown: tuple[str, ...]

    def argv(self, action: str) -> tuple[str, ...]:
        """The command line for "logoff", "reboot" or "shutdown"."""
        if action not in ("logoff", "reboot", "shutdown"):
            raise ValueError(f"{action!r} is not a power action")
        argv: tuple[str, ...] = getattr(self, action)
        return argv


@dataclass(frozen=True, slots=True)
class ActivitySample:
    """What the student is doing now, as the display server tells it."""

    app: str = ""
    title: str = ""
    idle_seconds: int = 0
    session_locked: bool = False


class ActivityWatcher(Protocol):
    """A background watcher that calls back with a sample whenever something changed."""

    def stop(self) -> None:
        """Stop watching and release the display connection. Idempotent."""
        ...


class Platform(Protocol):
    """One operating system's ways of doing the agent's work."""

    name: PlatformName

    def display_server(self) -> DisplayServer:
        """Which display server the student's session runs on."""
        ...

    def power_commands(self) -> PowerCommands:
        """The default final calls for log-off, restart and shutdown."""
        ...

    def refuse_process(self, process: psutil.Process) -> str | None:
        """Why this process is not the student's to close (a sentence), or None if it is."""
        ...

    def window_titles(self) -> dict[int, str]:
        """The title of a window of each process that has one, by pid (best effort)."""
        ...

    def machine_facts(self) -> dict[str, str]:
        """Model, serial, CPU model and the like, where the system lets a user read them."""
        ...

    def memory_pressure(self) -> str | None:
        """How hard the system is pressed for memory, in words, if the system says."""
        ...

    def launch_options(self) -> dict[str, Any]:
        """Extra `subprocess` arguments so a launched program outlives nothing of ours."""
        ...

    def watch_activity(
        self, report: Callable[[ActivitySample], None], idle_after: float
    ) -> ActivityWatcher | None:
        """Start reporting the active window, idleness and screen lock; None if unsupported.

        `report` is called from the watcher's own thread, whenever the active
        application or its title changes, when the student has been idle `idle_after`
        seconds, when they come back, and when the system's screen lock turns on or off.
        """
        ...


def current(**options: Any) -> Platform:
    """The Platform for the system this agent runs on; `options` go to its constructor."""
    if sys.platform == "win32":
        from .windows import WindowsPlatform

        return WindowsPlatform(**options)
    if sys.platform == "darwin":
        from .macos import MacPlatform

        return MacPlatform(**options)
    # Linux, and the BSDs' X11 desktops, which share its ways closely enough.
    from .linux import LinuxPlatform

    return LinuxPlatform(**options)
