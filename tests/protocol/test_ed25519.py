"""Ed25519 from the process's own libcrypto and from cryptography: RFC 8032, and each other."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.ed25519 import CryptographyEd25519, Ed25519, OpenSSLEd25519, backend, loaded_openssl

ROOT = Path(__file__).resolve().parents[2]

# RFC 8032, section 7.1: TEST 1, 2 and 3 (secret key, public key, message, signature).
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555"
        "fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
        "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]

OPENSSL = loaded_openssl()  # pytest has loaded the ssl module by now (websockets, the hub)
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="no libcrypto loaded in this process")


def both() -> list[Ed25519]:
    return [CryptographyEd25519(), *([OPENSSL] if OPENSSL is not None else [])]


@pytest.mark.parametrize("ed25519", both(), ids=lambda e: e.name)
@pytest.mark.parametrize(("secret", "public", "message", "signature"), RFC8032)
def test_rfc8032_vectors(
    ed25519: Ed25519, secret: str, public: str, message: str, signature: str
) -> None:
    raw_secret, raw_public = bytes.fromhex(secret), bytes.fromhex(public)
    data, expected = bytes.fromhex(message), bytes.fromhex(signature)
    assert ed25519.public_key(raw_secret) == raw_public
    assert ed25519.sign(raw_secret, data) == expected
    assert ed25519.verify(raw_public, expected, data)
    assert not ed25519.verify(raw_public, expected, data + b"\x00")


@needs_openssl
@given(
    secret=st.binary(min_size=32, max_size=32),
    data=st.binary(max_size=300),
    flip=st.integers(min_value=0, max_value=64 * 8 - 1),
)
def test_openssl_and_cryptography_agree(secret: bytes, data: bytes, flip: int) -> None:
    assert OPENSSL is not None
    reference = CryptographyEd25519()
    public = OPENSSL.public_key(secret)
    signature = OPENSSL.sign(secret, data)
    assert public == reference.public_key(secret)
    assert signature == reference.sign(secret, data)  # Ed25519 signatures are deterministic
    assert reference.verify(public, signature, data) and OPENSSL.verify(public, signature, data)
    forged = bytearray(signature)
    forged[flip // 8] ^= 1 << (flip % 8)
    assert not OPENSSL.verify(public, bytes(forged), data)
    assert not reference.verify(public, bytes(forged), data)


@needs_openssl
@pytest.mark.parametrize(
    ("public", "signature"),
    [
        (bytes(31), bytes(64)),  # a key of the wrong length
        (bytes.fromhex(RFC8032[0][1]), bytes.fromhex(RFC8032[0][3])[:63]),  # a short signature
        (bytes.fromhex(RFC8032[0][1]), bytes.fromhex(RFC8032[0][3]) + b"\x00"),  # a long one
        (b"\xff" * 32, bytes.fromhex(RFC8032[0][3])),  # not a point on the curve
    ],
)
def test_openssl_refuses_malformed_keys_and_signatures_and_leaves_no_error_behind(
    public: bytes, signature: bytes
) -> None:
    assert OPENSSL is not None
    assert not OPENSSL.verify(public, signature, b"")
    assert not CryptographyEd25519().verify(public, signature, b"")
    # The ssl module reads OpenSSL's per-thread error queue: a refusal must not leave its
    # reasons there for the next TLS error to be reported as.
    lib = OPENSSL._lib
    lib.ERR_peek_error.restype = ctypes.c_ulong
    assert lib.ERR_peek_error() == 0


@needs_openssl
def test_an_openssl_with_no_raw_ed25519_keys_is_not_used() -> None:
    class OldOpenSSL:  # what getattr finds on a library without the functions
        def __getattr__(self, name: str) -> object:
            raise AttributeError(name)

    with pytest.raises(AttributeError):
        OpenSSLEd25519(OldOpenSSL())  # type: ignore[arg-type]


@pytest.mark.skipif(not hasattr(os, "RTLD_NOLOAD"), reason="cryptography serves there")
def test_a_device_signs_with_the_libcrypto_it_has_and_never_loads_cryptography() -> None:
    # What the agent does at every connection, in a bare interpreter: the ssl module (which
    # asyncio loads) brings libcrypto; signing and verifying use it, and the 14 MB
    # cryptography library stays out of the process.
    code = (
        "import sys, asyncio\n"
        "from protocol.keys import PrivateKey, Purpose\n"
        "from protocol.ed25519 import backend\n"
        "key = PrivateKey.generate()\n"
        "key.public.verify(Purpose.COMMAND, b'lock', key.sign(Purpose.COMMAND, b'lock'))\n"
        "print(backend().name, 'cryptography' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["openssl", "False"]


def test_this_process_uses_one_of_the_two() -> None:
    assert backend().name in {"openssl", "cryptography"}
