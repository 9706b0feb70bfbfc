"""A value is valid from birth: building one the peer would refuse fails at the sender.

For every limit a wire type declares, a valid value drawn from the types' own
strategies is pushed one step past it: building that value raises InvalidValue
(our misuse), and decoding its encoding still raises PeerError (the peer's garbage).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import msgspec
import msgspec.inspect as mi
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec import Meta

from protocol import codec
from protocol.actions import (
    ACTION_TYPES,
    LockScreen,
    OpenUrl,
    SendMessage,
    SetPolicy,
    TimeWindow,
    Watch,
)
from protocol.certificates import Role
from protocol.codec import WireStruct, decode_as
from protocol.commands import (
    MAX_COMMAND_LIFETIME,
    CommandBody,
    Recipient,
    ReplayCache,
    sign_command,
    verify_command,
)
from protocol.errors import GUIDANCE, ErrorCode, InvalidValue, PeerError, UsageError
from protocol.limits import (
    ELLIPSIS,
    MAX_ROSTER,
    MAX_SHORT_TEXT,
    MAX_USER_NAME,
    MAX_WATCHERS,
    fit,
)
from protocol.messages import (
    MESSAGE_TYPES,
    AuditEntry,
    DeviceState,
    Error,
    Event,
    Message,
    Roster,
    Status,
    decode_message,
    encode_message,
)
from protocol.policy import DateRange
from protocol.types import NAME_RULE

from ..support import scaled
from .conftest import NOW, School
from .strategies import for_type, of

FEW = settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))


def wire_types() -> Iterator[type]:
    """Every struct type a message can carry, found by walking the messages' types."""
    seen: set[type] = set()

    def walk(t: mi.Type) -> Iterator[type]:
        if isinstance(t, mi.StructType):
            if t.cls not in seen:
                seen.add(t.cls)
                yield t.cls
                for field in t.fields:
                    yield from walk(field.type)
        elif isinstance(t, mi.UnionType):
            for member in t.types:
                yield from walk(member)
        elif isinstance(t, mi.VarTupleType):
            yield from walk(t.item_type)
        elif isinstance(t, mi.DictType):
            yield from walk(t.key_type)
            yield from walk(t.value_type)

    for message_type in MESSAGE_TYPES:
        yield from walk(mi.type_info(message_type))


WIRE_TYPES = tuple(wire_types())


def limited_fields() -> Iterator[tuple[type, str]]:
    for cls in WIRE_TYPES:
        for field in mi.type_info(cls).fields:  # type: ignore[attr-defined]
            if _breakable(field.type):
                yield cls, field.name


def _constrained(t: mi.Type) -> mi.Type | None:
    """The member of `t` (or `t`) that has a limit to break."""
    members = t.types if isinstance(t, mi.UnionType) else (t,)
    for member in members:
        if isinstance(member, mi.StrType | mi.BytesType | mi.VarTupleType | mi.DictType) and (
            member.max_length is not None or member.min_length
        ):
            return member
        if isinstance(member, mi.StrType) and member.pattern:
            return member
        if isinstance(member, mi.IntType | mi.FloatType) and (
            member.le is not None or member.ge is not None or member.lt is not None
        ):
            return member
    return None


def _breakable(t: mi.Type) -> bool:
    return _constrained(t) is not None


def _breaking(t: mi.Type, current: Any, draw: Callable[[st.SearchStrategy[Any]], Any]) -> Any:
    """A value one step outside the limit of `t`."""
    if isinstance(t, mi.StrType):
        if t.max_length is not None:
            return "a" * (t.max_length + 1)
        if t.min_length:
            return ""
        assert t.pattern is not None
        # Checked with `re` itself, not msgspec, so the test does not trust the code it tests.
        return next(
            s
            for s in ("", "\x1b[2J", "!", "X" * 64, "a" * 200, "1" * 65)
            if re.search(t.pattern, s) is None
        )
    if isinstance(t, mi.BytesType):
        return b"a" * (t.max_length + 1) if t.max_length is not None else b""
    if isinstance(t, mi.IntType | mi.FloatType):
        if t.le is not None:
            return t.le + 1
        if t.lt is not None:
            return t.lt
        assert t.ge is not None
        return t.ge - 1
    if isinstance(t, mi.VarTupleType):
        if t.max_length is None:
            return ()
        item = current[0] if current else draw(for_type(t.item_type))
        return (item,) * (t.max_length + 1)
    if isinstance(t, mi.DictType):
        assert t.max_length is not None
        return {f"k{i}": "v" for i in range(t.max_length + 1)}
    raise NotImplementedError(t)


LIMITED = tuple(limited_fields())


@pytest.mark.parametrize(("cls", "name"), LIMITED, ids=lambda v: getattr(v, "__name__", v))
@FEW
@given(data=st.data())
def test_building_past_a_limit_is_refused_and_so_is_decoding(
    cls: type[WireStruct], name: str, data: st.DataObject
) -> None:
    valid = data.draw(of(cls))
    field = next(f for f in mi.type_info(cls).fields if f.name == name)  # type: ignore[attr-defined]
    limited = _constrained(field.type)
    assert limited is not None
    bad = _breaking(limited, getattr(valid, name), data.draw)

    with pytest.raises(InvalidValue) as caught:
        msgspec.structs.replace(valid, **{name: bad})
    assert isinstance(caught.value, UsageError)
    assert cls.__name__ in str(caught.value)

    encoded = msgspec.to_builtins(valid)
    encoded[name] = msgspec.to_builtins(bad)
    with pytest.raises(PeerError):
        if issubclass(cls, Message):
            decode_message(json.dumps(encoded).encode())
        else:
            decode_as(json.dumps(encoded).encode(), cls, cls.__name__)


def test_every_limit_of_every_wire_type_is_covered() -> None:
    # The walk finds nested types too, so a new limit anywhere joins the test above.
    assert {Status, DeviceState, CommandBody, LockScreen, SetPolicy} <= set(WIRE_TYPES)
    nested = {(AuditEntry, "detail"), (Watch, "fps"), (SendMessage, "text"), (TimeWindow, "start")}
    assert {(Status, "user"), (Roster, "devices"), *nested} <= set(LIMITED)


def test_every_type_a_message_carries_is_checked_at_birth() -> None:
    for cls in WIRE_TYPES:
        assert issubclass(cls, WireStruct), f"{cls.__name__} could be built unchecked"
    assert set(ACTION_TYPES) <= set(WIRE_TYPES)


def test_a_status_with_a_huge_user_name_is_refused_by_its_sender() -> None:
    with pytest.raises(UsageError) as caught:
        Status(locked=False, user="x" * 10_000)
    assert "$.user" in str(caught.value)
    assert str(MAX_USER_NAME) in str(caught.value)


def test_control_characters_in_a_name_are_refused_at_birth() -> None:
    with pytest.raises(InvalidValue):
        Status(locked=True, watched_by=("Ms Smith\x1b[2J",))


def test_a_value_of_the_wrong_type_is_refused_at_birth() -> None:
    with pytest.raises(InvalidValue) as caught:
        Status(locked="yes")  # type: ignore[arg-type]
    assert "$.locked" in str(caught.value)


def test_text_no_utf8_can_carry_is_refused_at_birth() -> None:
    with pytest.raises(InvalidValue):
        Event(kind="login", at=NOW, detail="caf\udce9")  # an undecodable byte, escaped


def test_the_size_of_the_whole_message_is_checked_at_birth() -> None:
    # Every device is in range; 20,000 of them are not, in bytes.
    device = DeviceState(
        device_id="d" * 64, name="x" * 80, group="7B", online=True, stream=1, user="y" * 128
    )
    with pytest.raises(InvalidValue) as caught:
        Roster(devices=(device,) * MAX_ROSTER)
    assert "over its limit" in str(caught.value)


def test_rules_across_fields_are_checked_at_birth_and_on_decode(school: School) -> None:
    with pytest.raises(InvalidValue, match="http"):
        OpenUrl(url="file:///etc/passwd")
    with pytest.raises(PeerError):
        decode_as(b'{"name": "open_url", "url": "javascript:alert(1)"}', OpenUrl, "action")
    teacher = school.certify("Ms Smith", Role.TEACHER)
    command = sign_command(
        teacher.key, teacher.certificate, targets=["d" * 64], action=LockScreen(), now=NOW
    )
    with pytest.raises(PeerError):  # a signed command does not pass for a signed policy
        decode_message(msgspec.json.encode({"type": "policy", "policy": command}))
    with pytest.raises(InvalidValue, match="ends before it starts"):
        DateRange(start="2026-09-02", end="2026-09-01")
    with pytest.raises(InvalidValue, match="lives between"):
        msgspec.structs.replace(command.body, expires_at=NOW + MAX_COMMAND_LIFETIME + 1)


def test_invalid_values_are_also_value_errors_for_command_lines() -> None:
    # The console's `do` turns FIELD=VALUE into an action through msgspec.convert.
    with pytest.raises(msgspec.ValidationError, match="http"):
        msgspec.convert({"url": "file:///etc/passwd"}, OpenUrl)
    with pytest.raises(ValueError):
        SendMessage(text="")


def test_every_error_message_fits_without_cutting() -> None:
    for code in ErrorCode:
        assert Error.from_peer_error(PeerError(code)).message == GUIDANCE[code]


def test_decoding_checks_once_and_building_checks_once(monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[type] = []
    real = codec._check

    def spy(value: WireStruct) -> None:
        checked.append(type(value))
        real(value)

    monkeypatch.setattr(codec, "_check", spy)
    status = Status(locked=True, watched_by=("Ms Smith",), user="ada")
    assert checked == [Status]
    checked.clear()
    assert decode_message(encode_message(status)) == status
    assert checked == []  # msgspec checked the fields while decoding; no second pass


# A wire type whose rule check can hold a decode open, to build values meanwhile.
_INSIDE_DECODE, _LET_DECODE_FINISH = threading.Event(), threading.Event()


class _Gate(WireStruct, frozen=True):
    name: Annotated[str, Meta(max_length=4)]

    def check_rules(self) -> None:
        if self.name == "hold":
            _INSIDE_DECODE.set()
            assert _LET_DECODE_FINISH.wait(scaled(10))


def test_a_decode_on_one_thread_waves_nothing_through_on_another() -> None:
    decoded: list[_Gate] = []
    worker = threading.Thread(
        target=lambda: decoded.append(decode_as(b'{"name": "hold"}', _Gate, "gate"))
    )
    worker.start()
    try:
        assert _INSIDE_DECODE.wait(scaled(10))
        with pytest.raises(InvalidValue):  # built while the other thread decodes
            Status(locked=False, user="x" * 10_000)
        with pytest.raises(InvalidValue):
            _Gate(name="too long")
    finally:
        _LET_DECODE_FINISH.set()
        worker.join(scaled(10))
    assert [gate.name for gate in decoded] == ["hold"]


def test_a_signed_command_covers_the_values_the_peer_decodes(school: School) -> None:
    teacher = school.certify("Ms Smith", Role.TEACHER)
    # An int where the type says float: it must be signed as the peer will decode it.
    command = sign_command(
        teacher.key, teacher.certificate, targets=["d" * 64], action=Watch(fps=1), now=NOW
    )
    received = decode_as(msgspec.json.encode(command), type(command), "command")
    verify_command(
        received,
        org_key=school.org.public,
        now=NOW,
        replay=ReplayCache(),
        recipient=Recipient(device_id="d" * 64, group="7B"),
    )


# --- fit: the one way a sender shortens text to a field --------------------------------

# \Z, not $: "$" also matches just before a final newline, so "\n" would pass.
NO_CONTROLS = re.compile(r"^[^\x00-\x1f\x7f-\x9f\ud800-\udfff]*\Z")
#: What a printable fit also replaces: format (bidi, zero-width), private-use characters.
INVISIBLE = re.compile(r"[\u202e\u200b\u2066\ue000\U000f0000-\U0010fffd]")


@given(text=st.text(), limit=st.integers(1, 600), printable=st.booleans())
def test_fitted_text_fits_and_can_be_sent(text: str, limit: int, printable: bool) -> None:
    fitted = fit(text, limit, printable=printable)
    assert len(fitted) <= limit
    fitted.encode("utf-8")  # no lone surrogates
    if printable:
        assert NO_CONTROLS.match(fitted)
    if printable:
        assert not INVISIBLE.search(fitted)
    if len(text) <= limit and (not printable or re.fullmatch(NAME_RULE, text)):
        assert fitted == text
    if len(text) > limit:
        assert fitted.endswith(ELLIPSIS)


def test_fitted_values_build_valid_messages() -> None:
    hostile = "\x1b]0;pwned\x07" + "\udcff" + "x" * 1000
    status = Status(
        locked=False,
        watched_by=tuple(f"Teacher {i}" for i in range(100))[:MAX_WATCHERS],
        user=fit(hostile, MAX_USER_NAME, printable=True),
    )
    assert decode_message(encode_message(status)) == status
    # What a device writes is printed to staff: fitted printable, or refused at birth.
    event = Event(kind="crash", at=NOW, detail=fit(hostile, MAX_SHORT_TEXT, printable=True))
    assert len(event.detail) == MAX_SHORT_TEXT
    with pytest.raises(InvalidValue):
        Event(kind="crash", at=NOW, detail=fit(hostile, MAX_SHORT_TEXT))


def test_fit_refuses_a_limit_that_holds_nothing() -> None:
    with pytest.raises(UsageError):
        fit("x", 0)


def test_wire_structs_carry_their_field_types_evaluated() -> None:
    """See protocol/__init__.py: a module of wire structs that postpones its annotations
    makes msgspec compile them, one by one, in the first command a console sends."""
    import importlib
    import pkgutil

    import protocol
    from protocol.codec import WireStruct

    for module in pkgutil.iter_modules(protocol.__path__):
        importlib.import_module(f"protocol.{module.name}")
    postponed = {
        f"{kind.__module__}.{kind.__qualname__}"
        for kind in _subclasses(WireStruct)
        if kind.__module__.startswith("protocol.")
        and any(isinstance(hint, str) for hint in vars(kind).get("__annotations__", {}).values())
    }
    assert not postponed, f"annotations postponed (a string each) in {sorted(postponed)}"


def _subclasses(kind: type) -> list[type]:
    found: list[type] = []
    subclasses: list[type] = kind.__subclasses__()
    for sub in subclasses:
        found += [sub, *_subclasses(sub)]
    return found
