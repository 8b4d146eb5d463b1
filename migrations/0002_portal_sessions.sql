-- Short-lived portal sessions: a tenant's developers open the portal with
-- a link the operator's product makes for them. Only the SHA-256 of the
-- token is stored.
CREATE TABLE hookd.portal_sessions (
    tenant_id   uuid NOT NULL REFERENCES hookd.tenants (id) ON DELETE CASCADE,
    id          uuid NOT NULL,
    token_hash  bytea NOT NULL CHECK (length(token_hash) = 32),
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX portal_sessions_token ON hookd.portal_sessions (token_hash);
CREATE INDEX portal_sessions_expiry ON hookd.portal_sessions (expires_at);

-- The smallest version-7 id of a moment: ids are time-ordered, so "made
-- since t" is "id >= uuid7_floor(t)" on the primary key.
CREATE FUNCTION hookd.uuid7_floor(t timestamptz) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT (lpad(to_hex(floor(extract(epoch FROM t) * 1000)::bigint), 12, '0')
            || '70008000000000000000')::uuid
$$;
