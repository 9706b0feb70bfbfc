"""Sealing's algorithms from the process's own libcrypto and from cryptography: RFCs, each other."""

from __future__ import annotations

import ctypes
import os

import psutil
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import ErrorCode, PeerError
from protocol.frames import Frame, ImageFormat, encode_frame
from protocol.sealing import (
    FrameSealer,
    SealedWatches,
    SealKey,
    random_watch_id,
    screenshot_about,
    seal_screenshot,
)
from protocol.x25519_aead import (
    Aead,
    Ciphers,
    CryptographyCiphers,
    NotAuthentic,
    OpenSSLCiphers,
    backend,
    hkdf_sha256,
    loaded_openssl,
    new_private,
    passes_test_vectors,
)

OPENSSL = loaded_openssl()  # pytest has loaded the ssl module by now (websockets, the hub)
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="no libcrypto loaded in this process")


def both() -> list[Ciphers]:
    return [CryptographyCiphers(), *([OPENSSL] if OPENSSL is not None else [])]


def queued_errors() -> int:
    """What sits on this thread's OpenSSL error queue (0: nothing), as the ssl module sees it."""
    assert OPENSSL is not None
    lib = OPENSSL._lib
    lib.ERR_peek_error.restype = ctypes.c_ulong
    return int(lib.ERR_peek_error())


# RFC 7748 section 5.2: scalar, u-coordinate (the second with its top bit set), result.
RFC7748_SCALAR_MULTIPLICATION = [
    (
        "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
        "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
        "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
    ),
    (
        "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
        "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
        "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
    ),
]
# RFC 7748 section 6.1: Alice's and Bob's private and public keys, and what they share.
ALICE = (
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
)
BOB = (
    "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
    "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
)
SHARED = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
#: Points of small order (and non-canonical encodings of them): each gives an all-zero secret.
LOW_ORDER = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
]

# RFC 8439 section 2.8.2: the AEAD example.
AEAD_KEY = bytes(range(0x80, 0xA0))
AEAD_NONCE = bytes.fromhex("070000004041424344454647")
AEAD_ASSOCIATED = bytes.fromhex("50515253c0c1c2c3c4c5c6c7")
AEAD_PLAIN = (
    b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the "
    b"future, sunscreen would be it."
)
AEAD_CIPHERTEXT = bytes.fromhex(
    "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
    "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
    "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
    "3ff4def08e4b7a9de576d26586cec64b6116"
)
AEAD_TAG = bytes.fromhex("1ae10b594f09e26a7e902ecbd0600691")

# RFC 5869 appendix A, test cases 1 to 3: IKM, salt, info, L, OKM.
RFC5869 = [
    (
        bytes([0x0B]) * 22,
        bytes(range(0x0D)),
        bytes(range(0xF0, 0xFA)),
        42,
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
    ),
    (
        bytes(range(0x50)),
        bytes(range(0x60, 0xB0)),
        bytes(range(0xB0, 0x100)),
        82,
        "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
        "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
        "cc30c58179ec3e87c14c01d5c1f3434f1d87",
    ),
    (
        bytes([0x0B]) * 22,
        b"",
        b"",
        42,
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
    ),
]


@pytest.mark.parametrize("ciphers", both(), ids=lambda c: c.name)
@pytest.mark.parametrize(("scalar", "u", "result"), RFC7748_SCALAR_MULTIPLICATION)
def test_rfc7748_scalar_multiplication(ciphers: Ciphers, scalar: str, u: str, result: str) -> None:
    assert ciphers.x25519(bytes.fromhex(scalar), bytes.fromhex(u)).hex() == result


@pytest.mark.parametrize("ciphers", both(), ids=lambda c: c.name)
def test_rfc7748_diffie_hellman(ciphers: Ciphers) -> None:
    alice, bob = bytes.fromhex(ALICE[0]), bytes.fromhex(BOB[0])
    assert ciphers.x25519_public(alice).hex() == ALICE[1]
    assert ciphers.x25519_public(bob).hex() == BOB[1]
    assert ciphers.x25519(alice, bytes.fromhex(BOB[1])).hex() == SHARED
    assert ciphers.x25519(bob, bytes.fromhex(ALICE[1])).hex() == SHARED


@pytest.mark.parametrize("ciphers", both(), ids=lambda c: c.name)
def test_rfc8439_aead(ciphers: Ciphers) -> None:
    aead = ciphers.chacha(AEAD_KEY)
    sealed = aead.encrypt(AEAD_NONCE, AEAD_PLAIN, AEAD_ASSOCIATED)
    assert sealed == AEAD_CIPHERTEXT + AEAD_TAG
    assert aead.decrypt(AEAD_NONCE, sealed, AEAD_ASSOCIATED) == AEAD_PLAIN


@pytest.mark.parametrize(("secret", "salt", "info", "length", "okm"), RFC5869)
def test_rfc5869_hkdf_sha256(
    secret: bytes, salt: bytes, info: bytes, length: int, okm: str
) -> None:
    assert hkdf_sha256(secret, info, length, salt).hex() == okm


@given(secret=st.binary(max_size=80), info=st.binary(max_size=120), length=st.integers(1, 200))
def test_hkdf_agrees_with_cryptography_and_no_salt_is_zeros(
    secret: bytes, info: bytes, length: int
) -> None:
    # Sealing calls it with no salt, as it called cryptography's HKDF with salt=None.
    reference = HKDF(hashes.SHA256(), length, salt=None, info=info).derive(secret)
    assert hkdf_sha256(secret, info, length) == reference
    assert hkdf_sha256(secret, info, length, bytes(32)) == reference


@pytest.mark.parametrize("ciphers", both(), ids=lambda c: c.name)
@pytest.mark.parametrize("point", LOW_ORDER)
def test_a_low_order_point_gives_no_secret(ciphers: Ciphers, point: str) -> None:
    with pytest.raises(ValueError):
        ciphers.x25519(new_private(), bytes.fromhex(point))
    if OPENSSL is not None:
        assert queued_errors() == 0


@pytest.mark.parametrize("point", LOW_ORDER[:3])
def test_sealing_for_a_low_order_point_is_a_peer_error(point: str) -> None:
    # What a hostile hub (or console) gets for a watch key that agrees on nothing.
    with pytest.raises(PeerError) as caught:
        FrameSealer("d" * 64).admit(
            watch_id=random_watch_id(), serial="s", watcher_key=bytes.fromhex(point), until=1e12
        )
    assert caught.value.code is ErrorCode.MALFORMED
    with pytest.raises(PeerError):
        seal_screenshot(
            b"picture", command_id="c", device_id="d", seal_to=bytes.fromhex(point), about=b""
        )


@pytest.mark.parametrize("ciphers", both(), ids=lambda c: c.name)
def test_wrong_lengths_are_refused_before_any_pointer_is_handed_over(ciphers: Ciphers) -> None:
    for private, peer in ((bytes(31), bytes.fromhex(BOB[1])), (new_private(), bytes(33))):
        with pytest.raises(ValueError):
            ciphers.x25519(private, peer)
    with pytest.raises(ValueError):
        ciphers.chacha(bytes(16))
    aead = ciphers.chacha(AEAD_KEY)
    for nonce in (bytes(8), bytes(16)):
        with pytest.raises(ValueError):
            aead.encrypt(nonce, b"picture", b"")
        with pytest.raises(ValueError):
            aead.decrypt(nonce, bytes(32), b"")
    with pytest.raises(NotAuthentic):
        aead.decrypt(AEAD_NONCE, AEAD_TAG[:15], b"")  # shorter than a tag
    if OPENSSL is not None:
        assert queued_errors() == 0


@needs_openssl
@given(
    private=st.binary(min_size=32, max_size=32),
    peer_private=st.binary(min_size=32, max_size=32),
)
def test_openssl_and_cryptography_agree_on_x25519(private: bytes, peer_private: bytes) -> None:
    assert OPENSSL is not None
    reference = CryptographyCiphers()
    public, peer = OPENSSL.x25519_public(private), OPENSSL.x25519_public(peer_private)
    assert public == reference.x25519_public(private)
    assert peer == reference.x25519_public(peer_private)
    secret = OPENSSL.x25519(private, peer)
    assert secret == reference.x25519(private, peer) == OPENSSL.x25519(peer_private, public)


@needs_openssl
@given(
    key=st.binary(min_size=32, max_size=32),
    nonce=st.binary(min_size=12, max_size=12),
    data=st.binary(max_size=2000),
    associated=st.binary(max_size=200),
    flip=st.integers(min_value=0),
)
def test_openssl_and_cryptography_agree_on_aead_and_refuse_every_flipped_bit(
    key: bytes, nonce: bytes, data: bytes, associated: bytes, flip: int
) -> None:
    assert OPENSSL is not None
    ours, reference = OPENSSL.chacha(key), CryptographyCiphers().chacha(key)
    sealed = ours.encrypt(nonce, data, associated)
    assert sealed == reference.encrypt(nonce, data, associated)
    assert ours.decrypt(nonce, sealed, associated) == data
    assert reference.decrypt(nonce, sealed, associated) == data
    # One bit changed anywhere: in the sealed bytes, the associated data or the nonce.
    inputs = [sealed, associated, nonce]
    bits = [8 * len(value) for value in inputs]
    where = flip % sum(bits)
    which = 0
    while where >= bits[which]:
        where -= bits[which]
        which += 1
    changed = bytearray(inputs[which])
    changed[where // 8] ^= 1 << (where % 8)
    inputs[which] = bytes(changed)
    for aead in (ours, reference):
        with pytest.raises(NotAuthentic):
            aead.decrypt(inputs[2], inputs[0], inputs[1])
    assert queued_errors() == 0


@needs_openssl
def test_an_openssl_with_no_chacha20_or_x25519_is_not_used() -> None:
    class OldOpenSSL:  # what getattr finds on a library without the functions
        def __getattr__(self, name: str) -> object:
            raise AttributeError(name)

    with pytest.raises(AttributeError):
        OpenSSLCiphers(OldOpenSSL())  # type: ignore[arg-type]


class _Accepting:
    """An AEAD that opens anything: what the self-check must catch."""

    def __init__(self, real: Aead) -> None:
        self.real = real

    def encrypt(self, nonce: bytes, data: bytes, associated: bytes) -> bytes:
        return self.real.encrypt(nonce, data, associated)

    def decrypt(self, nonce: bytes, data: bytes, associated: bytes) -> bytes:
        return data[:-16]


class _Deviant:
    """A library that answers a little differently from the RFCs in one way or another."""

    name = "deviant"

    def __init__(self, fault: str) -> None:
        self.real, self.fault = CryptographyCiphers(), fault

    def x25519_public(self, private: bytes) -> bytes:
        public = self.real.x25519_public(private)
        return public[::-1] if self.fault == "public" else public

    def x25519(self, private: bytes, peer: bytes) -> bytes:
        if self.fault == "zero secret" and peer == bytes(32):
            return bytes(32)
        secret = self.real.x25519(private, peer)
        return bytes(32) if self.fault == "secret" else secret

    def chacha(self, key: bytes) -> Aead:
        real = self.real.chacha(key)
        return _Accepting(real) if self.fault == "no tag check" else real


@pytest.mark.parametrize("fault", ["public", "secret", "zero secret", "no tag check"])
def test_a_library_that_answers_differently_is_not_used(fault: str) -> None:
    assert passes_test_vectors(CryptographyCiphers())
    assert not passes_test_vectors(_Deviant(fault))


@pytest.mark.skipif(not hasattr(os, "RTLD_NOLOAD"), reason="cryptography serves there")
def test_this_process_seals_with_its_own_libcrypto() -> None:
    assert backend().name == "openssl"


@needs_openssl
def test_sealing_twenty_thousand_frames_and_ten_thousand_keys_leaks_nothing() -> None:
    """Every EVP object freed: memory stays put over many frames, watches and screenshots."""
    device = "d" * 64
    frame = encode_frame(Frame(0, 1, 0, ImageFormat.JPEG, 160, 100, b"picture" * 300))
    about = screenshot_about(160, 100, "jpeg")

    def watch_and_seal(frames: int, watches: int) -> None:
        key, watch_id = SealKey.generate(), random_watch_id()
        console = SealedWatches()
        console.remember(key, watch_id, [device], float("inf"))
        sealer = FrameSealer(device)
        sealer.admit(watch_id=watch_id, serial="s", watcher_key=key.public, until=1e12)
        for index in range(frames):
            console.open_frame(device, sealer.seal(frame, whole=index % 50 == 0), 0.0)
        for _ in range(watches):
            sealer.admit(watch_id=watch_id, serial="s", watcher_key=key.public, until=1e12)
            seal_screenshot(b"x", command_id="c", device_id=device, seal_to=key.public, about=about)

    process = psutil.Process()
    watch_and_seal(2000, 200)  # the allocator's pools settle first
    before = process.memory_info().rss
    watch_and_seal(20_000, 5000)
    # Measured: no growth at all; one key leaked per key agreement grows it by 3 MiB.
    assert process.memory_info().rss - before < 2**20
