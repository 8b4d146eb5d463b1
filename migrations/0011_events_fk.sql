-- Each event inserted checked two foreign keys, to its tenant and to its
-- event type: a lookup and a row lock each, run one by one for every event
-- after the insert statement, about 20 us an event, a third of what an
-- ingest of one event with one delivery costs PostgreSQL.
--
-- The event type's key guarded nothing hookd can break: event types are
-- never deleted (only archived), and every insert of an event reads its
-- type in the same statement and writes nothing when it is unknown.
--
-- The tenant's key did two things. It deleted a tenant's events with it:
-- the deletion of a tenant now does that itself, in the same transaction
-- (store_admin.c). And it locked the tenant's row (FOR KEY SHARE) while an
-- ingest was writing, so that a deletion waited for the ingest and then
-- removed what it wrote: every statement that inserts events now takes
-- that lock itself, once per tenant and statement instead of once per
-- event (store_events.c, store_portal.c). An ingest that comes after the
-- deletion finds the tenant gone and writes nothing.
ALTER TABLE hookd.events
    DROP CONSTRAINT events_tenant_id_fkey,
    DROP CONSTRAINT events_event_type_fkey;
