"""TLS for agents and consoles: encryption, with the hub proven by channel binding."""

from __future__ import annotations

import ssl


class _Context(ssl.SSLContext):
    """An SSLContext that sends an ASCII server name as it is.

    The standard library passes every server name through the IDNA codec, whose first use
    imports it with stringprep and unicodedata (5 ms here at best, more on a busy machine,
    before `homeroom-console do` can send anything), for "127.0.0.1" or
    "hub.school.example", which the codec returns unchanged. A name with other characters
    still goes through it.
    (`_encode_hostname` is CPython's; were it renamed, names would simply go through the
    codec again.)
    """

    def _encode_hostname(self, hostname: str | bytes | None) -> str | None:
        if isinstance(hostname, str) and hostname.isascii() and _labels_fit(hostname):
            return hostname
        encoded: str | None = super()._encode_hostname(hostname)  # type: ignore[misc]  # private
        return encoded


def _labels_fit(name: str) -> bool:
    """What the IDNA codec checks of an ASCII name: each label 1 to 63 characters (the last
    may be empty: "example.org.")."""
    labels = name.split(".")
    return all(0 < len(label) < 64 for label in labels[:-1]) and len(labels[-1]) < 64


def client_context() -> ssl.SSLContext:
    """A TLS client context that relies on channel binding instead of a CA.

    Certificate-authority checks are off on purpose: schools rarely have a CA
    for an internal server, and trust-on-first-use is how Epoptes failed. The
    handshake instead checks that the pinned hub key signed this very TLS
    certificate, so a machine in the middle is refused (CHANNEL_MISMATCH).
    """
    context = _Context(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
