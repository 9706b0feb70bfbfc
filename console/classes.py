"""The classes a teacher may switch between, and the class session on for each, as shown."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ClassView:
    """One class: its roster and, while a lesson is on, who teaches it until when."""

    name: str
    group: str
    device_ids: tuple[str, ...]
    session_teacher: str | None = None
    session_ends_at: float | None = None

    def session_on(self, now: float) -> bool:
        return self.session_ends_at is not None and now < self.session_ends_at

    def describe(self, now: float) -> str:
        """One line for the status bar and the class list (the caller makes it printable)."""
        students = f"{len(self.device_ids)} device{'s' if len(self.device_ids) != 1 else ''}"
        if not self.session_on(now):
            return f"{self.name} ({students}), no class session"
        assert self.session_ends_at is not None
        until = time.strftime("%H:%M", time.localtime(self.session_ends_at))
        return f"{self.name} ({students}), session by {self.session_teacher} until {until}"
