"""Which lock or unlock wins, and how an agent checks a lock the hub re-asserts (`LockDue`).

Theory of operation: a lock must hold whatever the student does to the agent's own files, so
the hub keeps, per device, the newest signed lock it routed that no newer unlock followed, and
hands it back each time the device connects. The hub cannot sign, so what it re-asserts is the
teacher's own envelope, by then usually past its expiry and already in the agent's replay
cache. The agent accepts it anyway, because a lock only restricts (fail-safe), under three
rules that keep a hub from turning this into a way to undo a teacher's intent:

- everything but time and replay is checked as for any command (organisation, signature,
  role, target, group), and the certificate must have been in date while the command was;
- a lock older than an unlock the agent carried out is refused (`superseded`), ties included:
  the unlock wins, since nothing but the hub's say-so orders two commands of one second;
- a lock older than `MAX_DUE_LOCK_AGE` is refused, which bounds how long a hub that keeps
  every signed lock it ever saw can hold a device locked against the school's wishes.

Unlocks get no such leniency: an unlock is always a fresh, unreplayed command, and it lifts
only a lock no newer than itself (`check_order`).
"""

from __future__ import annotations

from .actions import LockScreen, PauseDevice, UnlockScreen
from .certificates import CLOCK_SKEW
from .commands import CommandBody, Recipient, SignedCommand, verify_command
from .errors import ErrorCode, PeerError
from .keys import PublicKey

#: A re-asserted lock signed longer ago than this is not applied: a week of school days.
MAX_DUE_LOCK_AGE = 7 * 24 * 3600


def verify_due_lock(
    command: SignedCommand,
    *,
    org_key: PublicKey,
    now: int,
    recipient: Recipient,
    unlocked_at: int,
) -> CommandBody:
    """Accept a re-asserted lock or raise PeerError; `unlocked_at` is the newest unlock's date.

    No replay cache is passed and no nonce is remembered: the same lock may be re-asserted at
    every reconnect, which is harmless as long as it still restricts.
    """
    body = command.body
    if not isinstance(body.action, LockScreen):
        raise PeerError(
            ErrorCode.OUT_OF_STATE, f"only a lock can be re-asserted, not {body.action.name}"
        )
    if body.issued_at <= unlocked_at:
        raise PeerError(ErrorCode.SUPERSEDED, f"lock {body.id} was lifted by a newer unlock")
    if now - body.issued_at > MAX_DUE_LOCK_AGE + CLOCK_SKEW:
        raise PeerError(ErrorCode.COMMAND_EXPIRED, f"lock {body.id} is too old to re-assert")
    # Checked as of a moment the command was in date: its expiry is forgiven, a date ahead of
    # now is not, and its issuer's certificate must have been valid then.
    return verify_command(
        command,
        org_key=org_key,
        now=min(now, body.expires_at),
        replay=None,
        recipient=recipient,
    )


def check_order(body: CommandBody, *, locked_at: int, unlocked_at: int) -> None:
    """Refuse (`superseded`) a fresh lock older than a known unlock, or an unlock older than
    the lock in force. Commands of the same second apply in the order they arrive."""
    action = body.action
    if isinstance(action, LockScreen | PauseDevice) and body.issued_at < unlocked_at:
        raise PeerError(ErrorCode.SUPERSEDED, f"lock {body.id} is older than the last unlock")
    if isinstance(action, UnlockScreen) and body.issued_at < locked_at:
        raise PeerError(ErrorCode.SUPERSEDED, f"unlock {body.id} is older than the lock in force")
