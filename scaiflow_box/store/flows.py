"""Flows and their append-only versions. Every query takes the tenant id."""

from __future__ import annotations

from typing import Any, NamedTuple, overload

import orjson

from scaiflow_box.store import flow_counts
from scaiflow_box.store.engine import SQLITE, Connection, Row, dialect

# `summary` is the FlowSummary JSON of the flow (migration 008), written with every change of
# a field it shows by `insert_flow` and `update_flow` (migration 010).
# The summary as bytes (spliced into responses as they are): BLOB is SQLite's, BINARY MariaDB's.
_ROW_COLUMNS = ("id, name, description, owner_id, tenant_id, version, version_seq, meta_rev,"
                " created_at, updated_at, deleted_at")
SUMMARY_COLUMNS = f"{_ROW_COLUMNS}, CAST(summary AS BLOB) AS summary"
MARIADB_SUMMARY_COLUMNS = f"{_ROW_COLUMNS}, CAST(summary AS BINARY) AS summary"
# The fields of a FlowSummary, in its order (SPEC §3).
SUMMARY_FIELDS = ("id", "name", "description", "owner_id", "tenant_id", "version", "created_at",
                  "updated_at")
_SUMMARY_FIELDS = frozenset(SUMMARY_FIELDS)


def summary_json(fields: dict[str, Any]) -> str:
    """The stored FlowSummary of a flow whose row holds `fields` (every SUMMARY_FIELDS key).

    The same bytes as SQLite's `json_object` in the triggers of migration 008 that made it
    until migration 010 (tests/store/test_flow_summary.py holds them equal): keys in this
    order, no spaces, non-ASCII as it is, `"` and `\\` and control characters escaped alike.
    Made here rather than in SQL because MariaDB's JSON_OBJECT prints other bytes (a space
    after each `:` and `,`), and the bytes are spliced into responses as they are."""
    return orjson.dumps({name: fields[name] for name in SUMMARY_FIELDS}).decode()


def storage_key(tenant_id: str, flow_id: str, version: str) -> str:
    """The logical key of a version's content [upstream layout]."""
    return f"flows/{tenant_id}/{flow_id}/v{version}.flow.json"


def tenant_of_flow(conn: Connection, flow_id: str) -> str | None:
    """The tenant owning a flow id. Only for super admins' platform-wide actions (ownership
    transfer); everything tenant-scoped goes through `get_flow` with the caller's tenant."""
    row = conn.execute("SELECT tenant_id FROM flows WHERE id = ?", (flow_id,)).fetchone()
    return None if row is None else str(row[0])


def get_flow(
    conn: Connection, tenant_id: str, flow_id: str, *, include_deleted: bool = False,
    for_update: bool = False,
) -> Row | None:
    """The flow's row. `for_update` (in a write job that checks the row before changing it:
    If-Match, the caller's level): on MariaDB the row is locked until the job's transaction
    ends, so another process's writer cannot change it between the check and the write
    (SQLite's single writer already serializes them: the clause is MariaDB's only)."""
    if dialect(conn) == SQLITE:
        sql = f"SELECT {SUMMARY_COLUMNS} FROM flows WHERE id = ? AND tenant_id = ?"
    else:
        sql = f"SELECT {MARIADB_SUMMARY_COLUMNS} FROM flows WHERE id = ? AND tenant_id = ?"
        if for_update:
            sql += " FOR UPDATE"
    row: Row | None = conn.execute(sql, (flow_id, tenant_id)).fetchone()
    if row is not None and row["deleted_at"] is not None and not include_deleted:
        return None
    return row


def get_version(
    conn: Connection, tenant_id: str, flow_id: str, version: str
) -> Row | None:
    row: Row | None = conn.execute(
        "SELECT version, seq, content, sha256, size_bytes, created_by, created_at"
        " FROM flow_versions WHERE flow_id = ? AND version = ? AND tenant_id = ?",
        (flow_id, version, tenant_id),
    ).fetchone()
    return row


def list_versions(
    conn: Connection, tenant_id: str, flow_id: str, *, before_seq: int | None, limit: int
) -> list[Row]:
    return conn.execute(
        "SELECT version, seq, created_at, created_by, sha256, size_bytes FROM flow_versions"
        " WHERE flow_id = ? AND tenant_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
        (flow_id, tenant_id, before_seq if before_seq is not None else 2**62, limit),
    ).fetchall()


def previous_version(
    conn: Connection, tenant_id: str, flow_id: str, seq: int
) -> Row | None:
    row: Row | None = conn.execute(
        "SELECT version, seq, content FROM flow_versions WHERE flow_id = ? AND tenant_id = ?"
        " AND seq < ? ORDER BY seq DESC LIMIT 1",
        (flow_id, tenant_id, seq),
    ).fetchone()
    return row


def insert_flow(
    conn: Connection,
    *,
    flow_id: str,
    tenant_id: str,
    name: str,
    description: str,
    owner_id: str,
    version: str,
    now: str,
) -> dict[str, Any]:
    """Insert a flow; returns its row as `get_flow` would read it back."""
    fields = {"id": flow_id, "name": name, "description": description, "owner_id": owner_id,
              "tenant_id": tenant_id, "version": version, "created_at": now, "updated_at": now}
    summary = summary_json(fields)
    conn.execute(
        "INSERT INTO flows (id, tenant_id, name, description, owner_id, version, version_seq,"
        " created_at, updated_at, summary) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?)",
        (flow_id, tenant_id, name, description, owner_id, version, now, now, summary),
    )
    flow_counts.created(conn, tenant_id, owner_id)
    return {**fields, "version_seq": 1, "meta_rev": 0, "deleted_at": None,
            "summary": summary.encode()}


def insert_version(
    conn: Connection,
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


@overload
def update_flow(conn: Connection, tenant_id: str, flow_id: str, *, current: Row,
                **fields: Any) -> dict[str, Any]: ...
@overload
def update_flow(conn: Connection, tenant_id: str, flow_id: str, *, current: None = None,
                **fields: Any) -> None: ...
def update_flow(
    conn: Connection, tenant_id: str, flow_id: str, *, current: Row | None = None,
    **fields: Any
) -> dict[str, Any] | None:
    """Set `fields` of the flow, and its summary with them when they change a field the
    summary shows (in the same statement: the summary never disagrees with its row).
    `current`: the row as this transaction read it with `get_flow(..., for_update=True)`,
    which saves reading it again for the summary and the live-flow counts
    (`flow_counts.changing`): on MariaDB a row read without the lock may be changed by another
    process before this UPDATE, and the counts would move twice.

    Returns the row as the UPDATE leaves it (`current` with `fields` and the new summary,
    as `get_flow` would read it back) when `current` was given, else None: a write job
    answers from it instead of reading the row again."""
    given = current
    # The row as a dict, made once (a row's fields by name are a lookup each).
    before = None if current is None else dict(zip(current.keys(), current, strict=True))
    if fields:
        if not _SUMMARY_FIELDS.isdisjoint(fields):
            if current is None:  # read once, locked, for the summary and the live-flow counts
                lock = "" if dialect(conn) == SQLITE else " FOR UPDATE"
                current = conn.execute(
                    f"SELECT {', '.join(SUMMARY_FIELDS)}, deleted_at FROM flows"
                    f" WHERE id = ? AND tenant_id = ?{lock}", (flow_id, tenant_id)).fetchone()
                if current is not None:
                    before = dict(zip(current.keys(), current, strict=True))
            if before is not None:  # else the UPDATE below changes nothing either
                fields = {**fields, "summary": summary_json({**before, **fields})}
        flow_counts.changing(conn, tenant_id, flow_id, fields, current)
        conn.execute(_update_sql(tuple(fields)), (*fields.values(), flow_id, tenant_id))
    if given is None or before is None:
        return None
    after = {**before, **fields}
    if "summary" in fields:  # read back as bytes (CAST(summary AS BLOB))
        after["summary"] = fields["summary"].encode()
    return after


_UPDATE_SQL: dict[tuple[str, ...], str] = {}


def _update_sql(names: tuple[str, ...]) -> str:
    """`UPDATE flows SET <names> ...`, written once per set of column names (the callers'
    keyword arguments, never input)."""
    sql = _UPDATE_SQL.get(names)
    if sql is None:
        assignments = ", ".join(f"{name} = ?" for name in names)
        sql = _UPDATE_SQL[names] = (
            f"UPDATE flows SET {assignments} WHERE id = ? AND tenant_id = ?")
    return sql


class SummaryPage(NamedTuple):
    """A page of stored FlowSummary JSON documents, newest first. Strings and tuples only:
    cached as an exact tuple, it costs the garbage collector nothing."""

    items_json: str  # the FlowSummary documents joined by commas (a JSON array's inside)
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
_KEYED_COLUMNS = "summary, created_at, id"


def list_summaries(
    conn: Connection,
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

    Without `search` a page reads `limit` entries of a live-flow index (the tenant's for
    admins, the owner's for everyone else) and, for members, every flow granted to them (a
    count of grants, not of the tenant); `total` is a maintained count plus those grants.
    With `search` the visible flows are scanned for the name.
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
    own = "" if can_see_all else " AND owner_id = :user"
    granted: list[tuple[str, str, str]] = []
    conn.execute("BEGIN")  # one snapshot for the page and its total
    try:
        if not can_see_all:
            # Flows granted to the user (never their own: those are read below), all of
            # them: they count towards `total`, and the newest after the cursor join the page.
            granted = conn.execute(
                f"SELECT {_KEYED_COLUMNS} FROM {_GRANTED_FLOWS} WHERE {live}"
                f" AND owner_id != :user{filters}", params).fetchall()
        # Only the summaries unless grants are merged in: the page's last key is read back
        # from its summary (fewer objects per row than fetching the key columns).
        columns = _KEYED_COLUMNS if granted else "summary"
        rows: list[tuple[str, ...]] = conn.execute(
            f"SELECT {columns} FROM flows WHERE {live}{own}{page_filters}{_NEWEST_FIRST}"
            " LIMIT :limit", params).fetchall()
        if search:
            total = _count(conn, f"{live}{own}{filters}", params)
        elif can_see_all:
            total = flow_counts.tenant_total(conn, tenant_id)
        else:
            total = flow_counts.owner_total(conn, tenant_id, user_id)
    finally:
        conn.execute("COMMIT")
    if granted:
        total += len(granted)
        newer = [r for r in granted if after is None or (r[1], r[2]) < after]
        rows = sorted([*rows, *newer], key=lambda r: (r[1], r[2]), reverse=True)[:limit + 1]
    page = [r[0] for r in rows[:limit]]
    last_key = None
    if len(rows) > limit:
        last = orjson.loads(page[-1])
        last_key = (last["created_at"], last["id"])
    return SummaryPage(",".join(page), last_key, total)


def _count(conn: Connection, where: str, params: dict[str, Any],
           source: str = "flows") -> int:
    return int(conn.execute(f"SELECT count(*) FROM {source} WHERE {where}", params)
               .fetchone()[0])


def list_tenant_flows(
    conn: Connection,
    *,
    tenant_id: str,
    search: str | None,
    include_deleted: bool,
    after: tuple[str, str] | None,
    limit: int,
) -> tuple[list[Row], int]:
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
