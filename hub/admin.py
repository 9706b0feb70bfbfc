"""What an administrator does to a hub: issue enrollment tokens and staff credentials."""

from __future__ import annotations

from protocol.certificates import CertificateBody, Role
from protocol.credentials import StaffCredential
from protocol.tokens import EnrollmentToken, new_token, secret_hash

from . import revocation
from .keyring import STAFF_CERT_LIFETIME, Keyring
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
    """A token for `uses` devices to join `group` for `lifetime` seconds; only its hash is kept."""
    token = new_token(
        hub_url=hub_url or keyring.hub_url,
        hub=keyring.hub_key.public.fingerprint,
        org=keyring.org_key.public.fingerprint,
        group=group,
        expires_at=now + lifetime,
        max_uses=uses,
    )
    store.add_token(
        token.token_id, secret_hash(token.secret), group, token.expires_at, uses, LOCAL_ADMIN, now
    )
    store.append_audit(LOCAL_ADMIN, "token_create", [], "ok", f"group {group}, {uses} uses", now)
    return token


def issue_staff(
    keyring: Keyring,
    store: Store,
    *,
    name: str,
    role: Role,
    groups: tuple[str, ...],
    now: int,
    lifetime: int = STAFF_CERT_LIFETIME,
    hub_url: str | None = None,
    devices: tuple[str, ...] = (),
) -> StaffCredential:
    """A new staff credential, recorded in the store so it can be listed and revoked.

    A guardian's names their own children's `devices` (ids), and the groups of those.
    """
    if role is Role.GUARDIAN:
        if not devices:
            raise ValueError("a guardian needs at least one --device: their own child's")
        found = [store.device(device_id) for device_id in devices]
        missing = [i for i, d in zip(devices, found, strict=True) if d is None]
        if missing:
            raise ValueError(f"no device {missing[0]!r}; name it as 'homeroom-hub devices' does")
        groups = tuple(sorted({d.group for d in found if d is not None}))
    elif devices:
        raise ValueError("only a guardian's credential names devices")
    if not groups:
        raise ValueError(f"a {role.value} needs at least one --group (or '*' for all)")
    credential = keyring.staff_credential(
        name, role, groups, now=now, lifetime=lifetime, hub_url=hub_url, devices=devices
    )
    body = credential.certificate.body
    store.add_staff(
        body.serial, body.name, body.role.value, list(body.groups), body.expires_at, now
    )
    store.append_audit(
        LOCAL_ADMIN, "staff_add", [], "ok", f"{name} as {role.value} for {', '.join(groups)}", now
    )
    return credential


def is_recorded(store: Store, staff: CertificateBody) -> bool:
    """Whether the hub recorded this certificate: same serial, person, role, groups, expiry."""
    record = store.staff_member(staff.serial)
    return record is not None and (record.name, record.role, record.groups, record.expires_at) == (
        staff.name,
        staff.role.value,
        staff.groups,
        staff.expires_at,
    )


def revoke_staff(keyring: Keyring, store: Store, serial: str, *, now: int) -> int:
    """Revoke `serial` here, and sign the next revocation list for devices to check.

    Returns the list's sequence number. The hub refuses the certificate from now on;
    agents refuse it once the list reaches them, even through a hub that does not.
    """
    store.revoke_staff(serial, now)
    store.append_audit(LOCAL_ADMIN, "staff_revoke", [], "ok", serial, now)
    published = revocation.publish(
        keyring.folder, keyring.org_key, store.revoked_serials(), now=now
    )
    return published.body.sequence
