"""Tenants as a whole: what a tenant holds, and removing an empty one.

Every table with a `tenant_id` column is named below in exactly one role (a test holds this,
so a new tenant table must say what deleting a tenant means for it):

- HOLDINGS: rows that make a tenant not empty (deleting it would lose them);
- REMOVED_WITH_TENANT: rows that go with the tenant (nothing is lost: users created just in
  time from a token, which the next token recreates; data keys, which protect nothing once
  the tenant has no stored secret; the live-flow counters);
- KEPT_AS_HISTORY: rows that stay after it (the audit log, expired or revoked service tokens,
  webhook receipts), so "who did what" survives the tenant;
- FOLLOW_HOLDINGS: rows that exist only beside a holding (a flow's versions, ACLs,
  deployments and live document; a group's memberships; a catalog package's versions and
  visibility groups), so an empty tenant has none;
- PRUNED_ON_THEIR_OWN: rows each process deletes after minutes whatever they name (the change
  log, store/changes.py: only its writer deletes them, and pollers treat a row missing
  early as "drop everything").
"""

from __future__ import annotations

from scaiflow_box.store import flow_counts
from scaiflow_box.store.engine import SQLITE, Connection, dialect
from scaiflow_box.timestamps import now_iso

# (table, extra condition, what the operator is told); each condition is ANDed with
# `tenant_id = :tenant`, and `:now` is the current time.
HOLDINGS: tuple[tuple[str, str, str], ...] = (
    ("flows", "", "flow(s), deleted ones included (their versions are kept forever)"),
    ("catalog_packages", "",
     "catalog package(s), deleted ones included (their versions are kept forever)"),
    ("groups", "", "group(s)"),
    ("users", "AND NOT (source = 'token' AND admin_role IS NULL)",
     "user(s) synced from ScaiKey, made by init, or holding an admin role"),
    ("tenant_secrets", "", "stored credential value(s) (ScaiGrid key, base URL)"),
    ("service_tokens", "AND revoked_at IS NULL AND expires_at > :now",
     "live service token(s) (revoke them first: a token would bring the tenant back)"),
)
REMOVED_WITH_TENANT: tuple[tuple[str, str], ...] = (
    ("users", "AND source = 'token' AND admin_role IS NULL"),
    ("data_keys", ""),
)
KEPT_AS_HISTORY = frozenset({"audit_log", "service_tokens", "webhook_events"})
FOLLOW_HOLDINGS = frozenset({"flow_versions", "flow_acls", "deployments", "memberships",
                             "live_docs", "live_doc_updates", "catalog_versions",
                             "catalog_package_groups"})
PRUNED_ON_THEIR_OWN = frozenset({"change_log"})


def tenant_tables(conn: Connection) -> set[str]:
    """Every table of the database that has a `tenant_id` column (the engine's catalog: only
    the tests ask, to hold the lists above complete)."""
    if dialect(conn) != SQLITE:
        return {str(row[0]) for row in conn.execute(
            "SELECT table_name FROM information_schema.columns"
            " WHERE table_schema = DATABASE() AND column_name = 'tenant_id'")}
    names = [row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    return {name for name in names
            if any(column[1] == "tenant_id"
                   for column in conn.execute(f"PRAGMA table_info({name})"))}


def holdings(conn: Connection, tenant_id: str) -> list[tuple[int, str]]:
    """What stops this tenant's deletion: (count, what) for each kind it holds."""
    found = []
    for table, condition, what in HOLDINGS:
        [count] = conn.execute(
            f"SELECT count(*) FROM {table} WHERE tenant_id = :tenant {condition}",
            {"tenant": tenant_id, "now": now_iso()}).fetchone()
        if count:
            found.append((int(count), what))
    return found


def delete_tenant(conn: Connection, tenant_id: str) -> dict[str, int]:
    """Remove the tenant and the rows that go with it; the caller has checked `holdings`
    in the same transaction. Returns the rows removed per table."""
    removed: dict[str, int] = {}
    counters = tuple((table, "") for table in flow_counts.tables(conn))
    for table, condition in (*REMOVED_WITH_TENANT, *counters):
        cursor = conn.execute(f"DELETE FROM {table} WHERE tenant_id = :tenant {condition}",
                              {"tenant": tenant_id})
        if cursor.rowcount:
            removed[table] = cursor.rowcount
    conn.execute("DELETE FROM tenants WHERE id = ?", (tenant_id,))
    return removed


def has_service_tokens(conn: Connection, tenant_id: str) -> bool:
    """Whether a service token was ever minted for the tenant (its row appears at first use)."""
    [found] = conn.execute("SELECT EXISTS (SELECT 1 FROM service_tokens WHERE tenant_id = ?)",
                           (tenant_id,)).fetchone()
    return bool(found)
