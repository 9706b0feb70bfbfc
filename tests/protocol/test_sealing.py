"""Sealed frames and screenshots, with no socket: only the watcher's console can open them."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.errors import ErrorCode, PeerError
from protocol.frames import (
    HEADER,
    Frame,
    ImageFormat,
    Patch,
    TileFrame,
    check_frame,
    decode_frame,
    encode_frame,
    restream,
)
from protocol.sealing import (
    ENVELOPE,
    TAG_BYTES,
    WRAP,
    FrameSealer,
    SealedWatches,
    SealKey,
    random_watch_id,
    screenshot_about,
    seal_screenshot,
)

DEVICE = "d" * 64
OTHER = "e" * 64
NOW = 1_000_000.0
PICTURE = b"\xff\xd8\xff\xe0 a jpeg of the student's screen " * 40


def whole(sequence: int) -> bytes:
    return encode_frame(Frame(0, sequence, 5, ImageFormat.JPEG, 160, 100, PICTURE))


def tiles(sequence: int) -> bytes:
    patch = Patch(0, 0, 16, 16, b"tile picture")
    return encode_frame(TileFrame(0, sequence, 5, ImageFormat.JPEG, 160, 100, (patch,)))


def watching(*serials: str, device: str = DEVICE) -> tuple[FrameSealer, dict[str, SealedWatches]]:
    """An agent's sealer with one accepted watch per serial, and each watcher's console."""
    sealer = FrameSealer(device)
    consoles = {}
    for serial in serials:
        console, key, watch_id = SealedWatches(), SealKey.generate(), random_watch_id()
        console.remember(key, watch_id, [DEVICE, OTHER], NOW + 60)
        sealer.admit(watch_id=watch_id, serial=serial, watcher_key=key.public, until=NOW + 60)
        consoles[serial] = console
    return sealer, consoles


def test_a_sealed_frame_opens_for_its_watcher_and_hides_the_picture() -> None:
    sealer, consoles = watching("smith")
    plain = whole(1)
    sealed = sealer.seal(plain, whole=True)
    assert PICTURE[:32] not in sealed
    header = check_frame(sealed)  # what the hub checks: the header, and nothing inside
    assert header.sealed and (header.width, header.height) == (160, 100)
    with pytest.raises(PeerError):
        decode_frame(sealed)
    # The hub numbers the stream: that is the one header field it may change.
    assert consoles["smith"].open_frame(DEVICE, restream(sealed, 7), NOW) == restream(plain, 7)
    overhead = len(sealed) - len(plain)
    assert overhead == ENVELOPE.size + WRAP.size + TAG_BYTES
    tile = tiles(2)
    assert consoles["smith"].open_frame(DEVICE, sealer.seal(tile, whole=False), NOW) == tile


def test_two_watchers_share_one_sealed_copy() -> None:
    sealer, consoles = watching("smith", "jones")
    sealed = sealer.seal(whole(1), whole=True)
    for console in consoles.values():
        assert console.open_frame(DEVICE, sealed, NOW) == whole(1)


@pytest.mark.parametrize("where", [0, 3, 9, HEADER.size + 2, HEADER.size + ENVELOPE.size + 3, -1])
def test_any_changed_byte_is_refused(where: int) -> None:
    sealer, consoles = watching("smith")
    sealed = bytearray(sealer.seal(whole(1), whole=True))
    sealed[where] ^= 0x01
    with pytest.raises(PeerError):
        consoles["smith"].open_frame(DEVICE, bytes(sealed), NOW)


def test_a_frame_played_again_or_out_of_order_is_refused() -> None:
    sealer, consoles = watching("smith")
    console = consoles["smith"]
    first = sealer.seal(whole(1), whole=True)
    second = sealer.seal(tiles(2), whole=False)
    third = sealer.seal(tiles(3), whole=False)
    console.open_frame(DEVICE, first, NOW)
    console.open_frame(DEVICE, third, NOW)
    for old in (first, second, third):
        with pytest.raises(PeerError) as refused:
            console.open_frame(DEVICE, old, NOW)
        assert refused.value.code is ErrorCode.REPLAYED


def test_an_old_epoch_is_refused_after_a_new_one() -> None:
    sealer, consoles = watching("smith", "jones")
    console = consoles["smith"]
    old = sealer.seal(whole(1), whole=True)
    console.open_frame(DEVICE, old, NOW)
    assert sealer.update(NOW, {"smith"})  # Mr Jones stops watching: a new content key
    console.open_frame(DEVICE, sealer.seal(whole(2), whole=True), NOW)
    with pytest.raises(PeerError) as refused:
        console.open_frame(DEVICE, old, NOW)
    assert refused.value.code is ErrorCode.REPLAYED


def test_someone_who_stopped_watching_cannot_open_what_follows() -> None:
    sealer, consoles = watching("smith", "jones")
    consoles["jones"].open_frame(DEVICE, sealer.seal(whole(1), whole=True), NOW)
    assert not sealer.update(NOW, {"smith", "jones"})  # nobody left: the same key
    assert sealer.update(NOW, {"smith"})
    after = [sealer.seal(whole(2), whole=True), sealer.seal(tiles(3), whole=False)]
    for sealed in after:
        with pytest.raises(PeerError):
            consoles["jones"].open_frame(DEVICE, sealed, NOW)
        assert consoles["smith"].open_frame(DEVICE, sealed, NOW)


def test_a_frame_moved_to_another_device_is_refused() -> None:
    sealer, consoles = watching("smith")
    sealed = sealer.seal(whole(1), whole=True)
    with pytest.raises(PeerError):
        consoles["smith"].open_frame(OTHER, sealed, NOW)


def test_a_console_without_the_key_opens_nothing() -> None:
    sealer, _ = watching("smith")
    stranger = SealedWatches()
    stranger.remember(SealKey.generate(), random_watch_id(), [DEVICE], NOW + 60)
    with pytest.raises(PeerError):
        stranger.open_frame(DEVICE, sealer.seal(whole(1), whole=True), NOW)


def test_a_watch_key_ends_with_its_lease() -> None:
    sealer, consoles = watching("smith")
    assert consoles["smith"].expects_sealed(DEVICE, NOW)
    consoles["smith"].open_frame(DEVICE, sealer.seal(whole(1), whole=True), NOW)
    with pytest.raises(PeerError):  # past the lease, the console holds nothing to open it
        consoles["smith"].open_frame(DEVICE, sealer.seal(tiles(2), whole=False), NOW + 61)
    assert not consoles["smith"].expects_sealed(DEVICE, NOW + 61)
    sealer.update(NOW + 61, {"smith"})
    assert not sealer.sealing


def test_a_plain_frame_is_refused_where_a_sealed_one_is_due() -> None:
    _, consoles = watching("smith")
    with pytest.raises(PeerError):
        consoles["smith"].open_frame(DEVICE, whole(1), NOW)


def test_a_sealed_screenshot_opens_only_as_it_was_described() -> None:
    console, key, command = SealedWatches(), SealKey.generate(), random_watch_id()
    console.remember(key, command, [DEVICE], NOW + 60)
    about = screenshot_about(1920, 1080, "png")
    sealed, share = seal_screenshot(
        PICTURE, command_id=command, device_id=DEVICE, seal_to=key.public, about=about
    )
    assert PICTURE[:32] not in sealed and len(sealed) == len(PICTURE) + TAG_BYTES
    assert console.open_screenshot(command, DEVICE, sealed, share, about) == PICTURE
    relabelled = screenshot_about(1920, 1080, "webp")
    for args in (
        (command, DEVICE, sealed, share, relabelled),
        (command, OTHER, sealed, share, about),
        # The last byte changed for certain (writing b"x" left it as it was 1 time in 256).
        (command, DEVICE, sealed[:-1] + bytes([sealed[-1] ^ 1]), share, about),
        (command, DEVICE, PICTURE, None, about),  # the hub strips the seal: refused
    ):
        with pytest.raises(PeerError):
            console.open_screenshot(*args)


@given(st.data())
@settings(max_examples=300, deadline=None)
def test_hostile_bytes_raise_only_peer_errors(data: st.DataObject) -> None:
    sealer, consoles = watching("smith")
    sealed = bytearray(sealer.seal(whole(1), whole=True))
    cut = data.draw(st.integers(min_value=HEADER.size + 1, max_value=len(sealed)))
    sealed = sealed[:cut]
    for _ in range(data.draw(st.integers(min_value=0, max_value=4))):
        where = data.draw(st.integers(min_value=0, max_value=len(sealed) - 1))
        sealed[where] = data.draw(st.integers(min_value=0, max_value=255))
    with contextlib.suppress(PeerError):  # anything else escaping fails the test
        consoles["smith"].open_frame(DEVICE, bytes(sealed), NOW)


def test_a_restarted_agent_is_opened_afresh() -> None:
    console, key, watch_id = SealedWatches(), SealKey.generate(), random_watch_id()
    console.remember(key, watch_id, [DEVICE], NOW + 60)
    for _ in range(2):  # the agent restarts: its new run starts epochs of its own
        sealer = FrameSealer(DEVICE)
        sealer.admit(watch_id=watch_id, serial="smith", watcher_key=key.public, until=NOW + 60)
        assert console.open_frame(DEVICE, sealer.seal(whole(1), whole=True), NOW) == whole(1)
        assert console.open_frame(DEVICE, sealer.seal(tiles(2), whole=False), NOW) == tiles(2)
