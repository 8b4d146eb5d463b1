-- The queue's key names the endpoint: (tenant_id, endpoint_id,
-- delivery_id). It had two indexes that held the same rows under two
-- orders, the key (tenant_id, delivery_id) and queue_order (tenant_id,
-- endpoint_id, delivery_id, a fifo endpoint's head); a delivery never
-- changes endpoint, so the second is as unique as the first, and one
-- index now serves as both. Every delivery queued writes an entry in
-- each of the queue's indexes, and every vacuum of the queue reads each
-- of them whole: on a busy install the queue is rewritten thousands of
-- times a second, so this is one index write per delivery and a third of
-- the vacuum's index reading less (docs/postgresql.md).
--
-- What the old key did alone, finding a row from its delivery, is done
-- through the delivery's endpoint, which every statement that looks a
-- queue row up knows: the triggers below (re-created with the new key,
-- and with 0015's planner settings, for the reasons given there), and
-- the list of a tenant's pending deliveries newest first, which walks
-- each endpoint's part of the key (server/store_events.c).
ALTER TABLE hookd.queue DROP CONSTRAINT queue_pkey;
ALTER TABLE hookd.queue ADD PRIMARY KEY (tenant_id, endpoint_id, delivery_id);
DROP INDEX hookd.queue_order;

CREATE OR REPLACE FUNCTION hookd.queue_on_update() RETURNS trigger
LANGUAGE plpgsql
SET enable_hashjoin = off SET enable_mergejoin = off SET enable_seqscan = off
AS $$
BEGIN
    DELETE FROM hookd.queue q USING new_rows n
        WHERE q.tenant_id = n.tenant_id AND q.endpoint_id = n.endpoint_id
        AND q.delivery_id = n.id AND n.status <> 'pending';
    INSERT INTO hookd.queue AS q (tenant_id, delivery_id, endpoint_id,
                                  event_id, next_attempt_at, attempt_count,
                                  cycle_attempts)
        SELECT n.tenant_id, n.id, n.endpoint_id, n.event_id,
               n.next_attempt_at, n.attempt_count, n.cycle_attempts
        FROM new_rows n WHERE n.status = 'pending'
        ON CONFLICT (tenant_id, endpoint_id, delivery_id) DO UPDATE
        SET next_attempt_at = EXCLUDED.next_attempt_at,
            attempt_count = EXCLUDED.attempt_count,
            cycle_attempts = EXCLUDED.cycle_attempts;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION hookd.queue_on_delete() RETURNS trigger
LANGUAGE plpgsql
SET enable_hashjoin = off SET enable_mergejoin = off SET enable_seqscan = off
AS $$
BEGIN
    DELETE FROM hookd.queue q USING old_rows o
        WHERE q.tenant_id = o.tenant_id AND q.endpoint_id = o.endpoint_id
        AND q.delivery_id = o.id;
    RETURN NULL;
END $$;
