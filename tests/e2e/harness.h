/*
 * harness.h - the end-to-end test harness: it gives each test file a real
 * hookd process on a fresh PostgreSQL database (created, migrated, dropped),
 * a libcurl HTTP client that returns status, headers, body and parsed JSON,
 * a raw-socket client for requests libcurl will not send, a libpq helper to
 * look into the database, cmocka assertions for the API's answers, helpers
 * that create what tests need (tenants, keys, event types, endpoints,
 * portal sessions), and the group fixture most test files start with.
 * Settings come from the environment the test runner sets: HOOKD_BIN,
 * HOOKD_TEST_PGHOST, HOOKD_TEST_PGPORT, HOOKD_TEST_PGUSER, HOOKD_SOURCE_DIR.
 * Receivers of webhooks live in receiver.h.
 */
#ifndef HK_E2E_HARNESS_H
#define HK_E2E_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>
#include <jansson.h>

/* Big enough for a canonical UUID and anything a broken server sends in
 * its place (cut). */
#define HK_ID_LEN 64

/* One hookd process and the database it runs on. Caller's storage: zero it
 * (or declare it static), then hk_srv_start; hk_srv_drop frees everything. */
struct hk_srv {
    char bin[4096];        /* HOOKD_BIN */
    char source_dir[4096]; /* HOOKD_SOURCE_DIR, default "." */
    char log_dir[4200];    /* <source_dir>/build/test-logs */
    char dbname[64];       /* hookd_e2e_<pid>_<n> */
    char db_url[512];      /* what HOOKD_DATABASE_URL is set to */
    char pg_host[256];
    char pg_port[16];
    char pg_user[128];
    char admin_key[65];  /* random, 48 hex characters */
    char secret_key[64]; /* base64 of 32 random bytes */
    char role[16];       /* serve, api or dispatch */
    int port;            /* HOOKD_LISTEN port */
    char base_url[64];   /* http://127.0.0.1:<port> */
    char log_path[4400]; /* this run's stdout+stderr */
    pid_t pid;           /* 0 when not running */
    bool owns_db;        /* hk_srv_drop drops the database */
    int starts;          /* how many times this struct was started */
    bool was_up;         /* answered at least once since the start */
    char **extra_env;    /* copy of the overrides, for restarts */
};

/* Creates a fresh database, runs `hookd migrate` on it, picks a free port
 * and starts `hookd serve` with a clean environment: PATH, the sanitizer
 * options and HOOKD_TEST_RUN of this process, the HOOKD_* settings
 * (HOOKD_MIGRATIONS_DIR and HOOKD_WEB_DIR under HOOKD_SOURCE_DIR, random admin
 * and secret keys, HOOKD_ALLOW_PRIVATE_TARGETS=1, HOOKD_RETRY_SCHEDULE=
 * 1s,1s,1s, HOOKD_REQUEST_TIMEOUT=2s), then extra_env: NULL-terminated
 * "NAME=value" entries that override or add, or "NAME" alone to remove a
 * variable. Waits up to 20 s for GET /healthz. Returns 0, or -1 after
 * printing one clear line on stderr and undoing what it did. */
int hk_srv_start(struct hk_srv *s, const char *const *extra_env);
/* The same with another role: "serve", "api" or "dispatch". A dispatch
 * process is taken as started when /healthz answers or when it is still
 * running 2 s after the start (it may not listen at all). */
int hk_srv_start_role(struct hk_srv *s, const char *role,
                      const char *const *extra_env);
/* Starts a second process (peer) on base's database with base's keys,
 * base's extra_env and then its own, and a port of its own;
 * hk_srv_drop(peer) stops it but keeps the database. */
int hk_srv_start_peer(struct hk_srv *peer, const struct hk_srv *base,
                      const char *role, const char *const *extra_env);
/* SIGTERM, then waits up to 20 s (then SIGKILL). Returns the exit status
 * (0 for a clean exit, 128+n for signal n, -1 when it had to be killed or
 * was not running). Any non-zero result prints the tail of the log. */
int hk_srv_stop(struct hk_srv *s);
/* SIGKILL and reap, for crash tests. */
void hk_srv_kill9(struct hk_srv *s);
/* Starts the same role again on the same database, keys and port (stop it
 * or kill it first; a running process is stopped and must exit 0).
 * Returns 0 or -1. */
int hk_srv_restart(struct hk_srv *s);
/* true while the process runs (reaps it if it has exited). */
bool hk_srv_alive(struct hk_srv *s);
/* Kills a still running process, drops the database when it owns it, and
 * frees what the struct holds. Safe on a zeroed or dropped struct. */
void hk_srv_drop(struct hk_srv *s);
/* Runs HOOKD_BIN with the given arguments (NULL-terminated) in the same
 * environment as the server plus extra_env, waits up to 60 s, and returns
 * the exit status (-1 on timeout). *output (may be NULL) receives its
 * stdout+stderr; caller frees. */
int hk_srv_exec(struct hk_srv *s, const char *const *args,
                const char *const *extra_env, char **output);
/* For a cmocka group teardown: stops s, remembers an unclean exit, drops
 * it. Returns 0, or -1 when the exit was not clean. */
int hk_srv_finish(struct hk_srv *s);
/* What main should return: cmocka's result, made a failure when any
 * hk_srv_finish saw an unclean exit (cmocka 1.1 does not count a failed
 * group teardown in its result). On failure it exits at once with 1,
 * skipping the leak report of the test process (failed assertions leak
 * their replies); a passing run keeps it. */
int hk_exit_code(int cmocka_rc);
/* Prints the last max_bytes of the server log on stderr. */
void hk_srv_print_log(const struct hk_srv *s, size_t max_bytes);

/* Runs one SQL statement on the test database with text parameters
 * (NULL-terminated list; use HK_SQL_NULL for an SQL NULL parameter) and
 * returns the first column of the first row as a heap string (caller
 * frees), or NULL when there is no row or the value is NULL. A database
 * error fails the current test. */
#define HK_SQL_NULL ((const char *)hk_sql_null_marker)
extern const char hk_sql_null_marker[];
char *hk_sql_at(const char *file, int line, struct hk_srv *s, const char *sql,
                ...);
long long hk_sql_int_at(const char *file, int line, struct hk_srv *s,
                        const char *sql, ...);
#define hk_sql(s, ...)                                                         \
    hk_sql_at(__FILE__, __LINE__, (s), __VA_ARGS__, (const char *)NULL)
/* The value as an integer; a NULL or missing value fails the test. */
#define hk_sql_int(s, ...)                                                     \
    hk_sql_int_at(__FILE__, __LINE__, (s), __VA_ARGS__, (const char *)NULL)

/* Fails the test if any of the hookd tables named in tables (a NULL-ended
 * list) still holds a row of tenant tid, naming the table and the count. */
#define hk_expect_no_tenant_rows(s, tid, tables)                               \
    hk_expect_no_tenant_rows_at(__FILE__, __LINE__, (s), (tid), (tables))
void hk_expect_no_tenant_rows_at(const char *file, int line, struct hk_srv *s,
                                 const char *tid, const char *const *tables);

/* One HTTP answer. status is 0 when no answer came (err says why). */
struct hk_hdr {
    char *name;
    char *value;
};
struct hk_reply {
    long status;
    struct hk_hdr *hdrs;
    size_t nhdrs;
    char *body; /* NUL-terminated (the NUL is not counted) */
    size_t body_len;
    json_t *json; /* the body parsed, or NULL when it is not JSON */
    char method[16];
    char *target;       /* the request path, for failure messages */
    struct hk_srv *srv; /* who answered (not owned), for failure logs */
    char err[256];
};
/* First header of that name (case-insensitive), or NULL. */
const char *hk_reply_header(const struct hk_reply *r, const char *name);
void hk_reply_free(struct hk_reply *r);

/* Sends method path (path includes any query string, sent as is) to s.
 * token: Bearer token or NULL for none. content_type: sent when not NULL
 * (NULL sends no Content-Type even with a body). body: NULL for no body.
 * extra_headers: NULL-terminated "Name: value" lines, or NULL. Caller
 * frees the reply with hk_reply_free. Timeout 30 s. */
struct hk_reply *hk_http(struct hk_srv *s, const char *method, const char *path,
                         const char *token, const char *content_type,
                         const char *body, size_t body_len,
                         const char *const *extra_headers);
/* JSON call: body (NUL-terminated JSON text or NULL) goes with
 * Content-Type: application/json; the path is printf-formatted. */
struct hk_reply *hk_call(struct hk_srv *s, const char *method,
                         const char *token, const char *body,
                         const char *path_fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* The same with the admin key. */
struct hk_reply *hk_admin(struct hk_srv *s, const char *method,
                          const char *body, const char *path_fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Writes raw bytes to the server's port and reads the answer, writing and
 * reading at once so that a server that answers early (413) is heard.
 * Stops at the end of the first response, at EOF or after timeout_ms. */
struct hk_reply *hk_raw(struct hk_srv *s, const void *data, size_t len,
                        int timeout_ms);

/* Assertions; each fails the current test with the request, status and
 * body, and the server log tail when the server died. */
#define hk_expect(r, status) hk_expect_at(__FILE__, __LINE__, (r), (status))
void hk_expect_at(const char *file, int line, const struct hk_reply *r,
                  long status);
/* status, an {"error":{"code","message"[,"field"]}} body with that code,
 * a non-empty message and, when field is not NULL, that field ("x*"
 * accepts x and any x.sub path); and an X-Request-Id header. */
#define hk_expect_error(r, status, code, field)                                \
    hk_expect_error_at(__FILE__, __LINE__, (r), (status), (code), (field))
void hk_expect_error_at(const char *file, int line, const struct hk_reply *r,
                        long status, const char *code, const char *field);
/* Any 4xx with the error shape and X-Request-Id (where docs/api.md leaves
 * the exact status open; never a 5xx). */
#define hk_expect_client_error(r)                                              \
    hk_expect_client_error_at(__FILE__, __LINE__, (r))
void hk_expect_client_error_at(const char *file, int line,
                               const struct hk_reply *r);
/* Fails the test unless GET /healthz answers 200. */
#define hk_expect_alive(s) hk_expect_alive_at(__FILE__, __LINE__, (s))
void hk_expect_alive_at(const char *file, int line, struct hk_srv *s);

/* Creation helpers (admin key unless a token is given); each asserts
 * success and returns the new object's id in id (HK_ID_LEN bytes). */
void hk_mk_tenant(struct hk_srv *s, const char *name, char *id);
/* Returns the new key (caller frees); kid may be NULL. */
char *hk_mk_api_key(struct hk_srv *s, const char *tid, char *kid);
/* Creates the event type unless it exists (409 is accepted). */
void hk_mk_event_type(struct hk_srv *s, const char *name);
/* body: the endpoint JSON; token NULL means the admin key. */
void hk_mk_endpoint(struct hk_srv *s, const char *token, const char *tid,
                    const char *body, char *id);

/* Sets tenant tid's limits with the admin key: limits is the JSON object
 * PATCH /v1/tenants/{tid} takes as "limits"; asserts 200. */
void hk_set_limits(struct hk_srv *s, const char *tid, const char *limits);

/* A portal session of tenant tid, made with the admin key and body (JSON
 * or NULL); asserts 201. Returns its token (caller frees); sid (HK_ID_LEN,
 * may be NULL) gets its id. */
char *hk_mk_session(struct hk_srv *s, const char *tid, const char *body,
                    char *sid);

/* GET of path (printf-formatted) as token, asserting 200. Returns the
 * answer's JSON (caller json_decref). */
json_t *hk_get_json(struct hk_srv *s, const char *token, const char *path_fmt,
                    ...) __attribute__((format(printf, 3, 4)));

/* The group fixture most test files share. hk_group_start starts a
 * receiver into *rcv (when rcv is not NULL; see receiver.h), then hookd as
 * hk_srv_start(s, extra_env) does, and creates the event types named in
 * types (NULL-terminated, or NULL). Returns 0, or -1 after printing why
 * and stopping the receiver. hk_group_finish is the matching teardown:
 * hk_srv_finish(s), then the receiver is stopped and *rcv set to NULL (rcv
 * may be NULL); it returns what hk_srv_finish returned. */
struct hk_rcv;
int hk_group_start(struct hk_srv *s, const char *const *extra_env,
                   struct hk_rcv **rcv, const char *const *types);
int hk_group_finish(struct hk_srv *s, struct hk_rcv **rcv);

/* Walks a list route page by page (limit per page, 0 for the default),
 * checking the envelope on each page: "data" array, boolean "has_more",
 * "next_cursor" a string while has_more and null on the last page, at
 * most limit items. Returns every item in order (caller json_decref);
 * *pages (may be NULL) gets the number of pages. path may hold a query. */
#define hk_list_all(s, token, path, limit, pages)                              \
    hk_list_all_at(__FILE__, __LINE__, (s), (token), (path), (limit), (pages))
json_t *hk_list_all_at(const char *file, int line, struct hk_srv *s,
                       const char *token, const char *path, int limit,
                       int *pages);

/* json_pack(fmt, ...) rendered compactly into a heap string (caller
 * frees); a bad format aborts. */
char *hk_jpack(const char *fmt, ...);

/* JSON lookups by dotted path ("error.field", "data.0.id"); NULL when
 * absent or of another type. */
json_t *hk_jget(json_t *root, const char *path);
const char *hk_jstr(json_t *root, const char *path);
/* Integer at path, or def when absent or not an integer. */
long long hk_jint(json_t *root, const char *path, long long def);

/* Helpers. hk_fmt: printf into a heap string (caller frees). hk_urlenc:
 * percent-encodes everything but unreserved characters (caller frees).
 * hk_free_port: a TCP port on 127.0.0.1 that was free a moment ago.
 * hk_sleep_ms: sleeps. hk_wall_ms: Unix time in ms. */
char *hk_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *hk_urlenc(const char *s);
int hk_free_port(void);
void hk_sleep_ms(int ms);
int64_t hk_wall_ms(void);
/* true when s is a canonical lower-case UUID with version 7. */
bool hk_is_uuid7(const char *s);
/* true when s looks like 2026-11-22T10:04:05.123Z. */
bool hk_is_rfc3339_ms(const char *s);

#endif
