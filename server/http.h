/*
 * http.h - the HTTP layer: the only module that includes <microhttpd.h>.
 * It turns each request into a plain struct hk_req (method, path, headers,
 * query, body accumulated under the HOOKD_MAX_BODY cap), authenticates it,
 * routes it through router.c, and renders the struct hk_resp the handler
 * filled, every error in docs/api.md's shape, with X-Request-Id and one access
 * log line. Handlers never see libmicrohttpd.
 */
#ifndef HK_HTTP_H
#define HK_HTTP_H

#include "common.h"
#include "config.h"
#include "db.h"

#include <jansson.h>

#define HK_MAX_PATH_PARAMS 4

struct hk_app; /* the process-wide context, see app.h */

enum hk_role { HK_ROLE_NONE = 0, HK_ROLE_ADMIN, HK_ROLE_TENANT };

struct hk_auth {
    enum hk_role role;
    char tenant_id[37]; /* for HK_ROLE_TENANT */
    char key_id[37];    /* the API key used, if any */
    char session_id[37]; /* the portal session used, if any ("" if not) */
    bool read_only;      /* a "read" portal session */
    char session_expires_at[40];
};

struct hk_req {
    struct hk_app *app;
    const char *method;
    const char *path;
    const char *route; /* the matched route pattern, for logs/metrics */
    char request_id[72];
    const char *content_type;
    char *body; /* NUL-terminated copy of the body, or NULL */
    size_t body_len;
    bool has_body;
    char params[HK_MAX_PATH_PARAMS][129]; /* path segments in {} order */
    int nparams;
    struct hk_auth auth;
    struct hk_conn *db; /* acquired lazily by hk_req_db */
    void *conn_;        /* http.c's connection */
    /* Long polls (hk_req_park): 0 until the request is first parked,
     * then its deadline on hk_mono_ms's clock; park_expired is true when
     * the handler is called again because the deadline passed. */
    int64_t park_deadline;
    bool park_expired;
    bool park_wanted_; /* http.c's */
};

struct hk_resp {
    int status;
    json_t *json;        /* body, rendered compactly; owned */
    char *raw;           /* or a raw body; owned */
    size_t raw_len;
    const char *content_type;
    char *allow;         /* Allow header for 405; owned */
    char *location;      /* Location header; owned */
    const char *cache_control;
    int retry_after;     /* Retry-After header in seconds when > 0 */
};

typedef void (*hk_handler_fn)(struct hk_req *req, struct hk_resp *resp);

/* Server lifecycle. hk_http_start listens on cfg->listen_host:port with
 * cfg->http_threads API threads. hk_http_stop refuses new connections
 * at once, lets the requests in flight finish and be answered (with
 * Connection: close) for up to grace_ms, then closes every connection and
 * frees h; hk_http_stop(NULL, ...) does nothing. */
struct hk_http;
enum hk_result hk_http_start(struct hk_app *app,
                             struct hk_http **out) HK_MUST_CHECK;
void hk_http_stop(struct hk_http *h, int64_t grace_ms);

/* Value of a request header or query argument, NULL when absent. */
const char *hk_req_header(struct hk_req *req, const char *name);
const char *hk_req_query(struct hk_req *req, const char *name);
/* true when every query argument is in allowed (NULL-terminated); else
 * fills a 422 naming the first unknown one. */
bool hk_req_query_only(struct hk_req *req, struct hk_resp *resp,
                       const char *const *allowed);

/* The request's database connection (from the pool, released when the
 * request completes); NULL and a 503 in resp when unreachable. */
struct hk_conn *hk_req_db(struct hk_req *req, struct hk_resp *resp);

/* Parses the body as a JSON object. When the body is absent: with
 * optional, *out is NULL and true is returned; otherwise 400. Sends 415
 * for a non-JSON content type, 400 invalid_json for bad JSON or a
 * non-object, 422 for a field not in allowed (NULL-terminated). */
bool hk_req_json(struct hk_req *req, struct hk_resp *resp,
                 const char *const *allowed, bool optional, json_t **out);

/* Long polls. A handler with nothing to answer yet calls hk_req_park and
 * returns without a response: the connection is suspended, so no API
 * thread waits for it, and the request's database connection goes back
 * to the pool. One waiter thread calls ready(ctx, c) about once a second
 * with a database connection of its own; when it returns true, or at
 * deadline (hk_mono_ms's clock), the handler is called again, with
 * req->park_expired set at the deadline, and answers or parks again.
 * ctx is the caller's heap memory: http.c frees it (free()) when the
 * request completes or is parked again. */
typedef bool (*hk_park_ready_fn)(void *ctx, struct hk_conn *c);
void hk_req_park(struct hk_req *req, int64_t deadline, hk_park_ready_fn ready,
                 void *ctx);

/* Response helpers. hk_resp_json takes the reference to body; hk_resp_raw
 * takes b's text as the body (b is left empty), with its content type. */
void hk_resp_json(struct hk_resp *resp, int status, json_t *body);
void hk_resp_raw(struct hk_resp *resp, int status, const char *content_type,
                 struct hk_buf *b);
void hk_resp_error(struct hk_resp *resp, int status, const char *code,
                   const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Maps a store result to its error response (404, 409, 422, 503...). */
void hk_resp_result(struct hk_resp *resp, enum hk_result rc,
                    const char *what);
void hk_resp_no_content(struct hk_resp *resp);

#endif
