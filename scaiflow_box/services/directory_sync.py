"""Directory sync (SPEC §12): the mirror of ScaiKey's users, groups and memberships, the
super-admin election, `POST /api/v1/admin/sync`, and the same code every
`SCAIFLOW_SYNC_INTERVAL_MINUTES` in the background.

How a sync runs:
1. **Which tenants**: every tenant of the mirror that came from ScaiKey (signed-in users,
   earlier syncs, webhooks; never the local tenant `init` makes), plus every tenant of a group
   ScaiKey lists to the platform token (`GET /admin/groups/` without `tenant_id`), so a fresh
   box learns its tenants without anyone signing in first.
2. **Fetch everything first** (ScaiKey, paginated): per tenant the application's effective
   users — after the first 403 the member walk instead (users = the members of the tenant's
   groups) — and the tenant's groups with their members. Any failure ends the sync before a
   single write: the mirror stays as it was (read-only identity while ScaiKey is down).
3. **Apply** one transaction per tenant through the writer thread (never the event loop):
   users, groups and memberships ScaiKey returned are inserted, updated (ScaiKey's email,
   name and status win over a just-in-time row) or undeleted; live ones it did not return are
   soft-deleted. Users are soft-deleted only when their row is ScaiKey's (source `scaikey`):
   rows a token created just in time and ScaiKey never listed may be client-credentials or
   service-token subjects, and `bootstrap` users are the box's own. A local user's row
   (issuer `local`, SPEC §2.1) is never changed, whatever ScaiKey lists under its id, and is
   a member of no ScaiKey group.
4. **Elect super admins** (`services.roles.reconcile_group_super_admins`) and record the run
   (meta `directory_sync.last`, audit `directory.synced`) in a last transaction; a sync that
   ends with no super admin logs how to make one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import orjson

from scaiflow_box.auth.principal import Principal
from scaiflow_box.config import Settings
from scaiflow_box.errors import UpstreamFailed
from scaiflow_box.services.roles import reconcile_group_super_admins
from scaiflow_box.store import audit, directory
from scaiflow_box.store import users as user_rows
from scaiflow_box.store.database import Database
from scaiflow_box.store.engine import Connection
from scaiflow_box.timestamps import now_iso
from scaiflow_box.upstream.client import UpstreamError
from scaiflow_box.upstream.scaikey import ScaiKeyError
from scaiflow_box.upstream.scaikey_admin import (
    AdminApiForbidden,
    DirectoryGroup,
    DirectoryUser,
    ScaiKeyAdminClient,
)

log = logging.getLogger(__name__)

ACTOR = "directory-sync"
FIRST_RUN_DELAY_SECONDS = 5.0
NO_SUPER_ADMIN = (
    "directory sync: no super admin on this appliance; make one with `scaiflow-box admin "
    "grant <email> --role super_admin` on the box (source manual), or set "
    "SCAIFLOW_SUPER_ADMIN_GROUPS to a ScaiKey group id or name whose members become super "
    "admins (source group)")
Trigger = Literal["manual", "background", "webhook"]
UsersMethod = Literal["effective_users", "member_walk"]


@dataclass
class SyncCounters:
    users_seen: int = 0
    users_added: int = 0
    users_undeleted: int = 0
    users_soft_deleted: int = 0
    groups_seen: int = 0
    groups_added: int = 0
    groups_undeleted: int = 0
    groups_soft_deleted: int = 0
    memberships_seen: int = 0
    memberships_added: int = 0
    memberships_soft_deleted: int = 0

    def add(self, other: SyncCounters) -> None:
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))

    def as_dict(self) -> dict[str, int]:
        return {item.name: getattr(self, item.name) for item in fields(self)}


@dataclass
class TenantDirectory:
    """What ScaiKey says one tenant holds."""

    tenant_id: str
    users: list[DirectoryUser]
    groups: list[DirectoryGroup]
    memberships: set[tuple[str, str]] = field(default_factory=set)  # (group id, user id)


def empty_result(skipped_reason: str | None) -> dict[str, Any]:
    return {"skipped_reason": skipped_reason, "users_method": None,
            **SyncCounters().as_dict(), "super_admin_count": 0,
            "super_admins_group_promoted": 0, "super_admins_group_demoted": 0,
            "duration_seconds": 0.0}


# -- applying one tenant (writer thread) ------------------------------------------------------
def _apply_users(conn: Connection, tenant: TenantDirectory, counters: SyncCounters,
                 request_id: str | None) -> None:
    tenant_id = tenant.tenant_id
    existing = directory.users_of_tenant(conn, tenant_id)
    seen: set[str] = set()
    for user in tenant.users:
        if user.id in seen:
            continue
        row = existing.get(user.id)
        if row is None and directory.tenant_of_user(conn, user.id) is not None:
            log.warning("directory sync: ScaiKey lists %s in %s, but the mirror has it in "
                        "another tenant; left as it is", user.id, tenant_id)
            continue
        if row is not None and row["issuer"] != user_rows.SCAIKEY:
            log.warning("directory sync: ScaiKey lists %s in %s, but that id is this "
                        "appliance's own (local) user; left as it is", user.id, tenant_id)
            continue
        seen.add(user.id)
        fields_ = {"email": user.email, "display_name": user.display_name,
                   "status": user.status}
        directory.upsert_user_fields(conn, tenant_id=tenant_id, user_id=user.id,
                                     fields=fields_, undelete=True)
        if row is None:
            counters.users_added += 1
            continue
        if row["deleted_at"] is not None:
            counters.users_undeleted += 1
            audit.record(conn, tenant_id=tenant_id, actor=ACTOR, action="user.undeleted",
                         target_type="user", target_id=user.id, request_id=request_id)
        if row["status"] != user.status:
            audit.record(conn, tenant_id=tenant_id, actor=ACTOR, action="user.status_changed",
                         target_type="user", target_id=user.id,
                         details={"from": row["status"], "to": user.status},
                         request_id=request_id)
    counters.users_seen += len(seen)
    for user_id, row in existing.items():
        if user_id in seen or row["deleted_at"] is not None or row["source"] != "scaikey":
            continue
        user_rows.set_user_status(conn, tenant_id, user_id, deleted=True)
        counters.users_soft_deleted += 1
        audit.record(conn, tenant_id=tenant_id, actor=ACTOR, action="user.soft_deleted",
                     target_type="user", target_id=user_id,
                     details={"admin_role": row["admin_role"]}, request_id=request_id)


def _apply_groups(conn: Connection, tenant: TenantDirectory, counters: SyncCounters,
                  request_id: str | None) -> set[str]:
    """Groups; returns the ids now live in this tenant."""
    tenant_id = tenant.tenant_id
    existing = directory.groups_of_tenant(conn, tenant_id)
    seen: set[str] = set()
    for group in tenant.groups:
        if group.id in seen:
            continue
        row = existing.get(group.id)
        if row is None and directory.tenant_of_group(conn, group.id) is not None:
            log.warning("directory sync: ScaiKey lists group %s in %s, but the mirror has it "
                        "in another tenant; left as it is", group.id, tenant_id)
            continue
        seen.add(group.id)
        directory.upsert_group(conn, tenant_id, group.id, group.name)
        if row is None:
            counters.groups_added += 1
        elif row["deleted_at"] is not None:
            counters.groups_undeleted += 1
            audit.record(conn, tenant_id=tenant_id, actor=ACTOR, action="group.undeleted",
                         target_type="group", target_id=group.id, request_id=request_id)
    counters.groups_seen += len(seen)
    for group_id, row in existing.items():
        if group_id not in seen and row["deleted_at"] is None:
            directory.soft_delete_group(conn, tenant_id, group_id)
            counters.groups_soft_deleted += 1
            audit.record(conn, tenant_id=tenant_id, actor=ACTOR, action="group.soft_deleted",
                         target_type="group", target_id=group_id, request_id=request_id)
    return seen


def _apply_memberships(conn: Connection, tenant: TenantDirectory, groups: set[str],
                       counters: SyncCounters) -> None:
    tenant_id = tenant.tenant_id
    existing = directory.memberships_of_tenant(conn, tenant_id)
    local = {user_id for user_id, row in directory.users_of_tenant(conn, tenant_id).items()
             if row["issuer"] != user_rows.SCAIKEY}
    # ScaiKey's groups hold ScaiKey's users: a local user of the same id is in none of them.
    wanted = {pair for pair in tenant.memberships if pair[0] in groups and pair[1] not in local}
    counters.memberships_seen += len(wanted)
    for group_id, user_id in sorted(wanted):
        if (group_id, user_id) not in existing or existing[(group_id, user_id)] is not None:
            user_rows.add_membership(conn, tenant_id, group_id, user_id)
            counters.memberships_added += 1
    for (group_id, user_id), deleted_at in existing.items():
        if deleted_at is None and (group_id, user_id) not in wanted:
            directory.soft_delete_membership(conn, tenant_id, group_id, user_id)
            counters.memberships_soft_deleted += 1


def apply_tenant(conn: Connection, tenant: TenantDirectory,
                 request_id: str | None) -> SyncCounters:
    """Make the mirror of one tenant what ScaiKey says (one transaction)."""
    counters = SyncCounters()
    user_rows.ensure_tenant(conn, tenant.tenant_id, source="scaikey")
    _apply_users(conn, tenant, counters, request_id)
    live_groups = _apply_groups(conn, tenant, counters, request_id)
    _apply_memberships(conn, tenant, live_groups, counters)
    audit.record(conn, tenant_id=tenant.tenant_id, actor=ACTOR, action="directory.synced",
                 target_type="tenant", target_id=tenant.tenant_id,
                 details=counters.as_dict(), request_id=request_id)
    return counters


# -- the service --------------------------------------------------------------------------------
class DirectorySync:
    """Runs syncs one at a time (a second caller waits for the first to end, then runs its
    own), and the background loop."""

    def __init__(self, db: Database, settings: Settings, client: ScaiKeyAdminClient | None,
                 clock: Callable[[], float] = time.monotonic,
                 leader: Callable[[], bool] = lambda: True) -> None:
        self.db = db
        self.settings = settings
        self.client = client
        self._clock = clock
        # Whether this process holds the directory-sync lease (services/leases.py): with
        # several processes on one database, one of them runs the scheduled sync (a sync an
        # operator or a webhook asks for runs where it was asked).
        self._leader = leader
        self._lock = asyncio.Lock()
        self._loop_task: asyncio.Task[None] | None = None
        self._extra_tasks: set[asyncio.Task[None]] = set()
        self.next_run_at: float | None = None  # monotonic, for the status

    @property
    def configured(self) -> bool:
        return self.client is not None

    @property
    def running(self) -> bool:
        return self._lock.locked()

    async def sync(self, principal: Principal | None, *, trigger: Trigger = "manual",
                   request_id: str | None = None) -> dict[str, Any]:
        """One sync; `principal` (None for the appliance itself) must be a super admin.
        UpstreamFailed (502) when ScaiKey could not be read: nothing was changed."""
        if principal is not None:
            principal.require_super_admin()
        async with self._lock:
            return await self._sync(trigger, request_id)

    async def _sync(self, trigger: Trigger, request_id: str | None) -> dict[str, Any]:
        started, started_at = self._clock(), now_iso()
        if self.client is None:
            skipped = empty_result("credentials_missing")

            def record_skip(conn: Connection) -> dict[str, Any]:
                skipped["super_admin_count"] = user_rows.count_super_admins(conn)
                self._record(conn, trigger, started_at, skipped, None)
                return skipped

            return await self.db.write(record_skip)
        try:
            tenants, method = await self._fetch(self.client)
        except UpstreamError as exc:
            reason = exc.reason
            await self.db.write(lambda conn: self._record(conn, trigger, started_at, None,
                                                          reason))
            raise UpstreamFailed(f"directory sync could not read ScaiKey: {reason}; the "
                                 "mirror was left as it was", code="scaikey_sync_failed",
                                 fix="Check SCAIKEY_BASE_URL, the client credentials and "
                                     "that the client may use ScaiKey's admin API "
                                     "(admin:read).") from None
        counters = SyncCounters()
        for tenant in tenants:
            counters.add(await self._apply(tenant, request_id))
        result: dict[str, Any] = {"skipped_reason": None, "users_method": method,
                                  **counters.as_dict()}

        def finish(conn: Connection) -> dict[str, Any]:
            promoted, demoted = reconcile_group_super_admins(
                conn, self.settings.super_admin_groups, actor=ACTOR, request_id=request_id)
            result.update(super_admin_count=user_rows.count_super_admins(conn),
                          super_admins_group_promoted=promoted,
                          super_admins_group_demoted=demoted,
                          duration_seconds=round(self._clock() - started, 3))
            self._record(conn, trigger, started_at, result, None)
            return result

        await self.db.write(finish)
        if result["super_admin_count"] == 0:
            log.warning(NO_SUPER_ADMIN)
        log.info("directory sync (%s): %d tenants, %d users, %d groups, %d memberships",
                 trigger, len(tenants), result["users_seen"], result["groups_seen"],
                 result["memberships_seen"])
        return result

    async def _apply(self, tenant: TenantDirectory, request_id: str | None) -> SyncCounters:
        return await self.db.write(lambda conn: apply_tenant(conn, tenant, request_id))

    @staticmethod
    def _record(conn: Connection, trigger: Trigger, started_at: str,
                result: dict[str, Any] | None, error: str | None) -> None:
        directory.set_last_sync(conn, orjson.dumps({
            "trigger": trigger, "started_at": started_at, "finished_at": now_iso(),
            "ok": error is None, "error": error, "result": result}).decode())

    async def _fetch(self, client: ScaiKeyAdminClient) -> tuple[list[TenantDirectory], str]:
        tenant_ids = set(await self.db.read(directory.tenants_to_sync))
        try:
            tenant_ids |= {g.tenant_id for g in await client.groups(None) if g.tenant_id}
        except AdminApiForbidden:
            pass  # the per-tenant calls below say whether the admin API is usable at all
        except ScaiKeyError as exc:
            log.info("directory sync: ScaiKey did not list every group (%s); syncing the "
                     "tenants the mirror knows", exc.reason)
        method: UsersMethod = "effective_users"
        tenants: list[TenantDirectory] = []
        for tenant_id in sorted(tenant_ids):
            users: list[DirectoryUser] | None = None
            if method == "effective_users":
                try:
                    users = await client.effective_users(tenant_id)
                except AdminApiForbidden:
                    log.info("directory sync: effective-users refused (403); walking group "
                             "members instead")
                    method = "member_walk"
            groups = await client.groups(tenant_id)
            tenant = TenantDirectory(tenant_id, users or [], groups)
            walked: dict[str, DirectoryUser] = {}
            for group in groups:
                for member in await client.group_members(group.id):
                    tenant.memberships.add((group.id, member.id))
                    walked.setdefault(member.id, member)
            if users is None:
                tenant.users = list(walked.values())
            tenants.append(tenant)
        return tenants, method

    # -- what the operator sees ---------------------------------------------------------------
    async def status(self, principal: Principal) -> dict[str, Any]:
        """The last sync (stored, so it survives restarts) and the schedule."""
        principal.require_super_admin()
        raw = await self.db.read(directory.get_last_sync)
        next_in = (None if self.next_run_at is None or self._loop_task is None
                   or self._loop_task.done() else max(0.0, self.next_run_at - self._clock()))
        return {"configured": self.configured,
                "interval_minutes": self.settings.sync_interval_minutes,
                "super_admin_groups": list(self.settings.super_admin_groups),
                "running": self.running,
                "next_run_in_seconds": None if next_in is None else round(next_in, 1),
                "last": orjson.loads(raw) if raw is not None else None}

    async def list_groups(self, principal: Principal, *, tenant_id: str | None,
                          search: str | None, include_deleted: bool,
                          after: tuple[str, str, str] | None = None, limit: int = 500
                          ) -> list[dict[str, Any]]:
        """Up to `limit` groups after the keyset `after` (tenant id, name, id)."""
        principal.require_super_admin()
        rows = await self.db.read(lambda conn: directory.list_groups(
            conn, tenant_id=tenant_id, search=search, include_deleted=include_deleted,
            after=after, limit=limit))
        selectors = set(self.settings.super_admin_groups)
        return [{**dict(row), "super_admin_group": row["id"] in selectors
                 or row["name"] in selectors} for row in rows]

    # -- background -------------------------------------------------------------------------
    def start(self, first_delay: float | None = None, interval: float | None = None) -> None:
        """Run every `SCAIFLOW_SYNC_INTERVAL_MINUTES` (0: never; `interval` seconds instead
        when given), the first time `first_delay` s after start; only when ScaiKey is
        configured."""
        if first_delay is None:
            first_delay = FIRST_RUN_DELAY_SECONDS
        if interval is None:
            interval = self.settings.sync_interval_minutes * 60.0
        if self.client is None or interval <= 0 or self._loop_task is not None:
            return
        self._loop_task = asyncio.create_task(self._loop(first_delay, interval),
                                              name="directory-sync")

    async def _loop(self, first_delay: float, interval: float) -> None:
        delay = first_delay
        while True:
            self.next_run_at = self._clock() + delay
            await asyncio.sleep(delay)
            if self._leader():
                await self._run_logged("background")
            else:
                log.debug("scheduled directory sync left to the process holding its lease")
            delay = interval

    async def _run_logged(self, trigger: Trigger) -> None:
        """A sync that never raises: a failure is one log line and the mirror stays."""
        try:
            await self.sync(None, trigger=trigger)
        except UpstreamFailed as exc:
            log.warning("%s", exc.message)
        except Exception as exc:  # keep the loop alive; the next run may succeed
            log.error("directory sync failed unexpectedly (%s: %s); the mirror was kept",
                      type(exc).__name__, exc)

    def request(self, trigger: Trigger) -> None:
        """Ask for a sync soon (a webhook said the application's groups changed). At most one
        request waits behind a running one: it will read ScaiKey after every change so far."""
        if self.client is None or sum(not t.done() for t in self._extra_tasks) >= 2:
            return
        task = asyncio.create_task(self._run_logged(trigger), name="directory-sync-request")
        self._extra_tasks.add(task)
        task.add_done_callback(self._extra_tasks.discard)

    async def close(self) -> None:
        tasks = [t for t in (self._loop_task, *self._extra_tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
