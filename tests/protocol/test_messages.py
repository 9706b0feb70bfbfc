"""Every message type round-trips; no input makes a decoder raise anything but PeerError."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import messages
from protocol.commands import ReplayCache
from protocol.credentials import StaffCredential
from protocol.errors import GUIDANCE, ErrorCode, PeerError
from protocol.frames import decode_frame
from protocol.messages import (
    MAX_MESSAGE_BYTES,
    MESSAGE_TYPES,
    Event,
    Message,
    Status,
    decode_message,
    encode_message,
)
from protocol.tokens import parse_token
from tests.support import fresh_python

from .strategies import of

SLOW = settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])


# Two ways to decode one message: the type it names first, then that type's decoder (agents
# and consoles), or one decoder for every type at once (the hub). A peer must not be able to
# tell which: the same message, or the same refusal in the same words.


@contextlib.contextmanager
def all_types_at_once(on: bool) -> Iterator[None]:
    before = messages._all_at_once
    if on:
        messages.prepare_message_decoder()
    messages._all_at_once = on
    try:
        yield
    finally:
        messages._all_at_once = before


def both_ways(data: bytes) -> list[object]:
    outcomes: list[object] = []
    for on in (False, True):
        with all_types_at_once(on):
            try:
                outcomes.append(decode_message(data))
            except PeerError as error:
                outcomes.append((error.code, error.detail))
    return outcomes


def agree(data: bytes) -> None:
    by_type, at_once = both_ways(data)
    assert by_type == at_once, data


@pytest.mark.parametrize("message_type", MESSAGE_TYPES, ids=lambda t: t.__name__)
@SLOW
@given(data=st.data())
def test_every_message_type_round_trips(message_type: type[Message], data: st.DataObject) -> None:
    message = data.draw(of(message_type))
    encoded = encode_message(message)
    if len(encoded) <= message_type.MAX_BYTES:
        assert both_ways(encoded) == [message, message]
    else:
        with pytest.raises(PeerError) as caught:
            decode_message(encoded)
        assert caught.value.code is ErrorCode.TOO_LARGE


def test_every_code_has_guidance() -> None:
    assert set(GUIDANCE) == set(ErrorCode)
    assert all(text.endswith(".") for text in GUIDANCE.values())


def test_unknown_type_and_field_are_named() -> None:
    with pytest.raises(PeerError) as caught:
        decode_message(b'{"type": "format_disk"}')
    assert caught.value.code is ErrorCode.UNKNOWN_TYPE
    with pytest.raises(PeerError) as caught:
        decode_message(b'{"type": "status", "locked": false, "admin": true}')
    assert caught.value.code is ErrorCode.MALFORMED
    assert "admin" in caught.value.detail


def test_size_limit_is_per_type() -> None:
    # An Event whose fields are all in range but padded past 4 KiB with whitespace.
    padded = b'{"type": "event", "kind": "x", "at": 1' + b" " * 5000 + b"}"
    with pytest.raises(PeerError) as caught:
        decode_message(padded)
    assert caught.value.code is ErrorCode.TOO_LARGE
    with pytest.raises(PeerError) as caught:
        decode_message(b" " * (MAX_MESSAGE_BYTES + 1))
    assert caught.value.code is ErrorCode.TOO_LARGE
    assert isinstance(decode_message(encode_message(Event(kind="x", at=1))), Event)


def test_deep_nesting_is_refused_cleanly() -> None:
    with pytest.raises(PeerError):
        decode_message(b"[" * 100_000 + b"]" * 100_000)


def test_messages_are_immutable() -> None:
    status = Status(locked=True)
    with pytest.raises(AttributeError):
        status.locked = False  # type: ignore[misc]


DECODERS: list[Callable[[bytes], object]] = [
    decode_message,
    decode_frame,
    lambda b: parse_token(b.decode("utf-8", "replace")),
    StaffCredential.decode,
    ReplayCache.from_bytes,
]


@pytest.mark.parametrize("decoder", DECODERS)
@settings(max_examples=300)
@given(data=st.binary(max_size=2048))
def test_random_bytes_raise_only_peer_errors(decoder, data: bytes) -> None:  # type: ignore[no-untyped-def]
    with contextlib.suppress(PeerError):
        decoder(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
type_names = st.sampled_from([str(t.__struct_config__.tag) for t in MESSAGE_TYPES] + ["x"])


@settings(max_examples=500)
@given(body=st.dictionaries(st.text(max_size=12), json_values, max_size=6), tag=type_names)
def test_random_json_raises_only_peer_errors(body: dict[str, object], tag: str) -> None:
    body["type"] = tag
    agree(json.dumps(body).encode())  # and only PeerError escapes


@settings(max_examples=200)
@given(data=st.data())
def test_mutated_valid_messages_raise_only_peer_errors(data: st.DataObject) -> None:
    message_type = data.draw(st.sampled_from(MESSAGE_TYPES))
    value = msgspec.to_builtins(data.draw(of(message_type)))
    key = data.draw(st.sampled_from(sorted(value)))
    value[key] = data.draw(json_values)
    agree(json.dumps(value).encode())  # and only PeerError escapes


def test_invalid_utf8_inside_a_string_is_a_peer_error() -> None:
    # Found by the fuzzer: msgspec raises UnicodeDecodeError for this, not DecodeError.
    for decoder in DECODERS:
        with pytest.raises(PeerError):
            decoder(b'{"hub_url": "\xe3\x28", "type": "status", "locked": "\xe3\x28"}')


def test_size_limits_count_bytes_even_for_text_frames() -> None:
    # 2,900 characters of 4-byte UTF-8: under 4 KiB in characters, far over in bytes.
    text = (
        '{"type": "event", "kind": "x", "at": 1, "detail": "' + "😀" * 400 + '"' + " " * 2500 + "}"
    )
    assert len(text) < 4096 < len(text.encode())
    with pytest.raises(PeerError) as caught:
        decode_message(text)
    assert caught.value.code is ErrorCode.TOO_LARGE


@settings(max_examples=300)
@given(data=st.binary(max_size=512))
def test_both_ways_agree_on_random_bytes(data: bytes) -> None:
    agree(data)


@pytest.mark.parametrize(
    "data",
    [
        b'{"type": "status", "type": "event", "kind": "x", "at": 1}',  # named twice
        b'{"type": "event", "type": "status", "locked": true}',
        b'{"kind": "x", "at": 1, "type": "event"}',  # named last
        b'{"type": "event", "kind": "x", "at": 1, "extra": [[[[[]]]]]}',
        b'{"type": 7}',
        b'{"type": null, "locked": true}',
        b'{"type": "Status", "locked": true}',
        b'{"type": "status\\u0000", "locked": true}',
        b'{"x": ' + b"[" * 10_000 + b"]" * 10_000 + b', "type": "status"}',  # deep, skipped
        b'"status"',
        b"",
        b'{"type": "status", "locked": tru',
    ],
)
def test_both_ways_agree_on_awkward_messages(data: bytes) -> None:
    agree(data)


def test_a_client_builds_only_the_decoders_of_the_types_it_meets() -> None:
    code = (
        "from protocol import codec, messages\n"
        "data = messages.encode_message(messages.Event(kind='x', at=1))\n"
        "assert messages.decode_message(data) == messages.Event(kind='x', at=1)\n"
        "print(sorted(getattr(k, '__name__', 'union') for k in codec._decoders))"
    )
    assert fresh_python(code).split() == ["['Event']"]
