-- Live editing (SPEC §15): each flow's Yjs document as the box's replica last compacted it
-- (`live_docs.snapshot`, one Yjs update holding the whole document) plus the updates the
-- editors sent since (`live_doc_updates`, in arrival order). Loading a document applies the
-- snapshot, then the updates; compaction folds the updates into a new snapshot.
--
-- `live_doc_updates.id` is AUTOINCREMENT so an id is never reused after compaction deletes
-- the newest rows: a later reader that tails the table by id (several processes serving one
-- flow, docs/decisions.md) never mistakes a new row for one it has seen.

CREATE TABLE live_docs (
  flow_id TEXT PRIMARY KEY REFERENCES flows (id) ON DELETE CASCADE,
  tenant_id TEXT NOT NULL,
  snapshot BLOB NOT NULL,
  -- the highest live_doc_updates.id folded into the snapshot
  snapshot_through INTEGER NOT NULL,
  updated_at TEXT NOT NULL
);

CREATE TABLE live_doc_updates (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  flow_id TEXT NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
  tenant_id TEXT NOT NULL,
  data BLOB NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX live_doc_updates_flow ON live_doc_updates (flow_id, id);
