-- Metadata-only changes (name, description, owner) since the current version was written:
-- the flow's ETag is "<version>-<meta_rev>" when it is not 0, so it moves with every change
-- of the representation (SPEC §1). A new version resets it to 0.

ALTER TABLE flows ADD COLUMN meta_rev INTEGER NOT NULL DEFAULT 0;
