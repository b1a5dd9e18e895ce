"""The deployments of one flow (SPEC §7), newest first, paged, under the Flows list: its own
title line and table, loaded when the list's selection changes."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Label

from tui.client import AdminClient, AdminClientError, Deployment, DeploymentPage
from tui.flow_models import TenantFlow
from tui.screens.flows_text import deployment_cells
from tui.widgets.resource_table import ResourceTable

PAGE_SIZE = 50


class DeploymentsPane(Vertical):
    DEFAULT_CSS = """
    DeploymentsPane { height: auto; }
    """

    class Loaded(Message):
        def __init__(self, flow_id: str, page: DeploymentPage, *, append: bool) -> None:
            super().__init__()
            self.flow_id = flow_id
            self.page = page
            self.append = append

    class Failed(Message):
        def __init__(self, error: AdminClientError) -> None:
            super().__init__()
            self.error = error

    def __init__(self, client: AdminClient) -> None:
        super().__init__(id="deployments-pane")
        self.client = client
        self.flow: TenantFlow | None = None
        """The flow whose deployments are shown (or being loaded)."""
        self.deployments: tuple[Deployment, ...] = ()
        self.cursor: str | None = None
        self.tenant_id: str | None = None
        self.select_next: str | None = None
        """A deployment to put the cursor on once it is listed (the one just made)."""

    def compose(self) -> ComposeResult:
        yield Label("Deployments", id="deployments-title", classes="section", markup=False)
        yield ResourceTable(("Created", "Version", "Status", "Duration",
                             "Core / published slug", "Error", "ID"), id="deployments")

    @property
    def table(self) -> ResourceTable:
        return self.query_one("#deployments", ResourceTable)

    def show(self, flow: TenantFlow | None, *, tenant_id: str | None, reload: bool = False
             ) -> None:
        """Show `flow`'s deployments (none for no flow or a deleted one); `reload` reads
        them again for the same flow."""
        same = flow is not None and self.flow is not None and flow.id == self.flow.id
        self.flow, self.tenant_id = flow, tenant_id
        if not same:
            self.deployments, self.cursor = (), None
            self.table.replace_rows([])
        if flow is not None and not flow.deleted and (reload or not same):
            self.fetch(flow.id, None)
        self._title()

    def more(self) -> str | None:
        """Load older deployments; what to say when there are none."""
        if self.flow is None or self.cursor is None:
            return ("All deployments of this flow are shown." if self.deployments
                    else "No deployments to load.")
        self.fetch(self.flow.id, self.cursor)
        return None

    def selected(self) -> Deployment | None:
        key = self.table.selected_key
        return next((d for d in self.deployments if d.id == key), None)

    @work(exclusive=True, group="deployments")
    async def fetch(self, flow_id: str, cursor: str | None) -> None:
        try:
            page = await self.client.list_deployments(flow_id, cursor=cursor, limit=PAGE_SIZE,
                                                      tenant_id=self.tenant_id)
        except AdminClientError as exc:
            self.post_message(self.Failed(exc))
            return
        self.post_message(self.Loaded(flow_id, page, append=cursor is not None))

    def on_deployments_pane_loaded(self, message: Loaded) -> None:
        if self.flow is None or message.flow_id != self.flow.id:
            return  # the operator moved on to another flow meanwhile
        rows = [(d.id, deployment_cells(d)) for d in message.page.items]
        if message.append:
            known = {d.id for d in self.deployments}
            self.deployments += tuple(d for d in message.page.items if d.id not in known)
            self.table.append_rows(rows)
        else:
            self.deployments = message.page.items
            self.table.replace_rows(rows)
        self.cursor = message.page.next_cursor
        if self.select_next and self.table.select_key(self.select_next):
            self.select_next = None
        self._title()

    def _title(self) -> None:
        flow = self.flow
        title = self.query_one("#deployments-title", Label)
        if flow is None:
            title.update("Deployments: select a flow")
        elif flow.deleted:
            title.update(f"Deployments of {flow.name}: the flow is deleted (u undeletes it)")
        elif not self.deployments:
            title.update(f"Deployments of {flow.name}: none yet (d deploys version "
                         f"{flow.version})")
        else:
            failed = sum(1 for d in self.deployments if not d.succeeded)
            more = "; m (here) loads older ones" if self.cursor else ""
            title.update(f"Deployments of {flow.name}: {len(self.deployments)} shown, newest "
                         f"first, {failed} failed{more}")
