"""The monitors of an X display, asked by the agent for its UI process (`agent.ui_monitors`)."""

from __future__ import annotations

import logging

from Xlib import error as xerror
from Xlib.display import Display

from . import xlib_extensions  # noqa: F401  # before any Display is opened
from .ui_monitors import Monitor, without_containers

__all__ = ["x11_monitors"]

logger = logging.getLogger("homeroom.agent.ui")


def x11_monitors(display: str | None) -> list[Monitor]:
    """The monitors of `display` (default $DISPLAY), the primary first; [] if it cannot say.

    Asked through Xinerama: since RandR 1.5 (X.Org server 1.18) the server answers it from
    its RandR monitors, `xrandr --setmonitor` ones included, the primary first.
    """
    try:
        connection = Display(display)
    except (xerror.DisplayError, xerror.XError, OSError) as error:
        logger.info("cannot list the monitors (%s); the lock treats the screen as one", error)
        return []
    try:
        if not connection.has_extension("XINERAMA") or not connection.xinerama_is_active():
            return []
        screens = connection.xinerama_query_screens().screens
        found = [(s.x, s.y, s.width, s.height) for s in screens if s.width > 0 and s.height > 0]
        return without_containers(found)
    except (xerror.XError, OSError) as error:
        logger.info("cannot list the monitors (%s); the lock treats the screen as one", error)
        return []
    finally:
        connection.close()
