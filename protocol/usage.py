"""A device's summary of use for a parent: time on the device and per application.

Application names only, never window titles (a title can hold a message, a search or a
document's name) and never pictures. The device keeps the record itself
(agent/usage.py); these are the limits the summary travels within.
"""

from typing import Annotated

from msgspec import Meta

from .codec import WireStruct
from .types import ProgramName, Timestamp

#: Applications a summary names, busiest first; the rest are added up in `other_seconds`.
MAX_SUMMARY_APPS = 32
#: The longest stretch a summary may cover: the device keeps a few days at most.
MAX_SUMMARY_SECONDS = 7 * 24 * 3600
Seconds = Annotated[int, Meta(ge=0, le=MAX_SUMMARY_SECONDS)]


class AppTime(WireStruct, frozen=True):
    """Time one application was in front, with the student active (not idle, not locked)."""

    app: ProgramName
    seconds: Seconds


class UsageSummary(WireStruct, frozen=True):
    """What the device was used for from `since` until `until` (the device's clock).

    `on_seconds` is the time someone was using the device (idle and locked time left
    out); `apps` the busiest applications in that time, `other_seconds` the rest.
    """

    since: Timestamp
    until: Timestamp
    on_seconds: Seconds = 0
    apps: Annotated[tuple[AppTime, ...], Meta(max_length=MAX_SUMMARY_APPS)] = ()
    other_seconds: Seconds = 0

    def check_rules(self) -> None:
        if self.until < self.since:
            raise ValueError("a summary ends after it starts")
