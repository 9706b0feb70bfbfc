"""The student's running programs: listed with CPU, memory and window titles, and ended safely.

Ending a program is the one action that could take a device down, so every candidate
passes one guard: never the agent, its parent or its own helpers (the desktop UI
child), never pid 1, and never what the operating system says is not the student's
(system accounts, other users, kernel threads) unless launch_app started it. Programs
are asked to end first and only killed if they are still running after a grace period.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

import msgspec
import psutil

from protocol.messages import ProcessInfo, Result
from protocol.types import PROGRAM_NAME_CHARS, WINDOW_TITLE_CHARS

from ..platforms import Platform
from .text import shown

MAX_LISTED = 4096
#: Room for the processes in one Result, leaving some for the rest of the message.
_RESULT_BUDGET = Result.MAX_BYTES - 8 * 1024
_WAIT_STEP = 0.05
_INFO = ["pid", "name", "username", "memory_info"]


class ProcessRefused(Exception):
    """No process could be ended; the message says why, for the staff member."""


@dataclass(frozen=True, slots=True)
class Ended:
    """How a request to end programs went."""

    asked: int  # ended when asked
    forced: int  # killed after the grace period

    def describe(self) -> str:
        total = self.asked + self.forced
        forced = f" ({self.forced} had to be forced)" if self.forced else ""
        return f"ended {total} process{'es' if total != 1 else ''}{forced}"


class ProcessGuard:
    """Decides which processes staff may end on this device."""

    def __init__(self, platform: Platform, launched: Callable[[], Collection[int]]) -> None:
        self.platform = platform
        self._launched = launched  # programs launch_app started: children, but the student's

    def refusal(self, process: psutil.Process) -> str | None:
        """Why `process` may not be ended (a sentence), or None."""
        me = os.getpid()
        if process.pid == me:
            return "it is the Homeroom agent itself"
        if process.pid == 1:
            return "it is the system's first process"
        if process.pid == os.getppid():
            return "it runs the Homeroom agent"
        launched = set(self._launched())
        if process.pid in launched:
            return None  # started by launch_app from the signed list: the student's program
        if process.pid in self._own_helpers(me, launched):
            return "it is part of the Homeroom agent"
        try:
            return self.platform.refuse_process(process)
        except psutil.AccessDenied:
            return "it is a system process"

    def _own_helpers(self, me: int, launched: set[int]) -> set[int]:
        helpers: set[int] = set()
        try:
            children = psutil.Process(me).children()
        except psutil.Error:
            return helpers
        for child in children:
            if child.pid in launched:
                continue  # launch_app's programs (and theirs) are the student's to close
            helpers.add(child.pid)
            try:
                helpers.update(p.pid for p in child.children(recursive=True))
            except psutil.Error:
                continue
        return helpers


def list_processes(
    platform: Platform, sample_seconds: float, budget: int = _RESULT_BUDGET
) -> tuple[ProcessInfo, ...]:
    """Every process with its CPU use over `sample_seconds` (% of one core) and memory.

    Busiest first. When they do not all fit in `budget` bytes (a Result's limit), the
    student's own are kept before the rest: what IT looks for on a student's device is the
    student's programs, idle ones included, more than the system's.
    """
    processes = list(psutil.process_iter(_INFO))
    for process in processes:
        try:
            process.cpu_percent(None)  # the first call starts the measurement
        except psutil.Error:
            continue
    time.sleep(sample_seconds)  # the measuring window itself (runs in a worker thread)
    titles = platform.window_titles()
    found: list[tuple[bool, ProcessInfo]] = []
    for process in processes:
        try:
            cpu = process.cpu_percent(None)
        except psutil.Error:
            continue  # ended while we measured
        info = process.info
        memory = info.get("memory_info")
        found.append(
            (
                _students(platform, process),
                ProcessInfo(
                    pid=process.pid,
                    name=shown(info.get("name") or "?", PROGRAM_NAME_CHARS),
                    user=shown(info.get("username") or "", 128),
                    cpu_percent=round(max(cpu, 0.0), 1),
                    memory_bytes=memory.rss if memory else 0,
                    window_title=shown(titles.get(process.pid, ""), WINDOW_TITLE_CHARS),
                ),
            )
        )
    found.sort(key=lambda entry: (not entry[0], *_busiest(entry[1])))
    kept = fit([process for _, process in found[:MAX_LISTED]], budget)
    return tuple(sorted(kept, key=_busiest))


def _busiest(process: ProcessInfo) -> tuple[float, int]:
    return (-process.cpu_percent, -process.memory_bytes)


def _students(platform: Platform, process: psutil.Process) -> bool:
    """Whether `process` is the student's own: what the platform would let staff end."""
    try:
        return platform.refuse_process(process) is None
    except psutil.Error:
        return False


def fit(processes: list[ProcessInfo], budget: int) -> tuple[ProcessInfo, ...]:
    """The longest head of the list whose JSON fits in `budget` bytes (a Result's limit)."""
    used = 0
    for count, process in enumerate(processes):
        used += len(msgspec.json.encode(process)) + 1
        if used > budget:
            return tuple(processes[:count])
    return tuple(processes)


def _running(process: psutil.Process) -> bool:
    """Still running: a zombie has ended, even if nobody has collected its exit status."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def by_pid(pid: int, name: str | None) -> psutil.Process:
    """The process `pid`, if it still runs the program `name` (pids are reused)."""
    try:
        process = psutil.Process(pid)
        actual = process.name()
    except psutil.NoSuchProcess:
        raise ProcessRefused(f"no process {pid} is running") from None
    except psutil.AccessDenied:
        raise ProcessRefused(f"process {pid} is a system process") from None
    if not _running(process):
        raise ProcessRefused(f"no process {pid} is running")
    if name is not None and actual != name:
        raise ProcessRefused(f"process {pid} is now {actual!r}, not {name!r}; list again")
    return process


def by_name(names: Collection[str], pids: Iterable[int] = ()) -> list[psutil.Process]:
    """Running processes whose name is one of `names`, plus those with the given pids."""
    found: dict[int, psutil.Process] = {}
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            found[pid] = psutil.Process(pid)
    for process in psutil.process_iter(["name"]):
        if process.info.get("name") in names:
            found.setdefault(process.pid, process)
    return [process for process in found.values() if _running(process)]


def _wait(processes: list[psutil.Process], seconds: float) -> list[psutil.Process]:
    """Wait up to `seconds` for the processes to end; returns those still running."""
    deadline = time.monotonic() + seconds
    alive = [p for p in processes if _running(p)]
    while alive and time.monotonic() < deadline:
        # psutil can only poll a process that is not our child; so do we, briefly.
        time.sleep(_WAIT_STEP)
        alive = [p for p in alive if _running(p)]
    return alive


def end_processes(
    candidates: Iterable[psutil.Process], guard: ProcessGuard, grace_seconds: float, what: str
) -> Ended:
    """Ask each allowed candidate to end, then kill those still running after the grace.

    Raises ProcessRefused when there is nothing allowed to end, naming why.
    """
    allowed: list[psutil.Process] = []
    refusals: list[str] = []
    for process in candidates:
        try:
            reason = guard.refusal(process)
        except psutil.NoSuchProcess:
            # It ended since it was listed (a program's helper processes come and go):
            # nothing left to end, and no reason to fail the others.
            continue
        if reason is None:
            allowed.append(process)
        else:
            refusals.append(f"process {process.pid} not ended: {reason}")
    if not allowed:
        raise ProcessRefused(refusals[0] if refusals else f"no {what} is running")
    for process in allowed:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
    alive = _wait(allowed, grace_seconds)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    still = _wait(alive, grace_seconds)
    if still:
        raise ProcessRefused(f"process {still[0].pid} did not end even when killed")
    return Ended(asked=len(allowed) - len(alive), forced=len(alive))
