-- Sending events from SQL, inside the application's own transaction
-- (docs/send-from-sql.md): hookd.send_event and hookd.send_events write
-- the event and its deliveries in the caller's transaction, so they
-- commit or roll back with the application's own rows, and wake the
-- dispatchers with a NOTIFY that PostgreSQL delivers only at commit.
--
-- hookd.ingest_event is the one implementation of an ingest with its
-- rules: an idempotency key seen before for the tenant answers with the
-- first event when the event type and payload are the same and is a
-- conflict otherwise; the tenant must exist, and the event type must
-- exist and not be archived; the event goes to every enabled endpoint of
-- the tenant that is not deleted and whose filter matches the type
-- (hookd.filter_matches says the rule). The API's ingest of one event
-- calls it (store_events.c); only the API's grouped ingest of events
-- without a key, its hot path, keeps a statement of its own, and
-- tests/e2e/test_sql_send.c checks that both write the same rows.
--
-- A repeated key is told from a reused one by the event type and the
-- payload's exact text, which both paths have, rather than by a hash of
-- the HTTP body, which SQL has not: hookd.events.request_hash is no
-- longer written or read (it stays for hookd processes of an earlier
-- version that may still run during an upgrade).

-- Settings of the functions that the database cannot learn from hookd's
-- process; the operator changes them with UPDATE. max_payload_bytes plays
-- HOOKD_MAX_BODY's part (whose default it is). wake_dispatchers 1 sends
-- the NOTIFY; 0 leaves the events to the dispatchers' next poll, within
-- a second: PostgreSQL lets one notifying transaction commit at a time,
-- its flush of the WAL included, so many concurrent senders otherwise
-- queue behind each other's commits (docs/send-from-sql.md, Costs).
CREATE TABLE hookd.settings (
    name  text PRIMARY KEY,
    value bigint NOT NULL
);
INSERT INTO hookd.settings (name, value)
VALUES ('max_payload_bytes', 262144), ('wake_dispatchers', 1);

-- outcome: created, repeated (the key's first event, same type and
-- payload), conflict (the key's first event had another type or payload),
-- no_tenant, unknown_type or archived; id, deliveries and created_at are
-- those of the event written or found (NULL when none). Arguments are
-- taken as valid (a JSON payload, a well-formed key): the callers check.
CREATE FUNCTION hookd.ingest_event(
    p_tenant_id uuid, p_event_type text, p_payload text,
    p_idempotency_key text,
    OUT outcome text, OUT id uuid, OUT deliveries integer,
    OUT created_at timestamptz)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
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

-- Checks one event's arguments as the API checks a request, ingests it,
-- and raises on anything refused, naming the argument: "event_type", or
-- with pos (the bulk form's element) "event_types[pos]". Returns the
-- event's id and how many deliveries it has.
CREATE FUNCTION hookd.send_checked(
    p_tenant_id uuid, p_event_type text, p_payload text,
    p_idempotency_key text, p_max_bytes bigint, p_pos bigint,
    OUT id uuid, OUT deliveries integer)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
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
END $$;

-- POST /v1/tenants/{tid}/events from SQL. The NOTIFY goes to hookd_work,
-- the channel the dispatchers listen on, with a payload that is no hookd
-- process's own id, so that every dispatcher wakes (a process passes
-- over its own, having woken its dispatcher directly).
CREATE FUNCTION hookd.send_event(
    tenant_id uuid, event_type text, payload text,
    idempotency_key text DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
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

-- Many events in one call: element i of each array is one event, as
-- hookd.send_event would send it; the ids come back in the same order
-- (a repeated idempotency key gives the first event's id). All arrays
-- have the same length; idempotency_keys may be NULL (no keys) and hold
-- NULLs.
CREATE FUNCTION hookd.send_events(
    tenant_ids uuid[], event_types text[], payloads text[],
    idempotency_keys text[] DEFAULT NULL)
RETURNS uuid[]
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
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

-- The role applications are granted to send events: EXECUTE on the two
-- functions, USAGE on the schema to reach them, nothing else. Roles are
-- the cluster's, so another database of the cluster may have made it
-- already, even at the same moment.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles
                   WHERE rolname = 'hookd_publisher') THEN
        CREATE ROLE hookd_publisher NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

-- Functions are executable by everyone unless revoked: none of hookd's
-- is meant for a role that may only send, so every one of them, and
-- every one later migrations add, is its owner's alone unless granted.
DO $$
DECLARE
    f record;
BEGIN
    FOR f IN
        SELECT p.proname,
               pg_catalog.pg_get_function_identity_arguments(p.oid) AS args
        FROM pg_catalog.pg_proc p
        WHERE p.pronamespace = 'hookd'::regnamespace
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION hookd.%I(%s) FROM PUBLIC',
                       f.proname, f.args);
    END LOOP;
END
$$;
ALTER DEFAULT PRIVILEGES IN SCHEMA hookd REVOKE EXECUTE ON FUNCTIONS
    FROM PUBLIC;

GRANT USAGE ON SCHEMA hookd TO hookd_publisher;
GRANT EXECUTE ON FUNCTION hookd.send_event(uuid, text, text, text),
    hookd.send_events(uuid[], text[], text[], text[]) TO hookd_publisher;
