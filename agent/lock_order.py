"""The order of this device's locks and unlocks, so an older one never undoes a newer one.

The hub re-asserts a lock that is due (protocol/relock.py); the agent takes it only if no
newer unlock reached it. That unlock is kept as the teacher's signed command (`unlock.json`)
and verified again at each start, so a student who edits the file cannot move its date
forward to refuse every lock: damaged or deleted, it only makes the agent accept more locks.
The date of the lock in force lives in lock.json beside the lock itself; a student who
changes it can only keep unlocks from lifting their lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import msgspec

from link.files import write_private
from protocol.actions import UnlockScreen
from protocol.codec import decode_as
from protocol.commands import CommandBody, Recipient, SignedCommand, verify_command
from protocol.errors import ErrorCode, PeerError
from protocol.keys import PublicKey
from protocol.relock import check_order, verify_due_lock

log = logging.getLogger("homeroom.agent")

#: The newest unlock this device carried out, as signed by the teacher.
UNLOCK_FILE = "unlock.json"


class LockOrder:
    """When the lock in force and the newest unlock were issued (Unix seconds; 0: none)."""

    def __init__(
        self,
        folder: Path | None,
        *,
        recipient: Recipient,
        org_key: PublicKey,
        clock: Callable[[], float],
    ) -> None:
        self.folder = folder
        self.recipient = recipient
        self.org_key = org_key
        self.clock = clock
        #: When the lock on the screen was issued; 0 when unlocked or not known.
        self.locked_at = 0
        #: When the newest unlock this device carried out was issued.
        self.unlocked_at = self._load_unlock()

    def check(self, body: CommandBody) -> None:
        """Refuse (PeerError `superseded`) a fresh lock or unlock that a newer one overtook."""
        check_order(body, locked_at=self.locked_at, unlocked_at=self.unlocked_at)

    def verify_due(self, command: SignedCommand) -> CommandBody:
        """Check a lock the hub re-asserts (`LockDue`), or raise PeerError."""
        return verify_due_lock(
            command,
            org_key=self.org_key,
            now=int(self.clock()),
            recipient=self.recipient,
            unlocked_at=self.unlocked_at,
        )

    def unlocked(self, command: SignedCommand) -> None:
        """An unlock was carried out: it is the newest, and no lock is in force."""
        self.locked_at = 0
        if command.body.issued_at < self.unlocked_at:
            return
        self.unlocked_at = command.body.issued_at
        if self.folder is None:
            return
        try:
            write_private(self.folder / UNLOCK_FILE, msgspec.json.encode(command))
        except OSError as error:  # kept in memory; after a restart older locks may come back
            log.error("could not save the last unlock: %s", error)

    def _load_unlock(self) -> int:
        if self.folder is None or not (self.folder / UNLOCK_FILE).exists():
            return 0
        try:
            saved = (self.folder / UNLOCK_FILE).read_bytes()
            command: SignedCommand = decode_as(saved, SignedCommand, UNLOCK_FILE)
            if not isinstance(command.body.action, UnlockScreen):
                raise PeerError(ErrorCode.MALFORMED, "not an unlock")
            # Its expiry is long past; what matters is that a teacher signed it for us.
            body = verify_command(
                command,
                org_key=self.org_key,
                now=min(int(self.clock()), command.body.expires_at),
                replay=None,
                recipient=self.recipient,
            )
        except (PeerError, OSError) as error:
            # Fail safe: with no known unlock, a lock the hub re-asserts is taken.
            log.warning("ignoring %s (%s): re-asserted locks will be accepted", UNLOCK_FILE, error)
            return 0
        return body.issued_at
