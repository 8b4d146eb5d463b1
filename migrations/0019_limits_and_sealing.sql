-- The format each endpoint's secrets are sealed in (crypto.h): 1, the first
-- one, without associated data; 2, bound to the tenant and endpoint ids.
-- Rows that exist now are of format 1 and `hookd migrate` re-seals them
-- (migrate.c, hk_migrate_reseal) as soon as it has HOOKD_SECRET_KEY; rows
-- written from now on are of format 2.
ALTER TABLE hookd.endpoints ADD COLUMN secret_format smallint NOT NULL DEFAULT 1;
ALTER TABLE hookd.endpoints ALTER COLUMN secret_format SET DEFAULT 2;
