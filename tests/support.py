"""Shared test helpers: timeouts scaled by one environment variable."""

from __future__ import annotations

import os


def scaled(seconds: float) -> float:
    """A timeout in seconds, multiplied by HOMEROOM_TIMEOUT_SCALE (default 1).

    Tests wait on events, never sleep; this only bounds how long a wait may take
    before the test fails, so a slow CI machine can raise it without code changes.
    """
    return seconds * float(os.environ.get("HOMEROOM_TIMEOUT_SCALE", "1"))


def fresh_python(code: str, **env: str) -> str:
    """What `code` prints, run in a new interpreter: for what a process imports and holds.

    The coverage run's variables stay out: its hook in the child would import modules itself.
    """
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("COV_CORE_", "COVERAGE_"))}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=clean | env
    )
    return result.stdout
