-- Leases: which process runs the work only one should run at a time (the scheduled ScaiKey
-- directory sync, retention), once several processes share one database (docs/scale-out.md
-- §3). A lease is held until `expires_at` (seconds since the epoch) by `holder` (a process
-- id); the holder renews it well before then, and another process may take it only after
-- it expired. `fence` grows by one each time the lease changes hands, so work can be tagged
-- with the holder's turn. One row per lease, made here: taking a lease is then one UPDATE
-- in every dialect. On one box the only process always holds them.

CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL DEFAULT '',
    fence INTEGER NOT NULL DEFAULT 0,
    expires_at REAL NOT NULL DEFAULT 0
);

INSERT INTO leases (name) VALUES ('directory_sync'), ('retention');
