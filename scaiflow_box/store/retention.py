"""Deleting rows older than their retention period: audit entries and webhook event ids.

Each call deletes at most one bounded chunk, so a write job never holds the writer for long;
the caller repeats while a chunk comes back full. Timestamps are RFC 3339 UTC strings of one
width, so they compare as text.
"""

from __future__ import annotations

from scaiflow_box.store.engine import SQLITE, Connection, dialect

AUDIT_CHUNK = 5_000
WEBHOOK_CHUNK = 5_000


def prune_audit_chunk(conn: Connection, before: str, limit: int = AUDIT_CHUNK) -> int:
    """Delete up to `limit` of the oldest audit rows written before `before`.

    Rows are appended in time order, so the oldest are the lowest ids: the chunk is the run of
    old rows at the start of the table, found without scanning the rest (an entry out of
    order, after a clock step, only waits for the next run).
    """
    rows = conn.execute("SELECT id, at FROM audit_log ORDER BY id LIMIT ?", (limit,)).fetchall()
    last_old: int | None = None
    for row_id, at in rows:
        if at >= before:
            break
        last_old = row_id
    if last_old is None:
        return 0
    return conn.execute("DELETE FROM audit_log WHERE id <= ?", (last_old,)).rowcount


def prune_webhook_events_chunk(conn: Connection, before: str,
                               limit: int = WEBHOOK_CHUNK) -> int:
    """Forget up to `limit` webhook event ids received before `before` (the dedupe window,
    SPEC §13: a replay older than that is refused by its timestamp anyway)."""
    if dialect(conn) == SQLITE:
        return conn.execute(
            "DELETE FROM webhook_events WHERE rowid IN (SELECT rowid FROM webhook_events"
            " WHERE received_at < ? LIMIT ?)", (before, limit)).rowcount
    # MariaDB has no rowid, and takes LIMIT on a DELETE itself.
    return conn.execute("DELETE FROM webhook_events WHERE received_at < ? LIMIT ?",
                        (before, limit)).rowcount
