"""`ScaiflowAdmin`: the operator's console. One mode per area (`tui.areas`), switched with
1-9 or the nav bar; `?` lists the keys of the screen; ctrl+p finds every screen and action;
`r` reloads, and every screen also reloads on its own; a health probe notices the appliance
going away or coming back within seconds; `q` quits."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import partial
from typing import ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen

from tui.areas import AREAS
from tui.client import AdminClient, Capabilities
from tui.connection import Connection
from tui.data_dir_tools import DataDirTools
from tui.screens.audit import AuditScreen
from tui.screens.base import ApiScreen
from tui.screens.catalog import CatalogScreen
from tui.screens.dashboard import DashboardScreen
from tui.screens.data_dir import DataDirScreen
from tui.screens.flows import FlowsScreen
from tui.screens.help import HelpScreen
from tui.screens.logs import LogsScreen
from tui.screens.security import SecurityScreen
from tui.screens.tenants import TenantsScreen
from tui.screens.users import UsersScreen
from tui.transport import AdminClientError

PROBE_SECONDS = 2.0
"""How often the app asks `/healthz`: the appliance's going away or coming back shows within
a few seconds, without a key press."""

SCREENS: dict[str, type[ApiScreen]] = {
    "dashboard": DashboardScreen, "users": UsersScreen, "security": SecurityScreen,
    "audit": AuditScreen, "tenants": TenantsScreen, "flows": FlowsScreen,
    "catalog": CatalogScreen, "logs": LogsScreen, "datadir": DataDirScreen,
}
THEMES = ("textual-dark", "textual-light")


def utc_now() -> datetime:
    return datetime.now(UTC)


class ScaiflowAdmin(App[int]):
    TITLE = "scaiflow-box"
    CSS_PATH = "app.tcss"
    # The area keys are listed by the nav bar; the footer keeps room for each screen's own.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit", tooltip="Quit the console"),
        Binding("question_mark", "help", "Help", id="app.help",
                tooltip="Show the keys of this screen"),
        Binding("ctrl+t", "toggle_theme", "Light/dark", id="app.theme", show=False,
                tooltip="Switch between the light and the dark theme"),
        *[Binding(area.key, f"switch_mode('{area.mode}')", area.title, id=f"app.{area.mode}",
                  show=False, tooltip=f"Go to {area.title}") for area in AREAS],
    ]

    connection: reactive[Connection] = reactive(Connection, init=False)

    def __init__(self, client: AdminClient, *, tools: DataDirTools | None = None,
                 auto_reload: bool = True, clock: Callable[[], datetime] = utc_now) -> None:
        """`tools`: what works on the data directory alone (the `tui` command hands it in);
        `auto_reload` False and a fixed `clock` make the screens still (for snapshots)."""
        super().__init__()
        self.client = client
        self.tools = tools
        self.auto_reload = auto_reload
        self.now = clock
        self._capabilities: Capabilities | None = None
        for area in AREAS:
            self.add_mode(area.mode, partial(SCREENS[area.mode], client))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # A dialog is answered (or cancelled) before the operator moves to another screen.
        if action in ("switch_mode", "quit", "help") and isinstance(self.screen, ModalScreen):
            return False
        return True

    async def on_mount(self) -> None:
        await self.switch_mode("dashboard")
        if self.auto_reload:
            self.set_interval(PROBE_SECONDS, self.probe)

    async def on_unmount(self) -> None:
        await self.client.close()

    # -- is the appliance there? -------------------------------------------------------------
    @work(exclusive=True, group="probe")
    async def probe(self) -> None:
        try:
            await self.client.healthz()
        except AdminClientError as exc:
            self.note_connection(False, getattr(exc, "reason", str(exc)))
            return
        self.note_connection(True)

    async def capabilities(self) -> Capabilities | None:
        """The routes the appliance serves, read once per connection; None while unknown
        (a screen then tries, and says what the appliance answered)."""
        if self._capabilities is None:
            try:
                self._capabilities = await self.client.capabilities()
            except AdminClientError:
                return None
        return self._capabilities

    def note_connection(self, up: bool, reason: str = "") -> None:
        """What a probe or a screen's request found; a change is announced once."""
        before = self.connection.up
        if before is not up:
            if up and before is False:
                self._capabilities = None  # it may have come back as another version
            self.connection = Connection(up, self.now(), reason)
            if before is None:
                return  # the first answer: the screens show it, nothing changed
            if up:
                self.notify("The appliance answers again.")
            else:
                self.notify(f"The appliance stopped answering: {reason}", severity="error")

    # -- help, palette, theme ---------------------------------------------------------------
    def action_help(self) -> None:
        screen = self.screen
        self.push_screen(HelpScreen(screen, screen.active_bindings))

    def action_toggle_theme(self) -> None:
        self.theme = THEMES[1] if self.theme == THEMES[0] else THEMES[0]

    async def run_in_area(self, mode: str, action: str) -> None:
        """A palette command: open the area (its main screen), then act there, on its
        current selection."""
        if self.current_mode != mode:
            await self.switch_mode(mode)
        while not isinstance(self.screen, SCREENS[mode]) and len(self.screen_stack) > 1:
            self.pop_screen()  # a screen opened from the area's main one (a flow)
        await self.run_action(action, self.screen)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Every area and every action of every area (typing "token" finds "Mint service
        token"), then the app's own commands."""
        for area in AREAS:
            yield SystemCommand(f"Go to {area.title}", f"{area.key} · {area.summary}",
                                partial(self.run_action, f"switch_mode('{area.mode}')"))
        if isinstance(screen, ApiScreen) and type(screen) not in SCREENS.values():
            for binding in screen_actions(type(screen)):  # a screen opened from an area
                yield SystemCommand(binding.tooltip, f"this screen · key {binding.key}",
                                    partial(self.run_action, binding.action, screen))
        for area in AREAS:
            for binding in screen_actions(SCREENS[area.mode]):
                yield SystemCommand(binding.tooltip, f"{area.title} · key {binding.key}",
                                    partial(self.run_in_area, area.mode, binding.action))
        yield SystemCommand("Show the keys of this screen", "? · every binding, with what "
                            "it does", self.action_help)
        yield SystemCommand("Refresh this screen now", "r", partial(self.run_action, "reload",
                                                                     screen))
        yield SystemCommand("Filter this screen's tables", "/",
                            partial(self.run_action, "filter", screen))
        yield SystemCommand("Toggle light/dark theme", "ctrl+t", self.action_toggle_theme)
        yield SystemCommand("Change theme", "Pick any of Textual's themes",
                            self.action_change_theme)
        yield SystemCommand("Quit", "q · revokes the session's token", self.action_quit)


def screen_actions(screen: type[ApiScreen]) -> list[Binding]:
    """The actions a screen offers (its bindings and those of its kind, e.g. the tenant
    switch, with a palette title), not the refresh and filter every screen has."""
    own: list[Binding] = []
    for cls in reversed(screen.__mro__):
        if issubclass(cls, ApiScreen) and cls is not ApiScreen:
            own += [b for b in cls.__dict__.get("BINDINGS", []) if isinstance(b, Binding)]
    return [b for b in own if b.tooltip]
