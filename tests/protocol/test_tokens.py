"""Enrollment tokens: copy-pasteable, damage detected, expiry and use limit enforced."""

from __future__ import annotations

from typing import Any

import pytest

from protocol.errors import ErrorCode, PeerError
from protocol.tokens import check_redeemable, new_token, parse_token, secret_hash

from .conftest import NOW


def make_token(**kw: object):  # type: ignore[no-untyped-def]
    values: dict[str, Any] = dict(
        hub_url="wss://hub.school.example:8443",
        hub="a" * 64,
        org="b" * 64,
        group="7B",
        expires_at=NOW + 3600,
        max_uses=30,
    )
    values.update(kw)
    return new_token(**values)


def test_round_trip_through_a_paste_with_line_breaks() -> None:
    token = make_token()
    text = token.encode()
    assert text.startswith("hrt1.") and len(text) < 600
    wrapped = "\n  ".join(text[i : i + 60] for i in range(0, len(text), 60))
    assert parse_token(wrapped) == token


@pytest.mark.parametrize("cut", [5, 30, -3])
def test_damaged_token_is_named(cut: int) -> None:
    text = make_token().encode()
    with pytest.raises(PeerError) as caught:
        parse_token(text[:cut])
    assert caught.value.code is ErrorCode.MALFORMED


def test_secrets_are_unguessable_and_stored_hashed() -> None:
    a, b = make_token(), make_token()
    assert a.secret != b.secret and len(a.secret) == 32
    assert secret_hash(a.secret) != a.secret and len(secret_hash(a.secret)) == 32


def test_expired_token() -> None:
    with pytest.raises(PeerError) as caught:
        check_redeemable(expires_at=NOW, max_uses=5, used=0, now=NOW)
    assert caught.value.code is ErrorCode.TOKEN_EXPIRED


def test_token_used_past_its_limit() -> None:
    check_redeemable(expires_at=NOW + 10, max_uses=2, used=1, now=NOW)
    with pytest.raises(PeerError) as caught:
        check_redeemable(expires_at=NOW + 10, max_uses=2, used=2, now=NOW)
    assert caught.value.code is ErrorCode.TOKEN_USED_UP


def test_only_websocket_urls() -> None:
    token = make_token(hub_url="http://hub.example/")  # constructed without checks...
    with pytest.raises(PeerError):  # ...but refused where it is read
        parse_token(token.encode())
