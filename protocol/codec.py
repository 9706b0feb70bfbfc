"""Strict decoding of a peer's JSON into a typed value, and the same check on values we build.

Decoding here is the one place bytes become data. `WireStruct` is the base of
every struct that crosses the wire: msgspec checks limits and patterns only
when it decodes or converts, so a new value is run through msgspec's converter
with its own type, and its encoding is measured against its type's limit (h11
validates events in their constructor for the same reason). A value that exists
is one the peer accepts.
"""

from threading import get_ident
from typing import Any, ClassVar, TypeVar

import msgspec

from .errors import ErrorCode, InvalidValue, PeerError
from .limits import fit

#: A peer's fault is quoted this far: enough to name the field and the rule.
_FAULT_CHARS = 300

#: Building a decoder compiles its type; reuse one per type (the hot path decodes a lot).
_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}
_encoder = msgspec.json.Encoder()


#: The thread on which msgspec is decoding here, if any. msgspec calls `__post_init__`
#: after decoding too, and has just checked every field, so the construction check is
#: skipped then: decoding costs one check, not two. A thread id, not a flag, so a value
#: built on one thread is never waved through by a decode on another (only thread T ever
#: writes T, and it writes None when done); two threads decoding at once at worst check
#: twice. A thread-local would do the same at five times the cost per decoded struct.
_decoding_on: int | None = None


def _decoder(kind: Any) -> msgspec.json.Decoder[Any]:
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    return decoder


def prepare_decoder(kind: Any) -> None:
    """Build the decoder of `kind` now (msgspec compiles a type once per process: tens of
    milliseconds for the message union), e.g. on a thread while a connection opens."""
    _decoder(kind)


def decode_as(data: bytes | str, kind: Any, what: str) -> Any:
    """Decode `data` as `kind`, or raise PeerError naming `what` and the fault.

    Every decoding failure msgspec can raise (bad JSON, wrong types, limits,
    invalid UTF-8 in a string, nesting too deep) becomes the protocol's error.
    """
    global _decoding_on
    decoder = _decoder(kind)
    _decoding_on = get_ident()
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        text = str(exc)
        code = ErrorCode.UNKNOWN_TYPE if text.endswith("`$.type`") else ErrorCode.MALFORMED
        raise PeerError(code, f"{what}: {_quote(text)}") from None
    except (msgspec.DecodeError, ValueError, RecursionError) as exc:  # incl. UnicodeDecodeError
        raise PeerError(ErrorCode.MALFORMED, f"{what}: {_quote(str(exc))}") from None
    finally:
        _decoding_on = None


def _quote(fault: str) -> str:
    # msgspec may quote the peer's own text, and details go to logs: printable only.
    return fit(fault, _FAULT_CHARS, printable=True)


class WireStruct(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Base of every struct on the wire: checked when built as strictly as when decoded.

    Building one that breaks a limit, a pattern, a rule of `check_rules` or its
    `MAX_BYTES` raises InvalidValue, so the sender refuses it, not the peer.
    Subclasses state rules across fields in `check_rules`, not in `__post_init__`.
    """

    #: The largest encoding a peer accepts for this type on its own, if it has a limit.
    MAX_BYTES: ClassVar[int | None] = None

    def __post_init__(self) -> None:
        if _decoding_on is not None and _decoding_on == get_ident():
            self.check_rules()  # msgspec has just checked every field
        else:
            _check(self)

    def check_rules(self) -> None:
        """Rules the field types cannot state; raise ValueError saying which was broken."""


def _check(value: WireStruct) -> None:
    """Raise InvalidValue unless the peer would accept `value`.

    msgspec's converter checks this value's own fields; values nested in it are
    WireStructs, checked when they were built, which it passes through untouched
    (so a roster of many devices is not checked again device by device).
    """
    global _decoding_on
    kind = type(value)
    _decoding_on = get_ident()  # the converter's copy is checked once, by the converter
    try:
        msgspec.convert(msgspec.structs.asdict(value), kind)
    except msgspec.ValidationError as exc:
        raise InvalidValue(f"{kind.__name__} cannot be sent: {exc}") from None
    finally:
        _decoding_on = None
    try:
        data = _encoder.encode(value)
    except (TypeError, ValueError) as exc:  # a lone surrogate, which UTF-8 cannot carry
        raise InvalidValue(f"{kind.__name__} cannot be sent: {exc}") from None
    if kind.MAX_BYTES is not None and len(data) > kind.MAX_BYTES:
        raise InvalidValue(
            f"{kind.__name__} cannot be sent: {len(data)} bytes, over its limit of {kind.MAX_BYTES}"
        )


S = TypeVar("S", bound=WireStruct)


def canonical(value: S) -> S:
    """`value` exactly as the peer will decode it, for bytes a signature must cover.

    A value may hold an int where the type says float; it encodes as `1` here but
    as `1.0` once the peer has decoded it, and the signature would no longer match.
    """
    copy: S = decode_as(_encoder.encode(value), type(value), type(value).__name__)
    return copy
