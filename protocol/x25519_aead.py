"""What sealing is made of: X25519, ChaCha20-Poly1305 and HKDF-SHA256, without cryptography.

Why: importing cryptography maps about 8 to 10 MiB of its 14 MB Rust library into a process
for good, and an agent seals every frame while someone watches it: that alone took a watched
agent over issue 7's 60 MB. The ssl module (loaded by every process that talks to a hub) has
OpenSSL's libcrypto in memory already, and that library does both algorithms itself (EVP
interface, OpenSSL 1.1.1 and later), as `protocol/ed25519.py` found for signatures. HKDF is
two HMACs (RFC 5869), done here with the standard library's hmac.

Only a libcrypto already loaded is used (dlopen with RTLD_NOLOAD: nothing is loaded, no file
read), and only after it reproduced RFC 7748's X25519 vectors (sections 5.2 and 6.1), refused a
low-order point, and reproduced RFC 8439's AEAD vector (section 2.8.2) and refused it with one
bit changed. Where there is none (Windows, an ssl module with OpenSSL linked in statically, a
process that seals before it loaded ssl), cryptography does the job. The choice is made once,
at the first use; both are held to the RFC vectors and to each other in the tests.

Why this is safe. The arithmetic is OpenSSL's, the same code cryptography calls in the copy
of OpenSSL its wheel carries (another build of it): X25519 and ChaCha20-Poly1305 there are
constant-time, and the tag is compared in constant time (CRYPTO_memcmp) inside
EVP_DecryptFinal_ex; nothing secret is compared in Python, and nothing computed here but HKDF,
whose HMAC is the standard library's (OpenSSL's again, through hashlib). What ctypes adds is
the binding: lengths are checked in Python before any pointer is handed over (a key is 32
bytes, a nonce 12, a tag 16), every key and context is freed in a `finally` (the cipher is
fetched once, for the process's life), and a failure leaves nothing on OpenSSL's per-thread
error queue, which the ssl module reads and would otherwise report as its own. The self-check
is what guards against a libcrypto that answers differently (an unexpected build, a shim):
it is used only if it agrees with the RFCs.

The price is time, not memory: a ctypes call costs about a microsecond, and a message takes
seven, so a frame seals in about 8 µs more than through cryptography (docs/benchmarks.md).
"""

from __future__ import annotations

import ctypes
import hashlib
import hmac
import os
import secrets
from typing import Protocol

from .ed25519 import LIBCRYPTO_NAMES, raw_key, raw_public_key

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
_EVP_PKEY_X25519 = 1034  # NID_X25519 in OpenSSL's obj_mac.h
_EVP_CTRL_AEAD_GET_TAG = 0x10
_EVP_CTRL_AEAD_SET_TAG = 0x11


class NotAuthentic(ValueError):
    """Sealed bytes whose tag does not check: changed on the way, or sealed with another key."""


class Aead(Protocol):
    """ChaCha20-Poly1305 under one key; what `Ciphers.chacha` returns."""

    def encrypt(self, nonce: bytes, data: bytes, associated: bytes) -> bytes:
        """`data` encrypted, with the 16-byte tag over it and `associated` after it."""
        ...

    def decrypt(self, nonce: bytes, data: bytes, associated: bytes) -> bytes:
        """The plain bytes of `data` (tag last); NotAuthentic when the tag does not check."""
        ...


class Ciphers(Protocol):
    """X25519 and ChaCha20-Poly1305 from one library; `backend()` returns one."""

    name: str

    def x25519_public(self, private: bytes) -> bytes:
        """The 32-byte public key of a 32-byte private key."""
        ...

    def x25519(self, private: bytes, peer: bytes) -> bytes:
        """The shared secret with `peer`; ValueError for a malformed or low-order point."""
        ...

    def chacha(self, key: bytes) -> Aead:
        """ChaCha20-Poly1305 (RFC 8439) under a 32-byte key."""
        ...


def new_private() -> bytes:
    """A new X25519 private key: 32 bytes from the operating system (RFC 7748 section 6.1)."""
    return secrets.token_bytes(KEY_BYTES)


def hkdf_sha256(secret: bytes, info: bytes, length: int = KEY_BYTES, salt: bytes = b"") -> bytes:
    """RFC 5869's HKDF with SHA-256; no salt is HashLen zero bytes, which HMAC pads to anyway."""
    if not 0 < length <= 255 * hashlib.sha256().digest_size:
        raise ValueError("HKDF-SHA256 gives 1 to 8160 bytes")
    prk = hmac.digest(salt, secret, "sha256")
    okm, block = b"", b""
    for counter in range(1, -(-length // 32) + 1):
        block = hmac.digest(prk, block + info + bytes((counter,)), "sha256")
        okm += block
    return okm[:length]


def _check_lengths(key: bytes, nonce: bytes) -> None:
    # OpenSSL reads as many bytes as the cipher wants from these pointers: never fewer here.
    if len(key) != KEY_BYTES:
        raise ValueError("ChaCha20-Poly1305 keys are 32 bytes")
    if len(nonce) != NONCE_BYTES:
        raise ValueError("ChaCha20-Poly1305 nonces are 12 bytes")


class _OpenSSLChaCha:
    """ChaCha20-Poly1305 under one key through EVP_CIPHER_CTX; a context per call, freed."""

    __slots__ = ("_cipher", "_key", "_lib")

    def __init__(self, lib: ctypes.CDLL, cipher: int, key: bytes) -> None:
        _check_lengths(key, bytes(NONCE_BYTES))
        self._lib, self._cipher, self._key = lib, cipher, bytes(key)

    def _start(self, nonce: bytes, associated: bytes, *, encrypt: bool) -> int:
        lib = self._lib
        init = lib.EVP_EncryptInit_ex if encrypt else lib.EVP_DecryptInit_ex
        update = lib.EVP_EncryptUpdate if encrypt else lib.EVP_DecryptUpdate
        context = lib.EVP_CIPHER_CTX_new()
        if not context:
            raise MemoryError("OpenSSL could not make a cipher context")
        length = ctypes.c_int(0)
        # Cipher, key and nonce at once: no EVP_CTRL_AEAD_SET_IVLEN, since 12 bytes is
        # ChaCha20-Poly1305's own nonce length in OpenSSL (RFC 8439's), and the self-check
        # proves it: RFC 8439's vector, with its 12-byte nonce, comes out right only then.
        # A ctypes call costs about a microsecond: two fewer per frame is a fifth of it.
        if (
            init(context, self._cipher, None, self._key, nonce) != 1
            or update(context, None, ctypes.byref(length), associated, len(associated)) != 1
        ):
            lib.EVP_CIPHER_CTX_free(context)
            lib.ERR_clear_error()
            raise ValueError("OpenSSL could not start ChaCha20-Poly1305")
        return int(context)

    def encrypt(self, nonce: bytes, data: bytes, associated: bytes) -> bytes:
        _check_lengths(self._key, nonce)
        data, associated = bytes(data), bytes(associated)
        lib = self._lib
        context = self._start(nonce, associated, encrypt=True)
        try:
            out = ctypes.create_string_buffer(len(data) + TAG_BYTES)
            address = ctypes.addressof(out)
            length, last = ctypes.c_int(0), ctypes.c_int(0)
            if (
                lib.EVP_EncryptUpdate(context, address, ctypes.byref(length), data, len(data)) != 1
                or length.value != len(data)  # a stream cipher: all of it, at once
                or lib.EVP_EncryptFinal_ex(context, address + len(data), ctypes.byref(last)) != 1
                or last.value != 0
                or lib.EVP_CIPHER_CTX_ctrl(
                    context, _EVP_CTRL_AEAD_GET_TAG, TAG_BYTES, address + len(data)
                )
                != 1
            ):
                lib.ERR_clear_error()
                raise ValueError("OpenSSL could not seal with ChaCha20-Poly1305")
            return out.raw
        finally:
            lib.EVP_CIPHER_CTX_free(context)

    def decrypt(self, nonce: bytes, data: bytes, associated: bytes) -> bytes:
        _check_lengths(self._key, nonce)
        data, associated = bytes(data), bytes(associated)
        if len(data) < TAG_BYTES:
            raise NotAuthentic("shorter than its tag")
        lib = self._lib
        size = len(data) - TAG_BYTES
        context = self._start(nonce, associated, encrypt=False)
        try:
            out = ctypes.create_string_buffer(size)
            address = ctypes.addressof(out)
            length, last = ctypes.c_int(0), ctypes.c_int(0)
            # The body is read from `data` up to the tag: no copy of it without the tag.
            if (
                lib.EVP_DecryptUpdate(context, address, ctypes.byref(length), data, size) != 1
                or length.value != size
                or lib.EVP_CIPHER_CTX_ctrl(context, _EVP_CTRL_AEAD_SET_TAG, TAG_BYTES, data[size:])
                != 1
            ):
                lib.ERR_clear_error()
                raise ValueError("OpenSSL could not open with ChaCha20-Poly1305")
            if lib.EVP_DecryptFinal_ex(context, address + size, ctypes.byref(last)) != 1:
                lib.ERR_clear_error()  # a failed tag check queues nothing today; make sure
                raise NotAuthentic("the tag does not check")
            return out.raw
        finally:
            lib.EVP_CIPHER_CTX_free(context)


class OpenSSLCiphers:
    """X25519 and ChaCha20-Poly1305 through a loaded libcrypto's EVP interface (ctypes)."""

    name = "openssl"

    def __init__(self, lib: ctypes.CDLL) -> None:
        p, size, n, octets = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_char_p
        int_out = ctypes.POINTER(n)
        for function, arguments, result in (
            ("EVP_PKEY_new_raw_private_key", [n, p, octets, size], p),
            ("EVP_PKEY_new_raw_public_key", [n, p, octets, size], p),
            ("EVP_PKEY_get_raw_public_key", [p, octets, ctypes.POINTER(size)], n),
            ("EVP_PKEY_free", [p], None),
            ("EVP_PKEY_CTX_new", [p, p], p),
            ("EVP_PKEY_CTX_free", [p], None),
            ("EVP_PKEY_derive_init", [p], n),
            ("EVP_PKEY_derive_set_peer", [p, p], n),
            ("EVP_PKEY_derive", [p, octets, ctypes.POINTER(size)], n),
            ("EVP_chacha20_poly1305", [], p),
            ("EVP_CIPHER_CTX_new", [], p),
            ("EVP_CIPHER_CTX_free", [p], None),
            ("EVP_CIPHER_CTX_ctrl", [p, n, n, p], n),
            ("EVP_EncryptInit_ex", [p, p, p, octets, octets], n),
            ("EVP_EncryptUpdate", [p, p, int_out, octets, n], n),
            ("EVP_EncryptFinal_ex", [p, p, int_out], n),
            ("EVP_DecryptInit_ex", [p, p, p, octets, octets], n),
            ("EVP_DecryptUpdate", [p, p, int_out, octets, n], n),
            ("EVP_DecryptFinal_ex", [p, p, int_out], n),
            ("ERR_clear_error", [], None),
        ):
            bound = getattr(lib, function)  # AttributeError: not an OpenSSL we can use
            bound.argtypes, bound.restype = arguments, result
        self._lib = lib
        self._cipher = self._fetch_cipher(lib)

    @staticmethod
    def _fetch_cipher(lib: ctypes.CDLL) -> int:
        # OpenSSL 3 looks EVP_chacha20_poly1305() up in its providers at every init; a cipher
        # fetched once (and kept for the process's life) spares that, as cryptography does.
        fetch = getattr(lib, "EVP_CIPHER_fetch", None)
        cipher = None
        if fetch is not None:
            fetch.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
            fetch.restype = ctypes.c_void_p
            cipher = fetch(None, b"ChaCha20-Poly1305", None)
        if not cipher:
            lib.ERR_clear_error()
            cipher = lib.EVP_chacha20_poly1305()
        if not cipher:
            raise AttributeError("this OpenSSL has no ChaCha20-Poly1305")
        return int(cipher)

    def _key(self, raw: bytes, *, private: bool) -> int:
        if len(raw) != KEY_BYTES:
            raise ValueError("X25519 keys are 32 bytes")
        return raw_key(self._lib, _EVP_PKEY_X25519, bytes(raw), private=private, what="X25519")

    def x25519_public(self, private: bytes) -> bytes:
        return raw_public_key(self._lib, self._key(private, private=True))

    def x25519(self, private: bytes, peer: bytes) -> bytes:
        lib = self._lib
        key = self._key(private, private=True)
        try:
            theirs = self._key(peer, private=False)
        except ValueError:
            lib.EVP_PKEY_free(key)
            raise
        context = lib.EVP_PKEY_CTX_new(key, None)
        try:
            secret = ctypes.create_string_buffer(KEY_BYTES)
            length = ctypes.c_size_t(KEY_BYTES)
            if (
                not context
                or lib.EVP_PKEY_derive_init(context) != 1
                or lib.EVP_PKEY_derive_set_peer(context, theirs) != 1
                # OpenSSL refuses an all-zero secret (a low-order point) here, as RFC 7748
                # section 6.1 allows and cryptography does.
                or lib.EVP_PKEY_derive(context, secret, ctypes.byref(length)) != 1
                or length.value != KEY_BYTES
            ):
                lib.ERR_clear_error()
                raise ValueError("no shared secret with this X25519 key (a low-order point?)")
            return secret.raw
        finally:
            lib.EVP_PKEY_CTX_free(context)
            lib.EVP_PKEY_free(theirs)
            lib.EVP_PKEY_free(key)

    def chacha(self, key: bytes) -> Aead:
        return _OpenSSLChaCha(self._lib, self._cipher, key)


class _CryptographyChaCha:
    """cryptography's ChaCha20Poly1305, its InvalidTag told as NotAuthentic."""

    __slots__ = ("_cipher", "_invalid")

    def __init__(self, key: bytes) -> None:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

        self._cipher, self._invalid = ChaCha20Poly1305(key), InvalidTag

    def encrypt(self, nonce: bytes, data: bytes, associated: bytes) -> bytes:
        _check_lengths(bytes(KEY_BYTES), nonce)
        return self._cipher.encrypt(nonce, data, associated)

    def decrypt(self, nonce: bytes, data: bytes, associated: bytes) -> bytes:
        _check_lengths(bytes(KEY_BYTES), nonce)
        try:
            return self._cipher.decrypt(nonce, data, associated)
        except self._invalid:
            raise NotAuthentic("the tag does not check") from None


class CryptographyCiphers:
    """X25519 and ChaCha20-Poly1305 through the `cryptography` package."""

    name = "cryptography"

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import x25519

        self._keys = x25519

    def x25519_public(self, private: bytes) -> bytes:
        key = self._keys.X25519PrivateKey.from_private_bytes(private)
        return key.public_key().public_bytes_raw()

    def x25519(self, private: bytes, peer: bytes) -> bytes:
        key = self._keys.X25519PrivateKey.from_private_bytes(private)
        # ValueError for a peer key of the wrong length, or a low-order point.
        return key.exchange(self._keys.X25519PublicKey.from_public_bytes(peer))

    def chacha(self, key: bytes) -> Aead:
        return _CryptographyChaCha(key)


# RFC 7748 section 5.2 (scalar, u-coordinate, result) and section 6.1 (Alice and Bob).
_X25519_VECTORS = [
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
_ALICE = (
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
)
_BOB = (
    "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
    "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
)
_SHARED = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"

# RFC 8439 section 2.8.2: key, nonce, associated data, plaintext, ciphertext and tag.
_AEAD_KEY = bytes(range(0x80, 0xA0))
_AEAD_NONCE = bytes.fromhex("070000004041424344454647")
_AEAD_ASSOCIATED = bytes.fromhex("50515253c0c1c2c3c4c5c6c7")
_AEAD_PLAIN = (
    b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the "
    b"future, sunscreen would be it."
)
_AEAD_SEALED = bytes.fromhex(
    "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
    "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
    "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
    "3ff4def08e4b7a9de576d26586cec64b6116"
    "1ae10b594f09e26a7e902ecbd0600691"
)


def passes_test_vectors(ciphers: Ciphers) -> bool:
    """Whether `ciphers` reproduces RFC 7748 and RFC 8439 vectors and refuses their forgeries."""
    for scalar, u, result in _X25519_VECTORS:
        if ciphers.x25519(bytes.fromhex(scalar), bytes.fromhex(u)) != bytes.fromhex(result):
            return False
    alice, bob = bytes.fromhex(_ALICE[0]), bytes.fromhex(_BOB[0])
    if (
        ciphers.x25519_public(alice).hex() != _ALICE[1]
        or ciphers.x25519_public(bob).hex() != _BOB[1]
        or ciphers.x25519(alice, bytes.fromhex(_BOB[1])).hex() != _SHARED
        or ciphers.x25519(bob, bytes.fromhex(_ALICE[1])).hex() != _SHARED
    ):
        return False
    try:
        ciphers.x25519(alice, bytes(KEY_BYTES))  # the point at zero: no secret at all
        return False
    except ValueError:
        pass
    aead = ciphers.chacha(_AEAD_KEY)
    if aead.encrypt(_AEAD_NONCE, _AEAD_PLAIN, _AEAD_ASSOCIATED) != _AEAD_SEALED:
        return False
    if aead.decrypt(_AEAD_NONCE, _AEAD_SEALED, _AEAD_ASSOCIATED) != _AEAD_PLAIN:
        return False
    forged = _AEAD_SEALED[:-1] + bytes((_AEAD_SEALED[-1] ^ 1,))
    try:
        aead.decrypt(_AEAD_NONCE, forged, _AEAD_ASSOCIATED)
        return False
    except NotAuthentic:
        return True


def loaded_openssl() -> OpenSSLCiphers | None:
    """OpenSSL's X25519 and ChaCha20-Poly1305 from a libcrypto already here, if it passes."""
    no_load = getattr(os, "RTLD_NOLOAD", None)
    if no_load is None:  # Windows
        return None
    for name in LIBCRYPTO_NAMES:
        try:
            candidate = OpenSSLCiphers(ctypes.CDLL(name, mode=no_load | os.RTLD_LOCAL))
            if passes_test_vectors(candidate):
                return candidate
        except (OSError, AttributeError, ValueError, MemoryError):
            continue  # not loaded, or not an OpenSSL with these algorithms
    return None


_chosen: Ciphers | None = None


def backend() -> Ciphers:
    """The ciphers this process seals with, chosen at its first call (see the module docstring)."""
    global _chosen
    if _chosen is None:
        _chosen = loaded_openssl() or CryptographyCiphers()
    return _chosen
