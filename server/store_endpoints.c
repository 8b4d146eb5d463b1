/*
 * store_endpoints.c - a tenant's endpoints. Deletion is soft: the row stays
 * (invisible to the API) so its deliveries and attempts keep their history,
 * and its unfinished deliveries end failed in the same transaction.
 */
#include "store.h"
#include "ids.h"

#include <stdio.h>
#include <string.h>

static const char sql_ep_insert[] =
    "INSERT INTO hookd.endpoints AS e (tenant_id, id, url, description,"
    " event_types, enabled, max_concurrency, rate_limit, headers, secret_enc)"
    " SELECT $1, $2, $3, COALESCE($4, ''), COALESCE($5::text[], '{}'),"
    " COALESCE($6::boolean, true), COALESCE($7::integer, 10), $8::integer,"
    " COALESCE($9::jsonb, '{}'::jsonb), decode($10, 'hex')"
    " FROM hookd.tenants WHERE id = $1"
    " RETURNING " HK_SQL_ENDPOINT_JSON;
static const char sql_ep_list[] =
    "SELECT " HK_SQL_ENDPOINT_JSON " FROM hookd.endpoints e WHERE e.tenant_id = $1"
    " AND e.deleted_at IS NULL AND ($2::uuid IS NULL OR e.id < $2::uuid)"
    " ORDER BY e.id DESC LIMIT $3";
static const char sql_ep_get[] =
    "SELECT " HK_SQL_ENDPOINT_JSON " FROM hookd.endpoints e WHERE e.tenant_id = $1"
    " AND e.id = $2 AND e.deleted_at IS NULL";
/* Enabling clears the reason it was disabled and the failure clock. */
static const char sql_ep_update[] =
    "UPDATE hookd.endpoints AS e SET url = COALESCE($3, e.url),"
    " description = COALESCE($4, e.description),"
    " event_types = COALESCE($5::text[], e.event_types),"
    " enabled = COALESCE($6::boolean, e.enabled),"
    " disabled_reason = CASE WHEN $6::boolean THEN NULL"
    "   ELSE e.disabled_reason END,"
    " failing_since = CASE WHEN $6::boolean THEN NULL"
    "   ELSE e.failing_since END,"
    " max_concurrency = COALESCE($7::integer, e.max_concurrency),"
    " rate_limit = CASE WHEN $10 THEN $8::integer ELSE e.rate_limit END,"
    " headers = COALESCE($9::jsonb, e.headers), updated_at = now()"
    " WHERE e.tenant_id = $1 AND e.id = $2 AND e.deleted_at IS NULL"
    " RETURNING " HK_SQL_ENDPOINT_JSON;
static const char sql_ep_delete[] =
    "UPDATE hookd.endpoints SET deleted_at = now(), enabled = false,"
    " updated_at = now()"
    " WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL";
/* Deliveries being sent are left to their outcome, which ends them
 * failed unless it succeeded (store_dispatch.c). */
static const char sql_ep_fail_pending[] =
    "WITH f AS ("
    "  UPDATE hookd.deliveries d SET status = 'failed', completed_at = now(),"
    "  updated_at = now(), next_attempt_at = NULL,"
    "  last_error = COALESCE(d.last_error, 'endpoint deleted')"
    "  FROM hookd.queue q WHERE q.tenant_id = $1 AND q.endpoint_id = $2"
    "  AND d.tenant_id = q.tenant_id AND d.id = q.delivery_id"
    "  AND d.status = 'pending' AND NOT " HK_SQL_LEASED
    "  RETURNING d.tenant_id, d.id)"
    /* logged for the live updates route, as store_dispatch.c does */
    " INSERT INTO hookd.changes (tenant_id, id, delivery_id)"
    " SELECT f.tenant_id, hookd.uuid7(), f.id FROM f";
static const char sql_ep_secret[] =
    "SELECT encode(secret_enc, 'hex') FROM hookd.endpoints"
    " WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL";

static char *hex_of(const unsigned char *data, size_t n)
{
    char *hex = hk_malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", data[i]);
    hex[2 * n] = '\0';
    return hex;
}

enum hk_result hk_store_endpoint_insert(struct hk_conn *c, const char *tid,
                                        const struct hk_endpoint_fields *f,
                                        const unsigned char *secret_enc,
                                        size_t secret_len, json_t **out)
{
    char id[HK_UUID_STRLEN];
    hk_uuid7(id);
    char *hex = hex_of(secret_enc, secret_len);
    const char *p[10] = {tid,         id,         f->url,
                         f->description, f->event_types, f->enabled,
                         f->max_concurrency, f->rate_limit, f->headers, hex};
    enum hk_result rc = hk_store_one(c, sql_ep_insert, 10, p, out);
    free(hex);
    return rc;
}

enum hk_result hk_store_endpoint_list(struct hk_conn *c, const char *tid,
                                      const char *after, int limit,
                                      json_t **out)
{
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", limit + 1);
    const char *p[3] = {tid, after, lim};
    return hk_store_many(c, sql_ep_list, 3, p, out);
}

enum hk_result hk_store_endpoint_get(struct hk_conn *c, const char *tid,
                                     const char *eid, json_t **out)
{
    const char *p[2] = {tid, eid};
    return hk_store_one(c, sql_ep_get, 2, p, out);
}

enum hk_result hk_store_endpoint_update(struct hk_conn *c, const char *tid,
                                        const char *eid,
                                        const struct hk_endpoint_fields *f,
                                        json_t **out)
{
    const char *p[10] = {tid,
                         eid,
                         f->url,
                         f->description,
                         f->event_types,
                         f->enabled,
                         f->max_concurrency,
                         f->rate_limit,
                         f->headers,
                         f->set_rate_limit ? "true" : "false"};
    return hk_store_one(c, sql_ep_update, 10, p, out);
}

enum hk_result hk_store_endpoint_delete(struct hk_conn *c, const char *tid,
                                        const char *eid)
{
    const char *p[2] = {tid, eid};
    PGresult *r = NULL;
    enum hk_result rc = hk_db_begin(c);
    if (rc == HK_OK)
        rc = hk_db_query(c, sql_ep_delete, 2, p, &r);
    if (rc == HK_OK && strcmp(PQcmdTuples(r), "0") == 0)
        rc = HK_NOT_FOUND;
    PQclear(r);
    if (rc == HK_OK)
        rc = hk_db_query(c, sql_ep_fail_pending, 2, p, NULL);
    if (rc == HK_OK)
        rc = hk_db_commit(c);
    else
        hk_db_rollback(c);
    return rc;
}

enum hk_result hk_store_endpoint_secret(struct hk_conn *c, const char *tid,
                                        const char *eid, unsigned char **out,
                                        size_t *outlen)
{
    const char *p[2] = {tid, eid};
    PGresult *r;
    *out = NULL;
    enum hk_result rc = hk_db_query(c, sql_ep_secret, 2, p, &r);
    if (rc != HK_OK)
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return HK_NOT_FOUND;
    }
    const char *hex = PQgetvalue(r, 0, 0);
    size_t n = strlen(hex) / 2;
    unsigned char *buf = hk_malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            v = 0;
        buf[i] = (unsigned char)v;
    }
    PQclear(r);
    *out = buf;
    *outlen = n;
    return HK_OK;
}
