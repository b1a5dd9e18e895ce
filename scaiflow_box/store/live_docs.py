"""Live documents (SPEC §15): each flow's Yjs document as a snapshot plus the updates stored
after it (migration 007). Every query takes the tenant id."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from scaiflow_box.store.engine import SQLITE, Connection, dialect


@dataclass(frozen=True)
class StoredDocument:
    snapshot: bytes | None
    # (id, update) in arrival order, after the snapshot
    updates: list[tuple[int, bytes]]

    @property
    def last_id(self) -> int:
        return self.updates[-1][0] if self.updates else 0

    @property
    def size(self) -> int:
        return len(self.snapshot or b"") + sum(len(data) for _, data in self.updates)


def load(conn: Connection, tenant_id: str, flow_id: str) -> StoredDocument:
    row = conn.execute(
        "SELECT snapshot, snapshot_through FROM live_docs WHERE flow_id = ? AND tenant_id = ?",
        (flow_id, tenant_id)).fetchone()
    updates = [(int(r[0]), bytes(r[1])) for r in conn.execute(
        "SELECT id, data FROM live_doc_updates WHERE flow_id = ? AND tenant_id = ?"
        " ORDER BY id", (flow_id, tenant_id))]
    return StoredDocument(bytes(row[0]) if row is not None else None, updates)


def append_updates(conn: Connection, tenant_id: str, flow_id: str,
                   updates: Iterable[bytes], now: str) -> list[int]:
    """Store updates in order; their ids."""
    ids: list[int] = []
    for data in updates:
        cursor = conn.execute(
            "INSERT INTO live_doc_updates (flow_id, tenant_id, data, created_at)"
            " VALUES (?, ?, ?, ?)", (flow_id, tenant_id, data, now))
        ids.append(int(cursor.lastrowid or 0))
    return ids


def compact(conn: Connection, tenant_id: str, flow_id: str, *, snapshot: bytes,
            folded_ids: Iterable[int], through: int, now: str) -> None:
    """Replace the snapshot and delete the updates it now holds (`folded_ids`); updates it
    does not hold (pending ones, or rows another writer added) stay."""
    if dialect(conn) == SQLITE:
        conflict = (" ON CONFLICT (flow_id) DO UPDATE SET"
                    " snapshot = excluded.snapshot, snapshot_through = excluded.snapshot_through,"
                    " updated_at = excluded.updated_at"
                    " WHERE live_docs.tenant_id = excluded.tenant_id")
    else:  # no WHERE on MariaDB's upsert: each column keeps its value for another tenant
        same = "tenant_id = VALUES(tenant_id)"
        conflict = (f" ON DUPLICATE KEY UPDATE snapshot = IF({same}, VALUES(snapshot), snapshot),"
                    f" snapshot_through = IF({same}, VALUES(snapshot_through),"
                    " snapshot_through),"
                    f" updated_at = IF({same}, VALUES(updated_at), updated_at)")
    conn.execute(
        "INSERT INTO live_docs (flow_id, tenant_id, snapshot, snapshot_through, updated_at)"
        " VALUES (?, ?, ?, ?, ?)" + conflict,
        (flow_id, tenant_id, snapshot, through, now))
    conn.executemany("DELETE FROM live_doc_updates WHERE id = ? AND flow_id = ? AND tenant_id = ?",
                     [(update_id, flow_id, tenant_id) for update_id in folded_ids])

