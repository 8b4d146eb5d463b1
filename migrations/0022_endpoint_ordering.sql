-- How an endpoint wants its deliveries (docs/engine.md, ordered delivery):
-- 'unordered', the default, sends as many at once as its limits allow;
-- 'fifo' sends one at a time in the order of the deliveries' ids (uuid7,
-- made at fan-out in event order), and a delivery waiting for a retry
-- holds the ones behind it until it succeeds, is replayed or is skipped.
-- A check rather than an enum type: a third value later is one ALTER of
-- the constraint, not a type change across the table.
ALTER TABLE hookd.endpoints
    ADD COLUMN ordering text NOT NULL DEFAULT 'unordered'
    CHECK (ordering IN ('unordered', 'fifo'));
