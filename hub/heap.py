"""Keeping Python's full garbage collections off a teacher's lock.

Theory of operation. With 5,000 devices connected the hub holds about a million objects
that CPython's cyclic garbage collector tracks (each connection's websocket, transport,
tasks and buffers). A full collection walks all of them, and while it does nothing else
runs: measured in `python -m bench.hub_load` with gc callbacks in the hub process, each took
360 to 570 ms, every half-minute or so while thousands of devices were watched, and the
teacher's lock waited (round trip p99 523 ms there, 13 ms without one).

Nearly all of those objects live as long as their connection. So each housekeeping round
the hub *freezes* what is alive (`gc.freeze()`: moved to a generation the collector never
walks, in constant time); collections then walk only what was made since the last round.
Reference counting still frees frozen objects as soon as nothing refers to them; what
freezing holds back is garbage in reference cycles, which among long-lived objects is
chiefly the connections that ended. So when enough have ended since the last full
collection (a tenth of those connected, at least `min_departures`), or `full_every`
seconds have passed, the round unfreezes and collects everything once, at a moment of the
hub's choosing, and logs how long it took.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger("homeroom.hub")


class SteadyHeap:
    """Decides, once per housekeeping round, between freezing the heap and collecting it."""

    def __init__(
        self,
        *,
        departures_share: float = 0.1,
        min_departures: int = 100,
        full_every: float = 1800.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.departures_share = departures_share
        self.min_departures = min_departures
        self.full_every = full_every
        self._clock = clock
        self._departed = 0
        self._last_full = clock()
        #: Full collections made, and the longest one in seconds (for logs and tests).
        self.full_collections = 0
        self.longest_full = 0.0

    def departed(self) -> None:
        """A connection ended: its objects may be cyclic garbage the freeze holds back."""
        self._departed += 1

    def settle(self, connected: int) -> bool:
        """Freeze what is alive; first collect everything when it is due. True if it did."""
        now = self._clock()
        due = self._departed >= max(self.min_departures, self.departures_share * connected)
        if due or now - self._last_full >= self.full_every:
            started = time.perf_counter()
            gc.unfreeze()
            found = gc.collect()
            took = time.perf_counter() - started
            self.full_collections += 1
            self.longest_full = max(self.longest_full, took)
            log.info(
                "full garbage collection after %d departures: %d objects freed in %.0f ms",
                self._departed,
                found,
                took * 1000,
            )
            self._departed = 0
            self._last_full = now
            gc.freeze()
            return True
        gc.freeze()
        return False

    def release(self) -> None:
        """Give the collector everything back (the hub is stopping)."""
        gc.unfreeze()
