"""Overview: is the appliance alive and ready, who the TUI is signed in as, the directory
(ScaiKey sync schedule, the last sync, webhook activity) and each token issuer's key ids and
JWKS age (SPEC §12, §13, §16, §19.3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Label, Static

from tui.client import AdminClientError, LastSync, Me, Readiness, SyncStatus, parse_timestamp
from tui.directory_models import counters_lines, users_method_text
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
    directory: SyncStatus | None = None
    directory_problem: str | None = None


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


def format_moment(timestamp: str | None, now: datetime | None = None) -> str:
    """The appliance's timestamp and how long ago it was."""
    moment = parse_timestamp(timestamp)
    if timestamp is None or moment is None:
        return timestamp or "-"
    seconds = max(0.0, ((now or datetime.now(UTC)) - moment).total_seconds())
    return f"{timestamp} ({format_age(seconds)} ago)"


def schedule_text(status: SyncStatus) -> str:
    if not status.configured:
        return ("ScaiKey sync not configured (set SCAIKEY_BASE_URL, SCAIFLOW_SCAIKEY_CLIENT_ID "
                "and SCAIFLOW_SCAIKEY_CLIENT_SECRET)")
    if status.interval_minutes == 0:
        return "ScaiKey sync configured · background sync off (SCAIFLOW_SYNC_INTERVAL_MINUTES=0)"
    text = f"ScaiKey sync configured · every {status.interval_minutes} min · next run "
    if status.next_run_in_seconds is None:
        return text + "not scheduled"
    return text + f"in {format_age(status.next_run_in_seconds)}"


def last_sync_text(text: Text, last: LastSync | None, now: datetime | None) -> None:
    text.append("\n  last sync: ")
    if last is None:
        text.append("never", style="yellow")
        return
    text.append(f"{format_moment(last.finished_at, now)}, {last.trigger} · ")
    result = last.result
    if not last.ok:
        text.append(f"FAILED: {last.error or 'no reason given'} (the mirror was kept)",
                    style="red")
    elif result is None:
        text.append("ok")
    elif result.not_configured:
        text.append("skipped: ScaiKey is not configured", style="yellow")
    else:
        text.append(f"ok in {result.duration_seconds:.2f} s via "
                    f"{users_method_text(result.users_method)}", style="green")
        for line in counters_lines(result):
            text.append(f"\n    {line}")


def directory_text(snapshot: OverviewSnapshot, now: datetime | None = None) -> Text:
    text = Text("Directory ", style="bold")
    status = snapshot.directory
    if status is None:
        text.append(f"— /api/v1/admin/sync/status failed: {snapshot.directory_problem}",
                    style="red")
        return text
    text.append(schedule_text(status), style=None if status.configured else "yellow")
    groups = ", ".join(status.super_admin_groups) or "none (SCAIFLOW_SUPER_ADMIN_GROUPS unset)"
    text.append(f"\n  super-admin groups: {groups}")
    last_sync_text(text, status.last, now)
    if status.running:
        text.append("\n  a sync is running now", style="italic")
    hooks = status.webhooks
    text.append("\n  webhooks: ")
    if not hooks.configured:
        text.append("not configured (SCAIFLOW_SCAIKEY_WEBHOOK_SECRET unset: ScaiKey's events "
                    "are refused with 503)", style="yellow")
        return text
    text.append(f"configured · last 24 h: {hooks.received_24h} received, "
                f"{hooks.handled_24h} handled · last: ")
    if hooks.last_received_at is None:
        text.append("none yet")
    else:
        text.append(f"{hooks.last_event_type or '?'} at "
                    f"{format_moment(hooks.last_received_at, now)}")
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
            yield Static("", id="directory")
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
        directory: SyncStatus | None = None
        directory_problem: str | None = None
        try:
            directory = await self.client.sync_status()
        except AdminClientError as exc:
            directory_problem = describe_problem(exc)
        self.post_message(self.Loaded(OverviewSnapshot(health, readiness, local_key_ids, me,
                                                       me_problem, directory,
                                                       directory_problem)))

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
        self.query_one("#directory", Static).update(directory_text(snapshot))
        self.query_one("#issuers", ResourceTable).replace_rows(issuer_rows(snapshot))
