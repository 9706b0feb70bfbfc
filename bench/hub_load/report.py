"""How driver processes tell the benchmark what happened: one JSON object per line on stdout."""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def say(**fields: Any) -> None:
    """One report line; `t` is the wall clock, which every process on this machine shares."""
    fields["t"] = time.time()
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()
