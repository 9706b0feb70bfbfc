"""macOS: osascript for power, sysctl and ioreg for facts, Quartz window lists for titles.

Written against Apple's documented tools and interfaces (`sysctl`, `ioreg`, System
Events through `osascript`, CoreGraphics' CGWindowListCopyWindowInfo). The parsers are
plain functions, tested on any machine. Window titles need the Screen Recording
permission (macOS 10.15 and later), which the agent needs for capture anyway.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import psutil

from protocol.messages import DisplayServer
from protocol.messages import Platform as PlatformName

from . import ActivitySample, ActivityWatcher, PowerCommands

log = logging.getLogger("homeroom.agent")

POWER_COMMANDS = PowerCommands(
    # The loginwindow's "really log out" Apple event: no confirmation dialog to dismiss.
    logoff=("osascript", "-e", 'tell application "loginwindow" to «event aevtrlgo»'),
    reboot=("osascript", "-e", 'tell application "System Events" to restart'),
    shutdown=("osascript", "-e", 'tell application "System Events" to shut down'),
)
#: Accounts below this uid are the system's (people start at 501 on macOS).
FIRST_PERSON_UID = 501
_SERIAL = re.compile(r'"IOPlatformSerialNumber"\s*=\s*"([^"]*)"')
_IDLE = re.compile(r'"HIDIdleTime"\s*=\s*(\d+)')
_PRESSURE_LEVELS = {1: "normal", 2: "warning", 4: "critical"}
_TOOL_SECONDS = 5.0


def parse_serial(ioreg_output: str) -> str | None:
    """The serial number from `ioreg -rd1 -c IOPlatformExpertDevice`."""
    match = _SERIAL.search(ioreg_output)
    return match[1] if match and match[1] else None


def parse_idle_seconds(ioreg_output: str) -> float | None:
    """Seconds since the last input, from `ioreg -c IOHIDSystem` (HIDIdleTime is in ns)."""
    match = _IDLE.search(ioreg_output)
    return int(match[1]) / 1e9 if match else None


def parse_pressure_level(sysctl_output: str) -> str | None:
    """`sysctl -n kern.memorystatus_vm_pressure_level` in words."""
    try:
        return _PRESSURE_LEVELS.get(int(sysctl_output.strip()))
    except ValueError:
        return None


def _tool(*argv: str) -> str:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=_TOOL_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout if done.returncode == 0 else ""


class MacPlatform:
    """A macOS login session; the student is the user `student_uid` (default: ours)."""

    name: PlatformName = "macos"

    def __init__(self, *, student_uid: int | None = None) -> None:
        self.student_uid = os.getuid() if student_uid is None else student_uid

    def display_server(self) -> DisplayServer:
        return "quartz"

    def power_commands(self) -> PowerCommands:
        return POWER_COMMANDS

    def refuse_process(self, process: psutil.Process) -> str | None:
        uid = process.uids().real
        if uid < FIRST_PERSON_UID:
            return "it is a system process"
        if uid != self.student_uid:
            return "it belongs to another user"
        return None

    def window_titles(self) -> dict[int, str]:
        if sys.platform != "darwin":
            return {}
        try:
            return _quartz_window_titles()
        except (OSError, AttributeError) as error:
            log.info("window titles unavailable: %s", error)
            return {}

    def machine_facts(self) -> dict[str, str]:
        facts = {}
        model = _tool("sysctl", "-n", "hw.model").strip()
        if model:
            facts["model"] = model
        cpu = _tool("sysctl", "-n", "machdep.cpu.brand_string").strip()
        if cpu:
            facts["cpu model"] = cpu
        serial = parse_serial(_tool("ioreg", "-rd1", "-c", "IOPlatformExpertDevice"))
        if serial:
            facts["serial number"] = serial
        return facts

    def memory_pressure(self) -> str | None:
        return parse_pressure_level(_tool("sysctl", "-n", "kern.memorystatus_vm_pressure_level"))

    def launch_options(self) -> dict[str, Any]:
        return {"start_new_session": True}

    def watch_activity(
        self, report: Callable[[ActivitySample], None], idle_after: float
    ) -> ActivityWatcher | None:
        # Front-application notifications come from NSWorkspace, which needs PyObjC;
        # without it the agent reports no activity rather than poll for it.
        return None


# --- CoreGraphics through ctypes ------------------------------------------------------
# CGWindowListCopyWindowInfo returns a CFArray of CFDictionaries; we read two keys of each.

_ON_SCREEN_ONLY = 1 << 0
_EXCLUDE_DESKTOP = 1 << 4
_UTF8 = 0x08000100
_SINT64 = 4


def _quartz_window_titles() -> dict[int, str]:
    cg = ctypes.CDLL(ctypes.util.find_library("CoreGraphics") or "CoreGraphics")
    cf = ctypes.CDLL(ctypes.util.find_library("CoreFoundation") or "CoreFoundation")
    void_p = ctypes.c_void_p
    cg.CGWindowListCopyWindowInfo.restype = void_p
    cf.CFArrayGetCount.restype = ctypes.c_long
    cf.CFArrayGetCount.argtypes = [void_p]
    cf.CFArrayGetValueAtIndex.restype = void_p
    cf.CFArrayGetValueAtIndex.argtypes = [void_p, ctypes.c_long]
    cf.CFDictionaryGetValue.restype = void_p
    cf.CFDictionaryGetValue.argtypes = [void_p, void_p]
    cf.CFStringCreateWithCString.restype = void_p
    cf.CFStringCreateWithCString.argtypes = [void_p, ctypes.c_char_p, ctypes.c_uint32]
    cf.CFStringGetCString.argtypes = [void_p, ctypes.c_char_p, ctypes.c_long, ctypes.c_uint32]
    cf.CFNumberGetValue.argtypes = [void_p, ctypes.c_int, void_p]
    cf.CFRelease.argtypes = [void_p]

    def key(name: bytes) -> int:
        return int(cf.CFStringCreateWithCString(None, name, _UTF8))

    pid_key, name_key = key(b"kCGWindowOwnerPID"), key(b"kCGWindowName")
    windows = cg.CGWindowListCopyWindowInfo(_ON_SCREEN_ONLY | _EXCLUDE_DESKTOP, 0)
    titles: dict[int, str] = {}
    try:
        for index in range(cf.CFArrayGetCount(windows) if windows else 0):
            entry = cf.CFArrayGetValueAtIndex(windows, index)
            number, text = (
                cf.CFDictionaryGetValue(entry, pid_key),
                cf.CFDictionaryGetValue(entry, name_key),
            )
            if not number or not text:
                continue
            pid = ctypes.c_int64()
            buffer = ctypes.create_string_buffer(2048)
            if cf.CFNumberGetValue(number, _SINT64, ctypes.byref(pid)) and cf.CFStringGetCString(
                text, buffer, len(buffer), _UTF8
            ):
                title = buffer.value.decode("utf-8", "replace")
                if title and pid.value not in titles:
                    titles[pid.value] = title
    finally:
        if windows:
            cf.CFRelease(windows)
        cf.CFRelease(pid_key)
        cf.CFRelease(name_key)
    return titles
