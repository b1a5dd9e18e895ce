"""Dashboard: is the appliance alive and ready, what it runs (version, uptime, address, data
directory, database and WAL), its traffic (requests/s and error rate with sparklines, p99),
who the TUI is signed in as, the directory (ScaiKey sync, webhooks), who is editing which
flow live, each token issuer's key ids and JWKS age, and the warnings an operator must act
on (SPEC §12, §13, §15, §16, §19.3)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar, TypeVar

from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Label, Static

from tui.client import AdminClient, AdminClientError
from tui.screens.base import ApiScreen
from tui.screens.dashboard_text import (
    DashboardSnapshot,
    directory_text,
    health_text,
    issuer_rows,
    live_rows,
    live_title,
    traffic_text,
    warnings,
    warnings_text,
    whoami_text,
)
from tui.system_models import LIVE_EDITING, LiveFlow
from tui.widgets.problem_banner import describe_problem
from tui.widgets.resource_table import ResourceTable

T = TypeVar("T")
HISTORY = 30  # samples of the traffic sparklines (one per refresh)
NOT_SERVED = "not served by this appliance version"


async def optional(call: Callable[[], Awaitable[T]]) -> tuple[T | None, str | None]:
    """A part of the dashboard: its value, or why it is missing (the rest still shows)."""
    try:
        return await call(), None
    except AdminClientError as exc:
        return None, describe_problem(exc).split("\n")[0]


class DashboardScreen(ApiScreen):
    MODE: ClassVar[str] = "dashboard"
    REFRESH_SECONDS: ClassVar[float] = 5.0
    HELP: ClassVar[str] = (
        "The appliance at a glance, refreshed every 5 s: build and uptime, readiness, traffic "
        "of the last minute (the sparklines grow with each refresh), the directory sync, live "
        "editors, token issuers, and the warnings that need an operator.")

    snapshot: reactive[DashboardSnapshot | None] = reactive(None, init=False)

    class Loaded(Message):
        def __init__(self, snapshot: DashboardSnapshot) -> None:
            super().__init__()
            self.snapshot = snapshot

    def __init__(self, client: AdminClient) -> None:
        super().__init__(client)
        self.rates: list[float] = []
        self.error_rates: list[float] = []

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        with VerticalScroll(id="dashboard"):
            yield Static("", id="health")
            yield Static("", id="warnings")
            yield Static("", id="traffic")
            yield Static("", id="whoami")
            yield Static("", id="directory")
            yield Label("Live editing", id="live-title", classes="section", markup=False)
            yield ResourceTable(("Flow", "Tenant", "Editors", "Sockets", "Viewers",
                                 "Document"), id="live")
            yield Label("Token issuers", classes="section")
            yield ResourceTable(("Issuer", "Source", "Key ids", "JWKS age"), id="issuers",
                                max_cell_chars=80)
        yield from self.compose_bottom()

    def focus_main(self) -> None:
        self.query_one("#dashboard").focus()

    @work(exclusive=True, group="load")
    async def load(self) -> None:
        client = self.client
        try:
            health = await client.healthz()
            readiness = await client.readyz()
            local_key_ids = await client.local_key_ids()
        except AdminClientError as exc:
            self.post_message(self.LoadFailed(exc))
            return
        system, system_problem = await optional(client.system)
        me, me_problem = await optional(client.me)
        directory, directory_problem = await optional(client.sync_status)
        live: tuple[LiveFlow, ...] | None = None
        live_problem: str | None = None
        capabilities = await self.console.capabilities()
        if capabilities is not None and not capabilities.has("GET", LIVE_EDITING):
            live_problem = NOT_SERVED
        else:
            flows, live_problem = await optional(client.live_editing)
            live = tuple(flows) if flows is not None else None
        tenants, _ = await optional(client.list_tenants)  # read for its warnings only
        self.post_message(self.Loaded(DashboardSnapshot(
            health, readiness, local_key_ids, system=system, system_problem=system_problem,
            me=me, me_problem=me_problem, directory=directory,
            directory_problem=directory_problem, live=live, live_problem=live_problem,
            tenants=tuple(tenants or ()))))

    def on_dashboard_screen_loaded(self, message: Loaded) -> None:
        self.loaded()
        system = message.snapshot.system
        if system is not None:
            self.rates = [*self.rates, system.traffic.requests_per_second][-HISTORY:]
            self.error_rates = [*self.error_rates, system.traffic.error_rate][-HISTORY:]
        self.snapshot = message.snapshot
        found = len(warnings(message.snapshot))
        ready = "ready" if message.snapshot.readiness.ready else "NOT READY"
        self.status_text = (f"Appliance {ready} · {found} warning(s) · "
                            f"{len(message.snapshot.readiness.issuers) + 1} token issuer(s) · "
                            f"as of {self.loaded_at:%H:%M:%S} UTC" if self.loaded_at else "")

    def watch_snapshot(self, snapshot: DashboardSnapshot | None) -> None:
        if snapshot is None:
            return
        now = self.console.now()
        self.query_one("#health", Static).update(health_text(snapshot))
        self.query_one("#traffic", Static).update(
            traffic_text(snapshot.system, self.rates, self.error_rates))
        self.query_one("#warnings", Static).update(warnings_text(warnings(snapshot)))
        self.query_one("#whoami", Static).update(whoami_text(snapshot))
        self.query_one("#directory", Static).update(directory_text(snapshot, now))
        self.query_one("#live-title", Label).update(live_title(snapshot))
        live = self.query_one("#live", ResourceTable)
        live.display = bool(snapshot.live)
        live.replace_rows(live_rows(snapshot.live or ()))
        self.query_one("#issuers", ResourceTable).replace_rows(issuer_rows(snapshot))
