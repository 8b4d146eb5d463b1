-- Limits per tenant (docs/limits.md), set by the operator with
-- PATCH /v1/tenants/{id}: how many endpoints the tenant may have, how many
-- events per second its API posts may send, and how large one event's
-- payload may be (NULL: HOOKD_MAX_BODY alone bounds it).
ALTER TABLE hookd.tenants
    ADD COLUMN max_endpoints integer NOT NULL DEFAULT 100
        CHECK (max_endpoints BETWEEN 0 AND 100000),
    ADD COLUMN events_per_second integer NOT NULL DEFAULT 10000
        CHECK (events_per_second BETWEEN 1 AND 1000000),
    ADD COLUMN max_payload_bytes integer
        CHECK (max_payload_bytes BETWEEN 1 AND 67108864);

-- The token bucket of each tenant's event rate, shared by every hookd api
-- process: it holds at most one second of the tenant's rate and refills
-- continuously. Processes take tokens in small batches
-- (hookd.take_event_tokens, called by ratelimit.c) and spend them
-- locally, so a row is updated a few dozen times a second at most, never
-- once per event. Room is left in each page so that those updates stay
-- on the page (HOT) and need no index change.
CREATE TABLE hookd.tenant_rate (
    tenant_id   uuid PRIMARY KEY
                REFERENCES hookd.tenants (id) ON DELETE CASCADE,
    tokens      double precision NOT NULL,
    refilled_at timestamptz NOT NULL
) WITH (fillfactor = 50);

-- Takes up to p_want tokens from the tenant's bucket, refilled first at
-- the tenant's events_per_second for the time since the last take (on the
-- database's clock, the one clock all processes share). Returns how many
-- were granted (0 to p_want), the tenant's rate and payload limit, and,
-- when none was granted, the milliseconds until one will be; no row when
-- the tenant does not exist. The row lock serialises concurrent takes.
CREATE FUNCTION hookd.take_event_tokens(p_tenant uuid, p_want integer)
RETURNS TABLE (granted integer, rate integer, max_payload_bytes integer,
               wait_ms integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_rate integer;
    v_max_payload integer;
    v_tokens double precision;
    v_at timestamptz;
    v_now timestamptz := clock_timestamp();
    v_granted integer;
BEGIN
    SELECT t.events_per_second, t.max_payload_bytes
      INTO v_rate, v_max_payload
      FROM hookd.tenants t WHERE t.id = p_tenant;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    INSERT INTO hookd.tenant_rate (tenant_id, tokens, refilled_at)
    VALUES (p_tenant, v_rate, v_now)
    ON CONFLICT (tenant_id) DO NOTHING;
    SELECT r.tokens, r.refilled_at INTO v_tokens, v_at
      FROM hookd.tenant_rate r WHERE r.tenant_id = p_tenant FOR UPDATE;
    v_tokens := least(v_rate::double precision,
                      v_tokens + v_rate * greatest(0.0,
                          extract(epoch FROM v_now - v_at)::double precision));
    v_granted := least(greatest(p_want, 0)::double precision,
                       floor(v_tokens))::integer;
    v_tokens := v_tokens - v_granted;
    UPDATE hookd.tenant_rate SET tokens = v_tokens, refilled_at = v_now
     WHERE tenant_id = p_tenant;
    granted := v_granted;
    rate := v_rate;
    max_payload_bytes := v_max_payload;
    wait_ms := CASE WHEN v_granted > 0 THEN 0
                    ELSE ceil((1.0 - v_tokens) * 1000.0 / v_rate)::integer
               END;
    RETURN NEXT;
END
$$;

-- hookd's own, like every function of the schema (0018): a role that may
-- only send events must not spend a tenant's tokens.
REVOKE EXECUTE ON FUNCTION hookd.take_event_tokens(uuid, integer) FROM PUBLIC;
