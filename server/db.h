/*
 * db.h - PostgreSQL connections: a fixed pool for the API threads, single
 * connections for the dispatcher and LISTEN, transactions, and one query
 * helper that prepares each statement once per connection and maps SQL
 * errors to hk_result. Only db.c and store_*.c include libpq.
 */
#ifndef HK_DB_H
#define HK_DB_H

#include "common.h"
#include <libpq-fe.h>

#define HK_DB_MAX_PREPARED 96

/* One connection and the statements already prepared on it. */
struct hk_conn {
    PGconn *pg;
    const char *prepared[HK_DB_MAX_PREPARED]; /* by SQL text address */
    int nprepared;
    bool in_tx;
    bool generic_plans; /* see hk_conn_generic_plans */
    bool async_commit;  /* see hk_conn_async_commit */
};

struct hk_db;

/* Opens `size` connections to conninfo. HK_DB (with a log line) when the
 * first one cannot be made. Free with hk_db_free. Every connection, here
 * and from hk_conn_open, takes `name`, the part of hookd it serves ("hookd
 * api", "hookd claimer", ...), as its application_name unless conninfo
 * sets one: pg_stat_activity and PostgreSQL's logs then tell an operator
 * which part a session belongs to, and `make bench` what each part costs
 * the database. */
enum hk_result hk_db_new(const char *conninfo, const char *name, int size,
                         struct hk_db **out) HK_MUST_CHECK;
void hk_db_free(struct hk_db *db);

/* Takes a connection from the pool, waiting if all are busy; a broken one
 * is reset first. Returns NULL only when the database cannot be reached. */
struct hk_conn *hk_db_acquire(struct hk_db *db);
/* Returns it; a connection left inside a transaction is rolled back. */
void hk_db_release(struct hk_db *db, struct hk_conn *c);

/* A connection outside the pool (dispatcher, LISTEN, migrate). */
enum hk_result hk_conn_open(const char *conninfo, const char *name,
                            struct hk_conn **out) HK_MUST_CHECK;
void hk_conn_close(struct hk_conn *c);
/* Makes every prepared statement of c use its generic plan from the
 * first execution, now and after any reconnect: for a connection that
 * runs a few statements over and over (the dispatcher's), where planning
 * again at each call would cost more than running them. */
void hk_conn_generic_plans(struct hk_conn *c);
/* Lets c's commits return before they reach the disk (synchronous_commit
 * off), now and after any reconnect: only for a connection whose writes
 * may be lost in a database crash without losing anything a user relies
 * on. The dispatcher's ownership rounds and sweeps are such: a take of an
 * endpoint lost with a crash means its deliveries, still pending, are
 * sent again by its next owner, which at-least-once delivery allows;
 * ingest and attempt records never use it. */
void hk_conn_async_commit(struct hk_conn *c);
/* Re-establishes a broken connection; false if the server is away. */
bool hk_conn_ensure(struct hk_conn *c);

/* Runs sql (a static string: its address keys the prepared statement)
 * with text parameters (NULL entries are SQL NULL). On HK_OK *res (if
 * res is not NULL) holds the result and the caller PQclears it. Maps
 * unique violations to HK_CONFLICT, foreign-key, check and not-null
 * violations and every data exception (SQLSTATE class 22) to HK_INVALID,
 * everything else to HK_DB (logged). */
enum hk_result hk_db_query(struct hk_conn *c, const char *sql, int nparams,
                           const char *const *params,
                           PGresult **res) HK_MUST_CHECK;
/* Same, with some parameters in binary form: lengths[i] and formats[i]
 * (1 for binary, 0 for text) for each parameter, as PQexecPrepared takes
 * them; lengths is read only for binary ones (see struct hk_pgbin). */
enum hk_result hk_db_query_bin(struct hk_conn *c, const char *sql,
                               int nparams, const char *const *params,
                               const int *lengths, const int *formats,
                               PGresult **res) HK_MUST_CHECK;
/* Same, without preparing (for one-off statements and migrations). */
enum hk_result hk_db_exec(struct hk_conn *c, const char *sql, int nparams,
                          const char *const *params,
                          PGresult **res) HK_MUST_CHECK;

enum hk_result hk_db_begin(struct hk_conn *c) HK_MUST_CHECK;
enum hk_result hk_db_commit(struct hk_conn *c) HK_MUST_CHECK;
void hk_db_rollback(struct hk_conn *c);

/* An array parameter in PostgreSQL's binary form (array_send's layout:
 * dimensions and element type, then each element as its length and its
 * bytes), built element by element for hk_db_query_bin. The server then
 * takes each element as it is instead of parsing a text literal, and the
 * builder has no quoting to do. Parsing text literals (array_in, with
 * uuid_in for each id) is a cost paid on every element, and the batched
 * statements pass every row as array elements, while each claim passes the
 * ids of the requests the dispatcher holds. */
struct hk_pgbin {
    struct hk_buf b;
    unsigned oid; /* the element type */
    int n;        /* elements so far */
    bool nulls;   /* an element is NULL */
    bool bad;     /* an element was not of the type (see hk_pgbin_done) */
};
/* The element types hookd sends, by their fixed PostgreSQL oids. */
#define HK_OID_BOOL 16u
#define HK_OID_INT8 20u
#define HK_OID_INT4 23u
#define HK_OID_TEXT 25u
#define HK_OID_UUID 2950u
#define HK_OID_JSONB 3802u
/* Starts an empty array of elements of type oid (one of the above). */
void hk_pgbin_init(struct hk_pgbin *a, unsigned oid);
/* Appends a uuid given in text form (32 hex digits, dashes allowed
 * between them); NULL appends SQL NULL. */
void hk_pgbin_uuid(struct hk_pgbin *a, const char *id);
/* Appends each id of a list of 16-byte uuids (ids.h; NULL: none). */
void hk_pgbin_uuids(struct hk_pgbin *a, const struct hk_buf *list);
/* Appends text (for a text or a jsonb array: the server parses a jsonb
 * element's text as jsonb input); NULL appends SQL NULL. */
void hk_pgbin_text(struct hk_pgbin *a, const char *s);
void hk_pgbin_int4(struct hk_pgbin *a, int32_t v);
void hk_pgbin_int8(struct hk_pgbin *a, int64_t v);
void hk_pgbin_bool(struct hk_pgbin *a, bool v);
void hk_pgbin_null(struct hk_pgbin *a);
/* The finished array and its length in bytes; NULL when an element was
 * malformed (a uuid that is not one). The array stays owned by a until
 * hk_pgbin_cleanup. */
const char *hk_pgbin_done(struct hk_pgbin *a, int *len);
void hk_pgbin_cleanup(struct hk_pgbin *a);
/* hk_db_query with the n (at most HK_PGBIN_MAX_PARAMS) finished arrays of
 * a as its parameters $1..$n; HK_INVALID, with nothing sent, when one of
 * them holds a malformed element. The arrays stay the caller's. */
#define HK_PGBIN_MAX_PARAMS 32
enum hk_result hk_db_query_arrays(struct hk_conn *c, const char *sql,
                                  struct hk_pgbin *a, int n,
                                  PGresult **res) HK_MUST_CHECK;

/* Value helpers: NULL when the field is SQL NULL. */
const char *hk_db_get(const PGresult *r, int row, int col);
bool hk_db_get_bool(const PGresult *r, int row, int col);
int hk_db_get_int(const PGresult *r, int row, int col);

/* Parses conninfo (key=value pairs or a postgresql:// URI) without
 * connecting. HK_INVALID with libpq's reason, on one line and without the
 * string itself (it may hold a password), in err when it is malformed. */
enum hk_result hk_db_conninfo_check(const char *conninfo, char *err,
                                    size_t errlen) HK_MUST_CHECK;

#endif
