"""`homeroom-hub` run as the separate processes a school runs, for tests that need one."""

from __future__ import annotations

import asyncio
import resource
import socket
import subprocess
import sys
from pathlib import Path

from ..support import scaled


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def homeroom_hub(*args: str) -> str:
    """Run a one-shot `homeroom-hub` command; its output."""
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "hub", *args],
        capture_output=True,
        text=True,
        timeout=scaled(60),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def serving(
    data: Path, *, open_files: int | None = None, log: list[str] | None = None
) -> asyncio.subprocess.Process:
    """`homeroom-hub serve` as its own process, once it says it is listening.

    `open_files` limits its descriptors (soft and hard); its log lines go to `log`.
    """

    def limit() -> None:
        if open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    hub = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub",
        "serve",
        "--data",
        str(data),
        "--host",
        "127.0.0.1",
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        preexec_fn=limit,
    )
    assert hub.stderr is not None
    async with asyncio.timeout(scaled(30)):
        while b"hub listening" not in (line := await hub.stderr.readline()):
            assert line, "the hub stopped before listening"
    # Keep reading its log, so a full pipe never blocks the hub.
    _drains.add(asyncio.create_task(_drain(hub.stderr, [] if log is None else log)))
    return hub


_drains: set[asyncio.Task[None]] = set()


async def _drain(stream: asyncio.StreamReader, log: list[str]) -> None:
    while line := await stream.readline():
        log.append(line.decode(errors="replace"))
