-- The tenant package catalog (SPEC §14, §19.1). A package is (tenant, package_id); its row
-- carries the latest version and the visibility. Each version is one immutable row holding the
-- .scaipkg bytes, named by the logical path catalog/{tenant}/{package}/v{version}.scaipkg, so a
-- backup holds the catalog and a shared database serves every process.

CREATE TABLE catalog_packages (
  tenant_id TEXT NOT NULL,
  package_id TEXT NOT NULL,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  version TEXT NOT NULL,
  author_id TEXT NOT NULL,
  visibility TEXT NOT NULL DEFAULT 'tenant' CHECK (visibility IN ('tenant', 'groups')),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  deleted_at TEXT,
  PRIMARY KEY (tenant_id, package_id)
);
-- The list: a tenant's packages newest first (keyset on created_at, package_id), and a super
-- admin's view of every tenant (keyset on created_at, tenant_id, package_id).
CREATE INDEX catalog_packages_tenant_order ON catalog_packages (tenant_id, created_at,
                                                                 package_id);
CREATE INDEX catalog_packages_order ON catalog_packages (created_at, tenant_id, package_id);

-- `groups` visibility: the groups whose live members see the package.
CREATE TABLE catalog_package_groups (
  tenant_id TEXT NOT NULL,
  package_id TEXT NOT NULL,
  group_id TEXT NOT NULL,
  PRIMARY KEY (tenant_id, package_id, group_id),
  FOREIGN KEY (tenant_id, package_id) REFERENCES catalog_packages (tenant_id, package_id)
);
CREATE INDEX catalog_package_groups_group ON catalog_package_groups (tenant_id, group_id);

-- Append-only: a published version is never rewritten (see the triggers).
CREATE TABLE catalog_versions (
  tenant_id TEXT NOT NULL,
  package_id TEXT NOT NULL,
  version TEXT NOT NULL,
  major INTEGER NOT NULL,
  minor INTEGER NOT NULL,
  patch INTEGER NOT NULL,
  storage_key TEXT NOT NULL UNIQUE,
  scaipkg BLOB NOT NULL,
  sha256 TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  readme TEXT,
  source TEXT NOT NULL CHECK (source IN ('publish', 'import')),
  source_flow_id TEXT,
  source_flow_version TEXT,
  published_by TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, package_id, version),
  FOREIGN KEY (tenant_id, package_id) REFERENCES catalog_packages (tenant_id, package_id)
);
CREATE INDEX catalog_versions_semver ON catalog_versions (tenant_id, package_id, major, minor,
                                                          patch);
CREATE TRIGGER catalog_versions_no_update BEFORE UPDATE ON catalog_versions
BEGIN SELECT RAISE(ABORT, 'catalog versions are append-only'); END;
CREATE TRIGGER catalog_versions_no_delete BEFORE DELETE ON catalog_versions
BEGIN SELECT RAISE(ABORT, 'catalog versions are append-only'); END;
