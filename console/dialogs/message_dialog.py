"""Asks the teacher for a text to show on students' screens (a message, or a lock notice)."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from console.printable import printable

MAX_MESSAGE_LENGTH = 500
"""Unless told otherwise: the protocol's limit on a short text (`ShortText`)."""


class MessageDialog(ModalScreen[str | None]):
    """Dismisses with the text typed (stripped), or None when cancelled."""

    DEFAULT_CSS = """
    MessageDialog {
        align: center middle;
        & > #dialog { width: 64; height: auto; }
        & #hint { height: auto; }
        & #buttons { height: auto; align-horizontal: right; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        title: str,
        *,
        action: str = "Send",
        placeholder: str = "",
        required: bool = True,
        max_length: int = MAX_MESSAGE_LENGTH,
        value: str = "",
        check: Callable[[str], str | None] | None = None,
    ) -> None:
        """`title` is shown literally (it may hold student names); `required` refuses "".

        `action` labels the button that confirms; `value` is typed in already (shown
        literally); `check` says why a text will not do (a sentence), or None when it will.
        """
        super().__init__()
        self._value = value
        self._check = check
        self._title = title
        self._action = action
        self._placeholder = placeholder
        self._required = required
        self._max_length = max_length

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(Content(printable(self._title)), id="title")
            yield Input(
                printable(self._value),
                placeholder=self._placeholder,
                max_length=self._max_length,
                id="text",
            )
            yield Static(id="hint")
            with Horizontal(id="buttons"):
                yield Button(self._action, variant="primary", id="send")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#hint", Static).display = False
        # Screen auto-focus waits for the app to hold the terminal's focus (a browser tab
        # may not yet), and the teacher types at once: the note field takes keys from the start.
        self.query_one("#text", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._send()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "send":
            self._send()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _send(self) -> None:
        text = self.query_one("#text", Input).value.strip()
        problem = None
        if self._required and not text:
            problem = "Type the message first, or press Escape to cancel."
        elif text and self._check is not None:
            problem = self._check(text)
        if problem is not None:
            hint = self.query_one("#hint", Static)
            hint.update(Content(problem))
            hint.display = True
            self.query_one("#text", Input).focus()
            return
        self.dismiss(text)
