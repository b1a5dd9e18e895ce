"""ScaiKey's admin API, as directory sync uses it (SPEC §18.2).

- A **client-credentials token** (scope `admin:read`) from the token endpoint named by the
  discovery document (`upstream.scaikey`), the client authenticating with HTTP Basic
  (RFC 6749 §2.3.1: id and secret form-urlencoded, then `id:secret` in base64). The token is
  kept until shortly before it expires (a fifth of its lifetime, at most 30 s, before) and
  fetched again at once when the admin API answers 401 (revoked, rotated keys).
- **Effective users** of the application in a tenant:
  `GET /api/v1/tenants/{tenant_id}/applications/{application_id}/effective-users`.
- **Groups** (`GET /api/v1/admin/groups/?tenant_id=`) and each group's **members**
  (`GET /api/v1/admin/groups/{group_id}/members`), the fallback when effective-users answers
  403 ("Platform token requires admin:read or admin:write scope"): `AdminApiForbidden`.

Every list is paginated (`page` from 1, `per_page` 100; pages of `{"items", "total", "page",
"per_page", "pages"}`) and read to its end. Items are checked before anything is returned: a
malformed one fails the whole call (`ScaiKeyError`), because a sync that silently dropped a
user would soft-delete them. Reasons name neither a URL nor a secret.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

from scaiflow_box.config import Settings
from scaiflow_box.ids import is_plain_id
from scaiflow_box.upstream.client import UpstreamError, get_json, request_json
from scaiflow_box.upstream.scaikey import ScaiKeyClient, ScaiKeyError, discovery_url

__all__ = [
    "ADMIN_SCOPE",
    "AdminApiForbidden",
    "DirectoryGroup",
    "DirectoryUser",
    "ScaiKeyAdminClient",
    "basic_client_auth",
]

ADMIN_SCOPE = "admin:read"
PER_PAGE = 100
MAX_PAGES = 10_000  # 1,000,000 items: a bound on a paginator that never says "last page"
MAX_PAGE_BYTES = 4 * 1024 * 1024
MAX_TOKEN_BYTES = 64 * 1024
TOKEN_MARGIN_SECONDS = 30.0
DEFAULT_TOKEN_TTL = 300
MAX_TEXT = 320  # e-mail addresses, display names, group names
MAX_STATUS = 32


class AdminApiForbidden(ScaiKeyError):
    """ScaiKey refused the admin call with 403 (the token lacks the scope the call needs)."""


@dataclass(frozen=True)
class DirectoryUser:
    id: str
    tenant_id: str | None
    email: str | None
    display_name: str | None
    status: str


@dataclass(frozen=True)
class DirectoryGroup:
    id: str
    tenant_id: str | None
    name: str


def basic_client_auth(client_id: str, client_secret: str) -> str:
    """The `Authorization` value of HTTP Basic client authentication (RFC 6749 §2.3.1)."""
    pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


def _plain_id(value: Any) -> str | None:
    return value if is_plain_id(value) else None


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:MAX_TEXT]
    return None


def parse_user(item: Any, what: str) -> DirectoryUser:
    """A user of an effective-users or members page; ScaiKeyError when it is not one."""
    if not isinstance(item, dict):
        raise ScaiKeyError(f"{what}: an item is not a JSON object", status=200)
    user_id = _plain_id(item.get("id")) or _plain_id(item.get("user_id"))
    if user_id is None:
        raise ScaiKeyError(f"{what}: a user has no plain id", status=200)
    status = item.get("status", "ACTIVE")
    if not isinstance(status, str) or not status.strip() or len(status) > MAX_STATUS:
        raise ScaiKeyError(f"{what}: user {user_id} has a malformed status", status=200)
    return DirectoryUser(
        id=user_id, tenant_id=_plain_id(item.get("tenant_id")), email=_text(item.get("email")),
        display_name=_text(item.get("display_name")) or _text(item.get("name")),
        status=status.strip().upper())


def parse_group(item: Any) -> DirectoryGroup:
    if not isinstance(item, dict):
        raise ScaiKeyError("groups: an item is not a JSON object", status=200)
    group_id = _plain_id(item.get("id"))
    if group_id is None:
        raise ScaiKeyError("groups: a group has no plain id", status=200)
    return DirectoryGroup(id=group_id, tenant_id=_plain_id(item.get("tenant_id")),
                          name=_text(item.get("name")) or group_id)


class ScaiKeyAdminClient:
    """The admin API over the shared upstream session (looked up on every call).

    Build it with `from_settings`, which answers None unless `SCAIKEY_BASE_URL`,
    `SCAIFLOW_SCAIKEY_CLIENT_ID` and `SCAIFLOW_SCAIKEY_CLIENT_SECRET` are all set."""

    def __init__(self, session: Callable[[], aiohttp.ClientSession], *, base_url: str,
                 issuer: str | None, client_id: str, client_secret: str,
                 application_id: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._session = session
        self._scaikey = ScaiKeyClient(session)
        self._base_url = base_url.rstrip("/")
        self._discovery_url = discovery_url(issuer=issuer, base_url=base_url)
        self._client_auth = basic_client_auth(client_id, client_secret)
        self.application_id = application_id
        self._clock = clock
        self._token_endpoint: str | None = None
        self._token: tuple[str, float] | None = None  # (access token, refresh after)
        self._token_lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings,
                      session: Callable[[], aiohttp.ClientSession]) -> ScaiKeyAdminClient | None:
        if not (settings.scaikey_base_url and settings.scaikey_client_id
                and settings.scaikey_client_secret):
            return None
        return cls(session, base_url=settings.scaikey_base_url,
                   issuer=settings.scaikey_issuer, client_id=settings.scaikey_client_id,
                   client_secret=settings.scaikey_client_secret,
                   application_id=settings.scaikey_application_id)

    # -- the client-credentials token --------------------------------------------------
    async def access_token(self) -> str:
        """A client-credentials token with `admin:read`, cached until shortly before expiry."""
        async with self._token_lock:
            cached = self._token
            if cached is not None and self._clock() < cached[1]:
                return cached[0]
            token, ttl = await self._fetch_token()
            margin = min(TOKEN_MARGIN_SECONDS, ttl / 5)
            self._token = (token, self._clock() + ttl - margin)
            return token

    def forget_token(self) -> None:
        self._token = None

    async def _endpoint(self) -> str:
        if self._token_endpoint is None:
            if self._discovery_url is None:  # pragma: no cover - base_url is required
                raise ScaiKeyError("no discovery document configured", status=0)
            discovery = await self._scaikey.discover(self._discovery_url)
            if discovery.token_endpoint is None:
                raise ScaiKeyError("discovery document has no http(s) token_endpoint",
                                   status=200)
            self._token_endpoint = discovery.token_endpoint
        return self._token_endpoint

    async def _fetch_token(self) -> tuple[str, float]:
        endpoint = await self._endpoint()
        try:
            response = await request_json(
                self._session(), "POST", endpoint,
                form={"grant_type": "client_credentials", "scope": ADMIN_SCOPE},
                headers={"Authorization": self._client_auth}, max_bytes=MAX_TOKEN_BYTES)
        except UpstreamError:
            self._token_endpoint = None  # discover again next time
            raise
        body = response.body
        if response.status != 200:
            code = body.get("error") if isinstance(body, dict) else None
            detail = f" ({code})" if is_plain_id(code) else ""
            raise ScaiKeyError(f"token endpoint answered HTTP {response.status}{detail} to "
                               "the client-credentials request", status=response.status)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise ScaiKeyError("token endpoint answered no access_token", status=200)
        expires_in = body.get("expires_in", DEFAULT_TOKEN_TTL)
        if not isinstance(expires_in, int | float) or isinstance(expires_in, bool) \
                or expires_in <= 0:
            expires_in = DEFAULT_TOKEN_TTL
        return token, float(min(expires_in, 24 * 3600))

    # -- the admin API -------------------------------------------------------------------
    async def _get(self, path: str, params: Mapping[str, str | int], what: str) -> Any:
        url = f"{self._base_url}{path}?{urlencode(params)}"
        for attempt in (1, 2):
            token = await self.access_token()
            response = await get_json(self._session(), url, max_bytes=MAX_PAGE_BYTES,
                                      headers={"Authorization": f"Bearer {token}"})
            if response.status == 401 and attempt == 1:
                self.forget_token()  # revoked or signed by a retired key: one fresh try
                continue
            if response.status == 403:
                raise AdminApiForbidden(f"{what} answered HTTP 403", status=403)
            if response.status != 200:
                raise ScaiKeyError(f"{what} answered HTTP {response.status}",
                                   status=response.status)
            return response.body
        raise ScaiKeyError(f"{what} answered HTTP 401", status=401)  # pragma: no cover

    async def _all_pages(self, path: str, params: Mapping[str, str], what: str) -> list[Any]:
        items: list[Any] = []
        for page in range(1, MAX_PAGES + 1):
            body = await self._get(path, {**params, "page": page, "per_page": PER_PAGE}, what)
            page_items = body.get("items") if isinstance(body, dict) else None
            if not isinstance(page_items, list):
                raise ScaiKeyError(f"{what}: a page has no items list", status=200)
            items.extend(page_items)
            pages = body.get("pages")
            if not page_items or (isinstance(pages, int) and page >= pages) \
                    or (not isinstance(pages, int) and len(page_items) < PER_PAGE):
                return items
        raise ScaiKeyError(f"{what}: more than {MAX_PAGES} pages", status=200)

    async def effective_users(self, tenant_id: str) -> list[DirectoryUser]:
        """The application's effective users in `tenant_id`; AdminApiForbidden on 403."""
        path = (f"/api/v1/tenants/{quote(tenant_id, safe='')}/applications/"
                f"{quote(self.application_id, safe='')}/effective-users")
        items = await self._all_pages(path, {}, "effective-users")
        return [parse_user(item, "effective-users") for item in items]

    async def groups(self, tenant_id: str | None = None) -> list[DirectoryGroup]:
        """Groups of `tenant_id` (every group a platform token sees when None)."""
        params = {"tenant_id": tenant_id} if tenant_id is not None else {}
        items = await self._all_pages("/api/v1/admin/groups/", params, "groups")
        return [parse_group(item) for item in items]

    async def group_members(self, group_id: str) -> list[DirectoryUser]:
        path = f"/api/v1/admin/groups/{quote(group_id, safe='')}/members"
        items = await self._all_pages(path, {}, "group members")
        return [parse_user(item, "group members") for item in items]
