-- The MariaDB schema equal to SQLite's after migrations 001-009 (store/migrations), less the
-- two summary triggers of 008, which migration 010 removes on SQLite too (`flows.summary` is
-- written by store/flows.py on both engines). docs/scale-out.md, "MariaDB baseline schema:
-- choices", says why each type and index is what it is. In short:
--   - every table InnoDB, utf8mb4 with utf8mb4_bin (ids compare byte for byte, as in SQLite);
--   - a column in a key is a VARCHAR bounded by what the appliance accepts (ids 200, RFC 3339
--     timestamps 40, versions 64), so every index key fits InnoDB's 3,072 bytes; other text is
--     MEDIUMTEXT (16 MiB) and bytes LONGBLOB;
--   - SQLite's INTEGER is BIGINT (64-bit, as SQLite's), its 0/1 flags TINYINT;
--   - `COLLATE NOCASE` becomes an invisible generated column `<col>_nocase` = LOWER(col);
--   - the partial indexes over live flows become full indexes with `deleted_at` after the
--     tenant (and owner), so `deleted_at IS NULL` is an equality prefix;
--   - SQLite's triggers as MariaDB triggers: `WHEN` and `UPDATE OF` become `IF` inside,
--     `RAISE(ABORT)` becomes `SIGNAL SQLSTATE '45000'`, `ON CONFLICT` `ON DUPLICATE KEY`.
-- Statements are separated by `-- @@` lines (a trigger body holds `;`), and each may run
-- again: a baseline that stopped halfway is simply run again.

-- First, always: a process that finds tables but not this one refuses the database as another
-- program's (store/mariadb_database.py, `prepare_schema`), and another process may be
-- running this baseline at the same moment.
CREATE TABLE IF NOT EXISTS schema_migrations (
  version BIGINT NOT NULL PRIMARY KEY,
  name VARCHAR(200) NOT NULL,
  applied_at VARCHAR(40) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- @@
-- 001 ----------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS meta (
  `key` VARCHAR(200) NOT NULL PRIMARY KEY,
  value MEDIUMTEXT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- @@
CREATE TABLE IF NOT EXISTS tenants (
  id VARCHAR(200) NOT NULL PRIMARY KEY,
  name MEDIUMTEXT NOT NULL,
  slug MEDIUMTEXT NOT NULL,
  source VARCHAR(32) NOT NULL DEFAULT 'token',
  created_at VARCHAR(40) NOT NULL,
  updated_at VARCHAR(40) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- @@
CREATE TABLE IF NOT EXISTS users (
  id VARCHAR(200) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(200) NOT NULL,
  email VARCHAR(320),
  display_name MEDIUMTEXT,
  status VARCHAR(32) NOT NULL DEFAULT 'ACTIVE',
  source VARCHAR(32) NOT NULL DEFAULT 'token',
  admin_role VARCHAR(32) CHECK (admin_role IN ('tenant_admin', 'super_admin')),
  admin_role_source VARCHAR(32) CHECK (admin_role_source IN ('manual', 'group', 'bootstrap')),
  deleted_at VARCHAR(40),
  last_synced_at VARCHAR(40),
  created_at VARCHAR(40) NOT NULL,
  updated_at VARCHAR(40) NOT NULL,
  issuer VARCHAR(32) NOT NULL DEFAULT 'scaikey' CHECK (issuer IN ('local', 'scaikey')),
  -- SQLite's `email COLLATE NOCASE` (ASCII folding); LOWER() also folds other letters
  email_nocase VARCHAR(320) AS (LOWER(email)) VIRTUAL INVISIBLE,
  KEY users_email (email_nocase),
  KEY users_tenant_id (tenant_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- @@
CREATE TABLE IF NOT EXISTS `groups` (
  id VARCHAR(200) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(200) NOT NULL,
  name VARCHAR(320) NOT NULL,
  deleted_at VARCHAR(40),
  created_at VARCHAR(40) NOT NULL,
  updated_at VARCHAR(40) NOT NULL,
  last_synced_at VARCHAR(40),
  name_nocase VARCHAR(320) AS (LOWER(name)) VIRTUAL INVISIBLE,
  KEY groups_tenant (tenant_id),
  KEY groups_tenant_name (tenant_id, name_nocase, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- @@
CREATE TABLE IF NOT EXISTS memberships (
  group_id VARCHAR(200) NOT NULL,
  user_id VARCHAR(200) NOT NULL,
  tenant_id VARCHAR(200) NOT NULL,
  deleted_at VARCHAR(40),
  created_at VARCHAR(40) NOT NULL,
  PRIMARY KEY (group_id, user_id),
  KEY memberships_user (user_id),
  KEY memberships_tenant (tenant_id, group_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- @@
CREATE TABLE IF NOT EXISTS flows (
  id VARCHAR(200) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(200) NOT NULL,
  name MEDIUMTEXT NOT NULL,
  description MEDIUMTEXT NOT NULL DEFAULT '',
  owner_id VARCHAR(200) NOT NULL,
  version VARCHAR(64) NOT NULL,
  version_seq BIGINT NOT NULL,
  created_at VARCHAR(40) NOT NULL,
  updated_at VARCHAR(40) NOT NULL,
  deleted_at VARCHAR(40),
  meta_rev BIGINT NOT NULL DEFAULT 0,
  summary MEDIUMTEXT,
  KEY flows_tenant_order (tenant_id, created_at, id),
  KEY flows_owner (tenant_id, owner_id),
  -- SQLite's partial indexes `... WHERE deleted_at IS NULL` (MariaDB has none)
  KEY flows_live_order (tenant_id, deleted_at, created_at, id),
  KEY flows_live_owner_order (tenant_id, owner_id, deleted_at, created_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- @@
CREATE TABLE IF NOT EXISTS flow_versions (
  flow_id VARCHAR(200) NOT NULL,
  seq BIGINT NOT NULL,
  tenant_id VARCHAR(200) NOT NULL,
  version VARCHAR(64) NOT NULL,
  storage_key VARCHAR(512) NOT NULL,
  content LONGBLOB NOT NULL,
  sha256 VARCHAR(64) NOT NULL,
  size_bytes BIGINT NOT NULL,
  created_by VARCHAR(200) NOT NULL,
  created_at VARCHAR(40) NOT NULL,
  PRIMARY KEY (flow_id, seq),
  UNIQUE KEY flow_versions_version (flow_id, version),
  CONSTRAINT flow_versions_flow FOREIGN KEY (flow_id) REFERENCES flows (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- @@
CREATE TRIGGER IF NOT EXISTS flow_versions_no_update BEFORE UPDATE ON flow_versions
FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'flow versions are append-only'
-- @@
CREATE TRIGGER IF NOT EXISTS flow_versions_no_delete BEFORE DELETE ON flow_versions
FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'flow versions are append-only'
-- @@
CREATE TABLE IF NOT EXISTS flow_acls (
  id VARCHAR(200) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(200) NOT NULL,
  flow_id VARCHAR(200) NOT NULL,
  principal_type VARCHAR(32) NOT NULL CHECK (principal_type IN ('user', 'group')),
  principal_id VARCHAR(200) NOT NULL,
  level VARCHAR(32) NOT NULL CHECK (level IN ('view', 'edit', 'deploy', 'admin')),
  granted_by VARCHAR(200) NOT NULL,
  granted_at VARCHAR(40) NOT NULL,
  UNIQUE KEY flow_acls_principal_of_flow (flow_id, principal_type, principal_id),
  KEY flow_acls_principal (tenant_id, principal_type, principal_id),
  CONSTRAINT flow_acls_flow FOREIGN KEY (flow_id) REFERENCES flows (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- @@
CREATE TABLE IF NOT EXISTS deployments (
  id VARCHAR(200) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(200) NOT NULL,
  flow_id VARCHAR(200) NOT NULL,
  version VARCHAR(64) NOT NULL,
  core_id MEDIUMTEXT,
  published_slug MEDIUMTEXT,
  status VARCHAR(32) NOT NULL CHECK (status IN ('succeeded', 'failed')),
  error MEDIUMTEXT,
  deployed_by VARCHAR(200) NOT NULL,
  created_at VARCHAR(40) NOT NULL,
  duration_ms BIGINT NOT NULL,
  KEY deployments_flow (tenant_id, flow_id, created_at),
  -- InnoDB wants an index led by a foreign key's columns
  KEY deployments_flow_fk (flow_id),
  CONSTRAINT deployments_flow_ref FOREIGN KEY (flow_id) REFERENCES flows (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- @@
CREATE TABLE IF NOT EXISTS data_keys (
  id VARCHAR(200) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(200) NOT NULL,
  kek_id VARCHAR(200) NOT NULL,
  wrapped MEDIUMTEXT NOT NULL,
  active TINYINT NOT NULL DEFAULT 1,
  created_at VARCHAR(40) NOT NULL,
  KEY data_keys_tenant (tenant_id, active)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- @@
CREATE TABLE IF NOT EXISTS tenant_secrets (
  tenant_id VARCHAR(200) NOT NULL,
  -- `tenants/{tenant id}/{key}` (services/credentials.py): up to 226 characters for a
  -- 200-character tenant id.
  name VARCHAR(255) NOT NULL,
  value MEDIUMTEXT NOT NULL,
  updated_by VARCHAR(200) NOT NULL,
  updated_at VARCHAR(40) NOT NULL,
  PRIMARY KEY (tenant_id, name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- @@
CREATE TABLE IF NOT EXISTS issuer_keys (
  kid VARCHAR(256) NOT NULL PRIMARY KEY,
  private_key MEDIUMTEXT NOT NULL,
  public_jwk MEDIUMTEXT NOT NULL,
  active TINYINT NOT NULL DEFAULT 1,
  created_at VARCHAR(40) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- @@
CREATE TABLE IF NOT EXISTS jwks_cache (
  -- 768 characters: the most a one-column utf8mb4 key holds (the appliance accepts 1,024)
  issuer VARCHAR(768) NOT NULL PRIMARY KEY,
  jwks MEDIUMTEXT NOT NULL,
  source VARCHAR(32) NOT NULL,
  fetched_at VARCHAR(40) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- @@
CREATE TABLE IF NOT EXISTS service_tokens (
  id VARCHAR(200) NOT NULL PRIMARY KEY,
  jti VARCHAR(200) NOT NULL,
  tenant_id VARCHAR(200) NOT NULL,
  sub VARCHAR(200) NOT NULL,
  scope MEDIUMTEXT NOT NULL,
  description MEDIUMTEXT NOT NULL DEFAULT '',
  created_by VARCHAR(200) NOT NULL,
  created_at VARCHAR(40) NOT NULL,
  expires_at VARCHAR(40) NOT NULL,
  revoked_at VARCHAR(40),
  UNIQUE KEY service_tokens_jti (jti),
  KEY service_tokens_tenant (tenant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- @@
CREATE TABLE IF NOT EXISTS webhook_events (
  event_id VARCHAR(200) NOT NULL PRIMARY KEY,
  received_at VARCHAR(40) NOT NULL,
  event_type MEDIUMTEXT,
  tenant_id VARCHAR(200),
  handled TINYINT NOT NULL DEFAULT 1,
  KEY webhook_events_received (received_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- @@
CREATE TABLE IF NOT EXISTS audit_log (
  -- Galera interleaves AUTO_INCREMENT values per node: ids are unique, not in commit order
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  at VARCHAR(40) NOT NULL,
  tenant_id VARCHAR(200),
  actor MEDIUMTEXT NOT NULL,
  action MEDIUMTEXT NOT NULL,
  target_type MEDIUMTEXT,
  target_id MEDIUMTEXT,
  details MEDIUMTEXT NOT NULL DEFAULT '{}',
  request_id MEDIUMTEXT,
  KEY audit_tenant_at (tenant_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- @@
-- 002: live flows per tenant ------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS flow_counts (
  tenant_id VARCHAR(200) NOT NULL PRIMARY KEY,
  live BIGINT NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- @@
CREATE TRIGGER IF NOT EXISTS flow_counts_insert AFTER INSERT ON flows FOR EACH ROW
BEGIN
  IF NEW.deleted_at IS NULL THEN
    INSERT INTO flow_counts (tenant_id, live) VALUES (NEW.tenant_id, 1)
    ON DUPLICATE KEY UPDATE live = live + 1;
  END IF;
END
-- @@
CREATE TRIGGER IF NOT EXISTS flow_counts_soft_delete AFTER UPDATE ON flows FOR EACH ROW
BEGIN
  IF OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL THEN
    UPDATE flow_counts SET live = live - 1 WHERE tenant_id = OLD.tenant_id;
  END IF;
END
-- @@
CREATE TRIGGER IF NOT EXISTS flow_counts_restore AFTER UPDATE ON flows FOR EACH ROW
BEGIN
  IF OLD.deleted_at IS NOT NULL AND NEW.deleted_at IS NULL THEN
    INSERT INTO flow_counts (tenant_id, live) VALUES (NEW.tenant_id, 1)
    ON DUPLICATE KEY UPDATE live = live + 1;
  END IF;
END
-- @@
CREATE TRIGGER IF NOT EXISTS flow_counts_delete AFTER DELETE ON flows FOR EACH ROW
BEGIN
  IF OLD.deleted_at IS NULL THEN
    UPDATE flow_counts SET live = live - 1 WHERE tenant_id = OLD.tenant_id;
  END IF;
END
-- @@
-- 005: backups ------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS backups (
  file VARCHAR(700) NOT NULL,
  made_at VARCHAR(40) NOT NULL,
  kek_id VARCHAR(200) NOT NULL,
  size_bytes BIGINT NOT NULL,
  kind VARCHAR(32) NOT NULL DEFAULT 'backup' CHECK (kind IN ('backup', 'before_restore')),
  PRIMARY KEY (file, made_at),
  KEY backups_kek (kek_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- @@
-- 006: the package catalog --------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS catalog_packages (
  tenant_id VARCHAR(200) NOT NULL,
  package_id VARCHAR(64) NOT NULL,
  name MEDIUMTEXT NOT NULL,
  description MEDIUMTEXT NOT NULL DEFAULT '',
  version VARCHAR(64) NOT NULL,
  author_id VARCHAR(200) NOT NULL,
  visibility VARCHAR(32) NOT NULL DEFAULT 'tenant' CHECK (visibility IN ('tenant', 'groups')),
  created_at VARCHAR(40) NOT NULL,
  updated_at VARCHAR(40) NOT NULL,
  deleted_at VARCHAR(40),
  PRIMARY KEY (tenant_id, package_id),
  KEY catalog_packages_tenant_order (tenant_id, created_at, package_id),
  KEY catalog_packages_order (created_at, tenant_id, package_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- @@
CREATE TABLE IF NOT EXISTS catalog_package_groups (
  tenant_id VARCHAR(200) NOT NULL,
  package_id VARCHAR(64) NOT NULL,
  group_id VARCHAR(200) NOT NULL,
  PRIMARY KEY (tenant_id, package_id, group_id),
  KEY catalog_package_groups_group (tenant_id, group_id),
  CONSTRAINT catalog_package_groups_package FOREIGN KEY (tenant_id, package_id)
    REFERENCES catalog_packages (tenant_id, package_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- @@
CREATE TABLE IF NOT EXISTS catalog_versions (
  tenant_id VARCHAR(200) NOT NULL,
  package_id VARCHAR(64) NOT NULL,
  version VARCHAR(64) NOT NULL,
  major BIGINT NOT NULL,
  minor BIGINT NOT NULL,
  patch BIGINT NOT NULL,
  storage_key VARCHAR(400) NOT NULL,
  scaipkg LONGBLOB NOT NULL,
  sha256 VARCHAR(64) NOT NULL,
  size_bytes BIGINT NOT NULL,
  readme MEDIUMTEXT,
  source VARCHAR(32) NOT NULL CHECK (source IN ('publish', 'import')),
  source_flow_id VARCHAR(200),
  source_flow_version VARCHAR(64),
  published_by VARCHAR(200) NOT NULL,
  created_at VARCHAR(40) NOT NULL,
  PRIMARY KEY (tenant_id, package_id, version),
  UNIQUE KEY catalog_versions_storage_key (storage_key),
  -- 009: what the version list reads, so that it never reads the row (and its blob)
  KEY catalog_versions_listing (tenant_id, package_id, major, minor, patch, version, sha256,
                                size_bytes, created_at),
  CONSTRAINT catalog_versions_package FOREIGN KEY (tenant_id, package_id)
    REFERENCES catalog_packages (tenant_id, package_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- @@
CREATE TRIGGER IF NOT EXISTS catalog_versions_no_update BEFORE UPDATE ON catalog_versions
FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'catalog versions are append-only'
-- @@
CREATE TRIGGER IF NOT EXISTS catalog_versions_no_delete BEFORE DELETE ON catalog_versions
FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'catalog versions are append-only'
-- @@
-- 007: live documents -------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS live_docs (
  flow_id VARCHAR(200) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(200) NOT NULL,
  snapshot LONGBLOB NOT NULL,
  snapshot_through BIGINT NOT NULL,
  updated_at VARCHAR(40) NOT NULL,
  CONSTRAINT live_docs_flow FOREIGN KEY (flow_id) REFERENCES flows (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- @@
CREATE TABLE IF NOT EXISTS live_doc_updates (
  -- never reused after compaction deletes the newest rows: InnoDB keeps the counter (10.6+
  -- persists it across restarts), like SQLite's AUTOINCREMENT
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  flow_id VARCHAR(200) NOT NULL,
  tenant_id VARCHAR(200) NOT NULL,
  data LONGBLOB NOT NULL,
  created_at VARCHAR(40) NOT NULL,
  KEY live_doc_updates_flow (flow_id, id),
  CONSTRAINT live_doc_updates_flow_ref FOREIGN KEY (flow_id) REFERENCES flows (id)
    ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- @@
-- 008: live flows per owner (the summary triggers of 008 are not ported: see the top) ------
CREATE TABLE IF NOT EXISTS flow_owner_counts (
  tenant_id VARCHAR(200) NOT NULL,
  owner_id VARCHAR(200) NOT NULL,
  live BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, owner_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- @@
CREATE TRIGGER IF NOT EXISTS flow_owner_counts_insert AFTER INSERT ON flows FOR EACH ROW
BEGIN
  IF NEW.deleted_at IS NULL THEN
    INSERT INTO flow_owner_counts (tenant_id, owner_id, live)
    VALUES (NEW.tenant_id, NEW.owner_id, 1)
    ON DUPLICATE KEY UPDATE live = live + 1;
  END IF;
END
-- @@
CREATE TRIGGER IF NOT EXISTS flow_owner_counts_delete AFTER DELETE ON flows FOR EACH ROW
BEGIN
  IF OLD.deleted_at IS NULL THEN
    UPDATE flow_owner_counts SET live = live - 1
    WHERE tenant_id = OLD.tenant_id AND owner_id = OLD.owner_id;
  END IF;
END
-- @@
-- A soft delete, a restore or an ownership move: take the old row out, put the new one in.
-- SQLite fires only when one of these columns is set; here the trigger fires on every update
-- and does nothing unless one of them changed (the sum is the same; the counter row, hot on
-- Galera, is not written for a rename).
CREATE TRIGGER IF NOT EXISTS flow_owner_counts_update AFTER UPDATE ON flows FOR EACH ROW
BEGIN
  IF NOT (OLD.deleted_at <=> NEW.deleted_at AND OLD.owner_id <=> NEW.owner_id
          AND OLD.tenant_id <=> NEW.tenant_id) THEN
    IF OLD.deleted_at IS NULL THEN
      UPDATE flow_owner_counts SET live = live - 1
      WHERE tenant_id = OLD.tenant_id AND owner_id = OLD.owner_id;
    END IF;
    IF NEW.deleted_at IS NULL THEN
      INSERT INTO flow_owner_counts (tenant_id, owner_id, live)
      VALUES (NEW.tenant_id, NEW.owner_id, 1)
      ON DUPLICATE KEY UPDATE live = live + 1;
    END IF;
  END IF;
END
-- @@
-- SQLite's migration 011: leases (store/leases.py), one row per lease made here.
CREATE TABLE IF NOT EXISTS leases (
  name VARCHAR(64) NOT NULL PRIMARY KEY,
  holder VARCHAR(200) NOT NULL DEFAULT '',
  fence BIGINT NOT NULL DEFAULT 0,
  expires_at DOUBLE NOT NULL DEFAULT 0
)
-- @@
INSERT IGNORE INTO leases (name) VALUES ('directory_sync'), ('retention')
-- @@
-- SQLite's migration 012: the change sequence (store/changes.py). Each process writes only its
-- own head row and log rows, so processes on different Galera nodes never conflict on them.
CREATE TABLE IF NOT EXISTS change_heads (
  process_id VARCHAR(200) NOT NULL PRIMARY KEY,
  seq BIGINT NOT NULL,
  beat_at DOUBLE NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- @@
CREATE TABLE IF NOT EXISTS change_log (
  process_id VARCHAR(200) NOT NULL,
  seq BIGINT NOT NULL,
  tenant_id VARCHAR(200) NULL,
  flow_id VARCHAR(200) NULL,
  PRIMARY KEY (process_id, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
