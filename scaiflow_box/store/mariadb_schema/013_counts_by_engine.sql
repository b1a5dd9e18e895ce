-- The live-flow counters on MariaDB become one row per tenant, owner and shard (the writing
-- process), written by store/flow_counts.py in the transaction that changes the flow: no
-- trigger, and no counter row two processes write (SQLite keeps its triggers:
-- migrations/013_counts_by_engine.sql says why). Each statement may run again: the backfill
-- recomputes shard '' from the flows, which no process changes meanwhile (a migration runs
-- with every other process stopped, mariadb_schema/upgrade.py).
DROP TRIGGER IF EXISTS flow_counts_insert
-- @@
DROP TRIGGER IF EXISTS flow_counts_soft_delete
-- @@
DROP TRIGGER IF EXISTS flow_counts_restore
-- @@
DROP TRIGGER IF EXISTS flow_counts_delete
-- @@
DROP TRIGGER IF EXISTS flow_owner_counts_insert
-- @@
DROP TRIGGER IF EXISTS flow_owner_counts_delete
-- @@
DROP TRIGGER IF EXISTS flow_owner_counts_update
-- @@
CREATE TABLE IF NOT EXISTS flow_live_counts (
  tenant_id VARCHAR(200) NOT NULL,
  owner_id VARCHAR(200) NOT NULL,
  shard VARCHAR(200) NOT NULL,
  live BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, owner_id, shard),
  KEY flow_live_counts_shard (shard)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- @@
INSERT INTO flow_live_counts (tenant_id, owner_id, shard, live)
SELECT tenant_id, owner_id, '', count(*) FROM flows WHERE deleted_at IS NULL
GROUP BY tenant_id, owner_id
ON DUPLICATE KEY UPDATE live = VALUES(live)
-- @@
DROP TABLE IF EXISTS flow_counts
-- @@
DROP TABLE IF EXISTS flow_owner_counts
