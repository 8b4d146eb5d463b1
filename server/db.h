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
 * on. The dispatcher's claims and sweeps are such: a claim lost with its
 * lease means the delivery is pending again and is sent again, which
 * at-least-once delivery allows; ingest and attempt records never use it. */
void hk_conn_async_commit(struct hk_conn *c);
/* Re-establishes a broken connection; false if the server is away. */
bool hk_conn_ensure(struct hk_conn *c);

/* Runs sql (a static string: its address keys the prepared statement)
 * with text parameters (NULL entries are SQL NULL). On HK_OK *res (if
 * res is not NULL) holds the result and the caller PQclears it. Maps
 * unique violations to HK_CONFLICT, foreign-key, check and bad-text
 * errors to HK_INVALID, everything else to HK_DB (logged). */
enum hk_result hk_db_query(struct hk_conn *c, const char *sql, int nparams,
                           const char *const *params,
                           PGresult **res) HK_MUST_CHECK;
/* Same, without preparing (for one-off statements and migrations). */
enum hk_result hk_db_exec(struct hk_conn *c, const char *sql, int nparams,
                          const char *const *params,
                          PGresult **res) HK_MUST_CHECK;

enum hk_result hk_db_begin(struct hk_conn *c) HK_MUST_CHECK;
enum hk_result hk_db_commit(struct hk_conn *c) HK_MUST_CHECK;
void hk_db_rollback(struct hk_conn *c);

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
