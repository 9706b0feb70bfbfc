"""A device's summary of use in plain words for a parent: "Ada's laptop today: on for 2 h
10 min; Firefox 1 h 05 min, ..."; every name from the device made printable."""

from __future__ import annotations

import time
from typing import Any

from .printable import printable

#: Applications named in the sentence; the rest are "other applications".
NAMED = 8


def duration(seconds: int) -> str:
    """2 h 05 min, 40 min, under a minute."""
    minutes = seconds // 60
    if minutes == 0:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def period(since: int, until: int) -> str:
    """ "today", or "since Mon 14:00" for a summary that starts another time or day."""
    start, end = time.localtime(since), time.localtime(until)
    midnight = (start.tm_hour, start.tm_min) == (0, 0)
    if midnight and start[:3] == end[:3]:
        return "today"
    return f"since {time.strftime('%a %H:%M', start)}"


def in_words(name: str, summary: dict[str, Any]) -> str:
    """One device's summary (as `msgspec.to_builtins` gives it), for a person to read."""
    when = period(summary["since"], summary["until"])
    head = f"{printable(name)} {when}"
    if not summary["on_seconds"]:
        return f"{head}: not used"
    apps = summary["apps"]
    named = [f"{printable(a['app'])} {duration(a['seconds'])}" for a in apps[:NAMED]]
    other = summary["other_seconds"] + sum(a["seconds"] for a in apps[NAMED:])
    if other >= 60:
        named.append(f"other applications {duration(other)}")
    listed = f"; {', '.join(named)}" if named else ""
    return f"{head}: on for {duration(summary['on_seconds'])}{listed}"
