"""Signed commands: one test per attack the verification function must stop."""

from __future__ import annotations

import msgspec
import pytest

from protocol.actions import KillProcess, LockScreen, PauseDevice, SendMessage, SetPolicy, Watch
from protocol.certificates import Role
from protocol.commands import (
    Recipient,
    ReplayCache,
    SignedCommand,
    sign_command,
    verify_command,
)
from protocol.errors import ErrorCode, PeerError, UsageError
from protocol.keys import PrivateKey

from .conftest import NOW, School

DEVICE = "d" * 64
OTHER_DEVICE = "e" * 64
ME = Recipient(device_id=DEVICE, group="7B")


def lock(
    school: School, *, role: Role = Role.TEACHER, ttl: int = 60, **kw: object
) -> SignedCommand:
    teacher = school.certify("Ms Smith", role, **kw)  # type: ignore[arg-type]
    return sign_command(
        teacher.key, teacher.certificate, targets=[DEVICE], action=LockScreen(), now=NOW, ttl=ttl
    )


def check(
    school: School,
    command: SignedCommand,
    *,
    now: int = NOW,
    replay: ReplayCache | None = None,
    revoked: tuple[str, ...] = (),
) -> ErrorCode | None:
    try:
        verify_command(
            command,
            org_key=school.org.public,
            now=now,
            replay=replay,
            revoked=revoked,
            recipient=ME,
        )
    except PeerError as error:
        return error.code
    return None


def test_a_good_command_passes(school: School) -> None:
    body = verify_command(
        lock(school), org_key=school.org.public, now=NOW, replay=ReplayCache(), recipient=ME
    )
    assert isinstance(body.action, LockScreen)


def test_forged_signature(school: School) -> None:
    command = lock(school)
    forged = bytes([command.signature[0] ^ 1]) + command.signature[1:]
    assert (
        check(school, msgspec.structs.replace(command, signature=forged)) is ErrorCode.BAD_SIGNATURE
    )


def test_altered_body_breaks_the_signature(school: School) -> None:
    command = lock(school)
    body = msgspec.structs.replace(command.body, targets=(DEVICE, OTHER_DEVICE))
    assert check(school, msgspec.structs.replace(command, body=body)) is ErrorCode.BAD_SIGNATURE


@pytest.mark.parametrize("keep", [0, 4, 16, 63])
def test_truncated_signature(school: School, keep: int) -> None:
    # MeshCentral compared 4 of 16 MAC bytes; every byte counts here.
    command = lock(school)
    truncated = msgspec.structs.replace(command, signature=command.signature[:keep])
    assert check(school, truncated) is ErrorCode.BAD_SIGNATURE


def test_key_not_certified_by_the_organisation(school: School) -> None:
    rogue_org = PrivateKey.generate()
    command = lock(school, org=rogue_org)
    assert check(school, command) is ErrorCode.UNTRUSTED_ISSUER


def test_certificate_with_a_copied_issuer_but_rogue_signature(school: School) -> None:
    rogue_org = PrivateKey.generate()
    teacher = school.certify("Mallory", Role.ADMIN, org=rogue_org)
    body = msgspec.structs.replace(teacher.certificate.body, issuer=school.org.public.fingerprint)
    certificate = msgspec.structs.replace(teacher.certificate, body=body)
    command = sign_command(teacher.key, certificate, targets=[DEVICE], action=LockScreen(), now=NOW)
    assert check(school, command) is ErrorCode.BAD_SIGNATURE


def test_expired_certificate(school: School) -> None:
    command = lock(school, lifetime=86_400 + 3600)
    assert check(school, command, now=NOW + 7200) is ErrorCode.CERTIFICATE_EXPIRED


def test_revoked_certificate(school: School) -> None:
    command = lock(school)
    serial = command.body.issuer.body.serial
    assert check(school, command, revoked=(serial,)) is ErrorCode.CERTIFICATE_REVOKED


def test_teacher_attempting_an_it_only_action(school: School) -> None:
    teacher = school.certify("Ms Smith", Role.TEACHER)
    command = sign_command(
        teacher.key,
        teacher.certificate,
        targets=[DEVICE],
        action=KillProcess(pid=42, process_name="game.exe"),
        now=NOW,
    )
    assert check(school, command) is ErrorCode.ROLE_FORBIDDEN
    it = school.certify("Sam (IT)", Role.IT, groups=("*",))
    command = sign_command(
        it.key,
        it.certificate,
        targets=[DEVICE],
        action=KillProcess(pid=42, process_name="game.exe"),
        now=NOW,
    )
    assert check(school, command) is None


def test_only_admins_set_policy_and_guardians_only_watch(school: School) -> None:
    for role in (Role.TEACHER, Role.IT, Role.GUARDIAN):
        person = school.certify("someone", role)
        command = sign_command(
            person.key, person.certificate, targets=[DEVICE], action=SetPolicy(), now=NOW
        )
        assert check(school, command) is ErrorCode.ROLE_FORBIDDEN
    guardian = school.certify("A parent", Role.GUARDIAN)
    command = sign_command(
        guardian.key, guardian.certificate, targets=[DEVICE], action=SendMessage(text="hi"), now=NOW
    )
    assert check(school, command) is ErrorCode.ROLE_FORBIDDEN


def test_device_not_among_the_targets(school: School) -> None:
    teacher = school.certify("Ms Smith", Role.TEACHER)
    command = sign_command(
        teacher.key, teacher.certificate, targets=[OTHER_DEVICE], action=LockScreen(), now=NOW
    )
    assert check(school, command) is ErrorCode.NOT_A_TARGET


def test_teacher_of_another_group(school: School) -> None:
    command = lock(school, groups=("9C",))
    assert check(school, command) is ErrorCode.GROUP_FORBIDDEN


def test_expired_command(school: School) -> None:
    command = lock(school, ttl=60)
    assert check(school, command, now=NOW + 60 + 121) is ErrorCode.COMMAND_EXPIRED
    # A little clock skew is forgiven, both ways.
    assert check(school, lock(school), now=NOW + 60 + 100) is None
    assert check(school, lock(school), now=NOW - 100) is None
    assert check(school, lock(school), now=NOW - 1000) is ErrorCode.COMMAND_NOT_YET_VALID


def test_replayed_nonce(school: School) -> None:
    cache = ReplayCache()
    command = lock(school)
    assert check(school, command, replay=cache) is None
    assert check(school, command, replay=cache) is ErrorCode.REPLAYED


def test_replayed_nonce_after_the_cache_is_saved_and_reloaded(school: School) -> None:
    cache = ReplayCache()
    command = lock(school)
    assert check(school, command, replay=cache) is None
    reloaded = ReplayCache.from_bytes(cache.to_bytes())
    assert check(school, command, replay=reloaded) is ErrorCode.REPLAYED


def test_a_refused_command_does_not_burn_its_nonce(school: School) -> None:
    cache = ReplayCache()
    command = lock(school)
    assert check(school, command, now=NOW - 1000, replay=cache) is ErrorCode.COMMAND_NOT_YET_VALID
    assert len(cache) == 0


def test_replay_cache_is_bounded_and_fails_closed(school: School) -> None:
    cache = ReplayCache(capacity=2)
    cache.remember(b"a" * 16, NOW + 60, now=NOW)
    cache.remember(b"b" * 16, NOW + 60, now=NOW)
    with pytest.raises(PeerError) as caught:
        cache.remember(b"c" * 16, NOW + 60, now=NOW)
    assert caught.value.code is ErrorCode.REPLAY_CACHE_FULL
    # Once those commands can no longer pass the expiry check, room is made.
    cache.remember(b"c" * 16, NOW + 1000, now=NOW + 500)
    assert len(cache) == 1


def test_signing_with_someone_elses_certificate_is_a_usage_error(school: School) -> None:
    teacher = school.certify("Ms Smith", Role.TEACHER)
    with pytest.raises(UsageError):
        sign_command(
            PrivateKey.generate(),
            teacher.certificate,
            targets=[DEVICE],
            action=LockScreen(),
            now=NOW,
        )


def test_hub_side_verification_skips_the_recipient_checks(school: School) -> None:
    teacher = school.certify("Ms Smith", Role.TEACHER)
    command = sign_command(
        teacher.key, teacher.certificate, targets=[OTHER_DEVICE], action=LockScreen(), now=NOW
    )
    verify_command(command, org_key=school.org.public, now=NOW, replay=None)


def test_command_lifetime_is_capped(school: School) -> None:
    with pytest.raises(ValueError):
        lock(school, ttl=48 * 3600)


def test_guardians_only_pause_and_only_their_own_childs_device(school: School) -> None:
    guardian = school.certify("A parent", Role.GUARDIAN, devices=(DEVICE,))
    for action in (Watch(), SendMessage(text="hi"), LockScreen()):
        command = sign_command(
            guardian.key, guardian.certificate, targets=[DEVICE], action=action, now=NOW
        )
        assert check(school, command) is ErrorCode.ROLE_FORBIDDEN
    pause = sign_command(
        guardian.key, guardian.certificate, targets=[DEVICE], action=PauseDevice(), now=NOW
    )
    assert check(school, pause) is None  # the policy decides when (protocol/policy.py)
    for other in (school.certify("A parent", Role.GUARDIAN, devices=(OTHER_DEVICE,)),
                  school.certify("A parent", Role.GUARDIAN)):  # fmt: skip
        pause = sign_command(
            other.key, other.certificate, targets=[DEVICE], action=PauseDevice(), now=NOW
        )
        assert check(school, pause) is ErrorCode.GROUP_FORBIDDEN


def test_one_person_cannot_fill_the_replay_cache_for_everyone(school: School) -> None:
    cache = ReplayCache(capacity=100, per_issuer=3)
    mallory = school.certify("Mallory", Role.TEACHER)
    for _ in range(3):
        command = sign_command(
            mallory.key,
            mallory.certificate,
            targets=[DEVICE],
            action=LockScreen(),
            now=NOW,
            ttl=24 * 3600,
        )
        assert check(school, command, replay=cache) is None
    command = sign_command(
        mallory.key, mallory.certificate, targets=[DEVICE], action=LockScreen(), now=NOW
    )
    assert check(school, command, replay=cache) is ErrorCode.REPLAY_CACHE_FULL
    assert check(school, lock(school), replay=cache) is None  # everyone else carries on
    reloaded = ReplayCache.from_bytes(cache.to_bytes(), per_issuer=3)
    assert check(school, command, replay=reloaded) is ErrorCode.REPLAY_CACHE_FULL
