-- Live (not soft-deleted) flows per tenant, kept by triggers so that `total` of an
-- unfiltered flow list is one primary-key read instead of a count over every flow.

CREATE TABLE flow_counts (
  tenant_id TEXT PRIMARY KEY,
  live INTEGER NOT NULL DEFAULT 0
);

INSERT INTO flow_counts (tenant_id, live)
SELECT tenant_id, count(*) FROM flows WHERE deleted_at IS NULL GROUP BY tenant_id;

CREATE TRIGGER flow_counts_insert AFTER INSERT ON flows WHEN new.deleted_at IS NULL
BEGIN
  INSERT INTO flow_counts (tenant_id, live) VALUES (new.tenant_id, 1)
  ON CONFLICT (tenant_id) DO UPDATE SET live = live + 1;
END;

CREATE TRIGGER flow_counts_soft_delete AFTER UPDATE OF deleted_at ON flows
WHEN old.deleted_at IS NULL AND new.deleted_at IS NOT NULL
BEGIN
  UPDATE flow_counts SET live = live - 1 WHERE tenant_id = old.tenant_id;
END;

CREATE TRIGGER flow_counts_restore AFTER UPDATE OF deleted_at ON flows
WHEN old.deleted_at IS NOT NULL AND new.deleted_at IS NULL
BEGIN
  INSERT INTO flow_counts (tenant_id, live) VALUES (new.tenant_id, 1)
  ON CONFLICT (tenant_id) DO UPDATE SET live = live + 1;
END;

CREATE TRIGGER flow_counts_delete AFTER DELETE ON flows WHEN old.deleted_at IS NULL
BEGIN
  UPDATE flow_counts SET live = live - 1 WHERE tenant_id = old.tenant_id;
END;
