"""Asks the teacher to confirm an action that disrupts many students at once."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from console.printable import printable


class ConfirmDialog(ModalScreen[bool]):
    """Dismisses with True (Enter, y, the action's button) or False (Escape, n, Cancel)."""

    DEFAULT_CSS = """
    ConfirmDialog {
        align: center middle;
        & > #dialog { width: 64; height: auto; }
        & #question { height: auto; }
        & #buttons { height: auto; align-horizontal: right; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "answer(False)", "Cancel"),
        Binding("y", "answer(True)", "Yes"),
    ]

    def __init__(self, question: str, *, action: str) -> None:
        """`question` is shown literally (it may hold student names); `action` labels Yes."""
        super().__init__()
        self._question = question
        self._action = action

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(Content(printable(self._question)), id="question")
            with Horizontal(id="buttons"):
                yield Button(self._action, variant="error", id="yes")
                yield Button("Cancel", id="no")

    def on_mount(self) -> None:
        self.query_one("#yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
