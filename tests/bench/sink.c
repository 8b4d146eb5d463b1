/*
 * sink.c - the benchmark's webhook receiver. It listens on 127.0.0.1,
 * answers every POST with 204 at once (or, under /slow, after a fixed delay
 * without holding a thread), and records for each request the path, its
 * webhook-id, its arrival time and the send time the load generator put in
 * the payload ("sent_us", Unix microseconds), in a preallocated array that
 * request threads fill with one atomic increment each. A small control
 * interface reports what arrived: GET /_count (cheap running totals per
 * path, for progress polling), GET /_stats (per group - the first path
 * segment - totals, unique (path, webhook-id) pairs, duplicates, first and
 * last arrival, and ingest-to-receipt latency percentiles), GET
 * /_records?group=G (every request of one group that carried a webhook-id:
 * the id, the send time and the arrival time, for the benchmark to line up
 * with hookd's own timeline of each delivery) and POST /_reset.
 * With -s it also takes webhooks over HTTPS (OpenSSL, a thread per
 * connection, keep-alive, HTTP/1.1 without chunked bodies), recorded in the
 * same table. Under /close, both answer with Connection: close and close
 * the connection, as receivers behind some load balancers do. It knows
 * nothing of hookd beyond the webhook-id header and the body shape.
 */
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PATHS 256
#define MAX_PATH_LEN 128
#define BODY_KEEP 8192

struct rec {
    int64_t arrival_us; /* wall clock, Unix microseconds */
    int64_t sent_us;    /* from the body; 0 when absent */
    unsigned char id[16];
    uint16_t path;
    uint8_t has_id;
    _Atomic uint8_t done; /* set last, so a reader never sees half a record */
};

/* Per-request state, created on the first callback and freed when
 * libmicrohttpd says the request is complete. */
struct req {
    size_t len;
    bool recorded;
    bool slow;
    bool delayed; /* the delay has run; answer now */
    int64_t due_us;
    struct MHD_Connection *conn;
    struct req *next; /* in the delay queue */
    char body[BODY_KEEP];
};

static struct rec *recs;
static size_t rec_cap;
static atomic_size_t rec_next;
static atomic_size_t rec_dropped;

static char paths[MAX_PATHS][MAX_PATH_LEN];
static atomic_uint_fast64_t path_counts[MAX_PATHS];
static atomic_int npaths;
static pthread_mutex_t paths_lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t slow_delay_us = 1000000;
static int tls_nice; /* -N: added to each HTTPS connection thread's nice */
static struct MHD_Response *resp_empty;
static struct MHD_Response *resp_close; /* 204 with Connection: close */

/* The delay queue: the delay is the same for every request, so arrival
 * order is due order and a FIFO is enough. */
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cond;
static struct req *q_head, *q_tail;

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parses a canonical UUID (or 32 bare hex digits) into 16 bytes. */
static bool parse_uuid(const char *s, unsigned char out[16])
{
    int n = 0;
    for (const char *p = s; *p && n < 32; p++) {
        if (*p == '-')
            continue;
        int v = hexval(*p);
        if (v < 0)
            return false;
        if (n % 2 == 0)
            out[n / 2] = (unsigned char)(v << 4);
        else
            out[n / 2] |= (unsigned char)v;
        n++;
    }
    return n == 32;
}

/* Index of path in the path table, adding it on first sight. Readers scan
 * without the lock: a slot is written before npaths publishes it. */
static uint16_t path_index(const char *url)
{
    char p[MAX_PATH_LEN];
    snprintf(p, sizeof(p), "%s", url);
    int n = atomic_load_explicit(&npaths, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (strcmp(paths[i], p) == 0)
            return (uint16_t)i;
    pthread_mutex_lock(&paths_lock);
    n = atomic_load_explicit(&npaths, memory_order_relaxed);
    int found = -1;
    for (int i = 0; i < n; i++)
        if (strcmp(paths[i], p) == 0)
            found = i;
    if (found < 0) {
        /* Past the table's size every new path shares the last slot. */
        if (n == MAX_PATHS) {
            found = MAX_PATHS - 1;
        } else {
            memcpy(paths[n], p, sizeof(p));
            atomic_store_explicit(&npaths, n + 1, memory_order_release);
            found = n;
        }
    }
    pthread_mutex_unlock(&paths_lock);
    return (uint16_t)found;
}

/* The load generator's send time: the first "sent_us": number in the
 * body, which in a webhook sits inside "data". */
static int64_t body_sent_us(const char *body, size_t len)
{
    static const char key[] = "\"sent_us\"";
    const char *p = memmem(body, len, key, sizeof(key) - 1);
    if (!p)
        return 0;
    p += sizeof(key) - 1;
    const char *end = body + len;
    while (p < end && (*p == ' ' || *p == ':'))
        p++;
    int64_t v = 0;
    while (p < end && *p >= '0' && *p <= '9')
        v = v * 10 + (*p++ - '0');
    return v;
}

static void record(const char *url, const char *id, const char *body,
                   size_t len)
{
    uint16_t path = path_index(url);
    atomic_fetch_add_explicit(&path_counts[path], 1, memory_order_relaxed);
    size_t i = atomic_fetch_add_explicit(&rec_next, 1, memory_order_relaxed);
    if (i >= rec_cap) {
        atomic_fetch_add(&rec_dropped, 1);
        return;
    }
    struct rec *x = &recs[i];
    x->arrival_us = wall_us();
    x->sent_us = body_sent_us(body, len);
    x->path = path;
    x->has_id = id && parse_uuid(id, x->id);
    atomic_store_explicit(&x->done, 1, memory_order_release);
}

static void *delay_thread(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&q_lock);
    for (;;) {
        while (!q_head)
            pthread_cond_wait(&q_cond, &q_lock);
        int64_t now = mono_us();
        if (q_head->due_us > now) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t wait = q_head->due_us - now;
            ts.tv_sec += wait / 1000000;
            ts.tv_nsec += (long)(wait % 1000000) * 1000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&q_cond, &q_lock, &ts);
            continue;
        }
        struct req *r = q_head;
        q_head = r->next;
        if (!q_head)
            q_tail = NULL;
        r->delayed = true;
        MHD_resume_connection(r->conn);
    }
    return NULL;
}

static void delay(struct MHD_Connection *c, struct req *r)
{
    r->conn = c;
    r->due_us = mono_us() + slow_delay_us;
    r->next = NULL;
    MHD_suspend_connection(c);
    pthread_mutex_lock(&q_lock);
    if (q_tail)
        q_tail->next = r;
    else
        q_head = r;
    q_tail = r;
    pthread_cond_signal(&q_cond);
    pthread_mutex_unlock(&q_lock);
}

static enum MHD_Result send_json(struct MHD_Connection *c, char *json,
                                 size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, json, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* A growable text buffer for the control answers. */
struct out {
    char *s;
    size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void out_add(struct out *o,
                                                          const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->s + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            abort();
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        o->cap = o->cap * 2 + (size_t)n + 64;
        o->s = realloc(o->s, o->cap);
        if (!o->s)
            abort();
    }
}

static void out_init(struct out *o)
{
    o->cap = 4096;
    o->len = 0;
    o->s = malloc(o->cap);
    if (!o->s)
        abort();
    o->s[0] = '\0';
}

/* Paths never contain '"' or '\\' from hookd or the script; anything
 * else outside printable ASCII is dropped so the JSON stays valid. */
static void out_str(struct out *o, const char *s)
{
    out_add(o, "\"");
    for (; *s; s++)
        if (*s >= 0x20 && *s < 0x7f && *s != '"' && *s != '\\')
            out_add(o, "%c", *s);
    out_add(o, "\"");
}

static enum MHD_Result answer_count(struct MHD_Connection *c)
{
    struct out o;
    out_init(&o);
    size_t n = atomic_load(&rec_next);
    out_add(&o, "{\"total\":%zu,\"dropped\":%zu,\"paths\":{", n,
            atomic_load(&rec_dropped));
    int np = atomic_load_explicit(&npaths, memory_order_acquire);
    for (int i = 0; i < np; i++) {
        if (i)
            out_add(&o, ",");
        out_str(&o, paths[i]);
        out_add(&o, ":%" PRIuFAST64, atomic_load(&path_counts[i]));
    }
    out_add(&o, "}}\n");
    return send_json(c, o.s, o.len);
}

struct key {
    uint16_t group;
    uint16_t path;
    uint8_t has_id;
    unsigned char id[16];
};

static int cmp_key(const void *a, const void *b)
{
    const struct key *x = a, *y = b;
    if (x->group != y->group)
        return x->group < y->group ? -1 : 1;
    if (x->path != y->path)
        return x->path < y->path ? -1 : 1;
    if (x->has_id != y->has_id)
        return x->has_id < y->has_id ? -1 : 1;
    return memcmp(x->id, y->id, 16);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Group of a path: its first segment, "/t/3" -> "t". */
static void group_name(const char *path, char *out, size_t outlen)
{
    const char *s = path[0] == '/' ? path + 1 : path;
    size_t n = strcspn(s, "/?");
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

static double pct_ms(const int64_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return (double)v[i] / 1000.0;
}

struct group {
    char name[MAX_PATH_LEN];
    size_t total, with_id, unique;
    int64_t first_us, last_us;
    int64_t *lat;
    size_t nlat;
};

static enum MHD_Result answer_stats(struct MHD_Connection *c)
{
    size_t n = atomic_load(&rec_next);
    if (n > rec_cap)
        n = rec_cap;
    int np = atomic_load_explicit(&npaths, memory_order_acquire);

    /* Paths to groups. */
    struct group *groups = calloc((size_t)np + 1, sizeof(*groups));
    uint16_t *path_group = calloc((size_t)np + 1, sizeof(*path_group));
    struct key *keys = malloc((n ? n : 1) * sizeof(*keys));
    int64_t *lat_all = malloc((n ? n : 1) * sizeof(*lat_all));
    if (!groups || !path_group || !keys || !lat_all)
        abort();
    int ng = 0;
    for (int i = 0; i < np; i++) {
        char g[MAX_PATH_LEN];
        group_name(paths[i], g, sizeof(g));
        int k = 0;
        while (k < ng && strcmp(groups[k].name, g) != 0)
            k++;
        if (k == ng) {
            memcpy(groups[k].name, g, sizeof(g));
            groups[k].first_us = INT64_MAX;
            ng++;
        }
        path_group[i] = (uint16_t)k;
    }

    /* Records to keys, and latencies bucketed by group: count first, then
     * place, so one array holds every group's samples. */
    size_t nk = 0;
    size_t *lat_off = calloc((size_t)ng + 1, sizeof(*lat_off));
    if (!lat_off)
        abort();
    for (size_t i = 0; i < n; i++) {
        struct rec *x = &recs[i];
        if (!atomic_load_explicit(&x->done, memory_order_acquire))
            continue;
        if (x->path >= np)
            continue;
        uint16_t g = path_group[x->path];
        struct group *gr = &groups[g];
        gr->total++;
        if (x->arrival_us < gr->first_us)
            gr->first_us = x->arrival_us;
        if (x->arrival_us > gr->last_us)
            gr->last_us = x->arrival_us;
        if (x->sent_us > 0)
            lat_off[g + 1]++;
        struct key *k = &keys[nk++];
        k->group = g;
        k->path = x->path;
        k->has_id = x->has_id;
        memcpy(k->id, x->id, 16);
        if (x->has_id)
            gr->with_id++;
    }
    for (int g = 0; g < ng; g++) {
        lat_off[g + 1] += lat_off[g];
        groups[g].lat = lat_all + lat_off[g];
    }
    for (size_t i = 0; i < n; i++) {
        struct rec *x = &recs[i];
        if (!atomic_load_explicit(&x->done, memory_order_acquire) ||
            x->path >= np || x->sent_us <= 0)
            continue;
        struct group *gr = &groups[path_group[x->path]];
        gr->lat[gr->nlat++] = x->arrival_us - x->sent_us;
    }
    qsort(keys, nk, sizeof(*keys), cmp_key);
    for (size_t i = 0; i < nk; i++) {
        if (!keys[i].has_id)
            continue;
        if (i > 0 && cmp_key(&keys[i - 1], &keys[i]) == 0)
            continue;
        groups[keys[i].group].unique++;
    }

    struct out o;
    out_init(&o);
    size_t total = 0, unique = 0, with_id = 0;
    for (int g = 0; g < ng; g++) {
        total += groups[g].total;
        unique += groups[g].unique;
        with_id += groups[g].with_id;
    }
    out_add(&o,
            "{\"total\":%zu,\"with_id\":%zu,\"unique\":%zu,"
            "\"duplicates\":%zu,\"dropped\":%zu,\"groups\":{",
            total, with_id, unique, with_id - unique,
            atomic_load(&rec_dropped));
    for (int g = 0; g < ng; g++) {
        struct group *gr = &groups[g];
        qsort(gr->lat, gr->nlat, sizeof(int64_t), cmp_i64);
        double span = gr->total > 1 && gr->last_us > gr->first_us
                          ? (double)(gr->last_us - gr->first_us) / 1e6
                          : 0;
        if (g)
            out_add(&o, ",");
        out_str(&o, gr->name);
        out_add(&o,
                ":{\"total\":%zu,\"with_id\":%zu,\"unique\":%zu,"
                "\"duplicates\":%zu,\"first_us\":%" PRId64
                ",\"last_us\":%" PRId64 ",\"span_s\":%.6f,\"per_s\":%.1f,"
                "\"latency_ms\":{\"n\":%zu,\"p50\":%.3f,\"p90\":%.3f,"
                "\"p99\":%.3f,\"max\":%.3f}}",
                gr->total, gr->with_id, gr->unique, gr->with_id - gr->unique,
                gr->total ? gr->first_us : 0, gr->last_us, span,
                span > 0 ? (double)(gr->total - 1) / span : 0, gr->nlat,
                pct_ms(gr->lat, gr->nlat, 0.50), pct_ms(gr->lat, gr->nlat, 0.90),
                pct_ms(gr->lat, gr->nlat, 0.99),
                gr->nlat ? (double)gr->lat[gr->nlat - 1] / 1000.0 : 0);
    }
    out_add(&o, "}}\n");
    free(groups);
    free(path_group);
    free(keys);
    free(lat_all);
    free(lat_off);
    return send_json(c, o.s, o.len);
}

/* GET /_records?group=G: [["webhook-id",sent_us,arrival_us],...] for
 * every request of group G that carried a webhook-id, in arrival order
 * (a duplicate appears as often as it arrived). */
static enum MHD_Result answer_records(struct MHD_Connection *c)
{
    const char *want =
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "group");
    if (!want)
        return MHD_queue_response(c, MHD_HTTP_BAD_REQUEST, resp_empty);
    size_t n = atomic_load(&rec_next);
    if (n > rec_cap)
        n = rec_cap;
    int np = atomic_load_explicit(&npaths, memory_order_acquire);
    bool in_group[MAX_PATHS];
    for (int i = 0; i < np; i++) {
        char g[MAX_PATH_LEN];
        group_name(paths[i], g, sizeof(g));
        in_group[i] = strcmp(g, want) == 0;
    }

    struct out o;
    out_init(&o);
    out_add(&o, "[");
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        struct rec *x = &recs[i];
        if (!atomic_load_explicit(&x->done, memory_order_acquire) ||
            x->path >= np || !in_group[x->path] || !x->has_id)
            continue;
        const unsigned char *u = x->id;
        out_add(&o,
                "%s[\"%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                "%02x%02x%02x%02x%02x%02x\",%" PRId64 ",%" PRId64 "]",
                first ? "" : ",", u[0], u[1], u[2], u[3], u[4], u[5], u[6],
                u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15],
                x->sent_us, x->arrival_us);
        first = false;
    }
    out_add(&o, "]\n");
    return send_json(c, o.s, o.len);
}

/* Only between runs: nothing may be arriving while the table is cleared. */
static void reset(void)
{
    size_t n = atomic_load(&rec_next);
    if (n > rec_cap)
        n = rec_cap;
    for (size_t i = 0; i < n; i++)
        atomic_store_explicit(&recs[i].done, 0, memory_order_relaxed);
    int np = atomic_load(&npaths);
    for (int i = 0; i < np; i++)
        atomic_store(&path_counts[i], 0);
    atomic_store(&rec_dropped, 0);
    atomic_store(&rec_next, 0);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)version;
    struct req *r = *con_cls;
    if (!r) {
        r = malloc(sizeof(*r));
        if (!r)
            return MHD_NO;
        r->len = 0;
        r->recorded = false;
        r->delayed = false;
        r->slow = strncmp(url, "/slow", 5) == 0;
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t room = sizeof(r->body) - r->len;
        size_t take = *upload_size < room ? *upload_size : room;
        memcpy(r->body + r->len, upload, take);
        r->len += take;
        *upload_size = 0;
        return MHD_YES;
    }
    if (strncmp(url, "/_", 2) == 0) {
        if (strcmp(url, "/_count") == 0)
            return answer_count(c);
        if (strcmp(url, "/_stats") == 0)
            return answer_stats(c);
        if (strcmp(url, "/_records") == 0)
            return answer_records(c);
        if (strcmp(url, "/_reset") == 0 && strcmp(method, "POST") == 0) {
            reset();
            return MHD_queue_response(c, MHD_HTTP_NO_CONTENT, resp_empty);
        }
        return MHD_queue_response(c, MHD_HTTP_NOT_FOUND, resp_empty);
    }
    if (!r->recorded) {
        r->recorded = true;
        if (strcmp(method, "POST") == 0)
            record(url,
                   MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                               "webhook-id"),
                   r->body, r->len);
    }
    if (r->slow && !r->delayed) {
        delay(c, r);
        return MHD_YES;
    }
    return MHD_queue_response(c, MHD_HTTP_NO_CONTENT,
                              strncmp(url, "/close", 6) == 0 ? resp_close
                                                             : resp_empty);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

/* ---- HTTPS ---------------------------------------------------------- */

#define TLS_HEAD_MAX 16384

static SSL_CTX *tls_ctx;

/* The value of header name (lower case) in the header block head..end,
 * copied into out; false when absent. */
static bool head_value(const char *head, const char *end, const char *name,
                       char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    for (const char *p = head; p < end;) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > nlen && p[nlen] == ':' &&
            strncasecmp(p, name, nlen) == 0) {
            const char *v = p + nlen + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            size_t vlen = (size_t)(eol - v);
            if (vlen >= outlen)
                vlen = outlen - 1;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return true;
        }
        p = eol + 2;
    }
    return false;
}

/* One HTTPS connection: requests one after another until the client
 * closes, or after the first under /close. */
static void *tls_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    /* -N: the server's side of the handshakes yields the CPU to hookd and
     * PostgreSQL where cores are short, to tell their share of a latency
     * from the host's. A failure leaves the thread as it was. */
    if (tls_nice > 0) {
        id_t tid = (id_t)gettid();
        errno = 0;
        int now = getpriority(PRIO_PROCESS, tid);
        if (errno == 0)
            (void)setpriority(PRIO_PROCESS, tid, now + tls_nice);
    }
    SSL *ssl = SSL_new(tls_ctx);
    char *buf = malloc(TLS_HEAD_MAX);
    char *body = malloc(BODY_KEEP);
    if (!ssl || !buf || !body || SSL_set_fd(ssl, fd) != 1 ||
        SSL_accept(ssl) != 1)
        goto out;
    size_t have = 0;
    for (;;) {
        char *hend;
        while (!(hend = memmem(buf, have, "\r\n\r\n", 4))) {
            if (have == TLS_HEAD_MAX)
                goto out;
            int n = SSL_read(ssl, buf + have, (int)(TLS_HEAD_MAX - have));
            if (n <= 0)
                goto out;
            have += (size_t)n;
        }
        size_t hlen = (size_t)(hend + 4 - buf);
        char method[16] = "", path[MAX_PATH_LEN] = "", num[32], id[64];
        const char *sp = memchr(buf, ' ', hlen);
        const char *sp2 = sp ? memchr(sp + 1, ' ', hlen - (size_t)(sp + 1 - buf))
                             : NULL;
        if (!sp || !sp2 || (size_t)(sp - buf) >= sizeof(method))
            goto out;
        memcpy(method, buf, (size_t)(sp - buf));
        size_t plen = (size_t)(sp2 - sp - 1);
        if (plen >= sizeof(path))
            plen = sizeof(path) - 1;
        memcpy(path, sp + 1, plen);
        path[plen] = '\0';
        size_t clen = 0;
        if (head_value(buf, hend, "content-length", num, sizeof(num)))
            clen = strtoul(num, NULL, 10);
        bool has_id = head_value(buf, hend, "webhook-id", id, sizeof(id));
        /* the body: what came with the head, then the rest */
        size_t got = have - hlen < clen ? have - hlen : clen;
        size_t kept = got < BODY_KEEP ? got : BODY_KEEP;
        memcpy(body, buf + hlen, kept);
        size_t left = have - hlen - got; /* the next request's bytes */
        memmove(buf, buf + hlen + got, left);
        have = left;
        while (got < clen) {
            char chunk[4096];
            size_t want = clen - got < sizeof(chunk) ? clen - got : sizeof(chunk);
            int n = SSL_read(ssl, chunk, (int)want);
            if (n <= 0)
                goto out;
            size_t take = kept + (size_t)n <= BODY_KEEP ? (size_t)n
                                                        : BODY_KEEP - kept;
            memcpy(body + kept, chunk, take);
            kept += take;
            got += (size_t)n;
        }
        bool close_after = strncmp(path, "/close", 6) == 0;
        if (strcmp(method, "POST") == 0 && strncmp(path, "/_", 2) != 0)
            record(path, has_id ? id : NULL, body, kept);
        static const char ok[] = "HTTP/1.1 204 No Content\r\n\r\n";
        static const char ok_close[] =
            "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
        const char *ans = close_after ? ok_close : ok;
        int alen = (int)(close_after ? sizeof(ok_close) : sizeof(ok)) - 1;
        if (SSL_write(ssl, ans, alen) != alen)
            goto out;
        if (close_after) {
            SSL_shutdown(ssl);
            goto out;
        }
    }
out:
    SSL_free(ssl);
    close(fd);
    free(buf);
    free(body);
    ERR_clear_error();
    return NULL;
}

static void *tls_accept(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&at, 128 * 1024);
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
                continue;
            return NULL;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        pthread_t t;
        if (pthread_create(&t, &at, tls_conn, (void *)(intptr_t)fd) != 0)
            close(fd);
    }
}

/* Listens for HTTPS on 127.0.0.1:port with the PEM certificate chain and
 * key; false (with a line on stderr) when it cannot. */
static bool tls_start(int port, const char *cert, const char *key)
{
    tls_ctx = SSL_CTX_new(TLS_server_method());
    if (!tls_ctx ||
        SSL_CTX_use_certificate_chain_file(tls_ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(tls_ctx, key, SSL_FILETYPE_PEM) != 1) {
        fprintf(stderr, "sink: cannot use %s and %s: ", cert, key);
        ERR_print_errors_fp(stderr);
        return false;
    }
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(lfd, 4096) != 0) {
        fprintf(stderr, "sink: cannot listen for HTTPS on 127.0.0.1:%d\n",
                port);
        return false;
    }
    pthread_t t;
    return pthread_create(&t, NULL, tls_accept, (void *)(intptr_t)lfd) == 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: sink -p PORT [-t THREADS] [-n CAPACITY] [-d SLOW_MS]\n"
            "            [-s TLS_PORT -c CERT_PEM -k KEY_PEM [-N NICE]]\n"
            "  answers 204 to every POST (after SLOW_MS under /slow; with\n"
            "  Connection: close under /close) and records it, also over\n"
            "  HTTPS on TLS_PORT (its threads NICE lower in priority);\n"
            "  GET /_count, GET /_stats, GET /_records?group=G, POST /_reset\n");
}

static long arg_long(const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) {
        usage();
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    int port = 0, threads = 2, opt, tls_port = 0;
    const char *cert = NULL, *key = NULL;
    long cap = 2000000;
    while ((opt = getopt(argc, argv, "p:t:n:d:s:c:k:N:h")) != -1) {
        switch (opt) {
        case 'p':
            port = (int)arg_long(optarg, 1, 65535);
            break;
        case 't':
            threads = (int)arg_long(optarg, 1, 64);
            break;
        case 'n':
            cap = arg_long(optarg, 1, 100000000);
            break;
        case 'd':
            slow_delay_us = arg_long(optarg, 0, 600000) * 1000;
            break;
        case 's':
            tls_port = (int)arg_long(optarg, 1, 65535);
            break;
        case 'c':
            cert = optarg;
            break;
        case 'k':
            key = optarg;
            break;
        case 'N':
            tls_nice = (int)arg_long(optarg, 0, 19);
            break;
        default:
            usage();
            return 2;
        }
    }
    if (!port || (tls_port && (!cert || !key))) {
        usage();
        return 2;
    }
    rec_cap = (size_t)cap;
    recs = calloc(rec_cap, sizeof(*recs));
    if (!recs) {
        fprintf(stderr, "sink: cannot allocate %zu records\n", rec_cap);
        return 1;
    }
    /* Touch the pages now so the first burst does not pay for faults. */
    memset(recs, 0, rec_cap * sizeof(*recs));

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q_cond, &ca);
    pthread_t dt;
    if (pthread_create(&dt, NULL, delay_thread, NULL) != 0) {
        fprintf(stderr, "sink: cannot start the delay thread\n");
        return 1;
    }

    /* Signals are taken by sigwait below, not by the server threads. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    resp_empty = MHD_create_response_from_buffer(0, (void *)"",
                                                 MHD_RESPMEM_PERSISTENT);
    resp_close = MHD_create_response_from_buffer(0, (void *)"",
                                                 MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp_close, MHD_HTTP_HEADER_CONNECTION, "close");
    if (tls_port && !tls_start(tls_port, cert, key))
        return 1;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
            MHD_ALLOW_SUSPEND_RESUME,
        (uint16_t)port, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned int)threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)20000, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)120, MHD_OPTION_LISTEN_BACKLOG_SIZE,
        (unsigned int)4096, MHD_OPTION_LISTENING_ADDRESS_REUSE,
        (unsigned int)1, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "sink: cannot listen on 127.0.0.1:%d\n", port);
        return 1;
    }
    int sig;
    sigwait(&sigs, &sig);
    /* Requests may be suspended in the delay queue, which
     * MHD_stop_daemon does not allow: leave without tearing down. */
    fflush(NULL);
    _exit(0);
}
