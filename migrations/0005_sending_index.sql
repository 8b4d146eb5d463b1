-- One index for rows in flight serves both the per-endpoint in-flight count
-- of a claim (tenant_id, endpoint_id) and the sweep of expired leases (a
-- scan of this small index): every claim writes one index entry fewer.
CREATE INDEX deliveries_in_flight
    ON hookd.deliveries (tenant_id, endpoint_id, lease_until)
    WHERE status = 'sending';
DROP INDEX hookd.deliveries_sending;
DROP INDEX hookd.deliveries_lease;
