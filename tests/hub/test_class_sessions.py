"""Class sessions: the rules with an injected clock, then start and end over a real hub."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.class_sessions import DEFAULT_MINUTES, ClassSessions, SessionRefused
from protocol.certificates import ALL_GROUPS, CertificateBody, Role
from protocol.errors import ErrorCode
from protocol.messages import Answer, Error

from ..classroom import classroom

NOW = 1_800_000_000


class Clock:
    def __init__(self) -> None:
        self.now = float(NOW)

    def __call__(self) -> float:
        return self.now


def staff(name: str, role: Role = Role.TEACHER, serial: str | None = None) -> CertificateBody:
    return CertificateBody(
        serial=serial or (name.encode().hex() * 32)[:32],
        subject_key=b"\x00" * 32,
        name=name,
        role=role,
        groups=("7B",),
        issued_at=NOW - 60,
        expires_at=NOW + 86400,
        issuer="0" * 64,
    )


SMITH, JONES, ADMIN = staff("Ms Smith"), staff("Mr Jones"), staff("Head", Role.ADMIN)


def test_a_session_lasts_an_hour_unless_told_and_ends_by_itself() -> None:
    clock = Clock()
    sessions = ClassSessions(clock)
    session = sessions.start("Maths 7B", SMITH)
    assert (session.teacher, session.started_at) == ("Ms Smith", NOW)
    assert session.ends_at == NOW + DEFAULT_MINUTES * 60
    clock.now = session.ends_at - 1
    assert sessions.current("Maths 7B") == session
    clock.now = session.ends_at
    assert sessions.current("Maths 7B") is None


def test_one_session_per_class_and_another_teacher_is_told_whose_it_is() -> None:
    clock = Clock()
    sessions = ClassSessions(clock)
    sessions.start("Maths 7B", SMITH, minutes=45)
    clock.now += 5 * 60
    with pytest.raises(SessionRefused, match="Ms Smith's session for 40 more minutes"):
        sessions.start("Maths 7B", JONES)
    assert sessions.start("Science 7B", JONES).teacher == "Mr Jones"  # another class: fine
    # Its own teacher may start it again: the lesson runs on.
    assert sessions.start("Maths 7B", SMITH, minutes=10).ends_at == clock.now + 600


def test_only_its_teacher_or_an_admin_ends_a_session() -> None:
    sessions = ClassSessions(Clock())
    sessions.start("Maths 7B", SMITH)
    with pytest.raises(SessionRefused, match="only they or an admin"):
        sessions.end("Maths 7B", JONES)
    assert sessions.end("Maths 7B", SMITH).teacher == "Ms Smith"
    assert sessions.current("Maths 7B") is None
    with pytest.raises(SessionRefused, match="no class session on"):
        sessions.end("Maths 7B", SMITH)
    sessions.start("Maths 7B", SMITH)
    assert sessions.end("Maths 7B", ADMIN).teacher == "Ms Smith"


@pytest.mark.parametrize("minutes", [0, -5, 8 * 60 + 1])
def test_a_session_of_no_time_or_longer_than_a_day_is_refused(minutes: int) -> None:
    with pytest.raises(SessionRefused, match="1 to 480 minutes"):
        ClassSessions(Clock()).start("Maths 7B", SMITH, minutes=minutes)


# --- over the wire ------------------------------------------------------------------------


async def test_a_teacher_starts_and_ends_a_session_of_their_class_and_it_is_audited(
    tmp_path: Path,
) -> None:
    async with classroom(tmp_path) as room:
        room.store.create_class("Maths 7B", "7B", NOW)
        agent = await room.start_agent("Ada")
        room.store.add_to_class("Maths 7B", agent.state.device_id)
        teacher = await room.console(room.staff("Ms Smith", groups=("7B",)))

        started = await teacher.session.class_session("Maths 7B", "start", 50)
        answer = await teacher.take(Answer, lambda a: a.id == started)
        (klass,) = answer.classes
        assert klass.name == "Maths 7B" and klass.devices == (agent.state.device_id,)
        assert klass.session is not None and klass.session.teacher == "Ms Smith"
        assert klass.session.ends_at - klass.session.started_at == 50 * 60
        assert room.hub.class_sessions.current("Maths 7B") is not None

        # The class list anyone asks for now says a session is on.
        other = await room.console(room.staff("Mr Jones", groups=("7B",)))
        asked = await other.session.query("classes")
        listed = await other.take(Answer, lambda a: a.id == asked)
        assert listed.classes[0].session.teacher == "Ms Smith"
        # ...and that other teacher cannot take the class over.
        refused_id = await other.session.class_session("Maths 7B", "start")
        refused = await other.take(Error, lambda e: e.ref == refused_id)
        assert refused.code is ErrorCode.OUT_OF_STATE and "Ms Smith's session" in refused.message

        ended = await teacher.session.class_session("Maths 7B", "end")
        answer = await teacher.take(Answer, lambda a: a.id == ended)
        assert answer.classes[0].session is None
        actions = [(r.actor, r.action) for r in room.store.audit(limit=100)]
        assert ("Ms Smith", "class_session_start") in actions
        assert ("Ms Smith", "class_session_end") in actions


async def test_a_class_of_another_group_or_a_role_without_classes_is_refused(
    tmp_path: Path,
) -> None:
    async with classroom(tmp_path) as room:
        room.store.create_class("Art 8A", "8A", NOW)
        stranger = await room.console(room.staff("Ms Smith", groups=("7B",)))
        asked = await stranger.session.class_session("Art 8A", "start")
        refused = await stranger.take(Error, lambda e: e.ref == asked)
        assert refused.code is ErrorCode.GROUP_FORBIDDEN and "no class named" in refused.message

        it = await room.console(room.staff("IT desk", role=Role.IT, groups=(ALL_GROUPS,)))
        asked = await it.session.class_session("Art 8A", "start")
        refused = await it.take(Error, lambda e: e.ref == asked)
        assert refused.code is ErrorCode.ROLE_FORBIDDEN
        assert room.hub.class_sessions.current("Art 8A") is None
