"""A full disk: staff actions are refused with a clear error, never carried out unaudited."""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.desktop import HeadlessDesktop
from protocol.actions import SendMessage
from protocol.errors import GUIDANCE, ErrorCode
from protocol.messages import Error, Result

from ..classroom import classroom


@contextlib.contextmanager
def small_disk(where: Path, size: str = "4m") -> Iterator[Path]:
    """A real filesystem of `size` mounted at `where` (tmpfs; needs root, as here)."""
    where.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk has no byte left."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as out:
        for chunk in (1 << 16, 1 << 12, 1 << 8, 1):
            with contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * chunk)
    probe = disk / "probe"
    with pytest.raises(OSError) as full:
        probe.write_bytes(b"x" * 4096)
    assert full.value.errno == errno.ENOSPC
    probe.unlink(missing_ok=True)
    return filler


def empty_the_write_ahead_log(database: Path) -> None:
    """So the next write must grow a file (else SQLite reuses the space its log already has)."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


async def test_a_full_disk_refuses_staff_actions_with_a_clear_error(tmp_path: Path) -> None:
    with small_disk(tmp_path / "hub") as disk:
        async with classroom(tmp_path) as room:
            assert room.keyring.store_path.is_relative_to(disk)
            desktop = HeadlessDesktop()
            agent = await room.start_agent("Ada's laptop", desktop=desktop)
            console = await room.console()
            audited = len(room.store.audit(limit=10_000))
            empty_the_write_ahead_log(room.keyring.store_path)
            filler = fill(disk)

            await console.submit(SendMessage(text="Pens down"), [agent.state.device_id])
            error = await console.take(Error)
            assert error.code is ErrorCode.HUB_STORAGE
            assert error.message == GUIDANCE[ErrorCode.HUB_STORAGE]  # "…free space, then try again"
            assert not desktop.messages  # nothing was done...
            assert len(room.store.audit(limit=10_000)) == audited  # ...and nothing half-recorded

            # IT frees space: the same hub carries on, and the action is audited again.
            filler.unlink()
            command = await console.submit(SendMessage(text="Pens down"), [agent.state.device_id])
            result = await console.take(Result, lambda r: r.command_id == command.body.id)
            assert result.ok and [m.text for m in desktop.messages] == ["Pens down"]
            assert room.store.verify_audit() is None
            assert any(r.action == "message" for r in room.store.audit(limit=5))
    assert not os.path.ismount(tmp_path / "hub")
