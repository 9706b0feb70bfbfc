"""The policy file an admin writes (TOML), read into PolicyRules; errors name the line.

The format is described, with an example, in docs/operations.md ("Policy: when staff may
do what"). Reading is pure: the caller reads the file and passes its text and name.
tomllib reports syntax errors with their line; the rules it cannot know (a time of
"25:00", an unknown action) are found here, and `_Lines` finds the line they are on.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import tomllib
from collections.abc import Callable
from datetime import date, time
from typing import Any

import msgspec

from .actions import ACTIONS
from .certificates import Role
from .policy import ALL_ACTIONS, WEEKDAYS, PolicyRules

_TOP = {"time_zone", "school_week", "terms", "holidays", "network", "window", "note"}
_WINDOW = {
    "name",
    "start",
    "end",
    "days",
    "on",
    "network",
    "capture",
    "lock_device",
    "lock_message",
    "allow",
}
_CHOICES = {
    "on": ("any_day", "school_days", "other_days"),
    "network": ("any", "school", "away"),
}
_STAFF_ROLES = tuple(r.value for r in Role if r is not Role.HUB)
Path = tuple[str | int, ...]


class PolicyFileError(ValueError):
    """The policy file is wrong; the message names the file, the line and what to write."""


def read_policy(
    text: str, source: str = "policy file", known_zone: Callable[[str], bool] | None = None
) -> PolicyRules:
    """The rules in a policy file's `text`, or PolicyFileError naming `source` and the line.

    `known_zone` says whether a time zone name is in the tz database (the caller looks).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PolicyFileError(f"{source}: not valid TOML: {error}") from None
    reader = _Reader(text, source)
    rules = reader.rules(data)
    if known_zone is not None and not known_zone(rules.time_zone):
        raise reader.fail(
            ("time_zone",),
            f"{rules.time_zone!r} is not a time zone this computer knows; "
            'use a tz database name such as "Europe/London"',
        )
    return rules


class _Reader:
    def __init__(self, text: str, source: str) -> None:
        self.lines = _Lines(text)
        self.source = source

    def fail(self, path: Path, problem: str) -> PolicyFileError:
        line = self.lines.of(path)
        where = f", line {line}" if line is not None else ""
        return PolicyFileError(f"{self.source}{where}: {problem}")

    def rules(self, data: dict[str, Any]) -> PolicyRules:
        self.unknown(data, _TOP, ())
        if "time_zone" not in data:
            raise self.fail((), 'name the time zone, e.g. time_zone = "Europe/London"')
        windows = data.get("window", [])
        if not isinstance(windows, list) or not windows:
            raise self.fail(("window",), "a policy needs at least one [[window]]")
        network = data.get("network", {})
        if not isinstance(network, dict):
            raise self.fail(("network",), "network is a table: [network] school = [...]")
        self.unknown(network, {"school"}, ("network",))
        for text in network.get("school", []):
            try:
                ipaddress.ip_network(text, strict=False)
            except (TypeError, ValueError):
                raise self.fail(
                    ("network", "school"), f"{text!r} is not an address range like 10.20.0.0/16"
                ) from None
        fields = {
            "time_zone": data["time_zone"],
            "windows": [self.window(w, i) for i, w in enumerate(windows)],
            "school_week": self.days(data.get("school_week", list(WEEKDAYS[:5])), ("school_week",)),
            "terms": [self.dates(t, ("terms", i)) for i, t in enumerate(data.get("terms", []))],
            "holidays": [
                self.dates(h, ("holidays", i)) for i, h in enumerate(data.get("holidays", []))
            ],
            "school_networks": network.get("school", []),
            "note": data.get("note", ""),
        }
        try:
            rules: PolicyRules = msgspec.convert(fields, PolicyRules)
        except (msgspec.ValidationError, ValueError) as error:
            raise self.fail(_path_of(str(error)), _problem(str(error))) from None
        return rules

    def window(self, window: Any, index: int) -> dict[str, Any]:
        path: Path = ("window", index)
        if not isinstance(window, dict):
            raise self.fail(path, "each window is a [[window]] table")
        self.unknown(window, _WINDOW, path)
        for key in ("name", "start", "end"):
            if key not in window:
                raise self.fail(path, f"window {index + 1} has no {key}")
        name = window["name"]
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", name):
            raise self.fail(
                (*path, "name"),
                f"{name!r} cannot name a window: use lower-case letters, digits, - or _",
            )
        out = dict(window)
        out["start"] = self.clock(window["start"], (*path, "start"))
        out["end"] = self.clock(window["end"], (*path, "end"))
        if "days" in window:
            out["days"] = self.days(window["days"], (*path, "days"))
        for key, choices in _CHOICES.items():
            if key in window and window[key] not in choices:
                raise self.fail(
                    (*path, key), f"{key} is one of {', '.join(choices)}, not {window[key]!r}"
                )
        for key in ("capture", "lock_device"):
            if key in window and not isinstance(window[key], bool):
                raise self.fail((*path, key), f"{key} is true or false")
        out["allow"] = self.grants(window.get("allow", {}), (*path, "allow"))
        try:
            msgspec.convert(out, _window_type())
        except (msgspec.ValidationError, ValueError) as error:
            raise self.fail(
                (*path, *_path_of(str(error))), f"window {name!r}: {_problem(str(error))}"
            ) from None
        return out

    def grants(self, allow: Any, path: Path) -> list[dict[str, Any]]:
        if not isinstance(allow, dict):
            raise self.fail(path, "allow is a table of role = [actions]")
        grants = []
        for role, actions in allow.items():
            if role not in _STAFF_ROLES:
                raise self.fail(
                    (*path, role), f"{role!r} is not a role; use {', '.join(_STAFF_ROLES)}"
                )
            if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
                raise self.fail((*path, role), f'{role} = ["action", ...] (or ["*"] for all)')
            for action in actions:
                if action != ALL_ACTIONS and action not in ACTIONS:
                    raise self.fail(
                        (*path, role),
                        f"{action!r} is not an action; actions are {', '.join(sorted(ACTIONS))}",
                    )
            grants.append({"role": role, "actions": actions})
        return grants

    def clock(self, value: Any, path: Path) -> str:
        if isinstance(value, time) and not value.second and value.tzinfo is None:
            return f"{value.hour:02d}:{value.minute:02d}"
        if isinstance(value, str) and re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", value):
            return value
        raise self.fail(path, f'{value!r} is not a time of day; write it as "HH:MM", e.g. "21:30"')

    def days(self, value: Any, path: Path) -> list[int]:
        if not isinstance(value, list) or not value:
            raise self.fail(path, 'days are a list such as ["mon", "tue", "wed", "thu", "fri"]')
        days = []
        for day in value:
            key = day[:3].lower() if isinstance(day, str) and len(day) >= 3 else None
            if key not in WEEKDAYS or not WEEKDAYS[WEEKDAYS.index(key)].startswith(key):
                raise self.fail(path, f"{day!r} is not a day; use {', '.join(WEEKDAYS)}")
            days.append(WEEKDAYS.index(key))
        return sorted(set(days))

    def dates(self, value: Any, path: Path) -> dict[str, str]:
        if not isinstance(value, dict):
            raise self.fail(path, "a term or holiday is a table with start and end dates")
        self.unknown(value, {"start", "end", "name"}, path)
        out = {}
        for key in ("start", "end"):
            day = value.get(key)
            if isinstance(day, str):
                with contextlib.suppress(ValueError):
                    day = date.fromisoformat(day)
            if not isinstance(day, date):
                raise self.fail((*path, key), f"{key} is a date such as 2026-09-02, not {day!r}")
            out[key] = day.isoformat()
        if out["end"] < out["start"]:
            raise self.fail((*path, "end"), f"{out['start']} to {out['end']} ends before it starts")
        return out

    def unknown(self, table: dict[str, Any], known: set[str], path: Path) -> None:
        for key in table:
            if key not in known:
                raise self.fail(
                    (*path, key),
                    f"unknown setting {key!r}; expected one of {', '.join(sorted(known))}",
                )


def _window_type() -> type:
    from .policy import Window

    return Window


def _path_of(error: str) -> Path:
    """msgspec's "... - at `$.windows[2].start`" as a path into the file."""
    match = re.search(r"at `\$(.*)`$", error)
    if match is None:
        return ()
    path: list[str | int] = []
    for name, index in re.findall(r"\.(\w+)|\[(\d+)\]", match[1]):
        if index:
            path.append(int(index))
        else:
            path.append({"windows": "window", "school_networks": "network"}.get(name, name))
    return tuple(path)


def _problem(error: str) -> str:
    return re.sub(r"^\w+ cannot be sent: | - at `\$.*`$", "", error)


class _Lines:
    """Where each table and key of a TOML text starts, by its path (tables in arrays by index)."""

    _ARRAY = re.compile(r"^\[\[\s*([A-Za-z0-9_.-]+)\s*\]\]")
    _TABLE = re.compile(r"^\[\s*([A-Za-z0-9_.-]+)\s*\]")
    _KEY = re.compile(r"^([A-Za-z0-9_-]+|\"[^\"]*\")\s*=")

    def __init__(self, text: str) -> None:
        self.where: dict[Path, int] = {}
        counts: dict[str, int] = {}
        current: Path = ()
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if (match := self._ARRAY.match(line)) is not None:
                counts[match[1]] = counts.get(match[1], -1) + 1
                current = (match[1], counts[match[1]])
            elif (match := self._TABLE.match(line)) is not None:
                first, *rest = match[1].split(".")
                head: Path = (first, counts[first]) if first in counts else (first,)
                current = (*head, *rest)
            elif (match := self._KEY.match(line)) is not None:
                self.where.setdefault((*current, match[1].strip('"')), number)
                continue
            else:
                continue
            self.where.setdefault(current, number)
        # "network" in an error path means the [network] table's school list.
        if ("network", "school") in self.where:
            self.where.setdefault(("network",), self.where[("network", "school")])

    def of(self, path: Path) -> int | None:
        """The line of `path`, or of the nearest table around it."""
        for length in range(len(path), 0, -1):
            line = self.where.get(path[:length])
            if line is not None:
                return line
        return None
