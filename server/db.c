/*
 * db.c - PostgreSQL connections for hookd. The pool is a fixed array of
 * connections guarded by a mutex and condition variable; API threads take
 * one for the length of a request. Each connection prepares a statement the
 * first time its SQL text is used, keyed by the text's address (runtime SQL
 * lives in static strings in store_*.c), which saves a parse per query on
 * the hot paths. search_path is pinned on connect so names resolve safely.
 */
#include "db.h"
#include "ids.h"
#include "log.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hk_db {
    int size;
    struct hk_conn **conns;
    bool *busy;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

/* Server notices ("already exists, skipping") are not for the log. */
static void quiet_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static bool conn_setup(struct hk_conn *c)
{
    PQsetNoticeProcessor(c->pg, quiet_notice, NULL);
    char set[200];
    snprintf(set, sizeof(set), "SET search_path = hookd, pg_catalog%s%s",
             c->generic_plans ? "; SET plan_cache_mode = force_generic_plan"
                              : "",
             c->async_commit ? "; SET synchronous_commit = off" : "");
    PGresult *r = PQexec(c->pg, set);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    c->nprepared = 0;
    c->in_tx = false;
    return ok;
}

enum hk_result hk_conn_open(const char *conninfo, const char *name,
                            struct hk_conn **out)
{
    struct hk_conn *c = hk_calloc(1, sizeof(*c));
    /* conninfo (a URL or key=value pairs) stands for all its settings;
     * the name only fills application_name when conninfo leaves it out */
    const char *const keys[] = {"dbname", "fallback_application_name", NULL};
    const char *const values[] = {conninfo, name, NULL};
    c->pg = PQconnectdbParams(keys, values, 1);
    if (PQstatus(c->pg) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c->pg));
        msg[strcspn(msg, "\n")] = '\0';
        hk_log_error("database connection failed", "setting",
                     "HOOKD_DATABASE_URL", "error", msg);
        PQfinish(c->pg);
        free(c);
        *out = NULL;
        return HK_DB;
    }
    if (!conn_setup(c)) {
        hk_log_error("database setup failed", "error",
                     PQerrorMessage(c->pg));
        PQfinish(c->pg);
        free(c);
        *out = NULL;
        return HK_DB;
    }
    *out = c;
    return HK_OK;
}

/* Applies a setting that conn_setup also applies after any reconnect
 * (the caller has set its flag). */
static void conn_set_now(struct hk_conn *c, const char *sql, const char *warn)
{
    if (PQstatus(c->pg) != CONNECTION_OK)
        return; /* conn_setup sets it on reconnect */
    PGresult *r = PQexec(c->pg, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        hk_log_warn(warn);
    PQclear(r);
}

void hk_conn_generic_plans(struct hk_conn *c)
{
    c->generic_plans = true;
    conn_set_now(c, "SET plan_cache_mode = force_generic_plan",
                 "could not set plan_cache_mode; plans stay custom");
}

void hk_conn_async_commit(struct hk_conn *c)
{
    c->async_commit = true;
    conn_set_now(c, "SET synchronous_commit = off",
                 "could not set synchronous_commit; claims wait for the disk");
}

void hk_conn_close(struct hk_conn *c)
{
    if (c == NULL)
        return;
    PQfinish(c->pg);
    free(c);
}

/* An idle connection that PostgreSQL closed (a restart, an administrator,
 * an idle timeout) still reads CONNECTION_OK until libpq reads from it.
 * The server's goodbye makes the socket readable: reading it then, with no
 * query in flight, marks the connection bad without a round trip, so it is
 * reset before a statement is lost on it. */
static void notice_closed(struct hk_conn *c)
{
    if (PQstatus(c->pg) != CONNECTION_OK || PQisBusy(c->pg))
        return;
    struct pollfd p = {.fd = PQsocket(c->pg), .events = POLLIN};
    if (p.fd < 0 || poll(&p, 1, 0) <= 0)
        return;
    if (PQconsumeInput(c->pg) == 0)
        return; /* the read failed: PQstatus now says bad */
    /* a FATAL message (57P01, terminating connection) comes before EOF:
     * read once more to reach the end of the stream */
    if (poll(&p, 1, 0) > 0)
        (void)PQconsumeInput(c->pg);
}

bool hk_conn_ensure(struct hk_conn *c)
{
    notice_closed(c);
    if (PQstatus(c->pg) == CONNECTION_OK)
        return true;
    PQreset(c->pg);
    if (PQstatus(c->pg) != CONNECTION_OK)
        return false;
    return conn_setup(c);
}

enum hk_result hk_db_new(const char *conninfo, const char *name, int size,
                         struct hk_db **out)
{
    struct hk_db *db = hk_calloc(1, sizeof(*db));
    db->size = size;
    db->conns = hk_calloc((size_t)size, sizeof(*db->conns));
    db->busy = hk_calloc((size_t)size, sizeof(*db->busy));
    pthread_mutex_init(&db->mu, NULL);
    pthread_cond_init(&db->cv, NULL);
    for (int i = 0; i < size; i++) {
        if (hk_conn_open(conninfo, name, &db->conns[i]) != HK_OK) {
            hk_db_free(db);
            *out = NULL;
            return HK_DB;
        }
    }
    *out = db;
    return HK_OK;
}

void hk_db_free(struct hk_db *db)
{
    if (db == NULL)
        return;
    for (int i = 0; i < db->size; i++)
        hk_conn_close(db->conns[i]);
    pthread_mutex_destroy(&db->mu);
    pthread_cond_destroy(&db->cv);
    free(db->conns);
    free(db->busy);
    free(db);
}

struct hk_conn *hk_db_acquire(struct hk_db *db)
{
    int slot = -1;
    pthread_mutex_lock(&db->mu);
    for (;;) {
        for (int i = 0; i < db->size; i++) {
            if (!db->busy[i]) {
                slot = i;
                break;
            }
        }
        if (slot >= 0)
            break;
        pthread_cond_wait(&db->cv, &db->mu);
    }
    db->busy[slot] = true;
    pthread_mutex_unlock(&db->mu);

    struct hk_conn *c = db->conns[slot];
    if (!hk_conn_ensure(c)) {
        /* once a second at most: while the database is away every
         * request comes here, and one line says it */
        static _Atomic int64_t last_logged;
        int64_t now = hk_mono_ms(), last = last_logged;
        if (now - last >= 1000 &&
            atomic_compare_exchange_strong(&last_logged, &last, now))
            hk_log_error("database unreachable", "error",
                         PQerrorMessage(c->pg));
        hk_db_release(db, c);
        return NULL;
    }
    return c;
}

void hk_db_release(struct hk_db *db, struct hk_conn *c)
{
    if (c == NULL)
        return;
    if (c->in_tx)
        hk_db_rollback(c);
    pthread_mutex_lock(&db->mu);
    for (int i = 0; i < db->size; i++) {
        if (db->conns[i] == c) {
            db->busy[i] = false;
            break;
        }
    }
    pthread_cond_signal(&db->cv);
    pthread_mutex_unlock(&db->mu);
}

static enum hk_result map_error(struct hk_conn *c, PGresult *r,
                                const char *sql)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (state != NULL) {
        if (strcmp(state, "23505") == 0)
            return HK_CONFLICT;
        /* foreign key, check, not-null, and every data exception (class
         * 22: bad text representation, value or date out of range,
         * invalid json...): the input was wrong, not the database */
        if (strcmp(state, "23503") == 0 || strcmp(state, "23514") == 0 ||
            strcmp(state, "23502") == 0 || strncmp(state, "22", 2) == 0)
            return HK_INVALID;
    }
    char head[80];
    snprintf(head, sizeof(head), "%s", sql);
    const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(c->pg);
    hk_log_error("query failed", "sqlstate", state ? state : "", "error", msg,
                 "sql", head);
    return HK_DB;
}

static enum hk_result finish(struct hk_conn *c, PGresult *r, const char *sql,
                             PGresult **res)
{
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        if (res != NULL)
            *res = r;
        else
            PQclear(r);
        return HK_OK;
    }
    enum hk_result rc = map_error(c, r, sql);
    PQclear(r);
    if (res != NULL)
        *res = NULL;
    return rc;
}

static enum hk_result exec_fmt(struct hk_conn *c, const char *sql,
                               int nparams, const char *const *params,
                               const int *lengths, const int *formats,
                               PGresult **res)
{
    PGresult *r = PQexecParams(c->pg, sql, nparams, NULL, params, lengths,
                               formats, 0);
    return finish(c, r, sql, res);
}

enum hk_result hk_db_exec(struct hk_conn *c, const char *sql, int nparams,
                          const char *const *params, PGresult **res)
{
    return exec_fmt(c, sql, nparams, params, NULL, NULL, res);
}

enum hk_result hk_db_query(struct hk_conn *c, const char *sql, int nparams,
                           const char *const *params, PGresult **res)
{
    return hk_db_query_bin(c, sql, nparams, params, NULL, NULL, res);
}

enum hk_result hk_db_query_bin(struct hk_conn *c, const char *sql,
                               int nparams, const char *const *params,
                               const int *lengths, const int *formats,
                               PGresult **res)
{
    int idx = -1;
    for (int i = 0; i < c->nprepared; i++) {
        if (c->prepared[i] == sql) {
            idx = i;
            break;
        }
    }
    if (idx < 0 && c->nprepared >= HK_DB_MAX_PREPARED)
        return exec_fmt(c, sql, nparams, params, lengths, formats, res);
    char name[16];
    if (idx < 0) {
        idx = c->nprepared;
        snprintf(name, sizeof(name), "s%d", idx);
        PGresult *p = PQprepare(c->pg, name, sql, nparams, NULL);
        if (PQresultStatus(p) != PGRES_COMMAND_OK) {
            enum hk_result rc = map_error(c, p, sql);
            PQclear(p);
            if (res != NULL)
                *res = NULL;
            return rc;
        }
        PQclear(p);
        c->prepared[c->nprepared++] = sql;
    }
    snprintf(name, sizeof(name), "s%d", idx);
    PGresult *r =
        PQexecPrepared(c->pg, name, nparams, params, lengths, formats, 0);
    return finish(c, r, sql, res);
}

enum hk_result hk_db_begin(struct hk_conn *c)
{
    enum hk_result rc = hk_db_exec(c, "BEGIN", 0, NULL, NULL);
    if (rc == HK_OK)
        c->in_tx = true;
    return rc;
}

enum hk_result hk_db_commit(struct hk_conn *c)
{
    enum hk_result rc = hk_db_exec(c, "COMMIT", 0, NULL, NULL);
    c->in_tx = false;
    return rc;
}

void hk_db_rollback(struct hk_conn *c)
{
    PGresult *r = PQexec(c->pg, "ROLLBACK");
    PQclear(r);
    c->in_tx = false;
}

const char *hk_db_get(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return NULL;
    return PQgetvalue(r, row, col);
}

bool hk_db_get_bool(const PGresult *r, int row, int col)
{
    const char *v = hk_db_get(r, row, col);
    return v != NULL && v[0] == 't';
}

int hk_db_get_int(const PGresult *r, int row, int col)
{
    const char *v = hk_db_get(r, row, col);
    return v ? (int)strtol(v, NULL, 10) : 0;
}

/* ---- start-up checks ---- */

enum hk_result hk_db_conninfo_check(const char *conninfo, char *err,
                                    size_t errlen)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &msg);
    if (opts != NULL) {
        PQconninfoFree(opts);
        return HK_OK;
    }
    if (err != NULL && errlen > 0) {
        const char *why = msg != NULL ? msg : "out of memory";
        /* libpq ends some reasons with the whole URI in quotes, password
         * included: those end before it */
        size_t n = strlen(conninfo);
        const char *at = n > 0 ? strstr(why, conninfo) : NULL;
        if (at != NULL && at - why >= 3 && strncmp(at - 3, ": \"", 3) == 0 &&
            at[n] == '"')
            snprintf(err, errlen, "%.*s", (int)(at - 3 - why), why);
        else if (at != NULL)
            snprintf(err, errlen, "%.*s(the value)%s", (int)(at - why), why,
                     at + n);
        else
            snprintf(err, errlen, "%s", why);
        /* one line: newlines become spaces, trailing ones go */
        for (char *p = err; *p != '\0'; p++)
            if (*p == '\n' || *p == '\r' || *p == '\t')
                *p = ' ';
        n = strlen(err);
        while (n > 0 && err[n - 1] == ' ')
            err[--n] = '\0';
    }
    PQfreemem(msg);
    return HK_INVALID;
}

/* ---- binary array parameters ---- */

static void put_u32(struct hk_buf *b, uint32_t v)
{
    const unsigned char x[4] = {(unsigned char)(v >> 24),
                                (unsigned char)(v >> 16),
                                (unsigned char)(v >> 8), (unsigned char)v};
    hk_buf_append(b, x, 4);
}

static void set_u32(struct hk_buf *b, size_t at, uint32_t v)
{
    unsigned char *x = (unsigned char *)b->data + at;
    x[0] = (unsigned char)(v >> 24);
    x[1] = (unsigned char)(v >> 16);
    x[2] = (unsigned char)(v >> 8);
    x[3] = (unsigned char)v;
}

/* The header: dimensions (1, or 0 for an empty array, set by done),
 * flags (1 when an element is NULL, set by done), element type, then the
 * one dimension's length (set by done) and lower bound. */
void hk_pgbin_init(struct hk_pgbin *a, unsigned oid)
{
    hk_buf_init(&a->b);
    a->oid = oid;
    a->n = 0;
    a->nulls = false;
    a->bad = false;
    put_u32(&a->b, 1);
    put_u32(&a->b, 0);
    put_u32(&a->b, oid);
    put_u32(&a->b, 0);
    put_u32(&a->b, 1);
}

/* Reads one uuid's 32 hex digits (dashes between them skipped) from s;
 * returns where it stopped, or NULL when s does not start with one. */
static const char *read_uuid(const char *s, unsigned char out[16])
{
    for (int i = 0; i < 32; i++) {
        while (i > 0 && *s == '-')
            s++;
        int v = hk_hexval(*s);
        if (v < 0)
            return NULL;
        if (i % 2 == 0)
            out[i / 2] = (unsigned char)(v << 4);
        else
            out[i / 2] |= (unsigned char)v;
        s++;
    }
    return s;
}

/* One element: its length, then its bytes. */
static void put_elem(struct hk_pgbin *a, const void *data, size_t len)
{
    put_u32(&a->b, (uint32_t)len);
    hk_buf_append(&a->b, data, len);
    a->n++;
}

void hk_pgbin_null(struct hk_pgbin *a)
{
    put_u32(&a->b, 0xffffffffu); /* length -1 */
    a->nulls = true;
    a->n++;
}

void hk_pgbin_uuid(struct hk_pgbin *a, const char *id)
{
    if (id == NULL) {
        hk_pgbin_null(a);
        return;
    }
    unsigned char u[16];
    const char *end = read_uuid(id, u);
    if (end == NULL || *end != '\0') {
        a->bad = true;
        return;
    }
    put_elem(a, u, 16);
}

void hk_pgbin_uuids(struct hk_pgbin *a, const struct hk_buf *list)
{
    if (list == NULL)
        return;
    for (size_t at = 0; at + HK_UUID_BYTES <= list->len; at += HK_UUID_BYTES)
        put_elem(a, list->data + at, HK_UUID_BYTES);
}

void hk_pgbin_text(struct hk_pgbin *a, const char *s)
{
    if (s == NULL) {
        hk_pgbin_null(a);
        return;
    }
    size_t len = strlen(s);
    if (a->oid == HK_OID_JSONB) {
        /* jsonb's binary input: a version byte, then the text */
        put_u32(&a->b, (uint32_t)len + 1);
        hk_buf_append(&a->b, "\x01", 1);
        hk_buf_append(&a->b, s, len);
        a->n++;
        return;
    }
    put_elem(a, s, len);
}

void hk_pgbin_int4(struct hk_pgbin *a, int32_t v)
{
    put_u32(&a->b, 4);
    put_u32(&a->b, (uint32_t)v);
    a->n++;
}

void hk_pgbin_int8(struct hk_pgbin *a, int64_t v)
{
    put_u32(&a->b, 8);
    put_u32(&a->b, (uint32_t)((uint64_t)v >> 32));
    put_u32(&a->b, (uint32_t)v);
    a->n++;
}

void hk_pgbin_bool(struct hk_pgbin *a, bool v)
{
    const unsigned char b = v ? 1 : 0;
    put_elem(a, &b, 1);
}

const char *hk_pgbin_done(struct hk_pgbin *a, int *len)
{
    if (a->bad)
        return NULL;
    if (a->n == 0) {
        set_u32(&a->b, 0, 0); /* no dimensions: the header ends at the type */
        *len = 12;
    } else {
        set_u32(&a->b, 4, a->nulls ? 1 : 0);
        set_u32(&a->b, 12, (uint32_t)a->n);
        *len = (int)a->b.len;
    }
    return a->b.data;
}

void hk_pgbin_cleanup(struct hk_pgbin *a)
{
    hk_buf_cleanup(&a->b);
}

enum hk_result hk_db_query_arrays(struct hk_conn *c, const char *sql,
                                  struct hk_pgbin *a, int n, PGresult **res)
{
    const char *vals[HK_PGBIN_MAX_PARAMS];
    int lens[HK_PGBIN_MAX_PARAMS], fmts[HK_PGBIN_MAX_PARAMS];
    if (res != NULL)
        *res = NULL;
    if (n > HK_PGBIN_MAX_PARAMS) {
        /* A statement with more arrays than this is a programming error:
         * said loudly, since callers that retry on HK_INTERNAL would
         * otherwise retry it silently for ever. */
        char got[16];
        snprintf(got, sizeof(got), "%d", n);
        hk_log_error("too many array parameters for one statement",
                     "arrays", got);
        return HK_INTERNAL;
    }
    for (int k = 0; k < n; k++) {
        vals[k] = hk_pgbin_done(&a[k], &lens[k]);
        fmts[k] = 1;
        if (vals[k] == NULL)
            return HK_INVALID;
    }
    return hk_db_query_bin(c, sql, n, vals, lens, fmts, res);
}
