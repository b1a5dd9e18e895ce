"""Logs: the appliance's recent log lines (`GET /api/v1/admin/logs`, a bounded ring the server
keeps in memory; never a secret), followed live every 2 s. l sets the least severe level, p
pauses the tail, / narrows the lines shown."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import RichLog, Static

from tui.client import AdminClient, AdminClientError, LogPage
from tui.screens.base import ApiScreen
from tui.system_models import LogLine

LEVELS = ("debug", "info", "warning", "error")
LEVEL_STYLES = {"debug": "dim", "info": "", "warning": "yellow", "error": "bold red",
                "critical": "bold white on red"}
KEPT = 2000  # lines kept on screen (the server's ring keeps as many by default)
FIRST_PAGE = 200
NEXT_PAGE = 1000


def line_text(line: LogLine) -> Text:
    when = line.at[11:23] if len(line.at) >= 23 else line.at
    text = Text(f"{when} ", style="dim")
    text.append(f"{line.level.upper():<8}", style=LEVEL_STYLES.get(line.level, ""))
    text.append(f" {line.logger}: ", style="cyan")
    text.append(line.message)
    return text


def line_matches(line: LogLine, needle: str) -> bool:
    needle = needle.strip().casefold()
    return not needle or needle in f"{line.level} {line.logger} {line.message}".casefold()


class LogsScreen(ApiScreen):
    MODE: ClassVar[str] = "logs"
    REFRESH_SECONDS: ClassVar[float] = 2.0
    HELP: ClassVar[str] = (
        "The appliance's recent log lines, followed every 2 s (the server keeps its last "
        "lines in memory; they never hold a secret). l: the least severe level shown; p: "
        "pause or follow; /: show only the lines containing a text.")
    FILTER_HINT: ClassVar[str] = "show only lines containing… · enter keeps · esc clears"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "next_level", "Level", id="logs.next_level",
                tooltip="Change the least severe log level shown"),
        Binding("p", "toggle_pause", "Pause", id="logs.toggle_pause",
                tooltip="Pause or follow the log"),
    ]

    level: reactive[str] = reactive("info", init=False)
    paused: reactive[bool] = reactive(False, init=False)

    class Loaded(Message):
        def __init__(self, page: LogPage, level: str, after: int | None) -> None:
            super().__init__()
            self.page = page
            self.level = level
            self.after = after

    def __init__(self, client: AdminClient) -> None:
        super().__init__(client)
        self.lines: list[LogLine] = []
        self.next_after: int | None = None
        self.capacity = 0
        self.needle = ""

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield Static("", id="logs-info", markup=False)
        yield RichLog(id="log", wrap=True, max_lines=KEPT, auto_scroll=True)
        yield from self.compose_bottom()

    def on_mount(self) -> None:  # the base class's runs too
        self._info()

    def focus_main(self) -> None:
        self.query_one("#log", RichLog).focus()

    def _auto_reload(self) -> None:
        if not self.paused:
            super()._auto_reload()

    @work(exclusive=True, group="load")
    async def load(self) -> None:
        level, after = self.level, self.next_after
        try:
            page = await self.client.logs(after=after, level=level,
                                          limit=NEXT_PAGE if after is not None else FIRST_PAGE)
        except AdminClientError as exc:
            self.post_message(self.LoadFailed(exc))
            return
        self.post_message(self.Loaded(page, level, after))

    def on_logs_screen_loaded(self, message: Loaded) -> None:
        if message.level != self.level or message.after != self.next_after:
            return  # the level changed, or another page came first
        self.loaded()
        page = message.page
        log = self.query_one("#log", RichLog)
        if page.missed and message.after is not None:
            log.write(Text("— lines were dropped from the ring before these, or the appliance "
                           "restarted —", style="yellow"))
        self.lines = (self.lines + list(page.lines))[-KEPT:]
        for line in page.lines:
            if line_matches(line, self.needle):
                log.write(line_text(line))
        self.next_after = page.next_after
        self.capacity = page.capacity
        self._info()

    def _info(self) -> None:
        state = "paused (p follows)" if self.paused else "following every 2 s"
        ring = f" of the {self.capacity} the appliance keeps" if self.capacity else ""
        self.query_one("#logs-info", Static).update(
            f"Level ≥ {self.level} · {state} · {len(self.lines)} line(s){ring}")
        self.status_text = (f"{len(self.lines)} line(s) at {self.level} or above."
                            if self.lines else f"No log lines at {self.level} or above yet.")

    def _rerender(self) -> None:
        log = self.query_one("#log", RichLog)
        log.clear()
        for line in self.lines:
            if line_matches(line, self.needle):
                log.write(line_text(line))

    def action_next_level(self) -> None:
        self.level = LEVELS[(LEVELS.index(self.level) + 1) % len(LEVELS)] \
            if self.level in LEVELS else LEVELS[0]
        self.lines = []
        self.next_after = None
        self.query_one("#log", RichLog).clear()
        self.say(f"Showing {self.level} and above.")
        self._info()
        self.reload()

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        self.say("Paused: the tail stops until p." if self.paused else "Following the log.")
        self._info()
        if not self.paused:
            self.reload()

    def apply_filter(self, text: str, *, final: bool) -> None:
        self.needle = text
        self._rerender()
        shown = sum(1 for line in self.lines if line_matches(line, text))
        self.filter_note = f"filter “{text.strip()}”: {shown} of {len(self.lines)} line(s)" \
            if text.strip() else ""
