"""`typing.NamedTuple`'s class syntax for the UI process, without importing `typing`.

The UI process runs all day beside the agent and needs nothing else from `typing`, which
would hold about 0.7 MiB there. Modules it imports write

    if TYPE_CHECKING:
        from typing import NamedTuple
    else:
        from .records import NamedTuple

so type checkers see the real thing, and at run time each class statement becomes a
`collections.namedtuple` with the same fields, defaults, methods and docstring.
"""

from __future__ import annotations

import collections

__all__ = ["TYPE_CHECKING", "NamedTuple"]

#: False when running; type checkers take any `TYPE_CHECKING` as true.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

# What a class body holds that namedtuple sets itself. (The annotations are copied: msgspec,
# on the agent's end of the pipe, reads them to decode a snapshot's nested records.)
_NOT_COPIED = frozenset({"__module__", "__qualname__"})


class _Record(type):
    """Turns `class Name(NamedTuple): field: type = default` into a named tuple."""

    def __new__(cls, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> Any:
        if not bases:  # NamedTuple itself
            return super().__new__(cls, name, bases, namespace)
        if bases != (NamedTuple,):
            raise TypeError(f"{name}: a record can only derive from NamedTuple")
        fields = tuple(namespace.get("__annotations__", {}))
        defaults = [namespace[field] for field in fields if field in namespace]
        if any(field not in namespace for field in fields[len(fields) - len(defaults) :]):
            raise TypeError(f"{name}: a field without a default follows one with a default")
        # mypy checks namedtuple() calls as declarations: here every part is made at run time.
        record: type = collections.namedtuple(  # type: ignore[misc]
            name,
            fields,
            defaults=defaults,  # type: ignore[misc]
            module=namespace["__module__"],
        )
        record.__qualname__ = namespace["__qualname__"]
        for key, value in namespace.items():
            if key not in _NOT_COPIED and key not in fields:
                setattr(record, key, value)
        return record


class NamedTuple(metaclass=_Record):
    """Derive from this as from `typing.NamedTuple` (see the module's docstring)."""
