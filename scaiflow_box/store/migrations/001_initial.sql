-- The appliance's first schema: identity mirror, flows with append-only versions, ACLs,
-- deployments, keys, service tokens, audit. Timestamps are RFC 3339 UTC strings.

CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE tenants (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  slug TEXT NOT NULL,
  source TEXT NOT NULL DEFAULT 'token',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

CREATE TABLE users (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  email TEXT,
  display_name TEXT,
  status TEXT NOT NULL DEFAULT 'ACTIVE',
  source TEXT NOT NULL DEFAULT 'token',
  admin_role TEXT CHECK (admin_role IN ('tenant_admin', 'super_admin')),
  admin_role_source TEXT CHECK (admin_role_source IN ('manual', 'group', 'bootstrap')),
  deleted_at TEXT,
  last_synced_at TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX users_tenant ON users (tenant_id);
CREATE INDEX users_email ON users (email COLLATE NOCASE);

CREATE TABLE groups (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  name TEXT NOT NULL,
  deleted_at TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX groups_tenant ON groups (tenant_id);

CREATE TABLE memberships (
  group_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  deleted_at TEXT,
  created_at TEXT NOT NULL,
  PRIMARY KEY (group_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE flows (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  owner_id TEXT NOT NULL,
  version TEXT NOT NULL,
  version_seq INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  deleted_at TEXT
);
CREATE INDEX flows_tenant_order ON flows (tenant_id, created_at, id);
CREATE INDEX flows_owner ON flows (tenant_id, owner_id);

-- Append-only: rows are inserted, never updated or deleted (see the triggers).
CREATE TABLE flow_versions (
  flow_id TEXT NOT NULL REFERENCES flows (id),
  seq INTEGER NOT NULL,
  tenant_id TEXT NOT NULL,
  version TEXT NOT NULL,
  storage_key TEXT NOT NULL,
  content BLOB NOT NULL,
  sha256 TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (flow_id, seq),
  UNIQUE (flow_id, version)
);
CREATE TRIGGER flow_versions_no_update BEFORE UPDATE ON flow_versions
BEGIN SELECT RAISE(ABORT, 'flow versions are append-only'); END;
CREATE TRIGGER flow_versions_no_delete BEFORE DELETE ON flow_versions
BEGIN SELECT RAISE(ABORT, 'flow versions are append-only'); END;

CREATE TABLE flow_acls (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  flow_id TEXT NOT NULL REFERENCES flows (id),
  principal_type TEXT NOT NULL CHECK (principal_type IN ('user', 'group')),
  principal_id TEXT NOT NULL,
  level TEXT NOT NULL CHECK (level IN ('view', 'edit', 'deploy', 'admin')),
  granted_by TEXT NOT NULL,
  granted_at TEXT NOT NULL,
  UNIQUE (flow_id, principal_type, principal_id)
);
CREATE INDEX flow_acls_principal ON flow_acls (tenant_id, principal_type, principal_id);

CREATE TABLE deployments (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  flow_id TEXT NOT NULL REFERENCES flows (id),
  version TEXT NOT NULL,
  core_id TEXT,
  published_slug TEXT,
  status TEXT NOT NULL CHECK (status IN ('succeeded', 'failed')),
  error TEXT,
  deployed_by TEXT NOT NULL,
  created_at TEXT NOT NULL,
  duration_ms INTEGER NOT NULL
);
CREATE INDEX deployments_flow ON deployments (tenant_id, flow_id, created_at);

CREATE TABLE data_keys (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  kek_id TEXT NOT NULL,
  wrapped TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL
);
CREATE INDEX data_keys_tenant ON data_keys (tenant_id, active);

CREATE TABLE tenant_secrets (
  tenant_id TEXT NOT NULL,
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  updated_by TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, name)
);

-- The local issuer's ES256 keys; the private key is stored wrapped by the master key.
CREATE TABLE issuer_keys (
  kid TEXT PRIMARY KEY,
  private_key TEXT NOT NULL,
  public_jwk TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL
);

CREATE TABLE jwks_cache (
  issuer TEXT PRIMARY KEY,
  jwks TEXT NOT NULL,
  source TEXT NOT NULL,
  fetched_at TEXT NOT NULL
);

CREATE TABLE service_tokens (
  id TEXT PRIMARY KEY,
  jti TEXT NOT NULL UNIQUE,
  tenant_id TEXT NOT NULL,
  sub TEXT NOT NULL,
  scope TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  created_by TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  revoked_at TEXT
);
CREATE INDEX service_tokens_tenant ON service_tokens (tenant_id);

CREATE TABLE webhook_events (
  event_id TEXT PRIMARY KEY,
  received_at TEXT NOT NULL
);

CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  tenant_id TEXT,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target_type TEXT,
  target_id TEXT,
  details TEXT NOT NULL DEFAULT '{}',
  request_id TEXT
);
CREATE INDEX audit_tenant_at ON audit_log (tenant_id, id);
