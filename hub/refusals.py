"""Refused connections, counted: the first of each kind logged in full, the rest summed up.

A flood of a thousand sockets must not write a thousand log lines (issue 9 saw 3,885
identical ones); IT still needs the first one's detail and who was busiest.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

log = logging.getLogger("homeroom.hub")


class Tally:
    """Refusals counted per reason: the first of each reason in a period is logged with its
    detail, the rest as one summary line at the end of the period."""

    def __init__(self, summary_seconds: float) -> None:
        self.summary_seconds = summary_seconds
        self.total: Counter[str] = Counter()
        self._recent: Counter[str] = Counter()
        self._addresses: Counter[str] = Counter()
        self._flush: asyncio.TimerHandle | None = None

    def note(self, reason: str, address: str, detail: str = "") -> None:
        self.total[reason] += 1
        if not self._recent[reason]:
            log.warning(
                "refused %s: %s%s (more refusals are summed up every %g s)",
                address,
                reason,
                f" {detail}" if detail else "",
                self.summary_seconds,
            )
        self._recent[reason] += 1
        self._addresses[address] += 1
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(self.summary_seconds, self.flush)

    def flush(self) -> None:
        """Log what was refused since the last summary, if more than the first of each."""
        self._flush = None
        if sum(self._recent.values()) > len(self._recent):
            reasons = ", ".join(f"{reason} {n}" for reason, n in self._recent.most_common())
            busiest = ", ".join(f"{a} ({n})" for a, n in self._addresses.most_common(3))
            log.warning(
                "connections refused in the last %g s: %s; most from %s",
                self.summary_seconds,
                reasons,
                busiest,
            )
        self._recent.clear()
        self._addresses.clear()

    def cancel(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self.flush()
