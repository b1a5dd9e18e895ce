"""Per-flow access (SPEC §2.3, §4): levels, implicit admins, and ACL management."""

from __future__ import annotations

import sqlite3
from typing import Any

from scaiflow_box.auth.principal import Principal
from scaiflow_box.http.errors import ApiError, forbidden, not_found
from scaiflow_box.ids import new_id
from scaiflow_box.store import acls as acl_rows
from scaiflow_box.store import audit
from scaiflow_box.store import flows as flow_rows
from scaiflow_box.store import users as user_rows
from scaiflow_box.store.db import Database
from scaiflow_box.timestamps import now_iso

LEVELS = ("view", "edit", "deploy", "admin")
RANK = {level: index for index, level in enumerate(LEVELS)}
PRINCIPAL_TYPES = ("user", "group")
FLOW_NOT_FOUND = "Flow not found"


def effective_level(
    conn: sqlite3.Connection, principal: Principal, flow: sqlite3.Row
) -> str | None:
    """The caller's level on the flow, or None when they may not even view it."""
    if principal.is_tenant_admin or flow["owner_id"] == principal.sub:
        return "admin"
    levels = acl_rows.levels_for_user(conn, principal.tenant_id, flow["id"], principal.sub)
    if not levels:
        return None
    return max(levels, key=RANK.__getitem__)


def check_level(
    conn: sqlite3.Connection, principal: Principal, flow_id: str, needed: str,
    *, include_deleted: bool = False,
) -> sqlite3.Row:
    """The flow row when the caller has `needed`; 404 when they cannot view it, else 403."""
    flow = flow_rows.get_flow(conn, principal.tenant_id, flow_id, include_deleted=include_deleted)
    if flow is None:
        raise not_found(FLOW_NOT_FOUND)
    level = effective_level(conn, principal, flow)
    if level is None:
        raise not_found(FLOW_NOT_FOUND)
    if RANK[level] < RANK[needed]:
        raise forbidden(
            f"this action needs the `{needed}` level on the flow; you have `{level}`",
            fix=f"Ask an admin of this flow to grant you `{needed}`.",
        )
    return flow


def require_level(db: Database, principal: Principal, flow_id: str, needed: str) -> sqlite3.Row:
    """Primary-key reads of a few rows: run inline (SPEC §19.1)."""
    return db.read_inline(lambda conn: check_level(conn, principal, flow_id, needed))


def acl_dict(row: sqlite3.Row) -> dict[str, Any]:
    return {key: row[key] for key in
            ("id", "flow_id", "principal_type", "principal_id", "level", "granted_by",
             "granted_at")}


def _check_version(flow: sqlite3.Row, expected: str | None) -> None:
    if expected is not None and expected != flow["version"]:
        raise ApiError(412, "version_conflict",
                       f"the flow is at version {flow['version']}, not {expected}",
                       fix="Reload the flow and retry with its current ETag.",
                       current_version=flow["version"])


async def list_acls(db: Database, principal: Principal, flow_id: str) -> list[dict[str, Any]]:
    def run(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        check_level(conn, principal, flow_id, "admin")
        return [acl_dict(r) for r in acl_rows.list_acls(conn, principal.tenant_id, flow_id)]

    return db.read_inline(run)


def validate_grant(principal_type: str, level: str) -> None:
    if principal_type not in PRINCIPAL_TYPES:
        raise ApiError(400, "invalid_principal_type",
                       f"principal_type must be one of {', '.join(PRINCIPAL_TYPES)}")
    if level not in LEVELS:
        raise ApiError(400, "invalid_level", f"level must be one of {', '.join(LEVELS)}")


async def create_acl(
    db: Database, principal: Principal, flow_id: str, *, principal_type: str,
    principal_id: str, level: str, expected_version: str | None, request_id: str | None,
) -> dict[str, Any]:
    validate_grant(principal_type, level)
    require_level(db, principal, flow_id, "admin")

    def run(conn: sqlite3.Connection) -> dict[str, Any]:
        flow = check_level(conn, principal, flow_id, "admin")
        _check_version(flow, expected_version)
        if principal_type == "user" and principal_id == flow["owner_id"]:
            raise ApiError(400, "owner_is_implicit_admin",
                           "the flow's owner is always admin and needs no ACL",
                           fix="Move ownership with POST /api/v1/admin/flows/{flow_id}/owner.")
        if not user_rows.principal_exists(conn, principal.tenant_id, principal_type,
                                          principal_id):
            raise ApiError(404, "principal_not_found",
                           f"no {principal_type} '{principal_id}' in this tenant's directory",
                           fix="Run a directory sync (POST /api/v1/admin/sync), then retry.")
        if acl_rows.find_acl(conn, principal.tenant_id, flow_id, principal_type,
                             principal_id) is not None:
            raise ApiError(409, "acl_exists",
                           f"{principal_type} '{principal_id}' already has an ACL on this flow",
                           fix="PATCH the existing ACL, or delete and re-create it.")
        acl_id = new_id("acl")
        acl_rows.insert_acl(conn, acl_id=acl_id, tenant_id=principal.tenant_id, flow_id=flow_id,
                            principal_type=principal_type, principal_id=principal_id,
                            level=level, granted_by=principal.sub, granted_at=now_iso())
        audit.record(conn, tenant_id=principal.tenant_id, actor=principal.sub,
                     action="acl.granted", target_type="flow", target_id=flow_id,
                     details={"acl_id": acl_id, "principal_type": principal_type,
                              "principal_id": principal_id, "level": level},
                     request_id=request_id)
        row = acl_rows.get_acl(conn, principal.tenant_id, flow_id, acl_id)
        assert row is not None
        return acl_dict(row)

    return await db.write(run)


async def change_acl_level(
    db: Database, principal: Principal, flow_id: str, acl_id: str, *, level: str,
    expected_version: str | None, request_id: str | None,
) -> dict[str, Any]:
    if level not in LEVELS:
        raise ApiError(400, "invalid_level", f"level must be one of {', '.join(LEVELS)}")
    require_level(db, principal, flow_id, "admin")

    def run(conn: sqlite3.Connection) -> dict[str, Any]:
        flow = check_level(conn, principal, flow_id, "admin")
        _check_version(flow, expected_version)
        before = acl_rows.get_acl(conn, principal.tenant_id, flow_id, acl_id)
        if before is None:
            raise not_found("ACL not found")
        acl_rows.update_level(conn, principal.tenant_id, flow_id, acl_id, level)
        audit.record(conn, tenant_id=principal.tenant_id, actor=principal.sub,
                     action="acl.changed", target_type="flow", target_id=flow_id,
                     details={"acl_id": acl_id, "from": before["level"], "to": level},
                     request_id=request_id)
        row = acl_rows.get_acl(conn, principal.tenant_id, flow_id, acl_id)
        assert row is not None
        return acl_dict(row)

    return await db.write(run)


async def delete_acl(
    db: Database, principal: Principal, flow_id: str, acl_id: str, *,
    expected_version: str | None, request_id: str | None,
) -> None:
    require_level(db, principal, flow_id, "admin")

    def run(conn: sqlite3.Connection) -> None:
        flow = check_level(conn, principal, flow_id, "admin")
        _check_version(flow, expected_version)
        before = acl_rows.get_acl(conn, principal.tenant_id, flow_id, acl_id)
        if before is None:
            raise not_found("ACL not found")
        acl_rows.delete_acl(conn, principal.tenant_id, flow_id, acl_id)
        audit.record(conn, tenant_id=principal.tenant_id, actor=principal.sub,
                     action="acl.revoked", target_type="flow", target_id=flow_id,
                     details={"acl_id": acl_id, "principal_type": before["principal_type"],
                              "principal_id": before["principal_id"],
                              "level": before["level"]},
                     request_id=request_id)

    await db.write(run)
