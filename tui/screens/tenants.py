"""Tenants (SPEC §8, §9, §12): every tenant with its counts and ScaiGrid credential status;
set, rotate or delete a tenant's credentials, and test them: one ScaiGrid lookup shows
whether ScaiGrid takes the key. (The master key is on Security.)"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Static

from tui.client import AdminClientError, ApiError, Tenant
from tui.screens.base import ApiScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.set_credentials import CredentialsSaved, SetCredentialsScreen
from tui.system_models import MODELS
from tui.widgets.resource_table import ResourceTable

UNREADABLE_HELP = ("The stored credentials do not decrypt (a damaged row, or a master key that "
                   "does not fit): ScaiGrid calls of this tenant fail with 503 "
                   "credentials_unreadable. Press k or s to set them again.")


def credential_cell(tenant: Tenant) -> str:
    """`not set`, `unreadable`, or the masked key."""
    credentials = tenant.credentials
    if credentials.state != "set":
        return credentials.state
    return credentials.masked_key or "…"


def tenant_cells(tenant: Tenant) -> list[str | None]:
    return [tenant.id, tenant.name, str(tenant.users), str(tenant.flows),
            credential_cell(tenant), tenant.credentials.base_url]


def tenant_detail(tenant: Tenant) -> Text:
    text = Text(tenant.id, style="bold")
    if tenant.name and tenant.name != tenant.id:
        text.append(f"  {tenant.name}")
    text.append(f"\nsource {tenant.source} · created {tenant.created_at or '-'} · "
                f"{tenant.users} user(s), {tenant.flows} flow(s), {tenant.packages} package(s)")
    credentials = tenant.credentials
    text.append("\nScaiGrid: ")
    if credentials.state == "not set":
        text.append("no key stored (calls use the caller's ScaiKey token, else "
                    "SCAIGRID_API_KEY); press s to set one", style="yellow")
    elif credentials.state == "unreadable":
        text.append(UNREADABLE_HELP, style="red")
    else:
        text.append(f"key {credentials.masked_key or '…'}", style="green")
        base_url = credentials.base_url or "none (set one, or SCAIGRID_BASE_URL)"
        text.append(f" · base URL {base_url}")
    return text


def test_failure_note(error: AdminClientError) -> str:
    if not isinstance(error, ApiError):
        return ""
    return {
        "scaigrid_auth": "ScaiGrid refused the key: set the tenant's key again (s).",
        "scaigrid_unreachable": "ScaiGrid did not answer: check the base URL and the network.",
        "missing_credentials": "No key applies to this tenant: set one (s).",
        "credentials_unreadable": UNREADABLE_HELP,
    }.get(error.code, "")


class TenantsScreen(ApiScreen):
    MODE: ClassVar[str] = "tenants"
    HELP: ClassVar[str] = (
        "Every tenant with its users, flows and packages, and the ScaiGrid key its deploys and "
        "lookups use (never shown: only its first and last characters). t tests the key with "
        "one ScaiGrid lookup.")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "set_credentials", "Set", id="tenants.set_credentials",
                tooltip="Set ScaiGrid credentials of the tenant"),
        Binding("k", "rotate_credentials", "Rotate", id="tenants.rotate_credentials",
                tooltip="Rotate the tenant's ScaiGrid key"),
        Binding("x", "delete_credentials", "Delete", id="tenants.delete_credentials",
                tooltip="Delete ScaiGrid credentials of the tenant"),
        Binding("t", "test_credentials", "Test", id="tenants.test_credentials",
                tooltip="Test credentials: does ScaiGrid take the tenant's key?"),
    ]

    tenants: reactive[tuple[Tenant, ...]] = reactive((), init=False)
    session_tenant: reactive[str | None] = reactive(None, init=False)
    """The tenant of the TUI's session: lookups use its credentials."""
    foreign_tests: reactive[bool] = reactive(False, init=False)
    """The appliance takes a super admin's `tenant_id` on its lookups."""

    class Loaded(Message):
        def __init__(self, tenants: list[Tenant], session_tenant: str | None,
                     foreign_tests: bool) -> None:
            super().__init__()
            self.tenants = tenants
            self.session_tenant = session_tenant
            self.foreign_tests = foreign_tests

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield ResourceTable(("Tenant", "Name", "Users", "Flows", "ScaiGrid key", "Base URL"),
                            id="tenants")
        yield Static("", id="detail")
        yield from self.compose_bottom()

    @work(exclusive=True, group="load")
    async def load(self) -> None:
        try:
            tenants = await self.client.list_tenants()
        except AdminClientError as exc:
            self.post_message(self.LoadFailed(exc))
            return
        try:
            session_tenant: str | None = (await self.client.me()).tenant_id
        except AdminClientError:
            session_tenant = None
        capabilities = await self.console.capabilities()
        foreign = capabilities is not None and capabilities.takes("GET", MODELS, "tenant_id")
        self.post_message(self.Loaded(tenants, session_tenant, foreign))

    def on_tenants_screen_loaded(self, message: Loaded) -> None:
        self.loaded()
        self.session_tenant = message.session_tenant
        self.foreign_tests = message.foreign_tests
        self.tenants = tuple(message.tenants)
        if not self.tenants:
            self.status_text = "No tenants yet: they appear with their first user."
            return
        states = [t.credentials.state for t in self.tenants]
        status = (f"{len(self.tenants)} tenant(s); ScaiGrid credentials set for "
                  f"{states.count('set')}")
        if states.count("unreadable"):
            status += f", UNREADABLE for {states.count('unreadable')}"
        self.status_text = status + "."

    def watch_tenants(self, tenants: tuple[Tenant, ...]) -> None:
        self.query_one("#tenants", ResourceTable).replace_rows(
            [(t.id, tenant_cells(t)) for t in tenants])
        self._show_detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        tenant = self.selected_tenant()
        self.query_one("#detail", Static).update(tenant_detail(tenant) if tenant else "")

    def selected_tenant(self) -> Tenant | None:
        key = self.query_one("#tenants", ResourceTable).selected_key
        return next((t for t in self.tenants if t.id == key), None)

    # -- set / rotate ----------------------------------------------------------------------
    def action_set_credentials(self) -> None:
        tenant = self.selected_tenant()
        if tenant is None:
            self.say("Select a tenant first.")
            return
        self._open_form(tenant, rotate=False)

    def action_rotate_credentials(self) -> None:
        tenant = self.selected_tenant()
        if tenant is None:
            self.say("Select a tenant first.")
            return
        if not tenant.credentials.configured:
            self.say(f"{tenant.id} has no ScaiGrid key to rotate: press s to set one.")
            return
        self._open_form(tenant, rotate=True)

    def _open_form(self, tenant: Tenant, *, rotate: bool) -> None:
        def saved(result: CredentialsSaved | None) -> None:
            if result is None:
                self.say("Cancelled; nothing changed.")
                return
            where = result.base_url or "the appliance's SCAIGRID_BASE_URL"
            self.say(f"{'Rotated' if rotate else 'Stored'} the ScaiGrid key of "
                     f"{result.tenant_id} (base URL: {where}).")

        self.app.push_screen(SetCredentialsScreen(self.client, tenant, rotate=rotate), saved)

    # -- delete ----------------------------------------------------------------------------
    def action_delete_credentials(self) -> None:
        tenant = self.selected_tenant()
        if tenant is None:
            self.say("Select a tenant first.")
            return
        if not tenant.credentials.configured:
            self.say(f"{tenant.id} has no ScaiGrid credentials to delete.")
            return
        shown = credential_cell(tenant)
        question = (f"Delete the ScaiGrid credentials of {tenant.id} ({shown})?\n"
                    "Its ScaiGrid calls then use the caller's ScaiKey token, else the "
                    "appliance's SCAIGRID_API_KEY, else fail with 412 "
                    "missing_scaigrid_credentials.")

        def answered(yes: bool | None) -> None:
            if yes:
                self.delete_credentials(tenant)
            else:
                self.say("Cancelled; nothing changed.")

        self.app.push_screen(ConfirmScreen(question, confirm_label="Delete"), answered)

    @work(exclusive=True, group="action")
    async def delete_credentials(self, tenant: Tenant) -> None:
        try:
            await self.client.delete_scaigrid_credentials(tenant.id)
        except AdminClientError as exc:
            self.post_message(self.ActionFinished(
                f"Could not delete the ScaiGrid credentials of {tenant.id}", exc))
            return
        self.post_message(self.ActionFinished(
            f"Deleted the ScaiGrid credentials of {tenant.id}."))

    # -- test ----------------------------------------------------------------------------------
    def action_test_credentials(self) -> None:
        tenant = self.selected_tenant()
        if tenant is None:
            self.say("Select a tenant first.")
            return
        session = self.session_tenant
        if tenant.id != session and not self.foreign_tests:
            self.say(f"This appliance tests only the session's own tenant ({session or '?'}): "
                     "its ScaiGrid lookups use the caller's tenant.")
            return
        self.say(f"Asking ScaiGrid with the credentials of {tenant.id}…")
        self.test_credentials(tenant, None if tenant.id == session else tenant.id)

    @work(exclusive=True, group="action")
    async def test_credentials(self, tenant: Tenant, tenant_id: str | None) -> None:
        try:
            models = await self.client.scaigrid_models(tenant_id=tenant_id)
        except AdminClientError as exc:
            self.post_message(self.ActionFinished(
                f"ScaiGrid did not take the credentials of {tenant.id}", exc,
                note=test_failure_note(exc)))
            return
        self.post_message(self.ActionFinished(
            f"ScaiGrid takes the credentials of {tenant.id}: it lists {models} model(s)."))
