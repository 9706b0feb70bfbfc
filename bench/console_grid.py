"""The console's cost for a class of live tiles: CPU per picture, CPU and memory in all.

The console runs as its own process in a real terminal (a private tmux server, 200x60),
half-block pictures, with 40 students. A feed in that process stands in for the hub: it
answers the grid's watch with JPEG pictures of the width the grid asked for, each
changing student sending a new one every second (as agents do at the grid's 1 fps;
still screens send nothing). The pictures are encoded before the measurement starts, so
what is measured is the console: decoding, drawing, Textual's repaint and the terminal
output. The hub link's TLS and message parsing are not in it.

Usage: python -m bench.console_grid [SECONDS]                (default 30 s per scenario)
       python -m bench.console_grid --console-from DIR ...   (measure another console/)
       BENCH_PROFILE=FILE in the environment writes a cProfile of the console's event loop
       over the measured seconds to FILE-CHANGING (the painter's thread is not in it).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import io
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil
from PIL import Image, ImageDraw

PARTS = ("console", "protocol", "link")
"""What --console-from replaces."""
STUDENTS = 40
SCENARIOS = ((40, "all 40 screens change every second"), (10, "10 of 40 change (typical)"))
TERMINAL = (200, 60)
WARM_UP_SECONDS = 6.0
VARIANTS = 6
"""Distinct pictures per student, cycled: every picture differs from the one before."""


def _pictures(width: int, student: int) -> list[bytes]:
    """A student's screen at `width` pixels (16:10), in VARIANTS states, as JPEG."""
    rng = random.Random(student)
    height = max(1, width * 10 // 16)
    pictures = []
    for variant in range(VARIANTS):
        image = Image.new("RGB", (width, height), tuple(rng.randrange(256) for _ in range(3)))
        draw = ImageDraw.Draw(image)
        for _ in range(12):
            x, y = rng.randrange(width), rng.randrange(height)
            colour = tuple(rng.randrange(256) for _ in range(3))
            draw.rectangle((x, y, x + width // 5, y + height // 6), fill=colour)
        draw.text((4, 4 + variant), f"student {student} page {variant}", fill="white")
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=75)
        pictures.append(buffer.getvalue())
    return pictures


class FeedLink:
    """A HubLink that plays the hub: a roster of students, and pictures at the watched width."""

    def __init__(self, changing: int) -> None:
        self.changing = changing
        self.width = 0
        self.delivered = 0
        self._watched = asyncio.Event()

    async def run(self, app: Any) -> None:
        from console.roster import DeviceView

        app.hub_status("Benchmark feed", True)
        devices = [
            DeviceView(f"d{n:02d}", f"Student {n:02d}", "bench", online=True, watched=True)
            for n in range(STUDENTS)
        ]
        app.devices_changed(devices)
        await self._watched.wait()
        await asyncio.sleep(1.0)  # let the layout settle: the last watch sets the width
        width = self.width
        pictures = [_pictures(width, n) for n in range(STUDENTS)]
        tick = 0
        loop = asyncio.get_running_loop()
        start = loop.time()
        while True:
            for n in range(STUDENTS):
                if tick == 0 or n < self.changing:
                    app.picture_received(f"d{n:02d}", pictures[n][tick % VARIANTS])
                    self.delivered += 1
            tick += 1
            # Spread over the second like 40 agents would be: here, one burst per second.
            await asyncio.sleep(max(0.0, start + tick - loop.time()))

    async def watch(self, device_ids: Sequence[str], width: int, fps: float) -> None:
        if len(device_ids) == STUDENTS:
            self.width = width
            self._watched.set()

    async def unwatch(self, device_ids: Sequence[str]) -> None:
        pass

    async def _nothing(self, *args: object) -> None:
        pass

    lock = unlock = send_message = open_url = launch_app = close_app = screenshot = _nothing
    refresh_classes = start_class_session = end_class_session = _nothing


def child(changing: int, seconds: float, result: Path) -> None:
    """Run the console on this terminal, measure it, write the figures to `result`."""
    from console.app import ClassroomApp

    feed = FeedLink(changing)
    options: dict[str, Any] = {}
    if "pictures" in inspect.signature(ClassroomApp).parameters:
        from console.picture import PictureMode

        options["pictures"] = PictureMode.HALFBLOCK
    app = ClassroomApp(feed, **options)
    me = psutil.Process()

    async def measure() -> None:
        await asyncio.sleep(WARM_UP_SECONDS)
        profile = None
        if os.environ.get("BENCH_PROFILE"):
            import cProfile

            profile = cProfile.Profile()
            profile.enable()  # this thread: the event loop's
        cpu, delivered, start = time.process_time(), feed.delivered, time.monotonic()
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - cpu, time.monotonic() - start
        if profile is not None:
            profile.disable()
            profile.dump_stats(f"{os.environ['BENCH_PROFILE']}-{changing}")
        pictures = feed.delivered - delivered
        figures = {
            "changing": changing,
            "width": feed.width,
            "seconds": wall,
            "pictures": pictures,
            "cpu_percent": 100 * cpu / wall,
            "ms_per_picture": 1000 * cpu / max(1, pictures),
            "rss_mb": me.memory_info().rss / 2**20,
        }
        result.write_text(json.dumps(figures))
        app.exit()

    def on_mount() -> None:
        app.run_worker(measure(), name="measure")

    app.call_later(on_mount)
    app.run()


def run_scenario(changing: int, seconds: float, console_from: Path | None) -> dict[str, Any]:
    """The console in its own tmux terminal, measuring itself; its figures."""
    socket = f"homeroom-bench-{os.getpid()}-{changing}"  # a server of its own per run
    with tempfile.TemporaryDirectory(prefix="homeroom-bench-") as folder:
        result = Path(folder) / "figures.json"
        command = (
            f"cd {Path.cwd()} && {sys.executable} -m bench.console_grid"
            f" --child {changing} {seconds} {result}"
        )
        if console_from is not None:
            command += f" --console-from {console_from}"
        width, height = TERMINAL
        tmux = ["tmux", "-L", socket]
        subprocess.run(
            [
                *tmux,
                "new-session",
                "-d",
                "-s",
                "bench",
                "-x",
                str(width),
                "-y",
                str(height),
                command,
            ],
            check=True,
        )
        try:
            deadline = time.monotonic() + WARM_UP_SECONDS + seconds + 60
            while not result.exists():
                if time.monotonic() > deadline:
                    screen = subprocess.run(
                        [*tmux, "capture-pane", "-p", "-t", "bench"], capture_output=True, text=True
                    ).stdout
                    raise RuntimeError(f"the console gave no figures; its screen:\n{screen}")
                time.sleep(0.5)
            figures: dict[str, Any] = json.loads(result.read_text())
            return figures
        finally:
            subprocess.run([*tmux, "kill-server"], check=False, capture_output=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seconds", nargs="?", type=float, default=30.0)
    parser.add_argument("--console-from", type=Path, help="a folder holding another console/")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if args.console_from:
            # Ahead of this tree, which `python -m` put first on the path.
            sys.path.insert(0, str(args.console_from))
            for name in [name for name in sys.modules if name.split(".")[0] in PARTS]:
                del sys.modules[name]
        changing, seconds, result = args.child
        child(int(changing), float(seconds), Path(result))
        return
    print(
        f"Console grid: {STUDENTS} students, half-block pictures, {TERMINAL[0]}x{TERMINAL[1]} tmux,"
        f" {args.seconds:.0f} s per scenario ({platform.python_implementation()}"
        f" {platform.python_version()}, {os.cpu_count()} CPUs)"
    )
    if args.console_from:
        print(f"  console from {args.console_from}")
    for changing, label in SCENARIOS:
        figures = run_scenario(changing, args.seconds, args.console_from)
        print(
            f"  {label:<36} {figures['cpu_percent']:5.1f} % of a core,"
            f" {figures['ms_per_picture']:5.2f} ms CPU per picture"
            f" ({figures['pictures'] / figures['seconds']:.1f} pictures/s, {figures['width']} px"
            f" wide), {figures['rss_mb']:.0f} MB resident"
        )


if __name__ == "__main__":
    main()
