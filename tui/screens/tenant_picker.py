"""Pick a tenant (Flows and Catalog show one tenant at a time)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


class TenantPickerScreen(ModalScreen[str | None]):
    """Dismisses with the tenant id picked (enter), or None (escape)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="picker.cancel"),
    ]

    def __init__(self, tenants: list[tuple[str, str]], current: str | None, *,
                 note: str = "") -> None:
        """`tenants`: (id, label) pairs."""
        super().__init__()
        self.tenants = tenants
        self.current = current
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog picker"):
            yield Static("Show which tenant? (enter picks, esc cancels)", classes="title",
                         markup=False)
            if self.note:
                yield Static(self.note, classes="hint", markup=False)
            yield OptionList(*[Option(label, id=tenant_id) for tenant_id, label in self.tenants],
                             id="tenants")

    def on_mount(self) -> None:
        options = self.query_one("#tenants", OptionList)
        options.focus()
        ids = [tenant_id for tenant_id, _ in self.tenants]
        if self.current in ids:
            options.highlighted = ids.index(self.current)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
