"""What the main screens share: the client, the nav bar, the problem (or stale) banner, the
`/` filter, a status line, `r` to reload, the auto-refresh, and the messages their workers
post back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import ClassVar, Protocol, cast

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Static

from tui.client import AdminClient, Capabilities
from tui.connection import Connection
from tui.data_dir_tools import DataDirTools
from tui.transport import AdminClientError, ApiUnavailable
from tui.widgets.filter_bar import FilterBar
from tui.widgets.nav_bar import NavBar
from tui.widgets.problem_banner import ProblemBanner, stale_text
from tui.widgets.resource_table import ResourceTable


class Console(Protocol):
    """What a screen asks of the console app (`tui/app.py` `ScaiflowAdmin`), named here so the
    screens need not import the app that imports them."""

    tools: DataDirTools | None
    auto_reload: bool
    connection: Connection
    now: Callable[[], datetime]

    async def capabilities(self) -> Capabilities | None: ...

    def note_connection(self, up: bool, reason: str = "") -> None: ...


class ApiScreen(Screen[None]):
    """A main screen. Subclasses implement `load()` as an exclusive `@work` worker that
    posts a `Loaded`-style message (whose handler calls `loaded()`) or `LoadFailed`;
    mutations post `ActionFinished`."""

    MODE: ClassVar[str] = ""
    HELP: ClassVar[str] = ""
    """What the screen is for, shown by `?` above its keys."""
    REFRESH_SECONDS: ClassVar[float] = 15.0
    """How often the screen reloads on its own while it is shown."""
    FILTER_HINT: ClassVar[str] = "filter: type to narrow the table · enter keeps · esc clears"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reload", "Refresh", id="screen.reload", show=False,
                tooltip="Refresh this screen now"),
        Binding("slash", "filter", "Filter", id="screen.filter", show=False,
                tooltip="Filter this screen's tables"),
    ]

    status_text: reactive[str] = reactive("Loading…", init=False)
    """What the screen shows (counts, freshness)."""
    action_text: reactive[str] = reactive("", init=False)
    """The outcome of the operator's last mutation on this screen."""
    filter_note: reactive[str] = reactive("", init=False)
    stale: reactive[bool] = reactive(False, init=False)
    """The appliance stopped answering: what is shown is from `loaded_at`."""

    class LoadFailed(Message):
        def __init__(self, error: AdminClientError) -> None:
            super().__init__()
            self.error = error

    class ActionFinished(Message):
        """A mutation ended; `error` is None on success. The screen reloads either way.
        `note` is a further line shown under the outcome (e.g. what a failure left behind)."""

        def __init__(self, text: str, error: AdminClientError | None = None, *,
                     note: str = "", warning: bool = False) -> None:
            super().__init__()
            self.text = text
            self.error = error
            self.note = note
            self.warning = warning
            """The request succeeded but did nothing useful (e.g. a skipped sync)."""

    def __init__(self, client: AdminClient) -> None:
        super().__init__()
        self.client = client
        self.loaded_at: datetime | None = None
        self._loading = False
        self._refresh_timer: Timer | None = None

    @property
    def console(self) -> Console:
        return cast(Console, self.app)

    # -- layout ------------------------------------------------------------------------------
    def compose_top(self) -> ComposeResult:
        yield NavBar(self.MODE)
        yield ProblemBanner(id="problem")
        yield FilterBar(self.FILTER_HINT)

    def compose_bottom(self) -> ComposeResult:
        yield Static(self.action_text, id="action", markup=False)
        yield Static(self.status_text, id="status", markup=False)
        yield Footer(compact=True)

    @property
    def banner(self) -> ProblemBanner:
        return self.query_one("#problem", ProblemBanner)

    def watch_status_text(self) -> None:
        self._render_status()

    def watch_filter_note(self) -> None:
        self._render_status()

    def _render_status(self) -> None:
        note = f"  ·  {self.filter_note}" if self.filter_note else ""
        self.query_one("#status", Static).update(self.status_text + note)

    def watch_action_text(self, text: str) -> None:
        self.query_one("#action", Static).update(text)

    def watch_stale(self, stale: bool) -> None:
        self.set_class(stale, "-stale")

    # -- loading and refreshing ----------------------------------------------------------------
    def on_mount(self) -> None:
        self.watch(self.app, "connection", self._connection_changed, init=True)
        if self.console.auto_reload:
            self._refresh_timer = self.set_interval(self.REFRESH_SECONDS, self._auto_reload,
                                                    pause=True)

    def on_screen_resume(self) -> None:
        # Fresh data whenever the screen comes back (mode switch, closed dialog).
        self.reload()
        if self._refresh_timer is not None:
            self._refresh_timer.resume()

    def on_screen_suspend(self) -> None:
        if self._refresh_timer is not None:
            self._refresh_timer.pause()

    def _auto_reload(self) -> None:
        # While the appliance is down the app's probe watches it; a reload follows its return.
        if not self._loading and self.console.connection.up is not False:
            self.reload()

    def reload(self) -> None:
        self._loading = True
        self.load()

    def action_reload(self) -> None:
        self.status_text = "Loading…"
        self.reload()

    def load(self) -> object:
        raise NotImplementedError

    def loaded(self) -> None:
        """Call from a subclass's Loaded handler: the appliance answered."""
        self._loading = False
        self.loaded_at = self.console.now()
        self.stale = False
        self.banner.clear()
        self.console.note_connection(True)

    def on_api_screen_load_failed(self, message: LoadFailed) -> None:
        self._loading = False
        error = message.error
        if isinstance(error, ApiUnavailable):
            self.console.note_connection(False, error.reason)
            return  # the connection watcher shows the stale banner
        self.banner.show_error(error)
        self.status_text = "No data: see the message above."

    def _connection_changed(self, connection: Connection) -> None:
        self.query_one(NavBar).up = connection.up
        if connection.up is False:
            self.stale = self.loaded_at is not None
            self.banner.show_stale(stale_text(
                self.client.base_url, connection.reason, down_since=connection.since,
                loaded_at=self.loaded_at, tools=self.console.tools is not None))
            if self.loaded_at is None:
                self.status_text = "No data: the appliance does not answer."
        elif connection.up and (self.stale or self.banner.problem) and self.is_current:
            self.reload()

    # -- the `/` filter ------------------------------------------------------------------------
    def action_filter(self) -> None:
        self.query_one(FilterBar).open()

    def on_filter_bar_filter_changed(self, message: FilterBar.FilterChanged) -> None:
        self.apply_filter(message.text, final=message.final)
        if message.final:
            self.focus_main()

    def apply_filter(self, text: str, *, final: bool) -> None:
        """Narrow every table of the screen (a screen of paged lists asks the appliance)."""
        tables = list(self.query(ResourceTable))
        for table in tables:
            table.set_filter(text)
        if not text.strip():
            self.filter_note = ""
            return
        shown = sum(t.row_count for t in tables)
        total = sum(t.total_rows for t in tables)
        self.filter_note = f"filter “{text.strip()}”: {shown} of {total} row(s)"

    def focus_main(self) -> None:
        tables = list(self.query(ResourceTable))
        if tables:
            tables[0].focus()

    # -- outcomes ------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        """A local outcome (cancelled, nothing selected): shown as the action line, not red."""
        self.query_one("#action", Static).remove_class("-error", "-warning")
        self.action_text = text

    def on_api_screen_action_finished(self, message: ActionFinished) -> None:
        action = self.query_one("#action", Static)
        failed = message.error is not None
        action.set_class(failed, "-error")
        action.set_class(message.warning and not failed, "-warning")
        text = message.text if message.error is None else f"{message.text}: {message.error}"
        if message.note:
            text += f"\n{message.note}"
        self.action_text = text
        self.notify(text, severity="error" if failed
                    else "warning" if message.warning else "information")
        if isinstance(message.error, ApiUnavailable):
            self.console.note_connection(False, message.error.reason)
        self.reload()
