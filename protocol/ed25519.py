"""Ed25519 itself: OpenSSL's, from the libcrypto this process has loaded, else cryptography's.

Why not always cryptography: its Rust extension is a 14 MB library, and importing it makes
about 8 MiB of it resident in every process that signs or verifies, the agent included, all
day long, for the one algorithm Homeroom uses it for here. The ssl module (which every
process that talks to a hub loads) has OpenSSL's libcrypto in memory already, and that
library does Ed25519 itself (EVP_DigestSign/EVP_DigestVerify, OpenSSL 1.1.1 and later): the
same code cryptography calls, from its own copy of OpenSSL.

Only a library already loaded is used (dlopen with RTLD_NOLOAD: nothing is loaded here, no
file read), and only after it reproduced RFC 8032's first test vector. Where there is none
(Windows, an ssl module with OpenSSL linked in statically, a process that never loaded ssl
before its first signature), cryptography does the job. The choice is made once, at the
first use. Both are held to RFC 8032's vectors and to each other in the tests.
"""

from __future__ import annotations

import ctypes
import os
import secrets
from typing import Protocol

KEY_BYTES = 32
SIGNATURE_BYTES = 64
_EVP_PKEY_ED25519 = 1087  # NID_ED25519 in OpenSSL's obj_mac.h
#: Names the ssl module's libcrypto goes by (OpenSSL 3, then 1.1.1; Linux, then macOS).
LIBCRYPTO_NAMES = ("libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.3.dylib")

# RFC 8032, section 7.1, TEST 1: the empty message.
_TEST_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
_TEST_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
_TEST_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


class Ed25519(Protocol):
    """What signing and verifying need; `backend()` returns one."""

    name: str

    def public_key(self, secret: bytes) -> bytes:
        """The 32-byte public key of a 32-byte private key."""
        ...

    def sign(self, secret: bytes, data: bytes) -> bytes:
        """The 64-byte signature of `data`."""
        ...

    def verify(self, public: bytes, signature: bytes, data: bytes) -> bool:
        """Whether `signature` is the key's signature of `data`, all 64 bytes of it."""
        ...


def new_secret() -> bytes:
    """A new private key: 32 bytes from the operating system's random source (RFC 8032 5.1.5)."""
    return secrets.token_bytes(KEY_BYTES)


def raw_key(lib: ctypes.CDLL, nid: int, raw: bytes, *, private: bool, what: str) -> int:
    """An EVP_PKEY of type `nid` from its raw bytes (free it with EVP_PKEY_free)."""
    make = lib.EVP_PKEY_new_raw_private_key if private else lib.EVP_PKEY_new_raw_public_key
    key = make(nid, None, raw, len(raw))
    if not key:
        lib.ERR_clear_error()
        raise ValueError(f"not an {what} key")
    return int(key)


def raw_public_key(lib: ctypes.CDLL, key: int) -> bytes:
    """The raw public half of an EVP_PKEY made by `raw_key`, which this frees."""
    try:
        public = ctypes.create_string_buffer(KEY_BYTES)
        length = ctypes.c_size_t(KEY_BYTES)
        if lib.EVP_PKEY_get_raw_public_key(key, public, ctypes.byref(length)) != 1:
            lib.ERR_clear_error()
            raise ValueError("OpenSSL could not derive the public key")
        return public.raw[: length.value]
    finally:
        lib.EVP_PKEY_free(key)


class OpenSSLEd25519:
    """Ed25519 through a loaded libcrypto's EVP interface (ctypes)."""

    name = "openssl"

    def __init__(self, lib: ctypes.CDLL) -> None:
        p, size, n, octets = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_char_p
        for function, arguments, result in (
            ("EVP_PKEY_new_raw_private_key", [n, p, octets, size], p),
            ("EVP_PKEY_new_raw_public_key", [n, p, octets, size], p),
            ("EVP_PKEY_get_raw_public_key", [p, octets, ctypes.POINTER(size)], n),
            ("EVP_PKEY_free", [p], None),
            ("EVP_MD_CTX_new", [], p),
            ("EVP_MD_CTX_free", [p], None),
            ("EVP_DigestSignInit", [p, p, p, p, p], n),
            ("EVP_DigestSign", [p, octets, ctypes.POINTER(size), octets, size], n),
            ("EVP_DigestVerifyInit", [p, p, p, p, p], n),
            ("EVP_DigestVerify", [p, octets, size, octets, size], n),
            ("ERR_clear_error", [], None),
        ):
            bound = getattr(lib, function)  # AttributeError: not an OpenSSL we can use
            bound.argtypes, bound.restype = arguments, result
        self._lib = lib

    def _key(self, raw: bytes, *, private: bool) -> int:
        return raw_key(self._lib, _EVP_PKEY_ED25519, raw, private=private, what="Ed25519")

    def public_key(self, secret: bytes) -> bytes:
        return raw_public_key(self._lib, self._key(secret, private=True))

    def sign(self, secret: bytes, data: bytes) -> bytes:
        lib = self._lib
        key = self._key(secret, private=True)
        context = lib.EVP_MD_CTX_new()
        try:
            signature = ctypes.create_string_buffer(SIGNATURE_BYTES)
            length = ctypes.c_size_t(SIGNATURE_BYTES)
            if not context or lib.EVP_DigestSignInit(context, None, None, None, key) != 1:
                lib.ERR_clear_error()
                raise ValueError("OpenSSL could not start an Ed25519 signature")
            if lib.EVP_DigestSign(context, signature, ctypes.byref(length), data, len(data)) != 1:
                lib.ERR_clear_error()
                raise ValueError("OpenSSL could not sign")
            return signature.raw[: length.value]
        finally:
            lib.EVP_MD_CTX_free(context)
            lib.EVP_PKEY_free(key)

    def verify(self, public: bytes, signature: bytes, data: bytes) -> bool:
        lib = self._lib
        try:
            key = self._key(public, private=False)
        except ValueError:
            return False
        context = lib.EVP_MD_CTX_new()
        try:
            if not context or lib.EVP_DigestVerifyInit(context, None, None, None, key) != 1:
                return False
            answer: int = lib.EVP_DigestVerify(context, signature, len(signature), data, len(data))
            return answer == 1
        finally:
            # A refused signature leaves reasons on this thread's OpenSSL error queue, where
            # the ssl module would later find them and report them as its own.
            lib.ERR_clear_error()
            lib.EVP_MD_CTX_free(context)
            lib.EVP_PKEY_free(key)


class CryptographyEd25519:
    """Ed25519 through the `cryptography` package (its own copy of OpenSSL)."""

    name = "cryptography"

    def __init__(self) -> None:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric import ed25519

        self._invalid = InvalidSignature
        self._keys = ed25519

    def public_key(self, secret: bytes) -> bytes:
        private = self._keys.Ed25519PrivateKey.from_private_bytes(secret)
        # The *_raw methods spare importing cryptography's serialization package.
        return private.public_key().public_bytes_raw()

    def sign(self, secret: bytes, data: bytes) -> bytes:
        return self._keys.Ed25519PrivateKey.from_private_bytes(secret).sign(data)

    def verify(self, public: bytes, signature: bytes, data: bytes) -> bool:
        try:
            self._keys.Ed25519PublicKey.from_public_bytes(public).verify(signature, data)
        except (self._invalid, ValueError):
            return False
        return True


def loaded_openssl() -> OpenSSLEd25519 | None:
    """OpenSSL's Ed25519 from a libcrypto already in this process, if it passes the test vector."""
    no_load = getattr(os, "RTLD_NOLOAD", None)
    if no_load is None:  # Windows
        return None
    for name in LIBCRYPTO_NAMES:
        try:
            candidate = OpenSSLEd25519(ctypes.CDLL(name, mode=no_load | os.RTLD_LOCAL))
            if _passes_test_vector(candidate):
                return candidate
        except (OSError, AttributeError, ValueError):
            continue  # not loaded, or not an OpenSSL with raw Ed25519 keys
    return None


def _passes_test_vector(ed25519: Ed25519) -> bool:
    return (
        ed25519.public_key(_TEST_SECRET) == _TEST_PUBLIC
        and ed25519.sign(_TEST_SECRET, b"") == _TEST_SIGNATURE
        and ed25519.verify(_TEST_PUBLIC, _TEST_SIGNATURE, b"")
        and not ed25519.verify(_TEST_PUBLIC, _TEST_SIGNATURE, b"x")
    )


_chosen: Ed25519 | None = None


def backend() -> Ed25519:
    """The Ed25519 this process uses, chosen at the first call (see the module's docstring)."""
    global _chosen
    if _chosen is None:
        _chosen = loaded_openssl() or CryptographyEd25519()
    return _chosen
