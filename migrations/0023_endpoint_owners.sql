-- Endpoint ownership (docs/engine.md, "Ownership"): one dispatcher at a
-- time sends an endpoint's deliveries, so that its rate_limit, its
-- max_concurrency and the adaptation of its requests in flight are one
-- process's decisions and hold for the endpoint as a whole, and so that a
-- fifo endpoint is sent to in order by one sender.
--
-- Every running dispatcher keeps a row here, seen at least every second
-- or so; the live ones share the endpoints with due work between them.
CREATE TABLE hookd.dispatchers (
    id       uuid PRIMARY KEY,
    seen_at  timestamptz NOT NULL
);

-- An endpoint's owner until lease_until, renewed while the endpoint has
-- pending work. A late outcome of a previous owner is told apart by the
-- delivery's own lease (hookd.leases.owner), which the new owner writes
-- when it sends the delivery again.
CREATE TABLE hookd.endpoint_owners (
    tenant_id    uuid NOT NULL,
    endpoint_id  uuid NOT NULL,
    owner        uuid NOT NULL,
    lease_until  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, endpoint_id)
);
-- A dispatcher's endpoints, for its claims and its renewals.
CREATE INDEX endpoint_owners_owner ON hookd.endpoint_owners (owner);

-- The head of an endpoint's queue in delivery order (uuid7, made at
-- fan-out in event order), which is all a claim reads of a fifo endpoint,
-- and what shows a fifo endpoint blocked behind a delivery waiting for a
-- retry.
CREATE INDEX queue_order ON hookd.queue (tenant_id, endpoint_id, delivery_id);
