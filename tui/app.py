"""`ScaiflowAdmin`: the operator's Textual app. One mode per main screen, switched with
1-6; `r` reloads the current screen; `q` quits."""

from __future__ import annotations

from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen

from tui.client import AdminClient
from tui.screens.audit import AuditScreen
from tui.screens.flows import FlowsScreen
from tui.screens.overview import OverviewScreen
from tui.screens.service_tokens import ServiceTokensScreen
from tui.screens.tenants import TenantsScreen
from tui.screens.users import UsersScreen


class ScaiflowAdmin(App[int]):
    TITLE = "scaiflow-box"
    CSS_PATH = "app.tcss"
    # The screen keys are listed by the nav bar; the footer keeps room for each screen's own.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("1", "switch_mode('overview')", "Overview", id="app.overview", show=False),
        Binding("2", "switch_mode('users')", "Users", id="app.users", show=False),
        Binding("3", "switch_mode('tokens')", "Tokens", id="app.tokens", show=False),
        Binding("4", "switch_mode('audit')", "Audit", id="app.audit", show=False),
        Binding("5", "switch_mode('tenants')", "Tenants", id="app.tenants", show=False),
        Binding("6", "switch_mode('flows')", "Flows", id="app.flows", show=False),
    ]

    def __init__(self, client: AdminClient) -> None:
        super().__init__()
        self.client = client
        self.add_mode("overview", lambda: OverviewScreen(client))
        self.add_mode("users", lambda: UsersScreen(client))
        self.add_mode("tokens", lambda: ServiceTokensScreen(client))
        self.add_mode("audit", lambda: AuditScreen(client))
        self.add_mode("tenants", lambda: TenantsScreen(client))
        self.add_mode("flows", lambda: FlowsScreen(client))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # A dialog is answered (or cancelled) before the operator moves to another screen.
        if action in ("switch_mode", "quit") and isinstance(self.screen, ModalScreen):
            return False
        return True

    async def on_mount(self) -> None:
        await self.switch_mode("overview")

    async def on_unmount(self) -> None:
        await self.client.close()
