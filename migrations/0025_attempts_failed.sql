-- An endpoint's last failure in a tenant's stats is its last failed
-- attempt started in the range asked, whatever the age of its delivery
-- (server/store_portal.c, sql_stats). The attempts' own indexes find them
-- by delivery, or by time across every tenant (attempts_recent,
-- attempts_started_brin), which for a day's range reads every tenant's
-- attempts of that day. This one finds a tenant's failed attempts by
-- when they started, and takes an entry for a failed attempt only, so
-- that recording the attempts that succeed, most of them, costs nothing
-- more. Its predicate is the text of the query's (FAILED_ATTEMPT there),
-- so that PostgreSQL matches the two. Building it reads the whole table
-- once, and attempts wait to be recorded meanwhile.
CREATE INDEX attempts_failed ON hookd.attempts (tenant_id, started_at)
    WHERE (error IS NOT NULL OR status_code IS NULL
           OR status_code NOT BETWEEN 200 AND 299);
