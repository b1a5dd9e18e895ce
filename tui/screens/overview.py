"""Overview: is the appliance alive and ready, who the TUI is signed in as, and each token
issuer's key ids and JWKS age (SPEC §16, §19.3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Label, Static

from tui.client import AdminClientError, Me, Readiness
from tui.screens.base import ApiScreen
from tui.widgets.problem_banner import describe_problem
from tui.widgets.resource_table import ResourceTable

LOCAL_ISSUER_ROW = "local"


@dataclass(frozen=True)
class OverviewSnapshot:
    health: str
    readiness: Readiness
    local_key_ids: tuple[str, ...]
    me: Me | None
    me_problem: str | None


def format_age(seconds: float | None) -> str:
    if seconds is None:
        return "never fetched"
    whole = int(seconds)
    if whole < 120:
        return f"{whole} s"
    minutes = whole // 60
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h {minutes % 60} min"
    return f"{hours // 24} d {hours % 24} h"


def health_text(snapshot: OverviewSnapshot) -> Text:
    readiness = snapshot.readiness
    text = Text("Appliance  ", style="bold")
    text.append(f"healthz: {snapshot.health}",
                style="green" if snapshot.health == "ok" else "red")
    text.append("   ")
    text.append(f"readyz: {readiness.status}", style="green" if readiness.ready else "red")
    for reason in readiness.reasons:
        text.append(f"\n  • {reason}", style="red")
    return text


def whoami_text(snapshot: OverviewSnapshot) -> Text:
    text = Text("Signed in ", style="bold")
    me = snapshot.me
    if me is None:
        text.append(f"— /api/v1/me failed: {snapshot.me_problem}", style="red")
        return text
    text.append(f"as {me.sub} @ {me.tenant_id}")
    role = f"{me.admin_role} ({me.admin_role_source})" if me.admin_role else "no admin role"
    text.append(f"\n  role: {role}", style="green" if me.admin_role == "super_admin"
                else "yellow")
    text.append(f"\n  permissions: {', '.join(me.permissions) or 'none'}")
    text.append(f"\n  token: {me.token_source or '?'}")
    return text


def issuer_rows(snapshot: OverviewSnapshot) -> list[tuple[str, list[str | None]]]:
    rows: list[tuple[str, list[str | None]]] = [
        (LOCAL_ISSUER_ROW, ["this appliance (service tokens)", "local",
                            ", ".join(snapshot.local_key_ids) or "none", "-"]),
    ]
    for index, issuer in enumerate(snapshot.readiness.issuers):
        rows.append((f"issuer-{index}", [
            issuer.issuer or "(not discovered yet)", issuer.source,
            ", ".join(issuer.key_ids) or "none loaded", format_age(issuer.age_seconds)]))
    return rows


class OverviewScreen(ApiScreen):
    MODE: ClassVar[str] = "overview"

    snapshot: reactive[OverviewSnapshot | None] = reactive(None, init=False)

    class Loaded(Message):
        def __init__(self, snapshot: OverviewSnapshot) -> None:
            super().__init__()
            self.snapshot = snapshot

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        with Vertical(id="overview"):
            yield Static("", id="health")
            yield Static("", id="whoami")
            yield Label("Token issuers", classes="section")
            yield ResourceTable(("Issuer", "Source", "Key ids", "JWKS age"), id="issuers",
                                max_cell_chars=80)
        yield from self.compose_bottom()

    @work(exclusive=True, group="load")
    async def load(self) -> None:
        try:
            health = await self.client.healthz()
            readiness = await self.client.readyz()
            local_key_ids = await self.client.local_key_ids()
        except AdminClientError as exc:
            self.post_message(self.LoadFailed(exc))
            return
        me: Me | None = None
        me_problem: str | None = None
        try:
            me = await self.client.me()
        except AdminClientError as exc:
            me_problem = describe_problem(exc)
        self.post_message(self.Loaded(OverviewSnapshot(health, readiness, local_key_ids, me,
                                                       me_problem)))

    def on_overview_screen_loaded(self, message: Loaded) -> None:
        self.loaded()
        self.snapshot = message.snapshot
        ready = "ready" if message.snapshot.readiness.ready else "NOT READY"
        self.status_text = f"Appliance {ready}; {len(message.snapshot.readiness.issuers) + 1} " \
                           "token issuer(s)."

    def watch_snapshot(self, snapshot: OverviewSnapshot | None) -> None:
        if snapshot is None:
            return
        self.query_one("#health", Static).update(health_text(snapshot))
        self.query_one("#whoami", Static).update(whoami_text(snapshot))
        self.query_one("#issuers", ResourceTable).replace_rows(issuer_rows(snapshot))
