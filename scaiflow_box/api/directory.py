"""`/api/v1/admin` directory routes (SPEC §12): sync now, the last sync and webhook activity,
and the mirrored groups."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from scaiflow_box.api.error_codes import (
    FORBIDDEN,
    SCAIKEY_SYNC_FAILED,
)
from scaiflow_box.api.fields import Cursor, Limit, Timestamp
from scaiflow_box.http.call import Call, Reply, ok
from scaiflow_box.http.route import QueryModel, Response, Route
from scaiflow_box.keys import DIRECTORY_SYNC, WEBHOOKS

TAG = "admin"
BASE = "/api/v1/admin"


class SyncResult(BaseModel):
    skipped_reason: Literal["credentials_missing"] | None = Field(
        description="Set when nothing was synced: ScaiKey (SCAIKEY_BASE_URL, client id and "
                    "secret) is not configured")
    users_method: Literal["effective_users", "member_walk"] | None
    users_seen: int
    users_added: int
    users_undeleted: int
    users_soft_deleted: int
    groups_seen: int
    groups_added: int
    groups_undeleted: int
    groups_soft_deleted: int
    memberships_seen: int
    memberships_added: int
    memberships_soft_deleted: int
    super_admin_count: int
    super_admins_group_promoted: int
    super_admins_group_demoted: int
    duration_seconds: float


class LastSync(BaseModel):
    trigger: Literal["manual", "background", "webhook"]
    started_at: Timestamp
    finished_at: Timestamp
    ok: bool
    error: str | None = Field(description="Why ScaiKey could not be read (the mirror was kept)")
    result: SyncResult | None


class WebhookActivity(BaseModel):
    configured: bool = Field(description="SCAIFLOW_SCAIKEY_WEBHOOK_SECRET is set")
    received_24h: int = Field(description="Events accepted in the last 24 h (duplicates and "
                                          "refused signatures not counted)")
    handled_24h: int
    last_received_at: Timestamp | None
    last_event_type: str | None


class SyncStatus(BaseModel):
    configured: bool = Field(description="ScaiKey's admin API is configured (else a sync is "
                                         "skipped with `credentials_missing`)")
    interval_minutes: int = Field(description="SCAIFLOW_SYNC_INTERVAL_MINUTES (0: no "
                                              "background sync)")
    super_admin_groups: list[str]
    running: bool
    next_run_in_seconds: float | None
    last: LastSync | None
    webhooks: WebhookActivity


class GroupsQuery(QueryModel):
    tenant_id: str | None = Field(default=None, max_length=200)
    search: str | None = Field(default=None, max_length=200,
                               description="Substring of the id or name")
    include_deleted: bool = False
    limit: Limit = 100
    cursor: Cursor = None


class GroupRecord(BaseModel):
    id: str
    tenant_id: str
    name: str
    member_count: int = Field(description="Live members (live users, live memberships)")
    super_admin_group: bool = Field(description="Named in SCAIFLOW_SUPER_ADMIN_GROUPS")
    created_at: Timestamp
    last_synced_at: Timestamp | None
    deleted_at: Timestamp | None


class GroupList(BaseModel):
    groups: list[GroupRecord]
    next_cursor: str | None = Field(description="The next page's `cursor`; null on the last")


async def sync_directory(call: Call[None, None]) -> Reply:
    result = await call.app[DIRECTORY_SYNC].sync(call.principal, trigger="manual",
                                                 request_id=call.request_id)
    return ok(SyncResult.model_validate(result))


async def sync_status(call: Call[None, None]) -> Reply:
    status = await call.app[DIRECTORY_SYNC].status(call.principal)
    status["webhooks"] = await call.app[WEBHOOKS].activity()
    return ok(SyncStatus.model_validate(status), headers={"Cache-Control": "no-store"})


async def list_groups(call: Call[None, GroupsQuery]) -> Reply:
    query = call.query
    cursor = call.cursor(3)
    groups = await call.app[DIRECTORY_SYNC].list_groups(
        call.principal, tenant_id=query.tenant_id or None, search=query.search or None,
        include_deleted=query.include_deleted,
        after=(str(cursor[0]), str(cursor[1]), str(cursor[2])) if cursor else None,
        limit=query.limit + 1)
    page = groups[:query.limit]
    last = page[-1] if len(groups) > query.limit else None
    return ok(GroupList(
        groups=[GroupRecord.model_validate(g) for g in page],
        next_cursor=call.next_cursor(last["tenant_id"], last["name"], last["id"]) if last
        else None))


ROUTES = [
    Route("POST", BASE + "/sync", sync_directory, "Sync users, groups and memberships from "
          "ScaiKey now", TAG, (Response(200, SyncResult, "What changed (or why nothing was "
                                                         "synced)"),),
          errors=(FORBIDDEN, SCAIKEY_SYNC_FAILED), needs="super_admin",
          description="Effective users first; on 403 the member walk. Nothing is changed "
                      "when ScaiKey cannot be read (502 `scaikey_sync_failed`)."),
    Route("GET", BASE + "/sync/status", sync_status, "The last sync and webhook activity",
          TAG, (Response(200, SyncStatus, "Kept across restarts (the last sync is stored)"),),
          errors=(FORBIDDEN,), needs="super_admin"),
    Route("GET", BASE + "/groups", list_groups, "Mirrored groups (filters: tenant_id, search, "
          "include_deleted), a page at a time", TAG,
          (Response(200, GroupList, "Groups by tenant, then name; `next_cursor` pages on"),),
          errors=(FORBIDDEN,), needs="super_admin", query=GroupsQuery),
]
