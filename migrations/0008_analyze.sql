-- ANALYZE reads a sample of 300 rows per unit of the largest statistics
-- target among a table's columns, and sorts the sample of every column it
-- keeps statistics for. Under a steady stream of events autovacuum
-- analyzes the three busy tables every few seconds while they grow, and
-- sampling and sorting payloads, headers and bodies took about a twelfth
-- of PostgreSQL's CPU in the benchmark. Columns that no query filters or
-- joins on get no statistics; the others get a target of 10 (3,000 sampled
-- rows rather than 30,000), plenty for what the planner asks of them:
-- which tenant, which status, how recent.
ALTER TABLE hookd.events
    ALTER COLUMN payload SET STATISTICS 0,
    ALTER COLUMN request_hash SET STATISTICS 0,
    ALTER COLUMN delivery_count SET STATISTICS 0;
ALTER TABLE hookd.deliveries
    ALTER COLUMN last_error SET STATISTICS 0,
    ALTER COLUMN last_status_code SET STATISTICS 0,
    ALTER COLUMN attempt_count SET STATISTICS 0,
    ALTER COLUMN cycle_attempts SET STATISTICS 0,
    ALTER COLUMN updated_at SET STATISTICS 0;
ALTER TABLE hookd.attempts
    ALTER COLUMN request_headers SET STATISTICS 0,
    ALTER COLUMN response_headers SET STATISTICS 0,
    ALTER COLUMN response_body SET STATISTICS 0,
    ALTER COLUMN response_truncated SET STATISTICS 0,
    ALTER COLUMN request_url SET STATISTICS 0,
    ALTER COLUMN error SET STATISTICS 0,
    ALTER COLUMN status_code SET STATISTICS 0,
    ALTER COLUMN duration_ms SET STATISTICS 0;
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN
        SELECT a.attrelid::regclass AS tab, a.attname
        FROM pg_attribute a
        WHERE a.attrelid IN ('hookd.events'::regclass,
                             'hookd.deliveries'::regclass,
                             'hookd.attempts'::regclass)
        AND a.attnum > 0 AND NOT a.attisdropped AND a.attstattarget <> 0
    LOOP
        EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET STATISTICS 10',
                       c.tab, c.attname);
    END LOOP;
END
$$;
-- The queue's status mix moves quickly, but the dispatcher's statements
-- are planned once per connection and walk indexes whatever the
-- statistics say; the default threshold (a tenth of the table) is enough
-- for the API's lists.
ALTER TABLE hookd.deliveries RESET (autovacuum_analyze_scale_factor);
ALTER TABLE hookd.attempts RESET (autovacuum_analyze_scale_factor);
