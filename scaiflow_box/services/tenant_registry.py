"""Tenants as the operator manages them (`scaiflow-box tenants`, `token mint`): listing them,
noticing a tenant id this appliance has never seen (usually a typo), and deleting an empty one.

A tenant appears on its own: the first token that names it creates it (just in time), as do
a directory sync and a webhook. So a mistyped `--tenant` would silently make a new one; the
CLI says so instead, and `tenants delete` removes one that holds nothing (store/tenants.py says
what "nothing" means per table). Functions of a connection, run in the writer or a reader.
"""

from __future__ import annotations

import difflib
from typing import Any

from scaiflow_box.errors import Conflict, NotFound
from scaiflow_box.store import audit
from scaiflow_box.store import tenants as tenant_rows
from scaiflow_box.store import users as user_rows
from scaiflow_box.store.engine import Connection


def list_tenants(conn: Connection) -> list[dict[str, Any]]:
    """Every tenant with its live users and flows, by id."""
    return [dict(row) for row in user_rows.tenant_overview(conn)]


def new_tenant_notice(conn: Connection, tenant_id: str) -> str | None:
    """A line for the operator when no tenant row and no service token knows `tenant_id`
    (None when it is known), naming the known tenants it is closest to."""
    if user_rows.get_tenant(conn, tenant_id) is not None \
            or tenant_rows.has_service_tokens(conn, tenant_id):
        return None
    known = [row["id"] for row in user_rows.tenant_overview(conn)]
    close = difflib.get_close_matches(tenant_id, known, n=3, cutoff=0.75)
    notice = f"tenant {tenant_id} is new on this appliance"
    return notice + (f" (did you mean {' or '.join(close)}?)" if close else "")


def delete_empty_tenant(conn: Connection, tenant_id: str, *, actor: str,
                        request_id: str | None = None) -> dict[str, int]:
    """Delete a tenant that holds nothing; NotFound for an unknown one, Conflict naming what
    it holds otherwise. Writes the audit row in the same transaction. Returns the rows that
    went with it, per table."""
    tenant = user_rows.get_tenant(conn, tenant_id)
    if tenant is None:
        raise NotFound(f"no tenant {tenant_id!r} on this appliance")
    held = tenant_rows.holdings(conn, tenant_id)
    if held:
        raise Conflict(f"tenant {tenant_id} is not empty: it holds "
                       + ", ".join(f"{count} {what}" for count, what in held),
                       code="tenant_not_empty")
    removed = tenant_rows.delete_tenant(conn, tenant_id)
    audit.record(conn, tenant_id=tenant_id, actor=actor, action="tenant.deleted",
                 target_type="tenant", target_id=tenant_id,
                 details={"name": tenant["name"], "source": tenant["source"],
                          "removed": removed}, request_id=request_id)
    return removed
