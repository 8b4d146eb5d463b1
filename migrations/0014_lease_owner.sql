-- A dispatcher may now hold more leases at an endpoint than it has
-- requests in flight there: up to twice max_concurrency, the rest waiting
-- in its memory for one of the endpoint's slots, so that a slot freed by
-- an answer is refilled at once instead of after the next claim. It does
-- so only while no other dispatcher holds a lease at that endpoint, and a
-- claim must tell its own leases from the others' to know: each lease
-- names the dispatcher that holds it (a random id per process). NULL, for
-- leases written before this migration, counts as another's.
ALTER TABLE hookd.leases ADD COLUMN owner uuid;
