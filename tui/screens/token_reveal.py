"""Shows a freshly minted token once, in a read-only field the operator can copy from."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static, TextArea

from tui.client import MintedServiceToken

WARNING = ("This token is shown ONCE. Copy it now and store it as a secret (e.g. your CI's "
           "secret store); the appliance keeps no copy and cannot show it again. Revoke it "
           "on the Service tokens screen if it leaks.")


class TokenRevealScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "copy", "Copy to clipboard", id="reveal.copy"),
        Binding("escape", "close", "Close", id="reveal.close"),
    ]

    def __init__(self, minted: MintedServiceToken, *, subject: str = "") -> None:
        super().__init__()
        self.minted = minted
        self.subject = subject

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog reveal"):
            yield Static(f"Service token {self.minted.id}"
                         f"{' for ' + self.subject if self.subject else ''}",
                         classes="title", markup=False)
            yield Static(WARNING, id="warning", markup=False)
            yield TextArea(self.minted.token, id="token", read_only=True, soft_wrap=True,
                           show_line_numbers=False)
            yield Static(f"Expires {self.minted.expires_at}", id="expires", markup=False)
            yield Static("", id="copied", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Copy (c)", id="copy", variant="primary")
                yield Button("Close (esc)", id="close")

    def on_mount(self) -> None:
        area = self.query_one("#token", TextArea)
        area.focus()
        area.select_all()  # a terminal copy (mouse or ctrl+c) takes it all

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "copy":
            self.action_copy()
        else:
            self.action_close()

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.minted.token)
        self.query_one("#copied", Static).update(
            "Copied to the clipboard (through the terminal; if your terminal does not "
            "support that, select the text above).")

    def action_close(self) -> None:
        self.dismiss(None)
