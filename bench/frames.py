"""What the agent sends and spends while a teacher watches four real screens (`make bench`).

Usage: python -m bench.frames [SECONDS] [--scenes static,typing,reading,video] [--tk]

On a private Xvfb at 1920x1080, a real X client (bench/scenes.py, Tk) shows each screen a
student really shows. The real agent (agent.runtime.Agent, grabbing as `homeroom-agent run`
does) runs in a process of its own, connected over TLS to a real hub (its own process); a
console in this process watches it at 320 px and 1 frame a second, renewing the watch as the
console does. For each screen, over SECONDS (default 60) after a 5 s warm-up:

- bytes/s the agent sent: TCP payload of its connection to the hub (TLS records with the
  websocket frames in them, as `ss` counts them), and the frame bytes alone;
- agent CPU, % of one core (its process: user + system time);
- capture to encoded frame, median and 90th percentile, from the agent's own timings.

Then, in this process on the same screen, the whole-screen path is timed apart: a full grab
(shared memory) shrunk, compared and encoded, and the same with a whole picture each time.

With --veyon (needs root and the Debian packages veyon-service, veyon-plugins, x11vnc),
Veyon runs beside us on each screen: its server on the same display, its WebAPI fetching a
320 px JPEG thumbnail each second (as its master's monitoring does), measured the same way:
bytes/s its server sent to the WebAPI's connections, and CPU of the server and its children
(the x11vnc it runs). It sets Veyon's authentication to a key file made for the benchmark.
Figures go to stdout as a Markdown table and to bench/results/agent_frames.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from agent.capture import Capture
from agent.enrollment import enroll
from agent.screen import MssScreen
from agent.thumbnail import ThumbnailEncoder
from agent.x11_screen import X11Screen
from console.demo import certified_staff, set_up_school
from console.session import ConsoleSession, Picture
from hub.admin import create_token
from hub.store import Store
from protocol.actions import Unwatch, Watch
from protocol.certificates import Role
from protocol.credentials import StaffCredential
from protocol.frames import Frame

from .resident import resident_pages_together
from .scenes import SCENES

SCREEN = "1920x1080x24"
WIDTH, FPS = 320, 1.0
WARM_UP_SECONDS = 5.0
RENEW_SECONDS = 30.0  # as console/hub_link.py renews a 60 s lease
RESULTS = Path(__file__).parent / "results" / "agent_frames.json"
#: Targets from issue 7, for the report.
TARGETS = {
    "static": (150, 0.5),
    "typing": (400, 0.5),
    "reading": (4000, 1.2),
    "video": (4000, 1.2),
}
#: Veyon 4.7.5 on this machine, as issue 7 reports it (not measured by this run).
VEYON_FROM_ISSUE = {
    "static": (112, 0.70),
    "typing": (287, 0.90),
    "reading": (37_424, 3.48),
    "video": (332_364, 4.24),
}


@contextlib.contextmanager
def xvfb(screen: str = SCREEN) -> Iterator[tuple[str, int]]:
    """A private Xvfb; yields its DISPLAY and pid once it accepts clients (it writes its number)."""
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", screen, "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        number = b""
        while not number.endswith(b"\n"):
            chunk = os.read(read_fd, 16)
            if not chunk:
                raise RuntimeError("Xvfb exited before it was ready; is it installed?")
            number += chunk
        yield f":{int(number)}", server.pid
    finally:
        os.close(read_fd)
        server.terminate()
        server.wait()


@contextlib.contextmanager
def scene(name: str, display: str) -> Iterator[subprocess.Popen[str]]:
    """Show one scene; returns once its first picture is on the screen."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.scenes", name],
        env={**os.environ, "DISPLAY": display},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the {name} scene did not start")
        yield process
    finally:
        process.terminate()
        process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tcp_bytes_sent(pid: int, hub_port: int) -> int:
    """Bytes the process has sent on its connection to the hub (TCP payload, from `ss`)."""
    process = psutil.Process(pid)
    ports = [
        c.laddr.port
        for c in process.net_connections(kind="tcp")
        if c.raddr and c.raddr.port == hub_port
    ]
    if not ports:
        raise RuntimeError("the agent has no connection to the hub")
    output = subprocess.run(
        ["ss", "-tinH", "state", "established", f"( sport = :{ports[0]} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.search(r"bytes_sent:(\d+)", output)
    return int(found.group(1)) if found else 0


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """CPU seconds of a process (and, if asked, of its living descendants)."""
    process = psutil.Process(pid)
    total = 0.0
    for member in [process, *(process.children(recursive=True) if children else [])]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = member.cpu_times()
            total += times.user + times.system
    return total


# --- Veyon beside us ---------------------------------------------------------------------

VEYON_KEY = "homeroom-bench"
VEYON_KEY_FILE = Path("/etc/veyon/keys/private") / VEYON_KEY / "key"
VEYON_KEYFILE_METHOD = "0c69b301-81b4-42d6-8fae-128cdd113314"  # Veyon's key file authentication
VEYON_SERVER_PORT, VEYON_WEBAPI_PORT = 11100, 11080


def veyon_available() -> bool:
    return bool(shutil.which("veyon-server") and shutil.which("veyon-cli"))


def configure_veyon() -> None:
    """Key file authentication with a key of our own, and the WebAPI switched on."""
    if not VEYON_KEY_FILE.exists():
        subprocess.run(
            ["veyon-cli", "authkeys", "create", VEYON_KEY], check=True, capture_output=True
        )
    for setting in ("Authentication/Method 1", "WebAPI/HttpServerEnabled true"):
        subprocess.run(
            ["veyon-cli", "config", "set", *setting.split()], check=True, capture_output=True
        )


def _http(url: str, body: dict[str, Any] | None = None, uid: str | None = None) -> bytes:
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json", **({"Connection-Uid": uid} if uid else {})},
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        return bytes(response.read())


def veyon_bytes_sent() -> int:
    """Bytes Veyon's server has sent on every connection to its port (TCP payload, `ss`)."""
    output = subprocess.run(
        ["ss", "-tinH", "state", "established", f"( sport = :{VEYON_SERVER_PORT} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sum(int(found) for found in re.findall(r"bytes_sent:(\d+)", output))


def stop_veyon(server: subprocess.Popen[Any], *others: subprocess.Popen[Any]) -> None:
    """Stop Veyon's server, its helpers and `others`.

    The server's helpers (its x11vnc, workers) outlive it unless stopped one by one, and
    would hold its ports: the next run's server then cannot listen, and every `veyon-cli`
    call waits 30 s for a connection.
    """
    helpers = []
    with contextlib.suppress(psutil.NoSuchProcess):
        helpers = psutil.Process(server.pid).children(recursive=True)
    for process in (*others, server):
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for helper in helpers:
        with contextlib.suppress(psutil.NoSuchProcess):
            helper.terminate()
    psutil.wait_procs(helpers, timeout=10)


async def watch_with_veyon(name: str, display: str, seconds: float, folder: Path) -> dict[str, Any]:
    """Veyon's server on the display, and its WebAPI fetching a 320 px JPEG every second."""
    environment = {**os.environ, "DISPLAY": display}
    log = (folder / f"veyon-{name}.log").open("w")
    server = subprocess.Popen(["veyon-server"], env=environment, stdout=log, stderr=log)
    webapi = subprocess.Popen(["veyon-cli", "webapi", "runserver"], stdout=log, stderr=log)
    problem = "nothing yet"
    base = f"http://127.0.0.1:{VEYON_WEBAPI_PORT}/api/v1"
    thumbnail = f"{base}/framebuffer?width={WIDTH}&format=jpeg"
    try:
        credentials = {"keyname": VEYON_KEY, "keydata": VEYON_KEY_FILE.read_text()}
        uid = ""
        try:
            async with asyncio.timeout(180):
                while not uid:
                    try:
                        answer = _http(
                            f"{base}/authentication/127.0.0.1",
                            {"method": VEYON_KEYFILE_METHOD, "credentials": credentials},
                        )
                        uid = json.loads(answer)["connection-uid"]
                    except (OSError, ValueError, KeyError) as error:
                        problem = f"signing in to Veyon's WebAPI: {error}"
                        await asyncio.sleep(0.5)
                fetched = b""
                while not fetched:  # "framebuffer not yet available" until the first update
                    try:
                        fetched = _http(thumbnail, uid=uid)
                    except OSError as error:
                        problem = f"fetching the first thumbnail: {error}"
                    await asyncio.sleep(1.0 / FPS)
        except TimeoutError:
            log.flush()
            said = (folder / f"veyon-{name}.log").read_text(errors="replace")[-400:]
            return {
                "scene": name,
                "error": f"Veyon did not start; last problem: {problem}; it said: {said}",
            }
        await asyncio.sleep(WARM_UP_SECONDS)
        start = time.perf_counter()
        before = (cpu_seconds(server.pid, children=True), veyon_bytes_sent())
        fetches, fetched_bytes = 0, 0
        while time.perf_counter() - start < seconds:
            with contextlib.suppress(urllib.error.URLError):
                fetched_bytes += len(_http(thumbnail, uid=uid))
                fetches += 1
            await asyncio.sleep(max(0.0, fetches / FPS - (time.perf_counter() - start)))
        wall = time.perf_counter() - start
        after = (cpu_seconds(server.pid, children=True), veyon_bytes_sent())
        memory = device_memory(server.pid)
    finally:
        stop_veyon(server, webapi)
        log.close()
    return {
        "scene": name,
        "seconds": round(wall, 1),
        "tcp_bytes_per_second": round((after[1] - before[1]) / wall, 1),
        "cpu_percent": round(100 * (after[0] - before[0]) / wall, 3),
        "thumbnails": fetches,
        "thumbnail_bytes_per_second": round(fetched_bytes / wall, 1),
        "memory": memory,
    }


def device_memory(pid: int) -> dict[str, Any]:
    """Memory of a process and its descendants, as the desktop benchmark counts the agent's:
    RSS, USS and PSS summed, and each resident page once (needs root)."""
    processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    names, infos, pids = [], [], []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            infos.append(process.memory_full_info())
            names.append(process.name())
            pids.append(process.pid)
    together = resident_pages_together(pids)
    return {
        "processes": names,
        "rss_mib_each": [round(info.rss / 2**20, 1) for info in infos],
        "rss_mib_summed": round(sum(info.rss for info in infos) / 2**20, 1),
        "uss_mib_summed": round(sum(info.uss for info in infos) / 2**20, 1),
        "pss_mib_summed": round(sum(info.pss for info in infos) / 2**20, 1),
        "resident_mib_each_page_once": None if together is None else round(together / 2**20, 1),
    }


@dataclass
class Inbox:
    """What the console received, counted as it arrives."""

    pictures: int = 0
    whole: int = 0
    frame_bytes: int = 0
    first: asyncio.Event = field(default_factory=asyncio.Event)
    first_whole_bytes: int = 0


async def collect(session: ConsoleSession, inbox: Inbox) -> None:
    async for event in session:
        if isinstance(event, Picture):
            size = event.wire_bytes  # as it arrived: sealed for this console
            inbox.pictures += 1
            inbox.frame_bytes += size
            if isinstance(event.frame, Frame):
                inbox.whole += 1
                if not inbox.first.is_set():
                    inbox.first_whole_bytes = size
            inbox.first.set()


@contextlib.asynccontextmanager
async def hub_process(folder: Path) -> AsyncIterator[tuple[StaffCredential, str, int]]:
    """A hub in its own process; yields a teacher's credential, an enrollment token, the port."""
    port = free_port()
    url = f"wss://127.0.0.1:{port}"
    org, keyring = set_up_school(folder, hub_url=url, names=["127.0.0.1"])
    now = int(time.time())
    with Store.open(keyring.store_path) as store:
        token = create_token(keyring, store, group="bench", uses=10, lifetime=3600, now=now)
        teacher = certified_staff(
            org,
            keyring,
            store,
            name="Bench Teacher",
            role=Role.TEACHER,
            groups=("bench",),
            now=now - 60,
        )
    serve = ["serve", "--data", str(folder / "hub"), "--host", "127.0.0.1", "--port", str(port)]
    hub = subprocess.Popen(
        [sys.executable, "-m", "hub", *serve],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            await asyncio.sleep(0.05)
        yield teacher, token.encode(), port
    finally:
        hub.terminate()
        hub.wait()


async def watch_scene(
    name: str,
    display: str,
    folder: Path,
    session: ConsoleSession,
    device_id: str,
    port: int,
    seconds: float,
    tk: bool,
    x_server: int,
) -> dict[str, Any]:
    """The agent watched on scene `name`; `x_server` is the X server's pid: what it spends
    grabbing (and halving) for the agent is not in the agent's CPU time, so it is counted apart."""
    stats_file = folder / f"stats-{name}.json"
    inbox = Inbox()
    collector = asyncio.create_task(collect(session, inbox))

    def online() -> bool:
        device = session.devices.get(device_id)
        return device is not None and device.online

    # The previous scene's agent has gone: wait until the hub has said so.
    async with asyncio.timeout(30):
        while online():
            await asyncio.sleep(0.05)
    command = [sys.executable, "-m", "bench.agent_process", str(folder / "agent")]
    agent = subprocess.Popen(
        [*command, str(stats_file), *(["--tk"] if tk else [])],
        env={**os.environ, "DISPLAY": display},
    )
    try:
        async with asyncio.timeout(30):
            while not online():
                await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # its start (imports, TLS) is not "nobody watching"
        idle_cpu, idle_server = cpu_seconds(agent.pid), cpu_seconds(x_server)
        await asyncio.sleep(5.0)
        idle = (cpu_seconds(agent.pid) - idle_cpu) / 5.0
        # The scene's own drawing costs the server this much while nobody watches.
        server_idle = (cpu_seconds(x_server) - idle_server) / 5.0
        watch = Watch(width=WIDTH, fps=FPS, lease_seconds=60)
        await session.submit(watch, [device_id])
        await asyncio.wait_for(inbox.first.wait(), 30)
        await asyncio.sleep(WARM_UP_SECONDS)
        start = time.perf_counter()
        before = (cpu_seconds(agent.pid), tcp_bytes_sent(agent.pid, port), inbox.frame_bytes)
        server_before = cpu_seconds(x_server)
        counts = (inbox.pictures, inbox.whole)
        renewed = start
        while (elapsed := time.perf_counter() - start) < seconds:
            await asyncio.sleep(min(1.0, seconds - elapsed))
            if time.perf_counter() - renewed >= RENEW_SECONDS:
                await session.submit(watch, [device_id])
                renewed = time.perf_counter()
        wall = time.perf_counter() - start
        after = (cpu_seconds(agent.pid), tcp_bytes_sent(agent.pid, port), inbox.frame_bytes)
        server_watched = (cpu_seconds(x_server) - server_before) / wall
        # While watched: Pillow, mss and the shared-memory grab buffer are loaded by now.
        memory = psutil.Process(agent.pid).memory_full_info()
        await session.submit(Unwatch(), [device_id])
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait()
    collector.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await collector
    stats = json.loads(stats_file.read_text())
    # The first capture of a watch grabs and sends the whole screen; the rest is the stream.
    durations = sorted(d * 1000 for d in stats.pop("durations")[1:])
    cpu = sorted(d * 1000 for d in stats.pop("cpu_durations")[1:])
    return {
        "scene": name,
        "seconds": round(wall, 1),
        "tcp_bytes_per_second": round((after[1] - before[1]) / wall, 1),
        "frame_bytes_per_second": round((after[2] - before[2]) / wall, 1),
        "agent_cpu_percent": round(100 * (after[0] - before[0]) / wall, 3),
        "agent_cpu_percent_idle": round(100 * idle, 3),
        "x_server_cpu_percent_watched": round(100 * server_watched, 3),
        "x_server_cpu_percent_unwatched": round(100 * server_idle, 3),
        "agent_rss_mib_watched": round(memory.rss / 2**20, 1),
        "agent_uss_mib_watched": round(memory.uss / 2**20, 1),
        "frames": inbox.pictures - counts[0],
        "whole_frames": inbox.whole - counts[1],
        "first_whole_frame_bytes": inbox.first_whole_bytes,
        "capture_ms_median": round(statistics.median(durations), 3) if durations else None,
        "capture_ms_p90": round(durations[int(0.9 * (len(durations) - 1))], 3)
        if durations
        else None,
        "capture_cpu_ms_median": round(statistics.median(cpu), 3) if cpu else None,
        "load_average": os.getloadavg()[0],
        **{f"agent_{key}": value for key, value in stats.items()},
    }


def full_screen_timings(display: str, repeats: int = 200) -> dict[str, float]:
    """The whole-screen path on the static scene, timed in this process (milliseconds)."""

    figures: dict[str, float] = {}

    def median_ms(name: str, work: Any) -> None:
        """Wall time, and this thread's CPU time (the X server's share is not in it)."""
        wall, cpu = [], []
        for _ in range(repeats):
            started, cpu_started = time.perf_counter(), time.thread_time()
            work()
            wall.append(time.perf_counter() - started)
            cpu.append(time.thread_time() - cpu_started)
        figures[f"{name}_ms"] = round(statistics.median(wall) * 1000, 3)
        figures[f"{name}_cpu_ms"] = round(statistics.median(cpu) * 1000, 3)

    def keyframe(capture: Capture) -> None:
        capture.request_keyframe()
        capture.take(WIDTH)

    # The X server halving first (as the agent grabs), then the agent shrinking alone.
    for halving, suffix in ((True, ""), (False, "_shrunk_here")):
        with X11Screen(display, damage=False, server_halving=halving) as screen:
            capture = Capture(screen)
            capture.take(WIDTH)
            median_ms(f"full_grab_shrink_compare{suffix}", functools.partial(capture.take, WIDTH))
            median_ms(f"full_grab_whole_picture{suffix}", functools.partial(keyframe, capture))
    with MssScreen(display) as mss_screen:
        encoder = ThumbnailEncoder()

        def before() -> None:
            encoder.reset()
            encoder.encode(mss_screen.grab(), WIDTH)

        median_ms("previous_pipeline_whole_picture", before)
    figures["load_average"] = os.getloadavg()[0]
    return figures


async def measure(seconds: float, scenes: list[str], tk: bool, veyon: bool) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="homeroom-frames-"))
    results, veyon_results = [], []
    if veyon:
        configure_veyon()
    try:
        with xvfb() as (display, x_server):
            async with hub_process(folder) as (teacher, token, port):
                state = await enroll(token, "Bench Student", folder / "agent")
                session = ConsoleSession(teacher)
                await session.connect()
                try:
                    for name in scenes:
                        with scene(name, display):
                            results.append(
                                await watch_scene(
                                    name,
                                    display,
                                    folder,
                                    session,
                                    state.device_id,
                                    port,
                                    seconds,
                                    tk,
                                    x_server,
                                )
                            )
                            if veyon:
                                veyon_results.append(
                                    await watch_with_veyon(name, display, seconds, folder)
                                )
                finally:
                    await session.close()
            with scene("static", display):
                timings = full_screen_timings(display)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "measured": time.strftime("%Y-%m-%d %H:%M"),
        "command": " ".join(["python -m bench.frames", *sys.argv[1:]]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "screen": SCREEN,
        "watch": f"{WIDTH} px, {FPS:g} frame/s",
        "agent": "agent.runtime.Agent in its own process, over TLS to a hub process; "
        + ("Tk desktop" if tk else "headless desktop"),
        "scenes": results,
        "veyon_measured_here": veyon_results,
        "full_screen": timings,
        "veyon_from_issue_7": {
            k: {"bytes_per_second": b, "cpu_percent": c} for k, (b, c) in VEYON_FROM_ISSUE.items()
        },
    }


def report(figures: dict[str, Any]) -> None:
    print(
        f"Frames at {figures['watch']} on Xvfb {figures['screen']}; {figures['agent']}; "
        f"{figures['machine']}; {figures['measured']}"
    )
    veyon = {row["scene"]: row for row in figures["veyon_measured_here"]}
    print(
        "| screen | Homeroom bytes/s (TCP) | frame bytes/s | target | Veyon here | Veyon (issue) "
        "| Homeroom CPU % | target | Veyon here | Veyon (issue) "
        "| capture median / p90 ms (CPU ms) | frames (whole) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in figures["scenes"]:
        name = row["scene"]
        target_bytes, target_cpu = TARGETS[name]
        issue_bytes, issue_cpu = VEYON_FROM_ISSUE[name]
        here = veyon.get(name)
        if here is not None and "error" in here:
            print(f"Veyon on {name}: {here['error']}")
            here = None
        here_bytes = f"{here['tcp_bytes_per_second']:,.0f}" if here else "-"
        here_cpu = f"{here['cpu_percent']:.2f}" if here else "-"
        print(
            f"| {name} | {row['tcp_bytes_per_second']:,.0f} | {row['frame_bytes_per_second']:,.0f} "
            f"| ≤ {target_bytes:,} | {here_bytes} | {issue_bytes:,} "
            f"| {row['agent_cpu_percent']:.2f} | ≤ {target_cpu} | {here_cpu} | {issue_cpu} "
            f"| {row['capture_ms_median']} / {row['capture_ms_p90']} "
            f"({row['capture_cpu_ms_median']}) | {row['frames']} ({row['whole_frames']}) |"
        )
    idle = [row["agent_cpu_percent_idle"] for row in figures["scenes"]]
    print(f"\nagent CPU while nobody watches (5 s before each watch): {idle} %")
    memory = [
        f"{row['agent_rss_mib_watched']} / {row['agent_uss_mib_watched']}"
        for row in figures["scenes"]
    ]
    print(f"agent process memory at the end of each watch, RSS / USS MiB: {memory}")
    server = [
        f"{row['x_server_cpu_percent_watched']:.2f} / {row['x_server_cpu_percent_unwatched']:.2f}"
        for row in figures["scenes"]
    ]
    print(f"X server CPU % while watched / the 5 s before (the scene drawing alone): {server}")
    for row in figures["veyon_measured_here"]:
        if "memory" in row:
            print(f"Veyon's memory at the end of its watch of {row['scene']}: {row['memory']}")
    for key, value in figures["full_screen"].items():
        print(f"{key.replace('_', ' ')}: {value}")


def main() -> None:
    arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
    seconds = float(arguments[0]) if arguments else 60.0
    scenes = list(SCENES)
    for option in sys.argv[1:]:
        if option.startswith("--scenes="):
            scenes = option.removeprefix("--scenes=").split(",")
    veyon = "--veyon" in sys.argv[1:]
    if veyon and not veyon_available():
        raise SystemExit(
            "--veyon needs Veyon: apt-get install veyon-service veyon-plugins x11vnc (as root)."
        )
    figures = asyncio.run(measure(seconds, scenes, "--tk" in sys.argv[1:], veyon))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    report(figures)


if __name__ == "__main__":
    main()
