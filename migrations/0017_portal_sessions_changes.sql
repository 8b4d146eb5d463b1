-- Portal sessions the operator can end, and what the portal's live
-- delivery log reads.
--
-- A session is "write" (everything its tenant may do) or "read" (every
-- read but the endpoint secret). A revoked session, or one signed out,
-- is deleted: its token stops working at once and nothing keeps a row
-- for a token that can never be used again. Expired sessions are deleted
-- by the dispatcher's housekeeping.
ALTER TABLE hookd.portal_sessions
    ADD COLUMN scope text NOT NULL DEFAULT 'write'
    CHECK (scope IN ('read', 'write'));
-- A tenant's live sessions, newest first.
CREATE INDEX portal_sessions_list ON hookd.portal_sessions (tenant_id, id DESC);

-- Deliveries that changed without an attempt: replayed, recovered, or
-- ended failed because their endpoint was disabled or deleted. None of
-- these is on the engine's hot path (a record of attempts writes nothing
-- here). The live updates route reads this by id range (ids are
-- time-ordered); rows older than an hour are deleted by the
-- housekeeping, long after any client could still ask for them.
CREATE TABLE hookd.changes (
    tenant_id   uuid NOT NULL,
    id          uuid NOT NULL,
    delivery_id uuid NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- Deliveries attempted since a moment are found through their attempts'
-- ids, which are time-ordered and made when the outcome is recorded. The
-- primary key leads with the delivery, so a range of ids is a BRIN
-- index's job: on an insert-only table in id order its ranges stay
-- narrow, and an insert into the table's last, not yet summarized, pages
-- costs a lookup in the range map and writes nothing. A B-tree on
-- (tenant_id, id) would cost every recorded attempt one more index entry.
CREATE INDEX attempts_recent ON hookd.attempts USING brin (id)
    WITH (pages_per_range = 32);
