-- Every status change of a delivery is a new row version, and every index
-- that covers the new version gets an entry. deliveries_status covered
-- every version of every delivery (pending, then sending, then succeeded):
-- three entries per delivery, though only the lists of pending and failed
-- deliveries need help to be found among millions that succeeded. Partial
-- indexes take entries only for those two states; a list of succeeded
-- deliveries walks the primary key (they are most of it), and a list of
-- those sending uses deliveries_in_flight.
CREATE INDEX deliveries_pending
    ON hookd.deliveries (tenant_id, id DESC) WHERE status = 'pending';
CREATE INDEX deliveries_failed
    ON hookd.deliveries (tenant_id, id DESC) WHERE status = 'failed';
DROP INDEX hookd.deliveries_status;

-- attempts_started serves only the hourly prune of old attempts. Attempts
-- are written in time order, so a BRIN index (a few pages, no entry per
-- row) finds the old ones as well as a btree did, without a btree insert
-- for every attempt.
CREATE INDEX attempts_started_brin
    ON hookd.attempts USING brin (started_at);
DROP INDEX hookd.attempts_started;
