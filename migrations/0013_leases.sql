-- A claim wrote a new version of each delivery it took (status sending,
-- a lease deadline): a row of the largest table, never a HOT update, with
-- an entry in four of its indexes, and one more dead version for VACUUM.
-- Leases now live in a table of their own, one small row per request in
-- flight, written by the claim and deleted with the outcome: a delivery is
-- written when it is queued and when its attempt is recorded, not when it
-- is taken. "sending" is what the API shows for a pending delivery with a
-- lease; the stored status is pending, succeeded or failed.
--
-- The key leads with the endpoint: what a claim counts and what the
-- dispatcher frees are one endpoint's leases.
CREATE TABLE hookd.leases (
    tenant_id    uuid NOT NULL,
    endpoint_id  uuid NOT NULL,
    delivery_id  uuid NOT NULL,
    lease_until  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, endpoint_id, delivery_id)
);
-- Every row lives for the length of one request: vacuum it often.
ALTER TABLE hookd.leases SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 2000,
    autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_insert_threshold = 2000,
    autovacuum_vacuum_cost_delay = 0
);

INSERT INTO hookd.leases (tenant_id, endpoint_id, delivery_id, lease_until)
    SELECT tenant_id, endpoint_id, id, lease_until
    FROM hookd.deliveries WHERE status = 'sending';
UPDATE hookd.deliveries
    SET status = 'pending', next_attempt_at = COALESCE(next_attempt_at, now())
    WHERE status = 'sending';

DROP INDEX hookd.deliveries_in_flight;
ALTER TABLE hookd.deliveries DROP CONSTRAINT deliveries_check1;
ALTER TABLE hookd.deliveries DROP COLUMN lease_until;
ALTER TABLE hookd.deliveries DROP CONSTRAINT deliveries_status_check;
ALTER TABLE hookd.deliveries ADD CONSTRAINT deliveries_status_check
    CHECK (status IN ('pending', 'succeeded', 'failed'));
