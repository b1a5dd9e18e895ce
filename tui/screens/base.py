"""What the main screens share: the client, the nav bar, the problem banner, a status
line, `r` to reload, and the messages their workers post back."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Static

from tui.client import AdminClient, AdminClientError
from tui.widgets.nav_bar import NavBar
from tui.widgets.problem_banner import ProblemBanner


class ApiScreen(Screen[None]):
    """A main screen. Subclasses implement `load()` as an exclusive `@work` worker that
    posts a `Loaded`-style message or `LoadFailed`; mutations post `ActionFinished`."""

    MODE: ClassVar[str] = ""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reload", "Refresh", id="screen.reload"),
    ]

    status_text: reactive[str] = reactive("Loading…", init=False)
    """What the screen shows (counts, freshness)."""
    action_text: reactive[str] = reactive("", init=False)
    """The outcome of the operator's last mutation on this screen."""

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

    def compose_top(self) -> ComposeResult:
        yield NavBar(self.MODE, self.client.base_url)
        yield ProblemBanner(id="problem")

    def compose_bottom(self) -> ComposeResult:
        yield Static(self.action_text, id="action", markup=False)
        yield Static(self.status_text, id="status", markup=False)
        yield Footer()

    @property
    def banner(self) -> ProblemBanner:
        return self.query_one("#problem", ProblemBanner)

    def watch_status_text(self, text: str) -> None:
        self.query_one("#status", Static).update(text)

    def watch_action_text(self, text: str) -> None:
        self.query_one("#action", Static).update(text)

    def on_screen_resume(self) -> None:
        # Fresh data whenever the screen comes back (mode switch, closed dialog).
        self.load()

    def action_reload(self) -> None:
        self.status_text = "Loading…"
        self.load()

    def load(self) -> object:
        raise NotImplementedError

    def loaded(self) -> None:
        """Call from a subclass's Loaded handler: the appliance answered."""
        self.banner.clear()

    def on_api_screen_load_failed(self, message: LoadFailed) -> None:
        self.banner.show_error(message.error)
        self.status_text = "No data: see the message above."

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
        self.load()
