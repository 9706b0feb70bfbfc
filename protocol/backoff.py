"""Reconnection delays: exponential with full jitter, so a hub restart is no stampede."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator


def full_jitter(
    base: float = 1.0, cap: float = 60.0, rng: Callable[[], float] = random.random
) -> Iterator[float]:
    """Yield delays uniform in [0, min(cap, base * 2**attempt)], forever."""
    attempt = 0
    while True:
        yield rng() * min(cap, base * 2**attempt)
        attempt = min(attempt + 1, 62)
