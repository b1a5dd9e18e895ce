"""The `/` filter of a screen: a one-line input above the tables, hidden until used.

Typing narrows the screen's tables (a paged list asks the appliance instead, on enter); enter
keeps the filter and returns to the table, escape clears it."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input


class FilterBar(Input):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear_filter", "Clear filter", id="filter.clear"),
    ]

    class FilterChanged(Message):
        """The filter text changed (`final`: enter or escape, not a keystroke)."""

        def __init__(self, text: str, *, final: bool) -> None:
            super().__init__()
            self.text = text
            self.final = final

    def __init__(self, placeholder: str) -> None:
        super().__init__(placeholder=placeholder, id="filter", compact=True)
        self._shown(False)

    def _shown(self, shown: bool) -> None:
        # Hidden, it must not take the focus either (a screen focuses its first focusable).
        self.display = shown
        self.can_focus = shown

    def open(self) -> None:
        self._shown(True)
        self.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.FilterChanged(event.value, final=False))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._shown(bool(self.value))
        self.post_message(self.FilterChanged(self.value, final=True))

    def action_clear_filter(self) -> None:
        self.value = ""
        self._shown(False)
        self.post_message(self.FilterChanged("", final=True))
