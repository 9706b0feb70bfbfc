"""Binary frames, fingerprints, signatures' domain separation, reconnect delays."""

from __future__ import annotations

import contextlib
import itertools
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.backoff import full_jitter
from protocol.errors import ErrorCode, PeerError, UsageError
from protocol.frames import (
    HEADER,
    MAX_IMAGE_BYTES,
    MAX_PATCHES,
    PATCH_COUNT,
    PATCH_ENTRY,
    Frame,
    FrameKind,
    ImageFormat,
    Patch,
    TileFrame,
    check_frame,
    decode_frame,
    encode_frame,
    restream,
)
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


# --- Tile frames ------------------------------------------------------------------------


def tile_frame(*patches: tuple[int, int, int, int], width: int = 320, height: int = 180) -> bytes:
    """A tile frame's bytes with one small picture per patch (x, y, width, height)."""
    return encode_frame(
        TileFrame(
            3,
            8,
            1234,
            ImageFormat.WEBP,
            width,
            height,
            tuple(
                Patch(x, y, w, h, bytes([index + 1]) * 5)
                for index, (x, y, w, h) in enumerate(patches)
            ),
        )
    )


def test_tile_frames_round_trip_and_are_checked_by_the_relay() -> None:
    data = tile_frame((0, 0, 32, 16), (304, 160, 16, 20), (16, 16, 16, 16))
    frame = decode_frame(data)
    assert isinstance(frame, TileFrame)
    assert [(p.x, p.y, p.width, p.height) for p in frame.patches] == [
        (0, 0, 32, 16),
        (304, 160, 16, 20),  # the bottom row of a 180 px picture is 4 px short
        (16, 16, 16, 16),
    ]
    assert frame.patches[1].image == b"\x02" * 5
    header = check_frame(data)  # the hub's relay: no copy, same verdict
    assert (header.kind, header.width, header.height) == (FrameKind.TILES, 320, 180)
    assert decode_frame(restream(data, 9)).stream == 9
    assert encode_frame(frame) == data


def with_entry(data: bytes, index: int, *, x: int, y: int, w: int, h: int, length: int) -> bytes:
    """`data` with patch `index` of its table rewritten, as a hostile agent might."""
    offset = HEADER.size + PATCH_COUNT.size + index * PATCH_ENTRY.size
    return data[:offset] + PATCH_ENTRY.pack(x, y, w, h, length) + data[offset + PATCH_ENTRY.size :]


GOOD = tile_frame((0, 0, 16, 16), (32, 0, 16, 16))


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("overlapping", with_entry(GOOD, 1, x=0, y=0, w=32, h=16, length=5)),
        (
            "overlapping further down",
            with_entry(
                tile_frame((0, 0, 48, 48), (64, 0, 16, 16)), 1, x=32, y=32, w=32, h=16, length=5
            ),
        ),
        ("out of bounds right", with_entry(GOOD, 1, x=320, y=0, w=16, h=16, length=5)),
        ("out of bounds below", with_entry(GOOD, 1, x=0, y=176, w=16, h=16, length=5)),
        ("off the tile grid", with_entry(GOOD, 1, x=40, y=0, w=16, h=16, length=5)),
        ("ends inside a tile", with_entry(GOOD, 1, x=32, y=0, w=10, h=16, length=5)),
        ("empty patch", with_entry(GOOD, 1, x=32, y=0, w=0, h=16, length=5)),
        ("patch without picture", with_entry(GOOD, 1, x=32, y=0, w=16, h=16, length=0)),
        ("image lengths past the end", with_entry(GOOD, 1, x=32, y=0, w=16, h=16, length=6)),
        ("image lengths short of the end", GOOD + b"extra"),
        ("huge image length", with_entry(GOOD, 1, x=32, y=0, w=16, h=16, length=2**32 - 1)),
        ("truncated in the images", GOOD[:-1]),
        ("truncated in the table", GOOD[: HEADER.size + PATCH_COUNT.size + 5]),
        ("truncated before the count", GOOD[: HEADER.size + 1]),
        ("no patches", GOOD[: HEADER.size] + PATCH_COUNT.pack(0)),
        ("too many patches", GOOD[: HEADER.size] + PATCH_COUNT.pack(MAX_PATCHES + 1) + b"\0" * 64),
        ("a picture too large to tile", GOOD[:20] + struct.pack(">HH", 4000, 3000) + GOOD[24:]),
        ("unknown kind", GOOD[:3] + bytes([0x21]) + GOOD[4:]),
    ],
)
def test_hostile_tile_frames_are_refused(name: str, data: bytes) -> None:
    with pytest.raises(PeerError) as caught:
        decode_frame(data)
    assert caught.value.code is ErrorCode.MALFORMED, name
    with pytest.raises(PeerError):
        check_frame(data)


def test_an_oversized_tile_frame_is_refused() -> None:
    data = GOOD + b"\0" * MAX_IMAGE_BYTES
    with pytest.raises(PeerError) as caught:
        check_frame(data)
    assert caught.value.code is ErrorCode.TOO_LARGE


def test_we_cannot_build_a_tile_frame_the_peer_would_refuse() -> None:
    with pytest.raises(UsageError):
        TileFrame(
            1,
            1,
            1,
            ImageFormat.JPEG,
            320,
            180,
            (Patch(0, 0, 32, 32, b"x"), Patch(16, 16, 16, 16, b"y")),
        )
    with pytest.raises(UsageError):
        TileFrame(1, 1, 1, ImageFormat.JPEG, 320, 180, ())


@given(st.binary(max_size=200))
def test_any_bytes_after_a_tile_header_are_a_frame_or_a_peer_error(tail: bytes) -> None:
    with contextlib.suppress(PeerError):  # nothing else may escape
        decode_frame(GOOD[: HEADER.size] + tail)


def test_whole_and_tile_frames_share_their_header_fields_in_one_order() -> None:
    # The agent builds both from one header tuple (agent/runtime.py `_frame`).
    header = ["stream", "sequence", "captured_at_ms", "format", "width", "height"]
    assert list(Frame.__struct_fields__[:6]) == header
    assert list(TileFrame.__struct_fields__[:6]) == header
