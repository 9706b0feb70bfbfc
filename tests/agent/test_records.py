"""agent.records: typing.NamedTuple's class syntax, built without importing typing."""

from __future__ import annotations

import pickle

import pytest

from agent.records import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from agent.records import NamedTuple


class Window(NamedTuple):
    """A window, for the tests."""

    role: str
    width: int
    viewable: bool = True

    def area(self, height: int) -> int:
        return self.width * height


def test_a_record_is_a_named_tuple_with_its_fields_defaults_methods_and_docstring() -> None:
    window = Window("lock", 1920)
    assert window == ("lock", 1920, True)
    assert isinstance(window, tuple)
    assert window._asdict() == {"role": "lock", "width": 1920, "viewable": True}
    assert window._replace(viewable=False).viewable is False
    assert window.area(1080) == 1920 * 1080
    assert Window.__doc__ == "A window, for the tests."
    assert Window.__module__ == __name__
    assert repr(window) == "Window(role='lock', width=1920, viewable=True)"
    assert pickle.loads(pickle.dumps(window)) == window


def test_records_are_immutable_and_take_exactly_their_fields() -> None:
    window = Window("lock", 1920)
    with pytest.raises(AttributeError):
        window.role = "message"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Window("lock")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Window("lock", 1, True, "extra")  # type: ignore[call-arg]


def test_a_field_without_a_default_cannot_follow_one_with_a_default() -> None:
    with pytest.raises(TypeError, match="follows one with a default"):

        class Broken(NamedTuple):
            first: int = 0
            second: int  # type: ignore[misc]  # what this test shows is refused


def test_a_record_derives_from_nothing_else() -> None:
    with pytest.raises(TypeError, match="only derive from NamedTuple"):

        class Mixed(NamedTuple, Exception):  # type: ignore[misc]
            field: int


def test_a_record_keeps_its_annotations_for_decoders() -> None:
    # The agent decodes the UI process's snapshots with msgspec, which reads the field types.
    import msgspec

    class Snapshot(NamedTuple):
        windows: tuple[Window, ...]
        grabbed: bool

    decoded = msgspec.json.decode(b'[[["lock", 1920, false]], true]', type=Snapshot)
    assert decoded == Snapshot((Window("lock", 1920, False),), True)
    assert isinstance(decoded.windows[0], Window)
