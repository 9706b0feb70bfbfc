"""Diagnostics for IT: disk space, memory pressure, the hub's round trip and name, busy programs."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import psutil

from ..platforms import Platform
from .facts import clip, disks, size
from .processes import list_processes

#: How many of the busiest programs diagnostics name.
TOP_PROGRAMS = 5
#: A disk with less free space than this share is flagged.
LOW_DISK_SHARE = 0.10
NETWORK_SECONDS = 5.0


async def diagnostics(
    platform: Platform,
    *,
    hub_url: str,
    round_trip: Callable[[], Awaitable[float]] | None,
    sample_seconds: float,
) -> dict[str, str]:
    """Run every check; each one says what it found or why it could not look."""
    facts: dict[str, str] = {}
    busy = asyncio.create_task(asyncio.to_thread(list_processes, platform, sample_seconds))
    facts["hub round trip"] = await _round_trip(round_trip)
    facts["hub name lookup"] = await _lookup(hub_url)
    facts.update(_memory(platform))
    facts.update(disks(low_share=LOW_DISK_SHARE))
    if hasattr(psutil, "getloadavg"):
        load = psutil.getloadavg()
        facts["load average"] = f"{load[0]:.2f} (1 min), {load[1]:.2f} (5 min)"
    for rank, process in enumerate((await busy)[:TOP_PROGRAMS], start=1):
        facts[f"busiest {rank}"] = (
            f"{process.name} (pid {process.pid}, {process.user or 'unknown user'}): "
            f"{process.cpu_percent:.1f} % CPU, {size(process.memory_bytes)}"
        )
    return clip(facts)


async def _round_trip(measure: Callable[[], Awaitable[float]] | None) -> str:
    if measure is None:
        return "not connected to the hub"
    try:
        async with asyncio.timeout(NETWORK_SECONDS):
            seconds = await measure()
    except TimeoutError:
        return f"no answer within {NETWORK_SECONDS:.0f} s"
    except Exception as error:  # the connection dropped while we measured
        return f"failed: {error}"
    return f"{seconds * 1000:.1f} ms"


async def _lookup(hub_url: str) -> str:
    host = urlsplit(hub_url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return f"{host} is an address: no lookup needed"
    started = time.perf_counter()
    try:
        async with asyncio.timeout(NETWORK_SECONDS):
            found = await asyncio.get_running_loop().getaddrinfo(
                host, None, type=socket.SOCK_STREAM
            )
    except TimeoutError:
        return f"{host}: no answer within {NETWORK_SECONDS:.0f} s (check the DNS server)"
    except OSError as error:
        return f"{host}: failed ({error}); check the network's DNS settings"
    elapsed = (time.perf_counter() - started) * 1000
    addresses = sorted({str(entry[4][0]) for entry in found})
    return f"{host} -> {', '.join(addresses)} in {elapsed:.0f} ms"


def _memory(platform: Platform) -> dict[str, str]:
    memory = psutil.virtual_memory()
    swap = psutil.swap_memory()
    return {
        "memory used": f"{memory.percent:.0f} % ({size(memory.available)} available "
        f"of {size(memory.total)})",
        "swap used": f"{swap.percent:.0f} % of {size(swap.total)}",
        "memory pressure": platform.memory_pressure() or "not reported by this system",
    }
