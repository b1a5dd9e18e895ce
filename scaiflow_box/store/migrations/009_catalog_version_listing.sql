-- A package's versions listed without reading their bytes. In `catalog_versions` the
-- `.scaipkg` blob comes before sha256, size_bytes and created_at, so reading those columns from
-- the table follows the blob's chain of overflow pages (an 8 MiB version: ~2,000 page reads,
-- ~2.5 ms). This index holds everything the version list, the list's sizes and a publish's
-- digest check read, in semver order, so they never touch the table.
CREATE INDEX catalog_versions_listing ON catalog_versions (tenant_id, package_id, major, minor,
                                                           patch, version, sha256, size_bytes,
                                                           created_at);
-- Its prefix.
DROP INDEX catalog_versions_semver;
