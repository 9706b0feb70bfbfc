"""Resident memory of several processes together, each physical page counted once.

The agent is two processes (the agent and its supervised UI process). Adding their RSS
counts twice every page both map from the same file (libpython, libc, libm, libX11): pages
the machine holds once. PSS splits such pages between all their users on the machine, so
it undercounts. Linux says which physical page backs each resident virtual page in
/proc/PID/pagemap (the page frame numbers need root), so the pages of both processes can
be counted as a set: the memory the device would get back if both ended.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

__all__ = ["resident_by_mapping", "resident_pages_together"]

_PAGE = 4096
_PRESENT = 1 << 63
_FRAME = (1 << 55) - 1
_READ_PAGES = 1 << 14  # 128 KiB of pagemap entries a read


def _frames(pid: int) -> set[int]:
    frames: set[int] = set()
    with Path(f"/proc/{pid}/pagemap").open("rb", buffering=0) as pagemap:
        for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
            start, end = (int(part, 16) for part in line.split()[0].split("-"))
            if line.rstrip().endswith("[vsyscall]"):
                continue  # above what pagemap covers
            for first in range(start // _PAGE, end // _PAGE, _READ_PAGES):
                count = min(_READ_PAGES, end // _PAGE - first)
                pagemap.seek(first * 8)
                entries = pagemap.read(count * 8)
                for (entry,) in struct.iter_unpack("<Q", entries):
                    if entry & _PRESENT:
                        frames.add(entry & _FRAME)
    return frames


def resident_pages_together(pids: Iterable[int]) -> int | None:
    """Bytes of physical memory the processes hold, shared pages once; None without root."""
    frames: set[int] = set()
    for pid in pids:
        frames |= _frames(pid)
    if frames <= {0}:
        return None  # page frame numbers read as 0: only root may see them
    return len(frames) * _PAGE


def resident_by_mapping(pid: int) -> Counter[str]:
    """Resident kilobytes of a process by what is mapped: each file, the heap, anonymous memory."""
    resident: Counter[str] = Counter()
    mapped = "[anonymous]"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if not fields[0].endswith(":"):  # a mapping's first line: range, perms, ..., path
            mapped = fields[5] if len(fields) > 5 else "[anonymous]"
        elif fields[0] == "Rss:":
            resident[mapped] += int(fields[1])
    return resident
