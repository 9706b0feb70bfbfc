"""The device's own record of its use, for a parent's summary: which application was in
front, and for how long, over the last few days.

Theory of operation. The activity watcher (agent/actions/activity.py) reports the
application in front whenever it changes, and when the student goes idle or the system's
screen lock comes on; `note` remembers that state. Time is credited to it on each `tick`
(the agent's policy timer, every 15 s) and at each change, into quarter-hour buckets (a
quarter hour, so that every time zone's midnight falls on a bucket's edge). A gap longer
than `max_gap` between two credits (the device slept, the agent was stopped) counts only
`max_gap`, so a suspended laptop is not "on".

What it keeps is small and private: application names only (never window titles: a title
can hold a message, a search, a document's name), cut short, at most `MAX_APPS` a quarter
(the rest as "other"), for `keep_seconds` (3 days), in `usage.json` in the agent's folder,
readable by the agent's user only. The student's account can edit or delete it: the
summary is the device's word, like everything it reports.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import msgspec

from link.files import write_private
from protocol.types import PROGRAM_NAME_CHARS
from protocol.usage import MAX_SUMMARY_APPS, MAX_SUMMARY_SECONDS, AppTime, UsageSummary

from .actions.text import shown
from .platforms import ActivitySample

log = logging.getLogger("homeroom.agent.usage")

USAGE_FILE = "usage.json"
#: The record's bucket: every time zone's midnight (UTC+5:45 included) is on an edge.
BUCKET_SECONDS = 900
#: How long the record is kept.
KEEP_SECONDS = 3 * 24 * 3600
#: Applications named in one quarter hour; any more are counted as other applications.
MAX_APPS = 12
#: Characters of an application's name kept (process names are short; this bounds the file).
APP_NAME_CHARS = 64
#: The longest stretch credited at once: longer means the device slept or the agent stopped.
MAX_GAP = 60.0
#: Seconds between two writes of the record (and one more when the agent stops).
SAVE_SECONDS = 60.0
#: A record file larger than this is not read (it cannot be one of ours).
MAX_FILE_BYTES = 512 * 1024
#: The key under which applications beyond MAX_APPS are added up (no name has a NUL).
OTHER = "\x00"


class Quarter(msgspec.Struct, forbid_unknown_fields=True):
    """One quarter hour: seconds in use, and seconds per application in front."""

    start: int
    on: int = 0
    apps: dict[str, int] = msgspec.field(default_factory=dict)


class UsageFile(msgspec.Struct, forbid_unknown_fields=True):
    version: int
    quarters: list[Quarter]


class UsageRecord:
    """Foreground application time, kept bounded on disk; `clock` is injected for tests."""

    def __init__(
        self,
        folder: Path | None,
        *,
        clock: Callable[[], float] = time.time,
        keep_seconds: int = KEEP_SECONDS,
        max_gap: float = MAX_GAP,
        save_seconds: float = SAVE_SECONDS,
    ) -> None:
        self.folder = folder
        self.clock = clock
        self.keep_seconds = keep_seconds
        self.max_gap = max_gap
        self.save_seconds = save_seconds
        self.quarters: dict[int, Quarter] = {}
        #: The application in front while someone uses the device; None: idle, locked, unknown.
        self.current: str | None = None
        self._credited_to: float | None = None
        self._saved_at = self.clock()
        self._changed = False
        self._load()

    # --- Recording ----------------------------------------------------------------

    def note(self, sample: ActivitySample, *, locked: bool = False) -> None:
        """The watcher's newest sample: credit the time so far, then follow the new state."""
        self.tick(locked=locked, save=False)
        in_use = not sample.idle_seconds and not sample.session_locked
        self.current = _app_name(sample.app) if in_use else None

    def tick(self, *, locked: bool = False, save: bool = True) -> None:
        """Credit the time since the last credit to the application in front.

        `locked`: the device is locked by Homeroom (a lock or a pause), so not in use.
        """
        now = self.clock()
        last, self._credited_to = self._credited_to, now
        if last is not None and self.current is not None and not locked:
            self._credit(self.current, max(last, now - self.max_gap), now)
        self._forget_old()
        if save and now - self._saved_at >= self.save_seconds:
            self.save()

    def _credit(self, app: str, start: float, end: float) -> None:
        # Piece by piece, from each quarter's edge: whole seconds (a tick's fractions are
        # rounded per piece, so the record never counts more than passed, give or take 1 s).
        edge = int(start) // BUCKET_SECONDS * BUCKET_SECONDS
        while edge < end:
            seconds = round(min(end, edge + BUCKET_SECONDS) - max(start, edge))
            if seconds > 0:
                quarter = self.quarters.get(edge)
                if quarter is None:
                    quarter = self.quarters[edge] = Quarter(start=edge)
                    self._forget_old()  # a new quarter: perhaps an old one goes
                quarter.on = min(quarter.on + seconds, BUCKET_SECONDS)
                key = app if app in quarter.apps or len(quarter.apps) < MAX_APPS else OTHER
                quarter.apps[key] = min(quarter.apps.get(key, 0) + seconds, BUCKET_SECONDS)
                self._changed = True
            edge += BUCKET_SECONDS

    def _forget_old(self) -> None:
        oldest = self.clock() - self.keep_seconds
        for start in [s for s in self.quarters if s + BUCKET_SECONDS <= oldest]:
            del self.quarters[start]
            self._changed = True

    # --- The summary -------------------------------------------------------------------

    def summary(self, since: int | None = None) -> UsageSummary:
        """Use from `since` (default: midnight on the device) until now, busiest first.

        `since` is taken back to its quarter hour's start, and no earlier than the record
        goes; the summary says which time it covers.
        """
        self.tick(save=False)
        now = int(self.clock())
        if since is None:
            since = int(datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0,
                                                            microsecond=0).timestamp())  # fmt: skip
        since = max(since, now - self.keep_seconds, now - MAX_SUMMARY_SECONDS)
        since = min(since, now) // BUCKET_SECONDS * BUCKET_SECONDS
        on, apps = 0, dict[str, int]()
        for quarter in self.quarters.values():
            if since <= quarter.start <= now:
                on += quarter.on
                for app, seconds in quarter.apps.items():
                    apps[app] = apps.get(app, 0) + seconds
        other = apps.pop(OTHER, 0)
        ranked = sorted(apps.items(), key=lambda item: (-item[1], item[0]))
        other += sum(seconds for _, seconds in ranked[MAX_SUMMARY_APPS:])
        return UsageSummary(
            since=since,
            until=now,
            on_seconds=min(on, MAX_SUMMARY_SECONDS),
            apps=tuple(
                AppTime(app=app, seconds=min(seconds, MAX_SUMMARY_SECONDS))
                for app, seconds in ranked[:MAX_SUMMARY_APPS]
            ),
            other_seconds=min(other, MAX_SUMMARY_SECONDS),
        )

    # --- On disk ---------------------------------------------------------------------

    def save(self) -> None:
        """Write the record if it changed (write_private: whole, and the owner's only)."""
        self._saved_at = self.clock()
        if self.folder is None or not self._changed:
            return
        record = UsageFile(version=1, quarters=sorted(self.quarters.values(), key=_start))
        try:
            write_private(self.folder / USAGE_FILE, msgspec.json.encode(record))
            self._changed = False
        except OSError as error:  # a full disk: keep counting in memory
            log.warning("could not save the usage record: %s", error)

    def _load(self) -> None:
        path = None if self.folder is None else self.folder / USAGE_FILE
        if path is None or not path.exists():
            return
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise ValueError(f"larger than {MAX_FILE_BYTES} bytes")
            record = msgspec.json.decode(path.read_bytes(), type=UsageFile)
        except (OSError, ValueError) as error:  # msgspec's errors are ValueErrors
            log.warning("the usage record is unreadable (%s); starting a new one", error)
            return
        # Read as the file says, then held to the same bounds as what we record ourselves.
        now = self.clock()
        for quarter in record.quarters[-(self.keep_seconds // BUCKET_SECONDS + 2) :]:
            start = quarter.start // BUCKET_SECONDS * BUCKET_SECONDS
            if start > now:
                continue  # from a clock that was wrong, or a hand: never counted
            apps: dict[str, int] = {}
            for app, seconds in list(quarter.apps.items())[: MAX_APPS + 1]:
                key = app if app == OTHER else _app_name(app)
                apps[key] = apps.get(key, 0) + max(0, min(seconds, BUCKET_SECONDS))
            self.quarters[start] = Quarter(
                start=start, on=max(0, min(quarter.on, BUCKET_SECONDS)), apps=apps
            )
        self._forget_old()


def _app_name(app: str) -> str:
    """An application's name fit to keep and show: no control characters, short."""
    return shown(app, min(APP_NAME_CHARS, PROGRAM_NAME_CHARS)) or "unknown application"


def _start(quarter: Quarter) -> int:
    return quarter.start
