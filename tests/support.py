"""Shared test helpers: timeouts scaled by one environment variable."""

from __future__ import annotations

import os


def scaled(seconds: float) -> float:
    """A timeout in seconds, multiplied by HOMEROOM_TIMEOUT_SCALE (default 1).

    Tests wait on events, never sleep; this only bounds how long a wait may take
    before the test fails, so a slow CI machine can raise it without code changes.
    """
    return seconds * float(os.environ.get("HOMEROOM_TIMEOUT_SCALE", "1"))
