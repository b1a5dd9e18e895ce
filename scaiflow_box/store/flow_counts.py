"""Live (not soft-deleted) flows per tenant and per owner: what a flow list's `total` and the
super admin's tenant overview read, instead of counting every live flow.

- **SQLite** keeps them in `flow_counts` and `flow_owner_counts`, kept by triggers (its
  migrations 002 and 008): one writer, one row per tenant and per owner.
- **MariaDB** keeps them in `flow_live_counts`, one row per (tenant, owner, *shard*), written by
  this module in the transaction that changes the flow (its migration 013 dropped the
  triggers). The shard is the writing process's id (`MariaDbConnection.counter_shard`), so
  two processes never write one counter row: on Galera a shared counter row made every two
  creates of a tenant through two nodes a certification conflict, and a write aborted while
  its trigger ran sometimes failed with "Trigger ... has an error in its body" (1064) instead
  (docs/scale-out.md, phase 4). A count is the sum of its shards: exact whatever the
  interleaving. The writer folds the shards of processes gone for good (their change head
  pruned, store/changes.py) into shard `''`, in one transaction that locks them first, so two
  processes folding the same shard move its counts once.

Flows are never deleted for good (a tenant with flows cannot be removed, store/tenants.py), so
a flow's row changes the counts only when it is inserted, soft-deleted, restored or moved to
another owner: `created` and `changing` are called by store/flows.py, the only place that
writes those rows.
"""

from __future__ import annotations

from typing import Any

from scaiflow_box.store.engine import SQLITE, Connection, dialect

# Shards of gone processes folded per upkeep pass (each a transaction's worth of rows).
FOLD_SHARDS = 10

_ADD = ("INSERT INTO flow_live_counts (tenant_id, owner_id, shard, live) VALUES (?, ?, ?, ?)"
        " ON DUPLICATE KEY UPDATE live = live + VALUES(live)")


def _shard(conn: Connection) -> str:
    return str(getattr(conn, "counter_shard", ""))


def created(conn: Connection, tenant_id: str, owner_id: str) -> None:
    """A live flow of `owner_id` was inserted (SQLite: its triggers count it)."""
    if dialect(conn) != SQLITE:
        conn.execute(_ADD, (tenant_id, owner_id, _shard(conn), 1))


def changing(conn: Connection, tenant_id: str, flow_id: str, fields: dict[str, Any],
             current: Any | None) -> None:
    """Before `UPDATE flows SET fields` of one flow: move the counts when the update makes it
    live or not live or gives it another owner. `current`: the row as this transaction read
    it locked (owner_id, deleted_at), else it is read here, locked (SQLite: its triggers
    count)."""
    if dialect(conn) == SQLITE or ("deleted_at" not in fields and "owner_id" not in fields):
        return
    if current is None:
        current = conn.execute("SELECT owner_id, deleted_at FROM flows WHERE id = ?"
                               " AND tenant_id = ? FOR UPDATE", (flow_id, tenant_id)).fetchone()
        if current is None:  # the UPDATE changes nothing either
            return
    was_live, owner = current["deleted_at"] is None, current["owner_id"]
    is_live = fields.get("deleted_at", current["deleted_at"]) is None
    new_owner = fields.get("owner_id", owner)
    if (was_live, owner) == (is_live, new_owner):
        return
    shard = _shard(conn)
    moves = ([(tenant_id, owner, shard, -1)] if was_live else []) + (
        [(tenant_id, new_owner, shard, 1)] if is_live else [])
    conn.executemany(_ADD, moves)


def tenant_total(conn: Connection, tenant_id: str) -> int:
    """The tenant's live flows."""
    if dialect(conn) == SQLITE:
        row = conn.execute("SELECT live FROM flow_counts WHERE tenant_id = ?",
                           (tenant_id,)).fetchone()
    else:
        row = conn.execute("SELECT SUM(live) FROM flow_live_counts WHERE tenant_id = ?",
                           (tenant_id,)).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def owner_total(conn: Connection, tenant_id: str, owner_id: str) -> int:
    """The live flows `owner_id` owns in the tenant."""
    if dialect(conn) == SQLITE:
        row = conn.execute("SELECT live FROM flow_owner_counts WHERE tenant_id = ?"
                           " AND owner_id = ?", (tenant_id, owner_id)).fetchone()
    else:
        row = conn.execute("SELECT SUM(live) FROM flow_live_counts WHERE tenant_id = ?"
                           " AND owner_id = ?", (tenant_id, owner_id)).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def tenant_total_sql(conn: Connection, tenant_column: str) -> str:
    """A scalar subquery: the live flows of the tenant `tenant_column` names."""
    if dialect(conn) == SQLITE:
        return (f"coalesce((SELECT live FROM flow_counts c WHERE c.tenant_id = {tenant_column}),"
                " 0)")
    return (f"coalesce((SELECT SUM(live) FROM flow_live_counts c"
            f" WHERE c.tenant_id = {tenant_column}), 0)")


def tables(conn: Connection) -> tuple[str, ...]:
    """The tables holding the counts (removed with their tenant)."""
    return ("flow_counts", "flow_owner_counts") if dialect(conn) == SQLITE else (
        "flow_live_counts",)


def fold_gone_shards(conn: Connection, limit: int = FOLD_SHARDS) -> int:
    """Fold the shards of processes without a change head (gone for good) into shard `''`,
    in `conn`'s transaction (the caller commits): shards folded. MariaDB only."""
    if dialect(conn) == SQLITE:
        return 0
    gone = [str(r[0]) for r in conn.execute(
        "SELECT DISTINCT shard FROM flow_live_counts WHERE shard <> '' AND shard NOT IN"
        " (SELECT process_id FROM change_heads) LIMIT ?", (limit,)).fetchall()]
    for shard in gone:
        rows = conn.execute("SELECT tenant_id, owner_id, live FROM flow_live_counts"
                            " WHERE shard = ? FOR UPDATE", (shard,)).fetchall()
        if rows:
            conn.executemany(_ADD, [(r[0], r[1], "", r[2]) for r in rows])
            conn.execute("DELETE FROM flow_live_counts WHERE shard = ?", (shard,))
    return len(gone)
