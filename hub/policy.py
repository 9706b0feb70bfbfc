"""Each group's admin-signed policy on the hub: set, kept in the store, enforced, carried.

The hub enforces a group's policy on every command it routes (`refusal`), and carries the
signed policy to the group's devices, which verify it and enforce it again on their own
clock (agent/policy.py): the hub cannot forge or alter one, only hold it back, and a
device keeps the newest it has seen. An admin signs a policy file on their own machine
(`homeroom-console policy sign|set`, console/policy_cli.py) and the hub keeps it (`accept`),
sent over the admin's console session or given to `homeroom-hub policy set`; a running hub
finds the new sequence on its next housekeeping round (`PolicyBook.refresh`) and sends it
to that group's devices.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from protocol.certificates import CertificateBody, Role
from protocol.codec import decode_as
from protocol.commands import CommandBody
from protocol.credentials import StaffCredential
from protocol.errors import PeerError
from protocol.keys import PublicKey
from protocol.limits import MAX_AUDIT_DETAIL, fit
from protocol.policy import (
    Decision,
    Policy,
    PolicyBody,
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
    """Sign `rules` for `group` as the next policy and keep it: for a caller that holds the
    admin's key in this process (tests, the demo). Admins sign on their own machine
    (console/policy_cli.py) and the hub only `accept`s what they signed."""
    held = load(store, org_key, group)
    sequence = 1 if held is None else held.body.sequence + 1
    signed = sign_policy(
        credential.key, credential.certificate, rules, group=group, sequence=sequence, now=now
    )
    accept(store, org_key, signed, group=group, now=now)
    return signed


def accept(
    store: Store,
    org_key: PublicKey,
    signed: SignedPolicy,
    *,
    group: str,
    now: int,
    sender: CertificateBody | None = None,
) -> PolicyBody:
    """Keep a policy an admin signed for `group` as its newest, or PolicyRefused saying why.

    The signer must chain to the organisation, be an admin over `group`, not be revoked,
    and be recorded on this hub; the sequence must be newer than the one kept. Sent over
    a console session, the `sender` signed in must be that admin, so the audit log's actor
    is both who signed and who asked. Either way the audit log says who tried what.
    """
    signer = signed.body.issuer.body
    who = sender or signer  # named as the router names staff, so their own audit rows show it
    actor = f"{who.name} ({who.role.value} {who.serial})"
    sequence = signed.body.sequence

    def refuse(sentence: str) -> PolicyRefused:
        store.append_audit(
            actor, "policy_set", [], "refused", fit(f"{group}: {sentence}", MAX_AUDIT_DETAIL), now
        )
        return PolicyRefused(sentence)

    if sender is not None and sender.serial != signer.serial:
        raise refuse(
            f"the policy is signed by {signer.name!r}: they send it from their own console "
            "(homeroom-console policy set), or give the signed file to homeroom-hub policy set."
        )
    try:
        body = verify_policy(
            signed, org_key=org_key, group=group, now=now, revoked=store.revoked_serials()
        )
    except PeerError as error:
        raise refuse(
            f"{signer.name!r} cannot set {group!r}'s policy ({error.detail}); "
            "it must be signed by an admin over that group, on their own machine."
        ) from None
    if not is_recorded(store, signer):
        raise refuse(
            f"this hub has no record of {signer.name!r}'s credential; "
            "record their certificate here first (homeroom-hub staff add), or have "
            "another admin sign it."
        )
    if not store.set_policy(group, sequence, _encode(signed), now):
        held = store.policy_sequences().get(group, 0)
        raise refuse(
            f"{group!r} already has policy {held}, and this one is {sequence}: sign it again "
            f"(homeroom-console policy sign numbers it by the time it is signed), or give "
            f"--sequence {held + 1} if the signing machine's clock is behind."
        )
    windows = ", ".join(w.name for w in body.rules.windows)
    store.append_audit(
        actor,
        "policy_set",
        [],
        "ok",
        fit(f"{group} policy {sequence}: windows {windows}", MAX_AUDIT_DETAIL),
        now,
    )
    return body


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
