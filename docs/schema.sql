-- The schema that migrations/ produce on a fresh database: written by
-- `make schema` (scripts/schema.sh), checked by `make test`. Do not edit.

CREATE SCHEMA hookd;

CREATE FUNCTION hookd.filter_matches(filters text[], t text) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
    SELECT cardinality(filters) = 0 OR EXISTS (
        SELECT 1 FROM unnest(filters) f
        WHERE f = '*' OR f = t
           OR (right(f, 2) = '.*'
               AND left(t, length(f) - 1) = left(f, length(f) - 1)))
$$;

CREATE FUNCTION hookd.ingest_event(p_tenant_id uuid, p_event_type text, p_payload text, p_idempotency_key text, OUT outcome text, OUT id uuid, OUT deliveries integer, OUT created_at timestamp with time zone) RETURNS record
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    type_state text;
    prior record;
    segments text[];
    patterns text[];
    prefix text := '';
BEGIN
    -- Twice at most: an insert that meets the same key, committed by
    -- another transaction since the first look, finds it on the second
    -- (under REPEATABLE READ, PostgreSQL raises a serialization failure
    -- instead, for the caller to retry).
    FOR pass IN 1..2 LOOP
        IF p_idempotency_key IS NOT NULL THEN
            SELECT v.id, v.event_type, v.payload, v.delivery_count,
                   v.created_at
            INTO prior
            FROM hookd.events v
            WHERE v.tenant_id = p_tenant_id
            AND v.idempotency_key = p_idempotency_key;
            IF FOUND THEN
                outcome := CASE WHEN prior.event_type = p_event_type
                                AND prior.payload = p_payload
                           THEN 'repeated' ELSE 'conflict' END;
                id := prior.id;
                deliveries := prior.delivery_count;
                created_at := prior.created_at;
                RETURN;
            END IF;
        END IF;
        -- The tenant's row is locked as a deletion of the tenant waits for
        -- (0011_events_fk.sql).
        SELECT CASE WHEN et.name IS NULL THEN 'unknown_type'
                    WHEN et.archived THEN 'archived' END
        INTO type_state
        FROM hookd.tenants t
        LEFT JOIN hookd.event_types et ON et.name = p_event_type
        WHERE t.id = p_tenant_id
        FOR KEY SHARE OF t;
        IF NOT FOUND THEN
            outcome := 'no_tenant';
            RETURN;
        ELSIF type_state IS NOT NULL THEN
            outcome := type_state;
            RETURN;
        END IF;
        -- The filter entries that match the type: "*", the name, and
        -- "a.*" for each dotted prefix "a." of it (hk_event_type_patterns
        -- in C, for the API's grouped ingest); an endpoint matches when
        -- its list is empty or shares one.
        IF patterns IS NULL THEN
            segments := string_to_array(p_event_type, '.');
            patterns := ARRAY['*', p_event_type];
            FOR i IN 1..cardinality(segments) - 1 LOOP
                prefix := prefix || segments[i] || '.';
                patterns := patterns || (prefix || '*');
            END LOOP;
        END IF;
        WITH ep AS (
            SELECT e.tenant_id, e.id FROM hookd.endpoints e
            WHERE e.tenant_id = p_tenant_id AND e.enabled
            AND e.deleted_at IS NULL
            AND (cardinality(e.event_types) = 0 OR e.event_types && patterns)),
        v AS (
            INSERT INTO hookd.events (tenant_id, id, event_type, payload,
                                      idempotency_key, delivery_count)
            SELECT p_tenant_id, hookd.uuid7(), p_event_type, p_payload,
                   p_idempotency_key, (SELECT count(*) FROM ep)
            ON CONFLICT (tenant_id, idempotency_key)
                WHERE idempotency_key IS NOT NULL DO NOTHING
            RETURNING *),
        d AS (
            INSERT INTO hookd.deliveries (tenant_id, id, event_id,
                                          endpoint_id, event_type,
                                          next_attempt_at)
            SELECT ep.tenant_id, hookd.uuid7(), v.id, ep.id, v.event_type,
                   v.created_at
            FROM ep, v)
        SELECT v.id, v.delivery_count, v.created_at
        INTO id, deliveries, created_at FROM v;
        IF FOUND THEN
            outcome := 'created';
            RETURN;
        END IF;
    END LOOP;
    RAISE EXCEPTION 'idempotency_key % was being used by another transaction',
        p_idempotency_key USING ERRCODE = 'serialization_failure';
END $$;

CREATE FUNCTION hookd.queue_on_delete() RETURNS trigger
    LANGUAGE plpgsql
    SET enable_hashjoin TO 'off'
    SET enable_mergejoin TO 'off'
    SET enable_seqscan TO 'off'
    AS $$
BEGIN
    DELETE FROM hookd.queue q USING old_rows o
        WHERE q.tenant_id = o.tenant_id AND q.endpoint_id = o.endpoint_id
        AND q.delivery_id = o.id;
    RETURN NULL;
END $$;

CREATE FUNCTION hookd.queue_on_insert() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO hookd.queue (tenant_id, delivery_id, endpoint_id, event_id,
                             next_attempt_at, attempt_count, cycle_attempts)
        SELECT n.tenant_id, n.id, n.endpoint_id, n.event_id,
               n.next_attempt_at, n.attempt_count, n.cycle_attempts
        FROM new_rows n WHERE n.status = 'pending';
    RETURN NULL;
END $$;

CREATE FUNCTION hookd.queue_on_update() RETURNS trigger
    LANGUAGE plpgsql
    SET enable_hashjoin TO 'off'
    SET enable_mergejoin TO 'off'
    SET enable_seqscan TO 'off'
    AS $$
BEGIN
    DELETE FROM hookd.queue q USING new_rows n
        WHERE q.tenant_id = n.tenant_id AND q.endpoint_id = n.endpoint_id
        AND q.delivery_id = n.id AND n.status <> 'pending';
    INSERT INTO hookd.queue AS q (tenant_id, delivery_id, endpoint_id,
                                  event_id, next_attempt_at, attempt_count,
                                  cycle_attempts)
        SELECT n.tenant_id, n.id, n.endpoint_id, n.event_id,
               n.next_attempt_at, n.attempt_count, n.cycle_attempts
        FROM new_rows n WHERE n.status = 'pending'
        ON CONFLICT (tenant_id, endpoint_id, delivery_id) DO UPDATE
        SET next_attempt_at = EXCLUDED.next_attempt_at,
            attempt_count = EXCLUDED.attempt_count,
            cycle_attempts = EXCLUDED.cycle_attempts;
    RETURN NULL;
END $$;

CREATE FUNCTION hookd.rfc3339(t timestamp with time zone) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

CREATE FUNCTION hookd.send_checked(p_tenant_id uuid, p_event_type text, p_payload text, p_idempotency_key text, p_max_bytes bigint, p_pos bigint, OUT id uuid, OUT deliveries integer) RETURNS record
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    suffix text := CASE WHEN p_pos IS NULL THEN ''
                        ELSE 's[' || p_pos || ']' END;
    r record;
    why text;
    why_detail text;
BEGIN
    IF p_tenant_id IS NULL THEN
        RAISE EXCEPTION 'tenant_id% must not be null', suffix
            USING ERRCODE = 'null_value_not_allowed';
    ELSIF p_event_type IS NULL THEN
        RAISE EXCEPTION 'event_type% must not be null', suffix
            USING ERRCODE = 'null_value_not_allowed';
    ELSIF p_payload IS NULL THEN
        RAISE EXCEPTION 'payload% must not be null', suffix
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF octet_length(p_payload) > p_max_bytes THEN
        RAISE EXCEPTION 'payload% is % bytes, more than the limit of % bytes',
            suffix, octet_length(p_payload), p_max_bytes
            USING ERRCODE = 'program_limit_exceeded',
            HINT = 'The limit is hookd.settings max_payload_bytes.';
    END IF;
    -- json, not jsonb: json checks the syntax and keeps nothing, so
    -- whatever the API accepts passes ("\u0000", numbers beyond any
    -- binary type), and the text stored is the text given.
    BEGIN
        PERFORM p_payload::json;
    EXCEPTION WHEN data_exception OR statement_too_complex THEN
        GET STACKED DIAGNOSTICS why = MESSAGE_TEXT,
                                why_detail = PG_EXCEPTION_DETAIL;
        RAISE EXCEPTION 'payload% is not valid JSON', suffix
            USING ERRCODE = 'invalid_text_representation',
            DETAIL = concat_ws(': ', why, NULLIF(why_detail, ''));
    END;
    IF p_idempotency_key IS NOT NULL
       AND p_idempotency_key !~ '^[\x20-\x7e]{1,255}$' THEN
        RAISE EXCEPTION 'idempotency_key% must be 1 to 255 printable ASCII '
            'characters', suffix
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO r FROM hookd.ingest_event(p_tenant_id, p_event_type,
                                            p_payload, p_idempotency_key);
    CASE r.outcome
    WHEN 'created', 'repeated' THEN
        id := r.id;
        deliveries := CASE WHEN r.outcome = 'created' THEN r.deliveries
                           ELSE 0 END;
    WHEN 'conflict' THEN
        RAISE EXCEPTION 'idempotency_key% % was used with another event type '
            'or payload', suffix, p_idempotency_key
            USING ERRCODE = 'unique_violation',
            DETAIL = 'The event sent with this key is ' || r.id || '.';
    WHEN 'no_tenant' THEN
        RAISE EXCEPTION 'tenant_id% % is not a tenant', suffix, p_tenant_id
            USING ERRCODE = 'foreign_key_violation';
    WHEN 'unknown_type' THEN
        RAISE EXCEPTION 'event_type% % is not a known event type', suffix,
            left(p_event_type, 200)
            USING ERRCODE = 'foreign_key_violation';
    ELSE
        RAISE EXCEPTION 'event_type% % is archived', suffix, p_event_type
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END CASE;
END $_$;

CREATE FUNCTION hookd.send_event(tenant_id uuid, event_type text, payload text, idempotency_key text DEFAULT NULL::text) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    max_bytes bigint;
    wake bigint;
    r record;
BEGIN
    SELECT max(s.value) FILTER (WHERE s.name = 'max_payload_bytes'),
           max(s.value) FILTER (WHERE s.name = 'wake_dispatchers')
    INTO max_bytes, wake FROM hookd.settings s;
    SELECT * INTO r FROM hookd.send_checked(
        send_event.tenant_id, send_event.event_type, send_event.payload,
        send_event.idempotency_key, max_bytes, NULL);
    IF r.deliveries > 0 AND wake IS DISTINCT FROM 0 THEN
        PERFORM pg_notify('hookd_work', 'hookd.send_event');
    END IF;
    RETURN r.id;
END $$;

CREATE FUNCTION hookd.send_events(tenant_ids uuid[], event_types text[], payloads text[], idempotency_keys text[] DEFAULT NULL::text[]) RETURNS uuid[]
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    n integer := cardinality(tenant_ids);
    max_bytes bigint;
    wake bigint;
    ids uuid[] := '{}';
    woke boolean := false;
    e record;
    r record;
BEGIN
    IF tenant_ids IS NULL OR event_types IS NULL OR payloads IS NULL THEN
        RAISE EXCEPTION 'tenant_ids, event_types and payloads must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF cardinality(event_types) <> n OR cardinality(payloads) <> n
       OR cardinality(idempotency_keys) <> n THEN
        RAISE EXCEPTION 'tenant_ids, event_types, payloads and '
            'idempotency_keys must have the same number of elements '
            '(%, %, %, %)', n, cardinality(event_types),
            cardinality(payloads), COALESCE(cardinality(idempotency_keys), n)
            USING ERRCODE = 'array_subscript_error';
    END IF;
    SELECT max(s.value) FILTER (WHERE s.name = 'max_payload_bytes'),
           max(s.value) FILTER (WHERE s.name = 'wake_dispatchers')
    INTO max_bytes, wake FROM hookd.settings s;
    FOR e IN
        SELECT * FROM unnest(tenant_ids, event_types, payloads,
            COALESCE(idempotency_keys, array_fill(NULL::text, ARRAY[n])))
            WITH ORDINALITY AS a(tenant_id, event_type, payload, key, pos)
    LOOP
        SELECT * INTO r FROM hookd.send_checked(
            e.tenant_id, e.event_type, e.payload, e.key, max_bytes, e.pos);
        ids := ids || r.id;
        woke := woke OR r.deliveries > 0;
    END LOOP;
    IF woke AND wake IS DISTINCT FROM 0 THEN
        PERFORM pg_notify('hookd_work', 'hookd.send_event');
    END IF;
    RETURN ids;
END $$;

CREATE FUNCTION hookd.take_event_tokens(p_tenant uuid, p_want integer) RETURNS TABLE(granted integer, rate integer, max_payload_bytes integer, wait_ms integer)
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION hookd.uuid7() RETURNS uuid
    LANGUAGE sql PARALLEL SAFE
    AS $$
    SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
        PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp())
        * 1000)::bigint) FROM 3) FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$;

CREATE FUNCTION hookd.uuid7_floor(t timestamp with time zone) RETURNS uuid
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
    SELECT (lpad(to_hex(floor(extract(epoch FROM t) * 1000)::bigint), 12, '0')
            || '70008000000000000000')::uuid
$$;

CREATE TABLE hookd.api_keys (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    name text NOT NULL,
    prefix text NOT NULL,
    key_hash bytea NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    last_used_at timestamp with time zone,
    CONSTRAINT api_keys_key_hash_check CHECK ((length(key_hash) = 32)),
    CONSTRAINT api_keys_name_check CHECK (((length(name) >= 1) AND (length(name) <= 200)))
);

CREATE TABLE hookd.attempts (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    delivery_id uuid NOT NULL,
    number integer NOT NULL,
    started_at timestamp with time zone NOT NULL,
    duration_ms integer NOT NULL,
    status_code integer,
    error text,
    request_url text NOT NULL,
    request_headers jsonb DEFAULT '{}'::jsonb NOT NULL,
    response_headers jsonb,
    response_body text,
    response_truncated boolean DEFAULT false NOT NULL,
    remote_ip text,
    dns_us integer,
    connect_us integer,
    tls_us integer,
    ttfb_us integer,
    total_us integer,
    CONSTRAINT attempts_duration_ms_check CHECK ((duration_ms >= 0)),
    CONSTRAINT attempts_number_check CHECK ((number >= 1))
)
WITH (autovacuum_vacuum_insert_scale_factor='0.05');
ALTER TABLE ONLY hookd.attempts ALTER COLUMN tenant_id SET STATISTICS 10;
ALTER TABLE ONLY hookd.attempts ALTER COLUMN id SET STATISTICS 10;
ALTER TABLE ONLY hookd.attempts ALTER COLUMN delivery_id SET STATISTICS 10;
ALTER TABLE ONLY hookd.attempts ALTER COLUMN number SET STATISTICS 10;
ALTER TABLE ONLY hookd.attempts ALTER COLUMN started_at SET STATISTICS 10;
ALTER TABLE ONLY hookd.attempts ALTER COLUMN duration_ms SET STATISTICS 0;
ALTER TABLE ONLY hookd.attempts ALTER COLUMN status_code SET STATISTICS 0;
ALTER TABLE ONLY hookd.attempts ALTER COLUMN error SET STATISTICS 0;
ALTER TABLE ONLY hookd.attempts ALTER COLUMN request_url SET STATISTICS 0;
ALTER TABLE ONLY hookd.attempts ALTER COLUMN request_headers SET STATISTICS 0;
ALTER TABLE ONLY hookd.attempts ALTER COLUMN response_headers SET STATISTICS 0;
ALTER TABLE ONLY hookd.attempts ALTER COLUMN response_body SET STATISTICS 0;
ALTER TABLE ONLY hookd.attempts ALTER COLUMN response_truncated SET STATISTICS 0;

CREATE TABLE hookd.changes (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    delivery_id uuid NOT NULL
);

CREATE TABLE hookd.deliveries (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    event_id uuid NOT NULL,
    endpoint_id uuid NOT NULL,
    event_type text NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    attempt_count integer DEFAULT 0 NOT NULL,
    cycle_attempts integer DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone,
    last_status_code integer,
    last_error text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    completed_at timestamp with time zone,
    failed boolean GENERATED ALWAYS AS ((status = 'failed'::text)) STORED,
    CONSTRAINT deliveries_check CHECK (((status <> 'pending'::text) OR (next_attempt_at IS NOT NULL))),
    CONSTRAINT deliveries_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'succeeded'::text, 'failed'::text])))
)
WITH (autovacuum_vacuum_scale_factor='0.01', autovacuum_vacuum_threshold='1000', autovacuum_vacuum_insert_scale_factor='0.05', autovacuum_vacuum_cost_delay='0', fillfactor='50');
ALTER TABLE ONLY hookd.deliveries ALTER COLUMN tenant_id SET STATISTICS 10;
ALTER TABLE ONLY hookd.deliveries ALTER COLUMN id SET STATISTICS 10;
ALTER TABLE ONLY hookd.deliveries ALTER COLUMN event_id SET STATISTICS 10;
ALTER TABLE ONLY hookd.deliveries ALTER COLUMN endpoint_id SET STATISTICS 10;
ALTER TABLE ONLY hookd.deliveries ALTER COLUMN event_type SET STATISTICS 10;
ALTER TABLE ONLY hookd.deliveries ALTER COLUMN status SET STATISTICS 10;
ALTER TABLE ONLY hookd.deliveries ALTER COLUMN attempt_count SET STATISTICS 0;
ALTER TABLE ONLY hookd.deliveries ALTER COLUMN cycle_attempts SET STATISTICS 0;
ALTER TABLE ONLY hookd.deliveries ALTER COLUMN next_attempt_at SET STATISTICS 10;
ALTER TABLE ONLY hookd.deliveries ALTER COLUMN last_status_code SET STATISTICS 0;
ALTER TABLE ONLY hookd.deliveries ALTER COLUMN last_error SET STATISTICS 0;
ALTER TABLE ONLY hookd.deliveries ALTER COLUMN created_at SET STATISTICS 10;
ALTER TABLE ONLY hookd.deliveries ALTER COLUMN updated_at SET STATISTICS 0;
ALTER TABLE ONLY hookd.deliveries ALTER COLUMN completed_at SET STATISTICS 10;
ALTER TABLE ONLY hookd.deliveries ALTER COLUMN failed SET STATISTICS 10;

CREATE TABLE hookd.dispatchers (
    id uuid NOT NULL,
    seen_at timestamp with time zone NOT NULL
);

CREATE TABLE hookd.endpoint_owners (
    tenant_id uuid NOT NULL,
    endpoint_id uuid NOT NULL,
    owner uuid NOT NULL,
    lease_until timestamp with time zone NOT NULL,
    holding uuid[] DEFAULT '{}'::uuid[] NOT NULL,
    held_at timestamp with time zone DEFAULT now() NOT NULL
)
WITH (autovacuum_vacuum_scale_factor='0', autovacuum_vacuum_threshold='200', autovacuum_vacuum_cost_delay='0');

CREATE TABLE hookd.endpoints (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    url text NOT NULL,
    description text DEFAULT ''::text NOT NULL,
    event_types text[] DEFAULT '{}'::text[] NOT NULL,
    enabled boolean DEFAULT true NOT NULL,
    disabled_reason text,
    max_concurrency integer DEFAULT 10 NOT NULL,
    rate_limit integer,
    headers jsonb DEFAULT '{}'::jsonb NOT NULL,
    secret_enc bytea NOT NULL,
    prev_secret_enc bytea,
    prev_secret_expires_at timestamp with time zone,
    failing_since timestamp with time zone,
    deleted_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    secret_format smallint DEFAULT 2 NOT NULL,
    current_concurrency integer,
    ordering text DEFAULT 'unordered'::text NOT NULL,
    CONSTRAINT endpoints_current_concurrency_check CHECK (((current_concurrency IS NULL) OR (current_concurrency >= 1))),
    CONSTRAINT endpoints_max_concurrency_check CHECK (((max_concurrency >= 1) AND (max_concurrency <= 100))),
    CONSTRAINT endpoints_ordering_check CHECK ((ordering = ANY (ARRAY['unordered'::text, 'fifo'::text]))),
    CONSTRAINT endpoints_rate_limit_check CHECK (((rate_limit IS NULL) OR (rate_limit >= 1))),
    CONSTRAINT endpoints_url_check CHECK ((length(url) <= 2048))
);

CREATE TABLE hookd.event_types (
    name text NOT NULL,
    description text DEFAULT ''::text NOT NULL,
    example jsonb,
    archived boolean DEFAULT false NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT event_types_name_check CHECK (((length(name) <= 128) AND (name ~ '^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$'::text)))
);

CREATE TABLE hookd.events (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    event_type text NOT NULL,
    payload text NOT NULL,
    idempotency_key text,
    request_hash bytea,
    delivery_count integer DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);
ALTER TABLE ONLY hookd.events ALTER COLUMN tenant_id SET STATISTICS 10;
ALTER TABLE ONLY hookd.events ALTER COLUMN id SET STATISTICS 10;
ALTER TABLE ONLY hookd.events ALTER COLUMN event_type SET STATISTICS 10;
ALTER TABLE ONLY hookd.events ALTER COLUMN payload SET STATISTICS 0;
ALTER TABLE ONLY hookd.events ALTER COLUMN idempotency_key SET STATISTICS 10;
ALTER TABLE ONLY hookd.events ALTER COLUMN request_hash SET STATISTICS 0;
ALTER TABLE ONLY hookd.events ALTER COLUMN delivery_count SET STATISTICS 0;
ALTER TABLE ONLY hookd.events ALTER COLUMN created_at SET STATISTICS 10;

CREATE TABLE hookd.portal_sessions (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    token_hash bytea NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    scope text DEFAULT 'write'::text NOT NULL,
    CONSTRAINT portal_sessions_scope_check CHECK ((scope = ANY (ARRAY['read'::text, 'write'::text]))),
    CONSTRAINT portal_sessions_token_hash_check CHECK ((length(token_hash) = 32))
);

CREATE TABLE hookd.queue (
    tenant_id uuid NOT NULL,
    delivery_id uuid NOT NULL,
    endpoint_id uuid NOT NULL,
    event_id uuid NOT NULL,
    next_attempt_at timestamp with time zone NOT NULL,
    attempt_count integer NOT NULL,
    cycle_attempts integer NOT NULL
)
WITH (autovacuum_vacuum_scale_factor='0.01', autovacuum_vacuum_threshold='2000', autovacuum_vacuum_insert_scale_factor='0.05', autovacuum_vacuum_cost_delay='0');

CREATE TABLE hookd.schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL,
    checksum text
);

CREATE TABLE hookd.settings (
    name text NOT NULL,
    value bigint NOT NULL
);

CREATE TABLE hookd.tenant_rate (
    tenant_id uuid NOT NULL,
    tokens double precision NOT NULL,
    refilled_at timestamp with time zone NOT NULL
)
WITH (fillfactor='50');

CREATE TABLE hookd.tenants (
    id uuid NOT NULL,
    name text NOT NULL,
    metadata jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    max_endpoints integer DEFAULT 100 NOT NULL,
    events_per_second integer DEFAULT 10000 NOT NULL,
    max_payload_bytes integer,
    CONSTRAINT tenants_events_per_second_check CHECK (((events_per_second >= 1) AND (events_per_second <= 1000000))),
    CONSTRAINT tenants_max_endpoints_check CHECK (((max_endpoints >= 0) AND (max_endpoints <= 100000))),
    CONSTRAINT tenants_max_payload_bytes_check CHECK (((max_payload_bytes >= 1) AND (max_payload_bytes <= 67108864))),
    CONSTRAINT tenants_metadata_check CHECK ((jsonb_typeof(metadata) = 'object'::text)),
    CONSTRAINT tenants_name_check CHECK (((length(name) >= 1) AND (length(name) <= 200)))
);

ALTER TABLE ONLY hookd.api_keys
    ADD CONSTRAINT api_keys_pkey PRIMARY KEY (tenant_id, id);

ALTER TABLE ONLY hookd.attempts
    ADD CONSTRAINT attempts_pkey PRIMARY KEY (tenant_id, delivery_id, id);

ALTER TABLE ONLY hookd.changes
    ADD CONSTRAINT changes_pkey PRIMARY KEY (tenant_id, id);

ALTER TABLE ONLY hookd.deliveries
    ADD CONSTRAINT deliveries_pkey PRIMARY KEY (tenant_id, id);

ALTER TABLE ONLY hookd.dispatchers
    ADD CONSTRAINT dispatchers_pkey PRIMARY KEY (id);

ALTER TABLE ONLY hookd.endpoint_owners
    ADD CONSTRAINT endpoint_owners_pkey PRIMARY KEY (tenant_id, endpoint_id);

ALTER TABLE ONLY hookd.endpoints
    ADD CONSTRAINT endpoints_pkey PRIMARY KEY (tenant_id, id);

ALTER TABLE ONLY hookd.event_types
    ADD CONSTRAINT event_types_pkey PRIMARY KEY (name);

ALTER TABLE ONLY hookd.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (tenant_id, id);

ALTER TABLE ONLY hookd.portal_sessions
    ADD CONSTRAINT portal_sessions_pkey PRIMARY KEY (tenant_id, id);

ALTER TABLE ONLY hookd.queue
    ADD CONSTRAINT queue_pkey PRIMARY KEY (tenant_id, endpoint_id, delivery_id);

ALTER TABLE ONLY hookd.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

ALTER TABLE ONLY hookd.settings
    ADD CONSTRAINT settings_pkey PRIMARY KEY (name);

ALTER TABLE ONLY hookd.tenant_rate
    ADD CONSTRAINT tenant_rate_pkey PRIMARY KEY (tenant_id);

ALTER TABLE ONLY hookd.tenants
    ADD CONSTRAINT tenants_pkey PRIMARY KEY (id);

CREATE INDEX api_keys_prefix ON hookd.api_keys USING btree (prefix);

CREATE INDEX attempts_failed ON hookd.attempts USING btree (tenant_id, started_at) WHERE ((error IS NOT NULL) OR (status_code IS NULL) OR ((status_code < 200) OR (status_code > 299)));

CREATE INDEX attempts_recent ON hookd.attempts USING brin (id) WITH (pages_per_range='32');

CREATE INDEX attempts_started_brin ON hookd.attempts USING brin (started_at);

CREATE INDEX deliveries_endpoint ON hookd.deliveries USING btree (tenant_id, endpoint_id, id DESC);

CREATE INDEX deliveries_event ON hookd.deliveries USING btree (tenant_id, event_id);

CREATE INDEX deliveries_failed_list ON hookd.deliveries USING btree (tenant_id, id DESC) WHERE failed;

CREATE INDEX endpoint_owners_owner ON hookd.endpoint_owners USING btree (owner);

CREATE INDEX endpoints_list ON hookd.endpoints USING btree (tenant_id, id DESC) WHERE (deleted_at IS NULL);

CREATE UNIQUE INDEX events_idempotency ON hookd.events USING btree (tenant_id, idempotency_key) WHERE (idempotency_key IS NOT NULL);

CREATE INDEX events_type ON hookd.events USING btree (tenant_id, event_type, id DESC);

CREATE INDEX portal_sessions_expiry ON hookd.portal_sessions USING btree (expires_at);

CREATE INDEX portal_sessions_list ON hookd.portal_sessions USING btree (tenant_id, id DESC);

CREATE UNIQUE INDEX portal_sessions_token ON hookd.portal_sessions USING btree (token_hash);

CREATE INDEX queue_due ON hookd.queue USING btree (tenant_id, endpoint_id, next_attempt_at);

CREATE TRIGGER deliveries_queue_delete AFTER DELETE ON hookd.deliveries REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION hookd.queue_on_delete();

CREATE TRIGGER deliveries_queue_insert AFTER INSERT ON hookd.deliveries REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hookd.queue_on_insert();

CREATE TRIGGER deliveries_queue_update AFTER UPDATE ON hookd.deliveries REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hookd.queue_on_update();

ALTER TABLE ONLY hookd.api_keys
    ADD CONSTRAINT api_keys_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES hookd.tenants(id) ON DELETE CASCADE;

ALTER TABLE ONLY hookd.endpoints
    ADD CONSTRAINT endpoints_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES hookd.tenants(id) ON DELETE CASCADE;

ALTER TABLE ONLY hookd.portal_sessions
    ADD CONSTRAINT portal_sessions_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES hookd.tenants(id) ON DELETE CASCADE;

ALTER TABLE ONLY hookd.tenant_rate
    ADD CONSTRAINT tenant_rate_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES hookd.tenants(id) ON DELETE CASCADE;

