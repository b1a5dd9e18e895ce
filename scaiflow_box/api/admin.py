"""`/api/v1/admin` (SPEC §12): users and roles, tenants, the tenant views, flow ownership,
service tokens, audit. Directory sync and groups are in `api/directory.py`.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field

from scaiflow_box.api.error_codes import (
    FORBIDDEN,
    INVALID_API_KEY,
    INVALID_BASE_URL,
    INVALID_ROLE,
    INVALID_TOKEN_REQUEST,
    LAST_SUPER_ADMIN,
    PRINCIPAL_NOT_FOUND,
    SUBJECT_TAKEN,
)
from scaiflow_box.api.examples import (
    owner_example,
    role_example,
    scaigrid_credentials_example,
    service_token_example,
)
from scaiflow_box.api.fields import (
    Cursor,
    FlowId,
    JsonInt,
    Limit,
    PrincipalId,
    TenantId,
    Timestamp,
    TokenId,
    UserId,
    Version,
)
from scaiflow_box.api.tenants import ScaiGridCredentialsIn
from scaiflow_box.http.call import NO_CONTENT, Call, RawJson, Reply, created, ok
from scaiflow_box.http.errors import NOT_FOUND
from scaiflow_box.http.route import QueryModel, RequestModel, Response, Route
from scaiflow_box.keys import ADMIN, CREDENTIALS
from scaiflow_box.services.service_tokens import DEFAULT_SCOPE, MAX_TTL_SECONDS

TAG = "admin"
AdminRole = Literal["tenant_admin", "super_admin"]


# -- request models ----------------------------------------------------------------------
class RoleChange(RequestModel):
    role: AdminRole


class OwnerChange(RequestModel):
    owner_id: PrincipalId


class ServiceTokenCreate(RequestModel):
    tenant_id: PrincipalId | None = Field(default=None, description="Default: the caller's")
    sub: PrincipalId
    scope: str = Field(default=DEFAULT_SCOPE, max_length=1000)
    ttl_seconds: JsonInt = Field(default=24 * 3600, ge=60, le=MAX_TTL_SECONDS)
    description: str = Field(default="", max_length=500)


class UsersQuery(QueryModel):
    tenant_id: str | None = Field(default=None, max_length=200)
    search: str | None = Field(default=None, max_length=200,
                               description="Substring of the id, email or display name")
    group_id: str | None = Field(default=None, max_length=200,
                                 description="Only live members of this group")
    include_deleted: bool = False
    limit: Limit = 100
    cursor: Cursor = None


class TenantUsersQuery(QueryModel):
    search: str | None = Field(default=None, max_length=200)
    group_id: str | None = Field(default=None, max_length=200,
                                 description="Only live members of this group")
    include_deleted: bool = False
    limit: Limit = 100
    cursor: Cursor = None


class TenantFlowsQuery(QueryModel):
    search: str | None = Field(default=None, max_length=200,
                               description="Case-insensitive substring of the name")
    include_deleted: bool = Field(default=True, description="Soft-deleted flows too (default)")
    limit: Limit = 100
    cursor: Cursor = None


class AuditQuery(QueryModel):
    tenant_id: str | None = Field(default=None, max_length=200,
                                  description="Super admins only; others see their tenant")
    actor: str | None = Field(default=None, max_length=200)
    action: str | None = Field(default=None, max_length=100)
    since: str | None = Field(default=None, max_length=40,
                              description="RFC 3339 timestamp: entries at or after it")
    limit: Limit = 100
    cursor: Cursor = None


# -- response models ---------------------------------------------------------------------
class UserRecord(BaseModel):
    id: str
    tenant_id: str
    email: str | None
    display_name: str | None
    status: str
    issuer: Literal["local", "scaikey"] = Field(
        description="Who owns the user (SPEC §2.1): `local` (this appliance: the bootstrap "
                    "operator, service-token subjects) or `scaikey` (ScaiKey's tokens, sync, "
                    "webhooks); a token of the other issuer never becomes this user")
    admin_role: AdminRole | None
    admin_role_source: Literal["manual", "group", "bootstrap"] | None
    deleted_at: Timestamp | None
    last_synced_at: Timestamp | None


class UserList(BaseModel):
    users: list[UserRecord]
    next_cursor: str | None = Field(description="The next page's `cursor`; null on the last")


class TenantFlow(BaseModel):
    id: str
    name: str
    description: str
    owner_id: str
    owner_email: str | None
    owner_display_name: str | None
    version: Version
    created_at: Timestamp
    updated_at: Timestamp
    deleted_at: Timestamp | None


class TenantFlowPage(BaseModel):
    items: list[TenantFlow]
    total: int
    next_cursor: str | None


class OwnerChanged(BaseModel):
    id: str
    tenant_id: str
    owner_id: str
    version: Version
    deleted_at: Timestamp | None


class MintedServiceToken(BaseModel):
    id: str
    token: str = Field(description="Shown once; not stored")
    expires_at: Timestamp


class ServiceTokenRecord(BaseModel):
    id: str
    tenant_id: str
    sub: str
    scope: str
    description: str
    created_by: str
    created_at: Timestamp
    expires_at: Timestamp
    revoked_at: Timestamp | None


class ServiceTokenList(BaseModel):
    items: list[ServiceTokenRecord]


class AuditEntry(BaseModel):
    id: int
    at: Timestamp
    tenant_id: str | None
    actor: str
    action: str
    target_type: str | None
    target_id: str | None
    details: dict[str, Any]
    request_id: str | None


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_cursor: str | None


class TenantCredentials(BaseModel):
    configured: bool
    base_url: str | None
    masked_key: str | None
    base_url_stored: bool = Field(description="True when `base_url` is the tenant's own, false "
                                              "when it is SCAIGRID_BASE_URL")
    readable: bool = Field(description="False when stored credentials do not decrypt "
                                       "(wrong master key)")


class TenantRecord(BaseModel):
    id: str
    name: str
    source: str
    created_at: Timestamp
    users: int
    flows: int
    packages: int
    scaigrid_credentials: TenantCredentials


class TenantList(BaseModel):
    tenants: list[TenantRecord]


# -- handlers ----------------------------------------------------------------------------
async def list_tenants(call: Call[None, None]) -> Reply:
    tenants = await call.app[ADMIN].tenants(call.principal)
    return ok(TenantList(tenants=[TenantRecord.model_validate(t) for t in tenants]),
              headers={"Cache-Control": "no-store"})


async def set_tenant_scaigrid_credentials(call: Call[ScaiGridCredentialsIn, None],
                                          tenant_id: TenantId) -> Reply:
    await call.app[CREDENTIALS].set(call.principal, api_key=call.body.api_key,
                                    base_url=call.body.base_url, request_id=call.request_id,
                                    tenant_id=tenant_id)
    return NO_CONTENT


async def delete_tenant_scaigrid_credentials(call: Call[None, None], tenant_id: TenantId) -> Reply:
    await call.app[CREDENTIALS].delete(call.principal, request_id=call.request_id,
                                       tenant_id=tenant_id)
    return NO_CONTENT


async def _user_page(call: Call[None, UsersQuery] | Call[None, TenantUsersQuery], *,
                     tenant_id: str | None, own_tenant_only: bool) -> Reply:
    query = call.query
    cursor = call.cursor(2)
    rows = await call.app[ADMIN].list_users(
        call.principal, tenant_id=tenant_id, search=query.search or None,
        include_deleted=query.include_deleted, own_tenant_only=own_tenant_only,
        group_id=query.group_id or None,
        after=(str(cursor[0]), str(cursor[1])) if cursor else None, limit=query.limit + 1)
    page = rows[:query.limit]
    last = page[-1] if len(rows) > query.limit else None
    # The rows are UserRecord's fields as stored: serialized once, no model per row.
    return ok(RawJson(orjson.dumps({
        "users": page,
        "next_cursor": call.next_cursor(last["tenant_id"], last["id"]) if last else None,
    }), UserList))


async def list_users(call: Call[None, UsersQuery]) -> Reply:
    return await _user_page(call, tenant_id=call.query.tenant_id or None, own_tenant_only=False)


async def list_tenant_users(call: Call[None, TenantUsersQuery]) -> Reply:
    return await _user_page(call, tenant_id=None, own_tenant_only=True)


async def list_tenant_flows(call: Call[None, TenantFlowsQuery]) -> Reply:
    query = call.query
    cursor = call.cursor(2)
    rows, total = await call.app[ADMIN].tenant_flows(
        call.principal, search=query.search or None, include_deleted=query.include_deleted,
        after=(str(cursor[0]), str(cursor[1])) if cursor else None, limit=query.limit + 1)
    page = rows[:query.limit]
    more = len(rows) > query.limit
    return ok(TenantFlowPage(
        items=[TenantFlow(**row) for row in page], total=total,
        next_cursor=call.next_cursor(page[-1]["created_at"], page[-1]["id"]) if more else None))


async def grant_role(call: Call[RoleChange, None], user_id: UserId) -> Reply:
    await call.app[ADMIN].set_role(call.principal, user_id, call.body.role,
                                   call.request_id)
    return NO_CONTENT


async def revoke_role(call: Call[None, None], user_id: UserId) -> Reply:
    await call.app[ADMIN].set_role(call.principal, user_id, None, call.request_id)
    return NO_CONTENT


async def change_owner(call: Call[OwnerChange, None], flow_id: FlowId) -> Reply:
    flow = await call.app[ADMIN].transfer_ownership(
        call.principal, flow_id, call.body.owner_id, call.request_id)
    return ok(OwnerChanged(**flow))


async def create_service_token(call: Call[ServiceTokenCreate, None]) -> Reply:
    body = call.body
    minted = await call.app[ADMIN].mint_token(
        call.principal, tenant_id=body.tenant_id, sub=body.sub, scope=body.scope,
        ttl_seconds=body.ttl_seconds, description=body.description)
    return created(MintedServiceToken(id=minted.id, token=minted.token,
                                      expires_at=minted.expires_at),
                   headers={"Cache-Control": "no-store"})


async def list_service_tokens(call: Call[None, None]) -> Reply:
    tokens = await call.app[ADMIN].list_tokens(call.principal)
    return ok(ServiceTokenList(items=[ServiceTokenRecord(**t) for t in tokens]))


async def delete_service_token(call: Call[None, None], token_id: TokenId) -> Reply:
    await call.app[ADMIN].revoke_token(call.principal, token_id)
    return NO_CONTENT


async def list_audit(call: Call[None, AuditQuery]) -> Reply:
    query = call.query
    cursor = call.cursor(1)
    rows = await call.app[ADMIN].list_audit(
        call.principal, tenant_id=query.tenant_id or None, actor=query.actor or None,
        action=query.action or None, since=query.since or None,
        before_id=int(cursor[0]) if cursor else None, limit=query.limit + 1)
    page = rows[:query.limit]
    items = [AuditEntry(**{**row, "details": orjson.loads(row["details"])}) for row in page]
    more = len(rows) > query.limit
    return ok(AuditPage(items=items,
                        next_cursor=call.next_cursor(page[-1]["id"]) if more else None))


# -- routes ------------------------------------------------------------------------------
BASE = "/api/v1/admin"
NO_CACHE = Response(204, None, "Done")
TENANT_CREDENTIALS = BASE + "/tenants/{tenant_id}/scaigrid_credentials"
ROUTES = [
    Route("GET", BASE + "/tenants", list_tenants, "Every tenant with counts and its ScaiGrid "
          "credential status", TAG, (Response(200, TenantList, "Tenants by id; keys masked"),),
          errors=(FORBIDDEN,), needs="super_admin"),
    Route("POST", TENANT_CREDENTIALS, set_tenant_scaigrid_credentials,
          "Set a tenant's ScaiGrid credentials", TAG, (Response(204, None, "Stored encrypted"),),
          errors=(INVALID_API_KEY, INVALID_BASE_URL, FORBIDDEN, NOT_FOUND),
          needs="super_admin", body=ScaiGridCredentialsIn,
          body_example=scaigrid_credentials_example),
    Route("DELETE", TENANT_CREDENTIALS, delete_tenant_scaigrid_credentials,
          "Remove a tenant's ScaiGrid credentials", TAG, (Response(204, None, "Removed"),),
          errors=(FORBIDDEN,), needs="super_admin"),
    Route("GET", BASE + "/users", list_users, "All users (filters: tenant_id, search, "
          "include_deleted), a page at a time", TAG,
          (Response(200, UserList, "Users, by tenant then id; `next_cursor` pages on"),),
          errors=(FORBIDDEN,), needs="super_admin", query=UsersQuery),
    Route("POST", BASE + "/users/{user_id}/role", grant_role, "Grant an admin role (manual)",
          TAG, (NO_CACHE,), errors=(INVALID_ROLE, FORBIDDEN, LAST_SUPER_ADMIN),
          needs="super_admin, or tenant_admin for tenant_admin in their tenant",
          body=RoleChange, body_example=role_example),
    Route("DELETE", BASE + "/users/{user_id}/role", revoke_role, "Remove an admin role", TAG,
          (NO_CACHE,), errors=(FORBIDDEN, LAST_SUPER_ADMIN),
          needs="super_admin, or tenant_admin in their tenant"),
    Route("GET", BASE + "/tenant/users", list_tenant_users, "Users of the caller's tenant",
          TAG, (Response(200, UserList, "Users of the caller's tenant, by id; `next_cursor` "
                                   "pages on"),),
          errors=(FORBIDDEN,), needs="tenant_admin", query=TenantUsersQuery),
    Route("GET", BASE + "/tenant/flows", list_tenant_flows, "Every flow of the caller's "
          "tenant, with its owner and `deleted_at`", TAG,
          (Response(200, TenantFlowPage, "Newest first; soft-deleted flows included unless "
                                         "include_deleted=false"),),
          errors=(FORBIDDEN,), needs="tenant_admin (own tenant) or super_admin (any tenant)",
          query=TenantFlowsQuery, acting_tenant=True),
    Route("POST", BASE + "/flows/{flow_id}/owner", change_owner, "Move a flow's ownership",
          TAG, (Response(200, OwnerChanged, "The flow's new owner"),),
          errors=(FORBIDDEN, PRINCIPAL_NOT_FOUND), needs="super_admin", body=OwnerChange,
          body_example=owner_example),
    Route("POST", BASE + "/service-tokens", create_service_token,
          "Mint a service token (shown once)", TAG,
          (Response(201, MintedServiceToken, "The token; store it now"),),
          errors=(INVALID_TOKEN_REQUEST, FORBIDDEN, SUBJECT_TAKEN), needs="super_admin",
          body=ServiceTokenCreate,
          body_example=service_token_example),
    Route("GET", BASE + "/service-tokens", list_service_tokens, "List service tokens", TAG,
          (Response(200, ServiceTokenList, "Every token ever minted (never the token)"),),
          errors=(FORBIDDEN,), needs="super_admin"),
    Route("DELETE", BASE + "/service-tokens/{token_id}", delete_service_token,
          "Revoke a service token", TAG, (Response(204, None, "Revoked from the next request"),),
          errors=(FORBIDDEN,), needs="super_admin"),
    Route("GET", BASE + "/audit", list_audit, "Audit log, newest first", TAG,
          (Response(200, AuditPage, "Newest first"),),
          errors=(FORBIDDEN,), needs="tenant_admin (own tenant) or super_admin", query=AuditQuery),
]
