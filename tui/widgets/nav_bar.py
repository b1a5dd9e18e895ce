"""The top line: every area with its key (the current one highlighted) and whether the
appliance answers. It collapses with the terminal's width instead of being cut: full titles,
then short ones, then the keys alone around the current area's name."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.reactive import reactive
from textual.widget import Widget

from tui.areas import AREAS

BRAND = " scaiflow-box "


def _dot(up: bool | None, *, compact: bool) -> Text:
    """Whether the appliance answers; a sign, not only a colour, in the compact form."""
    if up is None:
        return Text("…" if compact else "● …", style="dim")
    if up:
        return Text("●" if compact else "● up", style="green")
    return Text("✗" if compact else "● DOWN", style="bold red")


def _layout(current: str, up: bool | None, *, titles: str, gap: str, brand: bool
            ) -> tuple[Text, list[tuple[int, int, str]]]:
    text = Text(BRAND, style="bold reverse") if brand else Text()
    spans: list[tuple[int, int, str]] = []
    for index, area in enumerate(AREAS):
        if index:
            text.append(gap)
        if titles == "full":
            label = f"{area.key} {area.title}"
        elif titles == "short" or area.mode == current:
            label = f"{area.key} {area.short}"
        else:
            label = area.key
        start = text.cell_len
        text.append(label, style="bold reverse" if area.mode == current else "")
        spans.append((start, text.cell_len, area.mode))
    text.append("  " if brand else " ")
    text.append_text(_dot(up, compact=titles != "full"))
    return text, spans


def nav_text(current: str, width: int, up: bool | None = None
             ) -> tuple[Text, list[tuple[int, int, str]]]:
    """The widest form that fits `width`, and where each area's label sits (for clicks)."""
    tiers = (("full", "  ", True), ("full", " ", False), ("short", " ", False),
             ("keys", " ", False))
    text, spans = Text(), list[tuple[int, int, str]]()
    for titles, gap, brand in tiers:
        text, spans = _layout(current, up, titles=titles, gap=gap, brand=brand)
        if text.cell_len <= width:
            break
    return text, spans


class NavBar(Widget):
    DEFAULT_CSS = """
    NavBar { height: 1; width: 1fr; }
    """

    up: reactive[bool | None] = reactive(None)

    def __init__(self, current: str) -> None:
        super().__init__(id="nav")
        self.current = current
        self._spans: list[tuple[int, int, str]] = []

    def render(self) -> Text:
        text, self._spans = nav_text(self.current, self.size.width, self.up)
        return text

    async def on_click(self, event: events.Click) -> None:
        """Mouse optional: a click on an area opens it."""
        for start, end, mode in self._spans:
            if start <= event.x < end and mode != self.current:
                await self.app.run_action(f"switch_mode('{mode}')")
                return
