"""A stub transport for the snapshot tests: the appliance's answers, canned and fixed in time,
so every screen renders the same way on every run. Only the HTTP hop is replaced: the client,
its parsers and the screens are the real ones.

`StubAppliance.full()` is a busy appliance, `.empty()` a fresh one, `.refusing()` one whose
admin routes answer 403, `down=…` one that does not answer at all."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from tui.app import ScaiflowAdmin
from tui.client import AdminClient
from tui.data_dir_tools import ToolOutcome
from tui.transport import Answer, Request, TransportUnavailable

NOW = datetime(2026, 5, 4, 10, 0, 0, tzinfo=UTC)
URL = "http://127.0.0.1:8001"
SESSION_TOKEN = "tok_sessiona7k2q9x4"
NOT_FOUND = (404, {"detail": "Not Found"})
Route = tuple[int, Any] | Any


def fixed_clock() -> datetime:
    return NOW


@dataclass
class StubTokens:
    session_ids: frozenset[str] = frozenset({SESSION_TOKEN})

    async def bearer(self) -> str:
        return "stub-token"

    def session_token_ids(self) -> frozenset[str]:
        return self.session_ids


@dataclass
class StubTools:
    """Data-directory tools that answer like the CLI would, without running it."""

    data_dir: str = "/var/lib/scaiflow-box"
    runs: list[str] = field(default_factory=list)

    async def backup(self, target: str) -> ToolOutcome:
        self.runs.append(f"backup {target}")
        return ToolOutcome(True, f"backed up {self.data_dir}/scaiflow.db to {target}: 4 "
                                 "encrypted value(s) under master key kek 3f9c2a (keep that "
                                 "master.key with it, separately)")

    async def restore(self, source: str) -> ToolOutcome:
        self.runs.append(f"restore {source}")
        return ToolOutcome(False, f"error: the data directory {self.data_dir} is in use (is "
                                  "`scaiflow-box serve` running? stop it first)")

    async def rotate_master_key(self, *, reencrypt: bool) -> ToolOutcome:
        self.runs.append(f"rotate {reencrypt}")
        return ToolOutcome(True, "rotated the master key: 3 data key(s) and 1 issuer key(s) "
                                 "now wrapped by kek 8d1e07")

    async def import_jwks(self, path: str, *, issuer: str | None) -> ToolOutcome:
        self.runs.append(f"jwks {path} {issuer}")
        return ToolOutcome(True, f"imported 1 key(s) for {issuer}: sk-2026-05")

    async def grant_admin(self, user: str, role: str) -> ToolOutcome:
        self.runs.append(f"grant {user} {role}")
        return ToolOutcome(True, f"{user} is now {role} (source manual)")


class StubTransport:
    def __init__(self, routes: Mapping[str, Route], *, down: str | None = None) -> None:
        self.routes = dict(routes)
        self.down = down
        self.requests: list[Request] = []

    async def send(self, base_url: str, request: Request) -> Answer:
        self.requests.append(request)
        if self.down is not None:
            raise TransportUnavailable(self.down)
        key = f"{request.method} {request.path}"
        query = "&".join(f"{k}={v}" for k, v in sorted((request.params or {}).items())
                         if k not in ("limit",))
        route = self.routes.get(f"{key}?{query}", self.routes.get(key, NOT_FOUND))
        status, body = route if isinstance(route, tuple) else (200, route)
        if isinstance(body, bytes):
            return Answer(status, "application/zip", body, {})
        return Answer(status, "application/json", orjson.dumps(body) if body is not None
                      else b"", {})

    async def close(self) -> None:
        return None


def stamp(day: int, hour: int, minute: int = 0) -> str:
    return f"2026-05-{day:02d}T{hour:02d}:{minute:02d}:00.000Z"


def openapi(*, catalog: bool = True, live: bool = True) -> dict[str, Any]:
    paths: dict[str, Any] = {path: {"get": {}} for path in (
        "/healthz", "/readyz", "/api/v1/me", "/api/v1/admin/system", "/api/v1/admin/logs",
        "/api/v1/admin/tenant/flows", "/api/v1/scaigrid/models")}
    if live:
        paths["/api/v1/admin/live-editing"] = {"get": {}}
    if catalog:
        # As the appliance declares them: the list spans every tenant for a super admin and
        # takes no tenant_id; the routes of one package take a super admin's.
        paths["/api/v1/catalog"] = {"get": {"parameters": [
            {"name": "search", "in": "query"}, {"name": "limit", "in": "query"},
            {"name": "cursor", "in": "query"}]}}
        paths["/api/v1/catalog/{package_id}"] = {
            method: {"parameters": [{"name": "tenant_id", "in": "query"}]}
            for method in ("get", "delete")}
    return {"openapi": "3.1.0", "paths": paths}


SYSTEM = {
    "version": "1.4.0", "commit": "v1.4.0-12-g3c9e2f1", "build_date": stamp(1, 8),
    "build": "binary", "python": "3.12.3", "started_at": stamp(1, 9),
    "uptime_seconds": 262800.0, "listen": "http://0.0.0.0:8001",
    "data_dir": "/var/lib/scaiflow-box",
    "database": {"size_bytes": 48_234_496, "wal_size_bytes": 4_120_576},
    "resident_memory_bytes": 96_468_992,
    "readiness": {"status": "ready", "reasons": []},
    "traffic": {"window_seconds": 60, "requests": 1422, "requests_per_second": 23.7,
                "client_errors": 12, "server_errors": 3, "error_rate": 0.0021,
                "latency_p50_seconds": 0.0018, "latency_p99_seconds": 0.0124},
    "totals": {"requests": 5_912_330, "client_errors": 4211, "server_errors": 17},
    "logging": {"level": "info", "format": "text", "access_log": False},
    "metrics_endpoint": True,
    "process": {"id": "box-7:4120:9f2c1a", "leases_held": ["directory_sync", "retention"]},
}
ISSUER = "https://scaikey.example/api/v1/platform/oauth"
READY = {"status": "ready", "reasons": [], "issuers": [
    {"issuer": ISSUER, "key_ids": ["sk-2026-04", "sk-2026-05"], "age_seconds": 312.0,
     "source": "discovery"}]}
ME = {"sub": "usr_operator", "tenant_id": "tnt_local", "email": None,
      "display_name": "Operator", "permissions": ["scaicore:view", "scaicore:manage"],
      "admin_role": "super_admin", "admin_role_source": "bootstrap", "groups": [],
      "token_source": "service"}
SYNC = {"configured": True, "interval_minutes": 60, "super_admin_groups": ["platform-admins"],
        "running": False, "next_run_in_seconds": 1800.0,
        "last": {"trigger": "schedule", "started_at": stamp(4, 9, 29),
                 "finished_at": stamp(4, 9, 30), "ok": False,
                 "error": "scaikey_sync_failed: ScaiKey answered HTTP 503", "result": None},
        "webhooks": {"configured": True, "received_24h": 41, "handled_24h": 41,
                     "last_received_at": stamp(4, 9, 52), "last_event_type": "user.updated"}}
LIVE = {"flows": [
    {"flow_id": "flow_7q2m4k8d1c5b9x3z", "tenant_id": "tnt_acme", "name": "Support triage",
     "connections": 3, "editors": 2, "document_bytes": 18_432, "viewers": [{}, {}, {}]},
    {"flow_id": "flow_2b6n8p0r4t6v8x1a", "tenant_id": "tnt_local", "name": "Invoice intake",
     "connections": 1, "editors": 1, "document_bytes": 6_210, "viewers": [{}]}]}


def credentials(configured: bool, *, readable: bool = True) -> dict[str, Any]:
    if not configured:
        return {"configured": False, "base_url": None, "masked_key": None, "readable": True}
    return {"configured": True, "base_url": "https://scaigrid.example",
            "masked_key": "sgk_…9f3a", "readable": readable, "base_url_stored": True}


TENANTS = {"tenants": [
    {"id": "tnt_acme", "name": "ACME Corp", "source": "scaikey", "created_at": stamp(1, 9),
     "users": 42, "flows": 17, "packages": 5, "scaigrid_credentials": credentials(True)},
    {"id": "tnt_globex", "name": "Globex", "source": "scaikey", "created_at": stamp(2, 14),
     "users": 8, "flows": 3, "packages": 0,
     "scaigrid_credentials": credentials(True, readable=False)},
    {"id": "tnt_local", "name": "tnt_local", "source": "bootstrap", "created_at": stamp(1, 9),
     "users": 1, "flows": 2, "packages": 1, "scaigrid_credentials": credentials(False)}]}
USERS = {"users": [
    {"id": "usr_operator", "tenant_id": "tnt_local", "email": None, "display_name": "Operator",
     "status": "ACTIVE", "admin_role": "super_admin", "admin_role_source": "bootstrap",
     "deleted_at": None, "last_synced_at": None},
    {"id": "usr_ada", "tenant_id": "tnt_acme", "email": "ada@acme.example",
     "display_name": "Ada Lovelace", "status": "ACTIVE", "admin_role": "tenant_admin",
     "admin_role_source": "manual", "deleted_at": None, "last_synced_at": stamp(4, 9, 30)},
    {"id": "usr_grace", "tenant_id": "tnt_acme", "email": "grace@acme.example",
     "display_name": "Grace Hopper", "status": "ACTIVE", "admin_role": None,
     "admin_role_source": None, "deleted_at": None, "last_synced_at": stamp(4, 9, 30)}]}
GROUPS = {"groups": [
    {"id": "grp_support", "tenant_id": "tnt_acme", "name": "support", "member_count": 12,
     "super_admin_group": False, "created_at": stamp(1, 9), "last_synced_at": stamp(4, 9, 30),
     "deleted_at": None},
    {"id": "grp_platform", "tenant_id": "tnt_acme", "name": "platform-admins",
     "member_count": 2, "super_admin_group": True, "created_at": stamp(1, 9),
     "last_synced_at": stamp(4, 9, 30), "deleted_at": None}]}
TOKENS = {"items": [
    {"id": "tok_ci4pipeline2x7k", "tenant_id": "tnt_acme", "sub": "ci-pipeline",
     "scope": "scaicore:view scaicore:manage", "description": "GitLab deploy job",
     "created_by": "usr_operator", "created_at": stamp(1, 10),
     "expires_at": "2026-05-31T10:00:00.000Z", "revoked_at": None},
    {"id": "tok_grafana9m3p1q8r", "tenant_id": "tnt_local", "sub": "grafana",
     "scope": "scaicore:view", "description": "dashboards", "created_by": "cli",
     "created_at": stamp(2, 11), "expires_at": "2026-06-01T11:00:00.000Z",
     "revoked_at": stamp(3, 8)},
    {"id": "tok_oldscript5d2w6e", "tenant_id": "tnt_acme", "sub": "nightly-import",
     "scope": "scaicore:manage", "description": "expired long ago", "created_by": "cli",
     "created_at": "2026-03-01T10:00:00.000Z", "expires_at": "2026-04-01T10:00:00.000Z",
     "revoked_at": None},
    {"id": SESSION_TOKEN, "tenant_id": "tnt_local", "sub": "usr_operator",
     "scope": "scaicore:view scaicore:manage", "description": "scaiflow-box tui session",
     "created_by": "tui", "created_at": stamp(4, 9, 55), "expires_at": "2099-01-01T00:00:00.000Z",
     "revoked_at": None}]}


def audit_entry(entry_id: int, at: str, actor: str, action: str, tenant: str | None,
                target: tuple[str, str] | None, details: dict[str, Any]) -> dict[str, Any]:
    return {"id": entry_id, "at": at, "tenant_id": tenant, "actor": actor, "action": action,
            "target_type": target[0] if target else None,
            "target_id": target[1] if target else None, "details": details}


AUDIT = {"items": [
    audit_entry(912, stamp(4, 9, 58), "usr_ada", "flow.updated", "tnt_acme",
                ("flow", "flow_7q2m4k8d1c5b9x3z"), {"version": "1.0.7"}),
    audit_entry(911, stamp(4, 9, 41), "tui", "service_token.minted", "tnt_acme",
                ("service_token", "tok_ci4pipeline2x7k"), {"sub": "ci-pipeline"}),
    audit_entry(910, stamp(3, 17, 5), "cli", "keys.rotated", None,
                ("master_key", "kek_8d1e07c2"), {"reencrypt": False, "data_keys": 3}),
    audit_entry(909, stamp(3, 8), "usr_operator", "service_token.revoked", "tnt_local",
                ("service_token", "tok_grafana9m3p1q8r"), {"sub": "grafana"})],
    "next_cursor": None}
DATA_DIR = "/var/lib/scaiflow-box"


def key_backups(*made: tuple[str, bool]) -> dict[str, Any]:
    items = [{"file": f"/var/backups/scaiflow/{at[:10]}.db", "made_at": at, "kind": "backup",
              "on_disk": there} for at, there in made]
    return {"recorded": len(items), "on_disk": sum(there for _, there in made),
            "newest_at": made[-1][0] if made else None, "items": items}


def master_key(kek_id: str, retired_at: str | None, backups: dict[str, Any]) -> dict[str, Any]:
    where = f"{DATA_DIR}/master.key" + (f".retired-{kek_id}" if retired_at else "")
    return {"kek_id": kek_id, "state": "retired" if retired_at else "current", "where": where,
            "retired_at": retired_at, "problem": None, "backups": backups}


# One rotation ago: a backup since; two before it, one of them moved away since.
MASTER_KEYS = {"source": "file", "items": [
    master_key("8d1e07c2b4a9", None, key_backups((stamp(4, 2), True))),
    master_key("3f9c2a8d1e07", "2026-05-03T17:05:12.000Z",
               key_backups((stamp(2, 2), False), (stamp(3, 2), True)))]}
FLOW_A = "flow_7q2m4k8d1c5b9x3z"
FLOW_B = "flow_5h1j3k5l7m9n1p3q"
FLOWS = {"items": [
    {"id": FLOW_A, "name": "Support triage", "description": "Routes tickets to the right queue",
     "owner_id": "usr_ada", "owner_email": "ada@acme.example", "owner_display_name": "Ada",
     "version": "1.0.7", "created_at": stamp(1, 10), "updated_at": stamp(4, 9, 58),
     "deleted_at": None},
    {"id": FLOW_B, "name": "Old intake", "description": "", "owner_id": "usr_grace",
     "owner_email": "grace@acme.example", "owner_display_name": "Grace", "version": "1.0.2",
     "created_at": stamp(1, 11), "updated_at": stamp(2, 9), "deleted_at": stamp(3, 12)}],
    "total": 2, "next_cursor": None}
DEPLOYMENTS = {"items": [
    {"id": "dep_3k9m2p7q1r5s8t4u", "flow_id": FLOW_A, "version": "1.0.7",
     "core_id": "core_9f8e7d", "published_slug": "scaicore/acme/support-triage",
     "status": "succeeded", "error": None, "deployed_by": "usr_ada",
     "created_at": stamp(4, 9, 59), "duration_ms": 2140},
    {"id": "dep_1a2b3c4d5e6f7g8h", "flow_id": FLOW_A, "version": "1.0.6", "core_id": None,
     "published_slug": None, "status": "failed",
     "error": "scaicore_create_failed: ScaiGrid answered HTTP 500", "deployed_by": "usr_ada",
     "created_at": stamp(3, 16), "duration_ms": 10430}], "next_cursor": None}
CONTENT = {"id": FLOW_A, "name": "Support triage", "version": "1.0.7", "scaicore_target": "0.2",
           "metadata": {}, "nodes": [{"id": "entry", "type": "entry_api", "label": "Ticket",
                                      "position": {"x": 0, "y": 0}, "config": {},
                                      "inputs": [], "outputs": []}],
           "edges": [], "variables": [], "config": {}, "tests": []}
FLOW_DETAIL = {**{k: FLOWS["items"][0][k] for k in ("id", "name", "description", "owner_id",
                                                     "version", "created_at", "updated_at")},
               "tenant_id": "tnt_acme", "content": CONTENT}
VERSIONS = {"items": [
    {"version": f"1.0.{n}", "created_at": stamp(1 + n // 2, 9 + n), "created_by": "usr_ada",
     "sha256": f"{n}f3a9c2e7b1d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a6c",
     "size_bytes": 4000 + 170 * n} for n in range(7, -1, -1)], "next_cursor": None}
ACLS = [{"id": "acl_4r6t8y0u2i4o6p8a", "flow_id": FLOW_A, "principal_type": "group",
         "principal_id": "grp_support", "level": "edit", "granted_by": "usr_ada",
         "granted_at": stamp(2, 10)},
        {"id": "acl_1q3w5e7r9t1y3u5i", "flow_id": FLOW_A, "principal_type": "user",
         "principal_id": "usr_grace", "level": "deploy", "granted_by": "usr_ada",
         "granted_at": stamp(3, 15)}]
PACKAGES = [
    {"package_id": "support-triage", "name": "Support triage", "description": "Ticket router",
     "version": "0.3.1", "author_id": "usr_ada", "author_email": "ada@acme.example",
     "visibility": "tenant", "visibility_group_ids": [], "created_at": stamp(1, 12),
     "updated_at": stamp(4, 8), "tenant_id": "tnt_acme", "size_bytes": 5321},
    {"package_id": "invoice-intake", "name": "Invoice intake", "description": "",
     "version": "1.0.0", "author_id": "usr_grace", "author_email": "grace@acme.example",
     "visibility": "groups", "visibility_group_ids": ["grp_support"],
     "created_at": stamp(2, 12), "updated_at": stamp(2, 12), "tenant_id": "tnt_acme",
     "size_bytes": 12_804},
    {"package_id": "hello", "name": "Hello", "description": "The example flow",
     "version": "0.1.0", "author_id": "usr_operator", "author_email": None,
     "visibility": "tenant", "visibility_group_ids": [], "created_at": stamp(3, 9),
     "updated_at": stamp(3, 9), "tenant_id": "tnt_local", "size_bytes": 2_117}]
PACKAGE = {**PACKAGES[0], "readme": "# Support triage\nRoutes tickets.",
           "versions": [{"version": "0.3.1", "sha256": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
                         "size_bytes": 5321, "created_at": stamp(4, 8)},
                        {"version": "0.3.0", "sha256": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
                         "size_bytes": 5290, "created_at": stamp(3, 8)}]}
PACKAGE_DETAILS = {  # as the routes name them: another tenant's with the super admin's tenant_id
    "GET /api/v1/catalog/support-triage?tenant_id=tnt_acme": PACKAGE,
    "GET /api/v1/catalog/invoice-intake?tenant_id=tnt_acme": {
        **PACKAGES[1], "readme": None, "versions": [
            {"version": "1.0.0", "sha256": "9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a49",
             "size_bytes": 12_804, "created_at": stamp(2, 12)}]},
    "GET /api/v1/catalog/hello": {
        **PACKAGES[2], "readme": None, "versions": [
            {"version": "0.1.0", "sha256": "5e4d3c2b1a0f9e8d7c6b5a493827160f",
             "size_bytes": 2_117, "created_at": stamp(3, 9)}]},
}


def log_line(seq: int, at: str, level: str, logger: str, message: str) -> dict[str, Any]:
    return {"seq": seq, "at": at, "level": level, "logger": logger, "message": message}


LOGS = {"items": [
    log_line(101, "2026-05-04T09:58:01.120Z", "info", "scaiflow_box.server",
             "listening on http://0.0.0.0:8001 (scaiflow-box 1.4.0)"),
    log_line(102, "2026-05-04T09:58:12.410Z", "info", "scaiflow_box.services.directory_sync",
             "sync started (schedule)"),
    log_line(103, "2026-05-04T09:58:13.002Z", "warning", "scaiflow_box.upstream.scaikey",
             "ScaiKey answered HTTP 503 on /api/v1/admin/groups/ (retrying in 60 s)"),
    log_line(104, "2026-05-04T09:58:13.004Z", "error", "scaiflow_box.services.directory_sync",
             "sync failed: scaikey_sync_failed: ScaiKey answered HTTP 503; the mirror was kept"),
    log_line(105, "2026-05-04T09:59:40.771Z", "info", "scaiflow_box.services.deploy",
             "deployed flow_7q2m4k8d1c5b9x3z 1.0.7 as core_9f8e7d in 2140 ms")],
    "next_after": 105, "first_seq": 1, "missed": False, "capacity": 2000}


class StubAppliance:
    """Canned answers by `METHOD path`."""

    @staticmethod
    def full() -> dict[str, Route]:
        flow = f"/api/v1/flows/{FLOW_A}"
        return {
            "GET /healthz": {"status": "ok"}, "GET /readyz": READY,
            "GET /api/v1/auth/jwks": {"keys": [{"kid": "box-7f3a91c2"}]},
            "GET /api/v1/me": ME, "GET /api/v1/openapi.json": openapi(),
            "GET /api/v1/admin/system": SYSTEM, "GET /api/v1/admin/sync/status": SYNC,
            "GET /api/v1/admin/live-editing": LIVE, "GET /api/v1/admin/tenants": TENANTS,
            "GET /api/v1/admin/users": USERS, "GET /api/v1/admin/groups": GROUPS,
            "GET /api/v1/admin/service-tokens": TOKENS, "GET /api/v1/admin/audit": AUDIT,
            "GET /api/v1/admin/keys": MASTER_KEYS,
            "GET /api/v1/admin/tenant/flows": FLOWS, "GET /api/v1/admin/logs": LOGS,
            f"GET {flow}": FLOW_DETAIL, f"GET {flow}/versions": VERSIONS,
            f"GET {flow}/acls": ACLS, f"GET {flow}/deployments": DEPLOYMENTS,
            "GET /api/v1/catalog": PACKAGES, **PACKAGE_DETAILS,
        }

    @staticmethod
    def empty() -> dict[str, Route]:
        routes = StubAppliance.full()
        routes.update({
            "GET /readyz": {"status": "ready", "reasons": [], "issuers": []},
            "GET /api/v1/admin/sync/status": {
                "configured": False, "interval_minutes": 60, "super_admin_groups": [],
                "running": False, "next_run_in_seconds": None, "last": None,
                "webhooks": {"configured": False, "received_24h": 0, "handled_24h": 0,
                             "last_received_at": None, "last_event_type": None}},
            "GET /api/v1/admin/system": {**SYSTEM, "uptime_seconds": 42.0,
                                         "traffic": {**SYSTEM["traffic"], "requests": 0,
                                                     "requests_per_second": 0.0,
                                                     "client_errors": 0, "server_errors": 0,
                                                     "error_rate": 0.0,
                                                     "latency_p50_seconds": None,
                                                     "latency_p99_seconds": None}},
            "GET /api/v1/admin/live-editing": {"flows": []},
            "GET /api/v1/admin/tenants": {"tenants": []},
            "GET /api/v1/admin/users": {"users": []}, "GET /api/v1/admin/groups": {"groups": []},
            "GET /api/v1/admin/service-tokens": {"items": []},
            "GET /api/v1/admin/keys": {"source": "file", "items": [
                master_key("3f9c2a8d1e07", None, key_backups())]},
            "GET /api/v1/admin/audit": {"items": [], "next_cursor": None},
            "GET /api/v1/admin/tenant/flows": {"items": [], "total": 0, "next_cursor": None},
            "GET /api/v1/admin/logs": {"items": [], "next_after": 0, "first_seq": 0,
                                       "missed": False, "capacity": 2000},
            "GET /api/v1/catalog": [],
        })
        return routes

    @staticmethod
    def refusing() -> dict[str, Route]:
        """Signed in as a user without an admin role: the admin routes answer 403."""
        forbidden = (403, {"detail": {"error": "forbidden", "message": "this action needs the "
                                      "super_admin role"}})
        routes = StubAppliance.full()
        for key in list(routes):
            if key.startswith("GET /api/v1/admin/") or key.startswith("GET /api/v1/catalog"):
                routes[key] = forbidden
        routes["GET /api/v1/me"] = {**ME, "sub": "usr_grace", "tenant_id": "tnt_acme",
                                    "admin_role": None, "admin_role_source": None,
                                    "token_source": "scaikey"}
        return routes

    @staticmethod
    def without_new_routes() -> dict[str, Route]:
        """An appliance of the version before the catalog and live editing."""
        routes = StubAppliance.full()
        routes["GET /api/v1/openapi.json"] = openapi(catalog=False, live=False)
        return routes


def stub_app(routes: Mapping[str, Route] | None = None, *, down: str | None = None,
             tools: bool = True) -> ScaiflowAdmin:
    """The console against canned answers, with a fixed clock and no auto-refresh."""
    transport = StubTransport(routes if routes is not None else StubAppliance.full(),
                              down=down)
    client = AdminClient(URL, StubTokens(), transport=transport)
    return ScaiflowAdmin(client, tools=StubTools() if tools else None, auto_reload=False,
                         clock=fixed_clock)
