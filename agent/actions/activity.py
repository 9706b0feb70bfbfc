"""What the student is doing, for the hub: the newest sample, at most one every few seconds.

A student flicking between windows must not become a flood: the first change goes at
once, later ones wait out the interval and only the newest of them is sent. The
throttle is plain state and arithmetic; the runtime schedules `due()` on its loop.
"""

from __future__ import annotations

from protocol.messages import Activity
from protocol.types import PROGRAM_NAME_CHARS, WINDOW_TITLE_CHARS

from ..platforms import ActivitySample
from .text import shown

#: Seconds between two activity reports, at least.
ACTIVITY_INTERVAL = 2.0
#: A student with no input for this long is reported idle.
IDLE_AFTER = 300.0


def activity_message(sample: ActivitySample) -> Activity:
    return Activity(
        app=shown(sample.app, PROGRAM_NAME_CHARS),
        title=shown(sample.title, WINDOW_TITLE_CHARS),
        idle_seconds=max(0, min(sample.idle_seconds, 2**31)),
        session_locked=sample.session_locked,
    )


class ActivityThrottle:
    """Decides when an activity sample goes to the hub."""

    def __init__(self, interval: float = ACTIVITY_INTERVAL) -> None:
        self.interval = interval
        self._last_sent_at: float | None = None
        self._last_sent: Activity | None = None
        self._waiting: Activity | None = None

    def offer(self, sample: ActivitySample, now: float) -> Activity | None:
        """The message to send now, or None (then call `due()` at `next_due()`)."""
        message = activity_message(sample)
        if message == self._last_sent:
            self._waiting = None
            return None
        if self._last_sent_at is None or now - self._last_sent_at >= self.interval:
            return self._sent(message, now)
        self._waiting = message
        return None

    def next_due(self) -> float | None:
        """When a held-back sample may go, if one is waiting."""
        if self._waiting is None or self._last_sent_at is None:
            return None
        return self._last_sent_at + self.interval

    def due(self, now: float) -> Activity | None:
        """The held-back sample, if its time has come."""
        due = self.next_due()
        if self._waiting is None or due is None or now < due:
            return None
        return self._sent(self._waiting, now)

    def resend(self) -> Activity | None:
        """The last state, for a new connection (the hub forgot it when we were away)."""
        return self._waiting or self._last_sent

    def _sent(self, message: Activity, now: float) -> Activity:
        self._waiting = None
        self._last_sent, self._last_sent_at = message, now
        return message
