/*
 * store_portal.c - what the portal needs beyond plain CRUD: session
 * tokens, secret rotation, test events, recovering failed deliveries, and
 * the delivery statistics behind the portal's charts. Ids are time-ordered
 * (UUIDv7), so "created since t" is a range on the primary key.
 */
#include "jsonspan.h"
#include "store.h"
#include "ids.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hex32(const unsigned char h[32], char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

#define SESSION_JSON                                                       \
    "json_build_object('id', s.id, 'scope', s.scope,"                     \
    " 'created_at', hookd.rfc3339(s.created_at),"                         \
    " 'expires_at', hookd.rfc3339(s.expires_at))"

static const char sql_session_insert[] =
    "INSERT INTO hookd.portal_sessions AS s (tenant_id, id, token_hash,"
    " expires_at, scope)"
    " SELECT $1, $2, decode($3, 'hex'),"
    " now() + $4::int * interval '1 second', $5"
    " FROM hookd.tenants WHERE id = $1"
    " RETURNING " SESSION_JSON;
static const char sql_session_auth[] =
    "SELECT tenant_id, id, scope = 'read', hookd.rfc3339(expires_at)"
    " FROM hookd.portal_sessions"
    " WHERE token_hash = decode($1, 'hex') AND expires_at > now()";
static const char sql_session_list[] =
    "SELECT " SESSION_JSON " FROM hookd.portal_sessions s"
    " WHERE s.tenant_id = $1 AND s.expires_at > now()"
    " AND ($2::uuid IS NULL OR s.id < $2::uuid)"
    " ORDER BY s.id DESC LIMIT $3";
static const char sql_session_delete[] =
    "DELETE FROM hookd.portal_sessions WHERE tenant_id = $1 AND id = $2";
static const char sql_session_purge[] =
    "DELETE FROM hookd.portal_sessions WHERE expires_at <= now()";
static const char sql_rotate[] =
    "UPDATE hookd.endpoints SET prev_secret_enc = secret_enc,"
    " prev_secret_expires_at = now() + interval '24 hours',"
    " secret_enc = decode($3, 'hex'), updated_at = now()"
    " WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL"
    " RETURNING hookd.rfc3339(prev_secret_expires_at)";
static const char sql_test[] =
    "WITH ep AS ("
    "  SELECT e.tenant_id, e.id, e.enabled FROM hookd.endpoints e"
    "  WHERE e.tenant_id = $1 AND e.id = $2 AND e.deleted_at IS NULL),"
    " et AS (SELECT name FROM hookd.event_types WHERE name = $3),"
    " t AS (SELECT id FROM hookd.tenants WHERE id = $1 FOR KEY SHARE),"
    " v AS ("
    "  INSERT INTO hookd.events (tenant_id, id, event_type, payload,"
    "  delivery_count)"
    "  SELECT ep.tenant_id, $4, et.name, $5, 1 FROM ep, et, t"
    "  WHERE ep.enabled"
    "  RETURNING *),"
    " d AS ("
    "  INSERT INTO hookd.deliveries (tenant_id, id, event_id, endpoint_id,"
    "  event_type, next_attempt_at)"
    "  SELECT v.tenant_id, hookd.uuid7(), v.id, $2, v.event_type, v.created_at"
    "  FROM v RETURNING *),"
    " n AS (SELECT pg_notify('hookd_work', '') FROM d)"
    " SELECT (SELECT count(*) FROM ep), (SELECT bool_and(enabled) FROM ep),"
    "  (SELECT count(*) FROM et), (SELECT count(*) FROM n),"
    "  (SELECT json_build_object('id', d.id, 'tenant_id', d.tenant_id,"
    "   'event_id', d.event_id, 'endpoint_id', d.endpoint_id,"
    "   'event_type', d.event_type, 'status', d.status,"
    "   'attempt_count', d.attempt_count,"
    "   'next_attempt_at', hookd.rfc3339(d.next_attempt_at),"
    "   'last_status_code', d.last_status_code, 'last_error', d.last_error,"
    "   'created_at', hookd.rfc3339(d.created_at),"
    "   'updated_at', hookd.rfc3339(d.updated_at),"
    "   'completed_at', hookd.rfc3339(d.completed_at)) FROM d)";
static const char sql_recover[] =
    "WITH ep AS ("
    "  SELECT enabled FROM hookd.endpoints"
    "  WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL),"
    " r AS ("
    "  UPDATE hookd.deliveries d SET status = 'pending',"
    "  next_attempt_at = now(), cycle_attempts = 0, completed_at = NULL,"
    "  updated_at = now()"
    "  WHERE d.tenant_id = $1 AND d.endpoint_id = $2"
    "  AND d.id >= hookd.uuid7_floor($3::timestamptz)"
    "  AND d.created_at >= $3::timestamptz AND d.failed"
    "  AND (SELECT enabled FROM ep)"
    "  RETURNING d.tenant_id, d.id),"
    " c AS ("
    "  INSERT INTO hookd.changes (tenant_id, id, delivery_id)"
    "  SELECT r.tenant_id, hookd.uuid7(), r.id FROM r),"
    " n AS (SELECT pg_notify('hookd_work', '') WHERE EXISTS (SELECT 1 FROM r))"
    " SELECT (SELECT count(*) FROM ep), (SELECT bool_and(enabled) FROM ep),"
    "  (SELECT count(*) FROM r), (SELECT count(*) FROM n)";
/* An attempt that failed: no 2xx answer. The same text is the predicate
 * of the index attempts_failed (migrations/0025_attempts_failed.sql), so
 * that PostgreSQL can use it where a query says this. */
#define FAILED_ATTEMPT                                                     \
    "(a.error IS NOT NULL OR a.status_code IS NULL"                        \
    " OR a.status_code NOT BETWEEN 200 AND 299)"

/* Totals, buckets (zeros included), latency and per-endpoint counts in
 * one go, for deliveries created in [$2, $5). Latency is that of the
 * attempts of those deliveries, bucketed by when each started. An
 * endpoint's last failure is its last failed attempt that started in
 * [$2, $5), whatever the age of its delivery: an in-order endpoint held
 * behind an older delivery shows the failure that holds it, and appears
 * in the list for it even with no delivery created in the range. Those
 * attempts are found through attempts_failed, which has an entry for
 * failed attempts only, and read first (fa, materialized) before their
 * deliveries are looked up: the planner, left to itself, would rather
 * walk every delivery an endpoint ever had (its estimate of one
 * endpoint's deliveries is far too low). pending counts the tenant's queue
 * (migrations/0015_queue.sql): every delivery waiting now, whatever its
 * age. */
static const char sql_stats[] =
    "WITH d AS ("
    "  SELECT " HK_SQL_DELIVERY_STATUS " AS status, d.endpoint_id,"
    "  d.created_at, d.id FROM hookd.deliveries d"
    "  WHERE d.tenant_id = $1 AND d.id >= hookd.uuid7_floor($2::timestamptz)"
    "  AND d.created_at >= $2::timestamptz AND d.created_at < $5::timestamptz"
    "  AND ($3::uuid IS NULL OR d.endpoint_id = $3::uuid)),"
    " a AS MATERIALIZED ("
    "  SELECT a.started_at, a.duration_ms"
    "  FROM d JOIN hookd.attempts a"
    "  ON a.tenant_id = $1 AND a.delivery_id = d.id),"
    " fa AS MATERIALIZED ("
    "  SELECT a.delivery_id, a.started_at, a.error, a.status_code"
    "  FROM hookd.attempts a WHERE a.tenant_id = $1 AND " FAILED_ATTEMPT
    "  AND a.started_at >= $2::timestamptz AND a.started_at < $5::timestamptz),"
    " lf AS ("
    "  SELECT DISTINCT ON (d.endpoint_id) d.endpoint_id, fa.started_at,"
    "  fa.error, fa.status_code"
    "  FROM fa JOIN hookd.deliveries d"
    "  ON d.tenant_id = $1 AND d.id = fa.delivery_id"
    "  WHERE ($3::uuid IS NULL OR d.endpoint_id = $3::uuid)"
    "  ORDER BY d.endpoint_id, fa.started_at DESC),"
    " b AS ("
    "  SELECT g AS start FROM generate_series(date_trunc($4, $2::timestamptz),"
    "  $5::timestamptz - interval '1 microsecond', ('1 ' || $4)::interval) g)"
    " SELECT json_build_object("
    "  'since', hookd.rfc3339($2::timestamptz),"
    "  'until', hookd.rfc3339($5::timestamptz),"
    "  'pending', (SELECT count(*) FROM hookd.queue q WHERE q.tenant_id = $1"
    "   AND ($3::uuid IS NULL OR q.endpoint_id = $3::uuid)),"
    "  'latency_p50_ms', (SELECT round(percentile_cont(0.5) WITHIN GROUP"
    "   (ORDER BY a.duration_ms))::int FROM a),"
    "  'latency_p95_ms', (SELECT round(percentile_cont(0.95) WITHIN GROUP"
    "   (ORDER BY a.duration_ms))::int FROM a),"
    "  'totals', json_build_object("
    "   'pending', (SELECT count(*) FROM d WHERE status = 'pending'),"
    "   'sending', (SELECT count(*) FROM d WHERE status = 'sending'),"
    "   'succeeded', (SELECT count(*) FROM d WHERE status = 'succeeded'),"
    "   'failed', (SELECT count(*) FROM d WHERE status = 'failed')),"
    "  'buckets', (SELECT COALESCE(json_agg(json_build_object("
    "    'start', hookd.rfc3339(b.start),"
    "    'succeeded', (SELECT count(*) FROM d WHERE status = 'succeeded'"
    "      AND date_trunc($4, d.created_at) = b.start),"
    "    'failed', (SELECT count(*) FROM d WHERE status = 'failed'"
    "      AND date_trunc($4, d.created_at) = b.start),"
    "    'latency_p50_ms', (SELECT round(percentile_cont(0.5) WITHIN GROUP"
    "      (ORDER BY a.duration_ms))::int FROM a"
    "      WHERE date_trunc($4, a.started_at) = b.start),"
    "    'latency_p95_ms', (SELECT round(percentile_cont(0.95) WITHIN GROUP"
    "      (ORDER BY a.duration_ms))::int FROM a"
    "      WHERE date_trunc($4, a.started_at) = b.start))"
    "    ORDER BY b.start), '[]'::json) FROM b),"
    "  'endpoints', (SELECT COALESCE(json_agg(json_build_object("
    "    'endpoint_id', endpoint_id, 'succeeded', COALESCE(x.s, 0),"
    "    'failed', COALESCE(x.f, 0), 'pending', COALESCE(x.p, 0),"
    "    'success_rate', CASE WHEN x.s + x.f > 0"
    "     THEN round(x.s::numeric / (x.s + x.f), 4) END,"
    "    'last_failure_at', hookd.rfc3339(lf.started_at),"
    "    'last_failure_error', CASE WHEN lf.started_at IS NULL THEN NULL"
    "     ELSE COALESCE(lf.error, 'HTTP ' || lf.status_code) END)"
    "    ORDER BY endpoint_id), '[]'::json) FROM ("
    "    SELECT endpoint_id, count(*) FILTER (WHERE status = 'succeeded') s,"
    "    count(*) FILTER (WHERE status = 'failed') f,"
    "    count(*) FILTER (WHERE status IN ('pending', 'sending')) p"
    "    FROM d GROUP BY endpoint_id) x FULL JOIN lf USING (endpoint_id)))";

enum hk_result hk_store_session_insert(struct hk_conn *c, const char *tid,
                                       const unsigned char hash[32],
                                       int ttl_seconds, const char *scope,
                                       json_t **out)
{
    char id[HK_UUID_STRLEN], hex[65], ttl[16];
    hk_uuid7(id);
    hex32(hash, hex);
    snprintf(ttl, sizeof(ttl), "%d", ttl_seconds);
    const char *p[5] = {tid, id, hex, ttl, scope};
    return hk_store_one(c, sql_session_insert, 5, p, out);
}

enum hk_result hk_store_session_authenticate(struct hk_conn *c,
                                             const unsigned char hash[32],
                                             struct hk_session *out)
{
    char hex[65];
    hex32(hash, hex);
    const char *p[1] = {hex};
    PGresult *r;
    enum hk_result rc = hk_db_query(c, sql_session_auth, 1, p, &r);
    if (rc != HK_OK)
        return rc;
    rc = PQntuples(r) > 0 ? HK_OK : HK_NOT_FOUND;
    if (rc == HK_OK) {
        snprintf(out->tenant_id, sizeof(out->tenant_id), "%s",
                 PQgetvalue(r, 0, 0));
        snprintf(out->id, sizeof(out->id), "%s", PQgetvalue(r, 0, 1));
        out->read_only = hk_db_get_bool(r, 0, 2);
        snprintf(out->expires_at, sizeof(out->expires_at), "%s",
                 PQgetvalue(r, 0, 3));
    }
    PQclear(r);
    return rc;
}

enum hk_result hk_store_session_list(struct hk_conn *c, const char *tid,
                                     const char *after, int limit,
                                     json_t **out)
{
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", limit + 1);
    const char *p[3] = {tid, after, lim};
    return hk_store_many(c, sql_session_list, 3, p, out);
}

enum hk_result hk_store_session_delete(struct hk_conn *c, const char *tid,
                                       const char *sid)
{
    const char *p[2] = {tid, sid};
    PGresult *r;
    enum hk_result rc = hk_db_query(c, sql_session_delete, 2, p, &r);
    if (rc != HK_OK)
        return rc;
    rc = strcmp(PQcmdTuples(r), "0") == 0 ? HK_NOT_FOUND : HK_OK;
    PQclear(r);
    return rc;
}

enum hk_result hk_store_session_purge(struct hk_conn *c, int *n)
{
    PGresult *r;
    *n = 0;
    enum hk_result rc = hk_db_query(c, sql_session_purge, 0, NULL, &r);
    if (rc != HK_OK)
        return rc;
    *n = (int)strtol(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return HK_OK;
}

enum hk_result hk_store_endpoint_rotate(struct hk_conn *c, const char *tid,
                                        const char *eid,
                                        const unsigned char *sealed,
                                        size_t sealed_len,
                                        char prev_expires_at[40])
{
    char *hex = hk_malloc(2 * sealed_len + 1);
    for (size_t i = 0; i < sealed_len; i++)
        snprintf(hex + 2 * i, 3, "%02x", sealed[i]);
    hex[2 * sealed_len] = '\0';
    const char *p[3] = {tid, eid, hex};
    PGresult *r;
    enum hk_result rc = hk_db_query(c, sql_rotate, 3, p, &r);
    free(hex);
    if (rc != HK_OK)
        return rc;
    rc = PQntuples(r) > 0 ? HK_OK : HK_NOT_FOUND;
    if (rc == HK_OK)
        snprintf(prev_expires_at, 40, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return rc;
}

enum hk_result hk_store_endpoint_test(struct hk_conn *c, const char *tid,
                                      const char *eid, const char *type,
                                      const char *payload, json_t **delivery)
{
    char id[HK_UUID_STRLEN];
    hk_uuid7(id);
    const char *p[5] = {tid, eid, type, id, payload};
    PGresult *r;
    *delivery = NULL;
    enum hk_result rc = hk_db_query(c, sql_test, 5, p, &r);
    if (rc != HK_OK)
        return rc;
    if (hk_db_get_int(r, 0, 0) == 0)
        rc = HK_NOT_FOUND;
    else if (!hk_db_get_bool(r, 0, 1))
        rc = HK_CONFLICT;
    else if (hk_db_get_int(r, 0, 2) == 0)
        rc = HK_INVALID;
    else
        *delivery = hk_json_parse(PQgetvalue(r, 0, 4),
                                  (size_t)PQgetlength(r, 0, 4), 0, NULL);
    if (rc == HK_OK && *delivery == NULL)
        rc = HK_INTERNAL;
    PQclear(r);
    return rc;
}

enum hk_result hk_store_endpoint_recover(struct hk_conn *c, const char *tid,
                                         const char *eid, const char *since,
                                         long long *n)
{
    const char *p[3] = {tid, eid, since};
    PGresult *r;
    *n = 0;
    enum hk_result rc = hk_db_query(c, sql_recover, 3, p, &r);
    if (rc != HK_OK)
        return rc;
    if (hk_db_get_int(r, 0, 0) == 0)
        rc = HK_NOT_FOUND;
    else if (!hk_db_get_bool(r, 0, 1))
        rc = HK_CONFLICT;
    else
        *n = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    PQclear(r);
    return rc;
}

enum hk_result hk_store_stats(struct hk_conn *c, const char *tid,
                              const char *since, const char *until,
                              const char *endpoint_id, const char *bucket,
                              json_t **out)
{
    const char *p[5] = {tid, since, endpoint_id, bucket, until};
    return hk_store_one(c, sql_stats, 5, p, out);
}
