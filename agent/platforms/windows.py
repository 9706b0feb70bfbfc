"""Windows: shutdown.exe for power, the registry for facts, user32 for windows and activity.

Written against Microsoft's documented Win32 interfaces (user32 EnumWindows,
SetWinEventHook, GetLastInputInfo; advapi32 through `winreg`). Importable anywhere:
the Windows-only parts load when called, and the rules are plain functions tested on Linux.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

import psutil

from protocol.messages import DisplayServer
from protocol.messages import Platform as PlatformName

from . import ActivitySample, ActivityWatcher, PowerCommands

log = logging.getLogger("homeroom.agent")

POWER_COMMANDS = PowerCommands(
    logoff=("shutdown.exe", "/l"),
    reboot=("shutdown.exe", "/r", "/t", "0"),
    shutdown=("shutdown.exe", "/s", "/t", "0"),
)
#: The built-in service accounts: whatever runs as them is the system's, never a student's.
SERVICE_ACCOUNTS = frozenset({"system", "local service", "network service"})
#: The System Idle Process and System.
SYSTEM_PIDS = frozenset({0, 4})
# Process creation flags (winbase.h): no console of ours, and not in our Ctrl+C group.
DETACHED_PROCESS = 0x00000008
CREATE_NEW_PROCESS_GROUP = 0x00000200
# WinUser.h
EVENT_SYSTEM_FOREGROUND = 0x0003
EVENT_OBJECT_NAMECHANGE = 0x800C
WINEVENT_OUTOFCONTEXT = 0x0000
WM_QUIT = 0x0012
WM_TIMER = 0x0113
_BIOS_KEY = r"HARDWARE\DESCRIPTION\System\BIOS"
_CPU_KEY = r"HARDWARE\DESCRIPTION\System\CentralProcessor\0"
_BIOS_FACTS = {
    "SystemManufacturer": "manufacturer",
    "SystemProductName": "model",
    "BIOSVersion": "firmware version",
}


#: Callbacks use the stdcall convention on 32-bit Windows; elsewhere C's (for imports only).
_WINFUNCTYPE: Any = getattr(ctypes, "WINFUNCTYPE", ctypes.CFUNCTYPE)


@functools.cache
def _dll(name: str) -> Any:
    """A Win32 library by name (Windows only; the stubs hide WinDLL on other systems)."""
    return ctypes.WinDLL(name)  # type: ignore[attr-defined,unused-ignore]


def account_refusal(owner: str | None, student: str) -> str | None:
    """Why a process owned by `owner` ("DOMAIN\\user") is not the student's, or None."""
    if not owner:
        return "it is a system process"  # a student cannot even read its owner
    account = owner.rpartition("\\")[2].lower()
    if account in SERVICE_ACCOUNTS:
        return "it is a system process"
    if account != student.rpartition("\\")[2].lower():
        return "it belongs to another user"
    return None


class WindowsPlatform:
    """A Windows desktop session; the student is the account `student` (default: ours)."""

    name: PlatformName = "windows"

    def __init__(self, *, student: str | None = None) -> None:
        import getpass

        self.student = student or getpass.getuser()

    def display_server(self) -> DisplayServer:
        return "windows"

    def power_commands(self) -> PowerCommands:
        return POWER_COMMANDS

    def refuse_process(self, process: psutil.Process) -> str | None:
        if process.pid in SYSTEM_PIDS:
            return "it is part of the operating system"
        try:
            owner: str | None = process.username()
        except psutil.AccessDenied:
            owner = None
        return account_refusal(owner, self.student)

    def window_titles(self) -> dict[int, str]:
        if sys.platform != "win32":
            return {}
        user32 = _dll("user32")
        titles: dict[int, str] = {}

        @_WINFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_void_p)
        def visit(hwnd: int, _: int) -> bool:
            if user32.IsWindowVisible(hwnd):
                title = _window_text(hwnd)
                pid = ctypes.c_ulong()
                user32.GetWindowThreadProcessId(hwnd, ctypes.byref(pid))
                if title and pid.value not in titles:
                    titles[pid.value] = title
            return True

        user32.EnumWindows(visit, 0)
        return titles

    def machine_facts(self) -> dict[str, str]:
        if sys.platform != "win32":
            return {}
        import winreg

        facts: dict[str, str] = {}
        sources = ((_BIOS_KEY, _BIOS_FACTS), (_CPU_KEY, {"ProcessorNameString": "cpu model"}))
        for key_path, names in sources:
            try:
                with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, key_path) as key:
                    for value_name, fact in names.items():
                        try:
                            value, _ = winreg.QueryValueEx(key, value_name)
                        except OSError:
                            continue
                        if str(value).strip():
                            facts[fact] = str(value).strip()
            except OSError:
                continue
        # The serial number is only in WMI (Win32_BIOS.SerialNumber), not in the registry.
        return facts

    def memory_pressure(self) -> str | None:
        return None  # Windows has no pressure figure beyond the memory load diagnostics show

    def launch_options(self) -> dict[str, Any]:
        return {"creationflags": DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP}

    def watch_activity(
        self, report: Callable[[ActivitySample], None], idle_after: float
    ) -> ActivityWatcher | None:
        if sys.platform != "win32":
            return None
        return WindowsActivityWatcher(report, idle_after=idle_after)


def _window_text(hwnd: int) -> str:
    user32 = _dll("user32")
    length = user32.GetWindowTextLengthW(hwnd)
    if length <= 0:
        return ""
    buffer = ctypes.create_unicode_buffer(length + 1)
    user32.GetWindowTextW(hwnd, buffer, length + 1)
    return buffer.value


class _LastInputInfo(ctypes.Structure):
    _fields_ = [("cbSize", ctypes.c_uint), ("dwTime", ctypes.c_uint)]


def idle_seconds() -> float:
    """Seconds since the last keyboard or mouse input in this session (GetLastInputInfo)."""
    info = _LastInputInfo(cbSize=ctypes.sizeof(_LastInputInfo))
    _dll("user32").GetLastInputInfo(ctypes.byref(info))
    elapsed = (_dll("kernel32").GetTickCount() - info.dwTime) & 0xFFFFFFFF
    return float(elapsed) / 1000.0


class WindowsActivityWatcher:
    """Foreground-window and title changes from WinEvent hooks; idleness from a timer.

    Windows sends no event when input resumes, so an idle student is re-checked every
    few seconds; while active, the timer is set for the moment they would become idle.
    """

    RECHECK_SECONDS = 5.0

    def __init__(self, report: Callable[[ActivitySample], None], *, idle_after: float) -> None:
        self._report = report
        self._idle_after = idle_after
        self._last: tuple[str, str, bool] | None = None
        self._thread_id = 0
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="homeroom-activity", daemon=True)
        self._thread.start()
        self._started.wait(5)

    def stop(self) -> None:
        if self._thread_id:
            _dll("user32").PostThreadMessageW(self._thread_id, WM_QUIT, 0, 0)
            self._thread.join(timeout=5)
            self._thread_id = 0

    def _run(self) -> None:
        user32 = _dll("user32")
        self._thread_id = _dll("kernel32").GetCurrentThreadId()
        callback_type = _WINFUNCTYPE(
            None, ctypes.c_void_p, ctypes.c_uint, ctypes.c_void_p,
            ctypes.c_long, ctypes.c_long, ctypes.c_uint, ctypes.c_uint,
        )  # fmt: skip

        def on_event(*_: Any) -> None:
            self._emit()

        callback = callback_type(on_event)  # kept alive by this frame for the loop's life
        hooks = [
            user32.SetWinEventHook(kind, kind, None, callback, 0, 0, WINEVENT_OUTOFCONTEXT)
            for kind in (EVENT_SYSTEM_FOREGROUND, EVENT_OBJECT_NAMECHANGE)
        ]
        self._started.set()
        message = ctypes.create_string_buffer(64)  # an MSG, which we only pass along
        timer = user32.SetTimer(None, 0, self._next_check_ms(), None)
        self._emit()
        try:
            while user32.GetMessageW(message, None, 0, 0) > 0:
                user32.TranslateMessage(message)
                user32.DispatchMessageW(message)
                self._emit()
                user32.KillTimer(None, timer)
                timer = user32.SetTimer(None, 0, self._next_check_ms(), None)
        finally:
            user32.KillTimer(None, timer)
            for hook in hooks:
                user32.UnhookWinEvent(hook)

    def _next_check_ms(self) -> int:
        idle = idle_seconds()
        wait = self.RECHECK_SECONDS if idle >= self._idle_after else self._idle_after - idle
        return max(50, int(wait * 1000))

    def _emit(self) -> None:
        user32 = _dll("user32")
        hwnd = user32.GetForegroundWindow()
        pid = ctypes.c_ulong()
        user32.GetWindowThreadProcessId(hwnd, ctypes.byref(pid))
        try:
            app = psutil.Process(pid.value).name() if pid.value else ""
        except psutil.Error:
            app = ""
        title = _window_text(hwnd) if hwnd else ""
        idle = idle_seconds()
        is_idle = idle >= self._idle_after
        key = (app, title, is_idle)
        if key == self._last:
            return
        self._last = key
        self._report(
            ActivitySample(app=app, title=title, idle_seconds=max(1, int(idle)) if is_idle else 0)
        )
