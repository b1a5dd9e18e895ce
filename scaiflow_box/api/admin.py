"""`/api/v1/admin` (SPEC §12): users and roles, flow ownership, service tokens, audit.

The directory sync (`POST /admin/sync`), groups and tenants views come with the identity-sync
work; this module holds what the appliance needs without ScaiKey.
"""

from __future__ import annotations

from typing import Literal

import orjson
from aiohttp import web
from pydantic import Field

from scaiflow_box.http.errors import ApiError, json_response
from scaiflow_box.http.middlewares import principal_of, request_id_of
from scaiflow_box.http.parsing import (
    RequestModel,
    decode_cursor,
    encode_cursor,
    parse_body,
    query_limit,
)
from scaiflow_box.http.routes import Route
from scaiflow_box.keys import DB, ISSUER
from scaiflow_box.services import admin as admin_service
from scaiflow_box.services.service_tokens import DEFAULT_SCOPE, MAX_TTL_SECONDS


class RoleChange(RequestModel):
    role: Literal["tenant_admin", "super_admin"]


class OwnerChange(RequestModel):
    owner_id: str = Field(min_length=1, max_length=200)


class ServiceTokenCreate(RequestModel):
    tenant_id: str | None = Field(default=None, max_length=200)
    sub: str = Field(min_length=1, max_length=200)
    scope: str = Field(default=DEFAULT_SCOPE, max_length=1000)
    ttl_seconds: int = Field(default=24 * 3600, ge=60, le=MAX_TTL_SECONDS)
    description: str = Field(default="", max_length=500)


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes")


async def _users(request: web.Request, *, own_tenant_only: bool) -> web.Response:
    principal = principal_of(request)
    users = await admin_service.list_users(
        request.app[DB], principal, tenant_id=request.query.get("tenant_id") or None,
        search=request.query.get("search") or None,
        include_deleted=_flag(request, "include_deleted"), own_tenant_only=own_tenant_only)
    return json_response({"users": users})


async def list_users(request: web.Request) -> web.Response:
    return await _users(request, own_tenant_only=False)


async def list_tenant_users(request: web.Request) -> web.Response:
    return await _users(request, own_tenant_only=True)


async def grant_role(request: web.Request) -> web.Response:
    body = await parse_body(request, RoleChange)
    await admin_service.set_role(request.app[DB], principal_of(request),
                                 request.match_info["user_id"], body.role,
                                 request_id_of(request))
    return web.Response(status=204)


async def revoke_role(request: web.Request) -> web.Response:
    await admin_service.set_role(request.app[DB], principal_of(request),
                                 request.match_info["user_id"], None, request_id_of(request))
    return web.Response(status=204)


async def change_owner(request: web.Request) -> web.Response:
    body = await parse_body(request, OwnerChange)
    flow = await admin_service.transfer_ownership(
        request.app[DB], principal_of(request), request.match_info["flow_id"], body.owner_id,
        request_id_of(request))
    return json_response(flow)


async def create_service_token(request: web.Request) -> web.Response:
    body = await parse_body(request, ServiceTokenCreate)
    minted = await admin_service.mint_token(
        request.app[DB], request.app[ISSUER], principal_of(request), tenant_id=body.tenant_id,
        sub=body.sub, scope=body.scope, ttl_seconds=body.ttl_seconds,
        description=body.description)
    return json_response({"id": minted.id, "token": minted.token,
                          "expires_at": minted.expires_at}, status=201,
                         headers={"Cache-Control": "no-store"})


async def list_service_tokens(request: web.Request) -> web.Response:
    tokens = await admin_service.list_tokens(request.app[DB], principal_of(request))
    return json_response({"items": tokens})


async def delete_service_token(request: web.Request) -> web.Response:
    await admin_service.revoke_token(request.app[DB], principal_of(request),
                                     request.match_info["token_id"])
    return web.Response(status=204)


async def list_audit(request: web.Request) -> web.Response:
    limit = query_limit(request, 100)
    cursor = decode_cursor(request, 1)
    if cursor is not None and not isinstance(cursor[0], int):
        raise ApiError(400, "invalid_cursor", "the cursor is not one this endpoint issued")
    rows = await admin_service.list_audit(
        request.app[DB], principal_of(request), tenant_id=request.query.get("tenant_id") or None,
        actor=request.query.get("actor") or None, action=request.query.get("action") or None,
        since=request.query.get("since") or None,
        before_id=cursor[0] if cursor else None, limit=limit + 1)
    page = rows[:limit]
    items = [{**row, "details": orjson.loads(row["details"])} for row in page]
    return json_response({"items": items, "next_cursor":
                          encode_cursor(page[-1]["id"]) if len(rows) > limit else None})


BASE = "/api/v1/admin"
ROUTES = [
    Route("GET", BASE + "/users", list_users, "All users (filters: tenant_id, search,"
          " include_deleted)", needs="super_admin"),
    Route("POST", BASE + "/users/{user_id}/role", grant_role, "Grant an admin role (manual)",
          needs="super_admin, or tenant_admin for tenant_admin in their tenant"),
    Route("DELETE", BASE + "/users/{user_id}/role", revoke_role, "Remove an admin role",
          needs="super_admin, or tenant_admin in their tenant"),
    Route("GET", BASE + "/tenant/users", list_tenant_users, "Users of the caller's tenant",
          needs="tenant_admin"),
    Route("POST", BASE + "/flows/{flow_id}/owner", change_owner, "Move a flow's ownership",
          needs="super_admin"),
    Route("POST", BASE + "/service-tokens", create_service_token,
          "Mint a service token (shown once)", needs="super_admin"),
    Route("GET", BASE + "/service-tokens", list_service_tokens, "List service tokens",
          needs="super_admin"),
    Route("DELETE", BASE + "/service-tokens/{token_id}", delete_service_token,
          "Revoke a service token", needs="super_admin"),
    Route("GET", BASE + "/audit", list_audit, "Audit log, newest first",
          needs="tenant_admin (own tenant) or super_admin"),
]
