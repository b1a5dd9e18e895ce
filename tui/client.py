"""An async client of the appliance's REST API, typed for what the operator TUI shows.

Every failure surfaces as one of two exceptions, so a screen can tell "nobody answered"
from "the appliance answered no":

- `ApiUnavailable`: no usable HTTP answer (connection refused, timeout, reset, DNS, a body
  that is not the appliance's JSON).
- `ApiError`: the appliance answered with an error status; `status`, `code`, `message` and
  `fix` come from its `{"detail": ...}` body (SPEC §1).

Both derive from `AdminClientError`, as does a failure to obtain credentials (see
`tui.token`), so a worker catches exactly one type and never crashes the app.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import aiohttp
import orjson

from tui.directory_models import Group, LastSync, SyncResult, SyncStatus, WebhookActivity
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

__all__ = [
    "AdminClient", "AdminClientError", "ApiError", "ApiUnavailable", "AuditEntry", "AuditPage",
    "Deployment", "DeploymentPage", "FlowPage", "FlowSummary", "Group", "IssuerStatus",
    "KeyRotation", "LastSync", "Me", "MintedServiceToken", "Readiness", "ServiceToken",
    "StaticToken", "SyncResult", "SyncStatus", "Tenant", "TenantCredentials", "TokenSource",
    "User", "WebhookActivity", "parse_timestamp",
]

T = TypeVar("T")

USER_AGENT = "scaiflow-box-tui"
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=10, sock_connect=3)
# A deploy makes several ScaiGrid calls, each bounded by the appliance's upstream timeout
# (10 s by default): waiting less would call a deploy that is still running "unreachable".
DEPLOY_TIMEOUT = aiohttp.ClientTimeout(total=120, sock_connect=3)
# A sync reads every page of every tenant (one ScaiKey call per group on the member walk)
# before it writes: on a large directory that takes minutes, not seconds.
SYNC_TIMEOUT = aiohttp.ClientTimeout(total=300, sock_connect=3)
# The admin users and groups lists come a page at a time (at most 500 a page); the TUI reads
# up to LIST_MOST of each and asks the operator to filter beyond that.
PAGE_SIZE = 500
LIST_MOST = 5000


class AdminClientError(Exception):
    """Base of everything the client raises; `str()` is a full sentence for the operator."""


class ApiUnavailable(AdminClientError):
    """The appliance could not be reached or did not answer like the appliance."""

    def __init__(self, base_url: str, reason: str) -> None:
        super().__init__(f"appliance unreachable at {base_url}: {reason}")
        self.base_url = base_url
        self.reason = reason


class ApiError(AdminClientError):
    """The appliance answered with an error status. `extra` holds the structured detail's
    other keys (e.g. a failed deploy's `deployment_id`, a compile error's `errors`)."""

    def __init__(self, status: int, code: str, message: str, fix: str | None = None,
                 extra: Mapping[str, Any] | None = None) -> None:
        text = f"{status} {code}: {message}"
        super().__init__(f"{text} ({fix})" if fix else text)
        self.status = status
        self.code = code
        self.message = message
        self.fix = fix
        self.extra: Mapping[str, Any] = dict(extra or {})


class TokenSource(Protocol):
    """Where the client gets its bearer token (a local session token, or a fixed one)."""

    async def bearer(self) -> str: ...

    def session_token_ids(self) -> frozenset[str]:
        """Ids of the service tokens this TUI session itself uses (never revoke those)."""
        ...


@dataclass(frozen=True)
class StaticToken:
    """A bearer token given from outside; it is not a service token of this session."""

    token: str = field(repr=False)

    async def bearer(self) -> str:
        return self.token

    def session_token_ids(self) -> frozenset[str]:
        return frozenset()


# -- response models ---------------------------------------------------------------------
def _error_from(status: int, body: Any) -> ApiError:
    """Read SPEC §1's error shapes: a string, a structured detail, or the 422 list."""
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str):
        return ApiError(status, _default_code(status), detail)
    if isinstance(detail, dict):
        return ApiError(status, str(detail.get("error") or _default_code(status)),
                        str(detail.get("message") or "no message"),
                        detail.get("fix") if isinstance(detail.get("fix"), str) else None,
                        {k: v for k, v in detail.items()
                         if k not in ("error", "message", "fix")})
    if isinstance(detail, list) and detail:
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{loc}: {item.get('msg', 'invalid')}" if loc
                             else str(item.get("msg", "invalid")))
        return ApiError(status, "validation_failed", "; ".join(parts) or "invalid input")
    return ApiError(status, _default_code(status), "the appliance gave no detail")


def _default_code(status: int) -> str:
    return {400: "bad_request", 401: "not_authenticated", 403: "forbidden", 404: "not_found",
            409: "conflict", 412: "precondition_failed", 422: "validation_failed",
            502: "upstream_failed", 503: "unavailable"}.get(status, f"http_{status}")


class AdminClient:
    """One `aiohttp.ClientSession` (created on first use, in the running loop)."""

    def __init__(self, base_url: str, tokens: TokenSource, *,
                 timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"User-Agent": USER_AGENT})
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def _request(self, method: str, path: str, *, json: Any = None,
                       params: Mapping[str, str] | None = None, auth: bool = True,
                       accept: Sequence[int] = (),
                       time_limit: aiohttp.ClientTimeout | None = None
                       ) -> tuple[int, Any]:
        """(status, parsed JSON or None). Statuses < 400 and those in `accept` are answers;
        the rest raise ApiError."""
        timeout = time_limit or self._timeout
        headers = {"Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {await self.tokens.bearer()}"
        url = self.base_url + path
        try:
            async with self._session_now().request(
                    method, url, json=json, params=params, headers=headers,
                    allow_redirects=False, timeout=timeout) as response:
                status = response.status
                raw = await response.read()
                is_json = response.content_type == "application/json"
        except TimeoutError:
            raise ApiUnavailable(self.base_url, "no answer within "
                                 f"{timeout.total or 0:g} s") from None
        except aiohttp.ClientConnectorError as exc:
            raise ApiUnavailable(self.base_url, _connect_reason(exc)) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise ApiUnavailable(self.base_url, str(exc) or type(exc).__name__) from None
        body: Any = None
        if raw:
            if not is_json:
                raise ApiUnavailable(self.base_url, f"HTTP {status} with a non-JSON body: "
                                     "is this a scaiflow-box appliance?")
            try:
                body = orjson.loads(raw)
            except ValueError:
                raise ApiUnavailable(self.base_url, "the answer was not valid JSON") from None
        if status >= 400 and status not in accept:
            raise _error_from(status, body)
        return status, body

    async def _get(self, path: str, parse: Callable[[Any], T], **kw: Any) -> T:
        _, body = await self._request("GET", path, **kw)
        return self._parsed(parse, body)

    def _parsed(self, parse: Callable[[Any], T], body: Any) -> T:
        try:
            return parse(body)
        except (ValueError, TypeError, AttributeError) as exc:
            raise ApiUnavailable(self.base_url, f"unexpected answer: {exc}") from None

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
            _, body = await self._request("GET", path, params=query)
            items += self._parsed(lambda b: [parse(x) for x in list_of(b, key)], body)
            cursor = body.get("next_cursor") if isinstance(body, dict) else None
            if not isinstance(cursor, str) or not cursor:
                break
        return items

    async def grant_role(self, user_id: str, role: str) -> None:
        await self._request("POST", f"/api/v1/admin/users/{quote(user_id, safe='')}/role",
                            json={"role": role})

    async def revoke_role(self, user_id: str) -> None:
        await self._request("DELETE", f"/api/v1/admin/users/{quote(user_id, safe='')}/role")

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
        _, body = await self._request("POST", "/api/v1/admin/sync", time_limit=SYNC_TIMEOUT)
        return self._parsed(SyncResult.from_json, body)

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
        _, body = await self._request("POST", "/api/v1/admin/service-tokens", json=payload)
        return self._parsed(MintedServiceToken.from_json, body)

    async def revoke_service_token(self, token_id: str) -> None:
        await self._request("DELETE",
                            f"/api/v1/admin/service-tokens/{quote(token_id, safe='')}")

    # -- audit --------------------------------------------------------------------------
    async def list_audit(self, *, cursor: str | None = None, limit: int = 50) -> AuditPage:
        params = {"limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
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

    async def rotate_master_key(self, *, reencrypt: bool) -> KeyRotation:
        _, body = await self._request("POST", "/api/v1/admin/keys/rotate",
                                      json={"reencrypt": reencrypt})
        return self._parsed(KeyRotation.from_json, body)

    # -- flows and deployments (the TUI's own tenant) -------------------------------------
    async def list_flows(self, *, cursor: str | None = None, limit: int = 100,
                         search: str | None = None) -> FlowPage:
        params = {"limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        if search:
            params["search"] = search
        return await self._get("/api/v1/flows", FlowPage.from_json, params=params)

    async def list_deployments(self, flow_id: str, *, cursor: str | None = None,
                               limit: int = 50) -> DeploymentPage:
        params = {"limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        return await self._get(f"/api/v1/flows/{quote(flow_id, safe='')}/deployments",
                               DeploymentPage.from_json, params=params)

    async def deploy_flow(self, flow_id: str, *, version: str | None = None) -> Deployment:
        """201 Deployment; a failed deploy raises ApiError (a 502 names the recorded
        `deployment_id` in `extra`)."""
        payload: dict[str, Any] = {}
        if version:
            payload["version"] = version
        _, body = await self._request("POST", f"/api/v1/flows/{quote(flow_id, safe='')}/deploy",
                                      json=payload, time_limit=DEPLOY_TIMEOUT)
        return self._parsed(Deployment.from_json, body)


def _filters(*, include_deleted: bool, **values: str | None) -> dict[str, str]:
    """Query parameters of a list: the filters that are set."""
    params = {name: value for name, value in values.items() if value}
    if include_deleted:
        params["include_deleted"] = "true"
    return params


def _credentials_path(tenant_id: str) -> str:
    return f"/api/v1/admin/tenants/{quote(tenant_id, safe='')}/scaigrid_credentials"


def _connect_reason(exc: aiohttp.ClientConnectorError) -> str:
    os_error = exc.os_error
    if isinstance(os_error, ConnectionRefusedError):
        return "connection refused (is `scaiflow-box serve` running?)"
    if isinstance(os_error, TimeoutError):
        return "connection timed out"
    return os_error.strerror or str(os_error) or "cannot connect"
