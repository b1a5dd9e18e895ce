"""The identity mirror: tenants, users, groups, memberships, admin roles."""

from __future__ import annotations

from typing import Any

from scaiflow_box.store import flow_counts
from scaiflow_box.store.engine import SQLITE, Connection, Row, dialect, insert_new
from scaiflow_box.timestamps import now_iso

USER_COLUMNS = (
    "id, tenant_id, email, display_name, status, source, issuer, admin_role,"
    " admin_role_source, deleted_at, last_synced_at, created_at, updated_at"
)
# Who owns a user row (SPEC §2.1, migration 005): this appliance (the bootstrap operator, the
# subjects of its service tokens) or ScaiKey (its tokens, directory sync, webhooks).
LOCAL = "local"
SCAIKEY = "scaikey"


def ensure_tenant(conn: Connection, tenant_id: str, *, source: str = "token") -> None:
    now = now_iso()
    slug = tenant_id.removeprefix("tnt_")
    conflict = (" ON CONFLICT (id) DO NOTHING" if dialect(conn) == SQLITE
                else " ON DUPLICATE KEY UPDATE id = id")
    conn.execute(
        "INSERT INTO tenants (id, name, slug, source, created_at, updated_at)"
        f" VALUES (?, ?, ?, ?, ?, ?){conflict}",
        (tenant_id, slug, slug, source, now, now),
    )


def get_tenant(conn: Connection, tenant_id: str) -> Row | None:
    row: Row | None = conn.execute(
        "SELECT id, name, slug, source, created_at FROM tenants WHERE id = ?", (tenant_id,)
    ).fetchone()
    return row


def tenant_overview(conn: Connection) -> list[Row]:
    """Every tenant with its live users and live flows (a super admin's overview)."""
    return conn.execute(
        "SELECT t.id, t.name, t.slug, t.source, t.created_at,"
        " (SELECT count(*) FROM users u WHERE u.tenant_id = t.id AND u.deleted_at IS NULL)"
        f" AS users, {flow_counts.tenant_total_sql(conn, 't.id')} AS flows"
        " FROM tenants t ORDER BY t.id").fetchall()


def get_user(conn: Connection, tenant_id: str, user_id: str) -> Row | None:
    row: Row | None = conn.execute(
        f"SELECT {USER_COLUMNS} FROM users WHERE id = ? AND tenant_id = ?", (user_id, tenant_id)
    ).fetchone()
    return row


def get_user_any_tenant(conn: Connection, user_id: str) -> Row | None:
    """Only for the token check (is this sub known under another tenant?) and super admins."""
    row: Row | None = conn.execute(
        f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", (user_id,)
    ).fetchone()
    return row


def find_users(conn: Connection, email_or_id: str) -> list[Row]:
    """Operator look-up (CLI): by id, else by e-mail (case-insensitive), any tenant."""
    rows = conn.execute(
        f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", (email_or_id,)
    ).fetchall()
    if rows:
        return rows
    if dialect(conn) == SQLITE:
        by_email = "email = ? COLLATE NOCASE"
    else:  # the invisible LOWER(email) column of the baseline, and its index
        by_email = "email_nocase = LOWER(?)"
    return conn.execute(
        f"SELECT {USER_COLUMNS} FROM users WHERE {by_email} ORDER BY tenant_id",
        (email_or_id,),
    ).fetchall()


def provision_user_just_in_time(
    conn: Connection,
    *,
    tenant_id: str,
    user_id: str,
    email: str | None,
    display_name: str | None,
    issuer: str,
) -> bool:
    """Insert the token's user if unknown (SPEC §20), owned by the token's issuer; True when
    a row was created."""
    ensure_tenant(conn, tenant_id)
    now = now_iso()
    insert = ("INSERT INTO users (id, tenant_id, email, display_name, status, source, issuer,"
              " created_at, updated_at) VALUES (?, ?, ?, ?, 'ACTIVE', 'token', ?, ?, ?)")
    params = (user_id, tenant_id, email, display_name, issuer, now, now)
    if dialect(conn) == SQLITE:
        return conn.execute(f"{insert} ON CONFLICT (id) DO NOTHING", params).rowcount == 1
    return insert_new(conn, insert, params)


def upsert_user(
    conn: Connection,
    *,
    tenant_id: str,
    user_id: str,
    email: str | None,
    display_name: str | None,
    status: str = "ACTIVE",
    source: str = "scaikey",
    issuer: str = SCAIKEY,
) -> None:
    """Insert or update the user; a row another issuer owns is left as it is."""
    ensure_tenant(conn, tenant_id)
    now = now_iso()
    insert = ("INSERT INTO users (id, tenant_id, email, display_name, status, source, issuer,"
              " created_at, updated_at, last_synced_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    if dialect(conn) == SQLITE:
        conflict = (
            " ON CONFLICT (id) DO UPDATE SET email = excluded.email,"
            " display_name = excluded.display_name, status = excluded.status,"
            " source = excluded.source, deleted_at = NULL, updated_at = excluded.updated_at,"
            " last_synced_at = excluded.last_synced_at WHERE users.issuer = excluded.issuer")
    else:  # no WHERE on MariaDB's upsert: each column keeps its value for another issuer
        same = "issuer = VALUES(issuer)"
        conflict = " ON DUPLICATE KEY UPDATE " + ", ".join(
            f"{column} = IF({same}, {value}, {column})" for column, value in (
                ("email", "VALUES(email)"), ("display_name", "VALUES(display_name)"),
                ("status", "VALUES(status)"), ("source", "VALUES(source)"),
                ("deleted_at", "NULL"), ("updated_at", "VALUES(updated_at)"),
                ("last_synced_at", "VALUES(last_synced_at)")))
    conn.execute(
        insert + conflict,
        (user_id, tenant_id, email, display_name, status, source, issuer, now, now, now),
    )


def set_user_status(
    conn: Connection, tenant_id: str, user_id: str, *, status: str | None = None,
    deleted: bool | None = None,
) -> bool:
    sets: list[str] = ["updated_at = ?"]
    params: list[Any] = [now_iso()]
    if status is not None:
        sets.append("status = ?")
        params.append(status)
    if deleted is not None:
        sets.append("deleted_at = ?")
        params.append(now_iso() if deleted else None)
    cursor = conn.execute(
        f"UPDATE users SET {', '.join(sets)} WHERE id = ? AND tenant_id = ?",
        (*params, user_id, tenant_id),
    )
    return cursor.rowcount == 1


def set_admin_role(
    conn: Connection, tenant_id: str, user_id: str, role: str | None, source: str | None
) -> bool:
    cursor = conn.execute(
        "UPDATE users SET admin_role = ?, admin_role_source = ?, updated_at = ?"
        " WHERE id = ? AND tenant_id = ?",
        (role, source if role else None, now_iso(), user_id, tenant_id),
    )
    return cursor.rowcount == 1


def list_users(
    conn: Connection,
    *,
    tenant_id: str | None,
    search: str | None = None,
    include_deleted: bool = False,
    limit: int = 500,
    group_id: str | None = None,
    after: tuple[str, str] | None = None,
) -> list[Row]:
    """Users by tenant then id, after the keyset `after` (tenant id, user id); the
    (tenant_id, id) index serves the order, so a page reads `limit` rows plus the ones the
    filters skip."""
    clauses: list[str] = []
    params: list[Any] = []
    if tenant_id is not None:
        clauses.append("tenant_id = ?")
        params.append(tenant_id)
    if after is not None:
        clauses.append("(tenant_id, id) > (?, ?)")
        params.extend(after)
    if group_id is not None:  # live members of the group
        clauses.append("id IN (SELECT user_id FROM memberships WHERE group_id = ?"
                       " AND deleted_at IS NULL)")
        params.append(group_id)
    if not include_deleted:
        clauses.append("deleted_at IS NULL")
    if search:
        clauses.append("(instr(lower(coalesce(email, '')), ?) > 0"
                       " OR instr(lower(coalesce(display_name, '')), ?) > 0"
                       " OR instr(lower(id), ?) > 0)")
        needle = search.lower()
        params.extend([needle, needle, needle])
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    return conn.execute(
        f"SELECT {USER_COLUMNS} FROM users {where} ORDER BY tenant_id, id LIMIT ?",
        (*params, limit),
    ).fetchall()


def count_super_admins(conn: Connection) -> int:
    row = conn.execute(
        "SELECT count(*) FROM users WHERE admin_role = 'super_admin' AND deleted_at IS NULL"
    ).fetchone()
    return int(row[0])


def count_other_active_super_admins(conn: Connection, user_id: str) -> int:
    """Super admins besides `user_id` who can still act: live (not soft-deleted), ACTIVE."""
    row = conn.execute(
        "SELECT count(*) FROM users WHERE admin_role = 'super_admin' AND deleted_at IS NULL"
        " AND status = 'ACTIVE' AND id != ?", (user_id,)).fetchone()
    return int(row[0])


def groups_of(conn: Connection, tenant_id: str, user_id: str) -> list[Row]:
    return conn.execute(
        "SELECT g.id, g.name FROM memberships m JOIN groups g ON g.id = m.group_id"
        " WHERE m.user_id = ? AND m.tenant_id = ? AND m.deleted_at IS NULL"
        " AND g.deleted_at IS NULL ORDER BY g.name, g.id",
        (user_id, tenant_id),
    ).fetchall()


def principal_exists(
    conn: Connection, tenant_id: str, principal_type: str, principal_id: str
) -> bool:
    table = "users" if principal_type == "user" else "groups"
    row = conn.execute(
        f"SELECT 1 FROM {table} WHERE id = ? AND tenant_id = ? AND deleted_at IS NULL",
        (principal_id, tenant_id),
    ).fetchone()
    return row is not None


def upsert_group(conn: Connection, tenant_id: str, group_id: str, name: str) -> None:
    now = now_iso()
    conflict = (" ON CONFLICT (id) DO UPDATE SET name = excluded.name, deleted_at = NULL,"
                " updated_at = excluded.updated_at" if dialect(conn) == SQLITE else
                " ON DUPLICATE KEY UPDATE name = VALUES(name), deleted_at = NULL,"
                " updated_at = VALUES(updated_at)")
    conn.execute(
        "INSERT INTO groups (id, tenant_id, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)"
        + conflict,
        (group_id, tenant_id, name, now, now),
    )


def add_membership(conn: Connection, tenant_id: str, group_id: str, user_id: str) -> None:
    conflict = (" ON CONFLICT (group_id, user_id) DO UPDATE SET deleted_at = NULL"
                if dialect(conn) == SQLITE else " ON DUPLICATE KEY UPDATE deleted_at = NULL")
    conn.execute(
        "INSERT INTO memberships (group_id, user_id, tenant_id, created_at) VALUES (?, ?, ?, ?)"
        + conflict,
        (group_id, user_id, tenant_id, now_iso()),
    )


def remove_membership(
    conn: Connection, tenant_id: str, group_id: str, user_id: str
) -> None:
    conn.execute(
        "UPDATE memberships SET deleted_at = ? WHERE group_id = ? AND user_id = ?"
        " AND tenant_id = ?",
        (now_iso(), group_id, user_id, tenant_id),
    )
