"""The student's desktop, measured: how soon a message and a lock are on screen, how soon a
killed or unmapped lock is back, and what the agent costs while nobody watches.

Everything runs for real on a private Xvfb (1920x1080): the hub as its own process
(`python -m hub serve`), the agent as its own process (`homeroom-agent run`, whose desktop is
the supervised UI process), and a console in this process. A window counts as on screen when
the X server maps it: a separate X connection here listens for MapNotify on the root window,
so nothing is polled and no tool's start-up time is counted.

Usage: python -m bench.desktop_latency [ROUNDS] [IDLE_SECONDS] [--veyon] [--as-installed]
[--memory-map] (default 20 rounds, 60 s; --memory-map lists what each process holds
resident, by mapped file, wherever its memory is printed). With --as-installed the agent
runs from its role's wheels installed alone in a fresh venv, as on a student device
(bench/device_install.py); without it, from this checkout's development venv, which holds
more than a device does.

"Message visible from `homeroom-console do`" starts the venv's installed command as a new
process each round, its modules compiled to bytecode first as `pip install` does
(bench/installed.py). With --veyon (Veyon installed, run as root: it sets Veyon's key file
authentication), Veyon's server runs on the same display afterwards and `veyon-cli feature
start 127.0.0.1 TextMessage` is timed the same way, to its "Message from teacher" window.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import platform
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psutil

from agent.desktop import LOCK_TITLE, message_title
from agent.enrollment import enroll
from console.demo import certified_staff, set_up_school
from console.session import ConsoleSession, HubEvent
from hub.admin import create_token
from hub.store import Store
from protocol.actions import LockScreen, SendMessage, UnlockScreen, Unwatch, Watch
from protocol.certificates import Role
from protocol.credentials import StaffCredential
from tests.xvfb import running_xvfb

from .device_install import installed_agent
from .frames import scene
from .installed import compile_sources
from .resident import resident_by_mapping, resident_pages_together

MAP_NOTIFY, UNMAP_NOTIFY, DESTROY_NOTIFY, CLIENT_MESSAGE = 19, 18, 17, 33
SUBSTRUCTURE_NOTIFY_MASK = 1 << 19
TEACHER = "Bench Teacher"
# The agent reports its status after each command and the hub allows a device 5 reports a
# second (a burst of 30), so rounds are spaced as a teacher's clicks would be.
PACE_SECONDS = 0.5
DEVICE_NAME = "Bench laptop"
WATCH_WIDTH = 320  # the grid's thumbnails, as in bench.frames
WATCHED_SECONDS = 20.0
MEMORY_MAP_LINES = 16
VEYON_MESSAGE_TITLE = "Message from teacher"  # Veyon 4.7's text message window


class _XAnyEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("event", ctypes.c_ulong),
        ("window", ctypes.c_ulong),
    ]


class _XClientMessage(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", ctypes.c_ulong),
        ("message_type", ctypes.c_ulong),
        ("format", ctypes.c_int),
        ("data", ctypes.c_long * 5),
    ]


class _XEvent(ctypes.Union):
    _fields_ = [
        ("any", _XAnyEvent),
        ("client", _XClientMessage),
        ("pad", ctypes.c_long * 24),
    ]


def _xlib() -> ctypes.CDLL:
    xlib = ctypes.CDLL("libX11.so.6")
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    xlib.XDefaultRootWindow.restype = ctypes.c_ulong
    xlib.XSelectInput.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_long]
    xlib.XNextEvent.argtypes = [ctypes.c_void_p, ctypes.POINTER(_XEvent)]
    xlib.XFetchName.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(ctypes.c_char_p)]
    xlib.XFree.argtypes = [ctypes.c_void_p]
    xlib.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    xlib.XInternAtom.restype = ctypes.c_ulong
    xlib.XSendEvent.argtypes = [
        ctypes.c_void_p,
        ctypes.c_ulong,
        ctypes.c_int,
        ctypes.c_long,
        ctypes.POINTER(_XEvent),
    ]
    xlib.XUnmapWindow.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    xlib.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    return xlib


class MapWatcher:
    """Top-level windows as the X server maps and unmaps them, timestamped on arrival."""

    def __init__(self, display: str) -> None:
        self._xlib = _xlib()
        self._watch = self._open(display)
        self._act = self._open(display)  # requests from the bench's own thread
        self._xlib.XSelectInput(
            self._watch, self._xlib.XDefaultRootWindow(self._watch), SUBSTRUCTURE_NOTIFY_MASK
        )
        self._xlib.XSync(self._watch, 0)
        self._changed = threading.Condition()
        self.mapped: dict[int, tuple[str, float]] = {}  # window: (title, when)
        self.history: list[tuple[str, int, str, float]] = []
        threading.Thread(target=self._listen, name="map-watcher", daemon=True).start()

    def _open(self, display: str) -> int:
        connection = self._xlib.XOpenDisplay(display.encode())
        if not connection:
            raise RuntimeError(f"cannot open display {display}")
        return int(connection)

    def _listen(self) -> None:
        event = _XEvent()
        while True:
            self._xlib.XNextEvent(self._watch, ctypes.byref(event))  # blocks, GIL released
            when = time.perf_counter()
            kind, window = event.any.type, event.any.window
            if kind == CLIENT_MESSAGE:  # stop(): close before the server goes, or Xlib exits
                self._xlib.XCloseDisplay(self._watch)
                return
            if kind == MAP_NOTIFY:
                name = ctypes.c_char_p()
                title = ""
                if self._xlib.XFetchName(self._watch, window, ctypes.byref(name)) and name.value:
                    title = name.value.decode(errors="replace")
                    self._xlib.XFree(name)
                with self._changed:
                    self.mapped[window] = (title, when)
                    self.history.append(("map", window, title, when))
                    self._changed.notify_all()
            elif kind in (UNMAP_NOTIFY, DESTROY_NOTIFY):
                with self._changed:
                    title, _ = self.mapped.pop(window, ("", 0.0))
                    self.history.append(("unmap", window, title, when))
                    self._changed.notify_all()

    def wait(self, check: Callable[[], float | None], timeout: float = 10.0) -> float:
        with self._changed:
            if not self._changed.wait_for(check, timeout):
                raise TimeoutError("the window never came")
            result = check()
            assert result is not None
            return result

    def mapped_since(self, title: str, since: float) -> float:
        """When a window titled `title` was mapped after `since` (waits for it)."""

        def found() -> float | None:
            for kind, _, name, when in self.history:
                if kind == "map" and name == title and when >= since:
                    return when
            return None

        return self.wait(found)

    def gone(self, title: str) -> None:
        self.wait(lambda: 1.0 if all(t != title for t, _ in self.mapped.values()) else None)

    def window(self, title: str) -> int:
        """The X id of the mapped window titled `title` (waits for it)."""

        def found() -> float | None:
            return next((float(w) for w, (t, _) in self.mapped.items() if t == title), None)

        return int(self.wait(found))

    def close_window(self, window: int) -> None:
        """What a window manager's close button sends (WM_DELETE_WINDOW)."""
        event = _XEvent()
        event.client.type = CLIENT_MESSAGE
        event.client.window = window
        event.client.message_type = self._xlib.XInternAtom(self._act, b"WM_PROTOCOLS", 0)
        event.client.format = 32
        event.client.data[0] = self._xlib.XInternAtom(self._act, b"WM_DELETE_WINDOW", 0)
        self._xlib.XSendEvent(self._act, window, 0, 0, ctypes.byref(event))
        self._xlib.XSync(self._act, 0)

    def unmap(self, window: int) -> float:
        """Unmap `window` as `xdotool windowunmap` does; the time just before."""
        start = time.perf_counter()
        self._xlib.XUnmapWindow(self._act, window)
        self._xlib.XSync(self._act, 0)
        return start

    def stop(self) -> None:
        """End the listening thread and both connections (before the server stops)."""
        event = _XEvent()
        event.client.type = CLIENT_MESSAGE
        event.client.format = 32
        root = self._xlib.XDefaultRootWindow(self._act)
        event.client.window = root
        self._xlib.XSendEvent(self._act, root, 0, SUBSTRUCTURE_NOTIFY_MASK, ctypes.byref(event))
        self._xlib.XSync(self._act, 0)
        self._xlib.XCloseDisplay(self._act)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def hub_process(folder: Path, port: int) -> Iterator[None]:
    hub = subprocess.Popen(
        [
            *(sys.executable, "-m", "hub", "serve", "--data", str(folder)),
            *("--host", "127.0.0.1", "--port", str(port)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):  # up once it accepts a connection
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield
    finally:
        hub.terminate()
        hub.wait()


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return (
        f"median {statistics.median(samples) * 1000:.1f} ms, p90 {p90 * 1000:.1f} ms, "
        f"min {ordered[0] * 1000:.1f} ms (n={len(samples)})"
    )


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        times = process.cpu_times()
        total += times.user + times.system + times.children_user + times.children_system
    return total


async def measure(
    rounds: int, idle_seconds: float, display: str, watcher: MapWatcher, *, as_installed: bool
) -> None:
    folder = Path(tempfile.mkdtemp(prefix="homeroom-bench-ui-"))
    agent_python = sys.executable
    if as_installed:
        agent_python = str(await asyncio.to_thread(installed_agent, folder))
        print(f"agent installed as on a device: {agent_python}")
    port = free_port()
    url = f"wss://127.0.0.1:{port}"
    org, keyring = set_up_school(folder, hub_url=url, names=["127.0.0.1"])
    now = int(time.time())
    with Store.open(keyring.store_path) as store:
        token = create_token(keyring, store, group="bench", uses=1, lifetime=3600, now=now)
        teacher = certified_staff(
            org, keyring, store, name=TEACHER, role=Role.TEACHER, groups=("bench",), now=now - 60
        )
    with hub_process(folder / "hub", port):
        state = await enroll(token.encode(), DEVICE_NAME, folder / "agent")
        log = (folder / "agent.log").open("wb")
        agent = subprocess.Popen(
            [
                *(agent_python, "-c", "import sys; from agent.cli import main; sys.exit(main())"),
                *("--state", str(folder / "agent"), "run"),
            ],
            env={**os.environ, "DISPLAY": display},
            stdout=log,
            stderr=log,
        )
        try:
            credential = folder / "teacher.credential"
            credential.write_bytes(teacher.encode())
            do_command = [
                str(Path(sys.executable).parent / "homeroom-console"),
                *("--credential", str(credential), "--hub", url),
                *("do", "message", "--to", DEVICE_NAME),
            ]
            await run_rounds(
                rounds, idle_seconds, state.device_id, agent, teacher, watcher, do_command, display
            )
        finally:
            agent.terminate()
            agent.wait()
            log.close()


async def run_rounds(
    rounds: int,
    idle_seconds: float,
    device: str,
    agent: subprocess.Popen[bytes],
    teacher: StaffCredential,
    watcher: MapWatcher,
    do_command: list[str],
    display: str,
) -> None:
    console = ConsoleSession(teacher)
    await console.connect()
    events = console.__aiter__()
    process = psutil.Process(agent.pid)

    async def until_online() -> None:
        # The session keeps the roster up to date as its events pass.
        while not (console.devices.get(device) and console.devices[device].online):
            await anext(events)

    async with asyncio.timeout(30):
        await until_online()
    drain = asyncio.create_task(_drain(events))
    ui = await _ui_process(process)
    print(f"agent pid {process.pid}, UI process pid {ui.pid}")

    # Message visible: console submit -> hub -> agent -> UI process -> window mapped.
    message_times: list[float] = []
    for index in range(rounds + 2):
        await asyncio.sleep(PACE_SECONDS)
        start = time.perf_counter()
        await console.submit(SendMessage(text=f"Round {index}: eyes on the board"), [device])
        mapped = await asyncio.to_thread(watcher.mapped_since, message_title(TEACHER), start)
        if index >= 2:  # the first rounds warm up the paths (imports, fonts)
            message_times.append(mapped - start)
        window = await asyncio.to_thread(watcher.window, message_title(TEACHER))
        watcher.close_window(window)  # read: the window goes
        await asyncio.to_thread(watcher.gone, message_title(TEACHER))
    print(f"message visible from a running console: {summary(message_times)}")

    # Message visible from `homeroom-console do` (the venv's installed command): a new process
    # each time, so its start (Python, imports, TLS, handshake, roster) is in the figure.
    do_times: list[float] = []
    do_cpu: list[float] = []  # the command's own CPU time: what a busy machine does not change
    for index in range(max(3, rounds // 2) + 1):
        await asyncio.sleep(PACE_SECONDS)
        cpu_before = _children_cpu()
        start = time.perf_counter()
        sender = await asyncio.create_subprocess_exec(
            *do_command,
            f"text=Round {index}: from the command line",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        mapped = await asyncio.to_thread(watcher.mapped_since, message_title(TEACHER), start)
        _, errors = await sender.communicate()
        if sender.returncode != 0:
            raise RuntimeError(f"homeroom-console do failed: {errors.decode(errors='replace')}")
        if index >= 1:  # the first run warms the disk cache for the command's files
            do_times.append(mapped - start)
            do_cpu.append(_children_cpu() - cpu_before)
        window = await asyncio.to_thread(watcher.window, message_title(TEACHER))
        watcher.close_window(window)
        await asyncio.to_thread(watcher.gone, message_title(TEACHER))
    print(f"message visible from `homeroom-console do` (a new process): {summary(do_times)}")
    print(f"  CPU time of the `homeroom-console do` process: {summary(do_cpu)}")
    print(f"load average meanwhile: {os.getloadavg()[0]:.1f}")

    # Lock visible, the same way.
    lock_times: list[float] = []
    for index in range(rounds + 2):
        await asyncio.sleep(PACE_SECONDS)
        start = time.perf_counter()
        await console.submit(LockScreen(message="Eyes on the board"), [device])
        mapped = await asyncio.to_thread(watcher.mapped_since, LOCK_TITLE, start)
        if index >= 2:
            lock_times.append(mapped - start)
        await asyncio.sleep(PACE_SECONDS)
        await console.submit(UnlockScreen(), [device])
        await asyncio.to_thread(watcher.gone, LOCK_TITLE)
    print(f"lock visible from a running console: {summary(lock_times)}")

    # A lock attacked: unmapped by another program, or its process killed.
    await asyncio.sleep(PACE_SECONDS)
    await console.submit(LockScreen(message="Eyes on the board"), [device])
    await asyncio.to_thread(watcher.mapped_since, LOCK_TITLE, 0.0)
    unmapped_times: list[float] = []
    for _ in range(rounds):
        window = await asyncio.to_thread(watcher.window, LOCK_TITLE)
        start = watcher.unmap(window)
        back = await asyncio.to_thread(watcher.mapped_since, LOCK_TITLE, start)
        unmapped_times.append(back - start)
    print(f"lock back after `windowunmap`: {summary(unmapped_times)}")
    killed_times: list[float] = []
    for _ in range(max(3, rounds // 2)):
        ui = await _ui_process(process)
        await asyncio.to_thread(watcher.window, LOCK_TITLE)
        start = time.perf_counter()
        ui.send_signal(signal.SIGKILL)
        back = await asyncio.to_thread(watcher.mapped_since, LOCK_TITLE, start)
        killed_times.append(back - start)
    print(f"lock back after its UI process is killed: {summary(killed_times)}")
    await asyncio.sleep(PACE_SECONDS)
    await console.submit(UnlockScreen(), [device])
    await asyncio.to_thread(watcher.gone, LOCK_TITLE)

    # Nobody watches, nothing shown (then: locked for a lesson): what agent and UI cost.
    ui = await _ui_process(process)
    await asyncio.sleep(2)  # let the last command's work settle
    await idle_cpu("nothing shown", process, ui, idle_seconds)
    await console.submit(LockScreen(message="Eyes on the board"), [device])
    await asyncio.to_thread(watcher.mapped_since, LOCK_TITLE, 0.0)
    await asyncio.sleep(2)
    await idle_cpu("locked", process, ui, idle_seconds)
    report_memory("at rest, locked", process, ui)

    # Watched as the grid watches (320 px, 1 frame/s) while the student reads a scrolling
    # text: the agent has Pillow, the grab buffers and the banner by now.
    await console.submit(UnlockScreen(), [device])
    await asyncio.to_thread(watcher.gone, LOCK_TITLE)
    with scene("reading", display):
        watch = Watch(width=WATCH_WIDTH, fps=1.0, lease_seconds=60)
        await console.submit(watch, [device])
        await asyncio.sleep(WATCHED_SECONDS)
        report_memory(f"watched for {WATCHED_SECONDS:.0f} s (reading scene)", process, ui)
        await console.submit(Unwatch(), [device])
    drain.cancel()
    await console.close()


def report_memory(when: str, agent: psutil.Process, ui: psutil.Process) -> None:
    """Print the memory of the agent and its UI process, each and together (and with
    --memory-map, what each holds resident, the largest first)."""
    memories = [agent.memory_full_info(), ui.memory_full_info()]
    for name, memory, pid in zip(
        ("agent", "UI process"), memories, (agent.pid, ui.pid), strict=True
    ):
        print(
            f"memory {when}, {name}: RSS {memory.rss / 2**20:.1f} MiB, "
            f"USS {memory.uss / 2**20:.1f} MiB"
        )
        if "--memory-map" in sys.argv[1:]:
            for mapped, kilobytes in resident_by_mapping(pid).most_common(MEMORY_MAP_LINES):
                print(f"    {kilobytes:6,d} KiB  {mapped}")
    print(
        f"memory {when}, together: RSS {sum(m.rss for m in memories) / 2**20:.1f} MiB, "
        f"USS {sum(m.uss for m in memories) / 2**20:.1f} MiB (sums over both processes; "
        f"PSS, shared pages split between their users: {sum(m.pss for m in memories) / 2**20:.1f}"
        " MiB)"
    )
    together = resident_pages_together([agent.pid, ui.pid])
    if together is None:
        print(f"memory {when}, together, each page once: needs root (page frame numbers)")
    else:
        print(
            f"memory {when}, together, each page once: RSS {together / 2**20:.1f} MiB "
            "(the pages both processes map from one file, libpython first, counted once)"
        )


def _children_cpu() -> float:
    """CPU seconds of this process's ended and reaped children (here: the `do` command)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def idle_cpu(what: str, agent: psutil.Process, ui: psutil.Process, seconds: float) -> None:
    """Print the CPU the agent and its UI process use over `seconds` while nobody watches."""
    agent_before, ui_before = cpu_seconds([agent]), cpu_seconds([ui])
    start = time.perf_counter()
    await asyncio.sleep(seconds)
    wall = time.perf_counter() - start
    agent_cpu = 100 * (cpu_seconds([agent]) - agent_before) / wall
    ui_cpu = 100 * (cpu_seconds([ui]) - ui_before) / wall
    print(
        f"CPU while nobody watches, {what}, over {wall:.0f} s: agent {agent_cpu:.3f} %, "
        f"UI process {ui_cpu:.3f} %, together {agent_cpu + ui_cpu:.3f} % of one core "
        f"(psutil counts 10 ms ticks: {100 * 0.01 / wall:.3f} % is one tick)"
    )


async def _drain(events: AsyncIterator[HubEvent]) -> None:
    # Keep reading the console's events so its queue never backs up.
    with contextlib.suppress(Exception):
        async for _ in events:
            pass


async def _ui_process(agent: psutil.Process) -> psutil.Process:
    """The agent's current UI process (waiting for a new one after a kill)."""
    async with asyncio.timeout(10):
        while True:
            alive = [c for c in agent.children() if c.status() != psutil.STATUS_ZOMBIE]
            if alive:
                return alive[0]
            await asyncio.sleep(0.01)


def veyon_message_times(display: str, watcher: MapWatcher, rounds: int) -> list[float]:
    """`veyon-cli` sending Veyon's text message to its server on `display`, to the window."""
    from .frames import configure_veyon, stop_veyon

    configure_veyon()
    server = subprocess.Popen(
        ["veyon-server"],
        env={**os.environ, "DISPLAY": display},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    times: list[float] = []
    try:
        time.sleep(5)  # no readiness signal: its first run below is a warm-up anyway
        for index in range(rounds + 1):
            time.sleep(PACE_SECONDS)
            start = time.perf_counter()
            text = json.dumps({"text": f"Round {index}: from the command line"})
            subprocess.run(
                ["veyon-cli", "feature", "start", "127.0.0.1", "TextMessage", text],
                check=True,
                capture_output=True,
                # The warm-up round may wait for a first start (Qt's font caches, seen > 30 s).
                timeout=30 if index else 180,
            )
            mapped = watcher.mapped_since(VEYON_MESSAGE_TITLE, start)
            if index >= 1:
                times.append(mapped - start)
    finally:
        stop_veyon(server)
    return times


def main() -> None:
    veyon = "--veyon" in sys.argv[1:]
    as_installed = "--as-installed" in sys.argv[1:]
    arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
    rounds = int(arguments[0]) if arguments else 20
    idle_seconds = float(arguments[1]) if len(arguments) > 1 else 60.0
    print(
        f"Homeroom desktop on Xvfb 1920x1080: hub and agent as their own processes, TLS on "
        f"loopback; {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    compile_sources()
    with running_xvfb("1920x1080x24") as display:
        watcher = MapWatcher(display)
        try:
            asyncio.run(measure(rounds, idle_seconds, display, watcher, as_installed=as_installed))
            if veyon:
                try:
                    times = veyon_message_times(display, watcher, max(3, rounds // 2))
                except (subprocess.SubprocessError, TimeoutError) as error:
                    print(f"Veyon: no figure, veyon-cli failed: {error}")
                else:
                    print(
                        f"Veyon: message visible from `veyon-cli` (new process): {summary(times)}"
                    )
        finally:
            watcher.stop()


if __name__ == "__main__":
    main()
