"""Desktop test kit: a private Xvfb server as a fixture, and helpers to drive and read it."""

from __future__ import annotations

import contextlib
import ctypes
import os
import selectors
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal, TypeVar

import pytest
from PIL import Image, ImageChops

from tests.support import scaled

Scope = Literal["session", "package", "module", "class", "function"]
T = TypeVar("T")

DEFAULT_SCREEN = "1024x768x24"
#: x, y, width, height of one monitor inside the screen.
Monitor = tuple[int, int, int, int]


def _read_display_number(fd: int, server: subprocess.Popen[bytes], timeout: float) -> int:
    """Block until Xvfb writes its display number to `fd`, which it does once it accepts clients.

    Reading the number is the readiness signal: no sleeping, no polling the socket.
    """
    received = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while not received.endswith(b"\n"):
            if not selector.select(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(
                    f"Xvfb did not report a display within {timeout:.0f} s; "
                    "raise HOMEROOM_TIMEOUT_SCALE on a slow machine."
                )
            chunk = os.read(fd, 64)
            if not chunk:
                # EOF before a newline: the server died while starting.
                server.wait()
                raise RuntimeError(
                    f"Xvfb exited with status {server.returncode} before it was ready."
                )
            received += chunk
    return int(received.strip())


@contextlib.contextmanager
def running_xvfb(screen: str = DEFAULT_SCREEN, monitors: tuple[Monitor, ...] = ()) -> Iterator[str]:
    """Run Xvfb on the first free display and yield its DISPLAY string, e.g. ":3".

    `screen` is WIDTHxHEIGHTxDEPTH. `monitors`, if given, splits the screen into RandR
    monitors (the first is primary), as a laptop with a projector beside it has: one X screen,
    two monitors. The server is terminated when the block exits.
    """
    executable = shutil.which("Xvfb")
    if executable is None:
        pytest.fail(
            "Xvfb is not installed, so the desktop tests cannot run. `make test` installs it "
            "(Debian package xvfb); or run `apt-get install xvfb` as root.",
            pytrace=False,
        )
    with contextlib.ExitStack() as cleanup:
        read_fd, write_fd = os.pipe()
        cleanup.callback(os.close, read_fd)
        # Keep the server's chatter out of the test output, but at hand if it fails to start.
        log = cleanup.enter_context(tempfile.TemporaryFile())
        try:
            server = subprocess.Popen(
                [
                    executable,
                    "-displayfd",
                    str(write_fd),
                    "-screen",
                    "0",
                    screen,
                    "-nolisten",
                    "tcp",
                    # Without -noreset the server resets when its last client disconnects, and
                    # a test connecting at that moment would race the reset.
                    "-noreset",
                ],
                pass_fds=(write_fd,),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        finally:
            # Only the server may hold the write end, or EOF would never tell us it died.
            os.close(write_fd)
        cleanup.callback(_stop, server)
        try:
            number = _read_display_number(read_fd, server, scaled(20))
        except (TimeoutError, RuntimeError) as error:
            log.seek(0)
            output = log.read().decode(errors="replace").strip()
            pytest.fail(f"{error}\nXvfb said:\n{output}", pytrace=False)
        if monitors:
            set_monitors(f":{number}", monitors)
        yield f":{number}"


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(scaled(10))
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def xvfb_fixture(
    scope: Scope = "session",
    screen: str = DEFAULT_SCREEN,
    name: str | None = None,
    monitors: tuple[Monitor, ...] = (),
) -> Callable[..., Any]:
    """Build a pytest fixture that yields the DISPLAY of a private Xvfb server.

    In a conftest: ``xvfb_display = xvfb_fixture(scope="session")``; tests then take an
    ``xvfb_display`` argument. Use scope="function" for a fresh server per test.
    """

    def fixture() -> Iterator[str]:
        with running_xvfb(screen, monitors) as display:
            yield display

    return pytest.fixture(scope=scope, name=name)(fixture)


def poll_until(
    check: Callable[[], T | None],
    timeout: float,
    failure: str | Callable[[], str],
    interval: float = 0.02,
) -> T:
    """Call `check` until it returns something other than None or False, and return that.

    `timeout` is in seconds before scaling (see tests.support.scaled). The short sleep only
    spaces out the checks; the condition itself is the synchronisation. `failure` (or what it
    returns) is the assertion message.
    """
    deadline = time.monotonic() + scaled(timeout)
    while True:
        result = check()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            message = failure if isinstance(failure, str) else failure()
            raise AssertionError(f"{message} (waited {scaled(timeout):.1f} s)")
        time.sleep(interval)


def xdotool(display: str, *args: str) -> str:
    """Run xdotool against `display` and return its output; fail the test if it fails."""
    completed = subprocess.run(
        ["xdotool", *args],
        env={**os.environ, "DISPLAY": display},
        capture_output=True,
        text=True,
        timeout=scaled(20),
        check=False,
    )
    # `search` exits 1 when nothing matches, which is an answer, not an error.
    if completed.returncode != 0 and not (args[0] == "search" and not completed.stderr):
        raise AssertionError(f"xdotool {' '.join(args)} failed: {completed.stderr.strip()}")
    return completed.stdout


def find_windows(display: str, name: str, only_visible: bool = True) -> list[int]:
    """X ids of windows whose title matches the regular expression `name`."""
    flags = ["--onlyvisible"] if only_visible else []
    return [int(line) for line in xdotool(display, "search", *flags, "--name", name).split()]


def rgb(colour: str) -> tuple[int, int, int]:
    """ "#rrggbb" as a tuple of ints."""
    value = int(colour.removeprefix("#"), 16)
    return value >> 16, (value >> 8) & 0xFF, value & 0xFF


def share_of_colour(
    image: Image.Image, colour: str, box: tuple[int, int, int, int] | None = None
) -> float:
    """The fraction (0 to 1) of pixels in `box` (default: all) that are exactly `colour`."""
    region = image.convert("RGB") if box is None else image.convert("RGB").crop(box)
    # A mask of exact matches: 255 where all three channels match, 0 elsewhere.
    bands = [
        band.point(lambda value, wanted=wanted: 255 if value == wanted else 0)
        for band, wanted in zip(region.split(), rgb(colour), strict=True)
    ]
    red, green, blue = bands
    matches = ImageChops.multiply(ImageChops.multiply(red, green), blue)
    histogram = matches.histogram()
    return histogram[255] / (region.width * region.height)


# RandR monitors, set as `xrandr --setmonitor` does (the xrandr tool is not installed here).


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


def set_monitors(display: str, monitors: tuple[Monitor, ...]) -> None:
    """Define RandR 1.5 monitors on `display`, the first one primary."""
    xlib = ctypes.CDLL("libX11.so.6")
    randr = ctypes.CDLL("libXrandr.so.2")
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    xlib.XDefaultRootWindow.restype = ctypes.c_ulong
    xlib.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    xlib.XInternAtom.restype = ctypes.c_ulong
    xlib.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    xlib.XFree.argtypes = [ctypes.c_void_p]
    randr.XRRAllocateMonitor.argtypes = [ctypes.c_void_p, ctypes.c_int]
    randr.XRRAllocateMonitor.restype = ctypes.POINTER(XRRMonitorInfo)
    randr.XRRSetMonitor.argtypes = [
        ctypes.c_void_p,
        ctypes.c_ulong,
        ctypes.POINTER(XRRMonitorInfo),
    ]
    connection = xlib.XOpenDisplay(display.encode())
    assert connection, f"cannot open display {display}"
    try:
        root = xlib.XDefaultRootWindow(connection)
        for index, (x, y, width, height) in enumerate(monitors):
            monitor = randr.XRRAllocateMonitor(connection, 0)
            monitor.contents.name = xlib.XInternAtom(connection, f"TEST-{index}".encode(), 0)
            monitor.contents.primary = int(index == 0)
            monitor.contents.automatic = 0
            monitor.contents.x, monitor.contents.y = x, y
            monitor.contents.width, monitor.contents.height = width, height
            # A 24-inch monitor's millimetres; only the pixels matter here.
            monitor.contents.mwidth, monitor.contents.mheight = 527, 296
            randr.XRRSetMonitor(connection, root, monitor)
            xlib.XFree(monitor)
        xlib.XSync(connection, 0)
    finally:
        xlib.XCloseDisplay(connection)
