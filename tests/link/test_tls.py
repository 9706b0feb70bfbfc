"""link.tls: the server name a client sends, without loading the IDNA codec for ASCII names."""

from __future__ import annotations

import pytest

from link.tls import client_context
from tests.support import fresh_python


def _sent_name(name: str) -> str | None:
    """What the context passes to OpenSSL as the server name (SNI)."""
    sent: str | None = client_context()._encode_hostname(name)  # type: ignore[attr-defined]
    return sent


@pytest.mark.parametrize("name", ["127.0.0.1", "hub.school.example", "example.org.", "::1"])
def test_an_ascii_name_goes_as_the_idna_codec_would_send_it(name: str) -> None:
    assert _sent_name(name) == name.encode("idna").decode("ascii")


@pytest.mark.parametrize("name", ["bücher.example", "école.fr"])
def test_other_names_still_go_through_the_codec(name: str) -> None:
    assert _sent_name(name) == name.encode("idna").decode("ascii")


@pytest.mark.parametrize("name", ["a" * 64 + ".example", "hub..example", "x" * 64])
def test_a_name_the_codec_refuses_is_refused_as_before(name: str) -> None:
    with pytest.raises(UnicodeError):
        name.encode("idna")
    with pytest.raises(UnicodeError):
        _sent_name(name)


def test_wrapping_a_connection_to_an_ascii_name_leaves_the_codec_unloaded() -> None:
    code = (
        "import ssl, sys\n"
        "from link.tls import client_context\n"
        "client_context().wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), "
        "server_hostname='hub.school.example')\n"
        "print('encodings.idna' in sys.modules)\n"
    )
    assert fresh_python(code).strip() == "False"
