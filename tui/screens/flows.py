"""Flows of the TUI's own tenant and each flow's deployments (SPEC §3, §7): list (paged),
the selected flow's deployments with status and error, and deploy of the current version."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Label, Static

from tui.client import (
    AdminClient,
    AdminClientError,
    ApiError,
    Deployment,
    DeploymentPage,
    FlowPage,
    FlowSummary,
)
from tui.screens.base import ApiScreen
from tui.screens.confirm import ConfirmScreen
from tui.widgets.resource_table import ResourceTable

PAGE_SIZE = 50
MAX_PAGE = 500  # the API's largest `limit`
DEPLOYMENTS_PAGE_SIZE = 50
MAX_ERRORS_SHOWN = 3


def flow_cells(flow: FlowSummary) -> list[str | None]:
    return [flow.name, flow.version, flow.updated_at, flow.owner_id, flow.id]


def flow_detail(flow: FlowSummary) -> Text:
    text = Text(flow.name, style="bold")
    text.append(f"  {flow.id} · version {flow.version}")
    text.append(f"\nowner {flow.owner_id or '-'} · created {flow.created_at or '-'} · "
                f"updated {flow.updated_at or '-'}")
    if flow.description:
        text.append(f"\n{flow.description}")
    return text


def format_duration(ms: int | None) -> str:
    if ms is None:
        return "-"
    return f"{ms} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


def deployment_target(deployment: Deployment) -> str | None:
    """The core id, and the published slug when the core was published as a model."""
    if deployment.core_id and deployment.published_slug:
        return f"{deployment.core_id} / {deployment.published_slug}"
    return deployment.core_id or deployment.published_slug


def deployment_cells(deployment: Deployment) -> list[str | None]:
    return [deployment.created_at, deployment.version, deployment.status,
            format_duration(deployment.duration_ms), deployment_target(deployment),
            deployment.error, deployment.id]


def deployment_detail(deployment: Deployment) -> Text:
    text = Text(deployment.id, style="bold")
    text.append(f"  {deployment.status}", style="green" if deployment.succeeded else "red")
    text.append(f"  version {deployment.version} · {deployment.created_at} by "
                f"{deployment.deployed_by or '-'} · {format_duration(deployment.duration_ms)}")
    if deployment.core_id:
        text.append(f"\ncore {deployment.core_id}")
    if deployment.published_slug:
        text.append(f" · published as {deployment.published_slug}")
    if deployment.error:
        text.append(f"\nerror: {deployment.error}", style="red")
    return text


def compile_errors(errors: Any) -> list[str]:
    """The messages of a `compile_error` detail's `errors` (diagnostics)."""
    if not isinstance(errors, list):
        return []
    messages = []
    for item in errors:
        if isinstance(item, Mapping) and isinstance(item.get("message"), str):
            where = item.get("node_id") or item.get("edge_id") or item.get("path")
            messages.append(f"{where}: {item['message']}" if isinstance(where, str)
                            else item["message"])
    return messages


def deploy_failure_note(error: AdminClientError) -> str:
    """What the failure left behind, and the compiler's first errors."""
    if not isinstance(error, ApiError):
        return ("The appliance did not answer: the deploy may still be running; press r to "
                "see whether it was recorded.")
    parts: list[str] = []
    deployment_id = error.extra.get("deployment_id")
    if isinstance(deployment_id, str):
        parts.append(f"Recorded as failed deployment {deployment_id} (below).")
    messages = compile_errors(error.extra.get("errors"))
    if messages:
        shown = "; ".join(messages[:MAX_ERRORS_SHOWN])
        more = len(messages) - MAX_ERRORS_SHOWN
        parts.append(f"Errors: {shown}" + (f" (and {more} more)" if more > 0 else ""))
    upstream = error.extra.get("status")
    if isinstance(upstream, int):
        parts.append(f"ScaiGrid answered HTTP {upstream}.")
    return " ".join(parts)


def deployed_text(flow: FlowSummary, deployment: Deployment) -> str:
    text = f"Deployed {flow.name} {deployment.version} as {deployment.id}: core " \
           f"{deployment.core_id or '-'}"
    if deployment.published_slug:
        text += f", published as {deployment.published_slug}"
    return text + f" ({format_duration(deployment.duration_ms)})."


class FlowsScreen(ApiScreen):
    MODE: ClassVar[str] = "flows"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "deploy", "Deploy", id="flows.deploy"),
        Binding("m", "load_more", "Load more", id="flows.load_more"),
    ]

    flows: reactive[tuple[FlowSummary, ...]] = reactive((), init=False)
    total: reactive[int] = reactive(0, init=False)
    next_cursor: reactive[str | None] = reactive(None, init=False)
    deployments: reactive[tuple[Deployment, ...]] = reactive((), init=False)
    deployments_cursor: reactive[str | None] = reactive(None, init=False)
    deployments_of: reactive[str | None] = reactive(None, init=False)
    """The flow whose deployments are shown (or being loaded)."""
    deploying: reactive[str | None] = reactive(None, init=False)
    """`name version` of the deploy in flight, if any."""

    class Loaded(Message):
        def __init__(self, page: FlowPage, *, append: bool) -> None:
            super().__init__()
            self.page = page
            self.append = append

    class DeploymentsLoaded(Message):
        def __init__(self, flow_id: str, page: DeploymentPage, *, append: bool) -> None:
            super().__init__()
            self.flow_id = flow_id
            self.page = page
            self.append = append

    def __init__(self, client: AdminClient) -> None:
        super().__init__(client)
        self._select_deployment: str | None = None
        """A deployment to put the cursor on once it is listed (the one just made)."""

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield ResourceTable(("Name", "Version", "Updated", "Owner", "ID"), id="flows")
        yield Label("Deployments", id="deployments-title", classes="section", markup=False)
        yield ResourceTable(("Created", "Version", "Status", "Duration",
                             "Core / published slug", "Error", "ID"), id="deployments")
        yield Static("", id="detail")
        yield from self.compose_bottom()

    def on_mount(self) -> None:
        self.flows_table.focus()

    @property
    def flows_table(self) -> ResourceTable:
        return self.query_one("#flows", ResourceTable)

    @property
    def deployments_table(self) -> ResourceTable:
        return self.query_one("#deployments", ResourceTable)

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
            page = await self.client.list_flows(cursor=cursor, limit=limit)
        except AdminClientError as exc:
            self.post_message(self.LoadFailed(exc))
            return
        self.post_message(self.Loaded(page, append=append))

    def on_flows_screen_loaded(self, message: Loaded) -> None:
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
        flow = self.selected_flow()
        if flow is None:
            self._clear_deployments()
        elif not message.append:  # fresh data: the deployments may have changed too
            self.load_deployments(flow.id)

    def _update_status(self) -> None:
        if not self.flows:
            self.status_text = ("No flows in this tenant yet: create them in the canvas or "
                                "with POST /api/v1/flows.")
            return
        more = "m loads more" if self.next_cursor else "all shown"
        self.status_text = (f"{len(self.flows)} of {self.total} flow(s), newest first; {more}. "
                            "d deploys the selected flow; tab moves to its deployments.")

    def selected_flow(self) -> FlowSummary | None:
        key = self.flows_table.selected_key
        return next((f for f in self.flows if f.id == key), None)

    # -- loading deployments ------------------------------------------------------------------
    def load_deployments(self, flow_id: str) -> None:
        self.deployments_of = flow_id
        self.fetch_deployments(flow_id, None)

    @work(exclusive=True, group="deployments")
    async def fetch_deployments(self, flow_id: str, cursor: str | None) -> None:
        try:
            page = await self.client.list_deployments(flow_id, cursor=cursor,
                                                      limit=DEPLOYMENTS_PAGE_SIZE)
        except AdminClientError as exc:
            self.post_message(self.LoadFailed(exc))
            return
        self.post_message(self.DeploymentsLoaded(flow_id, page, append=cursor is not None))

    def on_flows_screen_deployments_loaded(self, message: DeploymentsLoaded) -> None:
        if message.flow_id != self.deployments_of:
            return  # the operator moved on to another flow meanwhile
        table = self.deployments_table
        rows = [(d.id, deployment_cells(d)) for d in message.page.items]
        if message.append:
            known = {d.id for d in self.deployments}
            self.deployments = self.deployments + tuple(
                d for d in message.page.items if d.id not in known)
            table.append_rows(rows)
        else:
            self.deployments = message.page.items
            table.replace_rows(rows)
        self.deployments_cursor = message.page.next_cursor
        if self._select_deployment and table.select_key(self._select_deployment):
            self._select_deployment = None
        self._update_deployments_title()
        self._show_detail()

    def _clear_deployments(self) -> None:
        self.deployments_of = None
        self.deployments = ()
        self.deployments_cursor = None
        self.deployments_table.replace_rows([])
        self._update_deployments_title()
        self._show_detail()

    def _update_deployments_title(self) -> None:
        flow = next((f for f in self.flows if f.id == self.deployments_of), None)
        title = self.query_one("#deployments-title", Label)
        if flow is None:
            title.update("Deployments: select a flow")
        elif not self.deployments:
            title.update(f"Deployments of {flow.name}: none yet (d deploys version "
                         f"{flow.version})")
        else:
            failed = sum(1 for d in self.deployments if not d.succeeded)
            more = "; m (here) loads older ones" if self.deployments_cursor else ""
            title.update(f"Deployments of {flow.name}: {len(self.deployments)} shown, newest "
                         f"first, {failed} failed{more}")

    # -- selection and detail -----------------------------------------------------------------
    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "flows":
            flow = self.selected_flow()
            if flow is not None and flow.id != self.deployments_of:
                self.deployments = ()
                self.deployments_table.replace_rows([])
                self.load_deployments(flow.id)
                self._update_deployments_title()
        self._show_detail()

    def on_descendant_focus(self) -> None:
        self._show_detail()

    def selected_deployment(self) -> Deployment | None:
        key = self.deployments_table.selected_key
        return next((d for d in self.deployments if d.id == key), None)

    def _show_detail(self) -> None:
        detail = self.query_one("#detail", Static)
        deployment = self.selected_deployment()
        if self.deployments_table.has_focus and deployment is not None:
            detail.update(deployment_detail(deployment))
            return
        flow = self.selected_flow()
        detail.update(flow_detail(flow) if flow else "")

    # -- paging -------------------------------------------------------------------------------
    def action_load_more(self) -> None:
        if self.deployments_table.has_focus:
            if self.deployments_of is None or self.deployments_cursor is None:
                self.say("All deployments of this flow are shown." if self.deployments
                         else "No deployments to load.")
                return
            self.fetch_deployments(self.deployments_of, self.deployments_cursor)
            return
        if self.next_cursor is None:
            self.say("All flows are shown." if self.flows else "No flows to load.")
            return
        self.status_text = "Loading more…"
        self.load_more_flows(self.next_cursor)

    # -- deploy -------------------------------------------------------------------------------
    def action_deploy(self) -> None:
        flow = self.selected_flow()
        if flow is None:
            self.say("Select a flow first.")
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
    async def deploy(self, flow: FlowSummary) -> None:
        try:
            deployment = await self.client.deploy_flow(flow.id, version=flow.version)
        except AdminClientError as exc:
            if isinstance(exc, ApiError) and isinstance(exc.extra.get("deployment_id"), str):
                self._select_deployment = str(exc.extra["deployment_id"])
            self.post_message(self.ActionFinished(
                f"Deploy of {flow.name} {flow.version} failed", exc,
                note=deploy_failure_note(exc)))
            return
        finally:
            self.deploying = None
        self._select_deployment = deployment.id
        self.post_message(self.ActionFinished(deployed_text(flow, deployment)))
