"""The confirmation in front of a master key rotation (`POST /api/v1/admin/keys/rotate`), with
the choice to re-encrypt every secret under new data keys too (SPEC §19.2)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Static

QUESTION = ("Rotate the master key?\n"
            "A new master key wraps every tenant's data key and the token issuer keys, in one "
            "transaction; master.key is replaced. Back the new file up afterwards: the old key "
            "no longer opens this database, nor backups taken from now on.")
REENCRYPT_LABEL = "Re-encrypt every secret too (new data keys for every tenant)"


class RotateMasterKeyScreen(ModalScreen[bool | None]):
    """Dismisses with the `reencrypt` choice when confirmed, None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "rotate", "Rotate", id="rotate.yes"),
        Binding("e", "toggle_reencrypt", "Re-encrypt too", id="rotate.reencrypt"),
        Binding("escape", "cancel", "Cancel", id="rotate.no"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Static(QUESTION, id="question", markup=False)
            yield Checkbox(REENCRYPT_LABEL, id="reencrypt", compact=True)
            with Horizontal(classes="buttons"):
                yield Button("Rotate (y)", id="yes", variant="warning")
                yield Button("Cancel (esc)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()  # Enter on the default does nothing harmful

    @property
    def reencrypt(self) -> bool:
        return self.query_one("#reencrypt", Checkbox).value

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "yes":
            self.action_rotate()
        else:
            self.action_cancel()

    def action_toggle_reencrypt(self) -> None:
        self.query_one("#reencrypt", Checkbox).toggle()

    def action_rotate(self) -> None:
        self.dismiss(self.reencrypt)

    def action_cancel(self) -> None:
        self.dismiss(None)
