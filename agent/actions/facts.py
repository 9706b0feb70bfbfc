"""Facts about this device for IT: the inventory sent on connect, and system_info on demand."""

from __future__ import annotations

import platform as python_platform
import socket
import time

import psutil

from protocol.limits import MAX_ACCOUNT_NAME, MAX_OS_NAME, MAX_OS_VERSION, fit
from protocol.messages import Inventory

from ..platforms import Platform
from .text import shown

#: What a fact's value may hold (protocol.messages.Facts); longer values are clipped.
FACT_CHARS = 1024
MAX_FACTS = 128


def size(count: float) -> str:
    """Bytes for a person: 1.5 GB, 812 MB."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(count) < 1000 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


def duration(seconds: float) -> str:
    """2 d 3 h 4 min, for uptimes."""
    minutes = int(seconds // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days} d"] if days else []
    if days or hours:
        parts.append(f"{hours} h")
    parts.append(f"{minutes} min")
    return " ".join(parts)


def inventory(*, agent_version: str, user: str, screen_size: tuple[int, int]) -> Inventory:
    """What the hub keeps for the fleet view, sent once per connection."""
    width, height = screen_size
    return Inventory(
        hostname=fit(python_platform.node(), MAX_ACCOUNT_NAME, printable=True),
        os=fit(python_platform.system(), MAX_OS_NAME, printable=True),
        os_version=fit(python_platform.release(), MAX_OS_VERSION, printable=True),
        agent_version=agent_version,
        user=user,
        cpu_count=psutil.cpu_count() or 0,
        memory_bytes=psutil.virtual_memory().total,
        screen_width=width,
        screen_height=height,
        boot_time=int(psutil.boot_time()),
    )


def disks(low_share: float = 0.0) -> dict[str, str]:
    """Free and total space of each mounted disk (no pseudo file systems).

    A disk with less than `low_share` of its space free is marked LOW.
    """
    facts = {}
    for partition in psutil.disk_partitions(all=False):
        try:
            usage = psutil.disk_usage(partition.mountpoint)
        except OSError:  # a removed stick, an unreadable mount
            continue
        low = "LOW: " if usage.total and usage.free < low_share * usage.total else ""
        facts[f"disk {partition.mountpoint}"] = (
            f"{low}{size(usage.free)} free of {size(usage.total)} ({usage.percent:.0f} % used), "
            f"{partition.fstype}"
        )
    return facts


def _battery() -> dict[str, str]:
    try:
        battery = psutil.sensors_battery()
    except (OSError, NotImplementedError):
        battery = None
    if battery is None:
        return {"battery": "none"}
    if battery.power_plugged:
        state = "charging" if battery.percent < 100 else "plugged in"
    elif battery.secsleft not in (psutil.POWER_TIME_UNKNOWN, psutil.POWER_TIME_UNLIMITED):
        state = f"{duration(battery.secsleft)} left"
    else:
        state = "on battery"
    return {"battery": f"{battery.percent:.0f} %, {state}"}


def _networks() -> dict[str, str]:
    facts = {}
    stats = psutil.net_if_stats()
    for name, addresses in psutil.net_if_addrs().items():
        listed = [
            a.address
            for a in addresses
            if a.family in (socket.AF_INET, socket.AF_INET6) or a.family == psutil.AF_LINK
        ]
        up = stats.get(name)
        state = ("up" if up.isup else "down") if up else "unknown"
        speed = f", {up.speed} Mb/s" if up and up.speed else ""
        facts[f"network {name}"] = f"{state}{speed}: {', '.join(listed) or 'no address'}"
    return facts


def system_facts(platform: Platform, *, user: str, now: float | None = None) -> dict[str, str]:
    """Everything IT asks first about a device, as readable name/value pairs."""
    now = time.time() if now is None else now
    memory = psutil.virtual_memory()
    swap = psutil.swap_memory()
    boot = psutil.boot_time()
    facts = {
        "hostname": python_platform.node(),
        "os": f"{python_platform.system()} {python_platform.release()}",
        "os version": python_platform.version(),
        "architecture": python_platform.machine(),
        "user": user,
        "display server": platform.display_server(),
        "cpu cores": f"{psutil.cpu_count(logical=False) or '?'} physical, "
        f"{psutil.cpu_count() or '?'} logical",
        "memory": f"{size(memory.available)} available of {size(memory.total)}",
        "swap": f"{size(swap.used)} used of {size(swap.total)}",
        "uptime": duration(max(0.0, now - boot)),
        "python": python_platform.python_version(),
    }
    facts.update(platform.machine_facts())
    facts.update(disks())
    facts.update(_battery())
    facts.update(_networks())
    return clip(facts)


def clip(facts: dict[str, str]) -> dict[str, str]:
    """Facts within the protocol's limits: names to 64, values to 1024 characters, 128 of them."""
    return {shown(k, 64): shown(v, FACT_CHARS) for k, v in list(facts.items())[:MAX_FACTS]}
