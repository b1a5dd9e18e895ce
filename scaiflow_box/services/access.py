"""Per-flow access (SPEC §2.3): levels, implicit admins, and the one check every flow-scoped
service call makes. Flows are deny by default: a caller who may not even view a flow gets the
same 404 as for a flow that does not exist (no existence oracle)."""

from __future__ import annotations

from scaiflow_box.auth.principal import Principal
from scaiflow_box.errors import Forbidden, NotFound
from scaiflow_box.store import acls as acl_rows
from scaiflow_box.store import flows as flow_rows
from scaiflow_box.store.engine import Connection, Row

LEVELS = ("view", "edit", "deploy", "admin")
RANK = {level: index for index, level in enumerate(LEVELS)}
FLOW_NOT_FOUND = "Flow not found"


def flow_not_found() -> NotFound:
    return NotFound(FLOW_NOT_FOUND)


def granted_level(conn: Connection, principal: Principal, flow_id: str) -> str | None:
    """The highest level granted to the caller on the flow (directly or through a group),
    or None. Implicit admins (owner, tenant and super admins) are the caller's to check."""
    levels = acl_rows.levels_for_user(conn, principal.tenant_id, flow_id, principal.sub)
    return max(levels, key=RANK.__getitem__) if levels else None


def effective_level(
    conn: Connection, principal: Principal, flow: Row
) -> str | None:
    """The caller's level on the flow, or None when they may not even view it."""
    if principal.is_tenant_admin or flow["owner_id"] == principal.sub:
        return "admin"
    return granted_level(conn, principal, flow["id"])


def require_level(level: str | None, needed: str) -> None:
    """404 when the caller cannot even view the flow (no existence oracle), 403 when their
    level is below `needed`."""
    if level is None:
        raise flow_not_found()
    if RANK[level] < RANK[needed]:
        raise Forbidden(
            f"this action needs the `{needed}` level on the flow; you have `{level}`",
            fix=f"Ask an admin of this flow to grant you `{needed}`.",
        )


def check_level(
    conn: Connection, principal: Principal, flow_id: str, needed: str,
    *, include_deleted: bool = False, for_update: bool = False,
) -> Row:
    """The flow row when the caller has `needed`; 404 when they cannot view it, else 403.
    `for_update`: the write job goes on to check the row (If-Match) and change the flow, so
    the row is locked until it commits (`store/flows.py:get_flow`)."""
    flow = flow_rows.get_flow(conn, principal.tenant_id, flow_id,
                              include_deleted=include_deleted, for_update=for_update)
    if flow is None:
        raise flow_not_found()
    require_level(effective_level(conn, principal, flow), needed)
    return flow
