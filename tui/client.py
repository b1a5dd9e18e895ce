"""The appliance's REST API as the operator TUI uses it: typed calls, grouped by area.

`AdminClient` is the one object the screens talk to. The exchange itself (tokens, transport,
errors) is `tui.client_base`; the flows and catalog calls are `tui.flows_client` and
`tui.catalog_client`. Every failure is an `AdminClientError` (`ApiUnavailable` when nobody
answered, `ApiError` when the appliance said no), so a worker catches exactly one type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from tui.catalog_client import CatalogCalls
from tui.client_base import params_of, segment
from tui.directory_models import Group, LastSync, SyncResult, SyncStatus, WebhookActivity
from tui.flows_client import DEPLOY_TIMEOUT_SECONDS, FlowCalls
from tui.key_models import MasterKeyEntry, MasterKeys
from tui.models import (
    AuditEntry,
    AuditPage,
    Deployment,
    DeploymentPage,
    FlowPage,
    FlowSummary,
    IssuerStatus,
    KeyRotation,
    Me,
    MintedServiceToken,
    Readiness,
    ServiceToken,
    Tenant,
    TenantCredentials,
    User,
    list_of,
    parse_timestamp,
    str_at,
)
from tui.system_models import (
    LIVE_EDITING,
    MODELS,
    Capabilities,
    LiveFlow,
    LogPage,
    SystemStatus,
    live_flows,
)
from tui.transport import (
    AdminClientError,
    ApiError,
    ApiUnavailable,
    StaticToken,
    TokenSource,
)

__all__ = [
    "DEPLOY_TIMEOUT_SECONDS", "AdminClient", "AdminClientError", "ApiError", "ApiUnavailable",
    "AuditEntry", "AuditPage", "Capabilities", "Deployment", "DeploymentPage", "FlowPage",
    "FlowSummary", "Group", "IssuerStatus", "KeyRotation", "LastSync", "LiveFlow", "LogPage",
    "MasterKeyEntry", "MasterKeys", "Me", "MintedServiceToken", "Readiness", "ServiceToken",
    "StaticToken", "SyncResult", "SyncStatus", "SystemStatus", "Tenant", "TenantCredentials",
    "TokenSource", "User", "WebhookActivity", "parse_timestamp",
]

# A sync reads every page of every tenant (one ScaiKey call per group on the member walk)
# before it writes: on a large directory that takes minutes, not seconds.
SYNC_TIMEOUT_SECONDS = 300.0
# A ScaiGrid lookup is bounded by the appliance's upstream timeout (10 s by default).
LOOKUP_TIMEOUT_SECONDS = 30.0
# The admin users and groups lists come a page at a time (at most 500 a page); the TUI reads
# up to LIST_MOST of each and asks the operator to filter beyond that.
PAGE_SIZE = 500
LIST_MOST = 5000

T = TypeVar("T")


class AdminClient(FlowCalls, CatalogCalls):
    """Everything the screens ask the appliance; one transport (created on first use)."""

    # -- operations -----------------------------------------------------------------------
    async def healthz(self) -> str:
        return await self._get("/healthz", lambda b: str_at(b, "status"), auth=False)

    async def readyz(self) -> Readiness:
        # 503 is an answer here: "not ready", with reasons.
        return await self._get("/readyz", Readiness.from_json, auth=False, accept=(503,))

    async def local_key_ids(self) -> tuple[str, ...]:
        """Key ids of the appliance's own service-token issuer (`/api/v1/auth/jwks`)."""
        return await self._get("/api/v1/auth/jwks", lambda b: tuple(
            str(k.get("kid")) for k in list_of(b, "keys")), auth=False)

    async def me(self) -> Me:
        return await self._get("/api/v1/me", Me.from_json)

    async def capabilities(self) -> Capabilities:
        """The routes this appliance serves (its OpenAPI document, public)."""
        return await self._get("/api/v1/openapi.json", Capabilities.from_openapi, auth=False)

    async def system(self) -> SystemStatus:
        return await self._get("/api/v1/admin/system", SystemStatus.from_json)

    async def logs(self, *, after: int | None = None, level: str = "debug",
                   limit: int = 200) -> LogPage:
        params = params_of(after=after, level=level, limit=limit)
        return await self._get("/api/v1/admin/logs", LogPage.from_json, params=params)

    async def live_editing(self) -> list[LiveFlow]:
        return await self._get(LIVE_EDITING, live_flows)

    # -- users and roles ----------------------------------------------------------------
    async def list_users(self, *, tenant_id: str | None = None, group_id: str | None = None,
                         search: str | None = None, include_deleted: bool = False,
                         most: int = LIST_MOST) -> list[User]:
        """By tenant then id, following the appliance's cursors up to `most` users;
        `group_id`: the group's live members only."""
        params = _filters(tenant_id=tenant_id, group_id=group_id, search=search,
                          include_deleted=include_deleted)
        return await self._paged("/api/v1/admin/users", "users", User.from_json, params, most)

    async def _paged(self, path: str, key: str, parse: Callable[[Mapping[str, Any]], T],
                     params: dict[str, str], most: int) -> list[T]:
        """A keyset-paged admin list (`{key: [...], "next_cursor"}`), page after page, until
        its end or `most` items."""
        items: list[T] = []
        cursor: str | None = None
        while len(items) < most:
            query = {**params, "limit": str(min(PAGE_SIZE, most - len(items)))}
            if cursor:
                query["cursor"] = cursor
            body = (await self._request("GET", path, params=query)).body
            items += self._parsed(lambda b: [parse(x) for x in list_of(b, key)], body)
            cursor = body.get("next_cursor") if isinstance(body, dict) else None
            if not isinstance(cursor, str) or not cursor:
                break
        return items

    async def grant_role(self, user_id: str, role: str) -> None:
        await self._request("POST", f"/api/v1/admin/users/{segment(user_id)}/role",
                            json={"role": role})

    async def revoke_role(self, user_id: str) -> None:
        await self._request("DELETE", f"/api/v1/admin/users/{segment(user_id)}/role")

    # -- the directory mirror: groups, sync, webhook activity ---------------------------
    async def list_groups(self, *, tenant_id: str | None = None, search: str | None = None,
                          include_deleted: bool = False, most: int = LIST_MOST) -> list[Group]:
        """By tenant then name, following the appliance's cursors up to `most` groups."""
        params = _filters(tenant_id=tenant_id, search=search, include_deleted=include_deleted)
        return await self._paged("/api/v1/admin/groups", "groups", Group.from_json, params,
                                 most)

    async def sync_directory(self) -> SyncResult:
        """Sync now. ScaiKey unreadable: ApiError 502 `scaikey_sync_failed` (nothing changed);
        ScaiKey not configured: a result with `skipped_reason` `credentials_missing`."""
        reply = await self._request("POST", "/api/v1/admin/sync",
                                    timeout_seconds=SYNC_TIMEOUT_SECONDS)
        return self._parsed(SyncResult.from_json, reply.body)

    async def sync_status(self) -> SyncStatus:
        return await self._get("/api/v1/admin/sync/status", SyncStatus.from_json)

    # -- service tokens -----------------------------------------------------------------
    async def list_service_tokens(self) -> list[ServiceToken]:
        return await self._get("/api/v1/admin/service-tokens", lambda b: [
            ServiceToken.from_json(t) for t in list_of(b, "items")])

    async def mint_service_token(self, *, sub: str, tenant_id: str | None, scope: str,
                                 ttl_seconds: int, description: str) -> MintedServiceToken:
        payload: dict[str, Any] = {"sub": sub, "scope": scope, "ttl_seconds": ttl_seconds,
                                   "description": description}
        if tenant_id:
            payload["tenant_id"] = tenant_id
        reply = await self._request("POST", "/api/v1/admin/service-tokens", json=payload)
        return self._parsed(MintedServiceToken.from_json, reply.body)

    async def revoke_service_token(self, token_id: str) -> None:
        await self._request("DELETE", f"/api/v1/admin/service-tokens/{segment(token_id)}")

    # -- audit --------------------------------------------------------------------------
    async def list_audit(self, *, cursor: str | None = None, limit: int = 50,
                         action: str | None = None, actor: str | None = None,
                         tenant_id: str | None = None, since: str | None = None) -> AuditPage:
        """Newest first; `action` exact, `since` an RFC 3339 timestamp."""
        params = params_of(limit=limit, cursor=cursor, action=action, actor=actor,
                           tenant_id=tenant_id, since=since)
        return await self._get("/api/v1/admin/audit", AuditPage.from_json, params=params)

    # -- tenants and their ScaiGrid credentials -----------------------------------------
    async def list_tenants(self) -> list[Tenant]:
        return await self._get("/api/v1/admin/tenants",
                               lambda b: [Tenant.from_json(t) for t in list_of(b, "tenants")])

    async def set_scaigrid_credentials(self, tenant_id: str, *, api_key: str,
                                       base_url: str | None) -> None:
        """Replace the tenant's key (and base URL; None: the appliance's default applies).
        The key goes in the body only: it is in no URL, log line or exception."""
        payload: dict[str, Any] = {"api_key": api_key}
        if base_url:
            payload["base_url"] = base_url
        await self._request("POST", _credentials_path(tenant_id), json=payload)

    async def delete_scaigrid_credentials(self, tenant_id: str) -> None:
        await self._request("DELETE", _credentials_path(tenant_id))

    async def scaigrid_models(self, *, tenant_id: str | None = None) -> int:
        """One ScaiGrid lookup with the tenant's credentials (`GET /api/v1/scaigrid/models`):
        how many models ScaiGrid lists. `tenant_id` only for another tenant than the
        session's (a super admin's, where the appliance takes it)."""
        return await self._get(MODELS, lambda b: len(list_of(b, "data")),
                               params=params_of(tenant_id=tenant_id),
                               timeout_seconds=LOOKUP_TIMEOUT_SECONDS)

    async def master_keys(self) -> MasterKeys:
        """The current and the retired master keys with the backups made under each (what
        `scaiflow-box keys list` shows)."""
        return await self._get("/api/v1/admin/keys", MasterKeys.from_json)

    async def rotate_master_key(self, *, reencrypt: bool) -> KeyRotation:
        reply = await self._request("POST", "/api/v1/admin/keys/rotate",
                                    json={"reencrypt": reencrypt})
        return self._parsed(KeyRotation.from_json, reply.body)


def _filters(*, include_deleted: bool, **values: str | None) -> dict[str, str]:
    """Query parameters of a list: the filters that are set."""
    params = {name: value for name, value in values.items() if value}
    if include_deleted:
        params["include_deleted"] = "true"
    return params


def _credentials_path(tenant_id: str) -> str:
    return f"/api/v1/admin/tenants/{segment(tenant_id)}/scaigrid_credentials"
