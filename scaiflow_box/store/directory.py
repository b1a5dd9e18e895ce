"""The directory mirror as sync and webhooks change it (SPEC §12, §13): per-tenant snapshots,
soft deletes, the super-admin election's queries, the webhook dedupe table and the last
sync's record. Users, groups and memberships themselves are in `store/users.py`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scaiflow_box.store.engine import SQLITE, Connection, Row, dialect, insert_new
from scaiflow_box.store.keys import get_meta, set_meta
from scaiflow_box.timestamps import now_iso

LAST_SYNC_META = "directory_sync.last"
# Tenants ScaiKey knows nothing of: the local tenant `init` makes on a box without ScaiKey.
LOCAL_TENANT_SOURCES = ("bootstrap",)


def tenants_to_sync(conn: Connection) -> list[str]:
    """Every tenant of the mirror that came from ScaiKey (tokens, sync, webhooks)."""
    marks = ", ".join("?" for _ in LOCAL_TENANT_SOURCES)
    return [row[0] for row in conn.execute(
        f"SELECT id FROM tenants WHERE source NOT IN ({marks}) ORDER BY id",
        LOCAL_TENANT_SOURCES)]


def users_of_tenant(conn: Connection, tenant_id: str) -> dict[str, Row]:
    return {row["id"]: row for row in conn.execute(
        "SELECT id, email, display_name, status, source, issuer, deleted_at, admin_role,"
        " admin_role_source FROM users WHERE tenant_id = ?", (tenant_id,))}


def groups_of_tenant(conn: Connection, tenant_id: str) -> dict[str, Row]:
    return {row["id"]: row for row in conn.execute(
        "SELECT id, name, deleted_at FROM groups WHERE tenant_id = ?", (tenant_id,))}


def memberships_of_tenant(conn: Connection, tenant_id: str
                          ) -> dict[tuple[str, str], str | None]:
    """(group id, user id) → deleted_at."""
    return {(row[0], row[1]): row[2] for row in conn.execute(
        "SELECT group_id, user_id, deleted_at FROM memberships WHERE tenant_id = ?",
        (tenant_id,))}


def tenant_of_user(conn: Connection, user_id: str) -> str | None:
    row = conn.execute("SELECT tenant_id FROM users WHERE id = ?", (user_id,)).fetchone()
    return None if row is None else str(row[0])


def is_local_user(conn: Connection, user_id: str) -> bool:
    """Whether the id is this appliance's own user (bootstrap, service-token subject): ScaiKey's
    directory never changes such a row (SPEC §2.1)."""
    row = conn.execute("SELECT 1 FROM users WHERE id = ? AND issuer = 'local'",
                       (user_id,)).fetchone()
    return row is not None


def tenant_of_group(conn: Connection, group_id: str) -> str | None:
    row = conn.execute("SELECT tenant_id FROM groups WHERE id = ?", (group_id,)).fetchone()
    return None if row is None else str(row[0])


def upsert_user_fields(conn: Connection, *, tenant_id: str, user_id: str,
                       fields: dict[str, Any], undelete: bool) -> None:
    """Insert the user, or update only the given fields (`email`, `display_name`, `status`);
    the row becomes ScaiKey's (source `scaikey`, `last_synced_at` now). A local user's row
    (issuer `local`) is never touched: callers skip or refuse those first."""
    now = now_iso()
    conflict = (" ON CONFLICT (id) DO NOTHING" if dialect(conn) == SQLITE
                else " ON DUPLICATE KEY UPDATE id = id")
    conn.execute(
        "INSERT INTO users (id, tenant_id, email, display_name, status, source, issuer,"
        " created_at, updated_at, last_synced_at)"
        f" VALUES (?, ?, ?, ?, ?, 'scaikey', 'scaikey', ?, ?, ?){conflict}",
        (user_id, tenant_id, fields.get("email"), fields.get("display_name"),
         fields.get("status", "ACTIVE"), now, now, now))
    sets = ["source = 'scaikey'", "updated_at = ?", "last_synced_at = ?"]
    params: list[Any] = [now, now]
    for name in ("email", "display_name", "status"):
        if name in fields:
            sets.append(f"{name} = ?")
            params.append(fields[name])
    if undelete:
        sets.append("deleted_at = NULL")
    conn.execute(f"UPDATE users SET {', '.join(sets)} WHERE id = ? AND tenant_id = ?"
                 " AND issuer = 'scaikey'", (*params, user_id, tenant_id))


def upsert_group(conn: Connection, tenant_id: str, group_id: str,
                 name: str | None) -> None:
    """Insert or undelete the group (its name updated when given)."""
    now = now_iso()
    if dialect(conn) == SQLITE:
        conflict = (" ON CONFLICT (id) DO UPDATE SET"
                    " name = coalesce(?, groups.name), deleted_at = NULL,"
                    " updated_at = excluded.updated_at, last_synced_at = excluded.last_synced_at"
                    " WHERE groups.tenant_id = excluded.tenant_id")
    else:  # no WHERE on MariaDB's upsert: each column keeps its value for another tenant
        same = "tenant_id = VALUES(tenant_id)"
        conflict = (f" ON DUPLICATE KEY UPDATE name = IF({same}, coalesce(?, name), name),"
                    f" deleted_at = IF({same}, NULL, deleted_at),"
                    f" updated_at = IF({same}, VALUES(updated_at), updated_at),"
                    f" last_synced_at = IF({same}, VALUES(last_synced_at), last_synced_at)")
    conn.execute(
        "INSERT INTO groups (id, tenant_id, name, created_at, updated_at, last_synced_at)"
        " VALUES (?, ?, ?, ?, ?, ?)" + conflict,
        (group_id, tenant_id, name or group_id, now, now, now, name))


def soft_delete_group(conn: Connection, tenant_id: str, group_id: str) -> bool:
    cursor = conn.execute(
        "UPDATE groups SET deleted_at = ?, updated_at = ? WHERE id = ? AND tenant_id = ?"
        " AND deleted_at IS NULL", (now_iso(), now_iso(), group_id, tenant_id))
    return cursor.rowcount == 1


def soft_delete_membership(conn: Connection, tenant_id: str, group_id: str,
                           user_id: str) -> bool:
    cursor = conn.execute(
        "UPDATE memberships SET deleted_at = ? WHERE group_id = ? AND user_id = ?"
        " AND tenant_id = ? AND deleted_at IS NULL", (now_iso(), group_id, user_id, tenant_id))
    return cursor.rowcount == 1


def live_membership(conn: Connection, group_id: str, user_id: str) -> bool:
    row = conn.execute("SELECT 1 FROM memberships WHERE group_id = ? AND user_id = ?"
                       " AND deleted_at IS NULL", (group_id, user_id)).fetchone()
    return row is not None


# -- super-admin election -----------------------------------------------------------------
def ambiguous_group_names(conn: Connection, selectors: Iterable[str]) -> list[str]:
    """The selectors that are no group's id but the name of more than one live group."""
    wanted = list(dict.fromkeys(selectors))
    if not wanted:
        return []
    marks = ", ".join("?" for _ in wanted)
    rows = conn.execute(
        f"SELECT name FROM groups WHERE deleted_at IS NULL AND name IN ({marks})"
        f" AND name NOT IN (SELECT id FROM groups WHERE id IN ({marks}))"
        " GROUP BY name HAVING count(*) > 1 ORDER BY name", (*wanted, *wanted)).fetchall()
    return [str(row[0]) for row in rows]


def super_admin_group_members(conn: Connection, selectors: Iterable[str]
                              ) -> dict[str, str]:
    """user id → tenant id of every live member of a live group whose id, or whose name, is
    one of `selectors`. A name counts only when exactly one live group bears it: groups are
    created in every tenant, so a second group of the same name (in any tenant) must not be a
    way to become a super admin (`ambiguous_group_names` says which names were skipped)."""
    wanted = list(dict.fromkeys(selectors))
    if not wanted:
        return {}
    names = [n for n in wanted if n not in set(ambiguous_group_names(conn, wanted))]
    marks = ", ".join("?" for _ in wanted)
    name_marks = ", ".join("?" for _ in names) or "NULL"
    rows = conn.execute(
        "SELECT DISTINCT m.user_id, m.tenant_id FROM memberships m JOIN groups g"
        " ON g.id = m.group_id WHERE m.deleted_at IS NULL AND g.deleted_at IS NULL"
        f" AND (g.id IN ({marks}) OR g.name IN ({name_marks}))", (*wanted, *names))
    return {row[0]: row[1] for row in rows}


def users_with_role_source(conn: Connection, role: str, source: str
                           ) -> list[Row]:
    return conn.execute(
        "SELECT id, tenant_id FROM users WHERE admin_role = ? AND admin_role_source = ?"
        " ORDER BY id", (role, source)).fetchall()


def users_by_id(conn: Connection, user_ids: Iterable[str]) -> list[Row]:
    ids = list(user_ids)
    rows: list[Row] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ", ".join("?" for _ in chunk)
        rows += conn.execute(
            "SELECT id, tenant_id, issuer, admin_role, admin_role_source, deleted_at"
            f" FROM users WHERE id IN ({marks})", chunk).fetchall()
    return rows


# -- the admin router's group list ----------------------------------------------------------
def list_groups(conn: Connection, *, tenant_id: str | None, search: str | None,
                include_deleted: bool, limit: int = 500,
                after: tuple[str, str, str] | None = None) -> list[Row]:
    """Groups by tenant, name (case-insensitive) and id, after the keyset `after` (tenant id,
    name, group id), read in the order of the (tenant_id, name, id) index."""
    clauses: list[str] = []
    params: list[Any] = []
    if tenant_id is not None:
        clauses.append("g.tenant_id = ?")
        params.append(tenant_id)
    sqlite = dialect(conn) == SQLITE
    # The name ignoring case: SQLite's NOCASE, the baseline's invisible LOWER(name) column on
    # MariaDB (both read in the order of the groups_tenant_name index).
    folded = "g.name COLLATE NOCASE" if sqlite else "g.name_nocase"
    if after is not None:
        clauses.append(f"(g.tenant_id, {folded}, g.id) > (?, ?, ?)" if sqlite
                       else f"(g.tenant_id, {folded}, g.id) > (?, LOWER(?), ?)")
        params += list(after)
    if not include_deleted:
        clauses.append("g.deleted_at IS NULL")
    if search:
        clauses.append("(instr(lower(g.name), ?) > 0 OR instr(lower(g.id), ?) > 0)")
        params += [search.lower(), search.lower()]
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    return conn.execute(
        "SELECT g.id, g.tenant_id, g.name, g.deleted_at, g.created_at, g.last_synced_at,"
        " (SELECT count(*) FROM memberships m JOIN users u ON u.id = m.user_id"
        "  WHERE m.group_id = g.id AND m.deleted_at IS NULL AND u.deleted_at IS NULL)"
        f" AS member_count FROM groups g {where}"
        f" ORDER BY g.tenant_id, {folded}, g.id LIMIT ?",
        (*params, limit)).fetchall()


# -- webhook events (dedupe, activity) -------------------------------------------------------
def record_webhook_event(conn: Connection, *, event_id: str, event_type: str | None,
                         tenant_id: str | None, handled: bool, received_at: str) -> bool:
    """Remember the event; False when its id was already there (a duplicate)."""
    insert = ("INSERT INTO webhook_events (event_id, received_at, event_type, tenant_id,"
              " handled) VALUES (?, ?, ?, ?, ?)")
    params = (event_id, received_at, event_type, tenant_id, int(handled))
    if dialect(conn) == SQLITE:
        return conn.execute(f"{insert} ON CONFLICT (event_id) DO NOTHING", params).rowcount == 1
    return insert_new(conn, insert, params)


def purge_webhook_events(conn: Connection, before: str) -> int:
    return conn.execute("DELETE FROM webhook_events WHERE received_at < ?", (before,)).rowcount


def webhook_activity(conn: Connection, since: str) -> dict[str, Any]:
    row = conn.execute(
        "SELECT count(*), coalesce(sum(handled), 0) FROM webhook_events WHERE received_at >= ?",
        (since,)).fetchone()
    # Ties of received_at: the last inserted on SQLite; MariaDB has no rowid, the event id
    # decides there.
    tie = "rowid" if dialect(conn) == SQLITE else "event_id"
    last = conn.execute(
        "SELECT received_at, event_type, handled FROM webhook_events"
        f" ORDER BY received_at DESC, {tie} DESC LIMIT 1").fetchone()
    return {"received": int(row[0]), "handled": int(row[1]),
            "last_received_at": last["received_at"] if last else None,
            "last_event_type": last["event_type"] if last else None}


# -- the last sync's record -----------------------------------------------------------------
def get_last_sync(conn: Connection) -> str | None:
    return get_meta(conn, LAST_SYNC_META)


def set_last_sync(conn: Connection, value: str) -> None:
    set_meta(conn, LAST_SYNC_META, value)
