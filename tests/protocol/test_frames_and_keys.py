"""Binary frames, fingerprints, signatures' domain separation, reconnect delays."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.backoff import full_jitter
from protocol.errors import ErrorCode, PeerError
from protocol.frames import HEADER, Frame, ImageFormat, decode_frame, encode_frame, restream
from protocol.keys import PrivateKey, Purpose


@given(
    stream=st.integers(0, 2**32 - 1),
    sequence=st.integers(0, 2**32 - 1),
    captured=st.integers(0, 2**63),
    fmt=st.sampled_from(ImageFormat),
    width=st.integers(1, 65535),
    height=st.integers(1, 65535),
    image=st.binary(min_size=1),
)
def test_frames_round_trip(
    stream: int,
    sequence: int,
    captured: int,
    fmt: ImageFormat,
    width: int,
    height: int,
    image: bytes,
) -> None:
    frame = Frame(stream, sequence, captured, fmt, width, height, image)
    data = encode_frame(frame)
    assert len(data) == HEADER.size + len(image)
    assert decode_frame(data) == frame
    assert decode_frame(restream(data, 7)).stream == 7


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"HF",
        b"XX" + b"\x00" * 40,
        encode_frame(Frame(0, 0, 0, ImageFormat.PNG, 1, 1, b"x"))[:-1],
    ],
)
def test_bad_frames(data: bytes) -> None:
    with pytest.raises(PeerError) as caught:
        decode_frame(data)
    assert caught.value.code is ErrorCode.MALFORMED


def test_signatures_do_not_cross_purposes() -> None:
    key = PrivateKey.generate()
    signature = key.sign(Purpose.CLIENT_HANDSHAKE, b"transcript")
    key.public.verify(Purpose.CLIENT_HANDSHAKE, b"transcript", signature)
    with pytest.raises(PeerError):
        key.public.verify(Purpose.HUB_HANDSHAKE, b"transcript", signature)


def test_private_key_never_prints() -> None:
    key = PrivateKey.generate()
    assert key.to_bytes().hex() not in repr(key)
    assert PrivateKey.from_bytes(key.to_bytes()).public == key.public


def test_full_jitter_stays_within_its_envelope() -> None:
    delays = list(itertools.islice(full_jitter(base=1, cap=30, rng=lambda: 1.0), 8))
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]
    assert all(d == 0 for d in itertools.islice(full_jitter(rng=lambda: 0.0), 5))
