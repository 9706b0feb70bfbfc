"""Certificate requests and what comes back: how keys made elsewhere get certified.

Every private key is made on the machine that uses it: a staff member's on their own
computer, the hub's on the hub, the organisation's on an admin's machine. Only requests
(a public key, a name, and a signature proving the requester holds the private half) and
certificates travel between them, as files a person carries. So the hub's folder never
holds a key that can certify anyone, and nobody but a staff member holds their key.
"""

from enum import StrEnum

import msgspec

from .certificates import Certificate, Role
from .codec import WireStruct, canonical, decode_as
from .errors import ErrorCode, PeerError
from .handshake import HubPins
from .keys import PrivateKey, PublicKey, Purpose
from .tokens import HubUrl
from .types import Fingerprint, PersonName, RawKey, Signature


class Requester(StrEnum):
    """Who asks to be certified: a hub, or a staff member (the admin picks the role)."""

    HUB = "hub"
    STAFF = "staff"


class RequestBody(WireStruct, frozen=True):
    requester: Requester
    name: PersonName
    subject_key: RawKey


class CertificateRequest(WireStruct, frozen=True):
    """A public key asking to be certified, signed by its own private half."""

    body: RequestBody
    signature: Signature

    @property
    def subject(self) -> PublicKey:
        return PublicKey(self.body.subject_key)

    def encode(self) -> bytes:
        return msgspec.json.format(msgspec.json.encode(self))

    @classmethod
    def decode(cls, data: bytes, what: str = "certificate request") -> "CertificateRequest":
        """Decode and check the proof of possession, or raise PeerError."""
        request: CertificateRequest = decode_as(data, cls, what)
        request.subject.verify(
            Purpose.CERTIFICATE_REQUEST, msgspec.json.encode(request.body), request.signature
        )
        return request


def make_request(key: PrivateKey, requester: Requester, name: str) -> CertificateRequest:
    """A request for `key`'s public half, signed with `key` itself."""
    body = canonical(RequestBody(requester=requester, name=name, subject_key=key.public.raw))
    signature = key.sign(Purpose.CERTIFICATE_REQUEST, msgspec.json.encode(body))
    return CertificateRequest(body=body, signature=signature)


class HubGrant(WireStruct, frozen=True):
    """What the organisation gives a hub: its public key and the hub's certificate."""

    org_key: RawKey
    certificate: Certificate

    @property
    def org(self) -> PublicKey:
        return PublicKey(self.org_key)

    def encode(self) -> bytes:
        return msgspec.json.format(msgspec.json.encode(self))

    @classmethod
    def decode(cls, data: bytes, what: str = "hub certificate") -> "HubGrant":
        grant: HubGrant = decode_as(data, cls, what)
        if grant.certificate.body.role is not Role.HUB:
            raise PeerError(
                ErrorCode.MALFORMED, f"{what} certifies a {grant.certificate.body.role}"
            )
        return grant


class StaffCard(WireStruct, frozen=True):
    """What the hub hands a certified staff member: where to sign in, the keys to pin,
    and their certificate. No secret: the private key stays on the staff member's machine."""

    hub_url: HubUrl
    hub: Fingerprint
    org: Fingerprint
    certificate: Certificate

    @property
    def pins(self) -> HubPins:
        return HubPins(hub=self.hub, org=self.org)

    def encode(self) -> bytes:
        return msgspec.json.format(msgspec.json.encode(self))

    @classmethod
    def decode(cls, data: bytes, what: str = "staff card") -> "StaffCard":
        card: StaffCard = decode_as(data, cls, what)
        return card
