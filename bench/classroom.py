"""A hub under a classroom's load: N agents streaming thumbnails to one console, over TLS.

The hub runs as its own process (`homeroom-hub serve`), so its CPU and memory are
measured apart from the simulated agents, which run here on the same machine.
Usage: python -m bench.classroom [AGENTS] [SECONDS]
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from agent.desktop import HeadlessDesktop
from agent.enrollment import enroll
from agent.runtime import Agent
from agent.screen import SyntheticScreen
from console.demo import certified_staff, set_up_school
from console.session import ConsoleSession, Picture
from hub.admin import create_token
from hub.store import Store
from protocol.actions import Watch
from protocol.certificates import Role
from protocol.frames import encode_frame


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def measure(agents: int, seconds: float) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="homeroom-bench-"))
    port = free_port()
    url = f"wss://127.0.0.1:{port}"
    org, keyring = set_up_school(folder, hub_url=url, names=["127.0.0.1"])
    now = int(time.time())
    with Store.open(keyring.store_path) as store:
        token = create_token(keyring, store, group="bench", uses=agents, lifetime=3600, now=now)
        teacher = certified_staff(
            org,
            keyring,
            store,
            name="Bench Teacher",
            role=Role.TEACHER,
            groups=("bench",),
            now=now - 60,
        )
    hub = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hub",
            "serve",
            "--data",
            str(folder / "hub"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    process = psutil.Process(hub.pid)
    tasks: list[asyncio.Task[None]] = []
    try:
        for _ in range(100):  # the hub is up once it accepts a connection
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        idle_rss = process.memory_info().rss
        running = []
        for number in range(agents):
            state = await enroll(token.encode(), f"Student {number:03d}", folder / f"a{number}")
            agent = Agent(
                state,
                screen=SyntheticScreen(f"Student {number}", number, (640, 400)),
                desktop=HeadlessDesktop(),
                folder=folder / f"a{number}",
            )
            running.append(agent)
            tasks.append(asyncio.create_task(agent.run()))
        while sum(agent.connected.is_set() for agent in running) < agents:
            await asyncio.sleep(0.1)
        connected_rss = process.memory_info().rss
        console = ConsoleSession(teacher)
        await console.connect()
        events = console.__aiter__()
        await anext(events)  # the roster
        await console.submit(
            Watch(width=320, fps=1.0, lease_seconds=120),
            [agent.state.device_id for agent in running],
        )
        pictures, received = 0, 0
        cpu_before = process.cpu_times()
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            try:
                async with asyncio.timeout(seconds - elapsed):
                    event = await anext(events)
            except TimeoutError:
                break
            if isinstance(event, Picture):
                pictures += 1
                received += len(encode_frame(event.frame))  # whole or tiles, with header
        cpu_after = process.cpu_times()
        wall = time.perf_counter() - start
        busy = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
        await console.close()
        return {
            "agents": agents,
            "pictures_per_second": pictures / wall,
            "kib_per_second": received / wall / 1024,
            "hub_cpu_percent": 100 * busy / wall,
            "hub_rss_idle_mib": idle_rss / 2**20,
            "hub_rss_connected_mib": connected_rss / 2**20,
            "rss_per_connection_kib": (connected_rss - idle_rss) / agents / 1024,
            "agent_frames_sent": sum(agent.frames_sent for agent in running),
        }
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        hub.terminate()
        hub.wait()


def synthetic_grab_ms(size: tuple[int, int], grabs: int = 50) -> float:
    """Median milliseconds of one simulated student's grab (the demo runs dozens at once)."""
    source = SyntheticScreen("Ada Lovelace", seed=1, size=size)
    timings = []
    for _ in range(grabs):
        start = time.perf_counter()
        source.grab()
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


def main() -> None:
    agents = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    figures = asyncio.run(measure(agents, seconds))
    for width, height in ((640, 400), (1280, 800)):
        figures[f"simulated student's grab at {width}x{height}, median ms"] = synthetic_grab_ms(
            (width, height)
        )
    print(
        f"Homeroom hub under load: {agents} agents over TLS on loopback, one console "
        f"watching all at 320 px, 1 fps, for {seconds:g} s ({os.cpu_count()} cores)"
    )
    print("| figure | value |\n|---|---:|")
    for name, value in figures.items():
        print(f"| {name.replace('_', ' ')} | {value:,.1f} |")


if __name__ == "__main__":
    main()
