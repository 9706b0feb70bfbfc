"""The device's record of application time, for a parent's summary: names and times only,
bounded, kept across a restart, forgotten after a few days. Time is an injected clock."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from agent.platforms import ActivitySample
from agent.usage import (
    BUCKET_SECONDS,
    KEEP_SECONDS,
    MAX_APPS,
    MAX_GAP,
    USAGE_FILE,
    UsageRecord,
)
from protocol.codec import canonical
from protocol.usage import MAX_SUMMARY_APPS, UsageSummary

#: Monday 21 September 2026, 00:00 UTC: a quarter hour's edge.
MIDNIGHT = 1_789_948_800


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def run(self, record: UsageRecord, seconds: float, step: float = 15.0) -> None:
        """Let `seconds` pass with the agent's timer ticking every `step`."""
        end = self.now + seconds
        while self.now < end:
            self.now = min(self.now + step, end)
            record.tick()


def seconds_of(summary: UsageSummary) -> dict[str, int]:
    return {entry.app: entry.seconds for entry in summary.apps}


def test_time_in_front_is_counted_per_application_without_idle_or_locked_time(
    tmp_path: Path,
) -> None:
    clock = Clock(MIDNIGHT + 16 * 3600)
    record = UsageRecord(tmp_path, clock=clock)
    record.note(ActivitySample(app="firefox", title="Secret diary - Mozilla Firefox"))
    clock.run(record, 3600)
    record.note(ActivitySample(app="soffice.bin", title="homework.odt"))
    clock.run(record, 600)
    record.note(ActivitySample(app="soffice.bin", idle_seconds=300))  # walked away
    clock.run(record, 1800)
    record.note(ActivitySample(app="firefox", session_locked=True))
    clock.run(record, 600)
    record.note(ActivitySample(app="firefox"))
    clock.run(record, 300)
    record.tick(locked=True)  # Homeroom's own lock or a pause: not in use either
    clock.now += 900
    record.tick(locked=True)
    summary = record.summary(MIDNIGHT)
    assert seconds_of(summary) == {"firefox": 3900, "soffice.bin": 600}
    assert summary.on_seconds == 4500 and summary.other_seconds == 0
    assert summary.since == MIDNIGHT and summary.until == int(clock.now)
    # Names only: no title reaches the record or the file.
    record.save()
    saved = (tmp_path / USAGE_FILE).read_text()
    assert "diary" not in saved and "homework" not in saved
    assert stat.S_IMODE((tmp_path / USAGE_FILE).stat().st_mode) == 0o600


def test_a_device_asleep_or_an_agent_stopped_is_not_on(tmp_path: Path) -> None:
    clock = Clock(MIDNIGHT + 8 * 3600)
    record = UsageRecord(None, clock=clock)
    record.note(ActivitySample(app="firefox"))
    clock.now += 5 * 3600  # the lid closed with firefox in front
    record.tick()
    assert record.summary(MIDNIGHT).on_seconds == MAX_GAP


def test_the_record_survives_a_restart_and_keeps_a_few_days_only(tmp_path: Path) -> None:
    clock = Clock(MIDNIGHT + 20 * 3600)
    record = UsageRecord(tmp_path, clock=clock)
    record.note(ActivitySample(app="firefox"))
    clock.run(record, 1200)
    record.save()  # as the agent does when it stops
    clock.now += 600
    again = UsageRecord(tmp_path, clock=clock)  # the agent restarted
    assert seconds_of(again.summary(MIDNIGHT)) == {"firefox": 1200}
    assert again.current is None  # nothing counts until the watcher says what is in front
    # Today, by default: yesterday evening is not in it.
    clock.now = MIDNIGHT + 24 * 3600 + 9 * 3600
    assert again.summary(MIDNIGHT + 24 * 3600).apps == ()
    assert seconds_of(again.summary(MIDNIGHT)) == {"firefox": 1200}
    clock.now = MIDNIGHT + 21 * 3600 + KEEP_SECONDS  # the last quarter is 3 days old
    again.tick()
    again.save()
    assert again.quarters == {} and UsageRecord(tmp_path, clock=clock).quarters == {}


def test_the_record_is_bounded_however_many_programs_come_to_the_front(
    tmp_path: Path,
) -> None:
    clock = Clock(MIDNIGHT)
    record = UsageRecord(tmp_path, clock=clock)
    for n in range(3 * 24 * 4 * 50):  # three days of a new program every 18 seconds
        record.note(ActivitySample(app=f"program-{n:05d}-" + "x" * 500))
        clock.run(record, 18)
    record.save()
    assert len(record.quarters) <= KEEP_SECONDS // BUCKET_SECONDS + 1
    assert all(len(q.apps) <= MAX_APPS + 1 for q in record.quarters.values())
    assert (tmp_path / USAGE_FILE).stat().st_size < 300_000
    summary = record.summary(0)
    canonical(summary)  # within every limit of the protocol
    assert len(summary.apps) == MAX_SUMMARY_APPS and summary.other_seconds > 0
    assert all(len(entry.app) <= 64 for entry in summary.apps)
    assert sum(seconds_of(summary).values()) + summary.other_seconds == summary.on_seconds


def test_an_edited_or_damaged_record_is_held_to_the_same_bounds(tmp_path: Path) -> None:
    clock = Clock(MIDNIGHT + 12 * 3600)
    path = tmp_path / USAGE_FILE
    quarter = MIDNIGHT + 11 * 3600
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "quarters": [
                    {"start": quarter, "on": 10**9, "apps": {"\x1b[2Jgame": 10**9}},
                    {"start": MIDNIGHT + 99 * 3600, "on": 900, "apps": {"future": 900}},
                ],
            }
        )
    )
    summary = UsageRecord(tmp_path, clock=clock).summary(MIDNIGHT)
    assert summary.on_seconds == BUCKET_SECONDS
    assert seconds_of(summary) == {"\ufffd[2Jgame": BUCKET_SECONDS}
    path.write_text("{not json")
    assert UsageRecord(tmp_path, clock=clock).summary(MIDNIGHT).on_seconds == 0
