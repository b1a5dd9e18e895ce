"""Data directory: what works on the data directory alone, with the server up or down —
back up, restore, rotate the master key, import a JWKS file, grant an admin role. Each runs
the CLI's own command (`DataDirTools`, handed in by `scaiflow-box tui`); the output of each
run is kept on the screen."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Label, RichLog, Static

from tui.connection import Connection
from tui.data_dir_tools import DataDirTools, ToolOutcome
from tui.formatting import clock_time
from tui.screens.base import ApiScreen
from tui.screens.data_dir_forms import (
    BackupForm,
    GrantAdminForm,
    JwksImportForm,
    JwksImportRequest,
    RestoreForm,
    RoleGrant,
)
from tui.screens.form import FormScreen
from tui.screens.rotate_master_key import RotateMasterKeyScreen
from tui.screens.token_reveal import MASTER_KEY_WARNING, SecretRevealScreen
from tui.widgets.nav_bar import NavBar

T = TypeVar("T")
NOT_AVAILABLE = ("Not available: this TUI was given no data directory (it runs with a token "
                 "from elsewhere). Run `scaiflow-box tui` on the appliance's host, as a user "
                 "who can read the data directory, to use these tools.")
TOOLS = (
    ("b", "Back up the database", "scaiflow-box backup FILE", "up or down"),
    ("R", "Restore a backup", "scaiflow-box restore FILE", "server stopped"),
    ("k", "Rotate the master key", "scaiflow-box keys rotate [--reencrypt]", "up or down"),
    ("j", "Import a JWKS file", "scaiflow-box jwks import FILE", "next start"),
    ("g", "Grant an admin role", "scaiflow-box admin grant USER --role R", "up or down"),
)


@dataclass(frozen=True)
class Run:
    what: str
    outcome: ToolOutcome


def tools_table() -> Table:
    table = Table(box=None, padding=(0, 1), show_header=True, header_style="bold",
                  expand=True)
    table.add_column("key", style="bold cyan", no_wrap=True)
    table.add_column("tool")
    table.add_column("the CLI command it runs", style="dim")
    table.add_column("server")
    for row in TOOLS:
        table.add_row(*row)
    return table


def server_line(connection: Connection, tools: DataDirTools | None) -> Text:
    text = Text("Data directory ", style="bold")
    text.append(tools.data_dir if tools else "(none)")
    text.append("\nServer: ")
    if connection.up is None:
        text.append("not checked yet", style="dim")
    elif connection.up:
        text.append("answering", style="green")
        text.append(" (restore needs it stopped)")
    else:
        since = f" since {clock_time(connection.since)}" if connection.since else ""
        text.append(f"DOWN{since}: {connection.reason}", style="bold red")
        text.append(" — these tools work without it")
    return text


class DataDirScreen(ApiScreen):
    MODE: ClassVar[str] = "datadir"
    HELP: ClassVar[str] = (
        "Operations on the data directory itself, through the CLI's own commands, so they "
        "work while the server is down: back up, restore (server stopped), rotate the master "
        "key, import a JWKS file, grant an admin role. Each run's output stays below.")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("b", "backup", "Backup", id="datadir.backup", tooltip="Back up the database"),
        Binding("R", "restore", "Restore", id="datadir.restore",
                tooltip="Restore the database from a backup"),
        Binding("k", "rotate_key", "Rotate key", id="datadir.rotate_key",
                tooltip="Rotate the master key on the data directory"),
        Binding("j", "import_jwks", "JWKS", id="datadir.import_jwks",
                tooltip="Import a JWKS file on the data directory"),
        Binding("g", "grant", "Grant role", id="datadir.grant",
                tooltip="Grant an admin role on the data directory"),
    ]

    class Ran(Message):
        def __init__(self, run: Run) -> None:
            super().__init__()
            self.run = run

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield Static("", id="server")
        yield Static(tools_table() if self.console.tools else NOT_AVAILABLE, id="tools")
        yield Label("Output", classes="section")
        yield RichLog(id="tool-log", wrap=True, markup=False)
        yield from self.compose_bottom()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("reload", "filter"):
            return False  # nothing to reload or filter here
        if action in ("backup", "restore", "rotate_key", "import_jwks", "grant"):
            return self.console.tools is not None
        return True

    @property
    def tools(self) -> DataDirTools | None:
        return self.console.tools

    def load(self) -> None:
        self._loading = False
        self.status_text = ("Each tool asks first, then runs its CLI command."
                            if self.tools else "No data directory: nothing to do here.")

    def _connection_changed(self, connection: Connection) -> None:
        # These tools do not need the server: the state is information, not a problem.
        self.query_one(NavBar).up = connection.up
        self.query_one("#server", Static).update(server_line(connection, self.tools))

    # -- the tools ----------------------------------------------------------------------------
    def action_backup(self) -> None:
        self._ask(BackupForm(), lambda target: (f"backup to {target}", "backup", target))

    def action_restore(self) -> None:
        self._ask(RestoreForm(), lambda source: (f"restore of {source}", "restore", source))

    def action_import_jwks(self) -> None:
        def describe(request: JwksImportRequest) -> tuple[str, str, JwksImportRequest]:
            return f"JWKS import of {request.path}", "import_jwks", request

        self._ask(JwksImportForm(), describe)

    def action_grant(self) -> None:
        def describe(grant: RoleGrant) -> tuple[str, str, RoleGrant]:
            return f"grant of {grant.role} to {grant.user}", "grant", grant

        self._ask(GrantAdminForm(), describe)

    def action_rotate_key(self) -> None:
        def answered(reencrypt: bool | None) -> None:
            if reencrypt is None:
                self.say("Cancelled; the master key is unchanged.")
                return
            self.say("Rotating the master key…")
            self.run_tool("master key rotation", "rotate", reencrypt)

        self.app.push_screen(RotateMasterKeyScreen(), answered)

    def _ask(self, form: FormScreen[T], describe: Callable[[T], tuple[str, str, object]]
             ) -> None:
        """Open the tool's form; once answered, run the tool on what it gave."""
        def answered(result: T | None) -> None:
            if result is None:
                self.say("Cancelled; nothing done.")
                return
            what, tool, argument = describe(result)
            self.say(f"Running the {what}…")
            self.run_tool(what, tool, argument)

        self.app.push_screen(form, answered)

    @work(exclusive=True, group="tool")
    async def run_tool(self, what: str, tool: str, argument: object) -> None:
        tools = self.tools
        if tools is None:
            return
        if tool == "backup" and isinstance(argument, str):
            outcome = await tools.backup(argument)
        elif tool == "restore" and isinstance(argument, str):
            outcome = await tools.restore(argument)
        elif tool == "import_jwks" and isinstance(argument, JwksImportRequest):
            outcome = await tools.import_jwks(argument.path, issuer=argument.issuer)
        elif tool == "grant" and isinstance(argument, RoleGrant):
            outcome = await tools.grant_admin(argument.user, argument.role)
        elif tool == "rotate" and isinstance(argument, bool):
            outcome = await tools.rotate_master_key(reencrypt=argument)
        else:
            return
        self.post_message(self.Ran(Run(what, outcome)))

    def on_data_dir_screen_ran(self, message: Ran) -> None:
        run = message.run
        outcome = run.outcome
        stamp = clock_time(self.console.now())
        log = self.query_one("#tool-log", RichLog)
        log.write(Text(f"{stamp} {run.what}: {'done' if outcome.ok else 'REFUSED'}",
                       style="bold green" if outcome.ok else "bold red"))
        log.write(Text(outcome.messages))
        self.say(f"The {run.what} {'is done' if outcome.ok else 'was refused'}: "
                 f"{outcome.messages.splitlines()[-1] if outcome.messages else ''}")
        self.query_one("#action").set_class(not outcome.ok, "-error")
        if outcome.secret:
            self.app.push_screen(SecretRevealScreen(
                "The new master key", outcome.secret, warning=MASTER_KEY_WARNING))
