-- Recording an attempt rewrote its delivery's row as a new version with an
-- entry in every index of the table, never as a HOT update: status and
-- next_attempt_at were in the due index and in the partial indexes of
-- pending and failed deliveries. That update was about half of the record
-- statement's time. The queue (the pending deliveries, with what a claim
-- needs of each) now lives in a table of its own, and no index of
-- deliveries reads status or next_attempt_at: a delivery's row is
-- rewritten inside its own page, with no new index entry, when an attempt
-- is recorded. On a copy of the tables with 200,000 deliveries pending, a
-- batch of 300 outcomes took 11-18 µs a delivery this way (the HOT update
-- and the deletion of its queue row, 3-5 µs of it) against 24-43 µs
-- before, for 2 µs more at insertion.
--
-- Triggers on deliveries keep the queue in the statement that changes a
-- delivery, whichever it is: a queue row exists exactly while its
-- delivery is pending, with its due time, attempt count and cycle.
-- Statement triggers with transition tables do it once per statement, a
-- set of rows at a time, as hookd's statements write them. Their plans
-- are made once per session, for the number of rows of the first
-- statement that fired them (often none: a sweep that changed nothing),
-- and kept for every later one, a record of hundreds of rows included.
-- So that no such plan hashes or scans the whole queue, each queue row
-- is looked up by its key whatever the size of the set: hash and merge
-- joins and sequential scans are off inside the two functions that join
-- the set to the queue (the insertion's joins nothing, and the ingest
-- path pays nothing for settings it would not use).
CREATE TABLE hookd.queue (
    tenant_id       uuid NOT NULL,
    delivery_id     uuid NOT NULL,
    endpoint_id     uuid NOT NULL,
    event_id        uuid NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    attempt_count   integer NOT NULL,
    cycle_attempts  integer NOT NULL,
    PRIMARY KEY (tenant_id, delivery_id)
);
-- An endpoint's due work in due order, for claims.
CREATE INDEX queue_due ON hookd.queue (tenant_id, endpoint_id, next_attempt_at);
-- Most rows live for the length of one request: vacuum it often.
ALTER TABLE hookd.queue SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 2000,
    autovacuum_vacuum_insert_scale_factor = 0.05,
    autovacuum_vacuum_cost_delay = 0
);

CREATE FUNCTION hookd.queue_on_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO hookd.queue (tenant_id, delivery_id, endpoint_id, event_id,
                             next_attempt_at, attempt_count, cycle_attempts)
        SELECT n.tenant_id, n.id, n.endpoint_id, n.event_id,
               n.next_attempt_at, n.attempt_count, n.cycle_attempts
        FROM new_rows n WHERE n.status = 'pending';
    RETURN NULL;
END $$;

CREATE FUNCTION hookd.queue_on_update() RETURNS trigger
LANGUAGE plpgsql
SET enable_hashjoin = off SET enable_mergejoin = off SET enable_seqscan = off
AS $$
BEGIN
    DELETE FROM hookd.queue q USING new_rows n
        WHERE q.tenant_id = n.tenant_id AND q.delivery_id = n.id
        AND n.status <> 'pending';
    INSERT INTO hookd.queue AS q (tenant_id, delivery_id, endpoint_id,
                                  event_id, next_attempt_at, attempt_count,
                                  cycle_attempts)
        SELECT n.tenant_id, n.id, n.endpoint_id, n.event_id,
               n.next_attempt_at, n.attempt_count, n.cycle_attempts
        FROM new_rows n WHERE n.status = 'pending'
        ON CONFLICT (tenant_id, delivery_id) DO UPDATE
        SET next_attempt_at = EXCLUDED.next_attempt_at,
            attempt_count = EXCLUDED.attempt_count,
            cycle_attempts = EXCLUDED.cycle_attempts;
    RETURN NULL;
END $$;

CREATE FUNCTION hookd.queue_on_delete() RETURNS trigger
LANGUAGE plpgsql
SET enable_hashjoin = off SET enable_mergejoin = off SET enable_seqscan = off
AS $$
BEGIN
    DELETE FROM hookd.queue q USING old_rows o
        WHERE q.tenant_id = o.tenant_id AND q.delivery_id = o.id;
    RETURN NULL;
END $$;

CREATE TRIGGER deliveries_queue_insert AFTER INSERT ON hookd.deliveries
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION hookd.queue_on_insert();
CREATE TRIGGER deliveries_queue_update AFTER UPDATE ON hookd.deliveries
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION hookd.queue_on_update();
CREATE TRIGGER deliveries_queue_delete AFTER DELETE ON hookd.deliveries
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION hookd.queue_on_delete();

INSERT INTO hookd.queue (tenant_id, delivery_id, endpoint_id, event_id,
                         next_attempt_at, attempt_count, cycle_attempts)
    SELECT tenant_id, id, endpoint_id, event_id, next_attempt_at,
           attempt_count, cycle_attempts
    FROM hookd.deliveries WHERE status = 'pending';

-- A HOT update needs room in the row's own page: most deliveries are
-- written twice, queued and recorded, and a record rewrites up to a few
-- hundred neighbours in one transaction, so half of each page is left
-- free for their new versions (at 70 %, half of the updates of a test
-- like the one above found no room). The table takes up to twice the
-- pages it did. Set before the column below, whose addition rewrites it.
ALTER TABLE hookd.deliveries SET (fillfactor = 50);
-- Failed deliveries are found among millions that succeeded through a
-- column that only a failure changes: an index whose predicate read
-- status would make every update of status a non-HOT one.
ALTER TABLE hookd.deliveries
    ADD COLUMN failed boolean GENERATED ALWAYS AS (status = 'failed') STORED;
CREATE INDEX deliveries_failed_list ON hookd.deliveries (tenant_id, id DESC)
    WHERE failed;
DROP INDEX hookd.deliveries_failed;
DROP INDEX hookd.deliveries_pending;
DROP INDEX hookd.deliveries_due;
ALTER TABLE hookd.deliveries ALTER COLUMN failed SET STATISTICS 10;
