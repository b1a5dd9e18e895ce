"""The top line: the six screens with their keys (the current one highlighted) and the
appliance this TUI talks to."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

SCREENS: tuple[tuple[str, str, str], ...] = (
    ("1", "overview", "Overview"),
    ("2", "users", "Users"),
    ("3", "tokens", "Service tokens"),
    ("4", "audit", "Audit"),
    ("5", "tenants", "Tenants"),
    ("6", "flows", "Flows"),
)


def nav_text(current: str, base_url: str) -> Text:
    text = Text(" scaiflow-box ", style="bold reverse")
    for key, mode, title in SCREENS:
        text.append("  ")
        text.append(f"{key} {title}", style="bold underline" if mode == current else "dim")
    text.append(f"   {base_url}", style="italic")
    return text


class NavBar(Static):
    def __init__(self, current: str, base_url: str) -> None:
        super().__init__(nav_text(current, base_url), id="nav")
