-- deliveries is hookd's queue: every delivery changes status two or three
-- times within seconds, and each change leaves an entry behind in the due
-- index that a claim must step over until VACUUM removes it. Vacuum it
-- after a small share of its rows have changed, at full speed, rather than
-- after a fifth of the table as PostgreSQL's defaults would.
ALTER TABLE hookd.deliveries SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0.05,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0
);
ALTER TABLE hookd.attempts SET (
    autovacuum_vacuum_insert_scale_factor = 0.05,
    autovacuum_analyze_scale_factor = 0.05
);
