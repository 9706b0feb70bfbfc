"""The locks the hub knows are due: re-asserted to a device each time it connects.

A student who deletes the agent's lock file and restarts it comes back unlocked as far as
the device knows; the hub does not forget. For each device it keeps (in the store, so a hub
restart forgets nothing) the newest lock or unlock it routed there, and sends a device whose
newest is a lock that lock's signed envelope again (`LockDue`). The hub signs nothing: the
agent checks the teacher's own signature and the order of locks and unlocks itself
(protocol/relock.py), so this gives a hub no power beyond delaying an unlock, and holding a
lock it already had.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

import msgspec

from protocol.actions import LockScreen, UnlockScreen
from protocol.codec import decode_as
from protocol.commands import SignedCommand
from protocol.errors import PeerError

from .store import Store, StoreError

log = logging.getLogger("homeroom.hub")


class DueLocks:
    """Per device, the lock that is due, over the hub's store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def routed(self, command: SignedCommand, device_ids: Collection[str]) -> None:
        """A verified command was routed (delivered or queued) to `device_ids`; note locks.

        A failure to record is logged, not raised: the lock still goes out now, only its
        re-assertion after a restart of the agent is lost, and a teacher's lock must not wait
        on the hub's disk.
        """
        body = command.body
        if not isinstance(body.action, LockScreen | UnlockScreen) or not device_ids:
            return
        locked = isinstance(body.action, LockScreen)
        try:
            self.store.record_lock_state(
                sorted(device_ids),
                locked=locked,
                command_id=body.id,
                issued_at=body.issued_at,
                payload=msgspec.json.encode(command) if locked else b"",
            )
        except StoreError as failure:
            log.error(
                "could not record %s %s for re-assertion: %s", body.action.name, body.id, failure
            )

    def due(self, device_id: str) -> SignedCommand | None:
        """The lock to re-assert to a device that just connected, if one is due.

        A lock signed with a certificate revoked since is not re-asserted: revoking a stolen
        credential should also stop the locks it made from coming back.
        """
        payload = self.store.due_lock(device_id)
        if payload is None:
            return None
        try:
            command: SignedCommand = decode_as(payload, SignedCommand, "due lock")
        except PeerError as error:  # written by this hub after verifying it: a damaged store
            log.error("the due lock of device %s is unreadable: %s", device_id[:16], error)
            return None
        # Read only when a lock is due: most devices connect with none.
        if command.body.issuer.body.serial in self.store.revoked_serials():
            return None
        return command
