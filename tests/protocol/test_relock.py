"""Re-asserted locks: taken past their expiry, never over a newer unlock, never anything else."""

from __future__ import annotations

import pytest

from protocol.actions import AnyAction, LockScreen, SendMessage, UnlockScreen
from protocol.certificates import Role
from protocol.commands import Recipient, SignedCommand, sign_command
from protocol.errors import ErrorCode, PeerError
from protocol.relock import MAX_DUE_LOCK_AGE, check_order, verify_due_lock

from .conftest import NOW, School

DEVICE = "d" * 64
ME = Recipient(device_id=DEVICE, group="7B")


def signed(
    school: School, action: AnyAction, *, at: int = NOW, groups: tuple[str, ...] = ("7B",)
) -> SignedCommand:
    teacher = school.certify("Ms Smith", Role.TEACHER, groups)
    return sign_command(
        teacher.key, teacher.certificate, targets=[DEVICE], action=action, now=at, ttl=60
    )


def refusal(
    school: School, command: SignedCommand, *, now: int, unlocked_at: int = 0
) -> ErrorCode | None:
    try:
        verify_due_lock(
            command, org_key=school.org.public, now=now, recipient=ME, unlocked_at=unlocked_at
        )
    except PeerError as error:
        return error.code
    return None


def test_a_lock_long_expired_is_still_taken(school: School) -> None:
    lock = signed(school, LockScreen(message="Eyes on me"))
    assert refusal(school, lock, now=NOW + 3 * 24 * 3600) is None
    # And again, at every reconnect: no nonce is used up.
    assert refusal(school, lock, now=NOW + 3 * 24 * 3600 + 60) is None


def test_a_lock_older_than_a_known_unlock_is_refused(school: School) -> None:
    lock = signed(school, LockScreen(), at=NOW)
    assert refusal(school, lock, now=NOW + 600, unlocked_at=NOW + 10) is ErrorCode.SUPERSEDED
    # Of the same second, the unlock wins: only the hub says which came first.
    assert refusal(school, lock, now=NOW + 600, unlocked_at=NOW) is ErrorCode.SUPERSEDED
    assert refusal(school, lock, now=NOW + 600, unlocked_at=NOW - 1) is None


def test_only_a_lock_can_be_re_asserted(school: School) -> None:
    for action in (UnlockScreen(), SendMessage(text="hello")):
        assert refusal(school, signed(school, action), now=NOW) is ErrorCode.OUT_OF_STATE


def test_a_lock_too_old_or_dated_ahead_is_refused(school: School) -> None:
    lock = signed(school, LockScreen())
    assert refusal(school, lock, now=NOW + MAX_DUE_LOCK_AGE + 3600) is ErrorCode.COMMAND_EXPIRED
    assert refusal(school, lock, now=NOW - 3600) is ErrorCode.COMMAND_NOT_YET_VALID


def test_everything_else_is_checked_as_for_any_command(school: School) -> None:
    other_group = signed(school, LockScreen(), groups=("8C",))
    assert refusal(school, other_group, now=NOW + 600) is ErrorCode.GROUP_FORBIDDEN
    forged = signed(School(), LockScreen())  # another organisation's teacher
    assert refusal(school, forged, now=NOW + 600) is ErrorCode.UNTRUSTED_ISSUER


@pytest.mark.parametrize(
    ("action", "locked_at", "unlocked_at", "refused"),
    [
        (LockScreen(), 0, NOW + 1, True),  # a lock older than the last unlock
        (LockScreen(), 0, NOW, False),  # same second: in the order they arrive
        (UnlockScreen(), NOW + 1, 0, True),  # an unlock older than the lock in force
        (UnlockScreen(), NOW, 0, False),
        (SendMessage(text="hi"), NOW + 1, NOW + 1, False),  # other actions: no order
    ],
)
def test_fresh_locks_and_unlocks_keep_their_order(
    school: School, action: AnyAction, locked_at: int, unlocked_at: int, refused: bool
) -> None:
    body = signed(school, action).body
    if refused:
        with pytest.raises(PeerError) as caught:
            check_order(body, locked_at=locked_at, unlocked_at=unlocked_at)
        assert caught.value.code is ErrorCode.SUPERSEDED
    else:
        check_order(body, locked_at=locked_at, unlocked_at=unlocked_at)
