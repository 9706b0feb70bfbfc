"""Where the monitors are, so the lock can centre its words on each: X11 RandR or Xinerama.

Tk knows only the whole screen (the bounding box of every monitor). On X11 this asks the
server through libXrandr's monitor list (RandR 1.5, which includes monitors made with
`xrandr --setmonitor`), else Xinerama. Elsewhere (Windows, macOS) it answers nothing and the
lock treats the screen as one monitor: the window still covers all of it.
"""

from __future__ import annotations

import ctypes
import sys

from . import ui_log

__all__ = ["Monitor", "XRRMonitorInfo", "find_monitors", "without_containers"]


#: x, y, width, height in pixels of the whole screen.
Monitor = tuple[int, int, int, int]


def find_monitors(display: str | None) -> list[Monitor]:
    """The monitors of `display`, the primary first; [] when they cannot be known."""
    if sys.platform in ("win32", "darwin"):
        return []
    try:
        return without_containers(_x11_monitors(display))
    except OSError as error:  # a library missing: one monitor it is
        ui_log.info(f"cannot list monitors ({error}); treating the screen as one")
        return []


def without_containers(monitors: list[Monitor]) -> list[Monitor]:
    """Drop any monitor that wholly contains another one.

    An X server lists the output's own monitor beside monitors set up inside it (a 3840 px
    screen split in two halves also reports the whole), and words centred on the whole would
    straddle the seam.
    """

    def contains(outer: Monitor, inner: Monitor) -> bool:
        ox, oy, ow, oh = outer
        ix, iy, iw, ih = inner
        inside = ox <= ix and oy <= iy and ix + iw <= ox + ow and iy + ih <= oy + oh
        return outer != inner and inside

    unique = list(dict.fromkeys(monitors))
    return [m for m in unique if not any(contains(m, other) for other in unique)]


class XRRMonitorInfo(ctypes.Structure):
    """libXrandr's XRRMonitorInfo (RandR 1.5)."""

    _fields_ = [
        ("name", ctypes.c_ulong),
        ("primary", ctypes.c_int),
        ("automatic", ctypes.c_int),
        ("noutput", ctypes.c_int),
        ("x", ctypes.c_int),
        ("y", ctypes.c_int),
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("mwidth", ctypes.c_int),
        ("mheight", ctypes.c_int),
        ("outputs", ctypes.POINTER(ctypes.c_ulong)),
    ]


class _XineramaScreen(ctypes.Structure):
    _fields_ = [
        ("screen_number", ctypes.c_int),
        ("x_org", ctypes.c_short),
        ("y_org", ctypes.c_short),
        ("width", ctypes.c_short),
        ("height", ctypes.c_short),
    ]


def _library(name: str, soname: str) -> ctypes.CDLL:
    try:
        return ctypes.CDLL(soname)
    except OSError:
        # find_library runs ldconfig (or a compiler): a tenth of a second, so only as a fallback,
        # since the UI process starts again on the lock's critical path.
        from ctypes.util import find_library

        found = find_library(name)
        if found is None:
            raise
        return ctypes.CDLL(found)


def _x11_monitors(display: str | None) -> list[Monitor]:
    xlib = _library("X11", "libX11.so.6")
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    xlib.XDefaultRootWindow.restype = ctypes.c_ulong
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    xlib.XFree.argtypes = [ctypes.c_void_p]
    connection = xlib.XOpenDisplay(display.encode() if display else None)
    if not connection:
        return []
    try:
        # Every call below is guarded by an extension and version check first: Xlib's default
        # error handler ends the process, and this runs inside the UI process.
        found = _randr(connection, xlib)
        if not found:
            found = _xinerama(connection, xlib)
        return found
    finally:
        xlib.XCloseDisplay(connection)


def _randr(connection: int, xlib: ctypes.CDLL) -> list[Monitor]:
    try:
        randr = _library("Xrandr", "libXrandr.so.2")
    except OSError:
        return []
    event_base, error_base = ctypes.c_int(), ctypes.c_int()
    randr.XRRQueryExtension.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    if not randr.XRRQueryExtension(connection, ctypes.byref(event_base), ctypes.byref(error_base)):
        return []
    major, minor = ctypes.c_int(), ctypes.c_int()
    randr.XRRQueryVersion.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    if not randr.XRRQueryVersion(connection, ctypes.byref(major), ctypes.byref(minor)):
        return []
    if (major.value, minor.value) < (1, 5):  # monitors came with RandR 1.5
        return []
    randr.XRRGetMonitors.argtypes = [
        ctypes.c_void_p,
        ctypes.c_ulong,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_int),
    ]
    randr.XRRGetMonitors.restype = ctypes.POINTER(XRRMonitorInfo)
    randr.XRRFreeMonitors.argtypes = [ctypes.POINTER(XRRMonitorInfo)]
    count = ctypes.c_int()
    listed = randr.XRRGetMonitors(
        connection, xlib.XDefaultRootWindow(connection), 1, ctypes.byref(count)
    )
    if not listed:
        return []
    try:
        entries = [listed[i] for i in range(count.value)]
        ordered = sorted(entries, key=lambda m: (not m.primary, m.x, m.y))
        return [(m.x, m.y, m.width, m.height) for m in ordered if m.width > 0 and m.height > 0]
    finally:
        randr.XRRFreeMonitors(listed)


def _xinerama(connection: int, xlib: ctypes.CDLL) -> list[Monitor]:
    try:
        xinerama = _library("Xinerama", "libXinerama.so.1")
    except OSError:
        return []
    xinerama.XineramaIsActive.argtypes = [ctypes.c_void_p]
    if not xinerama.XineramaIsActive(connection):
        return []
    xinerama.XineramaQueryScreens.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
    xinerama.XineramaQueryScreens.restype = ctypes.POINTER(_XineramaScreen)
    count = ctypes.c_int()
    screens = xinerama.XineramaQueryScreens(connection, ctypes.byref(count))
    if not screens:
        return []
    try:
        return [
            (screens[i].x_org, screens[i].y_org, screens[i].width, screens[i].height)
            for i in range(count.value)
        ]
    finally:
        xlib.XFree(screens)
