"""Hypothesis strategies for every protocol type, derived from the types' own limits.

Strategies come from `msgspec.inspect`, so a new message type or a changed
limit is covered without editing this file. Fields whose validity depends on
other fields (a command's lifetime, a policy's dates and grants) get overrides.
"""

from __future__ import annotations

from typing import Any

import msgspec.inspect as mi
from hypothesis import strategies as st

from protocol.actions import ACTIONS, OpenUrl
from protocol.certificates import Role
from protocol.commands import MAX_COMMAND_LIFETIME, CommandBody
from protocol.errors import InvalidValue
from protocol.policy import ALL_ACTIONS, DateRange, Grant, PolicyRules
from protocol.types import NAME_RULE

_SMALL = 6  # collections and free text stay short: the limits are tested apart


def _strings(t: mi.StrType) -> st.SearchStrategy[str]:
    if t.pattern == NAME_RULE:
        # from_regex is slow on a class this large; the same set, by Unicode category.
        low = t.min_length or 0
        return st.text(
            st.characters(exclude_categories=("Cc", "Cf", "Cn", "Co", "Cs")),
            min_size=low,
            max_size=max(low, min(t.max_length or 40, 40)),
        )
    if t.pattern:
        return st.from_regex(t.pattern, fullmatch=True).filter(
            lambda s: (
                (t.max_length is None or len(s) <= t.max_length) and len(s) >= (t.min_length or 0)
            )
        )
    low = t.min_length or 0
    return st.text(min_size=low, max_size=max(low, min(t.max_length or 40, 40)))


def for_type(t: mi.Type) -> st.SearchStrategy[Any]:
    if isinstance(t, mi.StructType):
        return for_struct(t)
    if isinstance(t, mi.StrType):
        return _strings(t)
    if isinstance(t, mi.BytesType):
        low = t.min_length or 0
        return st.binary(min_size=low, max_size=max(low, min(t.max_length or 64, 64)))
    if isinstance(t, mi.BoolType):
        return st.booleans()
    if isinstance(t, mi.IntType):
        low = t.ge if t.ge is not None else (t.gt + 1 if t.gt is not None else -(2**63))
        high = t.le if t.le is not None else (t.lt - 1 if t.lt is not None else 2**63 - 1)
        return st.integers(low, high)
    if isinstance(t, mi.FloatType):
        return st.floats(t.ge, t.le, allow_nan=False, allow_infinity=False)
    if isinstance(t, mi.EnumType):
        return st.sampled_from(list(t.cls))
    if isinstance(t, mi.LiteralType):
        return st.sampled_from(list(t.values))
    if isinstance(t, mi.NoneType):
        return st.none()
    if isinstance(t, mi.UnionType):
        return st.one_of([for_type(member) for member in t.types])
    if isinstance(t, mi.VarTupleType):
        low = t.min_length or 0
        items = st.lists(for_type(t.item_type), min_size=low, max_size=max(low, _SMALL))
        return items.map(tuple)
    if isinstance(t, mi.DictType):
        return st.dictionaries(for_type(t.key_type), for_type(t.value_type), max_size=_SMALL)
    raise NotImplementedError(f"no strategy for {t!r}")


def for_struct(t: mi.StructType) -> st.SearchStrategy[Any]:
    override = OVERRIDES.get(t.cls)
    if override is not None:
        strategy: st.SearchStrategy[Any] = override()
        return strategy
    fields = {f.name: for_type(f.type) for f in t.fields}
    return st.fixed_dictionaries(fields).map(lambda kw: _build(t.cls, kw)).filter(_built)


def _build(cls: type, fields: dict[str, Any]) -> Any:
    """The value, or None where the draw breaks a rule the constructor checks.

    Fields are drawn within their own limits, but together they may pass the type's
    `MAX_BYTES` or break a rule across fields; construction refuses those.
    """
    try:
        return cls(**fields)
    except InvalidValue:
        return None


def _built(value: object) -> bool:
    return value is not None


def _urls() -> st.SearchStrategy[OpenUrl]:
    pattern = r"https?://[a-z0-9]{1,20}(\.[a-z]{2,6}){0,2}(/[A-Za-z0-9_.~-]{0,20}){0,3}"
    address = st.from_regex(pattern, fullmatch=True)
    return st.builds(OpenUrl, url=address.filter(lambda s: 8 <= len(s) <= 2048))


def _command_bodies() -> st.SearchStrategy[CommandBody]:
    info = mi.type_info(CommandBody)
    assert isinstance(info, mi.StructType)
    fields = {f.name: for_type(f.type) for f in info.fields}

    @st.composite
    def build(draw: st.DrawFn) -> CommandBody:
        values = {name: draw(s) for name, s in fields.items() if name != "expires_at"}
        issued_at = min(values["issued_at"], 2**40 - MAX_COMMAND_LIFETIME)
        lifetime = draw(st.integers(1, MAX_COMMAND_LIFETIME))
        dates = {"issued_at": issued_at, "expires_at": issued_at + lifetime}
        return CommandBody(**(values | dates))

    return build()


def _date_ranges() -> st.SearchStrategy[DateRange]:
    @st.composite
    def build(draw: st.DrawFn) -> DateRange:
        first, last = sorted(draw(st.lists(st.dates(), min_size=2, max_size=2)))
        return DateRange(start=first.isoformat(), end=last.isoformat())

    return build()


def _grants() -> st.SearchStrategy[Grant]:
    roles = st.sampled_from([r for r in Role if r is not Role.HUB])
    actions = st.lists(st.sampled_from([ALL_ACTIONS, *ACTIONS]), max_size=_SMALL, unique=True)
    return st.builds(Grant, role=roles, actions=actions.map(tuple))


def _policy_rules() -> st.SearchStrategy[PolicyRules]:
    info = mi.type_info(PolicyRules)
    assert isinstance(info, mi.StructType)
    fields = {f.name: for_type(f.type) for f in info.fields if f.name != "school_networks"}
    networks = st.lists(st.ip_addresses().map(str), max_size=3).map(tuple)
    fields["school_networks"] = networks
    return st.fixed_dictionaries(fields).map(lambda kw: _build(PolicyRules, kw)).filter(_built)


OVERRIDES: dict[type, Any] = {
    CommandBody: _command_bodies,
    DateRange: _date_ranges,
    Grant: _grants,
    PolicyRules: _policy_rules,
    OpenUrl: _urls,
}


def of(cls: type) -> st.SearchStrategy[Any]:
    return for_type(mi.type_info(cls))
