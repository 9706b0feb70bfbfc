"""A parent reads a device's summary in plain words; a hostile application name is shown
literally (no escape sequence reaches the terminal)."""

from __future__ import annotations

import time

import msgspec

from console.summary_words import duration, in_words
from protocol.usage import AppTime, UsageSummary


def midnight() -> int:
    now = time.localtime()
    return int(time.mktime((now.tm_year, now.tm_mon, now.tm_mday, 0, 0, 0, 0, 0, -1)))


def test_a_days_summary_in_plain_words_with_a_hostile_name() -> None:
    since = midnight()
    summary = UsageSummary(
        since=since,
        until=since + 60,
        on_seconds=2 * 3600 + 10 * 60,
        apps=(
            AppTime(app="Firefox", seconds=3900),
            AppTime(app="\ufffd]0;pwned\ufffd[link=x]game[/link]", seconds=1800),
        ),
        other_seconds=1500,
    )
    words = in_words("Ada's \x1b[2Jlaptop", msgspec.to_builtins(summary))
    assert words == (
        "Ada's \ufffd[2Jlaptop today: on for 2 h 10 min; Firefox 1 h 05 min, "
        "\ufffd]0;pwned\ufffd[link=x]game[/link] 30 min, other applications 25 min"
    )
    assert "\x1b" not in words


def test_a_summary_from_another_time_and_an_unused_device() -> None:
    since = midnight() + 14 * 3600
    summary = UsageSummary(since=since, until=since + 3600)
    words = in_words("Ada's laptop", msgspec.to_builtins(summary))
    assert (
        words == f"Ada's laptop since {time.strftime('%a', time.localtime(since))} 14:00: not used"
    )
    assert duration(59) == "under a minute" and duration(40 * 60) == "40 min"
