"""Each group's admin-signed policy on the hub: set, kept in the store, enforced, carried.

The hub enforces a group's policy on every command it routes (`refusal`), and carries the
signed policy to the group's devices, which verify it and enforce it again on their own
clock (agent/policy.py): the hub cannot forge or alter one, only hold it back, and a
device keeps the newest it has seen. `homeroom-hub policy set` signs a policy file with an
admin's own credential and stores it (`publish`); a running hub finds the new sequence on
its next housekeeping round (`PolicyBook.refresh`) and sends it to that group's devices.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from protocol.certificates import Role
from protocol.codec import decode_as
from protocol.commands import CommandBody
from protocol.credentials import StaffCredential
from protocol.errors import PeerError
from protocol.keys import PublicKey
from protocol.limits import MAX_AUDIT_DETAIL, fit
from protocol.policy import (
    Decision,
    Policy,
    PolicyRules,
    Refused,
    SignedPolicy,
    capture_allowed,
    decide,
    sign_policy,
    verify_policy,
    without_policy,
)

from .admin import is_recorded
from .store import Store

log = logging.getLogger(__name__)


def zone_of(name: str) -> tzinfo:
    """The tz database's zone `name` (raises ZoneInfoNotFoundError, a KeyError)."""
    return ZoneInfo(name)


def known_zone(name: str) -> bool:
    try:
        zone_of(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


class PolicyRefused(ValueError):
    """A policy the hub will not keep; the message says why and what to do."""


def publish(
    store: Store,
    org_key: PublicKey,
    credential: StaffCredential,
    rules: PolicyRules,
    *,
    group: str,
    now: int,
) -> SignedPolicy:
    """Sign `rules` for `group` with an admin's credential as the next policy, and keep it."""
    held = load(store, org_key, group)
    sequence = 1 if held is None else held.body.sequence + 1
    signed = sign_policy(
        credential.key, credential.certificate, rules, group=group, sequence=sequence, now=now
    )
    signer = credential.certificate.body
    try:
        verify_policy(
            signed, org_key=org_key, group=group, now=now, revoked=store.revoked_serials()
        )
    except PeerError as error:
        raise PolicyRefused(
            f"{signer.name!r} cannot set {group!r}'s policy ({error.detail}); "
            "sign it with the credential of an admin over that group."
        ) from None
    if not is_recorded(store, signer):
        raise PolicyRefused(
            f"this hub has no record of {signer.name!r}'s credential; "
            "record their certificate here first (homeroom-hub staff add), or sign with "
            "another admin's credential."
        )
    if not store.set_policy(group, sequence, _encode(signed), now):
        raise PolicyRefused(f"a newer policy for {group!r} was set meanwhile; run it again.")
    windows = ", ".join(w.name for w in rules.windows)
    store.append_audit(
        f"{signer.name} ({signer.role.value} {signer.serial})",
        "policy_set",
        [],
        "ok",
        fit(f"{group} policy {sequence}: windows {windows}", MAX_AUDIT_DETAIL),
        now,
    )
    return signed


def load(store: Store, org_key: PublicKey, group: str) -> SignedPolicy | None:
    """The policy kept for `group`, checked again (the store file is only a file)."""
    payload = store.policy(group)
    if payload is None:
        return None
    try:
        signed: SignedPolicy = decode_as(payload, SignedPolicy, f"{group} policy")
        # Revocation is checked when a policy is set; one set earlier stays in force here
        # until an admin sets the next (devices apply their own revocation list).
        verify_policy(signed, org_key=org_key, group=group, now=signed.body.issued_at)
    except PeerError as error:
        log.error("the stored policy of %r does not verify (%s); set it again", group, error)
        return None
    return signed


def _encode(signed: SignedPolicy) -> bytes:
    import msgspec

    return msgspec.json.encode(signed)


class PolicyBook:
    """The policies the hub enforces and carries, by group. Read and refreshed on the store
    thread (`refresh`), where the router's plans also consult it."""

    def __init__(self, org_key: PublicKey, zones: Callable[[str], tzinfo] = zone_of) -> None:
        self.org_key = org_key
        self.zones = zones
        self.signed: dict[str, SignedPolicy] = {}
        self.policies: dict[str, Policy] = {}
        self._sequences: dict[str, int] = {}

    def refresh(self, store: Store) -> list[str]:
        """Load the groups whose policy changed in the store; those groups' names."""
        sequences = store.policy_sequences()
        changed = [g for g, s in sequences.items() if self._sequences.get(g) != s]
        for group in changed:
            self._sequences[group] = sequences[group]
            signed = load(store, self.org_key, group)
            if signed is None:
                continue
            try:
                zone = self.zones(signed.body.rules.time_zone)
            except (KeyError, ValueError):
                log.error("policy of %r names an unknown time zone; it is not enforced", group)
                continue
            self.signed[group] = signed
            self.policies[group] = Policy.of(signed.body, zone)
        return [group for group in changed if group in self.signed]

    def decide(
        self, group: str, role: Role, action: str, when: float, address: str | None = None
    ) -> Decision | None:
        """The policy's answer for a device of `group`, or None if the group has no policy."""
        policy = self.policies.get(group)
        return None if policy is None else decide(policy, role, action, when, address)

    def refusal(
        self, body: CommandBody, group: str, when: float, address: str | None
    ) -> Refused | None:
        """Why the policy refuses this command for a device of `group` now, if it does."""
        role = body.issuer.body.role
        decision = self.decide(group, role, body.action.name, when, address)
        if decision is None:
            return without_policy(group, role)
        return decision if isinstance(decision, Refused) else None

    def capture_allowed(self, group: str, when: float, address: str | None) -> bool:
        """Whether frames of a device of `group` may flow now (True without a policy)."""
        policy = self.policies.get(group)
        return policy is None or capture_allowed(policy, when, address)
