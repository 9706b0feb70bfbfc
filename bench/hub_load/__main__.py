"""`make bench` for the hub under a school's load: connect, command round trip, relay, restart.

Usage: python -m bench.hub_load [--agents 5000] [--drivers 2] [--watched 3000] ...
The hub runs as `homeroom-hub serve` in its own process, over TLS on 127.0.0.1; simulated
devices run in `--drivers` processes (bench/hub_load/agents.py), watching consoles in one more
(watchers.py), and the console timing commands here. Prints a table and writes every figure
to bench/results/<name>.json. Phases, in order:

1. connect: every device authenticates (the morning rush, 32 handshakes in flight per driver);
2. idle: hub memory and CPU with every device connected;
3. commands: one console locks one random device at a time; round trip = signed Submit sent
   until the device's Result is back at the console;
4. relay: classes of `--class-size` devices watched at `--fps` by one console each, for
   `--seconds`; thumbnails (~12 KB) counted where the consoles receive them; commands timed
   again meanwhile;
5. restart: the hub is stopped (SIGTERM) and started again; time until every device is back,
   reconnecting with full jitter as real agents do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import psutil

from console.session import ConsoleSession
from hub.capacity import LOOP_VARIABLE, run
from protocol.actions import LockScreen
from protocol.credentials import StaffCredential
from protocol.messages import Result

from .fleet import School, build_school
from .proxy import proxy_command
from .watchers import ClassWatch, WatchPlan

RESULTS = Path(__file__).resolve().parent.parent / "results"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Reports:
    """The newest report line of each driver process, read as they arrive."""

    def __init__(self) -> None:
        self.latest: dict[int, dict[str, Any]] = {}
        self.changed = asyncio.Event()
        #: The longest any driver's event loop woke late since this was last reset.
        self.lag_ms = 0.0

    async def follow(self, key: int, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        async for line in process.stdout:
            self.latest[key] = json.loads(line)
            self.lag_ms = max(self.lag_ms, self.latest[key].get("lag_ms", 0.0))
            self.changed.set()

    def total(self, field: str, keys: range) -> int:
        return sum(int(self.latest.get(k, {}).get(field, 0)) for k in keys)

    async def until(self, predicate: Callable[[], bool], seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not predicate():
            self.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                return predicate()
        return True


class HubProcess:
    """`homeroom-hub serve` in a process of its own, with its CPU and memory read by psutil."""

    def __init__(
        self,
        school: School,
        port: int,
        loop: str,
        log_path: Path,
        profile: Path | None,
        offload: bool,
    ) -> None:
        self.school, self.port, self.loop, self.log_path = school, port, loop, log_path
        self.profile = profile
        # Behind a TLS proxy the hub listens plain on a port of its own; devices dial the proxy.
        self.offload = ["--behind-proxy"] if offload else []
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> psutil.Process:
        environment = dict(os.environ, **{LOOP_VARIABLE: self.loop})
        # The first run only: profiled under cProfile, which writes its file on Ctrl-C.
        profiling = ["-m", "cProfile", "-o", str(self.profile)] if self.profile else []
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                [
                    sys.executable,
                    *profiling,
                    "-m",
                    "hub",
                    "serve",
                    "--data",
                    str(self.school.hub_folder),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    *self.offload,
                ],
                stdout=log,
                stderr=log,
                env=environment,
            )
        return psutil.Process(self.popen.pid)

    async def listening(self) -> None:
        for _ in range(400):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                await asyncio.sleep(0.05)
        raise RuntimeError(f"the hub did not start; see {self.log_path}")

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT if self.profile else signal.SIGTERM)
            self.popen.wait()
        self.profile = None


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class CommandClock:
    """One console that signs a lock for one device and times until its result is back."""

    def __init__(self, credential: StaffCredential) -> None:
        self.session = ConsoleSession(credential)
        self.waiting: dict[str, asyncio.Future[None]] = {}
        self.lost = 0

    async def start(self) -> None:
        await self.session.connect()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for event in self.session:
            if isinstance(event, Result):
                future = self.waiting.pop(event.command_id, None)
                if future is not None and not future.done():
                    future.set_result(None)

    async def round_trips(self, devices: list[str], count: int, gap: float) -> list[float]:
        """Milliseconds from sending each signed command to its result arriving."""
        loop = asyncio.get_running_loop()
        timings: list[float] = []
        for _ in range(count):
            command = self.session.sign(LockScreen(message="Eyes on me"), [random.choice(devices)])
            arrived = loop.create_future()
            self.waiting[command.body.id] = arrived
            started = time.perf_counter()
            await self.session.send_signed(command)
            try:
                await asyncio.wait_for(arrived, 30)
            except TimeoutError:
                self.lost += 1  # counted, and left out of the percentiles
                continue
            timings.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(gap)
        return timings

    async def close(self) -> None:
        self._reader.cancel()
        await self.session.close()


def summary(timings: list[float], lost: int) -> dict[str, float]:
    if not timings:
        return {"count": 0, "lost": lost}
    return {
        "count": len(timings),
        "lost": lost,
        "p50_ms": percentile(timings, 0.50),
        "p99_ms": percentile(timings, 0.99),
        "max_ms": max(timings),
        "mean_ms": statistics.fmean(timings),
    }


async def measure(args: argparse.Namespace, figures: dict[str, Any]) -> None:
    """Run the phases, filling `figures` as they go (what was measured survives a failure)."""
    folder = Path(tempfile.mkdtemp(prefix="homeroom-load-"))
    port = free_port()
    url = f"wss://127.0.0.1:{port}"
    school = build_school(folder, url, args.agents, args.class_size)
    hub_port = free_port() if args.offload else port
    hub = HubProcess(
        school, hub_port, args.loop, folder / "hub.log", args.profile, args.offload is not None
    )
    process = hub.start()
    await hub.listening()
    proxy: subprocess.Popen[bytes] | None = None
    if args.offload:
        (folder / "proxy").mkdir()
        command = proxy_command(
            args.offload,
            folder / "proxy",
            port,
            hub_port,
            school.hub_folder / "tls-cert.pem",
            school.hub_folder / "tls-key.pem",
        )
        proxy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await HubProcess(school, port, "", folder / "proxy.log", None, False).listening()
        figures["proxy_rss_idle_mib"] = psutil.Process(proxy.pid).memory_info().rss / 2**20
    await asyncio.sleep(1)
    figures["hub_rss_idle_mib"] = process.memory_info().rss / 2**20
    reports = Reports()
    drivers: list[asyncio.subprocess.Process] = []
    followers: list[asyncio.Task[None]] = []
    per_driver = -(-args.agents // args.drivers)
    keys = range(args.drivers)
    machine_before = psutil.cpu_percent(interval=None)
    try:
        # 1. connect
        cpu_before, started = cpu_seconds(process), time.time()
        for number in keys:
            driver = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.hub_load.agents",
                str(school.states_path),
                str(number * per_driver),
                str(per_driver),
                stdout=asyncio.subprocess.PIPE,
            )
            drivers.append(driver)
            followers.append(asyncio.create_task(reports.follow(number, driver)))
        everyone = lambda: reports.total("online", keys) >= args.agents  # noqa: E731
        if not await reports.until(everyone, args.connect_timeout):
            raise RuntimeError(
                f"only {reports.total('online', keys)} of {args.agents} devices connected "
                f"within {args.connect_timeout} s; see {hub.log_path}"
            )
        connect_seconds = max(r["t"] for r in reports.latest.values()) - started
        figures["connect_seconds"] = connect_seconds
        figures["connects_per_second"] = args.agents / connect_seconds
        figures["connect_hub_cpu_percent"] = (
            100 * (cpu_seconds(process) - cpu_before) / connect_seconds
        )
        figures["connect_refused"] = reports.total("refused", keys)
        # CPU per connection does not depend on how much of the machine others take.
        figures["connect_hub_cpu_ms_per_device"] = (
            1000 * (cpu_seconds(process) - cpu_before) / args.agents
        )
        figures["connect_drivers_cpu_ms_per_device"] = (
            1000 * sum(cpu_seconds(psutil.Process(d.pid)) for d in drivers) / args.agents
        )
        figures["connect_load_average"] = os.getloadavg()[0]
        # 2. idle
        await asyncio.sleep(args.settle)
        cpu_before, idle_start = cpu_seconds(process), time.monotonic()
        await asyncio.sleep(5)
        figures["idle_hub_cpu_percent"] = (
            100 * (cpu_seconds(process) - cpu_before) / (time.monotonic() - idle_start)
        )
        rss = process.memory_info().rss
        figures["hub_rss_connected_mib"] = rss / 2**20
        figures["hub_kib_per_device"] = (
            (rss / 2**20 - figures["hub_rss_idle_mib"]) * 1024 / args.agents
        )
        figures["hub_open_files"] = process.num_fds()
        if proxy is not None:
            proxy_rss = psutil.Process(proxy.pid).memory_info().rss / 2**20
            figures["proxy_rss_connected_mib"] = proxy_rss
            figures["proxy_kib_per_device"] = (
                (proxy_rss - figures["proxy_rss_idle_mib"]) * 1024 / args.agents
            )
        # 3. commands
        # The teacher of the last class, which nobody watches in the relay phase: what is
        # timed is the hub's command path with every device connected, not this console's
        # queue of roster changes (a school-wide IT console also receives a DeviceChanged
        # for every device that starts being watched, queued ahead of its results).
        teacher_path, lesson = school.classes[-1]
        credential = StaffCredential.decode(teacher_path.read_bytes())
        clock = CommandClock(credential)
        await clock.start()
        await clock.round_trips(lesson, 20, 0.01)  # warm-up, not counted
        clock.lost = 0
        reports.lag_ms = 0.0
        timings = await clock.round_trips(lesson, args.commands, 0.01)
        figures["command_round_trip_idle"] = summary(timings, clock.lost)
        figures["command_round_trip_idle"]["driver_loop_late_max_ms"] = reports.lag_ms
        figures["command_round_trip_idle"]["load_average"] = os.getloadavg()[0]
        clock.lost = 0
        # 4. relay
        classes = [
            ClassWatch(credential=str(path), devices=devices)
            for path, devices in school.classes[: -(-args.watched // args.class_size)]
        ]
        watched = [device for lesson in classes for device in lesson.devices]
        plan_path = folder / "watch.json"
        plan_path.write_bytes(
            msgspec.json.encode(
                WatchPlan(
                    classes=classes,
                    fps=args.fps,
                    seconds=args.seconds + 10,
                )
            )
        )
        watcher = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.hub_load.watchers",
            str(plan_path),
            stdout=asyncio.subprocess.PIPE,
        )
        watcher_key = args.drivers
        followers.append(asyncio.create_task(reports.follow(watcher_key, watcher)))
        ours = range(watcher_key, watcher_key + 1)
        await reports.until(lambda: reports.total("watching", ours) >= len(classes), 60)
        await asyncio.sleep(5)  # every device has started sending
        frames_before, bytes_before = reports.total("frames", ours), reports.total("bytes", ours)
        sent_before = reports.total("frames", keys)
        cpu_before, relay_start = cpu_seconds(process), time.monotonic()
        reports.lag_ms = 0.0
        relay_rtt = asyncio.create_task(clock.round_trips(lesson, args.commands // 2, 0.05))
        await asyncio.sleep(args.seconds)
        wall = time.monotonic() - relay_start
        relayed = reports.total("frames", ours) - frames_before
        figures["relay"] = {
            "consoles": len(classes),
            "consoles_watching": reports.total("watching", ours),
            "console_sign_in_retries": reports.total("retries", ours),
            "devices_watched": len(watched),
            "fps_asked": args.fps,
            "thumbnails_sent_per_second": (reports.total("frames", keys) - sent_before) / wall,
            "thumbnails_relayed_per_second": relayed / wall,
            "mib_relayed_per_second": (reports.total("bytes", ours) - bytes_before) / wall / 2**20,
            "mean_thumbnail_bytes": (reports.total("bytes", ours) - bytes_before) / max(relayed, 1),
            "hub_cpu_percent": 100 * (cpu_seconds(process) - cpu_before) / wall,
            "hub_rss_mib": process.memory_info().rss / 2**20,
            "load_average": os.getloadavg()[0],
        }
        figures["command_round_trip_during_relay"] = summary(await relay_rtt, clock.lost)
        figures["command_round_trip_during_relay"]["driver_loop_late_max_ms"] = reports.lag_ms
        await clock.close()
        await watcher.wait()
        # 5. restart
        if args.restart:
            sessions_before = reports.total("sessions", keys)
            refused_before = reports.total("refused", keys)
            stopped = time.time()
            hub.stop()
            process = hub.start()
            restarted = time.time()
            back = lambda: (  # noqa: E731
                reports.total("sessions", keys) >= sessions_before + args.agents
                and reports.total("online", keys) >= args.agents
            )
            if await reports.until(back, args.restart_timeout):
                last = max(r["t"] for k, r in reports.latest.items() if k in keys)
                figures["restart"] = {
                    "hub_cpu_ms_per_device": 1000 * cpu_seconds(process) / args.agents,
                    "load_average": os.getloadavg()[0],
                    "all_back_seconds_after_stop": last - stopped,
                    "all_back_seconds_after_start": last - restarted,
                    "refused_while_restarting": reports.total("refused", keys) - refused_before,
                    "hub_rss_mib": process.memory_info().rss / 2**20,
                }
            else:
                figures["restart"] = {
                    "not_all_back_within_seconds": args.restart_timeout,
                    "back": reports.total("online", keys),
                }
    finally:
        for driver in drivers:
            if driver.returncode is None:
                driver.terminate()
        for driver in drivers:
            await driver.wait()
        for follower in followers:
            follower.cancel()
        hub.stop()
        if proxy is not None:
            proxy.terminate()
            proxy.wait()
    figures["machine_cpu_percent_during_run"] = psutil.cpu_percent(interval=None)
    figures["machine_cpu_percent_before"] = machine_before


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.hub_load",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--name", help="scenario name for bench/results/NAME.json")
    parser.add_argument("--agents", type=int, default=5000)
    parser.add_argument("--drivers", type=int, default=2, help="device-simulating processes")
    parser.add_argument("--watched", type=int, default=3000, help="devices watched at once")
    parser.add_argument("--class-size", type=int, default=30, help="devices per watching console")
    parser.add_argument("--fps", type=float, default=1.0, help="thumbnails a second per device")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the relay phase")
    parser.add_argument("--commands", type=int, default=400, help="commands timed while idle")
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="the hub's event loop (asyncio: the standard one)",
    )
    parser.add_argument(
        "--profile", type=Path, help="run the hub under cProfile, writing its statistics here"
    )
    parser.add_argument(
        "--offload",
        choices=("haproxy", "nginx"),
        help="TLS in this proxy, the hub plain on loopback behind it (serve --behind-proxy)",
    )
    parser.add_argument("--no-restart", dest="restart", action="store_false")
    parser.add_argument("--connect-timeout", type=float, default=300.0)
    parser.add_argument("--restart-timeout", type=float, default=180.0)
    args = parser.parse_args(argv)
    args.watched = min(args.watched, args.agents - args.class_size)  # the last class: commands
    offload = f"_{args.offload}" if args.offload else ""
    args.name = args.name or f"hub_{args.agents}_{args.loop}{offload}"
    return args


def print_table(args: argparse.Namespace, figures: dict[str, Any]) -> None:
    print(
        f"\nHomeroom hub under load: {args.agents} devices, {args.drivers} driver processes, "
        f"hub on {args.loop}, {os.cpu_count()} cores (load average before: "
        f"{figures['parameters_load_average']})"
    )
    print("| figure | value |\n|---|---:|")

    def rows(prefix: str, values: dict[str, Any]) -> None:
        for name, value in values.items():
            if isinstance(value, dict):
                rows(f"{prefix}{name} ", value)
            elif isinstance(value, float):
                print(f"| {prefix}{name.replace('_', ' ')} | {value:,.2f} |")
            else:
                print(f"| {prefix}{name.replace('_', ' ')} | {value} |")

    rows("", {k: v for k, v in figures.items() if not k.startswith("parameters")})


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    load = os.getloadavg()
    figures: dict[str, Any] = {}
    try:
        run(measure(args, figures))
    except (Exception, KeyboardInterrupt) as failure:  # keep what was measured; say what failed
        figures["failed"] = f"{type(failure).__name__}: {failure}"
        print(f"The run failed: {figures['failed']}", file=sys.stderr)
    figures["parameters_load_average"] = f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    print_table(args, figures)
    record = {
        "scenario": args.name,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "parameters": {k: v for k, v in vars(args).items() if k != "name"},
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": load,
            "load_average_after": os.getloadavg(),
        },
        "figures": figures,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{args.name}.json"
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(f"\nWritten to {path}")


if __name__ == "__main__":
    main()
