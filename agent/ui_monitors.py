"""Where the monitors are, so the lock can centre its words on each.

Tk knows only the whole screen (the bounding box of every monitor). The agent asks the X
server (`agent.x11_monitors`, through the python-xlib it holds anyway) each time it starts a
UI process, and hands the answer over on the command line (`--monitors`): the UI process then
needs no X library of its own (ctypes with libXrandr cost it 0.75 MiB, resident all day).
Elsewhere (Windows, macOS), or when the server cannot say, the UI process is given none and
treats the screen as one monitor: the window still covers all of it.
"""

from __future__ import annotations

__all__ = ["Monitor", "monitors_argument", "parse_monitors", "without_containers"]


#: x, y, width, height in pixels of the whole screen.
Monitor = tuple[int, int, int, int]

#: More than any desk has; a longer list is not a list of monitors.
MAX_MONITORS = 16


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


def monitors_argument(monitors: list[Monitor]) -> str:
    """`monitors` as `--monitors` takes them: "x,y,width,height", ";" between monitors."""
    return ";".join(",".join(str(number) for number in monitor) for monitor in monitors)


def parse_monitors(text: str) -> list[Monitor]:
    """The monitors in a `--monitors` argument; ValueError if it is not exactly that."""
    monitors: list[Monitor] = []
    for part in text.split(";") if text else []:
        numbers = part.split(",")
        if len(numbers) != 4 or not all(n.lstrip("-").isdigit() for n in numbers):
            raise ValueError(f"not x,y,width,height: {part[:40]!r}")
        x, y, width, height = (int(n) for n in numbers)
        if width <= 0 or height <= 0:
            raise ValueError(f"a monitor of no size: {part[:40]!r}")
        monitors.append((x, y, width, height))
    if len(monitors) > MAX_MONITORS:
        raise ValueError(f"{len(monitors)} monitors is more than {MAX_MONITORS}")
    return monitors
