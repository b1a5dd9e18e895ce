"""Shows a secret once — a freshly minted token, a new master key — in a read-only field the
operator can copy from."""

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
           "on the Security screen if it leaks.")
MASTER_KEY_WARNING = ("This is the NEW master key, shown ONCE: set SCAIFLOW_MASTER_KEY to it "
                      "before the appliance's next start (the old key no longer opens the "
                      "database) and store it safely, apart from the backups.")


class SecretRevealScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "copy", "Copy to clipboard", id="reveal.copy"),
        Binding("escape", "close", "Close", id="reveal.close"),
    ]

    def __init__(self, title: str, secret: str, *, warning: str, note: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.secret = secret
        self.warning = warning
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog reveal"):
            yield Static(self.title_text, classes="title", markup=False)
            yield Static(self.warning, id="warning", markup=False)
            yield TextArea(self.secret, id="token", read_only=True, soft_wrap=True,
                           show_line_numbers=False)
            if self.note:
                yield Static(self.note, id="expires", markup=False)
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
        self.app.copy_to_clipboard(self.secret)
        self.query_one("#copied", Static).update(
            "Copied to the clipboard (through the terminal; if your terminal does not "
            "support that, select the text above).")

    def action_close(self) -> None:
        self.dismiss(None)


class TokenRevealScreen(SecretRevealScreen):
    def __init__(self, minted: MintedServiceToken, *, subject: str = "") -> None:
        super().__init__(f"Service token {minted.id}{' for ' + subject if subject else ''}",
                         minted.token, warning=WARNING, note=f"Expires {minted.expires_at}")
        self.minted = minted
