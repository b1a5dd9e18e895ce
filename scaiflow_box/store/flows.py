"""Flows and their append-only versions. Every query takes the tenant id."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

# `summary` is the FlowSummary JSON SQLite keeps up to date (migration 008).
SUMMARY_COLUMNS = (
    "id, name, description, owner_id, tenant_id, version, version_seq, meta_rev, created_at,"
    " updated_at, deleted_at, CAST(summary AS BLOB) AS summary"
)


def storage_key(tenant_id: str, flow_id: str, version: str) -> str:
    """The logical key of a version's content [upstream layout]."""
    return f"flows/{tenant_id}/{flow_id}/v{version}.flow.json"


def tenant_of_flow(conn: sqlite3.Connection, flow_id: str) -> str | None:
    """The tenant owning a flow id. Only for super admins' platform-wide actions (ownership
    transfer); everything tenant-scoped goes through `get_flow` with the caller's tenant."""
    row = conn.execute("SELECT tenant_id FROM flows WHERE id = ?", (flow_id,)).fetchone()
    return None if row is None else str(row[0])


def get_flow(
    conn: sqlite3.Connection, tenant_id: str, flow_id: str, *, include_deleted: bool = False
) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        f"SELECT {SUMMARY_COLUMNS} FROM flows WHERE id = ? AND tenant_id = ?",
        (flow_id, tenant_id),
    ).fetchone()
    if row is not None and row["deleted_at"] is not None and not include_deleted:
        return None
    return row


def get_version(
    conn: sqlite3.Connection, tenant_id: str, flow_id: str, version: str
) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT version, seq, content, sha256, size_bytes, created_by, created_at"
        " FROM flow_versions WHERE flow_id = ? AND version = ? AND tenant_id = ?",
        (flow_id, version, tenant_id),
    ).fetchone()
    return row


def list_versions(
    conn: sqlite3.Connection, tenant_id: str, flow_id: str, *, before_seq: int | None, limit: int
) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT version, seq, created_at, created_by, sha256, size_bytes FROM flow_versions"
        " WHERE flow_id = ? AND tenant_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
        (flow_id, tenant_id, before_seq if before_seq is not None else 2**62, limit),
    ).fetchall()


def previous_version(
    conn: sqlite3.Connection, tenant_id: str, flow_id: str, seq: int
) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT version, seq, content FROM flow_versions WHERE flow_id = ? AND tenant_id = ?"
        " AND seq < ? ORDER BY seq DESC LIMIT 1",
        (flow_id, tenant_id, seq),
    ).fetchone()
    return row


def insert_flow(
    conn: sqlite3.Connection,
    *,
    flow_id: str,
    tenant_id: str,
    name: str,
    description: str,
    owner_id: str,
    version: str,
    now: str,
) -> None:
    conn.execute(
        "INSERT INTO flows (id, tenant_id, name, description, owner_id, version, version_seq,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)",
        (flow_id, tenant_id, name, description, owner_id, version, now, now),
    )


def insert_version(
    conn: sqlite3.Connection,
    *,
    flow_id: str,
    tenant_id: str,
    seq: int,
    version: str,
    content: bytes,
    sha256: str,
    created_by: str,
    now: str,
) -> None:
    conn.execute(
        "INSERT INTO flow_versions (flow_id, seq, tenant_id, version, storage_key, content,"
        " sha256, size_bytes, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (flow_id, seq, tenant_id, version, storage_key(tenant_id, flow_id, version), content,
         sha256, len(content), created_by, now),
    )


def update_flow(
    conn: sqlite3.Connection, tenant_id: str, flow_id: str, **fields: Any
) -> None:
    if not fields:
        return
    assignments = ", ".join(f"{name} = ?" for name in fields)
    conn.execute(
        f"UPDATE flows SET {assignments} WHERE id = ? AND tenant_id = ?",
        (*fields.values(), flow_id, tenant_id),
    )


@dataclass(frozen=True)
class SummaryPage:
    """A page of stored FlowSummary JSON documents, newest first."""

    items: list[bytes]
    last_key: tuple[str, str] | None  # (created_at, id) of the last item when more follow
    total: int


# The flows granted to a user directly or through a live group membership (SPEC §2.3). Its
# size is the number of grants, which an admin makes one by one; what a member owns is read
# from the owner index instead. CROSS JOIN fixes the order SQLite reads the tables in: from
# the user's grants and memberships outwards, never from all of the tenant's flows or ACLs
# (`+m.tenant_id` keeps SQLite on the user's memberships, not the tenant's).
_GRANTED = (
    "SELECT flow_id FROM flow_acls WHERE tenant_id = :tenant AND principal_type = 'user'"
    " AND principal_id = :user"
    " UNION SELECT a.flow_id FROM memberships m CROSS JOIN groups g CROSS JOIN flow_acls a"
    " WHERE m.user_id = :user AND +m.tenant_id = :tenant AND m.deleted_at IS NULL"
    " AND g.id = m.group_id AND g.deleted_at IS NULL AND a.tenant_id = :tenant"
    " AND a.principal_type = 'group' AND a.principal_id = m.group_id"
)
_GRANTED_FLOWS = f"({_GRANTED}) AS granted CROSS JOIN flows ON flows.id = granted.flow_id"
_NEWEST_FIRST = " ORDER BY created_at DESC, id DESC"
_PAGE_COLUMNS = "CAST(summary AS BLOB) AS s, created_at, id"


def list_summaries(
    conn: sqlite3.Connection,
    *,
    tenant_id: str,
    user_id: str,
    can_see_all: bool,
    search: str | None,
    after: tuple[str, str] | None,
    limit: int,
) -> SummaryPage:
    """The flows the user can view, newest first, as stored summary JSON, and how many there
    are in all (ignoring the cursor).

    Without `search` a page costs `limit` index entries for admins and owners, plus the
    user's grants for members (the live-flow indexes serve both orders); `total` is a
    maintained count plus, for members, a count over their grants. With `search` the
    matching flows are found by a scan of the visible ones.
    """
    params: dict[str, Any] = {"tenant": tenant_id, "user": user_id, "limit": limit + 1}
    filters = ""
    if search:
        filters += " AND instr(lower(name), :needle) > 0"
        params["needle"] = search.lower()
    page_filters = filters
    if after is not None:
        page_filters += " AND (created_at, id) < (:after_at, :after_id)"
        params["after_at"], params["after_id"] = after
    live = "tenant_id = :tenant AND deleted_at IS NULL"
    owned = f"{live} AND owner_id = :user"
    granted = f"{live} AND owner_id != :user"
    conn.execute("BEGIN")  # one snapshot for the page and its total
    try:
        if can_see_all:
            rows = conn.execute(
                f"SELECT {_PAGE_COLUMNS} FROM flows WHERE {live}{page_filters}"
                f"{_NEWEST_FIRST} LIMIT :limit", params).fetchall()
            if search:
                total = _count(conn, f"{live}{filters}", params)
            else:
                row = conn.execute("SELECT live FROM flow_counts WHERE tenant_id = ?",
                                   (tenant_id,)).fetchone()
                total = int(row[0]) if row else 0
        else:
            # Each part is read newest first and cut at `limit`: the page is the newest
            # `limit` of their union (a flow is either owned or granted, never both here).
            rows = conn.execute(
                f"SELECT * FROM (SELECT {_PAGE_COLUMNS} FROM flows WHERE {owned}{page_filters}"
                f"{_NEWEST_FIRST} LIMIT :limit) UNION ALL"
                f" SELECT * FROM (SELECT {_PAGE_COLUMNS} FROM {_GRANTED_FLOWS} WHERE {granted}"
                f"{page_filters}{_NEWEST_FIRST} LIMIT :limit)"
                f"{_NEWEST_FIRST} LIMIT :limit", params).fetchall()
            if search:
                total = _count(conn, f"{owned}{filters}", params)
            else:
                row = conn.execute(
                    "SELECT live FROM flow_owner_counts WHERE tenant_id = ? AND owner_id = ?",
                    (tenant_id, user_id)).fetchone()
                total = int(row[0]) if row else 0
            total += _count(conn, f"{granted}{filters}", params, source=_GRANTED_FLOWS)
    finally:
        conn.execute("COMMIT")
    more = len(rows) > limit
    page = rows[:limit]
    return SummaryPage(items=[r[0] for r in page],
                       last_key=(page[-1][1], page[-1][2]) if more else None, total=total)


def _count(conn: sqlite3.Connection, where: str, params: dict[str, Any],
           source: str = "flows") -> int:
    return int(conn.execute(f"SELECT count(*) FROM {source} WHERE {where}", params)
               .fetchone()[0])


def list_tenant_flows(
    conn: sqlite3.Connection,
    *,
    tenant_id: str,
    search: str | None,
    include_deleted: bool,
    after: tuple[str, str] | None,
    limit: int,
) -> tuple[list[sqlite3.Row], int]:
    """Every flow of the tenant (a tenant admin's view), newest first, with its owner's e-mail
    and name, plus the total matching (ignoring the cursor)."""
    params: dict[str, Any] = {"tenant": tenant_id, "limit": limit}
    where = "f.tenant_id = :tenant"
    if not include_deleted:
        where += " AND f.deleted_at IS NULL"
    if search:
        where += " AND instr(lower(f.name), :needle) > 0"
        params["needle"] = search.lower()
    total = int(conn.execute(f"SELECT count(*) FROM flows f WHERE {where}", params)
                .fetchone()[0])
    if after is not None:
        where += " AND (f.created_at, f.id) < (:after_at, :after_id)"
        params["after_at"], params["after_id"] = after
    rows = conn.execute(
        "SELECT f.id, f.name, f.description, f.owner_id, u.email AS owner_email,"
        " u.display_name AS owner_display_name, f.version, f.created_at, f.updated_at,"
        " f.deleted_at FROM flows f LEFT JOIN users u ON u.id = f.owner_id"
        f" AND u.tenant_id = f.tenant_id WHERE {where}"
        " ORDER BY f.created_at DESC, f.id DESC LIMIT :limit", params).fetchall()
    return rows, total
