"""Per-flow ACL rows (explicit grants only; implicit admins are never rows)."""

from __future__ import annotations

from scaiflow_box.store.engine import Connection, Row

ACL_COLUMNS = "id, flow_id, principal_type, principal_id, level, granted_by, granted_at"


def list_acls(conn: Connection, tenant_id: str, flow_id: str) -> list[Row]:
    return conn.execute(
        f"SELECT {ACL_COLUMNS} FROM flow_acls WHERE tenant_id = ? AND flow_id = ?"
        " ORDER BY granted_at, id",
        (tenant_id, flow_id),
    ).fetchall()


def get_acl(
    conn: Connection, tenant_id: str, flow_id: str, acl_id: str
) -> Row | None:
    row: Row | None = conn.execute(
        f"SELECT {ACL_COLUMNS} FROM flow_acls WHERE id = ? AND flow_id = ? AND tenant_id = ?",
        (acl_id, flow_id, tenant_id),
    ).fetchone()
    return row


def find_acl(
    conn: Connection, tenant_id: str, flow_id: str, principal_type: str,
    principal_id: str,
) -> Row | None:
    row: Row | None = conn.execute(
        f"SELECT {ACL_COLUMNS} FROM flow_acls WHERE tenant_id = ? AND flow_id = ?"
        " AND principal_type = ? AND principal_id = ?",
        (tenant_id, flow_id, principal_type, principal_id),
    ).fetchone()
    return row


def levels_for_user(
    conn: Connection, tenant_id: str, flow_id: str, user_id: str
) -> list[str]:
    """Every level granted to the user directly or through a live group membership.

    Read from the flow's unique (flow, principal) index and the user's memberships (CROSS
    JOIN and `+m.tenant_id` fix that order), never from all of the tenant's ACLs."""
    return [
        row[0]
        for row in conn.execute(
            "SELECT level FROM flow_acls WHERE flow_id = ? AND principal_type = 'user'"
            " AND principal_id = ? AND tenant_id = ?"
            " UNION ALL SELECT a.level FROM memberships m CROSS JOIN groups g"
            " CROSS JOIN flow_acls a WHERE m.user_id = ? AND +m.tenant_id = ?"
            " AND m.deleted_at IS NULL AND g.id = m.group_id AND g.deleted_at IS NULL"
            " AND a.flow_id = ? AND a.principal_type = 'group' AND a.principal_id = m.group_id"
            " AND a.tenant_id = ?",
            (flow_id, user_id, tenant_id, user_id, tenant_id, flow_id, tenant_id),
        )
    ]


def insert_acl(
    conn: Connection, *, acl_id: str, tenant_id: str, flow_id: str, principal_type: str,
    principal_id: str, level: str, granted_by: str, granted_at: str,
) -> None:
    conn.execute(
        "INSERT INTO flow_acls (id, tenant_id, flow_id, principal_type, principal_id, level,"
        " granted_by, granted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (acl_id, tenant_id, flow_id, principal_type, principal_id, level, granted_by, granted_at),
    )


def update_level(
    conn: Connection, tenant_id: str, flow_id: str, acl_id: str, level: str
) -> bool:
    cursor = conn.execute(
        "UPDATE flow_acls SET level = ? WHERE id = ? AND flow_id = ? AND tenant_id = ?",
        (level, acl_id, flow_id, tenant_id),
    )
    return cursor.rowcount == 1


def delete_acl(conn: Connection, tenant_id: str, flow_id: str, acl_id: str) -> bool:
    cursor = conn.execute(
        "DELETE FROM flow_acls WHERE id = ? AND flow_id = ? AND tenant_id = ?",
        (acl_id, flow_id, tenant_id),
    )
    return cursor.rowcount == 1
