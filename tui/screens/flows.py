"""Flows (SPEC §3-§7): every flow of a tenant with its owner, soft-deleted ones marked (paged;
/ searches by name on the appliance), the selected flow's deployments, and what an operator
does to a flow: open it (content, versions and diffs, grants), validate, compile, deploy,
delete and undelete."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Static

from tui.client import AdminClientError, ApiError
from tui.flow_models import TenantFlow, TenantFlowPage
from tui.screens.confirm import ConfirmScreen
from tui.screens.flow_detail import FlowDetailScreen
from tui.screens.flows_text import (
    compiled_text,
    deploy_failure_note,
    deployed_text,
    deployment_detail,
    flow_cells,
    flow_detail,
    validation_text,
)
from tui.screens.tenant_scoped import TenantScopedScreen
from tui.screens.text_viewer import TextViewerScreen
from tui.system_models import TENANT_FLOWS
from tui.widgets.deployments_pane import PAGE_SIZE as DEPLOYMENTS_PAGE_SIZE
from tui.widgets.deployments_pane import DeploymentsPane
from tui.widgets.resource_table import ResourceTable

PAGE_SIZE = 50
MAX_PAGE = 500  # the API's largest `limit`
__all__ = ["DEPLOYMENTS_PAGE_SIZE", "PAGE_SIZE", "FlowsScreen"]


class FlowsScreen(TenantScopedScreen):
    MODE: ClassVar[str] = "flows"
    TENANT_ROUTE: ClassVar[str] = TENANT_FLOWS
    HELP: ClassVar[str] = (
        "Every flow of one tenant (T switches where the appliance allows it), soft-deleted "
        "ones marked; / searches names on the appliance; enter opens a flow: its content, "
        "versions with diffs and restore, and its grants. The selected flow's deployments "
        "are below (tab moves there).")
    FILTER_HINT: ClassVar[str] = "search flow names (on the appliance) · enter searches · " \
                                 "esc clears"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_flow", "Open", id="flows.open", show=False,
                tooltip="Open the flow: content, versions, diffs, grants"),
        Binding("d", "deploy", "Deploy", id="flows.deploy", tooltip="Deploy the flow"),
        Binding("v", "validate", "Validate", id="flows.validate",
                tooltip="Validate the flow"),
        Binding("c", "compile", "Compile", id="flows.compile", show=False,
                tooltip="Compile the flow to its YAML manifest"),
        Binding("x", "delete_flow", "Delete", id="flows.delete", show=False,
                tooltip="Delete the flow (soft: versions are kept)"),
        Binding("u", "undelete_flow", "Undelete", id="flows.undelete", show=False,
                tooltip="Undelete the flow"),
        Binding("h", "toggle_deleted", "Deleted", id="flows.toggle_deleted", show=False,
                tooltip="Show or hide deleted flows"),
        Binding("m", "load_more", "More", id="flows.load_more", show=False,
                tooltip="Load more flows (or older deployments)"),
    ]

    flows: reactive[tuple[TenantFlow, ...]] = reactive((), init=False)
    total: reactive[int] = reactive(0, init=False)
    next_cursor: reactive[str | None] = reactive(None, init=False)
    search: reactive[str] = reactive("", init=False)
    include_deleted: reactive[bool] = reactive(True, init=False)
    deploying: reactive[str | None] = reactive(None, init=False)
    """`name version` of the deploy in flight, if any."""

    class Loaded(Message):
        def __init__(self, page: TenantFlowPage, tenant: str | None, *, append: bool) -> None:
            super().__init__()
            self.page = page
            self.tenant = tenant
            self.append = append

    class Shown(Message):
        """A text to read (validation, manifest) in the viewer."""

        def __init__(self, title: str, text: str) -> None:
            super().__init__()
            self.title = title
            self.text = text

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield Static("", id="scope", markup=False)
        yield ResourceTable(("Name", "Version", "Updated", "Owner", "State", "ID"), id="flows")
        yield DeploymentsPane(self.client)
        yield Static("", id="detail")
        yield from self.compose_bottom()

    def on_mount(self) -> None:  # the base class's runs too
        self.flows_table.focus()
        self._show_scope()

    @property
    def flows_table(self) -> ResourceTable:
        return self.query_one("#flows", ResourceTable)

    @property
    def pane(self) -> DeploymentsPane:
        return self.query_one(DeploymentsPane)

    @property
    def deployments_table(self) -> ResourceTable:
        return self.pane.table

    def _show_scope(self) -> None:
        deleted = "deleted flows shown (h hides)" if self.include_deleted \
            else "deleted flows hidden (h shows)"
        search = f" · name contains “{self.search}”" if self.search else ""
        self.query_one("#scope", Static).update(f"{self.scope.describe()} · {deleted}{search}")

    def watch_scope(self) -> None:
        self._show_scope()

    # -- loading flows ----------------------------------------------------------------------
    @work(exclusive=True, group="load")
    async def load(self) -> None:
        # A reload keeps as many flows as the operator had loaded (up to the API's maximum).
        limit = min(max(PAGE_SIZE, len(self.flows)), MAX_PAGE)
        await self._fetch(None, limit, append=False)

    @work(exclusive=True, group="load")
    async def load_more_flows(self, cursor: str) -> None:
        await self._fetch(cursor, PAGE_SIZE, append=True)

    async def _fetch(self, cursor: str | None, limit: int, *, append: bool) -> None:
        try:
            scope = await self.know_scope()
            if scope != self.scope:
                self.scope = scope
            page = await self.client.list_tenant_flows(
                cursor=cursor, limit=limit, search=self.search or None,
                include_deleted=self.include_deleted, tenant_id=scope.param)
        except AdminClientError as exc:
            self.post_message(self.LoadFailed(exc))
            return
        self.post_message(self.Loaded(page, scope.current, append=append))

    def on_flows_screen_loaded(self, message: Loaded) -> None:
        if message.tenant != self.scope.current:
            return  # the operator switched tenants meanwhile
        self.loaded()
        rows = [(f.id, flow_cells(f)) for f in message.page.items]
        if message.append:
            known = {f.id for f in self.flows}
            self.flows = self.flows + tuple(f for f in message.page.items if f.id not in known)
            self.flows_table.append_rows(rows)
        else:
            self.flows = message.page.items
            self.flows_table.replace_rows(rows)
        self.total = message.page.total
        self.next_cursor = message.page.next_cursor
        self._update_status()
        if not message.append:  # fresh data: the deployments may have changed too
            self.pane.show(self.selected_flow(), tenant_id=self.scope.param, reload=True)
        self._show_detail()

    def _update_status(self) -> None:
        if not self.flows:
            self.status_text = (f"No flows match “{self.search}” (esc in / clears)."
                                if self.search else
                                "No flows in this tenant yet (the canvas creates them).")
            return
        more = "m loads more" if self.next_cursor else "all shown"
        deleted = sum(1 for f in self.flows if f.deleted)
        self.status_text = (f"{len(self.flows)} of {self.total} flow(s), newest first; {more}."
                            f" {deleted} deleted; enter opens; tab: deployments.")

    def selected_flow(self) -> TenantFlow | None:
        key = self.flows_table.selected_key
        return next((f for f in self.flows if f.id == key), None)

    # -- search (the `/` filter asks the appliance: the list is paged) -------------------------
    def apply_filter(self, text: str, *, final: bool) -> None:
        if not final or text.strip() == self.search:
            return
        self.search = text.strip()
        self.filter_note = f"search “{self.search}”" if self.search else ""
        self._show_scope()
        self.status_text = "Searching…"
        self.reload()

    def action_toggle_deleted(self) -> None:
        self.include_deleted = not self.include_deleted
        self._show_scope()
        self.say("Showing deleted flows too." if self.include_deleted
                 else "Hiding deleted flows.")
        self.reload()

    def tenant_changed(self) -> None:
        self.flows = ()
        self.flows_table.replace_rows([])
        self.pane.show(None, tenant_id=None)
        super().tenant_changed()

    # -- selection and detail -----------------------------------------------------------------
    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "flows":
            self.pane.show(self.selected_flow(), tenant_id=self.scope.param)
        self._show_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "flows":
            self.action_open_flow()

    def on_descendant_focus(self) -> None:
        self._show_detail()

    def on_deployments_pane_failed(self, message: DeploymentsPane.Failed) -> None:
        self.post_message(self.LoadFailed(message.error))

    def _show_detail(self) -> None:
        detail = self.query_one("#detail", Static)
        deployment = self.pane.selected()
        if self.deployments_table.has_focus and deployment is not None:
            detail.update(deployment_detail(deployment))
            return
        flow = self.selected_flow()
        detail.update(flow_detail(flow) if flow else "")

    # -- paging -------------------------------------------------------------------------------
    def action_load_more(self) -> None:
        if self.deployments_table.has_focus:
            said = self.pane.more()
            if said:
                self.say(said)
            return
        if self.next_cursor is None:
            self.say("All flows are shown." if self.flows else "No flows to load.")
            return
        self.status_text = "Loading more…"
        self.load_more_flows(self.next_cursor)

    # -- open ---------------------------------------------------------------------------------
    def _live_flow(self, doing: str) -> TenantFlow | None:
        flow = self.selected_flow()
        if flow is None:
            self.say("Select a flow first.")
            return None
        if flow.deleted:
            self.say(f"{flow.name} is deleted: undelete it (u) to {doing} it.")
            return None
        return flow

    def action_open_flow(self) -> None:
        if self.deployments_table.has_focus:
            return  # enter on a deployment: its detail is shown already
        flow = self._live_flow("open")
        if flow is not None:
            self.app.push_screen(FlowDetailScreen(self.client, flow, self.scope))

    # -- validate and compile -----------------------------------------------------------------
    def action_validate(self) -> None:
        flow = self._live_flow("validate")
        if flow is not None:
            self.say(f"Validating {flow.name} {flow.version}…")
            self.check_flow(flow, compile_it=False)

    def action_compile(self) -> None:
        flow = self._live_flow("compile")
        if flow is not None:
            self.say(f"Compiling {flow.name} {flow.version}…")
            self.check_flow(flow, compile_it=True)

    @work(exclusive=True, group="check")
    async def check_flow(self, flow: TenantFlow, *, compile_it: bool) -> None:
        try:
            detail = await self.client.get_flow(flow.id, tenant_id=self.scope.param)
            if compile_it:
                compiled = await self.client.compile_content(detail.content)
                title = f"{flow.name} {detail.version}: the YAML manifest"
                text = compiled_text(compiled)
            else:
                result = await self.client.validate_content(detail.content)
                title = f"{flow.name} {detail.version}: validation"
                text = validation_text(flow.name, detail.version, result)
        except AdminClientError as exc:
            self.post_message(self.ActionFinished(
                f"Could not {'compile' if compile_it else 'validate'} {flow.name}", exc))
            return
        self.post_message(self.Shown(title, text))

    def on_flows_screen_shown(self, message: Shown) -> None:
        self.say(message.text.splitlines()[0] if message.text else message.title)
        self.app.push_screen(TextViewerScreen(message.title, message.text))

    # -- delete and undelete ------------------------------------------------------------------
    def action_delete_flow(self) -> None:
        flow = self.selected_flow()
        if flow is None:
            self.say("Select a flow first.")
            return
        if flow.deleted:
            self.say(f"{flow.name} is deleted already (u undeletes it).")
            return
        question = (f"Delete {flow.name} ({flow.id})?\nA soft delete: it leaves every list "
                    "and its versions are kept; u undeletes it.")
        self._confirm(question, "Delete", lambda: self.set_deleted(flow, deleted=True))

    def action_undelete_flow(self) -> None:
        flow = self.selected_flow()
        if flow is None:
            self.say("Select a flow first.")
            return
        if not flow.deleted:
            self.say(f"{flow.name} is not deleted.")
            return
        self._confirm(f"Undelete {flow.name} ({flow.id})?", "Undelete",
                      lambda: self.set_deleted(flow, deleted=False))

    def _confirm(self, question: str, label: str, then: Callable[[], object]) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                then()
            else:
                self.say("Cancelled; nothing changed.")

        self.app.push_screen(ConfirmScreen(question, confirm_label=label), answered)

    @work(exclusive=True, group="action")
    async def set_deleted(self, flow: TenantFlow, *, deleted: bool) -> None:
        try:
            if deleted:
                await self.client.delete_flow(flow.id, tenant_id=self.scope.param)
            else:
                await self.client.restore_flow(flow.id, tenant_id=self.scope.param)
        except AdminClientError as exc:
            self.post_message(self.ActionFinished(
                f"Could not {'delete' if deleted else 'undelete'} {flow.name}", exc))
            return
        self.post_message(self.ActionFinished(
            f"{'Deleted' if deleted else 'Undeleted'} {flow.name}."))

    # -- deploy -------------------------------------------------------------------------------
    def action_deploy(self) -> None:
        flow = self._live_flow("deploy")
        if flow is None:
            return
        if self.deploying is not None:
            # A second deploy would cancel the running request, not the deploy itself.
            self.say(f"Still deploying {self.deploying}; wait for its outcome.")
            return
        question = (f"Deploy {flow.name} version {flow.version} to ScaiGrid?\n"
                    "The appliance compiles it and creates a new core with this tenant's "
                    "ScaiGrid credentials; an attempt that reaches ScaiGrid is recorded, "
                    "failed or not.")

        def answered(yes: bool | None) -> None:
            if yes:
                self.deploying = f"{flow.name} {flow.version}"
                self.say(f"Deploying {self.deploying}…")
                self.deploy(flow)
            else:
                self.say("Cancelled; nothing deployed.")

        self.app.push_screen(ConfirmScreen(question, confirm_label="Deploy"), answered)

    @work(group="deploy")
    async def deploy(self, flow: TenantFlow) -> None:
        try:
            deployment = await self.client.deploy_flow(flow.id, version=flow.version,
                                                       tenant_id=self.scope.param)
        except AdminClientError as exc:
            if isinstance(exc, ApiError) and isinstance(exc.extra.get("deployment_id"), str):
                self.pane.select_next = str(exc.extra["deployment_id"])
            self.post_message(self.ActionFinished(
                f"Deploy of {flow.name} {flow.version} failed", exc,
                note=deploy_failure_note(exc)))
            return
        finally:
            self.deploying = None
        self.pane.select_next = deployment.id
        self.post_message(self.ActionFinished(deployed_text(flow.name, deployment)))
