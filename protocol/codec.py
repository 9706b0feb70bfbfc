"""Strict decoding of a peer's JSON into a typed value: the one place bytes become data."""

from __future__ import annotations

from typing import Any

import msgspec

from .errors import ErrorCode, PeerError

#: Building a decoder compiles its type; reuse one per type (the hot path decodes a lot).
_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


def decode_as(data: bytes | str, kind: Any, what: str) -> Any:
    """Decode `data` as `kind`, or raise PeerError naming `what` and the fault.

    Every decoding failure msgspec can raise (bad JSON, wrong types, limits,
    invalid UTF-8 in a string, nesting too deep) becomes the protocol's error.
    """
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        text = str(exc)
        code = ErrorCode.UNKNOWN_TYPE if text.endswith("`$.type`") else ErrorCode.MALFORMED
        raise PeerError(code, f"{what}: {text[:300]}") from None
    except (msgspec.DecodeError, ValueError, RecursionError) as exc:  # incl. UnicodeDecodeError
        raise PeerError(ErrorCode.MALFORMED, f"{what}: {str(exc)[:300]}") from None
