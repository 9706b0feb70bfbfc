"""The newest revocation list the hub carries to agents, kept as a file in its data folder.

The list is the organisation's, not the hub's: agents verify it against their pinned
organisation key, so the hub only stores and forwards it. The organisation signs each list
off the hub (`homeroom-org revoke`) and `homeroom-hub revocation install` checks it and
drops it in here (`install`). A running hub notices a new file on its next housekeeping
round and sends it on.
"""

from __future__ import annotations

import logging
from pathlib import Path

import msgspec

from link.files import write_private
from protocol.codec import decode_as
from protocol.errors import PeerError
from protocol.keys import PublicKey
from protocol.revocation import RevocationList, newer_than, verify_revocation_list

log = logging.getLogger(__name__)

REVOCATION_FILE = "revocation.json"


def load(folder: Path, org_key: PublicKey) -> RevocationList | None:
    """The list in `folder`, or None if there is none (or it is not the organisation's)."""
    path = folder / REVOCATION_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        revocations: RevocationList = decode_as(data, RevocationList, str(path))
        verify_revocation_list(revocations, org_key)
    except PeerError as error:
        # Agents would refuse it anyway; carry nothing rather than something they reject.
        log.error("%s is not a revocation list signed by this organisation: %s", path, error)
        return None
    return revocations


def install(folder: Path, org_key: PublicKey, revocations: RevocationList) -> None:
    """Keep `revocations` for agents if the organisation signed it and it is the newest.

    Raises PeerError for a list from another key, an older list, or another list under the
    held number: agents would refuse each, so the hub does not carry it.
    """
    verify_revocation_list(revocations, org_key)
    newer_than(revocations, load(folder, org_key))
    write_private(folder / REVOCATION_FILE, msgspec.json.encode(revocations))


class Carrier:
    """What the hub forwards: the newest list it has read, reread when the file changes."""

    def __init__(self, folder: Path, org_key: PublicKey) -> None:
        self.folder = folder
        self.org_key = org_key
        self._stamp: tuple[int, int] | None = None
        self.current: RevocationList | None = None
        #: The sequence last sent to every online agent (a sign-in gets `current` anyway).
        self._broadcast = 0
        self.refresh()

    def refresh(self) -> None:
        """Reread the file if it changed, and hold it if it is newer than `current`."""
        try:
            stat = (self.folder / REVOCATION_FILE).stat()
        except FileNotFoundError:
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        revocations = load(self.folder, self.org_key)
        held = self.current
        if revocations is not None and (
            held is None or revocations.body.sequence > held.body.sequence
        ):
            self.current = revocations

    def unsent(self) -> bool:
        """Whether `current` is newer than what online agents were last sent (then it is)."""
        sequence = 0 if self.current is None else self.current.body.sequence
        if sequence <= self._broadcast:
            return False
        self._broadcast = sequence
        return True
