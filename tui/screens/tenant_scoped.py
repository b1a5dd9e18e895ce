"""A screen that shows one tenant at a time (Flows, Catalog): the session's tenant first, any
other on T where the appliance takes a super admin's `tenant_id` on the screen's routes.

The appliance's flow and catalog routes answer for the token's tenant; a `tenant_id` the
route does not know would be ignored, and the screen would show the session's tenant under
another's name. So a screen switches only where the appliance's OpenAPI document declares
the parameter, and says so otherwise. (Catalog's list route takes none: a super admin's list
spans every tenant, so that screen makes T a filter on its table; see `CatalogScreen`.)"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from textual import work
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive

from tui.client import AdminClientError
from tui.screens.base import ApiScreen
from tui.screens.tenant_picker import TenantPickerScreen


@dataclass(frozen=True)
class TenantScope:
    session: str | None = None
    """The tenant of the TUI's token (what the routes answer for by default)."""
    chosen: str | None = None
    """The tenant the operator picked; None: the session's."""
    switchable: bool = False
    """The appliance takes `tenant_id` on the screen's routes."""

    @property
    def current(self) -> str | None:
        return self.chosen or self.session

    @property
    def param(self) -> str | None:
        """The `tenant_id` to send: only for another tenant than the session's."""
        return self.chosen if self.chosen and self.chosen != self.session else None

    def describe(self) -> str:
        if self.current is None:
            return "Tenant: (not known yet)"
        own = " (the session's)" if self.current == self.session else ""
        switch = "T switches" if self.switchable else \
            "other tenants: not offered by this appliance version"
        return f"Tenant: {self.current}{own} · {switch}"


class TenantScopedScreen(ApiScreen):
    TENANT_ROUTE: ClassVar[str] = ""
    """The list route whose `tenant_id` parameter says whether the screen can switch."""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("T", "switch_tenant", "Tenant", id="tenant.switch", show=False,
                tooltip="Switch to another tenant"),
    ]

    scope: reactive[TenantScope] = reactive(TenantScope, init=False)

    class TenantsListed(Message):
        def __init__(self, tenants: list[tuple[str, str]]) -> None:
            super().__init__()
            self.tenants = tenants

    async def know_scope(self) -> TenantScope:
        """The scope with the session's tenant and the switch known (asked once)."""
        scope = self.scope
        if scope.session is None:
            me = await self.client.me()
            capabilities = await self.console.capabilities()
            switchable = capabilities is not None and capabilities.takes(
                "GET", self.TENANT_ROUTE, "tenant_id")
            scope = replace(scope, session=me.tenant_id, switchable=switchable)
        return scope

    def action_switch_tenant(self) -> None:
        if not self.scope.switchable:
            self.say(f"This appliance answers {self.TENANT_ROUTE} for the session's tenant "
                     f"({self.scope.session or '?'}) only: it takes no tenant_id there.")
            return
        self.list_tenants()

    @work(exclusive=True, group="tenants")
    async def list_tenants(self) -> None:
        try:
            tenants = await self.client.list_tenants()
        except AdminClientError as exc:
            self.post_message(self.ActionFinished("Could not list the tenants", exc))
            return
        self.post_message(self.TenantsListed(
            [(t.id, f"{t.id}  {t.name if t.name != t.id else ''}".rstrip()) for t in tenants]))

    def on_tenant_scoped_screen_tenants_listed(self, message: TenantsListed) -> None:
        def picked(tenant_id: str | None) -> None:
            if tenant_id is None or tenant_id == self.scope.current:
                self.say("Same tenant.")
                return
            self.scope = replace(self.scope, chosen=tenant_id)
            self.say(f"Showing {tenant_id}.")
            self.tenant_changed()

        self.app.push_screen(TenantPickerScreen(message.tenants, self.scope.current), picked)

    def tenant_changed(self) -> None:
        """The operator picked another tenant: forget what was shown, load it."""
        self.status_text = "Loading…"
        self.reload()
