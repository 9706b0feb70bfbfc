"""Revocation lists: the organisation's signed word on which staff certificates are void.

A device checks revocation itself, from a list the organisation signed, so a hub that
ignores a revocation (stolen, or simply wrong) cannot make the device obey a revoked key.
Each list is complete, not a delta, and numbered: a device keeps the highest number it has
seen and refuses any lower one, so an old list cannot be replayed to un-revoke someone.

Signing needs only the organisation key and the serials, so the hub signs today (it still
holds that key) and a tool on an admin's own machine can sign the same lists later.
"""

from collections.abc import Collection
from typing import Annotated

import msgspec
from msgspec import Meta

from .certificates import CLOCK_SKEW
from .codec import WireStruct, canonical
from .errors import ErrorCode, PeerError
from .keys import PrivateKey, PublicKey, Purpose
from .types import Fingerprint, RandomId, Signature, Timestamp

#: Revoked serials one list may carry (about 35 bytes each on the wire).
MAX_REVOKED = 4096
#: How long a list holds before the device reports it stale (it keeps enforcing it).
REVOCATION_LIFETIME = 30 * 24 * 3600


class RevocationBody(WireStruct, frozen=True):
    """Every revoked serial as of `issued_at`; `sequence` orders lists from one organisation."""

    issuer: Fingerprint
    sequence: Annotated[int, Meta(ge=1, lt=2**53)]
    issued_at: Timestamp
    expires_at: Timestamp
    serials: Annotated[tuple[RandomId, ...], Meta(max_length=MAX_REVOKED)]

    def check_rules(self) -> None:
        if self.expires_at <= self.issued_at:
            raise ValueError("a revocation list expires after it is issued")
        if list(self.serials) != sorted(set(self.serials)):
            # One spelling per list, so equal sequences can be compared by their bytes.
            raise ValueError("revoked serials are listed once each, in order")


class RevocationList(WireStruct, frozen=True):
    body: RevocationBody
    signature: Signature

    def is_stale(self, now: int) -> bool:
        """Past its expiry: still enforced, but the organisation should issue a new one."""
        return now > self.body.expires_at + CLOCK_SKEW


def sign_revocation_list(
    org_key: PrivateKey,
    serials: Collection[str],
    *,
    sequence: int,
    now: int,
    lifetime: int = REVOCATION_LIFETIME,
) -> RevocationList:
    """Sign the complete set of revoked `serials` as list number `sequence`."""
    body = canonical(
        RevocationBody(
            issuer=org_key.public.fingerprint,
            sequence=sequence,
            issued_at=now,
            expires_at=now + lifetime,
            serials=tuple(sorted(set(serials))),
        )
    )
    signature = org_key.sign(Purpose.REVOCATION, msgspec.json.encode(body))
    return RevocationList(body=body, signature=signature)


def verify_revocation_list(revocations: RevocationList, org_key: PublicKey) -> RevocationBody:
    """Check the list was signed by the pinned organisation key, or raise PeerError."""
    body = revocations.body
    if body.issuer != org_key.fingerprint:
        raise PeerError(ErrorCode.UNTRUSTED_ISSUER, "revocation list signed by another key")
    org_key.verify(Purpose.REVOCATION, msgspec.json.encode(body), revocations.signature)
    return body


def newer_than(offered: RevocationList, held: RevocationList | None) -> bool:
    """Whether `offered` replaces `held`: True if newer, False if the same list again.

    Raises PeerError(REVOCATION_OUTDATED) for an older list, or for a different list
    under the same number (the organisation never signs two; treat it as a replay).
    Both lists must already be verified.
    """
    if held is None or offered.body.sequence > held.body.sequence:
        return True
    if offered.body == held.body:
        return False
    raise PeerError(
        ErrorCode.REVOCATION_OUTDATED,
        f"revocation list {offered.body.sequence} offered, {held.body.sequence} held",
    )
