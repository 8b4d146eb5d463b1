/*
 * store_admin.c - the operator's objects: tenants, their API keys and the
 * global catalogue of event types, plus the helpers every store file uses
 * to turn a json_build_object column into jansson values.
 */
#include "store.h"
#include "crypto.h"
#include "ids.h"
#include "jsonspan.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A json column as jansson reads it. PostgreSQL prints jsonb numbers in
 * full (1e19 as twenty digits), and payloads may hold \u0000: both are
 * valid JSON that hk_json_parse reads. A row that still cannot be read is
 * logged, not skipped: a list must not leave out a row in silence. */
static json_t *load_row(PGresult *r, int row)
{
    json_error_t err;
    const char *text = PQgetvalue(r, row, 0);
    json_t *j = hk_json_parse(text, (size_t)PQgetlength(r, row, 0),
                              JSON_DECODE_ANY, &err);
    if (j == NULL)
        hk_log_error("store: a row is not readable JSON: %s", err.text);
    return j;
}

enum hk_result hk_store_one(struct hk_conn *c, const char *sql, int n,
                            const char *const *p, json_t **out)
{
    PGresult *r;
    *out = NULL;
    enum hk_result rc = hk_db_query(c, sql, n, p, &r);
    if (rc != HK_OK)
        return rc;
    if (PQntuples(r) == 0 || PQgetisnull(r, 0, 0)) {
        PQclear(r);
        return HK_NOT_FOUND;
    }
    *out = load_row(r, 0);
    PQclear(r);
    return *out ? HK_OK : HK_INTERNAL;
}

void hk_pgarr_init(struct hk_pgarr *a)
{
    hk_buf_init(&a->b);
    hk_buf_append(&a->b, "{", 1);
}

static void pgarr_sep(struct hk_pgarr *a)
{
    if (a->b.len > 1)
        hk_buf_append(&a->b, ",", 1);
}

void hk_pgarr_text(struct hk_pgarr *a, const char *s)
{
    pgarr_sep(a);
    if (s == NULL) {
        hk_buf_puts(&a->b, "NULL");
        return;
    }
    hk_buf_append(&a->b, "\"", 1);
    /* runs between the two characters that need a backslash: payloads and
     * response bodies go through here whole */
    while (*s != '\0') {
        size_t run = strcspn(s, "\"\\");
        hk_buf_append(&a->b, s, run);
        s += run;
        if (*s != '\0') {
            const char esc[2] = {'\\', *s++};
            hk_buf_append(&a->b, esc, 2);
        }
    }
    hk_buf_append(&a->b, "\"", 1);
}

char *hk_pgarr_done(struct hk_pgarr *a)
{
    hk_buf_append(&a->b, "}", 1);
    return hk_buf_steal(&a->b);
}

enum hk_result hk_store_many(struct hk_conn *c, const char *sql, int n,
                             const char *const *p, json_t **out)
{
    PGresult *r;
    *out = NULL;
    enum hk_result rc = hk_db_query(c, sql, n, p, &r);
    if (rc != HK_OK)
        return rc;
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(r) && arr != NULL; i++) {
        json_t *row = load_row(r, i);
        if (row != NULL) {
            json_array_append_new(arr, row);
        } else {
            json_decref(arr);
            arr = NULL;
        }
    }
    PQclear(r);
    *out = arr;
    return arr != NULL ? HK_OK : HK_INTERNAL;
}

void hk_text_rows_cleanup(struct hk_text_rows *rows)
{
    for (size_t i = 0; i < rows->n; i++) {
        free(rows->text[i]);
        free(rows->key[i]);
    }
    free(rows->text);
    free(rows->key);
    memset(rows, 0, sizeof(*rows));
}

enum hk_result hk_store_many_text(struct hk_conn *c, const char *sql, int n,
                                  const char *const *p,
                                  struct hk_text_rows *out)
{
    PGresult *r;
    memset(out, 0, sizeof(*out));
    enum hk_result rc = hk_db_query(c, sql, n, p, &r);
    if (rc != HK_OK)
        return rc;
    size_t rows = (size_t)PQntuples(r);
    out->text = hk_calloc(rows + 1, sizeof(*out->text));
    out->key = hk_calloc(rows + 1, sizeof(*out->key));
    for (size_t i = 0; i < rows; i++) {
        out->text[i] = hk_strndup(PQgetvalue(r, (int)i, 0),
                                  (size_t)PQgetlength(r, (int)i, 0));
        out->key[i] = hk_strdup(PQgetvalue(r, (int)i, 1));
    }
    out->n = rows;
    PQclear(r);
    return HK_OK;
}

char *hk_store_text_array(const char *const *items, size_t n)
{
    struct hk_pgarr a;
    hk_pgarr_init(&a);
    for (size_t i = 0; i < n; i++)
        hk_pgarr_text(&a, items[i]);
    return hk_pgarr_done(&a);
}

static void limit_text(int limit, char out[16])
{
    snprintf(out, 16, "%d", limit + 1);
}

/* ---- tenants ---- */

#define TENANT_JSON                                                         \
    "json_build_object('id', t.id, 'name', t.name, 'metadata', t.metadata," \
    " 'limits', json_build_object('max_endpoints', t.max_endpoints,"        \
    "   'events_per_second', t.events_per_second,"                          \
    "   'max_payload_bytes', t.max_payload_bytes),"                         \
    " 'created_at', hookd.rfc3339(t.created_at),"                           \
    " 'updated_at', hookd.rfc3339(t.updated_at))"

static const char sql_tenant_insert[] =
    "INSERT INTO hookd.tenants AS t (id, name, metadata)"
    " VALUES ($1, $2, COALESCE($3::jsonb, '{}'::jsonb))"
    " RETURNING " TENANT_JSON;
static const char sql_tenant_list[] =
    "SELECT " TENANT_JSON " FROM hookd.tenants t"
    " WHERE ($1::uuid IS NULL OR t.id < $1::uuid)"
    " ORDER BY t.id DESC LIMIT $2";
static const char sql_tenant_get[] =
    "SELECT " TENANT_JSON " FROM hookd.tenants t WHERE t.id = $1";
static const char sql_tenant_update[] =
    "UPDATE hookd.tenants AS t SET name = COALESCE($2, t.name),"
    " metadata = COALESCE($3::jsonb, t.metadata),"
    " max_endpoints = COALESCE($4::integer, t.max_endpoints),"
    " events_per_second = COALESCE($5::integer, t.events_per_second),"
    " max_payload_bytes = CASE WHEN $7::boolean THEN $6::integer"
    "   ELSE t.max_payload_bytes END,"
    " updated_at = now()"
    " WHERE t.id = $1 RETURNING " TENANT_JSON;
static const char sql_tenant_take_tokens[] =
    "SELECT granted, rate, COALESCE(max_payload_bytes, 0), wait_ms"
    " FROM hookd.take_event_tokens($1, $2)";
static const char sql_tenant_delete[] =
    "DELETE FROM hookd.tenants WHERE id = $1";
/* A tenant's events, deliveries and attempts have no foreign key
 * to the tenant (migrations/0009_deliveries_fk.sql, 0011_events_fk.sql,
 * 0012_attempts_fk.sql), so they are deleted here, after
 * the tenant's row and in statements of their own, in this order: an
 * ingest writing for the tenant holds a lock on that row until it
 * commits, the delete above waits for it, and the statements after it,
 * with later snapshots, see what it wrote. Records lock the deliveries
 * they change (and each delivery they write an attempt for), so the
 * delete of deliveries waits for them, and the delete of attempts after
 * it sees theirs. A claim only reads: a request it started just before
 * the deletion is sent, and its outcome, with no delivery left to attach
 * to, is dropped. */
static const char sql_tenant_events_delete[] =
    "DELETE FROM hookd.events WHERE tenant_id = $1";
static const char sql_tenant_deliveries_delete[] =
    "DELETE FROM hookd.deliveries WHERE tenant_id = $1";
static const char sql_tenant_attempts_delete[] =
    "DELETE FROM hookd.attempts WHERE tenant_id = $1";

enum hk_result hk_store_tenant_insert(struct hk_conn *c, const char *name,
                                      const char *metadata, json_t **out)
{
    char id[HK_UUID_STRLEN];
    hk_uuid7(id);
    const char *p[3] = {id, name, metadata};
    return hk_store_one(c, sql_tenant_insert, 3, p, out);
}

enum hk_result hk_store_tenant_list(struct hk_conn *c, const char *after,
                                    int limit, json_t **out)
{
    char lim[16];
    limit_text(limit, lim);
    const char *p[2] = {after, lim};
    return hk_store_many(c, sql_tenant_list, 2, p, out);
}

enum hk_result hk_store_tenant_get(struct hk_conn *c, const char *tid,
                                   json_t **out)
{
    const char *p[1] = {tid};
    return hk_store_one(c, sql_tenant_get, 1, p, out);
}

enum hk_result hk_store_tenant_update(struct hk_conn *c, const char *tid,
                                      const char *name, const char *metadata,
                                      const struct hk_tenant_limits *lim,
                                      json_t **out)
{
    const char *p[7] = {tid,
                        name,
                        metadata,
                        lim->max_endpoints,
                        lim->events_per_second,
                        lim->max_payload_bytes,
                        lim->set_max_payload ? "true" : "false"};
    return hk_store_one(c, sql_tenant_update, 7, p, out);
}

enum hk_result hk_store_tenant_take_tokens(struct hk_conn *c, const char *tid,
                                           long want,
                                           struct hk_rate_take *out)
{
    char w[24];
    snprintf(w, sizeof(w), "%ld", want);
    const char *p[2] = {tid, w};
    PGresult *r;
    enum hk_result rc = hk_db_query(c, sql_tenant_take_tokens, 2, p, &r);
    if (rc != HK_OK)
        return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return HK_NOT_FOUND;
    }
    out->granted = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    out->rate = strtol(PQgetvalue(r, 0, 1), NULL, 10);
    out->max_payload_bytes = strtol(PQgetvalue(r, 0, 2), NULL, 10);
    out->wait_ms = strtol(PQgetvalue(r, 0, 3), NULL, 10);
    PQclear(r);
    return HK_OK;
}

static enum hk_result tenant_delete_once(struct hk_conn *c, const char *tid)
{
    PGresult *r = NULL;
    const char *p[1] = {tid};
    enum hk_result rc = hk_db_begin(c);
    if (rc == HK_OK)
        rc = hk_db_query(c, sql_tenant_delete, 1, p, &r);
    bool gone = rc == HK_OK && strcmp(PQcmdTuples(r), "0") != 0;
    PQclear(r);
    if (rc == HK_OK && gone)
        rc = hk_db_query(c, sql_tenant_events_delete, 1, p, NULL);
    if (rc == HK_OK && gone)
        rc = hk_db_query(c, sql_tenant_deliveries_delete, 1, p, NULL);
    if (rc == HK_OK && gone)
        rc = hk_db_query(c, sql_tenant_attempts_delete, 1, p, NULL);
    if (rc == HK_OK)
        rc = hk_db_commit(c);
    else
        hk_db_rollback(c);
    if (rc != HK_OK)
        return rc;
    return gone ? HK_OK : HK_NOT_FOUND;
}

/* The deletion locks the tenant's endpoints (the cascade) before its
 * deliveries, while a record in flight locks deliveries before the
 * endpoint it updates: PostgreSQL may end one of the two as a deadlock.
 * When the deletion is the one ended, nothing of it was kept, and doing
 * it again finds the record committed. */
enum hk_result hk_store_tenant_delete(struct hk_conn *c, const char *tid)
{
    enum hk_result rc = HK_DB;
    for (int tries = 0; tries < 3 && rc == HK_DB; tries++)
        rc = tenant_delete_once(c, tid);
    return rc;
}

/* ---- api keys ---- */

#define KEY_JSON                                                           \
    "json_build_object('id', k.id, 'tenant_id', k.tenant_id, 'name',"      \
    " k.name, 'prefix', k.prefix, 'created_at', hookd.rfc3339(k.created_at)," \
    " 'last_used_at', hookd.rfc3339(k.last_used_at))"

static const char sql_key_insert[] =
    "INSERT INTO hookd.api_keys AS k (tenant_id, id, name, prefix, key_hash)"
    " SELECT $1, $2, $3, $4, decode($5, 'hex')"
    " FROM hookd.tenants WHERE id = $1"
    " RETURNING " KEY_JSON;
static const char sql_key_list[] =
    "SELECT " KEY_JSON " FROM hookd.api_keys k WHERE k.tenant_id = $1"
    " AND ($2::uuid IS NULL OR k.id < $2::uuid)"
    " ORDER BY k.id DESC LIMIT $3";
static const char sql_key_delete[] =
    "DELETE FROM hookd.api_keys WHERE tenant_id = $1 AND id = $2";
static const char sql_key_find[] =
    "SELECT tenant_id, id, encode(key_hash, 'hex'),"
    " last_used_at IS NULL OR last_used_at < now() - interval '1 minute'"
    " FROM hookd.api_keys WHERE prefix = $1";
static const char sql_key_touch[] =
    "UPDATE hookd.api_keys SET last_used_at = now()"
    " WHERE tenant_id = $1 AND id = $2";

enum hk_result hk_store_key_insert(struct hk_conn *c, const char *tid,
                                   const char *name, const char *prefix,
                                   const unsigned char hash[32], json_t **out)
{
    char id[HK_UUID_STRLEN], hex[65];
    hk_uuid7(id);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", hash[i]);
    const char *p[5] = {tid, id, name, prefix, hex};
    return hk_store_one(c, sql_key_insert, 5, p, out);
}

enum hk_result hk_store_key_list(struct hk_conn *c, const char *tid,
                                 const char *after, int limit, json_t **out)
{
    char lim[16];
    limit_text(limit, lim);
    const char *p[3] = {tid, after, lim};
    return hk_store_many(c, sql_key_list, 3, p, out);
}

enum hk_result hk_store_key_delete(struct hk_conn *c, const char *tid,
                                   const char *kid)
{
    PGresult *r;
    const char *p[2] = {tid, kid};
    enum hk_result rc = hk_db_query(c, sql_key_delete, 2, p, &r);
    if (rc != HK_OK)
        return rc;
    bool gone = strcmp(PQcmdTuples(r), "0") != 0;
    PQclear(r);
    return gone ? HK_OK : HK_NOT_FOUND;
}

enum hk_result hk_store_key_authenticate(struct hk_conn *c,
                                         const char *prefix,
                                         const unsigned char hash[32],
                                         char tid[37], char kid[37])
{
    PGresult *r;
    const char *p[1] = {prefix};
    enum hk_result rc = hk_db_query(c, sql_key_find, 1, p, &r);
    if (rc != HK_OK)
        return rc;
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", hash[i]);
    rc = HK_NOT_FOUND;
    bool stale = false;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *stored = PQgetvalue(r, i, 2);
        if (strlen(stored) == 64 && hk_ct_equal(stored, hex, 64)) {
            snprintf(tid, 37, "%s", PQgetvalue(r, i, 0));
            snprintf(kid, 37, "%s", PQgetvalue(r, i, 1));
            stale = hk_db_get_bool(r, i, 3);
            rc = HK_OK;
        }
    }
    PQclear(r);
    if (rc == HK_OK && stale) {
        const char *tp[2] = {tid, kid};
        if (hk_db_query(c, sql_key_touch, 2, tp, NULL) != HK_OK)
            rc = HK_DB;
    }
    return rc;
}

/* ---- event types ---- */

#define ET_JSON                                                            \
    "json_build_object('name', e.name, 'description', e.description,"      \
    " 'example', e.example, 'archived', e.archived,"                       \
    " 'created_at', hookd.rfc3339(e.created_at))"

static const char sql_et_insert[] =
    "INSERT INTO hookd.event_types AS e (name, description, example)"
    " VALUES ($1, COALESCE($2, ''), $3::jsonb) RETURNING " ET_JSON;
static const char sql_et_update[] =
    "UPDATE hookd.event_types AS e SET"
    " description = COALESCE($2, e.description),"
    " example = CASE WHEN $4 THEN $3::jsonb ELSE e.example END,"
    " archived = COALESCE($5::boolean, e.archived), updated_at = now()"
    " WHERE e.name = $1 RETURNING " ET_JSON;
static const char sql_et_list[] =
    "SELECT " ET_JSON " FROM hookd.event_types e"
    " WHERE ($1 OR NOT e.archived)"
    " AND ($2::text IS NULL OR (e.created_at, e.name) <"
    "      (SELECT created_at, name FROM hookd.event_types WHERE name = $2))"
    " ORDER BY e.created_at DESC, e.name DESC LIMIT $3";
static const char sql_et_unknown[] =
    "SELECT COALESCE(json_agg(n), '[]'::json) FROM unnest($1::text[]) n"
    " WHERE n <> '*' AND right(n, 2) <> '.*'"
    " AND NOT EXISTS (SELECT 1 FROM hookd.event_types e WHERE e.name = n)";

enum hk_result hk_store_event_type_insert(struct hk_conn *c, const char *name,
                                          const char *description,
                                          const char *example, json_t **out)
{
    const char *p[3] = {name, description, example};
    return hk_store_one(c, sql_et_insert, 3, p, out);
}

enum hk_result hk_store_event_type_update(struct hk_conn *c, const char *name,
                                          const char *description,
                                          const char *example,
                                          bool set_example,
                                          const char *archived, json_t **out)
{
    const char *p[5] = {name, description, example,
                        set_example ? "true" : "false", archived};
    return hk_store_one(c, sql_et_update, 5, p, out);
}

enum hk_result hk_store_event_type_list(struct hk_conn *c,
                                        bool include_archived,
                                        const char *after, int limit,
                                        json_t **out)
{
    char lim[16];
    limit_text(limit, lim);
    const char *p[3] = {include_archived ? "true" : "false", after, lim};
    return hk_store_many(c, sql_et_list, 3, p, out);
}

enum hk_result hk_store_event_types_unknown(struct hk_conn *c,
                                            const char *names, json_t **out)
{
    const char *p[1] = {names};
    return hk_store_one(c, sql_et_unknown, 1, p, out);
}
