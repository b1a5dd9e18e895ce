"""A long text to read (a flow's content, its YAML manifest, a diff, diagnostics): scrolls,
copies, closes with escape."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static, TextArea


class TextViewerScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="viewer.close"),
        Binding("c", "copy", "Copy", id="viewer.copy"),
    ]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog viewer"):
            yield Static(self.title_text, classes="title", markup=False)
            yield TextArea(self.text, id="text", read_only=True, soft_wrap=False,
                           show_line_numbers=True)
            with Horizontal(classes="buttons"):
                yield Button("Copy (c)", id="copy")
                yield Button("Close (esc)", id="close", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#text", TextArea).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "copy":
            self.action_copy()
        else:
            self.action_close()

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.text)
        self.notify("Copied to the clipboard (through the terminal).")

    def action_close(self) -> None:
        self.dismiss(None)
