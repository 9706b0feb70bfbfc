"""The console's data model: immutable device views, their order, and printable text."""

from __future__ import annotations

import dataclasses

import pytest

from console.printable import printable
from console.roster import ActionOutcome, DeviceView


def test_views_are_immutable_values() -> None:
    view = DeviceView("d1", "Ada", "7B", online=True)

    with pytest.raises(dataclasses.FrozenInstanceError):
        view.name = "Eve"  # type: ignore[misc]
    assert view == DeviceView("d1", "Ada", "7B", online=True)
    assert (view.locked, view.watched, view.user, view.last_seen) == (False, False, "", 0.0)
    assert ActionOutcome("d1", False, "denied", "outside school hours").code == "denied"


def test_devices_sort_by_name_ignoring_case_then_by_id() -> None:
    views = [
        DeviceView("3", "bea", "7B", online=True),
        DeviceView("2", "Adam", "7B", online=True),
        DeviceView("1", "Bea", "7B", online=True),
        DeviceView("0", "", "7B", online=True),  # unnamed: shown, and sorted, by id
    ]

    ordered = sorted(views, key=lambda view: view.sort_key)

    assert [view.device_id for view in ordered] == ["0", "2", "1", "3"]
    assert ordered[0].display_name == "0"


def test_printable_replaces_terminal_controls_and_keeps_everything_else() -> None:
    hostile = "Eve\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\x9b31m\u202etxt.exe\nline\ttab"

    shown = printable(hostile)

    assert not any(ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in shown)
    assert "\u202e" not in shown
    assert shown.endswith("line tab")
    assert printable("[bold]Zoë 🎒 李[/]") == "[bold]Zoë 🎒 李[/]"
