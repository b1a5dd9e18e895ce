-- A user is (issuer, subject) (SPEC §2.1): a token of one issuer never becomes a user that
-- another issuer (or the bootstrap) created. `issuer` is the family that owns the row:
--   local   - this appliance: the bootstrap operator and the subjects of its service tokens;
--   scaikey - the configured ScaiKey: its access tokens, directory sync and webhooks.
-- A user's id stays its primary key (flows, ACLs and memberships refer to it), so a subject
-- taken by one issuer is refused to the other.
--
-- Existing rows: `bootstrap` users are local, `scaikey` (synced, webhook) users are ScaiKey's.
-- A just-in-time row (`token`) is local when the audit row that recorded its provisioning
-- says a service token made it; without such a row (audit retention), when a service token
-- was ever minted for it in its tenant; otherwise it came from a ScaiKey token.

ALTER TABLE users ADD COLUMN issuer TEXT NOT NULL DEFAULT 'scaikey'
  CHECK (issuer IN ('local', 'scaikey'));

UPDATE users SET issuer = 'local' WHERE source = 'bootstrap';

UPDATE users SET issuer = 'local' WHERE source = 'token' AND id IN (
  SELECT target_id FROM audit_log WHERE action = 'user.provisioned'
  AND json_extract(details, '$.source') = 'service');

UPDATE users SET issuer = 'local' WHERE source = 'token'
  AND id NOT IN (SELECT target_id FROM audit_log WHERE action = 'user.provisioned'
                 AND target_id IS NOT NULL)
  AND EXISTS (SELECT 1 FROM service_tokens t WHERE t.sub = users.id
              AND t.tenant_id = users.tenant_id);

-- Backups `scaiflow-box backup` wrote (and the copies `restore` kept aside), with the master
-- key each needs (SPEC §19.2): `keys list` counts them per key, `keys prune` names those a
-- removed retired key would orphan. `restore` carries these rows over into the database it
-- puts back, so a restore never forgets a backup made after the one restored.
CREATE TABLE backups (
  file TEXT NOT NULL,
  made_at TEXT NOT NULL,
  kek_id TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  kind TEXT NOT NULL DEFAULT 'backup' CHECK (kind IN ('backup', 'before_restore')),
  PRIMARY KEY (file, made_at)
);
CREATE INDEX backups_kek ON backups (kek_id);
