-- hookd's whole domain in one schema. Every tenant-owned table carries
-- tenant_id, keys on (tenant_id, id), and filters by it first, so the
-- schema can be distributed by tenant_id without change.

CREATE SCHEMA IF NOT EXISTS hookd;

-- Times leave the database as RFC 3339 UTC with milliseconds.
CREATE FUNCTION hookd.rfc3339(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- A time-ordered UUID (version 7) for rows made inside SQL (deliveries of
-- a fan-out): 48 bits of Unix milliseconds, then random bits.
CREATE FUNCTION hookd.uuid7() RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
        PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp())
        * 1000)::bigint) FROM 3) FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$;

-- An endpoint's filter: empty or "*" matches every type; "a.*" matches
-- every type that begins with "a."; anything else must be equal.
CREATE FUNCTION hookd.filter_matches(filters text[], t text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT cardinality(filters) = 0 OR EXISTS (
        SELECT 1 FROM unnest(filters) f
        WHERE f = '*' OR f = t
           OR (right(f, 2) = '.*'
               AND left(t, length(f) - 1) = left(f, length(f) - 1)))
$$;

CREATE TABLE hookd.tenants (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    metadata    jsonb NOT NULL DEFAULT '{}'::jsonb
                CHECK (jsonb_typeof(metadata) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- API keys are stored as SHA-256 of the full key; the prefix finds the row.
CREATE TABLE hookd.api_keys (
    tenant_id    uuid NOT NULL REFERENCES hookd.tenants (id) ON DELETE CASCADE,
    id           uuid NOT NULL,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    prefix       text NOT NULL,
    key_hash     bytea NOT NULL CHECK (length(key_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX api_keys_prefix ON hookd.api_keys (prefix);

CREATE TABLE hookd.event_types (
    name        text PRIMARY KEY
                CHECK (length(name) <= 128
                       AND name ~ '^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$'),
    description text NOT NULL DEFAULT '',
    example     jsonb,
    archived    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO hookd.event_types (name, description)
VALUES ('hookd.ping', 'A test event sent from the portal or the API.');

-- Endpoints are soft-deleted so that their deliveries and attempts keep
-- their history; a deleted endpoint is invisible to the API.
CREATE TABLE hookd.endpoints (
    tenant_id        uuid NOT NULL REFERENCES hookd.tenants (id) ON DELETE CASCADE,
    id               uuid NOT NULL,
    url              text NOT NULL CHECK (length(url) <= 2048),
    description      text NOT NULL DEFAULT '',
    event_types      text[] NOT NULL DEFAULT '{}',
    enabled          boolean NOT NULL DEFAULT true,
    disabled_reason  text,
    max_concurrency  integer NOT NULL DEFAULT 10
                     CHECK (max_concurrency BETWEEN 1 AND 100),
    rate_limit       integer CHECK (rate_limit IS NULL OR rate_limit >= 1),
    headers          jsonb NOT NULL DEFAULT '{}'::jsonb,
    secret_enc       bytea NOT NULL,
    prev_secret_enc  bytea,
    prev_secret_expires_at timestamptz,
    failing_since    timestamptz,
    deleted_at       timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX endpoints_list ON hookd.endpoints (tenant_id, id DESC)
    WHERE deleted_at IS NULL;

-- payload is the exact text that was posted; it is sent byte for byte.
CREATE TABLE hookd.events (
    tenant_id       uuid NOT NULL REFERENCES hookd.tenants (id) ON DELETE CASCADE,
    id              uuid NOT NULL,
    event_type      text NOT NULL REFERENCES hookd.event_types (name),
    payload         text NOT NULL,
    idempotency_key text,
    request_hash    bytea,
    delivery_count  integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX events_idempotency
    ON hookd.events (tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX events_type ON hookd.events (tenant_id, event_type, id DESC);

-- status: pending (waiting for next_attempt_at), sending (leased by a
-- dispatcher until lease_until), succeeded, failed.
CREATE TABLE hookd.deliveries (
    tenant_id        uuid NOT NULL,
    id               uuid NOT NULL,
    event_id         uuid NOT NULL,
    endpoint_id      uuid NOT NULL,
    event_type       text NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sending', 'succeeded', 'failed')),
    attempt_count    integer NOT NULL DEFAULT 0,
    cycle_attempts   integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    lease_until      timestamptz,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, event_id)
        REFERENCES hookd.events (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, endpoint_id)
        REFERENCES hookd.endpoints (tenant_id, id) ON DELETE CASCADE,
    CHECK (status <> 'pending' OR next_attempt_at IS NOT NULL),
    CHECK (status <> 'sending' OR lease_until IS NOT NULL)
);
-- The dispatcher's due work: pending rows per endpoint in due order, and
-- leases to take back when they expire.
CREATE INDEX deliveries_due
    ON hookd.deliveries (tenant_id, endpoint_id, next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX deliveries_lease
    ON hookd.deliveries (lease_until) WHERE status = 'sending';
CREATE INDEX deliveries_sending
    ON hookd.deliveries (tenant_id, endpoint_id) WHERE status = 'sending';
CREATE INDEX deliveries_list ON hookd.deliveries (tenant_id, id DESC);
CREATE INDEX deliveries_endpoint
    ON hookd.deliveries (tenant_id, endpoint_id, id DESC);
CREATE INDEX deliveries_event ON hookd.deliveries (tenant_id, event_id);
CREATE INDEX deliveries_status ON hookd.deliveries (tenant_id, status, id DESC);


-- One row per attempt, pruned by age (HOOKD_RETENTION_DAYS).
CREATE TABLE hookd.attempts (
    tenant_id          uuid NOT NULL,
    id                 uuid NOT NULL,
    delivery_id        uuid NOT NULL,
    number             integer NOT NULL CHECK (number >= 1),
    started_at         timestamptz NOT NULL,
    duration_ms        integer NOT NULL CHECK (duration_ms >= 0),
    status_code        integer,
    error              text,
    request_url        text NOT NULL,
    request_headers    jsonb NOT NULL DEFAULT '{}'::jsonb,
    response_headers   jsonb,
    response_body      text,
    response_truncated boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, delivery_id)
        REFERENCES hookd.deliveries (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX attempts_delivery
    ON hookd.attempts (tenant_id, delivery_id, number);
CREATE INDEX attempts_started ON hookd.attempts (started_at);
