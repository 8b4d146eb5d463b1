/*
 * store_endpoints.c - a tenant's endpoints. Deletion is soft: the row stays
 * (invisible to the API) so its deliveries and attempts keep their history,
 * and its unfinished deliveries end failed in the same transaction.
 */
#include "store.h"
#include "ids.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char sql_ep_insert[] =
    "INSERT INTO hookd.endpoints AS e (tenant_id, id, url, description,"
    " event_types, enabled, max_concurrency, rate_limit, headers, secret_enc,"
    " ordering)"
    " SELECT $1, $2, $3, COALESCE($4, ''), COALESCE($5::text[], '{}'),"
    " COALESCE($6::boolean, true), COALESCE($7::integer, 10), $8::integer,"
    " COALESCE($9::jsonb, '{}'::jsonb), decode($10, 'hex'),"
    " COALESCE($11, 'unordered')"
    " FROM hookd.tenants WHERE id = $1"
    " RETURNING " HK_SQL_ENDPOINT_JSON;
/* The tenant's row is locked against other inserts (and updates) until
 * the insert commits, but not against ingests and other writers that only
 * reference it (FOR KEY SHARE). */
static const char sql_ep_room[] =
    "SELECT t.max_endpoints, (SELECT count(*) FROM hookd.endpoints e"
    "  WHERE e.tenant_id = t.id AND e.deleted_at IS NULL)"
    " FROM hookd.tenants t WHERE t.id = $1 FOR NO KEY UPDATE";
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
    " headers = COALESCE($9::jsonb, e.headers),"
    " ordering = COALESCE($11, e.ordering), updated_at = now()"
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
    "  AND d.status = 'pending' AND NOT " HK_SQL_SENDING
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
                                        const char *id,
                                        const struct hk_endpoint_fields *f,
                                        const unsigned char *secret_enc,
                                        size_t secret_len, long *max_endpoints,
                                        json_t **out)
{
    *out = NULL;
    *max_endpoints = 0;
    PGresult *r = NULL;
    const char *tp[1] = {tid};
    enum hk_result rc = hk_db_begin(c);
    if (rc == HK_OK)
        rc = hk_db_query(c, sql_ep_room, 1, tp, &r);
    if (rc == HK_OK && PQntuples(r) == 0)
        rc = HK_NOT_FOUND;
    if (rc == HK_OK) {
        *max_endpoints = strtol(PQgetvalue(r, 0, 0), NULL, 10);
        if (strtol(PQgetvalue(r, 0, 1), NULL, 10) >= *max_endpoints)
            rc = HK_DENIED;
    }
    PQclear(r);
    if (rc == HK_OK) {
        char *hex = hex_of(secret_enc, secret_len);
        const char *p[11] = {tid,
                             id,
                             f->url,
                             f->description,
                             f->event_types,
                             f->enabled,
                             f->max_concurrency,
                             f->rate_limit,
                             f->headers,
                             hex,
                             f->ordering};
        rc = hk_store_one(c, sql_ep_insert, 11, p, out);
        free(hex);
    }
    if (rc == HK_OK)
        rc = hk_db_commit(c);
    else
        hk_db_rollback(c);
    if (rc != HK_OK) {
        json_decref(*out);
        *out = NULL;
    }
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
    const char *p[11] = {tid,
                         eid,
                         f->url,
                         f->description,
                         f->event_types,
                         f->enabled,
                         f->max_concurrency,
                         f->rate_limit,
                         f->headers,
                         f->set_rate_limit ? "true" : "false",
                         f->ordering};
    return hk_store_one(c, sql_ep_update, 11, p, out);
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

/* The bytes of a hex column value (NULL for SQL NULL); caller frees. */
static unsigned char *bytes_of_hex(const PGresult *r, int row, int col,
                                   size_t *len)
{
    *len = 0;
    if (PQgetisnull(r, row, col))
        return NULL;
    const char *hex = PQgetvalue(r, row, col);
    size_t n = strlen(hex) / 2;
    unsigned char *buf = hk_malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            v = 0;
        buf[i] = (unsigned char)v;
    }
    *len = n;
    return buf;
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
    *out = bytes_of_hex(r, 0, 0, outlen);
    PQclear(r);
    return HK_OK;
}

/* ---- re-sealing secrets of the first format (hookd migrate) ---- */

static const char sql_sealed_first[] =
    "SELECT tenant_id, id, encode(secret_enc, 'hex'),"
    " encode(prev_secret_enc, 'hex') FROM hookd.endpoints"
    " WHERE secret_format = 1 AND ($1::uuid IS NULL OR (tenant_id, id) >"
    " ($1::uuid, $2::uuid)) ORDER BY tenant_id, id LIMIT 200";
static const char sql_reseal[] =
    "UPDATE hookd.endpoints SET secret_enc = decode($3, 'hex'),"
    " prev_secret_enc = decode($4, 'hex'), secret_format = 2"
    " WHERE tenant_id = $1 AND id = $2 AND secret_format = 1"
    " AND secret_enc = decode($5, 'hex')"
    " AND prev_secret_enc IS NOT DISTINCT FROM decode($6, 'hex')";

enum hk_result hk_store_secrets_first_format(struct hk_conn *c,
                                             const char *after_tid,
                                             const char *after_eid,
                                             struct hk_sealed_row **out,
                                             size_t *n)
{
    const char *p[2] = {after_tid, after_eid};
    PGresult *r;
    *out = NULL;
    *n = 0;
    enum hk_result rc = hk_db_query(c, sql_sealed_first, 2, p, &r);
    if (rc != HK_OK)
        return rc;
    size_t rows = (size_t)PQntuples(r);
    struct hk_sealed_row *list = hk_calloc(rows + 1, sizeof(*list));
    for (size_t i = 0; i < rows; i++) {
        snprintf(list[i].tenant_id, sizeof(list[i].tenant_id), "%s",
                 PQgetvalue(r, (int)i, 0));
        snprintf(list[i].endpoint_id, sizeof(list[i].endpoint_id), "%s",
                 PQgetvalue(r, (int)i, 1));
        list[i].secret = bytes_of_hex(r, (int)i, 2, &list[i].secret_len);
        list[i].prev = bytes_of_hex(r, (int)i, 3, &list[i].prev_len);
    }
    PQclear(r);
    *out = list;
    *n = rows;
    return HK_OK;
}

void hk_store_sealed_rows_free(struct hk_sealed_row *rows, size_t n)
{
    for (size_t i = 0; rows != NULL && i < n; i++) {
        free(rows[i].secret);
        free(rows[i].prev);
    }
    free(rows);
}

enum hk_result hk_store_secret_reseal(struct hk_conn *c,
                                      const struct hk_sealed_row *old,
                                      const unsigned char *secret,
                                      size_t secret_len,
                                      const unsigned char *prev,
                                      size_t prev_len, bool *done)
{
    char *hs = hex_of(secret, secret_len);
    char *hp = prev != NULL ? hex_of(prev, prev_len) : NULL;
    char *os = hex_of(old->secret, old->secret_len);
    char *op = old->prev != NULL ? hex_of(old->prev, old->prev_len) : NULL;
    const char *p[6] = {old->tenant_id, old->endpoint_id, hs, hp, os, op};
    PGresult *r = NULL;
    enum hk_result rc = hk_db_query(c, sql_reseal, 6, p, &r);
    *done = rc == HK_OK && strcmp(PQcmdTuples(r), "1") == 0;
    if (rc == HK_OK)
        PQclear(r);
    free(hs);
    free(hp);
    free(os);
    free(op);
    return rc;
}
