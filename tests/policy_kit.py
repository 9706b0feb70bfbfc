"""A school's policy for tests: the example file of docs/operations.md, and local times."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from protocol.certificates import Certificate
from protocol.keys import PrivateKey
from protocol.policy import WEEKDAYS, PolicyRules, SignedPolicy, sign_policy
from protocol.policy_file import read_policy

LONDON = ZoneInfo("Europe/London")

#: The example in docs/operations.md, word for word (a test holds them together).
EXAMPLE = """\
# Year 7B: lessons on school days, home hours after school, a night lock agreed with families.
time_zone = "Europe/London"
school_week = ["mon", "tue", "wed", "thu", "fri"]
note = "Agreed with the parents' council, September 2026."

[[terms]]
start = 2026-09-02
end = 2026-12-18

[[holidays]]
name = "half term"
start = 2026-10-26
end = 2026-10-30

[network]
school = ["10.20.0.0/16", "203.0.113.0/24"]

[[window]]
name = "school"
on = "school_days"
start = "08:30"
end = "15:30"
capture = true
[window.allow]
teacher = ["watch", "screenshot", "lock", "unlock", "message", "open_url", "launch_app"]
it = ["*"]
admin = ["*"]

[[window]]
name = "home"
start = "15:30"
end = "21:00"
capture = false
[window.allow]
guardian = ["pause", "summary"]
it = ["system_info", "diagnostics", "list_processes"]

[[window]]
name = "night"
start = "21:00"
end = "06:30"
lock_device = true
lock_message = "Night time: this device is resting until 06:30."
[window.allow]
it = ["system_info"]
"""


def rules() -> PolicyRules:
    return read_policy(EXAMPLE, "example.toml")


def at(text: str) -> int:
    """A London wall-clock time ("2026-09-21 10:00", a Monday in term) as Unix time."""
    return int(datetime.fromisoformat(text).replace(tzinfo=LONDON).timestamp())


def signed(
    admin_key: PrivateKey,
    certificate: Certificate,
    *,
    group: str = "7B",
    sequence: int = 1,
    now: int | None = None,
    text: str = EXAMPLE,
) -> SignedPolicy:
    return sign_policy(
        admin_key,
        certificate,
        read_policy(text, "example.toml"),
        group=group,
        sequence=sequence,
        now=at("2026-09-21 08:00") if now is None else now,
    )


#: The example without term dates and holidays: every Monday to Friday is a school day,
#: so tests on real sockets can run on any date.
EVERY_WEEK = EXAMPLE[: EXAMPLE.index("[[terms]]")] + EXAMPLE[EXAMPLE.index("[network]") :]


class WallClock:
    """An injected clock on London wall-clock time that the test moves between windows.

    It starts on a Monday at least two days after the real date, so certificates and
    tokens made now are in date, and it runs on from each time it is set to (rate limits
    need time to pass).
    """

    def __init__(self) -> None:
        today = datetime.now(LONDON).date()
        monday = today + timedelta(days=2 + (7 - (today.weekday() + 2) % 7) % 7)
        self.monday = monday
        self._base = 0.0
        self._set_at = time.monotonic()
        self.set("mon 10:00")

    def set(self, when: str) -> None:
        """Move to "mon 10:00", "tue 07:00"...: that day of the test's week, London time."""
        day, clock = when.split()
        date = self.monday + timedelta(days=WEEKDAYS.index(day))
        local = datetime.fromisoformat(f"{date.isoformat()} {clock}").replace(tzinfo=LONDON)
        self._base = local.timestamp()
        self._set_at = time.monotonic()

    def __call__(self) -> float:
        return self._base + (time.monotonic() - self._set_at)
