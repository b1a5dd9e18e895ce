-- The change sequence (docs/scale-out.md §3, store/changes.py): how processes sharing one
-- MariaDB database learn of each other's commits, to drop what their read caches hold. Each
-- process owns one head (`process_id`) and only that process writes it: every commit that
-- changes cached reads moves `seq` and adds one `change_log` row per changed flow (tenant and
-- flow), or one row with both NULL for "anything may have changed". `beat_at` (seconds since
-- the epoch) says the process is alive; 0 after it stopped.
-- On SQLite both tables stay empty: one box has one serving process, and another process's
-- commit (the CLI) is noticed through `PRAGMA data_version` (store/db.py).

CREATE TABLE change_heads (
    process_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    beat_at REAL NOT NULL
);

CREATE TABLE change_log (
    process_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    tenant_id TEXT,
    flow_id TEXT,
    PRIMARY KEY (process_id, seq)
);
