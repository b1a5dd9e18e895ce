"""Flow ACL management (SPEC §4): explicit grants; every call needs the flow's admin level.

Reads need `scaicore:view`, changes `scaicore:manage`; each is checked once, here. Changes
honour `If-Match` against the flow's ETag, like the flow itself.
"""

from __future__ import annotations

from typing import Any

from scaiflow_box.auth.principal import Principal
from scaiflow_box.errors import Conflict, InvalidInput, NotFound
from scaiflow_box.ids import new_id
from scaiflow_box.services.access import LEVELS, check_level
from scaiflow_box.services.preconditions import check_if_match
from scaiflow_box.store import acls as acl_rows
from scaiflow_box.store import audit
from scaiflow_box.store import users as user_rows
from scaiflow_box.store.database import Database
from scaiflow_box.store.engine import Connection, Row
from scaiflow_box.timestamps import now_iso

PRINCIPAL_TYPES = ("user", "group")


def acl_dict(row: Row) -> dict[str, Any]:
    return {key: row[key] for key in
            ("id", "flow_id", "principal_type", "principal_id", "level", "granted_by",
             "granted_at")}


def _check_level_name(level: str) -> None:
    if level not in LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(LEVELS)}", code="invalid_level")


def _acl_not_found() -> NotFound:
    return NotFound("ACL not found")


def _stored_acl(conn: Connection, tenant_id: str, flow_id: str,
                acl_id: str) -> Row:
    row = acl_rows.get_acl(conn, tenant_id, flow_id, acl_id)
    if row is None:
        raise _acl_not_found()
    return row


class AclService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def list(self, principal: Principal, flow_id: str) -> list[dict[str, Any]]:
        principal.require_view()

        def run(conn: Connection) -> list[dict[str, Any]]:
            check_level(conn, principal, flow_id, "admin")
            return [acl_dict(r) for r in acl_rows.list_acls(conn, principal.tenant_id, flow_id)]

        return await self.db.read_small(run)

    async def grant(self, principal: Principal, flow_id: str, *, principal_type: str,
                    principal_id: str, level: str, if_match: tuple[str, ...] | None,
                    request_id: str | None) -> dict[str, Any]:
        principal.require_manage()
        if principal_type not in PRINCIPAL_TYPES:
            raise InvalidInput(f"principal_type must be one of {', '.join(PRINCIPAL_TYPES)}",
                               code="invalid_principal_type")
        _check_level_name(level)

        def run(conn: Connection) -> dict[str, Any]:
            flow = check_level(conn, principal, flow_id, "admin", for_update=True)
            check_if_match(flow, if_match)
            if principal_type == "user" and principal_id == flow["owner_id"]:
                raise InvalidInput(
                    "the flow's owner is always admin and needs no ACL",
                    code="owner_is_implicit_admin",
                    fix="Move ownership with POST /api/v1/admin/flows/{flow_id}/owner.")
            if not user_rows.principal_exists(conn, principal.tenant_id, principal_type,
                                              principal_id):
                raise NotFound(
                    f"no {principal_type} '{principal_id}' in this tenant's directory",
                    code="principal_not_found", plain=False,
                    fix="Run a directory sync (POST /api/v1/admin/sync), then retry.")
            if acl_rows.find_acl(conn, principal.tenant_id, flow_id, principal_type,
                                 principal_id) is not None:
                raise Conflict(
                    f"{principal_type} '{principal_id}' already has an ACL on this flow",
                    code="acl_exists", fix="PATCH the existing ACL, or delete and re-create it.")
            acl_id = new_id("acl")
            acl_rows.insert_acl(conn, acl_id=acl_id, tenant_id=principal.tenant_id,
                                flow_id=flow_id, principal_type=principal_type,
                                principal_id=principal_id, level=level,
                                granted_by=principal.sub, granted_at=now_iso())
            audit.record(conn, tenant_id=principal.tenant_id, actor=principal.sub,
                         action="acl.granted", target_type="flow", target_id=flow_id,
                         details={"acl_id": acl_id, "principal_type": principal_type,
                                  "principal_id": principal_id, "level": level},
                         request_id=request_id)
            return acl_dict(_stored_acl(conn, principal.tenant_id, flow_id, acl_id))

        return await self.db.write(run, flows_changed=((principal.tenant_id, flow_id),))

    async def change_level(self, principal: Principal, flow_id: str, acl_id: str, *,
                           level: str, if_match: tuple[str, ...] | None,
                           request_id: str | None) -> dict[str, Any]:
        principal.require_manage()
        _check_level_name(level)

        def run(conn: Connection) -> dict[str, Any]:
            flow = check_level(conn, principal, flow_id, "admin", for_update=True)
            check_if_match(flow, if_match)
            before = _stored_acl(conn, principal.tenant_id, flow_id, acl_id)
            acl_rows.update_level(conn, principal.tenant_id, flow_id, acl_id, level)
            audit.record(conn, tenant_id=principal.tenant_id, actor=principal.sub,
                         action="acl.changed", target_type="flow", target_id=flow_id,
                         details={"acl_id": acl_id, "from": before["level"], "to": level},
                         request_id=request_id)
            return acl_dict(_stored_acl(conn, principal.tenant_id, flow_id, acl_id))

        return await self.db.write(run, flows_changed=((principal.tenant_id, flow_id),))

    async def revoke(self, principal: Principal, flow_id: str, acl_id: str, *,
                     if_match: tuple[str, ...] | None, request_id: str | None) -> None:
        principal.require_manage()

        def run(conn: Connection) -> None:
            flow = check_level(conn, principal, flow_id, "admin", for_update=True)
            check_if_match(flow, if_match)
            before = _stored_acl(conn, principal.tenant_id, flow_id, acl_id)
            acl_rows.delete_acl(conn, principal.tenant_id, flow_id, acl_id)
            audit.record(conn, tenant_id=principal.tenant_id, actor=principal.sub,
                         action="acl.revoked", target_type="flow", target_id=flow_id,
                         details={"acl_id": acl_id, "principal_type": before["principal_type"],
                                  "principal_id": before["principal_id"],
                                  "level": before["level"]},
                         request_id=request_id)

        await self.db.write(run, flows_changed=((principal.tenant_id, flow_id),))
