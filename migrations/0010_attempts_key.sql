-- Attempts are only ever read as the list of one delivery's attempts, in
-- id order, and deleted with their delivery or by age. A primary key on
-- (tenant_id, delivery_id, id) serves that list, the cascade from
-- deliveries and uniqueness at once, so attempts_delivery goes: one index
-- entry fewer for every attempt recorded.
ALTER TABLE hookd.attempts DROP CONSTRAINT attempts_pkey;
ALTER TABLE hookd.attempts ADD PRIMARY KEY (tenant_id, delivery_id, id);
DROP INDEX hookd.attempts_delivery;
