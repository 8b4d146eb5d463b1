/*
 * http.c - libmicrohttpd glue. One struct conn_state per request is made on
 * the first access-handler call and freed only in the request-completed
 * callback, which runs on every path. Bodies are accumulated here under the
 * HOOKD_MAX_BODY cap: a Content-Length over the cap is answered 413 before
 * a byte of the body is read; a chunked body is answered 413 as soon as it
 * passes the cap, without reading the rest. Then the request is routed,
 * authenticated and handed to its handler, and the response is rendered
 * with X-Request-Id and logged in one access line.
 *
 * libmicrohttpd never reads a client's socket itself: the accept thread
 * hands each connection to one of the API threads, each a relay
 * (relay.c) driving a daemon of its own (the daemons section below). The
 * relay gives its daemon one end of a socketpair and passes on only
 * requests whose line, headers and body framing are sound and within
 * hookd's limits, answering the rest in the error envelope. So a
 * Content-Length or Transfer-Encoding that libmicrohttpd could read
 * otherwise than hookd never reaches it, and its own HTML error pages are
 * never sent. The client's address is given to libmicrohttpd with the
 * socket.
 *
 * Every connection is watched from libmicrohttpd's connection-started
 * notice to its closed notice: a client has HOOKD_CLIENT_TIMEOUT to send a
 * whole request (line, headers and body), counted from the connection's
 * start or the end of its previous answer. libmicrohttpd's own timeout
 * counts only idle time, so a client sending a byte every few seconds
 * would keep its connection for ever; the watch thread answers such a
 * request 408 on libmicrohttpd's end of the connection and shuts it: the
 * relay passes the answer on to the client and closes the connection.
 * A request cut so, or refused by the relay while libmicrohttpd reads its
 * body, was logged where it was answered, so its completion logs nothing.
 *
 * The listening socket is ours, not libmicrohttpd's: one accept thread
 * hands the connections to the API threads in turn. A stop closes the
 * socket, so the kernel refuses new connections at once, then waits for
 * the requests in flight, counted from their first callback to their
 * completion, to be answered, up to a deadline; then each API thread
 * stops its daemon and the relay closes the connections.
 */
#include "http.h"
#include "app.h"
#include "auth.h"
#include "crypto.h"
#include "jsonspan.h"
#include "log.h"
#include "metrics.h"
#include "relay.h"
#include "router.h"
#include "validate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* What one connection may hold of request line, headers and parsed query
 * arguments. libmicrohttpd clears it for every request (a tenth of the API
 * threads' time in an ingest benchmark), so it is no larger than needed:
 * at 16 KiB a GET with 300 query parameters (2 KB) ran the pool out while
 * its arguments were parsed, and libmicrohttpd 0.9.75 then never answered;
 * at 64 KiB 800 of them get their 4xx (test_http_garbage). The relay
 * passes on no head over HK_RELAY_HEAD_MAX (a quarter of this), and
 * on_uri drops a query over MAX_QUERY_ARGS, so no request libmicrohttpd
 * reads runs it out. */
#define CONNECTION_MEMORY (64 * 1024)
/* Query parameters one request may carry. libmicrohttpd parses them into
 * the connection's memory, two bytes of URL ("a&") costing it some fifty,
 * and never answers a request whose parameters overflow it (about 950 of
 * them do): beyond this count the query is dropped before libmicrohttpd
 * parses it (on_uri) and the request is answered 414. hookd's routes take
 * a handful. */
#define MAX_QUERY_ARGS 200

/* How long a stop lets the relay threads hand clients the rest of their
 * answers. */
#define RELAY_STOP_MS 1000
/* Connections the API holds at once, shared out over its threads. */
#define CONNECTION_LIMIT 4096

/* How often the waiter re-checks parked long polls. */
#define PARK_CHECK_MS 1000
/* How often the watch thread looks for requests past their deadline: a
 * slow request is cut between HOOKD_CLIENT_TIMEOUT and this much later. */
#define WATCH_CHECK_MS 250

/* One per connection, from libmicrohttpd's connection-started notice to its
 * closed notice (which comes before the socket is closed, so fd is never
 * another connection's while the watch is listed). Under watch_mu. */
struct conn_watch {
    int fd;
    int64_t deadline; /* monotonic ms; 0 while no request is being read */
    bool cut;         /* answered 408 and shut: nothing more is served */
    bool refused;     /* the relay answered the request being read */
    struct conn_watch *prev, *next;
};

struct conn_state;

struct hk_http {
    struct hk_relay *relay;
    struct hk_app *app;
    int listen_fd;
    int stop_pipe[2]; /* a byte on it ends the accept thread */
    pthread_t acceptor;
    atomic_bool stopping; /* responses then close their connection */
    pthread_mutex_t mu;
    pthread_cond_t idle; /* signalled when active drops to 0 */
    int active;          /* requests between first callback and completion */
    /* parked long polls, under park_mu; the waiter sleeps on park_cv */
    pthread_mutex_t park_mu;
    pthread_cond_t park_cv;
    struct conn_state *parked;
    bool park_closed; /* the waiter has stopped: nothing parks any more */
    pthread_t waiter;
    bool have_waiter;
    /* watched connections, under watch_mu; the watch thread sleeps on
     * watch_cv */
    pthread_mutex_t watch_mu;
    pthread_cond_t watch_cv;
    struct conn_watch *watched;
    bool watch_closed;
    pthread_t watcher;
    bool have_watcher;
};

struct conn_state {
    struct hk_req req;
    struct hk_resp resp;
    struct hk_buf body;
    struct hk_http *http;
    struct MHD_Connection *conn;
    int64_t started;
    bool too_large;
    bool answered;
    /* while parked: what wakes it, and the next in the parked list */
    hk_park_ready_fn ready;
    void *park_ctx;
    struct conn_state *next_parked;
};

/* ---- response helpers ---- */

void hk_resp_json(struct hk_resp *resp, int status, json_t *body)
{
    json_decref(resp->json);
    resp->status = status;
    resp->json = body;
}

void hk_resp_raw(struct hk_resp *resp, int status, const char *content_type,
                 struct hk_buf *b)
{
    json_decref(resp->json);
    resp->json = NULL;
    free(resp->raw);
    resp->status = status;
    resp->content_type = content_type;
    resp->raw_len = b->len;
    resp->raw = hk_buf_steal(b);
}

void hk_resp_no_content(struct hk_resp *resp)
{
    json_decref(resp->json);
    resp->json = NULL;
    resp->status = 204;
}

void hk_resp_error(struct hk_resp *resp, int status, const char *code,
                   const char *field, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *err = json_pack("{s:s, s:s}", "code", code, "message", msg);
    if (field != NULL)
        json_object_set_new(err, "field", json_string(field));
    hk_resp_json(resp, status, json_pack("{s:o}", "error", err));
}

void hk_resp_result(struct hk_resp *resp, enum hk_result rc, const char *what)
{
    switch (rc) {
    case HK_OK:
        break;
    case HK_NOT_FOUND:
        hk_resp_error(resp, 404, "not_found", NULL, "%s not found", what);
        break;
    case HK_CONFLICT:
        hk_resp_error(resp, 409, "conflict", NULL, "%s conflicts with the "
                      "current state", what);
        break;
    case HK_INVALID:
        hk_resp_error(resp, 422, "validation_failed", NULL,
                      "%s is not valid", what);
        break;
    case HK_TOO_LARGE:
        hk_resp_error(resp, 413, "payload_too_large", NULL,
                      "%s is too large", what);
        break;
    case HK_DB:
        hk_resp_error(resp, 503, "unavailable", NULL,
                      "the database is unavailable");
        break;
    default:
        hk_resp_error(resp, 500, "internal", NULL, "internal error");
        break;
    }
}

/* ---- request accessors ---- */

const char *hk_req_header(struct hk_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn_, MHD_HEADER_KIND, name);
}

const char *hk_req_query(struct hk_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn_, MHD_GET_ARGUMENT_KIND,
                                       name);
}

struct query_check {
    const char *const *allowed;
    const char *unknown;
};

static enum MHD_Result query_iter(void *cls, enum MHD_ValueKind kind,
                                  const char *key, const char *value)
{
    (void)kind;
    (void)value;
    struct query_check *qc = cls;
    for (const char *const *a = qc->allowed; *a != NULL; a++)
        if (strcmp(*a, key) == 0)
            return MHD_YES;
    qc->unknown = key;
    return MHD_NO;
}

bool hk_req_query_only(struct hk_req *req, struct hk_resp *resp,
                       const char *const *allowed)
{
    struct query_check qc = {allowed, NULL};
    MHD_get_connection_values(req->conn_, MHD_GET_ARGUMENT_KIND, query_iter,
                              &qc);
    if (qc.unknown == NULL)
        return true;
    char field[129];
    snprintf(field, sizeof(field), "%s", qc.unknown);
    hk_resp_error(resp, 422, "validation_failed", field,
                  "unknown query parameter");
    return false;
}

struct hk_conn *hk_req_db(struct hk_req *req, struct hk_resp *resp)
{
    if (req->db == NULL)
        req->db = hk_db_acquire(req->app->db);
    if (req->db == NULL)
        hk_resp_error(resp, 503, "unavailable", NULL,
                      "the database is unavailable");
    return req->db;
}

void hk_req_park(struct hk_req *req, int64_t deadline, hk_park_ready_fn ready,
                 void *ctx)
{
    struct conn_state *st = (struct conn_state *)((char *)req -
                                                  offsetof(struct conn_state,
                                                           req));
    free(st->park_ctx);
    st->park_ctx = ctx;
    st->ready = ready;
    req->park_deadline = deadline;
    req->park_wanted_ = true;
}

static bool is_json_type(const char *ct)
{
    if (ct == NULL)
        return false;
    size_t n = strlen("application/json");
    if (strncasecmp(ct, "application/json", n) != 0)
        return false;
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

bool hk_req_json(struct hk_req *req, struct hk_resp *resp,
                 const char *const *allowed, bool optional, json_t **out)
{
    *out = NULL;
    if (!req->has_body) {
        if (optional)
            return true;
        hk_resp_error(resp, 400, "bad_request", NULL,
                      "a JSON body is required");
        return false;
    }
    if (!is_json_type(req->content_type)) {
        hk_resp_error(resp, 415, "unsupported_media_type", NULL,
                      "Content-Type must be application/json");
        return false;
    }
    json_error_t jerr;
    json_t *j = hk_json_parse(req->body, req->body_len,
                              JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL) {
        hk_resp_error(resp, 400, "invalid_json", NULL,
                      "invalid JSON at line %d column %d: %s", jerr.line,
                      jerr.column, jerr.text);
        return false;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        hk_resp_error(resp, 400, "invalid_json", NULL,
                      "the body must be a JSON object");
        return false;
    }
    const char *key;
    json_t *val;
    json_object_foreach(j, key, val)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a != NULL && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (!ok) {
            char field[129];
            snprintf(field, sizeof(field), "%s", key);
            hk_resp_error(resp, 422, "validation_failed", field,
                          "unknown field");
            json_decref(j);
            return false;
        }
    }
    *out = j;
    return true;
}

/* ---- the portal's static files ---- */

static const char *mime_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {{".html", "text/html; charset=utf-8"},
                 {".js", "text/javascript; charset=utf-8"},
                 {".css", "text/css; charset=utf-8"},
                 {".svg", "image/svg+xml"},
                 {".png", "image/png"},
                 {".ico", "image/x-icon"},
                 {".json", "application/json"}};
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot != NULL && i < HK_ARRAY_LEN(types); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

/* GET /portal/<file> from HOOKD_WEB_DIR. Names are limited to a plain
 * alphabet without "..", so nothing outside the folder can be named. */
static void serve_static(struct hk_req *req, struct hk_resp *resp)
{
    const char *rel = req->path + strlen("/portal/");
    if (*rel == '\0')
        rel = "index.html";
    size_t n = strlen(rel);
    bool ok = n < 200 && rel[0] != '/' && strstr(rel, "..") == NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789._-/",
                    rel[i]) != NULL;
    char path[4096];
    FILE *f = NULL;
    if (ok) {
        snprintf(path, sizeof(path), "%s/%s", req->app->cfg->web_dir, rel);
        f = fopen(path, "rb");
    }
    if (f == NULL) {
        hk_resp_error(resp, 404, "not_found", NULL, "no such file");
        return;
    }
    struct hk_buf b;
    hk_buf_init(&b);
    char chunk[8192];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len < (8u << 20))
        hk_buf_append(&b, chunk, got);
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed) {
        hk_buf_cleanup(&b);
        hk_resp_error(resp, 404, "not_found", NULL, "no such file");
        return;
    }
    hk_resp_raw(resp, 200, mime_type(rel), &b);
    resp->cache_control = "no-cache";
}

/* ---- dispatch ---- */

static void set_request_id(struct conn_state *st)
{
    const char *given = MHD_lookup_connection_value(st->conn, MHD_HEADER_KIND,
                                                    "X-Request-Id");
    if (given != NULL) {
        size_t n = strlen(given);
        bool ok = n > 0 && n < sizeof(st->req.request_id);
        for (size_t i = 0; ok && i < n; i++)
            ok = given[i] > 0x20 && given[i] < 0x7f;
        if (ok) {
            memcpy(st->req.request_id, given, n + 1);
            return;
        }
    }
    char tok[25];
    hk_random_public_token(tok, 24);
    snprintf(st->req.request_id, sizeof(st->req.request_id), "req_%s", tok);
}

static void dispatch(struct conn_state *st)
{
    struct hk_req *req = &st->req;
    struct hk_resp *resp = &st->resp;
    if (strcmp(req->path, "/portal") == 0 ||
        strncmp(req->path, "/portal/", 8) == 0) {
        req->route = "/portal/";
        if (strcmp(req->method, "GET") != 0) {
            resp->allow = hk_strdup("GET");
            hk_resp_error(resp, 405, "method_not_allowed", NULL,
                          "the portal's files are read with GET");
        } else if (strcmp(req->path, "/portal") == 0) {
            resp->status = 301;
            resp->location = hk_strdup("/portal/");
        } else {
            serve_static(req, resp);
        }
        return;
    }
    const struct hk_route *route;
    char allow[128];
    enum hk_result rc =
        hk_router_match(req->method, req->path, &route, req->params,
                        &req->nparams, allow, sizeof(allow));
    if (rc == HK_NOT_FOUND) {
        hk_resp_error(resp, 404, "not_found", NULL, "no such route");
        return;
    }
    if (rc == HK_CONFLICT) {
        resp->allow = hk_strdup(allow);
        hk_resp_error(resp, 405, "method_not_allowed", NULL,
                      "%s is not allowed here; allowed: %s", req->method,
                      allow);
        return;
    }
    req->route = route->pattern;
    if (req->has_body) {
        req->body = st->body.data;
        req->body_len = st->body.len;
    }
    if (route->access != HK_ACCESS_PUBLIC &&
        !hk_auth_check(req, resp, route->access))
        return;
    /* every {} is an id except an event type's name: a malformed id is
     * an object that does not exist */
    bool named = strncmp(route->pattern, "/v1/event-types/", 16) == 0;
    for (int i = 0; i < req->nparams && !named; i++) {
        if (!hk_valid_uuid(req->params[i])) {
            hk_resp_error(resp, 404, "not_found", NULL, "not found");
            return;
        }
    }
    /* writes take no query parameters: a stray one is a client's typo */
    if (strcmp(req->method, "GET") != 0 &&
        !hk_req_query_only(req, resp, (const char *const[]){NULL}))
        return;
    route->fn(req, resp);
    if (resp->status == 0 && !req->park_wanted_)
        hk_resp_error(resp, 500, "internal", NULL, "no response");
}

static bool watch_set(struct hk_http *h, struct MHD_Connection *conn,
                      bool on);
static bool watch_set_logged(struct hk_http *h, struct MHD_Connection *conn,
                             bool on, bool *logged);

static enum MHD_Result send_response(struct conn_state *st)
{
    struct hk_resp *resp = &st->resp;
    struct MHD_Response *r;
    (void)watch_set(st->http, st->conn, false);
    if (resp->json != NULL) {
        char *text = hk_json_dumps(resp->json, JSON_COMPACT);
        if (text == NULL)
            text = hk_strdup("{}");
        r = MHD_create_response_from_buffer(strlen(text), text,
                                            MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(r, "Content-Type", "application/json");
    } else if (resp->raw != NULL) {
        r = MHD_create_response_from_buffer(resp->raw_len, resp->raw,
                                            MHD_RESPMEM_MUST_FREE);
        resp->raw = NULL;
        MHD_add_response_header(r, "Content-Type", resp->content_type
                                                       ? resp->content_type
                                                       : "text/plain");
    } else {
        r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    }
    MHD_add_response_header(r, "X-Request-Id", st->req.request_id);
    if (resp->allow != NULL)
        MHD_add_response_header(r, "Allow", resp->allow);
    if (resp->location != NULL)
        MHD_add_response_header(r, "Location", resp->location);
    if (resp->cache_control != NULL)
        MHD_add_response_header(r, "Cache-Control", resp->cache_control);
    if (resp->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", resp->retry_after);
        MHD_add_response_header(r, "Retry-After", ra);
    }
    /* the portal is framed only where the operator allows it; old
     * browsers without frame-ancestors get the same "never" */
    if (strcmp(st->req.route, "/portal/") == 0) {
        const char *fa = st->req.app->cfg->portal_frame_ancestors;
        char csp[1100];
        snprintf(csp, sizeof(csp), "frame-ancestors %s", fa);
        MHD_add_response_header(r, "Content-Security-Policy", csp);
        if (strcmp(fa, "'none'") == 0)
            MHD_add_response_header(r, "X-Frame-Options", "DENY");
    }
    /* while stopping, a kept-alive connection must not bring more work;
     * after a 413 the unread body makes the connection useless */
    if (atomic_load(&st->http->stopping) || st->too_large)
        MHD_add_response_header(r, "Connection", "close");
    enum MHD_Result ret = MHD_queue_response(st->conn, (unsigned)resp->status,
                                             r);
    MHD_destroy_response(r);
    st->answered = true;
    return ret;
}

static void set_too_large(struct conn_state *st)
{
    st->too_large = true;
    hk_resp_error(&st->resp, 413, "payload_too_large", NULL,
                  "the body is larger than %zu bytes",
                  st->req.app->cfg->max_body);
}

/* Writes all of data to the non-blocking socket fd within timeout_ms. */
static bool send_all(int fd, const char *data, size_t len, int timeout_ms)
{
    int64_t deadline = hk_mono_ms() + timeout_ms;
    while (len > 0) {
        ssize_t w = send(fd, data, len, MSG_NOSIGNAL);
        if (w > 0) {
            data += w;
            len -= (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            return false;
        int64_t left = deadline - hk_mono_ms();
        struct pollfd p = {fd, POLLOUT, 0};
        if (left <= 0 || poll(&p, 1, (int)left) < 0)
            return false;
    }
    return true;
}

/* Renders an answer as libmicrohttpd would, for the paths that write on
 * the socket themselves: status line, Connection: close, the JSON body of
 * resp (which must hold one) and the request id. */
static void render_closing_answer(const struct hk_resp *resp,
                                  const char *request_id, struct hk_buf *out)
{
    char *json = hk_json_dumps(resp->json, JSON_COMPACT);
    hk_relay_render_closing(resp->status, json != NULL ? json : "{}",
                            request_id, out);
    free(json);
}

/* ---- the request deadline ---- */

static struct conn_watch *watch_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

/* When a request starting now must be in; 0 (none) when the settings
 * set no HOOKD_CLIENT_TIMEOUT, as for a server built by hand in tests. */
static int64_t deadline_from_now(const struct hk_http *h)
{
    int64_t t = h->app->cfg->client_timeout_ms;
    return t > 0 ? hk_mono_ms() + t : 0;
}

/* Starts (on) or stops the clock of the request being read on conn.
 * Returns false when the watch thread has already cut the request: the
 * client has its 408, so the request must not be served. The check and
 * the stop are one step under watch_mu, so a request is either cut or
 * served, never both. */
static bool watch_set(struct hk_http *h, struct MHD_Connection *conn, bool on)
{
    bool logged;
    return watch_set_logged(h, conn, on, &logged);
}

/* watch_set, also telling whether the request being read was answered
 * and logged outside libmicrohttpd, by the watch's cut or by the relay:
 * its completion must not log it again. */
static bool watch_set_logged(struct hk_http *h, struct MHD_Connection *conn,
                             bool on, bool *logged)
{
    *logged = false;
    struct conn_watch *w = watch_of(conn);
    if (w == NULL)
        return true;
    pthread_mutex_lock(&h->watch_mu);
    bool live = !w->cut && !w->refused;
    *logged = !live;
    w->deadline = on && live ? deadline_from_now(h) : 0;
    pthread_mutex_unlock(&h->watch_mu);
    return live;
}

/* The relay's notice (relay.h) that it refused the request whose body
 * libmicrohttpd is reading on mhd_fd: nothing more is served there. */
static void on_relay_refused(void *ctx, int mhd_fd)
{
    struct hk_http *h = ctx;
    pthread_mutex_lock(&h->watch_mu);
    for (struct conn_watch *w = h->watched; w != NULL; w = w->next) {
        if (w->fd == mhd_fd) {
            w->refused = true;
            w->deadline = 0;
            break;
        }
    }
    pthread_mutex_unlock(&h->watch_mu);
}

/* libmicrohttpd's connection notices: a watch per connection, its clock
 * started with the connection. */
static void on_connection(void *cls, struct MHD_Connection *conn,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct hk_http *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci == NULL)
            return;
        struct conn_watch *w = hk_calloc(1, sizeof(*w));
        w->fd = ci->connect_fd;
        pthread_mutex_lock(&h->watch_mu);
        w->deadline = deadline_from_now(h);
        w->next = h->watched;
        if (w->next != NULL)
            w->next->prev = w;
        h->watched = w;
        pthread_mutex_unlock(&h->watch_mu);
        *socket_context = w;
        return;
    }
    struct conn_watch *w = *socket_context;
    if (w == NULL)
        return;
    pthread_mutex_lock(&h->watch_mu);
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        h->watched = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    pthread_mutex_unlock(&h->watch_mu);
    free(w);
    *socket_context = NULL;
}

/* Answers 408 on a connection whose request is past its deadline and
 * shuts the socket: libmicrohttpd, reading, sees the end and closes the
 * connection. Nothing else writes on the socket while a request is being
 * read; the answer is sent only if the socket takes it at once. Called
 * under watch_mu, so the connection cannot be closed meanwhile, and with
 * the watch marked cut, so that an API thread which has just read the
 * whole request does not serve it after all (watch_set). */
static void cut_slow_request(struct hk_http *h, int fd)
{
    struct hk_resp resp = {0};
    hk_resp_error(&resp, 408, "request_timeout", NULL,
                  "the request was not received within %lld ms",
                  (long long)h->app->cfg->client_timeout_ms);
    char tok[25], id[32];
    hk_random_public_token(tok, 24);
    snprintf(id, sizeof(id), "req_%s", tok);
    struct hk_buf b;
    hk_buf_init(&b);
    render_closing_answer(&resp, id, &b);
    json_decref(resp.json);
    (void)send(fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
    hk_buf_cleanup(&b);
    shutdown(fd, SHUT_RDWR);
    /* the request's one access line and count: its completion, if
     * libmicrohttpd had begun it, logs nothing (watch_set_logged) */
    hk_metrics_request("unmatched", NULL, 408, h->app->cfg->client_timeout_ms);
    hk_log(HK_LOG_INFO, "request", "route", "unmatched", "status", "408",
           "request_id", id, "error", "request not received in time",
           (const char *)NULL);
}

/* The watch thread: a few times a second, cuts the requests past their
 * deadline. */
static void *watch_loop(void *arg)
{
    struct hk_http *h = arg;
    pthread_mutex_lock(&h->watch_mu);
    while (!h->watch_closed) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += WATCH_CHECK_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&h->watch_cv, &h->watch_mu, &until);
        int64_t now = hk_mono_ms();
        for (struct conn_watch *w = h->watched; w != NULL; w = w->next) {
            if (w->deadline == 0 || now < w->deadline)
                continue;
            w->deadline = 0;
            w->cut = true;
            cut_slow_request(h, w->fd);
        }
    }
    pthread_mutex_unlock(&h->watch_mu);
    return NULL;
}

static void stop_watcher(struct hk_http *h)
{
    if (!h->have_watcher)
        return;
    pthread_mutex_lock(&h->watch_mu);
    h->watch_closed = true;
    pthread_cond_signal(&h->watch_cv);
    pthread_mutex_unlock(&h->watch_mu);
    pthread_join(h->watcher, NULL);
    h->have_watcher = false;
}

/* A chunked body has just passed the cap: answers 413 at once and closes
 * the connection without reading the rest. libmicrohttpd 0.9.75 refuses
 * MHD_queue_response while it hands over upload data, so the answer is
 * written on the connection's socket here (nothing else is being written
 * on it while the body is read), its sending side is shut so the client
 * sees the answer end, and MHD_NO has MHD close the connection. */
static enum MHD_Result answer_too_large_now(struct conn_state *st)
{
    if (!watch_set(st->http, st->conn, false))
        return MHD_NO;
    set_too_large(st);
    struct hk_buf b;
    hk_buf_init(&b);
    render_closing_answer(&st->resp, st->req.request_id, &b);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(st->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci != NULL && send_all(ci->connect_fd, b.data, b.len, 1000)) {
        shutdown(ci->connect_fd, SHUT_WR);
        st->answered = true;
    }
    hk_buf_cleanup(&b);
    return MHD_NO;
}

/* The request context on_uri gives a request whose query it dropped. */
static char too_many_args;

/* Called by libmicrohttpd with the request target before it parses the
 * query (it has found the '?' already): a query of more than
 * MAX_QUERY_ARGS parameters is cut to nothing in libmicrohttpd's own copy
 * of the request line, so that the parse has nothing to run out of memory
 * on, and the request is marked for on_request to refuse. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    char *q = strchr(uri, '?');
    if (q == NULL)
        return NULL;
    size_t n = 1;
    for (const char *p = q; *p != '\0' && n <= MAX_QUERY_ARGS; p++)
        n += *p == '&' || *p == ';';
    if (n <= MAX_QUERY_ARGS)
        return NULL;
    q[1] = '\0';
    return &too_many_args;
}

/* Suspends st's connection and puts it on the parked list; false when the
 * server is stopping (the caller answers at once). The database connection
 * goes back to the pool while it waits. */
static bool park(struct conn_state *st)
{
    struct hk_http *h = st->http;
    if (st->req.db != NULL) {
        hk_db_release(h->app->db, st->req.db);
        st->req.db = NULL;
    }
    pthread_mutex_lock(&h->park_mu);
    bool ok = !h->park_closed;
    if (ok) {
        /* suspended before the waiter can see it, so that it never
         * resumes a connection that is not suspended */
        MHD_suspend_connection(st->conn);
        st->next_parked = h->parked;
        h->parked = st;
    }
    pthread_mutex_unlock(&h->park_mu);
    return ok;
}

/* Resumes st (taken off the list by the caller, under park_mu): the
 * daemon calls on_request again, which calls the handler again. */
static void unpark(struct conn_state *st, bool expired)
{
    st->req.park_expired = expired;
    st->ready = NULL;
    MHD_resume_connection(st->conn);
}

/* The waiter thread: about once a second, resumes the parked requests
 * whose deadline passed or whose ready check says so. The checks run
 * without park_mu held (they query the database); a request stays on the
 * list meanwhile, and nothing else takes it off. */
static void *wait_loop(void *arg)
{
    struct hk_http *h = arg;
    pthread_mutex_lock(&h->park_mu);
    while (!h->park_closed) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += PARK_CHECK_MS / 1000;
        pthread_cond_timedwait(&h->park_cv, &h->park_mu, &until);
        if (h->park_closed || h->parked == NULL)
            continue;
        /* copy the list: entries are only removed by this thread */
        size_t n = 0;
        for (struct conn_state *p = h->parked; p != NULL; p = p->next_parked)
            n++;
        struct conn_state **list = hk_calloc(n, sizeof(*list));
        bool *wake = hk_calloc(n, sizeof(*wake));
        n = 0;
        for (struct conn_state *p = h->parked; p != NULL; p = p->next_parked)
            list[n++] = p;
        pthread_mutex_unlock(&h->park_mu);

        int64_t now = hk_mono_ms();
        struct hk_conn *c = NULL;
        for (size_t i = 0; i < n; i++) {
            if (now >= list[i]->req.park_deadline)
                continue;
            if (c == NULL)
                c = hk_db_acquire(h->app->db);
            if (c != NULL)
                wake[i] = list[i]->ready(list[i]->park_ctx, c);
        }
        if (c != NULL)
            hk_db_release(h->app->db, c);

        pthread_mutex_lock(&h->park_mu);
        for (size_t i = 0; i < n; i++) {
            bool expired = now >= list[i]->req.park_deadline;
            if (!expired && !wake[i])
                continue;
            struct conn_state **pp = &h->parked;
            while (*pp != list[i])
                pp = &(*pp)->next_parked;
            *pp = list[i]->next_parked;
            unpark(list[i], expired);
        }
        free(list);
        free(wake);
    }
    /* stopping: every parked request is answered now */
    while (h->parked != NULL) {
        struct conn_state *p = h->parked;
        h->parked = p->next_parked;
        unpark(p, true);
    }
    pthread_mutex_unlock(&h->park_mu);
    return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    struct hk_http *h = cls;
    struct conn_state *st = *con_cls;
    bool args_dropped = *con_cls == (void *)&too_many_args;
    if (st == NULL || args_dropped) {
        st = hk_calloc(1, sizeof(*st));
        st->http = h;
        st->conn = conn;
        pthread_mutex_lock(&h->mu);
        h->active++;
        pthread_mutex_unlock(&h->mu);
        st->started = hk_mono_ms();
        st->req.app = h->app;
        st->req.method = method;
        st->req.path = url;
        st->req.route = "unmatched";
        st->req.conn_ = conn;
        st->req.content_type = MHD_lookup_connection_value(
            conn, MHD_HEADER_KIND, "Content-Type");
        hk_buf_init(&st->body);
        set_request_id(st);
        *con_cls = st;
        if (args_dropped) {
            hk_resp_error(&st->resp, 414, "uri_too_long", NULL,
                          "a request may carry at most %d query parameters",
                          MAX_QUERY_ARGS);
            return send_response(st);
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     "Content-Length");
        const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     "Transfer-Encoding");
        if (cl != NULL) {
            char *end;
            unsigned long long n = strtoull(cl, &end, 10);
            if (n > h->app->cfg->max_body) {
                set_too_large(st);
                return send_response(st);
            }
            st->req.has_body = n > 0;
        }
        if (te != NULL)
            st->req.has_body = true;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        /* only a chunked body gets here past the cap: a Content-Length
         * over it was answered above and MHD sends no more than it says */
        if (st->body.len + *upload_size > h->app->cfg->max_body) {
            *upload_size = 0;
            return answer_too_large_now(st);
        }
        hk_buf_append(&st->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (st->answered)
        return MHD_YES;
    /* the whole request is in: what follows is hookd's time, not the
     * client's. A request the watch thread cut a moment ago is not
     * served: its client was told 408 and may send it again. */
    if (!watch_set(h, conn, false)) {
        hk_resp_error(&st->resp, 408, "request_timeout", NULL,
                      "the request was not received in time");
        st->answered = true;
        return MHD_NO;
    }
    if (st->req.has_body && st->body.len == 0)
        st->req.has_body = false;
    for (;;) {
        dispatch(st);
        if (!st->req.park_wanted_)
            break;
        st->req.park_wanted_ = false;
        if (park(st))
            return MHD_YES;
        st->req.park_expired = true; /* stopping: answer now */
    }
    /* The answer is made: the database connection goes back now, not when
     * the answer has been sent. A thread whose connections wait to finish
     * sending (many long polls resumed at once, say) must never wait for
     * a connection that one of them holds. */
    if (st->req.db != NULL) {
        hk_db_release(h->app->db, st->req.db);
        st->req.db = NULL;
    }
    return send_response(st);
}

static void on_completed(void *cls, struct MHD_Connection *conn,
                         void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    struct hk_http *h = cls;
    struct conn_state *st = *con_cls;
    if (st == NULL || *con_cls == (void *)&too_many_args)
        return;
    if (st->req.db != NULL)
        hk_db_release(h->app->db, st->req.db);
    /* a kept-alive connection has the same time for its next request;
     * a request answered by the watch or the relay was logged there */
    bool logged = false;
    (void)watch_set_logged(h, conn, true, &logged);
    if (!logged) {
        int64_t dur = hk_mono_ms() - st->started;
        int status = st->answered ? st->resp.status : 0;
        hk_metrics_request(st->req.route, st->req.method, status, dur);
        char status_s[8], dur_s[24];
        snprintf(status_s, sizeof(status_s), "%d", status);
        snprintf(dur_s, sizeof(dur_s), "%lld", (long long)dur);
        hk_log(HK_LOG_INFO, "request", "method", st->req.method, "route",
               st->req.route, "path", st->req.path, "status", status_s,
               "duration_ms", dur_s, "request_id", st->req.request_id,
               (const char *)NULL);
    }
    json_decref(st->resp.json);
    free(st->resp.raw);
    free(st->resp.allow);
    free(st->resp.location);
    hk_buf_cleanup(&st->body);
    free(st->park_ctx);
    free(st);
    *con_cls = NULL;
    pthread_mutex_lock(&h->mu);
    if (--h->active == 0)
        pthread_cond_broadcast(&h->idle);
    pthread_mutex_unlock(&h->mu);
}

/* ---- the listening socket ---- */

/* Binds and listens on the first address host:port resolves to. Returns
 * the socket, or -1 after logging why. */
static int open_listener(const struct hk_config *cfg)
{
    char addr[300];
    snprintf(addr, sizeof(addr), "%s:%d", cfg->listen_host, cfg->listen_port);
    struct addrinfo *ai;
    if (hk_config_resolve_listen(cfg, &ai) != 0) {
        hk_log_error("cannot resolve listen address", "host",
                     cfg->listen_host);
        return -1;
    }
    /* non-blocking: a connection reset between poll and accept must not
     * leave the accept thread deaf to the stop */
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    0);
    int one = 1;
    bool ok = fd >= 0 &&
              setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0;
    /* an IPv6 address means IPv6 only, as it did when MHD bound it */
    if (ok && ai->ai_family == AF_INET6)
        ok = setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == 0;
    ok = ok && bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
         listen(fd, 1024) == 0;
    int err = errno;
    freeaddrinfo(ai);
    if (!ok) {
        hk_log_error("cannot listen", "setting", "HOOKD_LISTEN", "address",
                     addr, "error", strerror(err));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* The accept thread: hands every new connection to an API thread until a
 * byte arrives on the stop pipe. */
static void *accept_loop(void *arg)
{
    struct hk_http *h = arg;
    bool warned = false;
    for (;;) {
        struct pollfd p[2] = {{h->listen_fd, POLLIN, 0},
                              {h->stop_pipe[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0)
            continue;
        if (p[1].revents != 0)
            return NULL;
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int c = accept4(h->listen_fd, (struct sockaddr *)&peer, &len,
                        SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (c < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
                continue;
            /* out of descriptors or memory: the backlog waits a moment
             * rather than this thread spinning on it */
            if (!warned)
                hk_log_warn("cannot accept connections", "error",
                            strerror(errno));
            warned = true;
            usleep(100 * 1000);
            continue;
        }
        warned = false;
        /* a relay thread's daemon gets the relay's socketpair end with
         * the client's address; on failure (connection limit) it closes
         * that end, and the relay then closes the client's */
        (void)hk_relay_add(h->relay, c, (struct sockaddr *)&peer, len);
    }
}

/* ---- the daemons ---- */

/* Each relay thread drives a daemon of its own (relay.h): no threads of
 * libmicrohttpd's, no listening socket (the accept thread owns it), epoll
 * so that the thread waits on one descriptor for all of the daemon's
 * connections. */
static void *daemon_open(void *ctx, int i)
{
    (void)i;
    struct hk_http *h = ctx;
    int threads = h->app->cfg->http_threads;
    unsigned limit = (unsigned)((CONNECTION_LIMIT + threads - 1) / threads);
    unsigned flags = MHD_USE_EPOLL | MHD_USE_TURBO | MHD_USE_ITC |
                     MHD_USE_NO_LISTEN_SOCKET | MHD_ALLOW_SUSPEND_RESUME;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, h, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, h, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
        MHD_OPTION_CONNECTION_LIMIT, limit,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_END);
    if (d == NULL)
        hk_log_error("cannot start the HTTP server");
    return d;
}

static int daemon_fd(void *srv)
{
    const union MHD_DaemonInfo *di =
        MHD_get_daemon_info(srv, MHD_DAEMON_INFO_EPOLL_FD);
    return di != NULL ? di->epoll_fd : -1;
}

static void daemon_run(void *srv)
{
    (void)MHD_run(srv);
}

static int64_t daemon_timeout(void *srv)
{
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(srv, &ms) != MHD_YES)
        return -1;
    return ms > INT32_MAX ? INT32_MAX : (int64_t)ms;
}

static void daemon_add(void *srv, int fd, const struct sockaddr *addr,
                       socklen_t len)
{
    (void)MHD_add_connection(srv, fd, addr, len);
}

static void daemon_close(void *srv)
{
    MHD_stop_daemon(srv);
}

static const struct hk_relay_server daemon_server = {
    daemon_open, daemon_fd, daemon_run, daemon_timeout, daemon_add,
    daemon_close,
};

/* ---- lifecycle ---- */

static void free_http(struct hk_http *h)
{
    if (h->listen_fd >= 0)
        close(h->listen_fd);
    for (int i = 0; i < 2; i++)
        if (h->stop_pipe[i] >= 0)
            close(h->stop_pipe[i]);
    pthread_cond_destroy(&h->idle);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->park_cv);
    pthread_mutex_destroy(&h->park_mu);
    pthread_cond_destroy(&h->watch_cv);
    pthread_mutex_destroy(&h->watch_mu);
    free(h);
}

/* Ends the waiter, which resumes every parked request first; from here a
 * request that wants to park is answered at once. */
static void stop_waiter(struct hk_http *h)
{
    if (!h->have_waiter)
        return;
    pthread_mutex_lock(&h->park_mu);
    h->park_closed = true;
    pthread_cond_signal(&h->park_cv);
    pthread_mutex_unlock(&h->park_mu);
    pthread_join(h->waiter, NULL);
    h->have_waiter = false;
}

enum hk_result hk_http_start(struct hk_app *app, struct hk_http **out)
{
    struct hk_config *cfg = app->cfg;
    struct hk_http *h = hk_calloc(1, sizeof(*h));
    h->app = app;
    h->stop_pipe[0] = h->stop_pipe[1] = -1;
    atomic_init(&h->stopping, false);
    pthread_mutex_init(&h->mu, NULL);
    /* the drain waits on the monotonic clock: a wall-clock jump must not
     * cut it short or stretch it */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->idle, &ca);
    pthread_mutex_init(&h->park_mu, NULL);
    pthread_cond_init(&h->park_cv, &ca);
    pthread_mutex_init(&h->watch_mu, NULL);
    pthread_cond_init(&h->watch_cv, &ca);
    pthread_condattr_destroy(&ca);
    h->listen_fd = open_listener(cfg);
    if (h->listen_fd < 0) {
        free_http(h);
        return HK_INVALID;
    }
    if (pipe2(h->stop_pipe, O_CLOEXEC) != 0) {
        hk_log_error("cannot create a pipe", "error", strerror(errno));
        free_http(h);
        return HK_INTERNAL;
    }
    h->relay = hk_relay_start(cfg->http_threads, &daemon_server,
                              on_relay_refused, h);
    if (h->relay == NULL) {
        free_http(h);
        return HK_INTERNAL;
    }
    if (pthread_create(&h->waiter, NULL, wait_loop, h) != 0) {
        hk_log_error("cannot start the long poll thread");
        hk_relay_stop(h->relay, 0);
        free_http(h);
        return HK_INTERNAL;
    }
    h->have_waiter = true;
    if (pthread_create(&h->watcher, NULL, watch_loop, h) != 0) {
        hk_log_error("cannot start the request deadline thread");
        stop_waiter(h);
        hk_relay_stop(h->relay, 0);
        free_http(h);
        return HK_INTERNAL;
    }
    h->have_watcher = true;
    if (pthread_create(&h->acceptor, NULL, accept_loop, h) != 0) {
        hk_log_error("cannot start the accept thread");
        stop_watcher(h);
        stop_waiter(h);
        hk_relay_stop(h->relay, 0);
        free_http(h);
        return HK_INTERNAL;
    }
    *out = h;
    return HK_OK;
}

/* Waits until no request is in flight or grace_ms have passed; returns
 * how many are still in flight. */
static int drain(struct hk_http *h, int64_t grace_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)(grace_ms / 1000);
    until.tv_nsec += (long)(grace_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&h->mu);
    while (h->active > 0 &&
           pthread_cond_timedwait(&h->idle, &h->mu, &until) == 0)
        ;
    int left = h->active;
    pthread_mutex_unlock(&h->mu);
    return left;
}

void hk_http_stop(struct hk_http *h, int64_t grace_ms)
{
    if (h == NULL)
        return;
    atomic_store(&h->stopping, true);
    /* Stop accepting and close the listening socket: from here the kernel
     * refuses new connections instead of queueing them for nobody. */
    ssize_t w;
    do
        w = write(h->stop_pipe[1], "x", 1);
    while (w < 0 && errno == EINTR);
    pthread_join(h->acceptor, NULL);
    close(h->listen_fd);
    h->listen_fd = -1;
    stop_waiter(h);
    if (grace_ms > 0) {
        int left = drain(h, grace_ms);
        if (left > 0) {
            char n[16];
            snprintf(n, sizeof(n), "%d", left);
            hk_log_warn("requests still in flight at the stop deadline are "
                        "cut",
                        "requests", n);
        }
    }
    stop_watcher(h);
    /* each relay thread stops its daemon, which closes its ends; the relay
     * hands the clients what it still holds of their answers, for a
     * moment, then closes them */
    hk_relay_stop(h->relay, RELAY_STOP_MS);
    free_http(h);
}
