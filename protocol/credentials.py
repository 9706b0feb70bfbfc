"""A staff member's credential: what `homeroom-hub staff add` writes and the console reads."""

import msgspec

from .certificates import Certificate
from .codec import decode_as
from .errors import ErrorCode, PeerError
from .handshake import HubPins
from .keys import PrivateKey
from .tokens import HubUrl
from .types import Fingerprint, RawKey


class StaffCredential(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The hub to reach, the keys to pin, the certificate, and the private key.

    Written once, readable by its owner only; whoever holds it can act as that
    person until the certificate expires or an admin revokes it.
    """

    hub_url: HubUrl
    hub: Fingerprint
    org: Fingerprint
    certificate: Certificate
    private_key: RawKey

    @property
    def pins(self) -> HubPins:
        return HubPins(hub=self.hub, org=self.org)

    @property
    def key(self) -> PrivateKey:
        return PrivateKey.from_bytes(self.private_key)

    def encode(self) -> bytes:
        return msgspec.json.format(msgspec.json.encode(self))

    @classmethod
    def decode(cls, data: bytes) -> "StaffCredential":
        credential: StaffCredential = decode_as(data, cls, "staff credential")
        if credential.key.public.raw != credential.certificate.body.subject_key:
            raise PeerError(ErrorCode.MALFORMED, "credential key and certificate differ")
        return credential
