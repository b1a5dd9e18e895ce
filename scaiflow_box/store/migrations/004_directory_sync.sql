-- Directory sync and webhooks (SPEC §12, §13): what a webhook event was (so the operator sees
-- webhook activity), the 24 h dedupe window's purge index, when a group was last confirmed
-- by ScaiKey, and the per-tenant membership scan a sync makes.

ALTER TABLE webhook_events ADD COLUMN event_type TEXT;
ALTER TABLE webhook_events ADD COLUMN tenant_id TEXT;
ALTER TABLE webhook_events ADD COLUMN handled INTEGER NOT NULL DEFAULT 1;
CREATE INDEX webhook_events_received ON webhook_events (received_at);

ALTER TABLE groups ADD COLUMN last_synced_at TEXT;
CREATE INDEX memberships_tenant ON memberships (tenant_id, group_id);
