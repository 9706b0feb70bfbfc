"""Revocation lists: who signed them, which is newer, what a device does with an old one."""

from __future__ import annotations

import msgspec
import pytest

from protocol.codec import decode_as
from protocol.errors import ErrorCode, InvalidValue, PeerError
from protocol.keys import PrivateKey, Purpose
from protocol.revocation import (
    RevocationBody,
    RevocationList,
    newer_than,
    sign_revocation_list,
    verify_revocation_list,
)

ORG = PrivateKey.generate()
A, B = "a" * 32, "b" * 32


def test_a_list_verifies_against_its_organisation_only() -> None:
    signed = sign_revocation_list(ORG, [B, A, A], sequence=3, now=100, lifetime=50)
    body = verify_revocation_list(signed, ORG.public)
    assert (body.serials, body.sequence, body.expires_at) == ((A, B), 3, 150)
    with pytest.raises(PeerError) as refused:
        verify_revocation_list(signed, PrivateKey.generate().public)
    assert refused.value.code is ErrorCode.UNTRUSTED_ISSUER


def test_a_signature_for_another_purpose_does_not_pass_as_a_list() -> None:
    body = sign_revocation_list(ORG, [A], sequence=1, now=100).body
    forged = RevocationList(
        body=body, signature=ORG.sign(Purpose.CERTIFICATE, msgspec.json.encode(body))
    )
    with pytest.raises(PeerError) as refused:
        verify_revocation_list(forged, ORG.public)
    assert refused.value.code is ErrorCode.BAD_SIGNATURE


def test_a_changed_serial_breaks_the_signature() -> None:
    signed = sign_revocation_list(ORG, [A, B], sequence=1, now=100)
    emptied = msgspec.structs.replace(
        signed, body=msgspec.structs.replace(signed.body, serials=(A,))
    )
    with pytest.raises(PeerError) as refused:
        verify_revocation_list(emptied, ORG.public)
    assert refused.value.code is ErrorCode.BAD_SIGNATURE


def test_only_a_newer_list_replaces_the_held_one() -> None:
    first = sign_revocation_list(ORG, [], sequence=1, now=100)
    second = sign_revocation_list(ORG, [A], sequence=2, now=200)
    assert newer_than(first, None) and newer_than(second, first)
    assert not newer_than(second, second)  # the same list again: nothing to do
    for offered in (first, sign_revocation_list(ORG, [], sequence=2, now=300)):
        with pytest.raises(PeerError) as refused:
            newer_than(offered, second)
        assert refused.value.code is ErrorCode.REVOCATION_OUTDATED


def test_a_list_past_its_expiry_is_stale() -> None:
    signed = sign_revocation_list(ORG, [A], sequence=1, now=100, lifetime=1000)
    assert not signed.is_stale(1100) and signed.is_stale(1100 + 121)


def test_serials_are_listed_once_in_order() -> None:
    with pytest.raises(InvalidValue):
        RevocationBody(issuer="0" * 64, sequence=1, issued_at=1, expires_at=2, serials=(B, A))
    data = msgspec.json.encode(
        {"issuer": "0" * 64, "sequence": 1, "issued_at": 1, "expires_at": 2, "serials": [A, A]}
    )
    with pytest.raises(PeerError):
        decode_as(data, RevocationBody, "list")
