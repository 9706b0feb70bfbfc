"""What lets one hub process hold a whole school: a lean event loop and enough descriptors.

Connections are the hub's main memory cost. Over TLS, the standard asyncio loop keeps a
256 KiB read buffer per connection in its SSL layer (about 280 KB per idle device);
uvloop's TLS keeps about 36 KB. So the hub runs on uvloop where it is installed (Linux,
macOS) and on the standard loop elsewhere (Windows), with the same code.
Each connection is also a file descriptor: the soft limit (often 1024) is raised to the
hard limit the service grants (`LimitNOFILE` in installers/linux/homeroom-hub.service).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger("homeroom.hub")

T = TypeVar("T")

#: Set to "asyncio" to run on the standard event loop even where uvloop is installed
#: (to compare, or to rule uvloop out when chasing a problem).
LOOP_VARIABLE = "HOMEROOM_EVENT_LOOP"


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when installed and not switched off; None means asyncio's own."""
    if os.environ.get(LOOP_VARIABLE, "").lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def loop_name() -> str:
    return "asyncio" if loop_factory() is None else "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run`, on the leanest event loop available."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


def raise_descriptor_limit() -> int:
    """Raise this process's open-file limit to the hard limit; return the limit now in force.

    A hub at the soft default of 1024 refuses devices past about a thousand
    (`accept() out of system resource`), however much memory it has left.
    """
    try:
        import resource
    except ImportError:  # Windows has no such limit to raise
        return -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ValueError, OSError) as error:
        log.warning("could not raise the open-file limit from %d: %s", soft, error)
        return soft
    return wanted
