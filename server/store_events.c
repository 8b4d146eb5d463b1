/*
 * store_events.c - ingest (one event through hookd.ingest_event, which
 * hookd.send_event shares; a group of events without idempotency keys in
 * one INSERT ... SELECT of its own), and the read side of events,
 * deliveries and attempts, replay and skip.
 */
#include "jsonspan.h"
#include "store.h"
#include "ids.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EVENT_JSON                                                          \
    "json_build_object('id', v.id, 'tenant_id', v.tenant_id,"               \
    " 'event_type', v.event_type, 'payload', v.payload::json,"              \
    " 'idempotency_key', v.idempotency_key, 'deliveries', v.delivery_count," \
    " 'created_at', hookd.rfc3339(v.created_at))"

/* An attempt's timings are stored in µs (migrations/0021) and shown in
 * ms with their fraction; attempts recorded before they were kept show
 * null. */
#define ATTEMPT_JSON                                                         \
    "json_build_object('id', a.id, 'delivery_id', a.delivery_id,"            \
    " 'number', a.number, 'started_at', hookd.rfc3339(a.started_at),"        \
    " 'duration_ms', a.duration_ms, 'status_code', a.status_code,"           \
    " 'error', a.error, 'request', json_build_object('url', a.request_url,"  \
    " 'headers', a.request_headers), 'response', json_build_object("         \
    "'headers', a.response_headers, 'body', a.response_body,"                \
    " 'truncated', a.response_truncated), 'remote_ip', a.remote_ip,"         \
    " 'timings', CASE WHEN a.total_us IS NOT NULL THEN json_build_object("   \
    "'dns_ms', a.dns_us / 1000.0::float8,"                                   \
    " 'connect_ms', a.connect_us / 1000.0::float8,"                          \
    " 'tls_ms', a.tls_us / 1000.0::float8,"                                  \
    " 'ttfb_ms', a.ttfb_us / 1000.0::float8,"                                \
    " 'total_ms', a.total_us / 1000.0::float8) END)"

/* The endpoints an event of a type with the filter entries `pat` (a
 * text[]; hk_event_type_patterns) is fanned out to, as
 * migrations/0018_send_event.sql's hookd.ingest_event chooses them. */
#define FANOUT_MATCH(e, pat)                                              \
    " " e ".enabled AND " e ".deleted_at IS NULL"                         \
    " AND (cardinality(" e ".event_types) = 0"                            \
    "  OR " e ".event_types && " pat ")"

/* One event through hookd.ingest_event, the ingest that hookd.send_event
 * shares (migrations/0018_send_event.sql): the idempotency key, the
 * tenant and event type checks and the fan-out are its rules. The answer
 * is rendered from the request's own values and what the function
 * returns, which for a repeated key are the first event's: the same key
 * is only ever repeated with the same type and payload. The function
 * sends no NOTIFY: the caller wakes dispatchers (notify.c). The third
 * column says, for an event written now, whether an endpoint it was
 * fanned out to ($5: its type's filter entries) has no owner under a
 * live lease, as sql_ingest_group's row 'o' does. */
static const char sql_ingest[] =
    "SELECT i.outcome, " EVENT_JSON ","
    " i.outcome = 'created' AND i.deliveries > 0"
    " AND EXISTS (SELECT 1 FROM hookd.endpoints e"
    "  WHERE e.tenant_id = $1 AND" FANOUT_MATCH("e", "$5::text[]")
    "  AND NOT EXISTS (SELECT 1 FROM hookd.endpoint_owners o"
    "   WHERE o.tenant_id = e.tenant_id AND o.endpoint_id = e.id"
    "   AND o.lease_until > now()))"
    " FROM hookd.ingest_event($1, $2, $3, $4) i, LATERAL ("
    "  SELECT i.id, $1::uuid AS tenant_id, $2::text AS event_type,"
    "  $3::text AS payload, $4::text AS idempotency_key,"
    "  i.deliveries AS delivery_count, i.created_at) v";
/* Many events without an idempotency key at once, as hookd.ingest_event
 * would write each of them (the API's hot path, so a statement of its
 * own; tests/e2e/test_sql_send.c checks that the two write the same
 * rows): the rows travel as parallel arrays
 * ($5 holds each event's hk_event_type_patterns literal), and each
 * inserted event comes back ('e') with its id to find its request by, and
 * what only the database knows (its delivery count and time); the rest of
 * the answer is what the request sent (api_events.c renders it), so the
 * payload is neither parsed again nor serialised again.
 * An event may carry a take of its tenant's rate bucket ($6, at most one
 * event of a tenant; ratelimit.c): hookd.take_event_tokens runs first, in
 * this statement, tenants in order so that two groups lock their buckets'
 * rows in the same order, and its answer comes back ('t'). An event whose
 * process held no token ($6 > 0) is written only when one was granted and
 * its payload's size as posted ($7) is within the tenant's
 * max_payload_bytes; one that spent a token held ($6 < 0, a top-up) is
 * written either way. The take commits with the events, and a failed
 * statement takes nothing. A row 'o' says that an endpoint given a
 * delivery has no owner under a live lease (docs/engine.md, "Ownership"):
 * the dispatchers should run their ownership round now rather than at
 * its usual pace, or the delivery would wait for it. Each endpoint is
 * looked up once per group, not once per delivery. */
static const char sql_ingest_group[] =
    "WITH r AS ("
    "  SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[],"
    "  $5::text[], $6::int[], $7::int[])"
    "  AS r(tenant_id, id, event_type, payload, patterns, want, bytes)),"
    " tk AS MATERIALIZED ("
    "  SELECT w.tenant_id, x.granted, x.rate, x.max_payload_bytes, x.wait_ms"
    "  FROM (SELECT r.tenant_id, max(abs(r.want)) AS want FROM r"
    "   WHERE r.want <> 0"
    "   GROUP BY 1 ORDER BY 1) w,"
    "  LATERAL hookd.take_event_tokens(w.tenant_id, w.want) x),"
    " t AS ("
    "  SELECT t.id FROM hookd.tenants t WHERE t.id = ANY ($1::uuid[])"
    "  FOR KEY SHARE),"
    " ok AS ("
    "  SELECT r.* FROM r"
    "  WHERE r.tenant_id IN (SELECT t.id FROM t)"
    "  AND EXISTS (SELECT 1 FROM hookd.event_types et"
    "   WHERE et.name = r.event_type AND NOT et.archived)"
    "  AND (r.want <= 0 OR EXISTS (SELECT 1 FROM tk"
    "   WHERE tk.tenant_id = r.tenant_id AND tk.granted > 0"
    "   AND (tk.max_payload_bytes IS NULL"
    "    OR r.bytes <= tk.max_payload_bytes)))),"
    " ep AS ("
    "  SELECT ok.id AS event_id, e.tenant_id, e.id AS endpoint_id"
    "  FROM ok JOIN hookd.endpoints e ON e.tenant_id = ok.tenant_id"
    "  AND" FANOUT_MATCH("e", "ok.patterns::text[]") "),"
    " n AS (SELECT ep.event_id, count(*) AS n FROM ep GROUP BY 1),"
    " v AS ("
    "  INSERT INTO hookd.events (tenant_id, id, event_type, payload,"
    "  delivery_count)"
    "  SELECT ok.tenant_id, ok.id, ok.event_type, ok.payload,"
    "  COALESCE(n.n, 0) FROM ok LEFT JOIN n ON n.event_id = ok.id"
    "  RETURNING *),"
    " d AS ("
    "  INSERT INTO hookd.deliveries (tenant_id, id, event_id, endpoint_id,"
    "  event_type, next_attempt_at)"
    "  SELECT ep.tenant_id, hookd.uuid7(), v.id, ep.endpoint_id,"
    "  v.event_type, v.created_at FROM ep JOIN v ON v.id = ep.event_id)"
    " SELECT 'e', v.id, v.delivery_count, hookd.rfc3339(v.created_at),"
    " v.tenant_id, NULL::integer, NULL::integer, NULL::integer FROM v"
    " UNION ALL"
    " SELECT 't', tk.tenant_id, tk.granted, NULL, NULL, tk.rate,"
    " COALESCE(tk.max_payload_bytes, 0), tk.wait_ms FROM tk"
    " UNION ALL"
    " SELECT 'o', NULL, NULL, NULL, NULL, NULL, NULL, NULL"
    " WHERE EXISTS (SELECT 1 FROM (SELECT DISTINCT ep.tenant_id,"
    "  ep.endpoint_id FROM ep) x"
    "  WHERE NOT EXISTS (SELECT 1 FROM hookd.endpoint_owners o"
    "   WHERE o.tenant_id = x.tenant_id AND o.endpoint_id = x.endpoint_id"
    "   AND o.lease_until > now()))";
static const char sql_notify[] = "NOTIFY hookd_work";

/* The JSON is the answer's text: payload::json is the payload's text as
 * stored, which hookd never parses again (hk_text_rows). */
static const char sql_event_list[] =
    "SELECT " EVENT_JSON ", v.id FROM hookd.events v WHERE v.tenant_id = $1"
    " AND ($2::text IS NULL OR v.event_type = $2)"
    " AND ($3::uuid IS NULL OR v.id < $3::uuid)"
    " ORDER BY v.id DESC LIMIT $4";
static const char sql_event_get[] =
    "SELECT " EVENT_JSON " FROM hookd.events v"
    " WHERE v.tenant_id = $1 AND v.id = $2";

/* The filters of a delivery list beyond status and the keyset: endpoint,
 * event, type, creation time and search, in $3..$5 and $8..$10. The
 * creation time is also bounded on the id, which is made by the same
 * ingest statement a moment after its created_at: an id made more than
 * an hour after created_before belongs to a later delivery, so the walk
 * down the key starts there rather than at the newest delivery. */
#define DELIVERY_FILTERS                                                   \
    " AND ($3::uuid IS NULL OR d.endpoint_id = $3::uuid)"                  \
    " AND ($4::uuid IS NULL OR d.event_id = $4::uuid)"                     \
    " AND ($5::text IS NULL OR d.event_type = $5)"                         \
    " AND ($8::timestamptz IS NULL OR (d.created_at >= $8::timestamptz"    \
    "  AND d.id >= hookd.uuid7_floor($8::timestamptz)))"                   \
    " AND ($9::timestamptz IS NULL OR (d.created_at < $9::timestamptz"     \
    "  AND d.id < hookd.uuid7_floor($9::timestamptz + interval '1 hour')))" \
    " AND ($10::uuid IS NULL OR d.id = $10::uuid OR d.event_id = $10::uuid)"

/* A tenant's deliveries newest first, by any of the filters. Failed ones
 * come from their partial index (the status filter names the indexed
 * column, and each statement is planned for its values); pending and
 * sending ones from the queue, so that a few old ones retrying among
 * millions that succeeded since are found without walking those
 * (migrations/0015_queue.sql). The queue's key is ordered by endpoint
 * first (migrations/0026_queue_key.sql): each endpoint's newest are read
 * from it, a page at most, and the pages merged. */
static const char sql_delivery_list[] =
    "SELECT " HK_SQL_DELIVERY_JSON " FROM hookd.deliveries d WHERE d.tenant_id = $1"
    " AND ($2::text IS NULL OR d.status = $2)"
    " AND ($2::text IS DISTINCT FROM 'failed' OR d.failed)" DELIVERY_FILTERS
    " AND ($6::uuid IS NULL OR d.id < $6::uuid)"
    " ORDER BY d.id DESC LIMIT $7";
static const char sql_delivery_list_queued[] =
    "SELECT " HK_SQL_DELIVERY_JSON " FROM (SELECT x.* FROM hookd.endpoints e"
    " CROSS JOIN LATERAL (SELECT d.* FROM hookd.queue q"
    "  JOIN hookd.deliveries d"
    "  ON d.tenant_id = q.tenant_id AND d.id = q.delivery_id"
    "  WHERE q.tenant_id = e.tenant_id AND q.endpoint_id = e.id"
    "  AND d.status = 'pending' AND (" HK_SQL_SENDING ") = ($2 = 'sending')"
    "  AND ($4::uuid IS NULL OR q.event_id = $4::uuid)" DELIVERY_FILTERS
    "  AND ($6::uuid IS NULL OR q.delivery_id < $6::uuid)"
    "  ORDER BY q.delivery_id DESC LIMIT $7) x"
    " WHERE e.tenant_id = $1 AND ($3::uuid IS NULL OR e.id = $3::uuid)"
    " ORDER BY x.id DESC LIMIT $7) d ORDER BY d.id DESC";
static const char sql_delivery_get[] =
    "SELECT " HK_SQL_DELIVERY_JSON " FROM hookd.deliveries d"
    " WHERE d.tenant_id = $1 AND d.id = $2";
static const char sql_attempt_list[] =
    "SELECT " ATTEMPT_JSON " FROM hookd.attempts a"
    " WHERE a.tenant_id = $1 AND a.delivery_id = $2"
    " AND ($3::uuid IS NULL OR a.id > $3::uuid)"
    " ORDER BY a.id LIMIT $4";
/* What the body sent for a delivery is made of, as the claim reads it
 * (store_dispatch.c): the event's type, time and payload. */
static const char sql_delivery_event[] =
    "SELECT v.event_type, hookd.rfc3339(v.created_at), v.payload"
    " FROM hookd.deliveries d JOIN hookd.events v"
    " ON v.tenant_id = d.tenant_id AND v.id = d.event_id"
    " WHERE d.tenant_id = $1 AND d.id = $2";
static const char sql_delivery_exists[] =
    "SELECT 1 FROM hookd.deliveries WHERE tenant_id = $1 AND id = $2";
/* Any delivery but one being sent is due now: a finished one starts a
 * fresh retry cycle, a pending one ("retry now") keeps its cycle and
 * history. The change is logged for the live updates route. */
static const char sql_replay[] =
    "WITH d AS ("
    "  UPDATE hookd.deliveries AS d SET status = 'pending',"
    "  next_attempt_at = now(),"
    "  cycle_attempts = CASE WHEN d.status = 'pending' THEN d.cycle_attempts"
    "   ELSE 0 END,"
    "  completed_at = NULL, updated_at = now()"
    "  FROM hookd.endpoints e"
    "  WHERE d.tenant_id = $1 AND d.id = $2"
    "  AND NOT (d.status = 'pending' AND " HK_SQL_SENDING ")"
    "  AND e.tenant_id = d.tenant_id AND e.id = d.endpoint_id"
    "  AND e.enabled AND e.deleted_at IS NULL"
    "  RETURNING d.*),"
    " c AS ("
    "  INSERT INTO hookd.changes (tenant_id, id, delivery_id)"
    "  SELECT d.tenant_id, hookd.uuid7(), d.id FROM d)"
    " SELECT " HK_SQL_DELIVERY_JSON " FROM d";
/* A pending delivery not being sent ends failed without another attempt
 * (docs/api.md, skip), so that a fifo endpoint's next delivery may go;
 * its attempts and last status code stay as they were. The change is
 * logged for the live updates route. */
static const char sql_skip[] =
    "WITH d AS ("
    "  UPDATE hookd.deliveries AS d SET status = 'failed',"
    "  next_attempt_at = NULL, completed_at = now(), updated_at = now(),"
    "  last_error = 'skipped'"
    "  WHERE d.tenant_id = $1 AND d.id = $2 AND d.status = 'pending'"
    "  AND NOT " HK_SQL_SENDING
    "  RETURNING d.*),"
    " c AS ("
    "  INSERT INTO hookd.changes (tenant_id, id, delivery_id)"
    "  SELECT d.tenant_id, hookd.uuid7(), d.id FROM d)"
    " SELECT " HK_SQL_DELIVERY_JSON " FROM d";
/* Why a replay or a skip changed nothing: the delivery's status as the
 * API shows it (no row: no such delivery of the tenant). */
static const char sql_delivery_status[] =
    "SELECT " HK_SQL_DELIVERY_STATUS
    " FROM hookd.deliveries d WHERE d.tenant_id = $1 AND d.id = $2";
/* What changed for a tenant since a moment ($2, in µs since the epoch;
 * $3 the id of the last delivery already seen at exactly that moment).
 * A delivery changes by its creation (found by id range: ids are
 * time-ordered and made by the inserting statement, after its
 * created_at and updated_at), by an attempt's outcome (found through the
 * attempts' ids, made when the outcome is recorded, through their BRIN
 * index; ten seconds earlier, for a record that took that long to commit
 * or a clock of hookd's behind the database's) or without an attempt
 * (hookd.changes). Each candidate then counts by its own updated_at, so
 * what came back in an earlier answer comes back only when it changed
 * again. Endpoints are few per tenant: their updated_at is read as is.
 * Rows: kind ('d' delivery, 'e' endpoint, 'n' the database's now), the
 * object, its updated_at in µs, its id. */
static const char sql_changes[] =
    "WITH p AS ("
    "  SELECT 'epoch'::timestamptz + $2::bigint * interval '1 microsecond'"
    "  AS since, $3::uuid AS after),"
    " cand AS ("
    "  SELECT d.id FROM hookd.deliveries d, p WHERE d.tenant_id = $1"
    "  AND d.id >= hookd.uuid7_floor(p.since)"
    "  UNION SELECT a.delivery_id FROM hookd.attempts a, p"
    "  WHERE a.tenant_id = $1"
    "  AND a.id >= hookd.uuid7_floor(p.since - interval '10 seconds')"
    "  UNION SELECT c.delivery_id FROM hookd.changes c, p"
    "  WHERE c.tenant_id = $1 AND c.id >= hookd.uuid7_floor(p.since)),"
    " ch AS MATERIALIZED ("
    "  SELECT d.* FROM cand JOIN hookd.deliveries d"
    "  ON d.tenant_id = $1 AND d.id = cand.id, p"
    "  WHERE d.updated_at > p.since OR (d.updated_at = p.since"
    "  AND (p.after IS NULL OR d.id > p.after))"
    "  ORDER BY d.updated_at, d.id LIMIT $4)"
    " SELECT 'd', " HK_SQL_DELIVERY_JSON ","
    "  (extract(epoch FROM d.updated_at) * 1000000)::bigint, d.id FROM ch d"
    " UNION ALL"
    " SELECT 'e', " HK_SQL_ENDPOINT_JSON ","
    "  (extract(epoch FROM e.updated_at) * 1000000)::bigint, e.id"
    " FROM hookd.endpoints e, p WHERE e.tenant_id = $1"
    " AND e.deleted_at IS NULL AND e.updated_at >= p.since"
    " UNION ALL"
    " SELECT 'n', NULL, (extract(epoch FROM now()) * 1000000)::bigint, NULL"
    " ORDER BY 1, 3, 4";
static const char sql_changes_purge[] =
    "DELETE FROM hookd.changes"
    " WHERE id < hookd.uuid7_floor(now() - interval '" HK_STR(
        HK_CHANGES_KEEP_S) " seconds')";

/* Pending deliveries, those being sent included: the queue's rows. */
static const char sql_queue_depth[] = "SELECT count(*) FROM hookd.queue";

enum hk_result hk_store_event_ingest(struct hk_conn *c,
                                     struct hk_ingest *in, json_t **out,
                                     bool *created)
{
    *out = NULL;
    *created = false;
    in->unowned = false;
    struct hk_buf pat;
    hk_buf_init(&pat);
    hk_event_type_patterns(in->event_type, &pat);
    const char *p[5] = {in->tenant_id, in->event_type, in->payload,
                        in->idempotency_key, pat.data};
    PGresult *r;
    enum hk_result rc = hk_db_query(c, sql_ingest, 5, p, &r);
    hk_buf_cleanup(&pat);
    if (rc != HK_OK)
        return rc;
    const char *outcome = PQgetvalue(r, 0, 0);
    if (strcmp(outcome, "created") == 0 || strcmp(outcome, "repeated") == 0) {
        *created = outcome[0] == 'c';
        in->unowned = PQgetvalue(r, 0, 2)[0] == 't';
        *out = hk_json_parse(PQgetvalue(r, 0, 1),
                             (size_t)PQgetlength(r, 0, 1), 0, NULL);
        rc = *out != NULL ? HK_OK : HK_INTERNAL;
    } else if (strcmp(outcome, "conflict") == 0) {
        rc = HK_CONFLICT;
    } else if (strcmp(outcome, "no_tenant") == 0) {
        rc = HK_NOT_FOUND;
    } else {
        in->refused = strcmp(outcome, "archived") == 0
                          ? "is archived"
                          : "is not in the catalogue";
        rc = HK_INVALID;
    }
    PQclear(r);
    return rc;
}

/* A 't' row of sql_ingest_group: the take of the item of its tenant
 * that asked for one. */
static void group_take(PGresult *r, int row, struct hk_ingest_item *items,
                       size_t n)
{
    const char *tid = PQgetvalue(r, row, 1);
    for (size_t k = 0; k < n; k++) {
        struct hk_ingest *in = items[k].in;
        if (in->take_want == 0 || in->taken ||
            strcasecmp(in->tenant_id, tid) != 0)
            continue;
        in->taken = true;
        in->take.granted = strtol(PQgetvalue(r, row, 2), NULL, 10);
        in->take.rate = strtol(PQgetvalue(r, row, 5), NULL, 10);
        in->take.max_payload_bytes = strtol(PQgetvalue(r, row, 6), NULL, 10);
        in->take.wait_ms = strtol(PQgetvalue(r, row, 7), NULL, 10);
        return;
    }
}

enum hk_result hk_store_event_ingest_group(struct hk_conn *c,
                                           struct hk_ingest_item *items,
                                           size_t n)
{
    static const unsigned types[7] = {HK_OID_UUID, HK_OID_UUID, HK_OID_TEXT,
                                      HK_OID_TEXT, HK_OID_TEXT, HK_OID_INT4,
                                      HK_OID_INT4};
    struct hk_pgbin a[7];
    struct hk_buf pat;
    char(*ids)[HK_UUID_STRLEN] = hk_calloc(n, sizeof(*ids));
    for (int k = 0; k < 7; k++)
        hk_pgbin_init(&a[k], types[k]);
    hk_buf_init(&pat);
    for (size_t i = 0; i < n; i++) {
        struct hk_ingest *in = items[i].in;
        items[i].inserted = false;
        items[i].unowned = false;
        in->taken = false;
        hk_uuid7(ids[i]);
        pat.len = 0;
        hk_event_type_patterns(in->event_type, &pat);
        hk_pgbin_uuid(&a[0], in->tenant_id);
        hk_pgbin_uuid(&a[1], ids[i]);
        hk_pgbin_text(&a[2], in->event_type);
        hk_pgbin_text(&a[3], in->payload);
        hk_pgbin_text(&a[4], pat.data);
        hk_pgbin_int4(&a[5], (int32_t)in->take_want);
        hk_pgbin_int4(&a[6], in->payload_bytes > INT32_MAX
                                 ? INT32_MAX
                                 : (int32_t)in->payload_bytes);
    }
    hk_buf_cleanup(&pat);
    PGresult *r = NULL;
    enum hk_result rc = hk_db_query_arrays(c, sql_ingest_group, a, 7, &r);
    for (int i = 0; rc == HK_OK && i < PQntuples(r); i++) {
        if (PQgetvalue(r, i, 0)[0] == 't') {
            group_take(r, i, items, n);
            continue;
        }
        if (PQgetvalue(r, i, 0)[0] == 'o') {
            for (size_t k = 0; k < n; k++)
                items[k].unowned = true;
            continue;
        }
        const char *id = PQgetvalue(r, i, 1);
        for (size_t k = 0; k < n; k++) {
            if (items[k].inserted || strcmp(ids[k], id) != 0)
                continue;
            struct hk_ingest *in = items[k].in;
            items[k].inserted = true;
            snprintf(in->id, sizeof(in->id), "%s", id);
            in->deliveries = strtol(PQgetvalue(r, i, 2), NULL, 10);
            snprintf(in->created_at, sizeof(in->created_at), "%s",
                     PQgetvalue(r, i, 3));
            snprintf(in->stored_tenant_id, sizeof(in->stored_tenant_id),
                     "%s", PQgetvalue(r, i, 4));
            break;
        }
    }
    if (rc != HK_OK)
        for (size_t k = 0; k < n; k++)
            items[k].in->taken = false;
    PQclear(r);
    for (int k = 0; k < 7; k++)
        hk_pgbin_cleanup(&a[k]);
    free(ids);
    return rc;
}

enum hk_result hk_store_event_list(struct hk_conn *c, const char *tid,
                                   const char *event_type, const char *after,
                                   int limit, struct hk_text_rows *out)
{
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", limit + 1);
    const char *p[4] = {tid, event_type, after, lim};
    return hk_store_many_text(c, sql_event_list, 4, p, out);
}

enum hk_result hk_store_event_get(struct hk_conn *c, const char *tid,
                                  const char *evid, struct hk_buf *out)
{
    const char *p[2] = {tid, evid};
    PGresult *r;
    enum hk_result rc = hk_db_query(c, sql_event_get, 2, p, &r);
    if (rc != HK_OK)
        return rc;
    if (PQntuples(r) == 0)
        rc = HK_NOT_FOUND;
    else
        hk_buf_append(out, PQgetvalue(r, 0, 0),
                      (size_t)PQgetlength(r, 0, 0));
    PQclear(r);
    return rc;
}

enum hk_result hk_store_delivery_list(struct hk_conn *c, const char *tid,
                                      const struct hk_delivery_filter *f,
                                      const char *after, int limit,
                                      json_t **out)
{
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", limit + 1);
    const char *p[10] = {tid,       f->status,         f->endpoint_id,
                         f->event_id, f->event_type, after,
                         lim,       f->created_after, f->created_before,
                         f->search};
    bool queued = f->status != NULL && (strcmp(f->status, "pending") == 0 ||
                                        strcmp(f->status, "sending") == 0);
    return hk_store_many(c, queued ? sql_delivery_list_queued
                                   : sql_delivery_list,
                         10, p, out);
}

enum hk_result hk_store_delivery_get(struct hk_conn *c, const char *tid,
                                     const char *did, json_t **out)
{
    const char *p[2] = {tid, did};
    return hk_store_one(c, sql_delivery_get, 2, p, out);
}

enum hk_result hk_store_attempt_list(struct hk_conn *c, const char *tid,
                                     const char *did, const char *after,
                                     int limit, json_t **out)
{
    const char *ep[2] = {tid, did};
    PGresult *r;
    enum hk_result rc = hk_db_query(c, sql_delivery_exists, 2, ep, &r);
    if (rc != HK_OK)
        return rc;
    bool exists = PQntuples(r) > 0;
    PQclear(r);
    if (!exists)
        return HK_NOT_FOUND;
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", limit + 1);
    const char *p[4] = {tid, did, after, lim};
    return hk_store_many(c, sql_attempt_list, 4, p, out);
}

enum hk_result hk_store_delivery_event(struct hk_conn *c, const char *tid,
                                       const char *did, struct hk_buf *type,
                                       char time[40], struct hk_buf *payload)
{
    const char *p[2] = {tid, did};
    PGresult *r;
    enum hk_result rc = hk_db_query(c, sql_delivery_event, 2, p, &r);
    if (rc != HK_OK)
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return HK_NOT_FOUND;
    }
    hk_buf_puts(type, PQgetvalue(r, 0, 0));
    snprintf(time, 40, "%s", PQgetvalue(r, 0, 1));
    hk_buf_append(payload, PQgetvalue(r, 0, 2), (size_t)PQgetlength(r, 0, 2));
    PQclear(r);
    return HK_OK;
}

/* After a replay or a skip that changed nothing: HK_CONFLICT with the
 * delivery's status as the API shows it (p: tenant id, delivery id), or
 * HK_NOT_FOUND when the tenant has no such delivery. */
static enum hk_result delivery_status(struct hk_conn *c, const char *const *p,
                                      char status[16])
{
    PGresult *r;
    status[0] = '\0';
    enum hk_result rc = hk_db_query(c, sql_delivery_status, 2, p, &r);
    if (rc != HK_OK)
        return rc;
    bool exists = PQntuples(r) > 0;
    if (exists)
        snprintf(status, 16, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return exists ? HK_CONFLICT : HK_NOT_FOUND;
}

enum hk_result hk_store_delivery_replay(struct hk_conn *c, const char *tid,
                                        const char *did, json_t **out,
                                        bool *sending)
{
    const char *p[2] = {tid, did};
    *sending = false;
    enum hk_result rc = hk_store_one(c, sql_replay, 2, p, out);
    if (rc == HK_OK) {
        /* a lost wake-up only delays the replay to the next poll */
        enum hk_result nrc = hk_db_query(c, sql_notify, 0, NULL, NULL);
        (void)nrc;
        return HK_OK;
    }
    if (rc != HK_NOT_FOUND)
        return rc;
    /* Nothing updated: tell a missing delivery from a refused replay. */
    char status[16];
    rc = delivery_status(c, p, status);
    *sending = rc == HK_CONFLICT && strcmp(status, "sending") == 0;
    return rc;
}

enum hk_result hk_store_delivery_skip(struct hk_conn *c, const char *tid,
                                      const char *did, json_t **out,
                                      char status[16])
{
    const char *p[2] = {tid, did};
    status[0] = '\0';
    enum hk_result rc = hk_store_one(c, sql_skip, 2, p, out);
    if (rc == HK_OK) {
        /* a fifo endpoint's next delivery may go now; a lost wake-up only
         * delays it to the next poll */
        enum hk_result nrc = hk_db_query(c, sql_notify, 0, NULL, NULL);
        (void)nrc;
        return HK_OK;
    }
    if (rc != HK_NOT_FOUND)
        return rc;
    return delivery_status(c, p, status);
}

enum hk_result hk_store_changes(struct hk_conn *c, const char *tid,
                                int64_t since_us, const char *after,
                                int64_t seen_us, int limit,
                                struct hk_changes *out)
{
    char since[24], lim[16];
    snprintf(since, sizeof(since), "%lld", (long long)since_us);
    snprintf(lim, sizeof(lim), "%d", limit + 1);
    const char *p[4] = {tid, since, after, lim};
    memset(out, 0, sizeof(*out));
    PGresult *r;
    enum hk_result rc = hk_db_query(c, sql_changes, 4, p, &r);
    if (rc != HK_OK)
        return rc;
    out->deliveries = json_array();
    out->endpoints = json_array();
    int n = PQntuples(r), nd = 0;
    for (int i = 0; i < n; i++) {
        char kind = PQgetvalue(r, i, 0)[0];
        long long us = strtoll(PQgetvalue(r, i, 2), NULL, 10);
        if (kind == 'n') {
            out->now_us = us;
            continue;
        }
        if (kind == 'd' && ++nd > limit) {
            out->has_more = true;
            continue;
        }
        json_t *obj = json_loads(PQgetvalue(r, i, 1), 0, NULL);
        if (obj == NULL) {
            rc = HK_INTERNAL;
            break;
        }
        if (us >= seen_us)
            out->fresh = true;
        if (kind == 'd') {
            json_array_append_new(out->deliveries, obj);
            out->last_us = us;
            snprintf(out->last_id, sizeof(out->last_id), "%s",
                     PQgetvalue(r, i, 3));
        } else {
            json_array_append_new(out->endpoints, obj);
        }
    }
    PQclear(r);
    if (rc != HK_OK)
        hk_changes_cleanup(out);
    return rc;
}

void hk_changes_cleanup(struct hk_changes *ch)
{
    json_decref(ch->deliveries);
    json_decref(ch->endpoints);
    ch->deliveries = ch->endpoints = NULL;
}

enum hk_result hk_store_changes_purge(struct hk_conn *c)
{
    return hk_db_query(c, sql_changes_purge, 0, NULL, NULL);
}

enum hk_result hk_store_queue_depth(struct hk_conn *c, long long *depth)
{
    PGresult *r;
    enum hk_result rc = hk_db_query(c, sql_queue_depth, 0, NULL, &r);
    if (rc != HK_OK)
        return rc;
    *depth = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return HK_OK;
}
