-- An endpoint's lease now covers its deliveries (docs/engine.md,
-- "Ownership"): only its owner claims them, and the owner steps over the
-- ones it holds by id, so a claim no longer writes a lease row per
-- delivery and a record no longer deletes one. What the API shows as
-- "sending" (a pending delivery the owner holds: waiting in its lane for
-- a slot, or in flight) is the owner's list below, which the owner
-- rewrites when it changes, up to 20 times a second; an owner whose
-- lease ran out holds nothing. A delivery changed after the list was
-- written (its outcome recorded, or replayed) is no longer the one the
-- list named.
ALTER TABLE hookd.endpoint_owners
    ADD COLUMN holding uuid[] NOT NULL DEFAULT '{}',
    ADD COLUMN held_at timestamptz NOT NULL DEFAULT now();

-- The list changes while an endpoint is busy: small rows, vacuumed often.
ALTER TABLE hookd.endpoint_owners SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 200,
    autovacuum_vacuum_cost_delay = 0
);

-- Requests in flight while this runs are recorded as before; their
-- deliveries, pending and due, may be sent once more by the next claim
-- (at least once: receivers deduplicate by webhook-id).
DROP TABLE hookd.leases;
