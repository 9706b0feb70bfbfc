"""The monitors of an X display, asked by the agent for its UI process (`agent.ui_monitors`)."""

from __future__ import annotations

import contextlib
import logging

from Xlib import error as xerror
from Xlib.display import Display

from . import xlib_extensions  # noqa: F401  # before any Display is opened
from .ui_monitors import Monitor, without_containers

__all__ = ["monitors_on", "x11_monitors"]

logger = logging.getLogger("homeroom.agent.ui")


def x11_monitors(display: str | None) -> list[Monitor]:
    """The monitors of `display` (default $DISPLAY), on a connection of their own.

    For when the agent has no X connection to ask on: opening one costs the agent about
    1 MiB that stays, so the agent asks on its screen's (`X11Screen.monitors`) where it can.
    """
    try:
        connection = Display(display)
    except (xerror.DisplayError, xerror.XError, OSError) as error:
        logger.info("cannot list the monitors (%s); the lock treats the screen as one", error)
        return []
    try:
        return monitors_on(connection)
    finally:
        with contextlib.suppress(xerror.XError, xerror.ConnectionClosedError, OSError):
            connection.close()


def monitors_on(connection: Display) -> list[Monitor]:
    """The monitors of `connection`'s display, the primary first; [] if it cannot say.

    Asked through Xinerama: since RandR 1.5 (X.Org server 1.18) the server answers it from
    its RandR monitors, `xrandr --setmonitor` ones included, the primary first.
    """
    try:
        if not connection.has_extension("XINERAMA") or not connection.xinerama_is_active():
            return []
        screens = connection.xinerama_query_screens().screens
    except (xerror.XError, xerror.ConnectionClosedError, OSError, ConnectionError) as error:
        logger.info("cannot list the monitors (%s); the lock treats the screen as one", error)
        return []
    return without_containers(
        [(s.x, s.y, s.width, s.height) for s in screens if s.width > 0 and s.height > 0]
    )
