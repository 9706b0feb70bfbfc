"""Organisation-signed certificates for the hub and for each staff member."""

import secrets
from collections.abc import Collection
from enum import StrEnum
from typing import Annotated

import msgspec
from msgspec import Meta

from .codec import WireStruct
from .errors import ErrorCode, PeerError
from .keys import PrivateKey, PublicKey, Purpose
from .types import Fingerprint, GroupName, PersonName, RandomId, RawKey, Signature, Timestamp

ALL_GROUPS = "*"
#: Clocks on school laptops drift; this much is forgiven either way.
CLOCK_SKEW = 120


class Role(StrEnum):
    """Who a certificate speaks for. Staff roles decide which actions they may sign."""

    HUB = "hub"
    ADMIN = "admin"
    TEACHER = "teacher"
    IT = "it"
    GUARDIAN = "guardian"


STAFF_ROLES = frozenset({Role.ADMIN, Role.TEACHER, Role.IT, Role.GUARDIAN})
#: The most devices one guardian's certificate names.
MAX_DEVICES = 16


class CertificateBody(WireStruct, frozen=True, omit_defaults=True):
    """What the organisation vouches for: this key belongs to this person in this role.

    A guardian's certificate also names their own children's devices (`devices`), and
    covers those only. Left out of the signed bytes when empty (`omit_defaults`), so the
    certificates of everyone else read and verify as before the field existed.
    """

    serial: RandomId
    subject_key: RawKey
    name: PersonName
    role: Role
    groups: Annotated[tuple[GroupName, ...], Meta(max_length=64)]
    issued_at: Timestamp
    expires_at: Timestamp
    issuer: Fingerprint
    devices: Annotated[tuple[Fingerprint, ...], Meta(max_length=MAX_DEVICES)] = ()

    def covers_group(self, group: str) -> bool:
        return ALL_GROUPS in self.groups or group in self.groups

    def covers_device(self, device_id: str, group: str) -> bool:
        """Whether this person may act on the device: its group, and for a guardian (or any
        certificate that names devices) only the devices named."""
        if self.role is Role.GUARDIAN or self.devices:
            return device_id in self.devices and self.covers_group(group)
        return self.covers_group(group)


class Certificate(WireStruct, frozen=True):
    body: CertificateBody
    signature: Signature


def issue_certificate(
    org_key: PrivateKey,
    subject: PublicKey,
    *,
    name: str,
    role: Role,
    groups: Collection[str],
    now: int,
    lifetime: int,
    devices: Collection[str] = (),
) -> Certificate:
    """Sign `subject` as `name` in `role`, valid from `now` for `lifetime` seconds.

    `devices`: for a guardian, the ids of their own children's devices.
    """
    body = CertificateBody(
        serial=secrets.token_hex(16),
        subject_key=subject.raw,
        name=name,
        role=role,
        groups=tuple(groups),
        issued_at=now,
        expires_at=now + lifetime,
        issuer=org_key.public.fingerprint,
        devices=tuple(devices),
    )
    # Validate through the decoder so a certificate we issue is one peers accept.
    body = msgspec.json.decode(msgspec.json.encode(body), type=CertificateBody)
    signature = org_key.sign(Purpose.CERTIFICATE, msgspec.json.encode(body))
    return Certificate(body=body, signature=signature)


def verify_certificate(
    certificate: Certificate,
    org_key: PublicKey,
    *,
    now: int,
    revoked: Collection[str] = (),
) -> CertificateBody:
    """Check the chain to the pinned organisation key, the dates and revocation."""
    body = certificate.body
    if body.issuer != org_key.fingerprint:
        raise PeerError(ErrorCode.UNTRUSTED_ISSUER, f"{body.name!r} was certified by another key")
    org_key.verify(Purpose.CERTIFICATE, msgspec.json.encode(body), certificate.signature)
    if now > body.expires_at + CLOCK_SKEW:
        raise PeerError(ErrorCode.CERTIFICATE_EXPIRED, f"certificate of {body.name!r} expired")
    if now + CLOCK_SKEW < body.issued_at:
        raise PeerError(ErrorCode.CERTIFICATE_EXPIRED, f"{body.name!r} not valid yet")
    if body.serial in revoked:
        raise PeerError(ErrorCode.CERTIFICATE_REVOKED, f"certificate of {body.name!r} revoked")
    return body
