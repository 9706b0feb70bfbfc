"""The revocation list this device enforces itself, kept in its state folder.

The hub only carries the list; the device verifies it against the organisation key it
pinned at enrolment and keeps the highest sequence it has seen, across restarts, so
neither a hub that ignores a revocation nor one that replays an older list can make it
obey a revoked certificate. A list past its expiry stays enforced (dropping it would
un-revoke everyone named in it to whoever can delay the next one); the device reports it
stale instead, so IT sees the organisation owes a new list.
"""

from __future__ import annotations

import logging
from pathlib import Path

import msgspec

from link.files import write_private
from protocol.certificates import CertificateBody
from protocol.codec import decode_as
from protocol.errors import ErrorCode, PeerError
from protocol.keys import PublicKey
from protocol.revocation import RevocationList, newer_than, verify_revocation_list

log = logging.getLogger(__name__)

REVOCATION_FILE = "revocation.json"


class Revocations:
    """The newest organisation-signed list this device has accepted, or none yet."""

    def __init__(self, folder: Path | None, org_key: PublicKey) -> None:
        self.folder = folder
        self.org_key = org_key
        self.held: RevocationList | None = None
        self.serials: frozenset[str] = frozenset()
        self._load()

    @property
    def sequence(self) -> int:
        return 0 if self.held is None else self.held.body.sequence

    def check(self, issuer: CertificateBody) -> None:
        """Raise PeerError(CERTIFICATE_REVOKED) if the organisation revoked `issuer`."""
        if issuer.serial in self.serials:
            raise PeerError(
                ErrorCode.CERTIFICATE_REVOKED,
                f"certificate of {issuer.name!r} is on revocation list {self.sequence}",
            )

    def receive(self, offered: RevocationList) -> bool:
        """Take `offered` if it is the organisation's and newer; True when it replaced ours.

        Raises PeerError for a list signed by another key or older than the one held;
        the held list stays in force either way.
        """
        verify_revocation_list(offered, self.org_key)
        if not newer_than(offered, self.held):
            return False
        self._hold(offered)
        if self.folder is not None:
            try:
                write_private(self.folder / REVOCATION_FILE, msgspec.json.encode(offered))
            except OSError as error:  # e.g. disk full: enforce it from memory meanwhile
                log.error("could not save revocation list %d: %s", self.sequence, error)
        return True

    def is_stale(self, now: int) -> bool:
        return self.held is not None and self.held.is_stale(now)

    def _hold(self, revocations: RevocationList) -> None:
        self.held = revocations
        self.serials = frozenset(revocations.body.serials)

    def _load(self) -> None:
        if self.folder is None or not (self.folder / REVOCATION_FILE).exists():
            return
        path = self.folder / REVOCATION_FILE
        try:
            saved: RevocationList = decode_as(path.read_bytes(), RevocationList, str(path))
            verify_revocation_list(saved, self.org_key)
        except (PeerError, OSError) as error:
            # Only this device's own account can write here; a damaged file is refilled by
            # the hub's next list, which it sends at every sign-in.
            log.error("revocation list %s unreadable (%s); waiting for the hub's", path, error)
            return
        self._hold(saved)
