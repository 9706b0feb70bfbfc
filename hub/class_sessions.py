"""Class sessions: a teacher's lesson with one class, from now until a set time.

A teacher starts a session for one of their classes (60 minutes unless they say), and
ends it when the lesson ends; it also ends by itself at its end time. While it is on,
the class shows who teaches it until when. One session per class: a second teacher
cannot take over a class whose lesson is on, and only its teacher (or an admin) ends it.

Sessions live in the hub's memory: a hub restart ends them, as it would end a lesson's
connections. Start and end are written to the audit log. Policy that depends on a class
session being on (what a teacher may do outside one) is built on `ClassSessions.current`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from protocol.certificates import CertificateBody, Role
from protocol.limits import MAX_CLASS_SESSION_MINUTES

DEFAULT_MINUTES = 60


class SessionRefused(Exception):
    """A start or end the rules do not allow; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class ClassSession:
    """One class's lesson: which class, the teacher (name and credential serial), when."""

    class_name: str
    teacher: str
    teacher_serial: str
    started_at: int
    ends_at: int


class ClassSessions:
    """The class sessions on now, by class name. `clock` is injected for tests."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._sessions: dict[str, ClassSession] = {}

    def current(self, class_name: str) -> ClassSession | None:
        """The session on for `class_name`, if any (one past its end time is over)."""
        session = self._sessions.get(class_name)
        if session is not None and session.ends_at <= self._clock():
            del self._sessions[class_name]
            return None
        return session

    def active(self) -> list[ClassSession]:
        """Every session on now."""
        return [s for name in list(self._sessions) if (s := self.current(name)) is not None]

    def start(
        self, class_name: str, teacher: CertificateBody, minutes: int = DEFAULT_MINUTES
    ) -> ClassSession:
        """Start (or, for its own teacher, extend) the session of `class_name`."""
        if not 1 <= minutes <= MAX_CLASS_SESSION_MINUTES:
            raise SessionRefused(
                f"A class session lasts 1 to {MAX_CLASS_SESSION_MINUTES} minutes, not {minutes}."
            )
        now = int(self._clock())
        running = self.current(class_name)
        if running is not None and running.teacher_serial != teacher.serial:
            left = max(1, (running.ends_at - now + 59) // 60)
            raise SessionRefused(
                f"{class_name} is in {running.teacher}'s session for {left} more minutes; "
                "ask them to end it first."
            )
        session = ClassSession(class_name, teacher.name, teacher.serial, now, now + minutes * 60)
        self._sessions[class_name] = session
        return session

    def end(self, class_name: str, staff: CertificateBody) -> ClassSession:
        """End the session of `class_name`: its own teacher or an admin may."""
        running = self.current(class_name)
        if running is None:
            raise SessionRefused(f"{class_name} has no class session on; there is none to end.")
        if running.teacher_serial != staff.serial and staff.role is not Role.ADMIN:
            raise SessionRefused(
                f"{class_name} is in {running.teacher}'s session; only they or an admin may end it."
            )
        del self._sessions[class_name]
        return running
