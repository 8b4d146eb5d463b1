/*
 * deliver.c - the outbound HTTP engine: a few send threads, each driving its
 * own curl multi handle, carry every webhook request of a dispatcher. The
 * caller hands jobs over and takes finished ones back on its own thread
 * (hk_deliver_add, poll, collect); which send thread carries a job is decided
 * by the receiver's scheme, host and port (its route), so that a host's
 * keep-alive connections live in one multi handle's cache and its per-host
 * connection cap holds. Routes whose recent attempts keep opening new TLS
 * connections (receivers that close after every answer) are moved to send
 * threads of their own, so that the milliseconds of CPU each handshake costs
 * never stall the deliveries of receivers that keep their connections alive
 * (docs/tls.md). Each job gets an easy handle from its thread's free list, is
 * signed on that thread with the current Unix second, and is POSTed over
 * HTTP/1.1 without redirects, proxies or Expect: 100-continue. A
 * connect-time guard checks the address curl actually connects to, after
 * DNS, and refuses inward ones unless private targets are allowed. HTTPS
 * connections verify the receiver's chain and host name against the
 * process's one shared store of trusted CAs (trust.c), installed into each
 * connection's TLS context, so that curl never parses a CA bundle itself;
 * TLS sessions are kept in curl share handles, so that a new connection to a
 * host can resume a session an earlier one made. The outcome keeps the
 * status, the response headers as a JSON object (16 KiB cap), the first
 * 4 KiB of the body as valid UTF-8, timing, the Retry-After of a 429/503 and
 * a human error text. Deciding what an outcome means (success, retry,
 * disable) and storing it is the dispatcher's business.
 */
#include "deliver.h"
#include "log.h"
#include "netguard.h"
#include "retry.h"
#include "sign.h"
#include "trust.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Idle easy handles kept for reuse; beyond this they are cleaned up. */
#define FREE_LIST_MAX 256
/* Response headers kept per attempt: total bytes of names and values, and
 * count. Past either cap further headers are dropped, the transfer goes on. */
#define RESP_HEADER_BYTES_CAP (16 * 1024)
#define RESP_HEADER_COUNT_CAP 100
#define CONNECT_TIMEOUT_MAX_MS 10000
#define DEFAULT_TIMEOUT_MS 15000

/* Send threads when the caller does not say, and the most it may ask for. */
#define DEFAULT_THREADS 2
#define MAX_THREADS 64
/* TLS session caches per send thread. libcurl keeps 8 sessions in a share
 * handle and offers no setting to keep more, so each thread spreads its
 * routes over this many share handles: up to 32 times as many receivers
 * resume their sessions instead of verifying the whole chain again. */
#define SHARES_PER_THREAD 32

/* How a route is judged from its recent attempts (see route_judge). */
#define ROUTE_WINDOW 64        /* attempts remembered */
#define ROUTE_MIN_SEEN 16      /* attempts needed before a route moves */
#define ROUTE_BURST_SLACK 8    /* handshakes beyond its peak concurrency */
/* Routes unused this long, with nothing in flight, are forgotten. */
#define ROUTE_IDLE_MS (10 * 60 * 1000)
#define ROUTE_SWEEP_MS (60 * 1000)
/* How much lower the isolated send threads' priority is (nice). */
#define ISOLATED_NICE 10

struct sender;

/* Per-transfer state, bound for life to one easy handle of one sender. */
struct xfer {
    struct sender *s;
    CURL *easy;
    struct hk_job *job;
    struct curl_slist *req_headers;
    int64_t start_mono;
    struct xfer *prev, *next; /* active list, or free list (next only) */

    /* Response headers of the final response as "name\0value\0" pairs,
     * names lower-cased. */
    struct hk_buf hdrs;
    int nhdrs;
    bool last_kept; /* the previous header line was stored (for folding) */

    size_t body_len;
    bool truncated;
    char body[HK_RESPONSE_BODY_CAP];

    char errbuf[CURL_ERROR_SIZE];
    char guard_msg[192]; /* why the address guard refused, or "" */
};

/* One send thread: its multi handle (and so its connection cache), its TLS
 * session caches and its transfers are its own; only the inbox is shared,
 * with the thread that adds jobs. */
struct sender {
    struct hk_deliver *d;
    pthread_t thread;
    bool isolated; /* carries receivers that keep opening connections */
    CURLM *multi;
    CURLSH *shares[SHARES_PER_THREAD];

    pthread_mutex_t mu; /* guards inbox and stop */
    struct hk_job **inbox;
    size_t ninbox, capinbox;
    bool stop;

    /* The send thread's own, unlocked. */
    struct xfer *free_list;
    size_t nfree;
    struct xfer *active;
    struct hk_buf scratch; /* header lines and JSON being built */
};

/* A receiver as connections see it ("https://host:port", the port when the
 * URL names one), and which send
 * thread carries its jobs. Kept and judged by the caller's thread only. */
struct route {
    struct route *next; /* hash chain */
    uint64_t hash;
    char *key;
    size_t sender;
    size_t in_flight;  /* its jobs added and not yet collected */
    size_t peak;       /* most in flight at once since it came to sender */
    uint64_t recent;   /* bit i: the attempt i collects ago opened TLS */
    unsigned seen;     /* attempts collected since it came to sender */
    unsigned handshakes; /* of those, how many opened a TLS connection */
    int64_t last_used_ms;
};

struct hk_deliver {
    struct hk_deliver_opts opts;
    int64_t connect_timeout_ms;
    struct sender *senders;
    size_t nsenders;
    /* Senders [0, nisolated) carry the routes that keep opening TLS
     * connections; the others carry the rest. 0 with one sender. */
    size_t nisolated;

    /* Finished jobs from every sender, waiting for collect: a queue in an
     * array. wake_fd (an eventfd) becomes readable when the queue stops
     * being empty and on hk_deliver_wakeup. */
    pthread_mutex_t done_mu;
    struct hk_job **done;
    size_t done_head, done_len, done_cap;
    int wake_fd;

    /* The caller's thread only. */
    size_t in_flight; /* added and not yet collected */
    struct route **routes;
    size_t nroutes, route_buckets;
    int64_t last_sweep_ms;
    struct hk_buf key; /* the route key being looked up */
};

/* ---- text helpers ---------------------------------------------------- */

static const char REPLACEMENT_CHAR[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* Length (1-4) of the well-formed UTF-8 sequence at s, or 0 when it is
 * ill-formed: then *bad is the length of its maximal ill-formed subpart (one
 * U+FFFD replaces it, as the Unicode standard recommends) and *incomplete says
 * the input ended inside an otherwise valid sequence. s[0] >= 0x80. */
static size_t utf8_next(const unsigned char *s, size_t n, size_t *bad,
                        bool *incomplete)
{
    unsigned c = s[0];
    unsigned lo = 0x80, hi = 0xBF;
    size_t need;

    *incomplete = false;
    if (c >= 0xC2 && c <= 0xDF)
        need = 1;
    else if (c == 0xE0) {
        need = 2;
        lo = 0xA0;
    } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF)
        need = 2;
    else if (c == 0xED) {
        need = 2;
        hi = 0x9F; /* no UTF-16 surrogates */
    } else if (c == 0xF0) {
        need = 3;
        lo = 0x90;
    } else if (c >= 0xF1 && c <= 0xF3)
        need = 3;
    else if (c == 0xF4) {
        need = 3;
        hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        *bad = 1;
        return 0;
    }
    for (size_t i = 1; i <= need; i++) {
        if (i >= n) {
            *incomplete = true;
            *bad = i;
            return 0;
        }
        if (s[i] < lo || s[i] > hi) {
            *bad = i;
            return 0;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    return need + 1;
}

/* Appends n bytes of s to b as valid UTF-8 without NULs: every ill-formed
 * sequence and every NUL becomes U+FFFD (a NUL would cut the text short in
 * C and in PostgreSQL). With json, the text is also escaped for the inside
 * of a JSON string. With cut_tail, a sequence left incomplete by the end of
 * the input (a character split by truncation) is dropped, not replaced. */
static void append_text(struct hk_buf *b, const char *s, size_t n, bool json,
                        bool cut_tail)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0;

    while (i < n) {
        unsigned c = p[i];
        if (c >= 0x80) {
            size_t bad;
            bool incomplete;
            size_t len = utf8_next(p + i, n - i, &bad, &incomplete);
            if (len) {
                i += len;
                continue;
            }
            hk_buf_append(b, p + run, i - run);
            if (!(incomplete && cut_tail))
                hk_buf_append(b, REPLACEMENT_CHAR, 3);
            i += bad;
            run = i;
            continue;
        }
        if (c == 0) {
            hk_buf_append(b, p + run, i - run);
            hk_buf_append(b, REPLACEMENT_CHAR, 3);
            run = ++i;
            continue;
        }
        if (json && (c < 0x20 || c == '"' || c == '\\')) {
            char esc[8];
            int elen = 2;
            hk_buf_append(b, p + run, i - run);
            esc[0] = '\\';
            switch (c) {
            case '"':
                esc[1] = '"';
                break;
            case '\\':
                esc[1] = '\\';
                break;
            case '\n':
                esc[1] = 'n';
                break;
            case '\r':
                esc[1] = 'r';
                break;
            case '\t':
                esc[1] = 't';
                break;
            case '\b':
                esc[1] = 'b';
                break;
            case '\f':
                esc[1] = 'f';
                break;
            default:
                elen = snprintf(esc, sizeof(esc), "\\u%04x", c);
                break;
            }
            hk_buf_append(b, esc, (size_t)elen);
            run = ++i;
            continue;
        }
        i++;
    }
    hk_buf_append(b, p + run, n - run);
}

/* Appends "name":"value" (with a leading comma unless first) to a JSON
 * object being built in b. */
static void json_member(struct hk_buf *b, const char *name, size_t nlen,
                        const char *value, size_t vlen)
{
    if (b->len > 1)
        hk_buf_append(b, ",", 1);
    hk_buf_append(b, "\"", 1);
    append_text(b, name, nlen, true, false);
    hk_buf_append(b, "\":\"", 3);
    append_text(b, value, vlen, true, false);
    hk_buf_append(b, "\"", 1);
}

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool is_token_char(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return true;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* The last line of defence for an endpoint's extra headers (the API already
 * validated them): a name that is not an HTTP token, a value with a line
 * break, or a name that would override what hookd itself sends or how the
 * request is framed, is not sent. */
static bool extra_header_ok(const struct hk_header *h)
{
    static const char *const reserved[] = {
        "content-type",     "content-length",
        "user-agent",       "host",
        "expect",           "transfer-encoding",
        "connection",       "te",
        "upgrade",          "keep-alive",
        "trailer",          "proxy-authorization",
        "proxy-connection",
    };
    if (!h->name || !h->value || !h->name[0])
        return false;
    for (const char *p = h->name; *p; p++)
        if (!is_token_char((unsigned char)*p))
            return false;
    if (strpbrk(h->value, "\r\n"))
        return false;
    if (strncasecmp(h->name, "webhook-", 8) == 0)
        return false;
    for (size_t i = 0; i < HK_ARRAY_LEN(reserved); i++)
        if (strcasecmp(h->name, reserved[i]) == 0)
            return false;
    return true;
}

static struct curl_slist *slist_add(struct curl_slist *list, const char *line)
{
    struct curl_slist *l = curl_slist_append(list, line);
    if (!l) {
        hk_log_error("out of memory", "where", "curl_slist_append");
        abort();
    }
    return l;
}

/* ---- job ------------------------------------------------------------- */

static void outcome_clear(struct hk_outcome *o)
{
    free(o->error);
    free(o->request_headers);
    free(o->response_headers);
    free(o->response_body);
    memset(o, 0, sizeof(*o));
    o->retry_after_ms = -1;
}

int64_t hk_trace_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct hk_job *hk_job_new(void)
{
    struct hk_job *job = hk_calloc(1, sizeof(*job));
    job->out.retry_after_ms = -1;
    job->trace.made_us = hk_trace_now_us();
    return job;
}

static void free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

void hk_job_free(struct hk_job *job)
{
    if (!job)
        return;
    free(job->url);
    for (size_t i = 0; i < job->nheaders; i++) {
        free(job->headers[i].name);
        free(job->headers[i].value);
    }
    free(job->headers);
    free(job->body);
    free_secret(job->secret);
    free_secret(job->prev_secret);
    outcome_clear(&job->out);
    free(job);
}

/* ---- curl callbacks -------------------------------------------------- */

/* Keeps the first HK_RESPONSE_BODY_CAP bytes and notes that more came; the
 * rest is read and dropped so the connection stays reusable. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
    size_t room = HK_RESPONSE_BODY_CAP - x->body_len;
    size_t take = n < room ? n : room;

    if (take) {
        memcpy(x->body + x->body_len, data, take);
        x->body_len += take;
    }
    if (n > take)
        x->truncated = true;
    return n;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Collects the final response's header lines. A status line starts over, so
 * headers of an interim 1xx response are not mixed in. */
static size_t on_header(char *data, size_t size, size_t nitems, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nitems;
    size_t len = n;

    while (len && (data[len - 1] == '\r' || data[len - 1] == '\n'))
        len--;
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        hk_buf_reset(&x->hdrs);
        x->nhdrs = 0;
        x->last_kept = false;
        return n;
    }
    if (len == 0)
        return n;

    if (data[0] == ' ' || data[0] == '\t') {
        /* obsolete line folding: continues the previous value */
        size_t s = 0;
        while (s < len && is_ws(data[s]))
            s++;
        if (!x->last_kept || s == len)
            return n;
        if (x->hdrs.len + 1 + (len - s) > RESP_HEADER_BYTES_CAP) {
            x->last_kept = false;
            return n;
        }
        x->hdrs.len--; /* reopen the value: drop its NUL */
        hk_buf_append(&x->hdrs, " ", 1);
        hk_buf_append(&x->hdrs, data + s, len - s);
        hk_buf_append(&x->hdrs, "", 1);
        return n;
    }

    x->last_kept = false;
    const char *colon = memchr(data, ':', len);
    if (!colon || colon == data)
        return n;
    size_t nlen = (size_t)(colon - data);
    while (nlen && is_ws(data[nlen - 1]))
        nlen--;
    const char *v = colon + 1;
    size_t vlen = len - (size_t)(v - data);
    while (vlen && is_ws(*v)) {
        v++;
        vlen--;
    }
    while (vlen && is_ws(v[vlen - 1]))
        vlen--;
    if (nlen == 0 || x->nhdrs >= RESP_HEADER_COUNT_CAP ||
        x->hdrs.len + nlen + vlen + 2 > RESP_HEADER_BYTES_CAP)
        return n;

    size_t at = x->hdrs.len;
    hk_buf_append(&x->hdrs, data, nlen);
    for (size_t i = at; i < at + nlen; i++)
        x->hdrs.data[i] = ascii_lower(x->hdrs.data[i]);
    hk_buf_append(&x->hdrs, "", 1);
    hk_buf_append(&x->hdrs, v, vlen);
    hk_buf_append(&x->hdrs, "", 1);
    x->nhdrs++;
    x->last_kept = true;
    return n;
}

/* Opens every socket curl connects with, so that the address is checked
 * after DNS resolution and on each address tried: a name that resolves (or
 * re-resolves) to an inward address cannot slip through. */
static curl_socket_t on_open_socket(void *ud, curlsocktype purpose,
                                    struct curl_sockaddr *addr)
{
    struct xfer *x = ud;
    (void)purpose;

    if (!x->s->d->opts.allow_private) {
        enum hk_addr_class c =
            hk_netguard_classify(&addr->addr, (socklen_t)addr->addrlen);
        if (c != HK_ADDR_PUBLIC) {
            struct sockaddr_storage ss;
            char ip[INET6_ADDRSTRLEN] = "?";
            size_t alen =
                addr->addrlen < sizeof(ss) ? addr->addrlen : sizeof(ss);
            memset(&ss, 0, sizeof(ss));
            memcpy(&ss, &addr->addr, alen);
            if (ss.ss_family == AF_INET)
                inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip,
                          sizeof(ip));
            else if (ss.ss_family == AF_INET6)
                inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
                          ip, sizeof(ip));
            if (!x->guard_msg[0])
                snprintf(x->guard_msg, sizeof(x->guard_msg),
                         "refused to connect to %s: %s address (set "
                         "HOOKD_ALLOW_PRIVATE_TARGETS=1 to allow)",
                         ip, hk_netguard_class_name(c));
            return CURL_SOCKET_BAD;
        }
    }
    return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

/* Gives each new TLS connection the shared store of trusted CAs: curl is
 * told to load no CA file or directory of its own (on Debian it would
 * parse the whole system bundle again for every connection), and to keep
 * no cached store, which it would otherwise put in place of this one.
 *
 * OpenSSL's read-ahead, which would read a record's header and body in
 * one call instead of two, stays off: libcurl 7.88 asks SSL_pending
 * whether more of an answer is buffered, which does not count records
 * read ahead, so an answer that came as several records at once would
 * wait for the socket until the request timed out (docs/tls.md,
 * "Keep-alive HTTPS against HTTP"; test_tls.c checks such a receiver). */
static CURLcode on_ssl_ctx(CURL *easy, void *ssl_ctx, void *ud)
{
    (void)easy;
    (void)ud;
    return hk_trust_install(ssl_ctx) ? CURLE_OK : CURLE_SSL_CACERT_BADFILE;
}

/* ---- transfers ------------------------------------------------------- */

static struct xfer *xfer_new(struct sender *s)
{
    const struct hk_deliver *d = s->d;
    struct xfer *x = hk_calloc(1, sizeof(*x));
    CURL *e = curl_easy_init();
    if (!e) {
        hk_log_error("out of memory", "where", "curl_easy_init");
        abort();
    }
    x->s = s;
    x->easy = e;
    hk_buf_init(&x->hdrs);

    /* What stays the same for every request of this sender. */
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)d->opts.timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)d->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 15L);
    /* No proxy, not even one named by http_proxy/https_proxy/ALL_PROXY in
     * the environment: through a proxy, the address guard would only see
     * the proxy's address, and the proxy would reach inward for us. */
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, x);
    curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
    curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(e, CURLOPT_CA_CACHE_TIMEOUT, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
    return x;
}

static void xfer_destroy(struct xfer *x)
{
    curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->req_headers);
    hk_buf_cleanup(&x->hdrs);
    free(x);
}

static struct xfer *xfer_get(struct sender *s)
{
    struct xfer *x = s->free_list;
    if (x) {
        s->free_list = x->next;
        s->nfree--;
    } else {
        x = xfer_new(s);
    }
    x->prev = x->next = NULL;
    x->job = NULL;
    x->req_headers = NULL;
    hk_buf_reset(&x->hdrs);
    x->nhdrs = 0;
    x->last_kept = false;
    x->body_len = 0;
    x->truncated = false;
    x->errbuf[0] = '\0';
    x->guard_msg[0] = '\0';
    return x;
}

/* Returns a transfer that is no longer in the multi handle to the free
 * list (or frees it when the list is full). */
static void xfer_put(struct sender *s, struct xfer *x)
{
    curl_slist_free_all(x->req_headers);
    x->req_headers = NULL;
    x->job = NULL;
    if (s->nfree >= FREE_LIST_MAX) {
        xfer_destroy(x);
        return;
    }
    x->next = s->free_list;
    s->free_list = x;
    s->nfree++;
}

static void active_link(struct sender *s, struct xfer *x)
{
    x->prev = NULL;
    x->next = s->active;
    if (s->active)
        s->active->prev = x;
    s->active = x;
}

static void active_unlink(struct sender *s, struct xfer *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        s->active = x->next;
    if (x->next)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
}

/* Makes a sleeping hk_deliver_poll return; any thread. */
static void signal_wake(struct hk_deliver *d)
{
    uint64_t one = 1;
    /* A full counter (never, in practice) is as awake as it gets. */
    if (write(d->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        hk_log_warn("cannot wake the dispatcher", "error", strerror(errno));
}

/* The route a job was added on (hk_deliver_add sets it). */
static const struct route *job_route(const struct hk_job *job)
{
    return job->priv_;
}

/* Queues a finished job for collect; any thread. True when the queue was
 * empty: the caller then wakes the dispatcher (signal_wake), once it has
 * queued all it has, so that a poll checks the queue before it sleeps
 * and a job queued behind others needs no signal. */
static bool done_queue(struct hk_deliver *d, struct hk_job *job)
{
    job->trace.answered_us = hk_trace_now_us();
    pthread_mutex_lock(&d->done_mu);
    bool was_empty = d->done_head == d->done_len;
    if (d->done_len == d->done_cap) {
        if (d->done_head > 0) {
            memmove(d->done, d->done + d->done_head,
                    (d->done_len - d->done_head) * sizeof(*d->done));
            d->done_len -= d->done_head;
            d->done_head = 0;
        }
        if (d->done_len == d->done_cap) {
            d->done_cap = d->done_cap ? d->done_cap * 2 : 64;
            d->done = hk_realloc(d->done, d->done_cap * sizeof(*d->done));
        }
    }
    d->done[d->done_len++] = job;
    pthread_mutex_unlock(&d->done_mu);
    return was_empty;
}

/* Ends a job that never reached the network. */
static void fail_now(struct hk_deliver *d, struct hk_job *job, const char *why)
{
    job->out.duration_ms = 0;
    job->out.status_code = 0;
    job->out.error = hk_strdup(why);
    if (!job->out.request_headers)
        job->out.request_headers = hk_strdup("{}");
    if (done_queue(d, job))
        signal_wake(d);
}

/* Adds one request header line and its JSON member (value shown as
 * shown_value, which differs only for redacted headers). */
static void add_header(struct sender *s, struct xfer *x,
                       struct hk_buf *json, const char *name, const char *value,
                       const char *shown_value)
{
    struct hk_buf *line = &s->scratch;
    size_t nlen = strlen(name), vlen = strlen(value);

    hk_buf_reset(line);
    hk_buf_append(line, name, nlen);
    if (vlen) {
        hk_buf_append(line, ": ", 2);
        hk_buf_append(line, value, vlen);
    } else {
        /* "Name;" is curl's way to send a header with an empty value */
        hk_buf_append(line, ";", 1);
    }
    x->req_headers = slist_add(x->req_headers, line->data);
    json_member(json, name, nlen, shown_value, strlen(shown_value));
}

/* Signs job and starts its transfer on sender s's multi handle, or ends it
 * at once when it cannot be sent. Send thread only. */
static void start_job(struct sender *s, struct hk_job *job)
{
    struct hk_deliver *d = s->d;
    outcome_clear(&job->out);
    job->out.started_at_ms = hk_now_ms();
    job->trace.started_us = hk_trace_now_us();

    int64_t ts = job->out.started_at_ms / 1000;
    const char *body = job->body ? job->body : "";
    size_t body_len = job->body ? job->body_len : 0;

    char *sig = job->secret
                    ? hk_sign(job->secret, job->event_id, ts, body, body_len)
                    : NULL;
    if (!sig) {
        fail_now(d, job,
                 "the endpoint signing secret is malformed; nothing was sent");
        return;
    }
    char *sig_prev = NULL;
    if (job->prev_secret) {
        sig_prev = hk_sign(job->prev_secret, job->event_id, ts, body, body_len);
        if (!sig_prev)
            hk_log_warn("previous signing secret is malformed, signing with "
                        "the current one only",
                        "endpoint_id", job->endpoint_id);
    }

    struct xfer *x = xfer_get(s);
    x->job = job;

    struct hk_buf json;
    char tsbuf[24];
    hk_buf_init(&json);
    hk_buf_append(&json, "{", 1);
    snprintf(tsbuf, sizeof(tsbuf), "%lld", (long long)ts);
    if (sig_prev) {
        char *both = hk_asprintf("%s %s", sig, sig_prev);
        free(sig);
        free(sig_prev);
        sig = both;
    }

    add_header(s, x, &json, "Content-Type", "application/json",
               "application/json");
    add_header(s, x, &json, "User-Agent", "hookd/" HK_VERSION,
               "hookd/" HK_VERSION);
    add_header(s, x, &json, "webhook-id", job->event_id, job->event_id);
    add_header(s, x, &json, "webhook-timestamp", tsbuf, tsbuf);
    add_header(s, x, &json, "webhook-signature", sig, sig);
    free(sig);
    for (size_t i = 0; i < job->nheaders; i++) {
        const struct hk_header *h = &job->headers[i];
        if (!extra_header_ok(h)) {
            hk_log_warn("extra header not sent", "endpoint_id",
                        job->endpoint_id, "header", h->name ? h->name : "");
            continue;
        }
        bool secret = strcasecmp(h->name, "authorization") == 0;
        add_header(s, x, &json, h->name, h->value,
                   secret ? "[redacted]" : h->value);
    }
    /* Remove the headers curl would add on its own: the receiver gets
     * exactly the documented set (plus Host and Content-Length). */
    x->req_headers = slist_add(x->req_headers, "Expect:");
    x->req_headers = slist_add(x->req_headers, "Accept:");
    hk_buf_append(&json, "}", 1);
    job->out.request_headers = hk_buf_steal(&json);

    CURL *e = x->easy;
    curl_easy_setopt(e, CURLOPT_URL, job->url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->req_headers);
    /* The route's hash picks the session cache, so that one receiver's
     * sessions are always in the same one. */
    curl_easy_setopt(e, CURLOPT_SHARE,
                     s->shares[job_route(job)->hash % SHARES_PER_THREAD]);

    x->start_mono = hk_mono_ms();
    CURLMcode mc = curl_multi_add_handle(s->multi, e);
    if (mc != CURLM_OK) {
        xfer_put(s, x);
        fail_now(d, job, curl_multi_strerror(mc));
        return;
    }
    active_link(s, x);
}

/* Human text for a failed transfer. status is the response code when a
 * response had started before the failure, else 0. */
static char *error_text(const struct hk_deliver *d, struct xfer *x, CURLcode rc,
                        long status, int duration_ms)
{
    const char *detail = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
    char ip[64] = "";
    char *ipp = NULL;
    long port = 0;

    if (curl_easy_getinfo(x->easy, CURLINFO_PRIMARY_IP, &ipp) == CURLE_OK &&
        ipp)
        snprintf(ip, sizeof(ip), "%s", ipp);
    curl_easy_getinfo(x->easy, CURLINFO_PRIMARY_PORT, &port);

    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        if (status > 0)
            return hk_asprintf("timeout after %lld ms while reading the "
                               "response (status %ld)",
                               (long long)d->opts.timeout_ms, status);
        if (d->connect_timeout_ms < d->opts.timeout_ms &&
            duration_ms < d->opts.timeout_ms - 100) {
            curl_off_t ct = 0;
            curl_easy_getinfo(x->easy, CURLINFO_CONNECT_TIME_T, &ct);
            if (ct == 0)
                return hk_asprintf("connect timeout after %lld ms",
                                   (long long)d->connect_timeout_ms);
        }
        return hk_asprintf("timeout after %lld ms",
                           (long long)d->opts.timeout_ms);
    case CURLE_COULDNT_CONNECT: {
        if (x->guard_msg[0])
            return hk_strdup(x->guard_msg);
        long oserr = 0;
        const char *what = NULL;
        curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &oserr);
        switch (oserr) {
        case ECONNREFUSED:
            what = "connection refused";
            break;
        case ENETUNREACH:
            what = "network unreachable";
            break;
        case EHOSTUNREACH:
            what = "host unreachable";
            break;
        case ETIMEDOUT:
            what = "connect timeout";
            break;
        default:
            break;
        }
        if (what && ip[0])
            return hk_asprintf("%s (%s port %ld)", what, ip, port);
        if (what)
            return hk_strdup(what);
        return hk_asprintf("could not connect: %s", detail);
    }
    case CURLE_GOT_NOTHING:
        return hk_strdup("empty reply: the receiver closed the connection "
                         "without answering");
    default:
        break;
    }
    if (status > 0)
        return hk_asprintf("%s (after status %ld)", detail, status);
    return hk_strdup(detail);
}

/* Builds the response headers JSON from the collected pairs, joining the
 * values of a repeated name with ", " in arrival order. */
static char *response_headers_json(struct sender *s, struct xfer *x)
{
    const char *names[RESP_HEADER_COUNT_CAP];
    const char *values[RESP_HEADER_COUNT_CAP];
    int n = 0;
    const char *p = x->hdrs.data;
    const char *end = p ? p + x->hdrs.len : NULL;
    struct hk_buf *b = &s->scratch;

    while (p && p < end && n < x->nhdrs) {
        names[n] = p;
        p += strlen(p) + 1;
        values[n] = p;
        p += strlen(p) + 1;
        n++;
    }
    hk_buf_reset(b);
    hk_buf_append(b, "{", 1);
    for (int i = 0; i < n; i++) {
        bool seen = false;
        for (int j = 0; j < i && !seen; j++)
            seen = strcmp(names[j], names[i]) == 0;
        if (seen)
            continue;
        if (b->len > 1)
            hk_buf_append(b, ",", 1);
        hk_buf_append(b, "\"", 1);
        append_text(b, names[i], strlen(names[i]), true, false);
        hk_buf_append(b, "\":\"", 3);
        append_text(b, values[i], strlen(values[i]), true, false);
        for (int j = i + 1; j < n; j++) {
            if (strcmp(names[j], names[i]) != 0)
                continue;
            hk_buf_append(b, ", ", 2);
            append_text(b, values[j], strlen(values[j]), true, false);
        }
        hk_buf_append(b, "\"", 1);
    }
    hk_buf_append(b, "}", 1);
    return hk_strndup(b->data, b->len);
}

static const char *find_response_header(struct xfer *x, const char *name)
{
    const char *p = x->hdrs.data;
    const char *end = p ? p + x->hdrs.len : NULL;
    for (int i = 0; p && p < end && i < x->nhdrs; i++) {
        const char *v = p + strlen(p) + 1;
        if (strcmp(p, name) == 0)
            return v;
        p = v + strlen(v) + 1;
    }
    return NULL;
}

static int64_t info_us(CURL *easy, CURLINFO what)
{
    curl_off_t v = 0;
    if (curl_easy_getinfo(easy, what, &v) != CURLE_OK || v < 0)
        return 0;
    return (int64_t)v;
}

static int64_t phase(int64_t end, int64_t start)
{
    return end > start ? end - start : 0;
}

/* libcurl reports each phase as time since the start of the transfer, and
 * 0 for a phase that did not happen (a reused connection); the attempt
 * record shows each phase's own length. */
static void fill_timings(CURL *easy, struct hk_outcome *o)
{
    int64_t dns = info_us(easy, CURLINFO_NAMELOOKUP_TIME_T);
    int64_t conn = info_us(easy, CURLINFO_CONNECT_TIME_T);
    int64_t app = info_us(easy, CURLINFO_APPCONNECT_TIME_T);
    int64_t pre = info_us(easy, CURLINFO_PRETRANSFER_TIME_T);
    int64_t first = info_us(easy, CURLINFO_STARTTRANSFER_TIME_T);

    o->timings.dns_us = dns;
    o->timings.connect_us = conn ? phase(conn, dns) : 0;
    o->timings.tls_us = app ? phase(app, conn) : 0;
    o->timings.ttfb_us = first ? phase(first, pre) : 0;
    o->timings.total_us = info_us(easy, CURLINFO_TOTAL_TIME_T);

    char *ip = NULL;
    o->remote_ip[0] = '\0';
    if (curl_easy_getinfo(easy, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip)
        snprintf(o->remote_ip, sizeof(o->remote_ip), "%s", ip);
}

/* Turns a finished transfer into its job's outcome and queues the job;
 * true when the caller must wake the dispatcher (see done_queue). */
static bool finish(struct sender *s, struct xfer *x, CURLcode rc)
{
    struct hk_job *job = x->job;
    struct hk_outcome *o = &job->out;
    long status = 0;
    int64_t dur = hk_mono_ms() - x->start_mono;

    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    o->duration_ms = dur < 0 ? 0 : (dur > INT32_MAX ? INT32_MAX : (int)dur);
    fill_timings(x->easy, o);
    if (rc == CURLE_OK && status > 0) {
        o->status_code = (int)status;
        o->error = NULL;
        o->response_headers = response_headers_json(s, x);
        hk_buf_reset(&s->scratch);
        append_text(&s->scratch, x->body, x->body_len, false, x->truncated);
        o->response_body = hk_strndup(s->scratch.data, s->scratch.len);
        o->truncated = x->truncated;
        if (status == 429 || status == 503) {
            const char *ra = find_response_header(x, "retry-after");
            o->retry_after_ms = ra ? hk_retry_after_parse(ra, hk_now_ms()) : -1;
        }
    } else {
        /* No complete response: whatever partly arrived is not an answer
         * the receiver finished giving. */
        o->status_code = 0;
        o->error = error_text(s->d, x,
                              rc == CURLE_OK ? CURLE_GOT_NOTHING : rc, status,
                              o->duration_ms);
    }

    curl_multi_remove_handle(s->multi, x->easy);
    active_unlink(s, x);
    xfer_put(s, x);
    return done_queue(s->d, job);
}

/* Moves every finished transfer to the done queue, and wakes the
 * dispatcher once for all of them. */
static void harvest(struct sender *s)
{
    CURLMsg *m;
    int left;
    bool wake = false;

    while ((m = curl_multi_info_read(s->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURLcode rc = m->data.result;
        char *priv = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        if (finish(s, (struct xfer *)(void *)priv, rc))
            wake = true;
    }
    if (wake)
        signal_wake(s->d);
}

/* ---- send threads ---------------------------------------------------- */

/* A send thread: starts the jobs handed to it, drives its transfers and
 * queues each finished job for collect, until told to stop. Jobs still in
 * its hands then are left for hk_deliver_free. */
static void *sender_run(void *arg)
{
    struct sender *s = arg;
    struct hk_job **batch = NULL;
    size_t nbatch = 0, capbatch = 0;
    int running = 0;

    /* Where cores are short, the kernel gives them to the keep-alive
     * threads (and the rest of the host) before the handshakes of
     * receivers that keep opening connections. Lowering one's own
     * priority needs no privilege; where it fails, nothing else changes. */
    if (s->isolated) {
        id_t tid = (id_t)gettid();
        errno = 0;
        int nice_now = getpriority(PRIO_PROCESS, tid);
        if (errno == 0 &&
            setpriority(PRIO_PROCESS, tid, nice_now + ISOLATED_NICE) != 0)
            hk_log_warn("cannot lower the priority of a send thread",
                        "error", strerror(errno));
    }

    for (;;) {
        pthread_mutex_lock(&s->mu);
        bool stop = s->stop;
        if (!stop) {
            /* Swap arrays: the caller fills an empty one meanwhile. */
            struct hk_job **t = s->inbox;
            size_t tcap = s->capinbox;
            nbatch = s->ninbox;
            s->inbox = batch;
            s->capinbox = capbatch;
            s->ninbox = 0;
            batch = t;
            capbatch = tcap;
        }
        pthread_mutex_unlock(&s->mu);
        if (stop)
            break;
        for (size_t i = 0; i < nbatch; i++)
            start_job(s, batch[i]);
        nbatch = 0;
        curl_multi_perform(s->multi, &running);
        harvest(s);
        /* hk_deliver_add and hk_deliver_free wake it with
         * curl_multi_wakeup; the timeout only bounds the wait. */
        curl_multi_poll(s->multi, NULL, 0, 1000, NULL);
        curl_multi_perform(s->multi, &running);
        harvest(s);
    }
    free(batch);
    return NULL;
}

static void sender_init(struct sender *s, struct hk_deliver *d)
{
    s->d = d;
    pthread_mutex_init(&s->mu, NULL);
    hk_buf_init(&s->scratch);
    s->multi = curl_multi_init();
    if (!s->multi) {
        hk_log_error("out of memory", "where", "curl_multi_init");
        abort();
    }
    curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, 1024L);
    if (d->opts.max_host_connections > 0)
        curl_multi_setopt(s->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                          (long)d->opts.max_host_connections);
    /* Used by this thread's transfers only, so they need no lock
     * functions. */
    for (size_t i = 0; i < SHARES_PER_THREAD; i++) {
        s->shares[i] = curl_share_init();
        if (!s->shares[i]) {
            hk_log_error("out of memory", "where", "curl_share_init");
            abort();
        }
        curl_share_setopt(s->shares[i], CURLSHOPT_SHARE,
                          CURL_LOCK_DATA_SSL_SESSION);
    }
}

/* Frees what a stopped (or never started) send thread still holds. */
static void sender_cleanup(struct sender *s)
{
    while (s->active) {
        struct xfer *x = s->active;
        active_unlink(s, x);
        curl_multi_remove_handle(s->multi, x->easy);
        hk_job_free(x->job);
        xfer_destroy(x);
    }
    for (size_t i = 0; i < s->ninbox; i++)
        hk_job_free(s->inbox[i]);
    free(s->inbox);
    while (s->free_list) {
        struct xfer *x = s->free_list;
        s->free_list = x->next;
        xfer_destroy(x);
    }
    curl_multi_cleanup(s->multi);
    /* after every easy handle that used them */
    for (size_t i = 0; i < SHARES_PER_THREAD; i++)
        curl_share_cleanup(s->shares[i]);
    hk_buf_cleanup(&s->scratch);
    pthread_mutex_destroy(&s->mu);
}

/* ---- routes ---------------------------------------------------------- */

/* FNV-1a. Colliding keys only share a hash chain, a send thread or a
 * session cache: slower, never wrong. */
static uint64_t hash_text(const char *p, size_t n)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* The part of url that names a connection: scheme, host and port,
 * lower-cased, without user information, path, query or fragment. */
static void route_key(const char *url, struct hk_buf *out)
{
    const char *p = strstr(url, "://");
    const char *host = p ? p + 3 : url;
    size_t n = strcspn(host, "/?#");
    const char *at = memchr(host, '@', n);

    hk_buf_reset(out);
    if (p)
        hk_buf_append(out, url, (size_t)(host - url));
    if (at) {
        n -= (size_t)(at + 1 - host);
        host = at + 1;
    }
    hk_buf_append(out, host, n);
    for (size_t i = 0; i < out->len; i++)
        out->data[i] = ascii_lower(out->data[i]);
}

/* Send thread for a route that has just come or just moved. */
static size_t route_place(const struct hk_deliver *d, const struct route *r,
                          bool isolated)
{
    if (d->nisolated == 0)
        return 0;
    if (isolated)
        return (size_t)(r->hash % d->nisolated);
    return d->nisolated + (size_t)(r->hash % (d->nsenders - d->nisolated));
}

static void routes_grow(struct hk_deliver *d)
{
    size_t nb = d->route_buckets ? d->route_buckets * 2 : 64;
    struct route **t = hk_calloc(nb, sizeof(*t));
    for (size_t i = 0; i < d->route_buckets; i++)
        while (d->routes[i]) {
            struct route *r = d->routes[i];
            d->routes[i] = r->next;
            r->next = t[r->hash % nb];
            t[r->hash % nb] = r;
        }
    free(d->routes);
    d->routes = t;
    d->route_buckets = nb;
}

/* The route of url, made when it is new. */
static struct route *route_find(struct hk_deliver *d, const char *url)
{
    route_key(url ? url : "", &d->key);
    const char *key = d->key.data ? d->key.data : "";
    uint64_t h = hash_text(key, d->key.len);

    if (d->route_buckets) {
        for (struct route *r = d->routes[h % d->route_buckets]; r;
             r = r->next)
            if (r->hash == h && strcmp(r->key, key) == 0)
                return r;
    }
    if (d->nroutes >= d->route_buckets)
        routes_grow(d);
    struct route *r = hk_calloc(1, sizeof(*r));
    r->hash = h;
    r->key = hk_strdup(key);
    r->sender = route_place(d, r, false);
    r->next = d->routes[h % d->route_buckets];
    d->routes[h % d->route_buckets] = r;
    d->nroutes++;
    return r;
}

/* Forgets routes with nothing in flight that were not used for a while, so
 * that the table stays the size of the receivers in use. */
static void routes_sweep(struct hk_deliver *d, int64_t now)
{
    d->last_sweep_ms = now;
    for (size_t i = 0; i < d->route_buckets; i++) {
        struct route **pp = &d->routes[i];
        while (*pp) {
            struct route *r = *pp;
            if (r->in_flight == 0 && now - r->last_used_ms > ROUTE_IDLE_MS) {
                *pp = r->next;
                free(r->key);
                free(r);
                d->nroutes--;
            } else {
                pp = &r->next;
            }
        }
    }
}

static unsigned popcount64(uint64_t v)
{
    unsigned n = 0;
    for (; v; v &= v - 1)
        n++;
    return n;
}

/* Notes a finished attempt of route r and moves the route when its recent
 * attempts say it belongs elsewhere. A receiver that keeps connections
 * alive opens at most as many as it has requests in flight at once, so
 * handshakes beyond that peak (with some slack for idle connections it
 * closed) mean it closes connections: when more than a quarter of its
 * recent attempts opened a TLS connection, it goes to an isolated sender.
 * There it comes back once fewer than one in sixteen of its last
 * ROUTE_WINDOW attempts did. The gap between the two keeps a route from
 * moving back and forth, which would cost a new connection each time. */
static void route_judge(struct hk_deliver *d, struct route *r, bool opened_tls)
{
    r->recent = (r->recent << 1) | (opened_tls ? 1u : 0u);
    if (r->seen < UINT32_MAX)
        r->seen++;
    if (opened_tls && r->handshakes < UINT32_MAX)
        r->handshakes++;
    if (d->nisolated == 0 || r->seen < ROUTE_MIN_SEEN)
        return;

    unsigned window = r->seen < ROUTE_WINDOW ? r->seen : ROUTE_WINDOW;
    uint64_t mask = window == 64 ? UINT64_MAX : ((uint64_t)1 << window) - 1;
    unsigned opened = popcount64(r->recent & mask);
    bool isolated = r->sender < d->nisolated;
    bool move;

    if (!isolated)
        move = r->handshakes > r->peak + ROUTE_BURST_SLACK &&
               opened * 4 > window;
    else
        move = window == ROUTE_WINDOW && opened * 16 < window;
    if (!move)
        return;
    r->sender = route_place(d, r, !isolated);
    r->recent = 0;
    r->seen = 0;
    r->handshakes = 0;
    r->peak = r->in_flight;
    hk_log_info(isolated ? "receiver keeps its connections open again; its "
                           "deliveries share the keep-alive send threads"
                         : "receiver opens a new TLS connection for most "
                           "deliveries; its deliveries move to a send "
                           "thread of their own",
                "receiver", r->key);
}

/* ---- deliverer ------------------------------------------------------- */

struct hk_deliver *hk_deliver_new(const struct hk_deliver_opts *opts)
{
    struct hk_deliver *d = hk_calloc(1, sizeof(*d));

    curl_global_init(CURL_GLOBAL_DEFAULT);
    d->opts = *opts;
    if (d->opts.timeout_ms <= 0)
        d->opts.timeout_ms = DEFAULT_TIMEOUT_MS;
    d->connect_timeout_ms = d->opts.timeout_ms < CONNECT_TIMEOUT_MAX_MS
                                ? d->opts.timeout_ms
                                : CONNECT_TIMEOUT_MAX_MS;
    int n = d->opts.threads > 0 ? d->opts.threads : DEFAULT_THREADS;
    d->nsenders = (size_t)(n < MAX_THREADS ? n : MAX_THREADS);
    /* One sender in four (at least one) for receivers that close their
     * connections: with two, each kind has a thread. */
    d->nisolated = d->nsenders < 2 ? 0
                   : d->nsenders / 4 > 1 ? d->nsenders / 4
                                         : 1;
    d->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (d->wake_fd < 0) {
        hk_log_error("cannot create an eventfd", "error", strerror(errno));
        abort();
    }
    pthread_mutex_init(&d->done_mu, NULL);
    hk_buf_init(&d->key);
    d->last_sweep_ms = hk_mono_ms();
    d->senders = hk_calloc(d->nsenders, sizeof(*d->senders));
    for (size_t i = 0; i < d->nsenders; i++) {
        sender_init(&d->senders[i], d);
        d->senders[i].isolated = i < d->nisolated;
    }
    for (size_t i = 0; i < d->nsenders; i++) {
        int rc = pthread_create(&d->senders[i].thread, NULL, sender_run,
                                &d->senders[i]);
        if (rc != 0) {
            hk_log_error("cannot start a send thread", "error",
                         strerror(rc));
            abort();
        }
    }
    return d;
}

void hk_deliver_free(struct hk_deliver *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->nsenders; i++) {
        struct sender *s = &d->senders[i];
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_mutex_unlock(&s->mu);
        curl_multi_wakeup(s->multi);
    }
    /* Abandoned jobs, in flight or finished and not collected, go too. */
    for (size_t i = 0; i < d->nsenders; i++) {
        pthread_join(d->senders[i].thread, NULL);
        sender_cleanup(&d->senders[i]);
    }
    free(d->senders);
    for (size_t i = d->done_head; i < d->done_len; i++)
        hk_job_free(d->done[i]);
    free(d->done);
    pthread_mutex_destroy(&d->done_mu);
    for (size_t i = 0; i < d->route_buckets; i++)
        while (d->routes[i]) {
            struct route *r = d->routes[i];
            d->routes[i] = r->next;
            free(r->key);
            free(r);
        }
    free(d->routes);
    hk_buf_cleanup(&d->key);
    close(d->wake_fd);
    free(d);
    curl_global_cleanup();
}

void hk_deliver_add(struct hk_deliver *d, struct hk_job *job)
{
    int64_t now = hk_mono_ms();
    if (now - d->last_sweep_ms > ROUTE_SWEEP_MS)
        routes_sweep(d, now);

    struct route *r = route_find(d, job->url);
    r->in_flight++;
    if (r->in_flight > r->peak)
        r->peak = r->in_flight;
    r->last_used_ms = now;
    job->priv_ = r;
    d->in_flight++;
    job->trace.added_us = hk_trace_now_us();

    struct sender *s = &d->senders[r->sender];
    pthread_mutex_lock(&s->mu);
    if (s->ninbox == s->capinbox) {
        s->capinbox = s->capinbox ? 2 * s->capinbox : 64;
        s->inbox = hk_realloc(s->inbox, s->capinbox * sizeof(*s->inbox));
    }
    s->inbox[s->ninbox++] = job;
    bool first = s->ninbox == 1;
    pthread_mutex_unlock(&s->mu);
    /* The thread takes the whole inbox at once: one wake-up per batch. */
    if (first)
        curl_multi_wakeup(s->multi);
}

void hk_deliver_poll(struct hk_deliver *d, int extra_fd, int timeout_ms,
                     bool *extra_ready)
{
    struct pollfd fds[2];
    nfds_t nfds = 1;

    if (extra_ready)
        *extra_ready = false;
    fds[0].fd = d->wake_fd;
    fds[0].events = POLLIN;
    fds[0].revents = 0;
    if (extra_fd >= 0) {
        fds[1].fd = extra_fd;
        fds[1].events = POLLIN;
        fds[1].revents = 0;
        nfds = 2;
    }
    /* Something finished that the caller has not collected: only look at
     * the fds, do not sleep. */
    pthread_mutex_lock(&d->done_mu);
    bool pending = d->done_head < d->done_len;
    pthread_mutex_unlock(&d->done_mu);
    int wait = (pending || timeout_ms < 0) ? 0 : timeout_ms;

    if (poll(fds, nfds, wait) > 0) {
        if (fds[0].revents & POLLIN) {
            uint64_t v;
            if (read(d->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                hk_log_warn("cannot read the dispatcher's wake-up", "error",
                            strerror(errno));
        }
        if (nfds == 2 && (fds[1].revents & POLLIN) && extra_ready)
            *extra_ready = true;
    }
}

/* The debug log's line for one finished attempt: each hand it passed
 * (struct hk_trace), libcurl's phases, and the send thread that carried
 * it, so that an operator can tell a delivery that waited for its claim
 * from one that waited for a send thread or for the receiver. */
static void log_timeline(const struct hk_deliver *d, const struct hk_job *job,
                         const struct route *r)
{
    const struct hk_trace *t = &job->trace;
    const struct hk_timings *p = &job->out.timings;
    char v[12][24];
    int64_t nums[] = {t->claim_began_us, t->made_us,    t->added_us,
                      t->started_us,     t->answered_us, hk_trace_now_us(),
                      p->dns_us,         p->connect_us, p->tls_us,
                      p->ttfb_us,        p->total_us,   (int64_t)r->sender};
    for (size_t i = 0; i < HK_ARRAY_LEN(nums); i++)
        snprintf(v[i], sizeof(v[i]), "%lld", (long long)nums[i]);
    hk_log_debug("attempt timeline", "delivery_id", job->delivery_id,
                 "event_id", job->event_id, "endpoint_id", job->endpoint_id,
                 "claim_began_us", v[0], "claimed_us", v[1], "added_us", v[2],
                 "started_us", v[3], "answered_us", v[4], "collected_us", v[5],
                 "dns_us", v[6], "connect_us", v[7], "tls_us", v[8],
                 "ttfb_us", v[9], "total_us", v[10], "send_thread", v[11],
                 "isolated",
                 d->senders[r->sender].isolated ? "1" : "0");
}

size_t hk_deliver_collect(struct hk_deliver *d, struct hk_job **done,
                          size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&d->done_mu);
    while (n < max && d->done_head < d->done_len)
        done[n++] = d->done[d->done_head++];
    if (d->done_head == d->done_len)
        d->done_head = d->done_len = 0;
    pthread_mutex_unlock(&d->done_mu);

    bool timeline = hk_log_enabled(HK_LOG_DEBUG);
    for (size_t i = 0; i < n; i++) {
        struct route *r = done[i]->priv_;
        done[i]->priv_ = NULL;
        if (timeline)
            log_timeline(d, done[i], r);
        r->in_flight--;
        route_judge(d, r, done[i]->out.timings.tls_us > 0);
    }
    d->in_flight -= n;
    return n;
}

size_t hk_deliver_in_flight(const struct hk_deliver *d)
{
    return d->in_flight;
}

void hk_deliver_wakeup(struct hk_deliver *d)
{
    signal_wake(d);
}
