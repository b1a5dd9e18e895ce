"""The Dashboard's text: pure functions of what the appliance said (a `DashboardSnapshot`),
so they are tested without a terminal."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from rich.text import Text

from tui.directory_models import LastSync, SyncStatus, counters_lines, users_method_text
from tui.formatting import (
    format_age,
    format_bytes,
    format_moment,
    format_seconds,
    short_time,
    spark,
)
from tui.models import Me, Readiness, Tenant
from tui.system_models import LiveFlow, SystemStatus

LOCAL_ISSUER_ROW = "local"
WAL_WARNING_BYTES = 256 * 1024 * 1024
JWKS_WARNING_SECONDS = 24 * 3600
ERROR_RATE_WARNING = 0.05
ERROR_RATE_MIN_REQUESTS = 20


@dataclass(frozen=True)
class DashboardSnapshot:
    health: str
    readiness: Readiness
    local_key_ids: tuple[str, ...]
    system: SystemStatus | None = None
    system_problem: str | None = None
    me: Me | None = None
    me_problem: str | None = None
    directory: SyncStatus | None = None
    directory_problem: str | None = None
    live: tuple[LiveFlow, ...] | None = None
    live_problem: str | None = None
    tenants: tuple[Tenant, ...] = field(default=())


def health_text(snapshot: DashboardSnapshot) -> Text:
    readiness = snapshot.readiness
    text = Text("Appliance  ", style="bold")
    text.append(f"healthz: {snapshot.health}",
                style="green" if snapshot.health == "ok" else "red")
    text.append(" · ")
    text.append(f"readyz: {readiness.status}", style="green" if readiness.ready else "red")
    for reason in readiness.reasons:
        text.append(f"\n  • {reason}", style="red")
    system = snapshot.system
    if system is None:
        text.append(f"\n  /api/v1/admin/system failed: {snapshot.system_problem}", style="red")
        return text
    build = system.commit or "commit unknown"
    if system.build_date:
        build += f" · {system.build} of {short_time(system.build_date)[:10]}"
    else:
        build += f" · {system.build}"
    text.append(f"\n  scaiflow-box {system.version} · {build} · Py {system.python}")
    text.append(f"\n  up {format_age(system.uptime_seconds)} (since "
                f"{short_time(system.started_at)}) · listening on {system.listen}")
    # MariaDB: the schema's size, and no WAL (its logs are the server's).
    database = (f"DB {format_bytes(system.db_size_bytes)} (MariaDB)"
                if system.db_engine == "mariadb" else
                f"DB {format_bytes(system.db_size_bytes)} · WAL "
                f"{format_bytes(system.wal_size_bytes)}")
    text.append(f"\n  data {system.data_dir} · {database} · RSS "
                f"{format_bytes(system.resident_memory_bytes)}")
    return text


def traffic_text(system: SystemStatus | None, rates: list[float], errors: list[float]) -> Text:
    text = Text("Traffic    ", style="bold")
    if system is None:
        text.append("unknown (needs /api/v1/admin/system)", style="dim")
        return text
    traffic = system.traffic
    text.append(f"{traffic.requests_per_second:.1f} req/s ")
    text.append(spark(rates, 12), style="cyan")
    text.append(f" · 5xx {traffic.error_rate * 100:.1f} % ")
    text.append(spark(errors, 12), style="red" if traffic.server_errors else "green")
    text.append(f" · p99 {format_seconds(traffic.latency_p99_seconds)} · p50 "
                f"{format_seconds(traffic.latency_p50_seconds)}")
    text.append(f"\n  last minute {traffic.requests:,} request(s) ({traffic.server_errors} 5xx, "
                f"{traffic.client_errors} 4xx) · since start {system.total_requests:,} "
                f"({system.total_server_errors} 5xx)")
    return text


def whoami_text(snapshot: DashboardSnapshot) -> Text:
    text = Text("Signed in ", style="bold")
    me = snapshot.me
    if me is None:
        text.append(f"— /api/v1/me failed: {snapshot.me_problem}", style="red")
        return text
    text.append(f"as {me.sub} @ {me.tenant_id}")
    role = f"{me.admin_role} ({me.admin_role_source})" if me.admin_role else "no admin role"
    text.append(f" · role: {role}", style="green" if me.admin_role == "super_admin"
                else "yellow")
    text.append(f" · token: {me.token_source or '?'}")
    text.append(f"\n  permissions: {', '.join(me.permissions) or 'none'}")
    return text


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


def directory_text(snapshot: DashboardSnapshot, now: datetime | None = None) -> Text:
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


def issuer_rows(snapshot: DashboardSnapshot) -> list[tuple[str, list[str | None]]]:
    rows: list[tuple[str, list[str | None]]] = [
        (LOCAL_ISSUER_ROW, ["this appliance (service tokens)", "local",
                            ", ".join(snapshot.local_key_ids) or "none", "-"]),
    ]
    for index, issuer in enumerate(snapshot.readiness.issuers):
        rows.append((f"issuer-{index}", [
            issuer.issuer or "(not discovered yet)", issuer.source,
            ", ".join(issuer.key_ids) or "none loaded", format_age(issuer.age_seconds)]))
    return rows


def live_rows(flows: tuple[LiveFlow, ...]) -> list[tuple[str, list[str | None]]]:
    return [(f"{flow.tenant_id}/{flow.flow_id}", [
        flow.name or flow.flow_id, flow.tenant_id, str(flow.editors), str(flow.connections),
        str(flow.viewers), format_bytes(flow.document_bytes)]) for flow in flows]


def live_title(snapshot: DashboardSnapshot) -> str:
    if snapshot.live is None:
        return f"Live editing: {snapshot.live_problem or 'unknown'}"
    editors = sum(flow.editors for flow in snapshot.live)
    return (f"Live editing: {editors} editor(s) on {len(snapshot.live)} flow(s)"
            if snapshot.live else "Live editing: nobody is editing a flow now")


# The work behind each lease (services/leases.py), as the dashboard names it.
LEASE_WORK = {"directory_sync": "scheduled ScaiKey sync", "retention": "retention pass"}


def warnings(snapshot: DashboardSnapshot) -> list[str]:
    """What an operator must act on, most urgent first."""
    found: list[str] = []
    readiness = snapshot.readiness
    if not readiness.ready:
        found.append("Not ready: " + ("; ".join(readiness.reasons) or "no reason given"))
    me = snapshot.me
    if me is not None and me.admin_role != "super_admin":
        found.append(f"{me.sub} is not a super admin: most screens stay empty "
                     "(`scaiflow-box admin grant` — or 9, the Data directory).")
    last = snapshot.directory.last if snapshot.directory else None
    if last is not None and not last.ok:
        found.append(f"The last ScaiKey sync failed ({short_time(last.finished_at)}): "
                     f"{last.error or 'no reason given'}")
    for issuer in readiness.issuers:
        if not issuer.key_ids:
            found.append(f"No signing keys for {issuer.issuer or 'the ScaiKey issuer'}: ScaiKey "
                         "tokens are refused (fetch them, or import a JWKS on Security).")
        elif issuer.source in ("url", "discovery") and issuer.age_seconds is not None \
                and issuer.age_seconds > JWKS_WARNING_SECONDS:
            found.append(f"The JWKS of {issuer.issuer} is {format_age(issuer.age_seconds)} old:"
                         " ScaiKey has not been reached since.")
    for tenant in snapshot.tenants:
        if tenant.credentials.state == "unreadable":
            found.append(f"Tenant {tenant.id}: its ScaiGrid credentials do not decrypt "
                         "(set them again on Tenants).")
    system = snapshot.system
    if system is not None:
        traffic = system.traffic
        if traffic.requests >= ERROR_RATE_MIN_REQUESTS and \
                traffic.error_rate >= ERROR_RATE_WARNING:
            found.append(f"{traffic.error_rate * 100:.0f} % of the last minute's requests "
                         "failed with 5xx: see Logs (8).")
        if system.wal_size_bytes >= WAL_WARNING_BYTES:
            found.append(f"The WAL is {format_bytes(system.wal_size_bytes)}: checkpoints "
                         "cannot complete (a long reader?).")
        others = [LEASE_WORK[name] for name in LEASE_WORK
                  if system.leases_held is not None and name not in system.leases_held]
        if others:
            # Not a fault with several processes on one database: one of them holds each.
            verb, held = ("runs", "its lease") if len(others) == 1 else ("run", "their leases")
            found.append(f"The {' and '.join(others)} {verb} in another process of this site "
                         f"(it holds {held}); if none is running, this one takes over within "
                         "SCAIFLOW_LEASE_SECONDS.")
    return found


def warnings_text(found: list[str]) -> Text:
    if not found:
        return Text.assemble(("Warnings   ", "bold"), ("none", "green"))
    text = Text(f"Warnings ({len(found)})", style="bold red")
    for line in found:
        text.append(f"\n  ! {line}", style="yellow")
    return text
