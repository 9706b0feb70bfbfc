"""The per-system modules' platform-free parts: rules and parsers for Linux, Windows and macOS."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from agent.actions.facts import duration, size
from agent.actions.processes import fit
from agent.platforms import PowerCommands, current
from agent.platforms.linux import (
    LinuxPlatform,
    cpu_model,
    dmi_facts,
    linux_power_commands,
    parse_pressure,
    session_display_server,
    uid_min,
)
from agent.platforms.macos import (
    MacPlatform,
    parse_idle_seconds,
    parse_pressure_level,
    parse_serial,
)
from agent.platforms.windows import (
    CREATE_NEW_PROCESS_GROUP,
    DETACHED_PROCESS,
    POWER_COMMANDS,
    WindowsPlatform,
    account_refusal,
)
from protocol.messages import ProcessInfo, Result, encode_message


def test_this_machine_gets_the_linux_platform() -> None:
    assert isinstance(current(), LinuxPlatform)


def test_linux_reads_where_people_accounts_start(tmp_path: Path) -> None:
    defs = tmp_path / "login.defs"
    defs.write_text("# comment\nUID_MIN\t\t\t 2000\nUID_MAX 60000\n#SYS_UID_MIN 100\n")
    assert uid_min(defs) == 2000
    assert uid_min(tmp_path / "missing") == 1000


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"XDG_SESSION_TYPE": "wayland", "DISPLAY": ":0"}, "wayland"),
        ({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}, "wayland"),
        ({"XDG_SESSION_TYPE": "x11", "DISPLAY": ":0"}, "x11"),
        ({"DISPLAY": ":1"}, "x11"),
        ({}, "none"),
    ],
)
def test_linux_tells_the_display_server(env: dict[str, str], expected: str) -> None:
    assert session_display_server(env) == expected


def test_linux_power_ends_this_session_or_the_users() -> None:
    session = linux_power_commands({"XDG_SESSION_ID": "c2"})
    assert session.argv("logoff") == ("loginctl", "terminate-session", "c2")
    assert session.argv("reboot") == ("systemctl", "reboot")
    assert session.argv("shutdown") == ("systemctl", "poweroff")
    assert linux_power_commands({}).logoff[:2] == ("loginctl", "terminate-user")
    with pytest.raises(ValueError):
        session.argv("format_disk")


def test_linux_pressure_cpu_and_firmware_facts(tmp_path: Path) -> None:
    pressure = (
        "some avg10=1.50 avg60=0.20 avg300=0.00 total=123\n"
        "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
    )
    assert parse_pressure(pressure) == (
        "some tasks stalled 1.50 % (10 s), 0.20 % (1 min); "
        "full tasks stalled 0.00 % (10 s), 0.00 % (1 min)"
    )
    assert parse_pressure("") is None
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Intel(R) Core(TM) i5\n")
    assert cpu_model(cpuinfo) == "Intel(R) Core(TM) i5"
    dmi = tmp_path / "dmi"
    dmi.mkdir()
    (dmi / "sys_vendor").write_text("LENOVO\n")
    (dmi / "product_name").write_text("20XW\n")
    (dmi / "product_serial").write_text("To be filled by O.E.M.\n")  # a placeholder
    assert dmi_facts(dmi) == {"manufacturer": "LENOVO", "model": "20XW"}


def test_linux_refuses_other_users_and_system_accounts() -> None:
    me = psutil.Process()
    uid = me.uids().real
    assert LinuxPlatform(student_uid=uid, first_person_uid=0).refuse_process(me) is None
    other = LinuxPlatform(student_uid=uid + 1, first_person_uid=0)
    assert other.refuse_process(me) == "it belongs to another user"
    system = LinuxPlatform(student_uid=uid, first_person_uid=uid + 1)
    assert system.refuse_process(me) == "it is a system process"


@pytest.mark.parametrize(
    ("owner", "expected"),
    [
        ("SCHOOL\\ada", None),
        ("school\\ADA", None),
        ("NT AUTHORITY\\SYSTEM", "it is a system process"),
        ("NT AUTHORITY\\LOCAL SERVICE", "it is a system process"),
        ("SCHOOL\\bilal", "it belongs to another user"),
        (None, "it is a system process"),
    ],
)
def test_windows_closes_only_the_students_programs(owner: str | None, expected: str | None) -> None:
    assert account_refusal(owner, "SCHOOL\\ada") == expected


def test_windows_power_and_launch_settings() -> None:
    assert POWER_COMMANDS.argv("reboot") == ("shutdown.exe", "/r", "/t", "0")
    assert POWER_COMMANDS.argv("logoff") == ("shutdown.exe", "/l")
    windows = WindowsPlatform(student="ada")
    assert windows.launch_options() == {
        "creationflags": DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP
    }
    assert windows.window_titles() == {} and windows.machine_facts() == {}  # not Windows here


def test_macos_parsers() -> None:
    ioreg = '    "IOPlatformUUID" = "ABC"\n    "IOPlatformSerialNumber" = "C02XK1ABJG5H"\n'
    assert parse_serial(ioreg) == "C02XK1ABJG5H"
    assert parse_serial("nothing") is None
    assert parse_idle_seconds('  "HIDIdleTime" = 2500000000\n') == 2.5
    assert parse_pressure_level("4\n") == "critical"
    assert parse_pressure_level("oops") is None


def test_macos_refuses_system_accounts() -> None:
    me = psutil.Process()
    uid = me.uids().real
    expected = "it is a system process" if uid < 501 else None
    assert MacPlatform(student_uid=uid).refuse_process(me) == expected


def test_sizes_and_durations_read_well() -> None:
    assert size(512) == "512 B" and size(1_500_000) == "1.5 MB" and size(2.5e12) == "2.5 TB"
    assert duration(59) == "0 min" and duration(3 * 3600 + 120) == "3 h 2 min"
    assert duration(2 * 86400 + 60) == "2 d 0 h 1 min"


def test_power_commands_name_their_actions() -> None:
    commands = PowerCommands(logoff=("a",), reboot=("b",), shutdown=("c",))
    assert [commands.argv(k) for k in ("logoff", "reboot", "shutdown")] == [("a",), ("b",), ("c",)]


def test_a_process_list_is_cut_to_fit_one_result() -> None:
    long = ProcessInfo(pid=1, name="n" * 255, window_title="t" * 500)
    listed = fit([long] * 4096, Result.MAX_BYTES - 8 * 1024)
    assert 0 < len(listed) < 4096
    result = Result(command_id="c" * 32, device_id="d" * 64, ok=True, processes=listed)
    assert len(encode_message(result)) <= Result.MAX_BYTES
