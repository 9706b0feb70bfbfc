"""Lets the teacher switch the grid to one of their classes, or back to every device."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from console.classes import ClassView
from console.printable import printable

ALL_DEVICES = ""
"""What the picker dismisses with for "every device I may see" (no class chosen)."""


class ClassPicker(ModalScreen[str | None]):
    """Dismisses with a class name, ALL_DEVICES, or None when cancelled."""

    DEFAULT_CSS = """
    ClassPicker {
        align: center middle;
        & > #dialog { width: 72; height: auto; max-height: 80%; border: thick $accent; }
        & OptionList { height: auto; max-height: 20; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, classes: Sequence[ClassView], current: str | None) -> None:
        super().__init__()
        self._teacher_classes = classes
        self._current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Switch class")
            yield OptionList(*self._options(), id="classes")

    def _options(self) -> list[Option]:
        now = time.time()
        options = [Option("Every device you may see", id="option-all")]
        # Class names come from IT's roster files: shown literally, never as markup.
        options += [
            Option(Content(printable(klass.describe(now))), id=f"class-{index}")
            for index, klass in enumerate(self._teacher_classes)
        ]
        return options

    def on_mount(self) -> None:
        self._highlight(self._current)
        self.query_one(OptionList).focus()

    def _highlight(self, name: str | None) -> None:
        names = [klass.name for klass in self._teacher_classes]
        choices = self.query_one(OptionList)
        choices.highlighted = names.index(name) + 1 if name in names else 0

    def show_teacher_classes(self, classes: Sequence[ClassView]) -> None:
        """Show the classes the hub just sent (the picker asks for them as it opens, and a
        teacher who opens it right after starting the console must not see an empty list);
        the highlight stays on the class it was on, when that class is still there."""
        try:
            choices = self.query_one(OptionList)
        except NoMatches:  # pushed but not composed yet: composing lists these
            self._teacher_classes = classes
            return
        index = choices.highlighted
        on = self._teacher_classes[index - 1].name if index else None
        self._teacher_classes = classes
        choices.clear_options()
        choices.add_options(self._options())
        self._highlight(on)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        index = event.option_index
        self.dismiss(ALL_DEVICES if index == 0 else self._teacher_classes[index - 1].name)

    def action_cancel(self) -> None:
        self.dismiss(None)
