"""Asks IT for a device's new asset tag, student and state (and, on loan, what it replaces)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from console.printable import printable
from protocol.fleet import MAX_ASSET_TAG, FleetEntry, LifeState


class RecordDialog(ModalScreen[dict[str, Any] | None]):
    """Dismisses with the fields to send (`SetDeviceRecord`'s), or None when cancelled."""

    DEFAULT_CSS = """
    RecordDialog {
        align: center middle;
        & > #dialog { width: 70; height: auto; border: round $primary; padding: 0 1; }
        & Label { margin-top: 1; }
        & #hint { height: auto; color: $error; }
        & #buttons { height: auto; align-horizontal: right; margin-top: 1; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "save", "Save", priority=True),
    ]

    def __init__(self, entry: FleetEntry, devices: Mapping[str, str]) -> None:
        """`devices` maps the names of the other devices to their ids (for a loan)."""
        super().__init__()
        self.entry = entry
        self._devices = devices

    def compose(self) -> ComposeResult:
        entry = self.entry
        names = {device_id: name for name, device_id in self._devices.items()}
        # The state first: it is what changes most often (a repair, a loan, a loss).
        with Vertical(id="dialog"):
            yield Label(Content(f"Device record of {printable(entry.name)}"), id="title")
            yield Label("State")
            yield Select(
                [(state.words, state.value) for state in LifeState],
                value=entry.state.value,
                allow_blank=False,
                id="state",
            )
            yield Label("Asset tag")
            yield Input(entry.asset_tag, max_length=MAX_ASSET_TAG, id="asset-tag")
            yield Label("Assigned student")
            yield Input(entry.student, max_length=80, id="student")
            yield Label("On loan for (the device it replaces)")
            yield Select(
                [
                    (Content(printable(name)), device_id)
                    for name, device_id in self._devices.items()
                ],
                value=entry.loan_for if entry.loan_for in names else Select.NULL,
                id="loan-for",
            )
            yield Static(id="hint", markup=False)
            with Horizontal(id="buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#hint", Static).display = False

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self._save()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._save()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        self._save()

    def _save(self) -> None:
        state = LifeState(str(self.query_one("#state", Select).value))
        loan = self.query_one("#loan-for", Select).value
        loan_for = str(loan) if isinstance(loan, str) else None
        if state is LifeState.ON_LOAN and loan_for is None:
            hint = self.query_one("#hint", Static)
            hint.update("A loan replaces another device: choose which, or pick another state.")
            hint.display = True
            return
        self.dismiss(
            {
                "asset_tag": self.query_one("#asset-tag", Input).value.strip(),
                "student": self.query_one("#student", Input).value.strip(),
                "state": state,
                "loan_for": loan_for if state is LifeState.ON_LOAN else None,
            }
        )
