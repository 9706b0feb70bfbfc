"""Linux: logind and systemd for power, /proc and /sys for facts, X11 for windows and activity."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from protocol.messages import DisplayServer
from protocol.messages import Platform as PlatformName

from . import ActivitySample, ActivityWatcher, PowerCommands

log = logging.getLogger("homeroom.agent")

#: Where the kernel publishes the firmware's idea of the machine (serials: root only, often).
DMI_FOLDER = Path("/sys/class/dmi/id")
_DMI_FACTS = {
    "sys_vendor": "manufacturer",
    "product_name": "model",
    "product_version": "model version",
    "product_serial": "serial number",
    "board_serial": "board serial",
    "bios_version": "firmware version",
}
#: kthreadd: the parent of every kernel thread.
_KTHREADD = 2
_UID_MIN = re.compile(r"^\s*UID_MIN\s+(\d+)\s*$", re.MULTILINE)


def uid_min(login_defs: Path = Path("/etc/login.defs")) -> int:
    """The lowest uid a person's account gets here (below it: system accounts)."""
    try:
        match = _UID_MIN.search(login_defs.read_text(errors="replace"))
    except OSError:
        match = None
    return int(match[1]) if match else 1000


def session_display_server(env: dict[str, str] | os._Environ[str] = os.environ) -> DisplayServer:
    """x11, wayland or none, from the session's environment as the desktop set it."""
    kind = env.get("XDG_SESSION_TYPE", "")
    if kind == "wayland" or env.get("WAYLAND_DISPLAY"):
        # XWayland gives a DISPLAY too, but it sees only X programs: not the screen.
        return "wayland"
    if kind == "x11" or env.get("DISPLAY"):
        return "x11"
    return "none"


def linux_power_commands(env: dict[str, str] | os._Environ[str] = os.environ) -> PowerCommands:
    """logind ends this session (or every session of this user); systemd restarts or halts."""
    session = env.get("XDG_SESSION_ID")
    logoff = (
        ("loginctl", "terminate-session", session)
        if session
        else ("loginctl", "terminate-user", str(os.getuid()))
    )
    return PowerCommands(
        logoff=logoff,
        reboot=("systemctl", "reboot"),
        shutdown=("systemctl", "poweroff"),
    )


def parse_pressure(text: str) -> str | None:
    """/proc/pressure/memory in words: the share of time tasks waited for memory."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        fields = dict(item.split("=", 1) for item in rest.split() if "=" in item)
        if kind in ("some", "full") and "avg10" in fields:
            found[kind] = f"{fields['avg10']} % (10 s), {fields.get('avg60', '?')} % (1 min)"
    if not found:
        return None
    return "; ".join(f"{kind} tasks stalled {value}" for kind, value in found.items())


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware") and value.strip():
            return value.strip()
    return None


def dmi_facts(folder: Path = DMI_FOLDER) -> dict[str, str]:
    """Manufacturer, model and serials, where readable (serials are often root's only)."""
    facts = {}
    for file, fact in _DMI_FACTS.items():
        try:
            value = (folder / file).read_text(errors="replace").strip()
        except OSError:
            continue
        # Firmware is full of placeholders; they say nothing about the machine.
        if value and value.lower() not in ("to be filled by o.e.m.", "default string", "none"):
            facts[fact] = value
    return facts


class LinuxPlatform:
    """A Linux desktop session; the student is the user `student_uid` (default: ours)."""

    name: PlatformName = "linux"

    def __init__(
        self,
        *,
        student_uid: int | None = None,
        first_person_uid: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.student_uid = os.getuid() if student_uid is None else student_uid
        self.first_person_uid = uid_min() if first_person_uid is None else first_person_uid
        self.env = dict(os.environ if env is None else env)

    def display_server(self) -> DisplayServer:
        return session_display_server(self.env)

    def power_commands(self) -> PowerCommands:
        return linux_power_commands(self.env)

    def refuse_process(self, process: psutil.Process) -> str | None:
        with process.oneshot():
            if process.pid == _KTHREADD or process.ppid() == _KTHREADD:
                return "it is part of the operating system (a kernel thread)"
            uid = process.uids().real
        if uid < self.first_person_uid:
            return "it is a system process"
        if uid != self.student_uid:
            return "it belongs to another user"
        return None

    def window_titles(self) -> dict[int, str]:
        display = self.env.get("DISPLAY")
        if self.display_server() != "x11" or not display:
            return {}
        from .x11 import window_titles

        try:
            return window_titles(display)
        except Exception as error:  # no X server, or it went away: titles are best effort
            log.info("window titles unavailable: %s", error)
            return {}

    def machine_facts(self) -> dict[str, str]:
        facts = dmi_facts()
        model = cpu_model()
        if model:
            facts["cpu model"] = model
        return facts

    def memory_pressure(self) -> str | None:
        try:
            return parse_pressure(Path("/proc/pressure/memory").read_text())
        except OSError:  # kernels before 4.20, or PSI switched off
            return None

    def launch_options(self) -> dict[str, Any]:
        # Its own session: the program is not in our process group, so it neither gets
        # our signals nor dies with us.
        return {"start_new_session": True}

    def watch_activity(
        self, report: Callable[[ActivitySample], None], idle_after: float
    ) -> ActivityWatcher | None:
        display = self.env.get("DISPLAY")
        if self.display_server() != "x11" or not display:
            return None
        from .x11 import X11ActivityWatcher

        try:
            return X11ActivityWatcher(display, report, idle_after=idle_after)
        except Exception as error:
            log.warning("cannot watch the active window on %s: %s", display, error)
            return None
