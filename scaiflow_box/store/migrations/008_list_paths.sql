-- The list paths (issue 16).
--
-- 1. `flows.summary`: the FlowSummary JSON of the flow (SPEC §3), written by SQLite whenever a
--    field it shows changes (once per version, once per rename), so a list page and a
--    FlowDetail splice stored bytes instead of building dicts and models per row.
-- 2. Partial indexes over live flows that serve the lists' order (created_at, id) newest
--    first, for the whole tenant (admins) and per owner (members), so a page reads `limit`
--    index entries whatever the tenant's size or the owner's.
-- 3. Live flows per (tenant, owner), kept by triggers like `flow_counts`, so `total` of an
--    owner's unfiltered list is a primary-key read.
-- 4. Keyset orders for the admin users and groups lists.

ALTER TABLE flows ADD COLUMN summary TEXT;

UPDATE flows SET summary = json_object(
  'id', id, 'name', name, 'description', description, 'owner_id', owner_id,
  'tenant_id', tenant_id, 'version', version, 'created_at', created_at,
  'updated_at', updated_at);

CREATE TRIGGER flows_summary_insert AFTER INSERT ON flows
BEGIN
  UPDATE flows SET summary = json_object(
    'id', new.id, 'name', new.name, 'description', new.description,
    'owner_id', new.owner_id, 'tenant_id', new.tenant_id, 'version', new.version,
    'created_at', new.created_at, 'updated_at', new.updated_at)
  WHERE rowid = new.rowid;
END;

CREATE TRIGGER flows_summary_update
AFTER UPDATE OF id, name, description, owner_id, tenant_id, version, created_at, updated_at
ON flows
BEGIN
  UPDATE flows SET summary = json_object(
    'id', new.id, 'name', new.name, 'description', new.description,
    'owner_id', new.owner_id, 'tenant_id', new.tenant_id, 'version', new.version,
    'created_at', new.created_at, 'updated_at', new.updated_at)
  WHERE rowid = new.rowid;
END;

CREATE INDEX flows_live_order ON flows (tenant_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX flows_live_owner_order ON flows (tenant_id, owner_id, created_at, id)
  WHERE deleted_at IS NULL;

CREATE TABLE flow_owner_counts (
  tenant_id TEXT NOT NULL,
  owner_id TEXT NOT NULL,
  live INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, owner_id)
) WITHOUT ROWID;

INSERT INTO flow_owner_counts (tenant_id, owner_id, live)
SELECT tenant_id, owner_id, count(*) FROM flows WHERE deleted_at IS NULL
GROUP BY tenant_id, owner_id;

CREATE TRIGGER flow_owner_counts_insert AFTER INSERT ON flows WHEN new.deleted_at IS NULL
BEGIN
  INSERT INTO flow_owner_counts (tenant_id, owner_id, live)
  VALUES (new.tenant_id, new.owner_id, 1)
  ON CONFLICT (tenant_id, owner_id) DO UPDATE SET live = live + 1;
END;

CREATE TRIGGER flow_owner_counts_delete AFTER DELETE ON flows WHEN old.deleted_at IS NULL
BEGIN
  UPDATE flow_owner_counts SET live = live - 1
  WHERE tenant_id = old.tenant_id AND owner_id = old.owner_id;
END;

-- A soft delete, a restore or an ownership move: take the old row out, put the new one in.
CREATE TRIGGER flow_owner_counts_update AFTER UPDATE OF deleted_at, owner_id, tenant_id
ON flows
BEGIN
  UPDATE flow_owner_counts SET live = live - 1
  WHERE old.deleted_at IS NULL AND tenant_id = old.tenant_id AND owner_id = old.owner_id;
  INSERT INTO flow_owner_counts (tenant_id, owner_id, live)
  SELECT new.tenant_id, new.owner_id, 1 WHERE new.deleted_at IS NULL
  ON CONFLICT (tenant_id, owner_id) DO UPDATE SET live = live + 1;
END;

-- `ORDER BY tenant_id, id` with a keyset cursor reads the index in order; it also serves
-- every lookup the old (tenant_id) index did.
CREATE INDEX users_tenant_id ON users (tenant_id, id);
DROP INDEX users_tenant;

CREATE INDEX groups_tenant_name ON groups (tenant_id, name COLLATE NOCASE, id);
