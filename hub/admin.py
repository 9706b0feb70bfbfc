"""What an administrator does to a hub: enrollment tokens, staff records, revocation lists.

Nothing here signs for the organisation: staff certificates and revocation lists are
signed with `homeroom-org` on an admin's machine and only recorded here.
"""

from __future__ import annotations

import time

from protocol.certificates import (
    STAFF_ROLES,
    Certificate,
    CertificateBody,
    Role,
    verify_certificate,
)
from protocol.errors import ErrorCode, PeerError
from protocol.requests import StaffCard
from protocol.revocation import RevocationList
from protocol.tokens import EnrollmentToken, new_token, secret_hash

from . import revocation
from .keyring import Keyring
from .store import Store

LOCAL_ADMIN = "homeroom-hub (local)"


def create_token(
    keyring: Keyring,
    store: Store,
    *,
    group: str,
    uses: int,
    lifetime: int,
    now: int,
    hub_url: str | None = None,
) -> EnrollmentToken:
    """A token for `uses` devices to join `group` for `lifetime` seconds; only its hash is kept.

    It carries fingerprints, not keys: it lets a device join and pin, it certifies nobody.
    """
    token = new_token(
        hub_url=hub_url or keyring.hub_url,
        hub=keyring.hub_key.public.fingerprint,
        org=keyring.org_public.fingerprint,
        group=group,
        expires_at=now + lifetime,
        max_uses=uses,
    )
    store.add_token(
        token.token_id, secret_hash(token.secret), group, token.expires_at, uses, LOCAL_ADMIN, now
    )
    store.append_audit(LOCAL_ADMIN, "token_create", [], "ok", f"group {group}, {uses} uses", now)
    return token


def add_staff(
    keyring: Keyring,
    store: Store,
    certificate: Certificate,
    *,
    now: int | None = None,
    hub_url: str | None = None,
) -> StaffCard:
    """Record a staff certificate the organisation signed; returns the card for its owner.

    The hub admits only certificates it recorded, so this is the step that lets the
    person sign in here; the certificate is checked first, so a typo or a certificate
    from another organisation is refused now rather than at their first sign-in.
    """
    when = int(time.time()) if now is None else now
    body = verify_certificate(
        certificate, keyring.org_public, now=when, revoked=store.revoked_serials()
    )
    if body.role not in STAFF_ROLES:
        raise PeerError(ErrorCode.MALFORMED, f"a {body.role.value} certificate is not staff")
    _check_children(store, body)
    store.add_staff(
        body.serial, body.name, body.role.value, list(body.groups), body.expires_at, when
    )
    store.append_audit(
        LOCAL_ADMIN,
        "staff_add",
        [],
        "ok",
        f"{body.name} as {body.role.value} for {', '.join(body.groups)}, serial {body.serial}",
        when,
    )
    return StaffCard(
        hub_url=hub_url or keyring.hub_url,
        hub=keyring.hub_key.public.fingerprint,
        org=keyring.org_public.fingerprint,
        certificate=certificate,
    )


def _check_children(store: Store, body: CertificateBody) -> None:
    """A guardian's certificate must name devices this hub knows, in the certificate's groups.

    The organisation signs the device ids without seeing the fleet, so this is where a
    mistyped id, or a child's device outside the groups the certificate grants, is caught:
    before the guardian signs in to find they can reach nothing.
    """
    again = "ask for it to be certified again with the right --device and --group"
    if body.role is not Role.GUARDIAN:
        if body.devices:
            raise ValueError(
                f"only a guardian's certificate names devices, and this {body.role.value}'s "
                f"does; {again}"
            )
        return
    if not body.devices:
        raise ValueError(f"a guardian's certificate must name their child's devices; {again}")
    for device_id in body.devices:
        device = store.device(device_id)
        if device is None:
            raise ValueError(
                f"this hub has no device {device_id} (see its ids with: homeroom-hub devices); "
                f"{again}"
            )
        if not body.covers_group(device.group):
            raise ValueError(
                f"device {device_id} ({device.name!r}) is in group {device.group!r}, which the "
                f"certificate does not cover ({', '.join(body.groups)}); {again}"
            )


def is_recorded(store: Store, staff: CertificateBody) -> bool:
    """Whether the hub recorded this certificate: same serial, person, role, groups, expiry."""
    record = store.staff_member(staff.serial)
    return record is not None and (record.name, record.role, record.groups, record.expires_at) == (
        staff.name,
        staff.role.value,
        staff.groups,
        staff.expires_at,
    )


def revoke_staff(store: Store, serial: str, *, now: int) -> None:
    """Refuse `serial` at this hub from now on (devices learn it from the next signed list)."""
    store.revoke_staff(serial, now)
    store.append_audit(LOCAL_ADMIN, "staff_revoke", [], "ok", serial, now)


def install_revocations(
    keyring: Keyring, store: Store, revocations: RevocationList, *, now: int
) -> int:
    """Keep the organisation's signed list for devices, and refuse its serials here too.

    Returns how many serials were not refused here before.
    """
    revocation.install(keyring.folder, keyring.org_public, revocations)
    known = store.revoked_serials()
    fresh = [serial for serial in revocations.body.serials if serial not in known]
    for serial in fresh:
        store.revoke_staff(serial, now)
    store.append_audit(
        LOCAL_ADMIN,
        "revocation_install",
        [],
        "ok",
        f"list {revocations.body.sequence}, {len(revocations.body.serials)} serials",
        now,
    )
    return len(fresh)
