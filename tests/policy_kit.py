"""A school's policy for tests: the example file of docs/operations.md, and local times."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from protocol.certificates import Certificate
from protocol.keys import PrivateKey
from protocol.policy import PolicyRules, SignedPolicy, sign_policy
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
school = ["10.20.0.0/16", "127.0.0.0/8"]

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
guardian = ["lock", "unlock", "message"]
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
