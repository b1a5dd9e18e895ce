"""`?`: the keys of the screen underneath, grouped (this screen, everywhere), with what each
does, under a line about what the screen is for."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import ActiveBinding, Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

EVERYWHERE = ("app", "screen.reload", "screen.filter")
MOVES = ("move in a table (page up/down, home/end too); tab moves between tables and "
         "fields; the mouse works too")


def binding_rows(screen: Screen[object], active: dict[str, ActiveBinding]
                 ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(this screen's keys, the keys that work everywhere) as (key, what it does)."""
    own: list[tuple[str, str]] = []
    shared: list[tuple[str, str]] = []
    for node, binding, enabled, _ in active.values():
        if node is not screen.app and binding.id is None:
            continue  # Textual's own (focus moves, copy, arrows, paging): summarised in MOVES
        label = screen.app.get_key_display(binding)
        what = binding.tooltip or binding.description or binding.action
        if not enabled:
            what += " (not now)"
        is_shared = node is screen.app or (binding.id or "").startswith(EVERYWHERE)
        (shared if is_shared else own).append((label, what))
    shared.append(("arrows", MOVES))
    return own, shared


def keys_table(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", show_header=False,
                  box=None, padding=(0, 1), expand=True)
    table.add_column("key", style="bold cyan", no_wrap=True, width=12)
    table.add_column("does", ratio=1)
    for key, what in rows:
        table.add_row(key, what)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark", "close", "Close", id="help.close"),
    ]

    def __init__(self, screen: Screen[object], active: dict[str, ActiveBinding]) -> None:
        super().__init__()
        self.about = getattr(screen, "HELP", "") or ""
        self.own, self.shared = binding_rows(screen, active)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog help"):
            yield Static("Keys of this screen (esc or ? closes; ctrl+p finds any action)",
                         classes="title", markup=False)
            with VerticalScroll(id="help-keys"):
                if self.about:
                    yield Static(Text(self.about), id="help-about")
                yield Static(keys_table("This screen", self.own), id="help-own")
                yield Static(keys_table("Everywhere", self.shared), id="help-shared")

    def action_close(self) -> None:
        self.dismiss(None)
