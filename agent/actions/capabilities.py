"""What this device can do, stated once per connection so the console greys out the rest."""

from __future__ import annotations

import logging

from protocol.actions import ACTIONS
from protocol.messages import DeviceCapabilities

from ..platforms import Platform
from ..screen import ScreenSource

log = logging.getLogger("homeroom.agent")

#: Actions that need a picture of the screen, and those that need a lock the student
#: cannot get around.
NEEDS_CAPTURE = frozenset({"watch", "unwatch", "screenshot"})
NEEDS_LOCK = frozenset({"lock"})
#: Display servers where a full-screen, topmost window with input grabbed holds.
LOCKABLE = frozenset({"x11", "windows", "quartz"})
#: Focus mode sees programs through the window list, which these display servers give.
NEEDS_WINDOW_LIST = frozenset({"focus"})
WINDOW_LISTS = frozenset({"x11", "windows", "quartz"})


def can_capture(screen: ScreenSource) -> bool:
    try:
        width, height = screen.size
    except Exception as error:  # no display, or one that refuses capture (Wayland)
        log.warning("this device cannot capture its screen: %s", error)
        return False
    return width > 0 and height > 0


def detect(platform: Platform, screen: ScreenSource, *, lock: bool | None) -> DeviceCapabilities:
    """Capabilities of this agent here; `lock` overrides what the display server suggests."""
    display = platform.display_server()
    capture = can_capture(screen)
    can_lock = display in LOCKABLE if lock is None else lock
    missing: set[str] = set()
    notes = []
    if not capture:
        missing |= NEEDS_CAPTURE
        notes.append(f"no screen capture on {display}")
    if not can_lock:
        missing |= NEEDS_LOCK
        notes.append(f"no enforceable lock on {display}")
    if display not in WINDOW_LISTS:
        missing |= NEEDS_WINDOW_LIST
        notes.append(f"no window list on {display}, so no focus mode")
    return DeviceCapabilities(
        platform=platform.name,
        display_server=display,
        capture=capture,
        lock=can_lock,
        actions=tuple(name for name in ACTIONS if name not in missing),
        note="; ".join(notes),
    )
