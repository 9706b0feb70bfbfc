"""Policy windows and decisions on an injected clock, signatures, and the policy file."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from protocol.certificates import Role
from protocol.errors import ErrorCode, PeerError
from protocol.keys import Purpose
from protocol.policy import (
    Allowed,
    Policy,
    Refused,
    SignedPolicy,
    decide,
    newer_than,
    verify_policy,
    window_at,
)
from protocol.policy_file import PolicyFileError, read_policy
from tests.policy_kit import EXAMPLE, LONDON, at, rules, signed

from .conftest import School

POLICY = Policy(rules(), LONDON, "7B", 1)
SCHOOL_HOURS = at("2026-09-21 10:00")  # a Monday in term
AFTER_SCHOOL = at("2026-09-21 17:00")
LATE_EVENING = at("2026-09-21 23:30")
EARLY_MORNING = at("2026-09-22 06:00")  # still the night that began on Monday
BREAKFAST = at("2026-09-22 07:00")  # between night and school: no window
HALF_TERM = at("2026-10-27 10:00")
SATURDAY = at("2026-09-26 10:00")


def test_each_moment_falls_in_its_window() -> None:
    assert window_at(POLICY, SCHOOL_HOURS).name == "school"  # type: ignore[union-attr]
    assert window_at(POLICY, AFTER_SCHOOL).name == "home"  # type: ignore[union-attr]
    assert window_at(POLICY, LATE_EVENING).name == "night"  # type: ignore[union-attr]
    assert window_at(POLICY, EARLY_MORNING).name == "night"  # type: ignore[union-attr]
    for outside in (BREAKFAST, HALF_TERM, SATURDAY):
        assert window_at(POLICY, outside) is None
    # The home window opens every day, holidays too.
    assert window_at(POLICY, at("2026-10-27 17:00")).name == "home"  # type: ignore[union-attr]


def test_school_window_allows_a_teacher_to_watch_and_lock() -> None:
    for action in ("watch", "screenshot", "lock", "message"):
        assert decide(POLICY, Role.TEACHER, action, SCHOOL_HOURS) == Allowed("school")
    refused = decide(POLICY, Role.TEACHER, "shutdown", SCHOOL_HOURS)
    assert isinstance(refused, Refused) and refused.window == "school"
    assert "school window does not let a teacher shutdown" in refused.reason


def test_home_window_allows_no_capture_for_anyone() -> None:
    for role in (Role.TEACHER, Role.IT, Role.ADMIN, Role.GUARDIAN):
        for action in ("watch", "screenshot"):
            refused = decide(POLICY, role, action, AFTER_SCHOOL)
            assert isinstance(refused, Refused) and refused.window == "home"
            assert "home window allows no screen capture" in refused.reason
    assert decide(POLICY, Role.GUARDIAN, "pause", AFTER_SCHOOL) == Allowed("home")
    assert decide(POLICY, Role.IT, "system_info", AFTER_SCHOOL).allowed
    assert not decide(POLICY, Role.TEACHER, "lock", AFTER_SCHOOL).allowed


def test_night_window_and_the_gaps_between_windows() -> None:
    assert decide(POLICY, Role.IT, "system_info", LATE_EVENING) == Allowed("night")
    refused = decide(POLICY, Role.TEACHER, "message", EARLY_MORNING)
    assert isinstance(refused, Refused) and refused.window == "night"
    for moment in (BREAKFAST, HALF_TERM, SATURDAY):
        refused = decide(POLICY, Role.ADMIN, "lock", moment)
        assert isinstance(refused, Refused) and "No policy window of 7B is open" in refused.reason
        assert refused.window == "outside every window"
    # Stopping a watch is never refused: it only shows staff less.
    assert decide(POLICY, Role.TEACHER, "unwatch", BREAKFAST).allowed


def test_network_fencing_opens_a_window_on_the_school_network_only() -> None:
    fenced = EXAMPLE.replace('name = "home"\n', 'name = "home"\nnetwork = "away"\n', 1).replace(
        '[[window]]\nname = "school"\n', '[[window]]\nname = "school"\nnetwork = "school"\n', 1
    )
    policy = Policy(read_policy(fenced), LONDON)
    assert window_at(policy, SCHOOL_HOURS, "10.20.3.4").name == "school"  # type: ignore[union-attr]
    # At home in school hours: the school window is closed; no other one is open.
    assert window_at(policy, SCHOOL_HOURS, "192.0.2.7") is None
    assert window_at(policy, SCHOOL_HOURS) is None  # unknown address: away
    assert window_at(policy, AFTER_SCHOOL, "10.20.3.4") is None  # "away" only
    assert window_at(policy, AFTER_SCHOOL, "192.0.2.7").name == "home"  # type: ignore[union-attr]


def test_a_policy_signed_by_an_admin_verifies(school: School) -> None:
    admin = school.certify("Ada Admin", Role.ADMIN, groups=("*",))
    policy = signed(admin.key, admin.certificate, sequence=4)
    body = verify_policy(policy, org_key=school.org.public, group="7B", now=at("2026-09-21 10:00"))
    assert (body.group, body.sequence, body.rules) == ("7B", 4, rules())


@pytest.mark.parametrize("role", [Role.TEACHER, Role.IT, Role.GUARDIAN])
def test_only_an_admin_signs_a_policy(school: School, role: Role) -> None:
    person = school.certify("someone", role)
    policy = signed(person.key, person.certificate)
    with pytest.raises(PeerError) as refused:
        verify_policy(policy, org_key=school.org.public, group="7B", now=SCHOOL_HOURS)
    assert refused.value.code is ErrorCode.ROLE_FORBIDDEN


def test_an_altered_or_foreign_policy_is_refused(school: School) -> None:
    admin = school.certify("Ada Admin", Role.ADMIN)
    policy = signed(admin.key, admin.certificate)
    opened = msgspec.structs.replace(
        policy.body.rules.windows[1], capture=True
    )  # someone wants screens at home
    rules_changed = msgspec.structs.replace(
        policy.body.rules,
        windows=(policy.body.rules.windows[0], opened, *policy.body.rules.windows[2:]),
    )
    altered = SignedPolicy(
        body=msgspec.structs.replace(policy.body, rules=rules_changed), signature=policy.signature
    )
    wrong_purpose = SignedPolicy(
        body=policy.body,
        signature=admin.key.sign(Purpose.COMMAND, msgspec.json.encode(policy.body)),
    )
    for bad in (altered, wrong_purpose):
        with pytest.raises(PeerError) as refused:
            verify_policy(bad, org_key=school.org.public, group="7B", now=SCHOOL_HOURS)
        assert refused.value.code is ErrorCode.BAD_SIGNATURE
    with pytest.raises(PeerError) as refused:
        verify_policy(policy, org_key=school.org.public, group="9C", now=SCHOOL_HOURS)
    assert refused.value.code is ErrorCode.GROUP_FORBIDDEN
    stranger = School().certify("Mallory", Role.ADMIN)
    with pytest.raises(PeerError) as refused:
        verify_policy(
            signed(stranger.key, stranger.certificate),
            org_key=school.org.public,
            group="7B",
            now=SCHOOL_HOURS,
        )
    assert refused.value.code is ErrorCode.UNTRUSTED_ISSUER


def test_a_revoked_admins_policy_is_refused(school: School) -> None:
    admin = school.certify("Ada Admin", Role.ADMIN)
    policy = signed(admin.key, admin.certificate)
    with pytest.raises(PeerError) as refused:
        verify_policy(
            policy,
            org_key=school.org.public,
            group="7B",
            now=SCHOOL_HOURS,
            revoked={admin.certificate.body.serial},
        )
    assert refused.value.code is ErrorCode.CERTIFICATE_REVOKED


def test_only_a_newer_policy_replaces_the_held_one(school: School) -> None:
    admin = school.certify("Ada Admin", Role.ADMIN)
    first = signed(admin.key, admin.certificate, sequence=1)
    second = signed(admin.key, admin.certificate, sequence=2)
    assert newer_than(first, None) and newer_than(second, first)
    assert not newer_than(second, second)
    for offered in (first, signed(admin.key, admin.certificate, sequence=2, now=SATURDAY)):
        with pytest.raises(PeerError) as refused:
            newer_than(offered, second)
        assert refused.value.code is ErrorCode.POLICY_OUTDATED


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ('end = "21:00"', 'end = "25:00"', "'25:00' is not a time of day"),
        ('guardian = ["pause"', 'guardian = ["pauze"', "'pauze' is not an action"),
        ("capture = false", "captur = false", "unknown setting 'captur'"),
        ('school = ["10.20.0.0/16"', 'school = ["10.20.0.0/33"', "is not an address range"),
        ("end = 2026-12-18", "end = 2026-08-18", "ends before it starts"),
        ('name = "night"', 'name = "Night!"', "cannot name a window"),
    ],
)
def test_a_mistake_in_the_file_names_its_line(old: str, new: str, says: str) -> None:
    text = EXAMPLE.replace(old, new, 1)
    with pytest.raises(PolicyFileError) as caught:
        read_policy(text, "7B.toml")
    assert says in str(caught.value)
    assert f"7B.toml, line {_line_of(text, new)}:" in str(caught.value)


def test_toml_syntax_errors_name_their_line_too() -> None:
    with pytest.raises(PolicyFileError, match=r"7B.toml: not valid TOML: .*line 3"):
        read_policy('time_zone = "Europe/London"\n\nstart = \n', "7B.toml")
    with pytest.raises(PolicyFileError, match="at least one"):
        read_policy('time_zone = "Europe/London"\n', "7B.toml")


def test_the_example_in_the_operations_guide_is_the_one_tested() -> None:
    guide = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    shown = guide.split("```toml\n", 1)[1].split("```", 1)[0]
    assert shown == EXAMPLE


def test_a_small_file_takes_the_defaults() -> None:
    rules = read_policy(
        'time_zone = "UTC"\n[[window]]\nname = "home"\nstart = 00:00:00\nend = 00:00:00\n'
    )
    assert rules.school_week == (0, 1, 2, 3, 4) and rules.windows[0].days == (0, 1, 2, 3, 4, 5, 6)
    policy = Policy(rules, LONDON)
    assert window_at(policy, SATURDAY).name == "home"  # type: ignore[union-attr]
    assert not decide(policy, Role.ADMIN, "lock", SATURDAY).allowed  # granted to nobody
