-- Where each attempt's time went and whom it reached: the address the
-- request connected to and libcurl's phases, each on its own in
-- microseconds (DNS, TCP connect, TLS handshake, request sent until the
-- first byte of the answer, the whole attempt). A phase that did not
-- happen, as on a reused connection, is 0; attempts recorded before this
-- migration have none of them (NULL), and the API shows them as null.
-- Integers rather than an interval or a jsonb object: five fixed numbers
-- in 20 bytes, written with the attempt at no cost to the record.
ALTER TABLE hookd.attempts
    ADD COLUMN remote_ip text,
    ADD COLUMN dns_us integer,
    ADD COLUMN connect_us integer,
    ADD COLUMN tls_us integer,
    ADD COLUMN ttfb_us integer,
    ADD COLUMN total_us integer;

-- The requests an endpoint may have in flight now, as its answers allow
-- (docs/engine.md, adaptive concurrency): NULL while it is max_concurrency,
-- a smaller number after it answered 429 or 503 or timed out. Written by
-- the dispatcher that sends to it when the number changes, read by the API.
ALTER TABLE hookd.endpoints ADD COLUMN current_concurrency integer
    CHECK (current_concurrency IS NULL OR current_concurrency >= 1);
