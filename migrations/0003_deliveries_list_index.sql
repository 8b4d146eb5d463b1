-- Listing a tenant's deliveries newest first walks the primary key
-- (tenant_id, id) backwards; the separate (tenant_id, id DESC) index only
-- cost every ingest one more index insert per delivery.
DROP INDEX hookd.deliveries_list;
