/*
 * receiver.c - the tests' webhook receiver: a libmicrohttpd server with a
 * thread per connection on 127.0.0.1, which records each request (method,
 * URI, headers in order, exact body bytes, arrival time), answers it from a
 * queue of scripted answers or a default, and counts requests in flight.
 * The recorded list is guarded by one mutex and a condition variable that
 * wakes the tests waiting for arrivals. What the tests check is theirs.
 */
#include "receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

struct entry {
    int status;
    char **headers;
    char *body;
    int delay_ms;
    bool drop;
    char *path;
};

struct path_stat {
    char *path;
    int cur;
    int max;
};

struct hk_rcv {
    struct MHD_Daemon *daemon;
    int port;
    char base_url[64];

    pthread_mutex_t mu;
    pthread_cond_t cv; /* a request was recorded, or stopping */
    bool stopping;

    struct hk_rcv_req **reqs;
    size_t nreqs;
    size_t cap;

    struct entry *queue;
    size_t nqueue;
    struct entry def; /* global default */
    struct entry *path_defs;
    size_t npath_defs;

    int in_flight;
    int max_seen;
    struct path_stat *pstats;
    size_t npstats;
};

/* Per-request state, from the URI callback to the completed callback. */
struct conn_req {
    struct hk_rcv *rcv;
    char *uri;
    bool started;
    bool counted;
    char *path;
    char *body;
    size_t body_len;
    size_t body_cap;
    int64_t arrival_ms;
    struct hk_rcv_req *rec;
};

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "receiver: out of memory\n");
        abort();
    }
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        fprintf(stderr, "receiver: out of memory\n");
        abort();
    }
    return q;
}

static char *xstrdup(const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s);
    char *p = xmalloc(n + 1);
    memcpy(p, s, n + 1);
    return p;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- script entries --------------------------------------------------- */

static void entry_from(struct entry *e, const struct hk_rcv_resp *r)
{
    memset(e, 0, sizeof *e);
    e->status = r->status ? r->status : 200;
    e->body = xstrdup(r->body);
    e->delay_ms = r->delay_ms;
    e->drop = r->drop;
    e->path = xstrdup(r->path);
    size_t n = 0;
    while (r->headers && r->headers[n])
        n++;
    e->headers = xmalloc((n + 1) * sizeof *e->headers);
    for (size_t i = 0; i < n; i++)
        e->headers[i] = xstrdup(r->headers[i]);
    e->headers[n] = NULL;
}

static void entry_copy(struct entry *dst, const struct entry *src)
{
    struct hk_rcv_resp r = {src->status, (const char *const *)src->headers,
                            src->body,   src->delay_ms,
                            src->drop,   src->path};
    entry_from(dst, &r);
}

static void entry_cleanup(struct entry *e)
{
    for (size_t i = 0; e->headers && e->headers[i]; i++)
        free(e->headers[i]);
    free(e->headers);
    free(e->body);
    free(e->path);
    memset(e, 0, sizeof *e);
}

/* Takes (under mu) the answer for a request to path: the first queued
 * entry that matches, else the path default, else the global one. The
 * caller owns the copy in out. */
static void take_answer(struct hk_rcv *r, const char *path, struct entry *out)
{
    for (size_t i = 0; i < r->nqueue; i++) {
        struct entry *e = &r->queue[i];
        if (e->path == NULL || strcmp(e->path, path) == 0) {
            *out = *e;
            memmove(&r->queue[i], &r->queue[i + 1],
                    (r->nqueue - i - 1) * sizeof *r->queue);
            r->nqueue--;
            return;
        }
    }
    for (size_t i = 0; i < r->npath_defs; i++) {
        if (strcmp(r->path_defs[i].path, path) == 0) {
            entry_copy(out, &r->path_defs[i]);
            return;
        }
    }
    entry_copy(out, &r->def);
}

static struct path_stat *pstat_for(struct hk_rcv *r, const char *path)
{
    for (size_t i = 0; i < r->npstats; i++)
        if (strcmp(r->pstats[i].path, path) == 0)
            return &r->pstats[i];
    r->pstats = xrealloc(r->pstats, (r->npstats + 1) * sizeof *r->pstats);
    struct path_stat *p = &r->pstats[r->npstats++];
    p->path = xstrdup(path);
    p->cur = 0;
    p->max = 0;
    return p;
}

/* ---- libmicrohttpd callbacks ------------------------------------------ */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)conn;
    struct conn_req *c = xmalloc(sizeof *c);
    memset(c, 0, sizeof *c);
    c->rcv = cls;
    c->uri = xstrdup(uri ? uri : "");
    return c;
}

struct hdr_acc {
    struct hk_rcv_hdr *v;
    size_t n;
};

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind,
                                      const char *key, const char *value)
{
    (void)kind;
    struct hdr_acc *a = cls;
    a->v = xrealloc(a->v, (a->n + 1) * sizeof *a->v);
    a->v[a->n].name = xstrdup(key ? key : "");
    a->v[a->n].value = xstrdup(value ? value : "");
    a->n++;
    return MHD_YES;
}

/* Sleeps up to ms, waking early when the receiver stops. */
static void scripted_delay(struct hk_rcv *r, int ms)
{
    if (ms <= 0)
        return;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&r->mu);
    while (!r->stopping) {
        if (pthread_cond_timedwait(&r->cv, &r->mu, &until) != 0)
            break;
    }
    pthread_mutex_unlock(&r->mu);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    struct hk_rcv *r = cls;
    struct conn_req *c = *con_cls;
    if (c == NULL) {
        c = on_uri(r, url, conn);
        *con_cls = c;
    }
    if (!c->started) {
        c->started = true;
        c->arrival_ms = wall_ms();
        c->path = xstrdup(url ? url : "");
        pthread_mutex_lock(&r->mu);
        r->in_flight++;
        if (r->in_flight > r->max_seen)
            r->max_seen = r->in_flight;
        struct path_stat *ps = pstat_for(r, c->path);
        ps->cur++;
        if (ps->cur > ps->max)
            ps->max = ps->cur;
        c->counted = true;
        pthread_mutex_unlock(&r->mu);
        return MHD_YES;
    }
    if (*upload_size > 0) {
        size_t n = *upload_size;
        if (c->body_len + n + 1 > c->body_cap) {
            size_t cap = c->body_cap ? c->body_cap : 4096;
            while (cap < c->body_len + n + 1)
                cap *= 2;
            c->body = xrealloc(c->body, cap);
            c->body_cap = cap;
        }
        memcpy(c->body + c->body_len, upload, n);
        c->body_len += n;
        c->body[c->body_len] = '\0';
        *upload_size = 0;
        return MHD_YES;
    }
    if (c->rec != NULL) /* already answered */
        return MHD_YES;

    struct hk_rcv_req *q = xmalloc(sizeof *q);
    memset(q, 0, sizeof *q);
    q->method = xstrdup(method);
    q->path = xstrdup(c->path);
    q->uri = xstrdup(c->uri);
    struct hdr_acc acc = {NULL, 0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, &acc);
    q->hdrs = acc.v;
    q->nhdrs = acc.n;
    if (c->body == NULL) {
        q->body = xstrdup("");
        q->body_len = 0;
    } else {
        q->body = c->body;
        q->body_len = c->body_len;
        c->body = NULL;
    }
    q->arrival_ms = c->arrival_ms;
    q->body_ms = wall_ms();
    c->rec = q;

    struct entry ans;
    pthread_mutex_lock(&r->mu);
    take_answer(r, q->path, &ans);
    q->status = ans.drop ? 0 : ans.status;
    q->index = r->nreqs;
    if (r->nreqs == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->reqs = xrealloc(r->reqs, r->cap * sizeof *r->reqs);
    }
    r->reqs[r->nreqs++] = q;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);

    scripted_delay(r, ans.delay_ms);
    enum MHD_Result ret;
    if (ans.drop) {
        ret = MHD_NO;
    } else {
        const char *body = ans.body ? ans.body : "";
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
        for (size_t i = 0; ans.headers && ans.headers[i]; i++) {
            const char *h = ans.headers[i];
            const char *colon = strchr(h, ':');
            if (colon == NULL)
                continue;
            char name[256];
            size_t nl = (size_t)(colon - h);
            if (nl >= sizeof name)
                continue;
            memcpy(name, h, nl);
            name[nl] = '\0';
            const char *v = colon + 1;
            while (*v == ' ')
                v++;
            MHD_add_response_header(resp, name, v);
        }
        ret = MHD_queue_response(conn, (unsigned)ans.status, resp);
        MHD_destroy_response(resp);
    }
    entry_cleanup(&ans);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    struct hk_rcv *r = cls;
    struct conn_req *c = *con_cls;
    if (c == NULL)
        return;
    if (c->counted) {
        pthread_mutex_lock(&r->mu);
        r->in_flight--;
        pstat_for(r, c->path)->cur--;
        pthread_mutex_unlock(&r->mu);
    }
    free(c->uri);
    free(c->path);
    free(c->body);
    free(c);
    *con_cls = NULL;
}

/* ---- lifecycle -------------------------------------------------------- */

struct hk_rcv *hk_rcv_start(void)
{
    struct hk_rcv *r = xmalloc(sizeof *r);
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    struct hk_rcv_resp ok = {200, NULL, NULL, 0, false, NULL};
    entry_from(&r->def, &ok);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    r->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
            MHD_USE_POLL | MHD_USE_ERROR_LOG,
        0, NULL, NULL, on_request, r, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&a, MHD_OPTION_URI_LOG_CALLBACK, on_uri, r,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, r,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)512, MHD_OPTION_END);
    if (r->daemon == NULL) {
        fprintf(stderr, "receiver: cannot start libmicrohttpd on "
                        "127.0.0.1\n");
        hk_rcv_stop(r);
        return NULL;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(r->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (info == NULL || info->port == 0) {
        fprintf(stderr, "receiver: cannot learn the bound port\n");
        hk_rcv_stop(r);
        return NULL;
    }
    r->port = info->port;
    snprintf(r->base_url, sizeof r->base_url, "http://127.0.0.1:%d", r->port);
    return r;
}

static void free_req(struct hk_rcv_req *q)
{
    free(q->method);
    free(q->path);
    free(q->uri);
    for (size_t i = 0; i < q->nhdrs; i++) {
        free(q->hdrs[i].name);
        free(q->hdrs[i].value);
    }
    free(q->hdrs);
    free(q->body);
    free(q);
}

/* Frees the recorded requests and the queue (under mu or when alone). */
static void clear_locked(struct hk_rcv *r)
{
    for (size_t i = 0; i < r->nreqs; i++)
        free_req(r->reqs[i]);
    r->nreqs = 0;
    for (size_t i = 0; i < r->nqueue; i++)
        entry_cleanup(&r->queue[i]);
    r->nqueue = 0;
    r->max_seen = r->in_flight;
    for (size_t i = 0; i < r->npstats; i++)
        r->pstats[i].max = r->pstats[i].cur;
}

void hk_rcv_stop(struct hk_rcv *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    r->stopping = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (r->daemon != NULL)
        MHD_stop_daemon(r->daemon);
    clear_locked(r);
    free(r->reqs);
    free(r->queue);
    entry_cleanup(&r->def);
    for (size_t i = 0; i < r->npath_defs; i++)
        entry_cleanup(&r->path_defs[i]);
    free(r->path_defs);
    for (size_t i = 0; i < r->npstats; i++)
        free(r->pstats[i].path);
    free(r->pstats);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

int hk_rcv_port(const struct hk_rcv *r)
{
    return r->port;
}

const char *hk_rcv_base_url(const struct hk_rcv *r)
{
    return r->base_url;
}

char *hk_rcv_url(const struct hk_rcv *r, const char *path)
{
    size_t n = strlen(r->base_url) + strlen(path) + 1;
    char *p = xmalloc(n);
    snprintf(p, n, "%s%s", r->base_url, path);
    return p;
}

/* ---- script ----------------------------------------------------------- */

void hk_rcv_push(struct hk_rcv *r, const struct hk_rcv_resp *resp)
{
    struct entry e;
    entry_from(&e, resp);
    pthread_mutex_lock(&r->mu);
    r->queue = xrealloc(r->queue, (r->nqueue + 1) * sizeof *r->queue);
    r->queue[r->nqueue++] = e;
    pthread_mutex_unlock(&r->mu);
}

void hk_rcv_set_script(struct hk_rcv *r, const struct hk_rcv_resp *resps,
                       size_t n)
{
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->nqueue; i++)
        entry_cleanup(&r->queue[i]);
    r->queue = xrealloc(r->queue, (n ? n : 1) * sizeof *r->queue);
    for (size_t i = 0; i < n; i++)
        entry_from(&r->queue[i], &resps[i]);
    r->nqueue = n;
    pthread_mutex_unlock(&r->mu);
}

void hk_rcv_set_default(struct hk_rcv *r, const struct hk_rcv_resp *resp)
{
    struct entry e;
    entry_from(&e, resp);
    pthread_mutex_lock(&r->mu);
    if (resp->path == NULL) {
        entry_cleanup(&r->def);
        r->def = e;
    } else {
        size_t i;
        for (i = 0; i < r->npath_defs; i++)
            if (strcmp(r->path_defs[i].path, resp->path) == 0)
                break;
        if (i == r->npath_defs) {
            r->path_defs = xrealloc(r->path_defs,
                                    (r->npath_defs + 1) * sizeof *r->path_defs);
            r->npath_defs++;
        } else {
            entry_cleanup(&r->path_defs[i]);
        }
        r->path_defs[i] = e;
    }
    pthread_mutex_unlock(&r->mu);
}

void hk_rcv_push_status(struct hk_rcv *r, int status, int times)
{
    struct hk_rcv_resp a = {status, NULL, NULL, 0, false, NULL};
    for (int i = 0; i < times; i++)
        hk_rcv_push(r, &a);
}

/* ---- reading what arrived --------------------------------------------- */

size_t hk_rcv_count(struct hk_rcv *r)
{
    pthread_mutex_lock(&r->mu);
    size_t n = r->nreqs;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static size_t count_path_locked(struct hk_rcv *r, const char *path)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nreqs; i++)
        if (strcmp(r->reqs[i]->path, path) == 0)
            n++;
    return n;
}

size_t hk_rcv_count_path(struct hk_rcv *r, const char *path)
{
    pthread_mutex_lock(&r->mu);
    size_t n = count_path_locked(r, path);
    pthread_mutex_unlock(&r->mu);
    return n;
}

const struct hk_rcv_req *hk_rcv_get(struct hk_rcv *r, size_t i)
{
    pthread_mutex_lock(&r->mu);
    const struct hk_rcv_req *q = i < r->nreqs ? r->reqs[i] : NULL;
    pthread_mutex_unlock(&r->mu);
    return q;
}

const struct hk_rcv_req *hk_rcv_get_path(struct hk_rcv *r, const char *path,
                                         size_t i)
{
    const struct hk_rcv_req *q = NULL;
    pthread_mutex_lock(&r->mu);
    for (size_t k = 0; k < r->nreqs; k++) {
        if (strcmp(r->reqs[k]->path, path) != 0)
            continue;
        if (i == 0) {
            q = r->reqs[k];
            break;
        }
        i--;
    }
    pthread_mutex_unlock(&r->mu);
    return q;
}

const char *hk_rcv_req_header(const struct hk_rcv_req *q, const char *name)
{
    for (size_t i = 0; q && i < q->nhdrs; i++)
        if (strcasecmp(q->hdrs[i].name, name) == 0)
            return q->hdrs[i].value;
    return NULL;
}

bool hk_rcv_wait_for_path(struct hk_rcv *r, const char *path, size_t n,
                          int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&r->mu);
    bool ok;
    for (;;) {
        size_t have = path ? count_path_locked(r, path) : r->nreqs;
        ok = have >= n;
        if (ok || r->stopping)
            break;
        if (pthread_cond_timedwait(&r->cv, &r->mu, &until) != 0) {
            have = path ? count_path_locked(r, path) : r->nreqs;
            ok = have >= n;
            break;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return ok;
}

bool hk_rcv_wait_for_count(struct hk_rcv *r, size_t n, int timeout_ms)
{
    return hk_rcv_wait_for_path(r, NULL, n, timeout_ms);
}

int hk_rcv_in_flight(struct hk_rcv *r)
{
    pthread_mutex_lock(&r->mu);
    int n = r->in_flight;
    pthread_mutex_unlock(&r->mu);
    return n;
}

int hk_rcv_max_concurrency_seen(struct hk_rcv *r)
{
    pthread_mutex_lock(&r->mu);
    int n = r->max_seen;
    pthread_mutex_unlock(&r->mu);
    return n;
}

int hk_rcv_max_concurrency_path(struct hk_rcv *r, const char *path)
{
    int n = 0;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->npstats; i++)
        if (strcmp(r->pstats[i].path, path) == 0)
            n = r->pstats[i].max;
    pthread_mutex_unlock(&r->mu);
    return n;
}

void hk_rcv_reset_max(struct hk_rcv *r)
{
    pthread_mutex_lock(&r->mu);
    r->max_seen = r->in_flight;
    for (size_t i = 0; i < r->npstats; i++)
        r->pstats[i].max = r->pstats[i].cur;
    pthread_mutex_unlock(&r->mu);
}

void hk_rcv_clear(struct hk_rcv *r)
{
    pthread_mutex_lock(&r->mu);
    clear_locked(r);
    pthread_mutex_unlock(&r->mu);
}

/* A JSON string of the exact bytes when they are UTF-8; otherwise bytes
 * over 0x7f become '?' so the dump stays valid JSON. */
static json_t *json_bytes(const char *p, size_t n)
{
    json_t *s = json_stringn(p, n);
    if (s != NULL)
        return s;
    char *copy = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        copy[i] = (unsigned char)p[i] < 0x80 ? p[i] : '?';
    copy[n] = '\0';
    s = json_stringn(copy, n);
    free(copy);
    return s ? s : json_string("");
}

int hk_rcv_dump_json(struct hk_rcv *r, const char *file)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->nreqs; i++) {
        const struct hk_rcv_req *q = r->reqs[i];
        json_t *hdrs = json_object();
        for (size_t k = 0; k < q->nhdrs; k++) {
            char name[256];
            size_t nl = strlen(q->hdrs[k].name);
            if (nl >= sizeof name)
                nl = sizeof name - 1;
            for (size_t c = 0; c < nl; c++) {
                char ch = q->hdrs[k].name[c];
                name[c] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
            }
            name[nl] = '\0';
            if (json_object_get(hdrs, name) == NULL)
                json_object_set_new(
                    hdrs, name,
                    json_bytes(q->hdrs[k].value, strlen(q->hdrs[k].value)));
        }
        json_t *o = json_object();
        json_object_set_new(o, "method",
                            json_bytes(q->method, strlen(q->method)));
        json_object_set_new(o, "path", json_bytes(q->path, strlen(q->path)));
        json_object_set_new(o, "uri", json_bytes(q->uri, strlen(q->uri)));
        json_object_set_new(o, "arrival_ms", json_integer(q->arrival_ms));
        json_object_set_new(o, "headers", hdrs);
        json_object_set_new(o, "body", json_bytes(q->body, q->body_len));
        json_array_append_new(arr, o);
    }
    pthread_mutex_unlock(&r->mu);
    int rc = json_dump_file(arr, file, JSON_INDENT(2));
    json_decref(arr);
    if (rc != 0)
        fprintf(stderr, "receiver: cannot write %s\n", file);
    return rc == 0 ? 0 : -1;
}
