"""Admin router rules (SPEC §12): users and roles, flow ownership, service tokens, audit.

Super admins act platform-wide; tenant admins only inside their own tenant and may grant
only `tenant_admin`. Each method checks the caller's role once, here.
"""

from __future__ import annotations

from typing import Any

from scaiflow_box.auth.issuer import LocalIssuer
from scaiflow_box.auth.principal import Principal
from scaiflow_box.errors import Conflict, Forbidden, InvalidInput, NotConfigured, NotFound
from scaiflow_box.services.credentials import CredentialService
from scaiflow_box.services.roles import check_super_admin_remains
from scaiflow_box.services.service_tokens import (
    MintedToken,
    SubjectTaken,
    TokenRequestError,
    mint_service_token,
    revoke_service_token,
)
from scaiflow_box.store import audit
from scaiflow_box.store import catalog as catalog_rows
from scaiflow_box.store import flows as flow_rows
from scaiflow_box.store import keys as key_rows
from scaiflow_box.store import users as user_rows
from scaiflow_box.store.database import Database
from scaiflow_box.store.engine import Connection, Row
from scaiflow_box.timestamps import now_iso

ROLES = ("tenant_admin", "super_admin")


def user_dict(row: Row) -> dict[str, Any]:
    return {key: row[key] for key in ("id", "tenant_id", "email", "display_name", "status",
                                      "issuer", "admin_role", "admin_role_source",
                                      "deleted_at", "last_synced_at")}


def token_dict(row: Row) -> dict[str, Any]:
    return {key: row[key] for key in ("id", "tenant_id", "sub", "scope", "description",
                                      "created_by", "created_at", "expires_at", "revoked_at")}


class AdminService:
    def __init__(self, db: Database, issuer: LocalIssuer, credentials: CredentialService
                 ) -> None:
        self.db = db
        self.issuer = issuer
        self.credentials = credentials

    async def tenants(self, principal: Principal) -> list[dict[str, Any]]:
        """Every tenant: users, flows, packages and the ScaiGrid credential status (masked)."""
        principal.require_super_admin()
        def read(conn: Connection) -> tuple[list[Row], dict[str, int]]:
            return user_rows.tenant_overview(conn), catalog_rows.live_counts_by_tenant(conn)

        rows, packages = await self.db.read(read)
        result = []
        for row in rows:
            try:
                status = await self.credentials.status_of(row["id"])
                credentials: dict[str, Any] = {"configured": status.configured,
                                               "base_url": status.base_url,
                                               "masked_key": status.masked_key,
                                               "base_url_stored": status.base_url_stored,
                                               "readable": True}
            except NotConfigured:  # stored but undecryptable: say so, keep listing
                credentials = {"configured": True, "base_url": None, "masked_key": None,
                               "base_url_stored": False, "readable": False}
            result.append({"id": row["id"], "name": row["name"], "source": row["source"],
                           "created_at": row["created_at"], "users": row["users"],
                           "flows": row["flows"], "packages": packages.get(row["id"], 0),
                           "scaigrid_credentials": credentials})
        return result

    async def list_users(self, principal: Principal, *, tenant_id: str | None,
                         search: str | None, include_deleted: bool,
                         own_tenant_only: bool, group_id: str | None = None,
                         after: tuple[str, str] | None = None, limit: int = 500
                         ) -> list[dict[str, Any]]:
        """Up to `limit` users after the keyset `after` (tenant id, user id)."""
        if own_tenant_only:
            principal.require_tenant_admin()
            tenant_id = principal.tenant_id
        else:
            principal.require_super_admin()
        rows = await self.db.read(lambda conn: user_rows.list_users(
            conn, tenant_id=tenant_id, search=search, include_deleted=include_deleted,
            group_id=group_id, after=after, limit=limit))
        return [user_dict(r) for r in rows]

    async def tenant_flows(self, principal: Principal, *, search: str | None,
                           include_deleted: bool, after: tuple[str, str] | None, limit: int
                           ) -> tuple[list[dict[str, Any]], int]:
        """Every flow of the caller's tenant, whoever owns it, with its owner (`/tenant/flows`)."""
        principal.require_tenant_admin()
        rows, total = await self.db.read(lambda conn: flow_rows.list_tenant_flows(
            conn, tenant_id=principal.tenant_id, search=search,
            include_deleted=include_deleted, after=after, limit=limit))
        return [dict(row) for row in rows], total

    async def set_role(self, principal: Principal, user_id: str, role: str | None,
                       request_id: str | None) -> None:
        """Grant (role) or remove (None) an admin role with source `manual`."""
        principal.require_tenant_admin()
        if role is not None and role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}", code="invalid_role")
        if not principal.is_super_admin and role == "super_admin":
            raise Forbidden("a tenant admin may grant only tenant_admin")

        def run(conn: Connection) -> None:
            target = user_rows.get_user_any_tenant(conn, user_id)
            if not principal.is_super_admin and (target is None
                                                 or target["tenant_id"] != principal.tenant_id):
                # SPEC §12: 403 outside the tenant admin's tenant; the same answer for ids
                # that exist nowhere, so it tells nothing about other tenants' users.
                raise Forbidden(f"no user {user_id!r} in your tenant; a tenant admin acts only "
                                "on users of their own tenant")
            if target is None:
                raise NotFound("User not found")
            if not principal.is_super_admin and target["admin_role"] == "super_admin":
                raise Forbidden("a tenant admin cannot change a super admin's role")
            check_super_admin_remains(conn, target, role)
            user_rows.set_admin_role(conn, target["tenant_id"], user_id, role, "manual")
            audit.record(conn, tenant_id=target["tenant_id"], actor=principal.sub,
                         action="role.granted" if role else "role.revoked", target_type="user",
                         target_id=user_id, details={"role": role or target["admin_role"]},
                         request_id=request_id)

        await self.db.write(run)

    async def transfer_ownership(self, principal: Principal, flow_id: str, owner_id: str,
                                 request_id: str | None) -> dict[str, Any]:
        principal.require_super_admin()

        def run(conn: Connection) -> dict[str, Any]:
            tenant_id = flow_rows.tenant_of_flow(conn, flow_id)
            # Locked: the row is checked, then the owner and the live-flow counts change.
            flow = (flow_rows.get_flow(conn, tenant_id, flow_id, include_deleted=True,
                                       for_update=True)
                    if tenant_id is not None else None)
            if tenant_id is None or flow is None:
                raise NotFound("Flow not found")
            if not user_rows.principal_exists(conn, tenant_id, "user", owner_id):
                raise NotFound(f"no user '{owner_id}' in the flow's tenant",
                               code="principal_not_found", plain=False,
                               fix="Run a directory sync (POST /api/v1/admin/sync), then retry.")
            changes: dict[str, Any] = {"owner_id": owner_id, "updated_at": now_iso()}
            if owner_id != flow["owner_id"]:
                changes["meta_rev"] = flow["meta_rev"] + 1  # the representation changed
            flow_rows.update_flow(conn, tenant_id, flow_id, current=flow, **changes)
            audit.record(conn, tenant_id=tenant_id, actor=principal.sub,
                         action="flow.owner_changed", target_type="flow", target_id=flow_id,
                         details={"from": flow["owner_id"], "to": owner_id},
                         request_id=request_id)
            row = flow_rows.get_flow(conn, tenant_id, flow_id, include_deleted=True)
            if row is None:
                raise RuntimeError("flow vanished inside its own transaction")
            return {"id": row["id"], "tenant_id": row["tenant_id"], "owner_id": row["owner_id"],
                    "version": row["version"], "deleted_at": row["deleted_at"]}

        # The flow's tenant is only known inside the job: every cached read is dropped.
        return await self.db.write(run)

    async def mint_token(self, principal: Principal, *, tenant_id: str | None, sub: str,
                         scope: str, ttl_seconds: int, description: str) -> MintedToken:
        principal.require_super_admin()

        def run(conn: Connection) -> MintedToken:
            try:
                return mint_service_token(conn, self.issuer, sub=sub,
                                          tenant_id=tenant_id or principal.tenant_id,
                                          scope=scope, ttl_seconds=ttl_seconds,
                                          description=description, created_by=principal.sub)
            except SubjectTaken as exc:
                raise Conflict(str(exc), code="subject_taken",
                               fix="Mint the token for a subject of its own.") from None
            except TokenRequestError as exc:
                raise InvalidInput(str(exc), code="invalid_token_request") from None

        return await self.db.write(run)

    async def list_tokens(self, principal: Principal) -> list[dict[str, Any]]:
        principal.require_super_admin()
        rows = await self.db.read(lambda conn: key_rows.list_service_tokens(conn, None))
        return [token_dict(r) for r in rows]

    async def revoke_token(self, principal: Principal, token_id: str) -> None:
        principal.require_super_admin()

        def run(conn: Connection) -> None:
            if key_rows.find_service_token(conn, token_id) is None:
                raise NotFound("Service token not found")
            revoke_service_token(conn, token_id, actor=principal.sub)

        await self.db.write(run)

    async def list_audit(self, principal: Principal, *, tenant_id: str | None,
                         actor: str | None, action: str | None, since: str | None,
                         before_id: int | None, limit: int) -> list[dict[str, Any]]:
        principal.require_tenant_admin()
        if not principal.is_super_admin:
            tenant_id = principal.tenant_id
        rows = await self.db.read(lambda conn: audit.list_entries(
            conn, tenant_id=tenant_id, actor=actor, action=action, since=since,
            before_id=before_id, limit=limit))
        return [dict(r) for r in rows]
