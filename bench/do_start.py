"""What a `homeroom-console do` costs from a new process, and the same for other trees side by side.

Usage: python -m bench.do_start [RUNS] [TREE ...]

A real hub in its own process (TLS on 127.0.0.1) with one enrolled device that is not
running: `do message --to DEVICE_ID text=... --queue` then goes the whole way (start,
imports, TLS, handshake, signed command) and the hub answers QUEUED. Each TREE (a checkout
of this project; default: this one) runs RUNS times, the trees taking turns and the order
flipping every round, so a machine whose speed drifts (a shared one does, by 50 % within an
hour) weighs on each alike. Per tree, median and 10th percentile of:

- imports + command: from the process's first line of Python to the command's end;
- exit: from there to the process's end (the interpreter's clean-up);
- CPU: the process's own CPU time (user + system), start to exit;
- wall: start to exit.

The device's message window is not part of it: `bench.desktop_latency` times that.
"""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agent.enrollment import enroll

from .frames import hub_process

# Runs the tree's installed entry point (console.start from 2026-12-04, console.cli before),
# and prints how long the process took to get through the command (imports included) and
# when that was, so the time left until the process has ended (the interpreter's own
# clean-up) can be told apart.
_TIMED_ENTRY = """
import sys, time
started = time.perf_counter()
try:
    from console.start import main
except ImportError:
    from console.cli import main as command_line
    main = lambda: command_line(sys.argv[1:])
status = main()
took = (time.perf_counter() - started) * 1000
print(f"command {took:.3f} ended {time.time():.6f}", file=sys.stderr)
sys.exit(status)
"""


def _cpu_ms() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (used.ru_utime + used.ru_stime) * 1000


def run_once(tree: Path, arguments: list[str]) -> dict[str, float]:
    cpu_before, started = _cpu_ms(), time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _TIMED_ENTRY, *arguments],
        env={**os.environ, "PYTHONPATH": str(tree)},
        cwd=tree,
        capture_output=True,
        text=True,
    )
    wall = (time.perf_counter() - started) * 1000
    if done.returncode != 0 or "QUEUED" not in done.stdout:
        raise RuntimeError(f"`do` failed in {tree}: {done.stdout}{done.stderr}")
    exited = time.time()
    command, ended = (float(w) for w in done.stderr.rsplit("command ", 1)[1].split()[::2])
    return {
        "command": command,
        "exit": (exited - ended) * 1000,
        "cpu": _cpu_ms() - cpu_before,
        "wall": wall,
    }


async def measure(runs: int, trees: list[Path]) -> dict[Path, dict[str, list[float]]]:
    figures: dict[Path, dict[str, list[float]]] = {t: {} for t in trees}
    with tempfile.TemporaryDirectory(prefix="homeroom-bench-do-") as folder:
        async with hub_process(Path(folder)) as (teacher, token, port):
            device = await enroll(token, "Bench laptop", Path(folder) / "agent")
            credential = Path(folder) / "teacher.credential"
            credential.write_bytes(teacher.encode())
            arguments = [
                *("--credential", str(credential), "--hub", f"wss://127.0.0.1:{port}"),
                *("do", "message", "--to", device.device_id, "text=From the bench", "--queue"),
            ]
            for tree in trees:  # once each first: the disk cache, not the code, would differ
                await asyncio.to_thread(run_once, tree, arguments)
            for index in range(runs):
                for tree in trees if index % 2 else trees[::-1]:
                    row = await asyncio.to_thread(run_once, tree, arguments)
                    for name, value in row.items():
                        figures[tree].setdefault(name, []).append(value)
    return figures


def main() -> None:
    arguments = sys.argv[1:]
    runs = int(arguments.pop(0)) if arguments and arguments[0].isdigit() else 20
    trees = [Path(a).resolve() for a in arguments] or [Path.cwd()]
    figures = asyncio.run(measure(runs, trees))
    print(f"`homeroom-console do` from a new process, {runs} runs per tree, trees in turn")
    print("| tree | imports + command, median (p10) ms | exit | CPU | wall, start to end |")
    print("|---|---:|---:|---:|---:|")
    for tree, values in figures.items():
        cells = [
            f"{statistics.median(values[n]):.1f} ({sorted(values[n])[len(values[n]) // 10]:.1f})"
            for n in ("command", "exit", "cpu", "wall")
        ]
        print(f"| {tree} | {' | '.join(cells)} |")
    print(f"load average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
