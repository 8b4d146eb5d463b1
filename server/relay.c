/*
 * relay.c - the HTTP/1.1 relay in front of libmicrohttpd (relay.h). It owns
 * the framing of requests: libmicrohttpd 0.9.75 answers a request it cannot
 * read (a huge line or header, a bad Content-Length, chunk size or version)
 * with an HTML page of its own before any of hookd's code runs, and gives
 * an application no hook there, so every connection's bytes pass through
 * here first and only requests that libmicrohttpd will read as hookd does
 * reach it. What is refused is answered in the JSON error envelope, logged
 * in one access line, and its connection closed.
 *
 * The API's threads are relay threads (epoll, level-triggered,
 * non-blocking sockets), each carrying its share of the connections and
 * driving a libmicrohttpd daemon of its own (hk_relay_server), so that a
 * request is relayed, handled and answered on one thread without a
 * hand-off between threads. A connection is two sockets, the client's and
 * the relay's end of a socketpair (the daemon has the other), and two
 * buffers: what the client sent (the head being read, then body bytes
 * found sound, waiting to be written to libmicrohttpd) and what
 * libmicrohttpd answered, waiting for the client.
 * Answers are followed just far enough to know where each one ends (status
 * line, Content-Length or chunks, no body for HEAD, 1xx, 204 and 304), so
 * that the next request is read only once the answer before it is
 * relayed. An end closed or broken on either side closes the connection:
 * a half-close by the client is passed on to libmicrohttpd, which closes.
 * The deadline of a request (http.c's watch) acts on libmicrohttpd's end:
 * its 408 comes through here like any answer, then the close.
 */
#include "relay.h"
#include "crypto.h"
#include "log.h"
#include "metrics.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* ---- the request head ---- */

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c != 0 && strchr("!#$%&'*+-.^_`|~", c));
}

static void refuse(struct hk_relay_refusal *why, int status, const char *code,
                   const char *message)
{
    why->status = status;
    why->code = code;
    why->message = message;
}

/* Finds the end of the line starting at buf[from]: the offset of its CR,
 * which a LF follows. -1: not complete yet; -2: a bare CR or LF, or a NUL
 * (RFC 9112 section 2.2 and RFC 9110 section 5.5 let a server refuse
 * them, and libmicrohttpd might read them otherwise), or, in the request
 * line (strict), any other control character. Header values keep the
 * other control characters, as libmicrohttpd always served them: hookd
 * reads the few headers it uses with checks of its own. */
static long line_end(const char *buf, size_t len, size_t from, bool strict)
{
    for (size_t i = from; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c == '\r') {
            if (i + 1 == len)
                return -1;
            return buf[i + 1] == '\n' ? (long)i : -2;
        }
        if (c == '\n' || c == 0 ||
            (strict && ((c < 0x20 && c != '\t') || c == 0x7f)))
            return -2;
    }
    return -1;
}

static void copy_trunc(char *dst, size_t cap, const char *src, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* The request line buf[0..n): method SP target SP HTTP/1.x. */
static bool parse_request_line(const char *buf, size_t n,
                               struct hk_relay_head *head,
                               struct hk_relay_refusal *why, bool *http10)
{
    size_t m = 0;
    while (m < n && is_tchar((unsigned char)buf[m]))
        m++;
    copy_trunc(head->method, sizeof(head->method), buf, m);
    if (m == 0 || m >= n || buf[m] != ' ') {
        refuse(why, 400, "bad_request", "the request line is malformed");
        return false;
    }
    size_t t = m + 1, te = t;
    while (te < n && (unsigned char)buf[te] > 0x20 &&
           (unsigned char)buf[te] < 0x7f)
        te++;
    const char *q = memchr(buf + t, '?', te - t);
    copy_trunc(head->path, sizeof(head->path), buf + t,
               (size_t)((q != NULL ? q : buf + te) - (buf + t)));
    if (te == t || te >= n || buf[te] != ' ') {
        refuse(why, 400, "bad_request", "the request line is malformed");
        return false;
    }
    const char *v = buf + te + 1;
    size_t vn = n - te - 1;
    if (vn != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' ||
        v[6] != '.' || v[7] < '0' || v[7] > '9') {
        refuse(why, 400, "bad_request",
               "the request line does not end with an HTTP version");
        return false;
    }
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1')) {
        refuse(why, 505, "version_not_supported",
               "only HTTP/1.0 and HTTP/1.1 are served");
        return false;
    }
    *http10 = v[7] == '0';
    head->is_head = m == 4 && memcmp(buf, "HEAD", 4) == 0;
    return true;
}

/* What the header fields say about the body, gathered line by line. */
struct framing {
    bool has_length, lengths_differ, length_overflow, length_bad;
    uint64_t length;
    int encodings;
    bool encoding_other; /* a Transfer-Encoding that is not "chunked" */
};

/* Trims optional white space around a field value. */
static void trim_ows(const char **v, size_t *n)
{
    while (*n > 0 && (**v == ' ' || **v == '\t')) {
        (*v)++;
        (*n)--;
    }
    while (*n > 0 && ((*v)[*n - 1] == ' ' || (*v)[*n - 1] == '\t'))
        (*n)--;
}

static void note_length(struct framing *f, const char *v, size_t n)
{
    uint64_t x = 0;
    bool overflow = false;
    if (n == 0)
        f->length_bad = true;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') {
            f->length_bad = true;
            return;
        }
        unsigned d = (unsigned)(v[i] - '0');
        if (x > (UINT64_MAX - d) / 10)
            overflow = true;
        else
            x = x * 10 + d;
    }
    if (overflow) {
        f->length_overflow = true;
        return;
    }
    if (f->has_length && f->length != x)
        f->lengths_differ = true;
    f->has_length = true;
    f->length = x;
}

/* One header field line buf[0..n): name ":" OWS value OWS, the name a
 * token right up to the colon (RFC 9112 section 5: no space before it,
 * no line folding). False when malformed. */
static bool parse_field(const char *buf, size_t n, struct framing *f)
{
    size_t k = 0;
    while (k < n && is_tchar((unsigned char)buf[k]))
        k++;
    if (k == 0 || k >= n || buf[k] != ':')
        return false;
    const char *v = buf + k + 1;
    size_t vn = n - k - 1;
    trim_ows(&v, &vn);
    if (f == NULL)
        return true;
    if (k == 14 && strncasecmp(buf, "Content-Length", 14) == 0) {
        note_length(f, v, vn);
    } else if (k == 17 && strncasecmp(buf, "Transfer-Encoding", 17) == 0) {
        f->encodings++;
        if (vn != 7 || strncasecmp(v, "chunked", 7) != 0)
            f->encoding_other = true;
    }
    return true;
}

/* The body's framing by RFC 9112 section 6; false with *why when hookd
 * cannot be sure where the body ends. The order of the checks is the one
 * docs/limits.md gives. */
static bool decide_body(const struct framing *f, bool http10,
                        struct hk_relay_head *head,
                        struct hk_relay_refusal *why)
{
    if (f->length_bad) {
        refuse(why, 400, "bad_request", "Content-Length is not a number");
    } else if (f->length_overflow) {
        refuse(why, 413, "payload_too_large",
               "Content-Length is beyond any body hookd takes");
    } else if (f->lengths_differ) {
        refuse(why, 400, "bad_request",
               "the request has Content-Length headers that differ");
    } else if (f->encodings > 0 && f->has_length) {
        refuse(why, 400, "bad_request",
               "the request has both Transfer-Encoding and Content-Length");
    } else if (f->encodings > 1 || f->encoding_other) {
        refuse(why, 501, "not_implemented",
               "Transfer-Encoding may only be chunked");
    } else if (f->encodings == 1 && http10) {
        refuse(why, 400, "bad_request",
               "an HTTP/1.0 request cannot have a Transfer-Encoding");
    } else {
        if (f->encodings == 1)
            head->body = HK_RELAY_CHUNKED;
        else if (f->has_length && f->length > 0)
            head->body = HK_RELAY_LENGTH;
        head->length = f->length;
        return true;
    }
    return false;
}

enum hk_relay_verdict hk_relay_parse_head(const char *buf, size_t len,
                                          struct hk_relay_head *head,
                                          struct hk_relay_refusal *why)
{
    memset(head, 0, sizeof(*head));
    memset(why, 0, sizeof(*why));
    size_t p = 0;
    /* empty lines before the request line are skipped (RFC 9112 2.2) */
    while (p + 1 < len && buf[p] == '\r' && buf[p + 1] == '\n' &&
           p < HK_RELAY_LINE_MAX)
        p += 2;
    long e = line_end(buf, len, p, true);
    if (e == -2 || (e >= 0 && (size_t)e == p)) {
        refuse(why, 400, "bad_request", "the request line is malformed");
        return HK_RELAY_REFUSE;
    }
    size_t line = e >= 0 ? (size_t)e - p : len - p;
    if (line > HK_RELAY_LINE_MAX) {
        /* what can be read of it, for the log */
        struct hk_relay_refusal ignored;
        bool http10;
        (void)parse_request_line(buf + p, HK_RELAY_LINE_MAX, head, &ignored,
                                 &http10);
        refuse(why, 414, "uri_too_long",
               "the request line is longer than hookd reads");
        return HK_RELAY_REFUSE;
    }
    if (e < 0)
        return HK_RELAY_MORE;
    bool http10 = false;
    if (!parse_request_line(buf + p, line, head, why, &http10))
        return HK_RELAY_REFUSE;
    struct framing f = {0};
    int fields = 0;
    size_t q = (size_t)e + 2;
    for (;;) {
        e = line_end(buf, len, q, false);
        if (e == -2) {
            refuse(why, 400, "bad_request", "a header line is malformed");
            return HK_RELAY_REFUSE;
        }
        if (e < 0) {
            if (len >= HK_RELAY_HEAD_MAX)
                break;
            return HK_RELAY_MORE;
        }
        if ((size_t)e + 2 > HK_RELAY_HEAD_MAX)
            break;
        if ((size_t)e == q) {
            if (!decide_body(&f, http10, head, why))
                return HK_RELAY_REFUSE;
            head->len = q + 2;
            return HK_RELAY_DONE;
        }
        if (++fields > HK_RELAY_HEADERS_MAX) {
            refuse(why, 431, "headers_too_large",
                   "a request may have at most 100 header fields");
            return HK_RELAY_REFUSE;
        }
        if (!parse_field(buf + q, (size_t)e - q, &f)) {
            refuse(why, 400, "bad_request", "a header line is malformed");
            return HK_RELAY_REFUSE;
        }
        q = (size_t)e + 2;
    }
    refuse(why, 431, "headers_too_large",
           "the request's headers are larger than hookd reads");
    return HK_RELAY_REFUSE;
}

/* ---- chunked bodies ---- */

enum {
    CH_SIZE = 0, /* hex digits of a chunk size */
    CH_SIZE_LF,  /* the LF after a size line's CR */
    CH_DATA,
    CH_DATA_CR, /* the CRLF after a chunk's data */
    CH_DATA_LF,
    CH_TRAILER, /* the start of a trailer line, or the final CRLF */
    CH_FIELD,   /* inside a trailer field */
    CH_FIELD_LF,
    CH_END_LF,
};

void hk_relay_chunks_init(struct hk_relay_chunks *c)
{
    memset(c, 0, sizeof(*c));
}

static int hex_value(unsigned char ch)
{
    static const char digits[] = "0123456789abcdef";
    const char *d = ch != 0 ? strchr(digits, tolower(ch)) : NULL;
    return d != NULL ? (int)(d - digits) : -1;
}

/* The one byte a state takes (a CR or LF of the framing): moves to next,
 * or false when ch is another. */
static bool expect_byte(struct hk_relay_chunks *c, unsigned char ch,
                        unsigned char want, int next)
{
    if (ch != want)
        return false;
    c->state = next;
    return true;
}

enum hk_relay_verdict hk_relay_chunks_feed(struct hk_relay_chunks *c,
                                           const char *buf, size_t len,
                                           size_t *used,
                                           struct hk_relay_refusal *why)
{
    size_t i = 0;
    while (i < len) {
        unsigned char ch = (unsigned char)buf[i];
        switch (c->state) {
        case CH_SIZE: {
            int v = hex_value(ch);
            if (v >= 0 && c->digits < HK_RELAY_CHUNK_DIGITS_MAX) {
                c->left = c->left * 16 + (unsigned)v;
                c->digits++;
            } else if (ch == '\r' && c->digits > 0) {
                c->state = CH_SIZE_LF;
            } else {
                *used = i;
                refuse(why, 400, "bad_request",
                       "a chunk size of the body is malformed");
                return HK_RELAY_REFUSE;
            }
            i++;
            break;
        }
        case CH_SIZE_LF:
            if (!expect_byte(c, ch, '\n', c->left == 0 ? CH_TRAILER : CH_DATA))
                goto malformed;
            i++;
            break;
        case CH_DATA: {
            size_t n = len - i;
            if ((uint64_t)n > c->left)
                n = (size_t)c->left;
            c->left -= n;
            i += n;
            if (c->left == 0)
                c->state = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
        case CH_DATA_LF:
            if (!expect_byte(c, ch, c->state == CH_DATA_CR ? '\r' : '\n',
                             c->state == CH_DATA_CR ? CH_DATA_LF : CH_SIZE))
                goto malformed;
            c->digits = 0;
            i++;
            break;
        case CH_TRAILER:
            if (ch == '\r') {
                c->state = CH_END_LF;
            } else if (is_tchar(ch)) {
                c->state = CH_FIELD;
                c->digits = 0; /* here: whether the colon was seen */
            } else {
                goto malformed;
            }
            i++;
            break;
        case CH_FIELD:
            if (ch == '\r' && c->digits > 0) {
                c->state = CH_FIELD_LF;
            } else if (ch == ':') {
                c->digits = 1;
            } else if ((ch < 0x20 && ch != '\t') || ch == 0x7f ||
                       (c->digits == 0 && !is_tchar(ch))) {
                goto malformed;
            }
            i++;
            break;
        case CH_FIELD_LF:
            if (!expect_byte(c, ch, '\n', CH_TRAILER))
                goto malformed;
            i++;
            break;
        case CH_END_LF:
            if (ch != '\n')
                goto malformed;
            *used = i + 1;
            return HK_RELAY_DONE;
        default:
            goto malformed;
        }
        if (c->state >= CH_TRAILER && ++c->trailer > HK_RELAY_TRAILER_MAX)
            goto malformed;
    }
    *used = len;
    return HK_RELAY_MORE;
malformed:
    *used = i;
    refuse(why, 400, "bad_request", "the chunked body is malformed");
    return HK_RELAY_REFUSE;
}

/* ---- answers ---- */

bool hk_relay_parse_answer(const char *buf, size_t len,
                           struct hk_relay_answer *out)
{
    memset(out, 0, sizeof(*out));
    if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ')
        return false;
    int st = 0;
    for (size_t i = 9; i < 12; i++) {
        if (buf[i] < '0' || buf[i] > '9')
            return false;
        st = st * 10 + (buf[i] - '0');
    }
    out->status = st;
    const char *p = memchr(buf, '\n', len);
    const char *end = buf + len;
    while (p != NULL && p + 1 < end) {
        const char *ln = p + 1;
        const char *nl = memchr(ln, '\n', (size_t)(end - ln));
        if (nl == NULL)
            break;
        size_t n = (size_t)(nl - ln);
        if (n > 0 && ln[n - 1] == '\r')
            n--;
        const char *colon = memchr(ln, ':', n);
        if (colon != NULL) {
            size_t k = (size_t)(colon - ln);
            const char *v = colon + 1;
            size_t vn = n - k - 1;
            trim_ows(&v, &vn);
            if (k == 14 && strncasecmp(ln, "Content-Length", 14) == 0) {
                struct framing f = {0};
                note_length(&f, v, vn);
                if (f.length_bad || f.length_overflow)
                    return false;
                out->has_length = true;
                out->length = f.length;
            } else if (k == 17 &&
                       strncasecmp(ln, "Transfer-Encoding", 17) == 0) {
                if (vn != 7 || strncasecmp(v, "chunked", 7) != 0)
                    return false;
                out->chunked = true;
            }
        }
        p = nl;
    }
    return true;
}

static const char *reason_of(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 408:
        return "Request Timeout";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Error";
    }
}

void hk_relay_render_closing(int status, const char *json,
                             const char *request_id, struct hk_buf *out)
{
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    hk_buf_printf(out,
                  "HTTP/1.1 %d %s\r\n"
                  "Date: %s\r\n"
                  "Connection: close\r\n"
                  "Content-Type: application/json\r\n"
                  "Content-Length: %zu\r\n"
                  "X-Request-Id: %s\r\n\r\n%s",
                  status, reason_of(status), date, strlen(json), request_id,
                  json);
}

/* ---- connections ---- */

/* What the client sent and the relay has not yet written to
 * libmicrohttpd: the head being read must fit, with room for the body
 * bytes of the request before it still waiting to be written. */
#define IN_CAP (HK_RELAY_HEAD_MAX + 4096)
#define OUT_CAP (16 * 1024)
/* The largest answer head libmicrohttpd writes that is followed; a
 * longer one is relayed to the end of the connection. */
#define ANSWER_HEAD_MAX 4096
/* How long a connection whose libmicrohttpd end is closed may take to
 * hand the client the rest of its answer, and how long a refused client
 * has to read its answer while what it still sends is read and dropped
 * (closing on unread bytes would reset the connection and could lose
 * the answer). */
#define FLUSH_MS 10000
#define LINGER_MS 2000
/* How often each thread looks for connections past those deadlines. */
#define SWEEP_MS 500

enum req_phase { RQ_HEAD, RQ_LENGTH, RQ_CHUNKED };
enum ans_phase { AN_HEAD, AN_LENGTH, AN_CHUNKED, AN_TO_CLOSE };

struct relay_thread;
struct relay_conn;

/* What an epoll event points at: one end of a connection. */
struct relay_end {
    struct relay_conn *c;
    int fd;
    uint32_t events; /* registered interest */
};

struct relay_conn {
    struct relay_thread *t;
    struct relay_end client, mhd;
    int mhd_peer; /* libmicrohttpd's end, for the refusal notice */
    /* client -> libmicrohttpd: in[0..ok) is sound and waits to be
     * written, in[ok..in_len) is not read yet */
    char in[IN_CAP];
    size_t in_len, ok;
    enum req_phase rq;
    uint64_t body_left;
    struct hk_relay_chunks chunks;
    bool owed;    /* a request was forwarded and its answer is not in */
    bool is_head; /* that request is a HEAD */
    char method[16], path[256];
    /* libmicrohttpd -> client */
    char out[OUT_CAP];
    size_t out_len, out_off;
    enum ans_phase an;
    char ahead[ANSWER_HEAD_MAX];
    size_t ahead_len;
    uint64_t ans_left;
    struct hk_relay_chunks ans_chunks;
    char *tail; /* the relay's own refusal, sent after out */
    size_t tail_len, tail_off;
    /* how it ends */
    bool client_eof;  /* the client has half-closed */
    bool mhd_shut;    /* that was passed on to libmicrohttpd */
    bool mhd_deaf;    /* libmicrohttpd reads no more: what the client
                         sends is dropped, its answer is still read */
    bool mhd_gone;    /* libmicrohttpd's side is closed or broken */
    bool lingering;   /* answered and shut: reading and dropping */
    int64_t deadline; /* for the flush or the linger; 0: none */
    bool dead;        /* closed; freed after the current event batch */
    struct relay_conn *prev, *next;
};

/* A server end waiting to be given to the thread's server. */
struct relay_add {
    int fd;
    struct sockaddr_storage addr;
    socklen_t len;
    struct relay_add *next;
};

struct relay_thread {
    struct hk_relay *r;
    pthread_t id;
    bool started;
    int epfd;
    int wake; /* eventfd: new connections, the stop */
    void *srv; /* the thread's server; NULL once closed */
    int srv_fd;
    bool kick; /* bytes went to the server: run it before waiting */
    pthread_mutex_t mu; /* the lists; taken by hk_relay_add too */
    struct relay_conn *conns;
    struct relay_add *adds; /* newest first */
    struct relay_conn *dead; /* closed during the current event batch */
};

struct hk_relay {
    int nthreads;
    struct relay_thread *threads;
    struct hk_relay_server server;
    atomic_uint next;
    atomic_bool stopping;
    atomic_llong stop_by; /* monotonic ms */
    hk_relay_refused_fn refused;
    void *ctx;
};

/* Sets what an end waits for. An end that waits for nothing is taken out
 * of the epoll set: epoll reports a hang-up whatever was asked, and an end
 * whose peer has closed while its bytes cannot be taken yet (the buffer
 * toward the client is full) would be reported again and again. */
static void set_interest(struct relay_conn *c, struct relay_end *e,
                         uint32_t want)
{
    if (e->fd < 0 || e->events == want)
        return;
    struct epoll_event ev = {.events = want, .data.ptr = e};
    int op = e->events == 0 ? EPOLL_CTL_ADD
             : want == 0    ? EPOLL_CTL_DEL
                            : EPOLL_CTL_MOD;
    (void)epoll_ctl(c->t->epfd, op, e->fd, &ev);
    e->events = want;
}

static void close_end(struct relay_conn *c, struct relay_end *e)
{
    if (e->fd < 0)
        return;
    if (e->events != 0)
        (void)epoll_ctl(c->t->epfd, EPOLL_CTL_DEL, e->fd, NULL);
    close(e->fd);
    e->fd = -1;
    e->events = 0;
}

static void unlink_conn(struct relay_conn *c)
{
    struct relay_thread *t = c->t;
    pthread_mutex_lock(&t->mu);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        t->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    pthread_mutex_unlock(&t->mu);
}

static void destroy_conn(struct relay_conn *c)
{
    close_end(c, &c->client);
    close_end(c, &c->mhd);
    free(c->tail);
    free(c);
}

/* Closes c; it is freed after the event batch, which may still hold
 * events that point at it. */
static void free_conn(struct relay_conn *c)
{
    close_end(c, &c->client);
    close_end(c, &c->mhd);
    unlink_conn(c);
    c->dead = true;
    c->next = c->t->dead;
    c->t->dead = c;
}

/* libmicrohttpd's side is done: nothing more is read from it or written
 * to it; what the client is owed is still sent. */
static void mhd_done(struct relay_conn *c)
{
    c->mhd_gone = true;
    close_end(c, &c->mhd);
    c->ok = 0;
    c->in_len = 0;
    if (c->deadline == 0)
        c->deadline = hk_mono_ms() + FLUSH_MS;
}

/* Answers the request being read with the refusal, logs it, and closes
 * the connection once the answers before it and this one are sent. When
 * libmicrohttpd has already begun answering the request, its answer is
 * cut instead: nothing can be appended to half an answer. */
static void refuse_request(struct relay_conn *c, const char *method,
                           const char *path,
                           const struct hk_relay_refusal *why)
{
    char tok[25], id[32];
    hk_random_public_token(tok, 24);
    snprintf(id, sizeof(id), "req_%s", tok);
    /* an interim answer (100 Continue) may have gone: a final one may
     * still follow it */
    bool started = c->an != AN_HEAD || c->ahead_len > 0;
    if (!started) {
        json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", why->code,
                              "message", why->message);
        char *text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        struct hk_buf b;
        hk_buf_init(&b);
        hk_relay_render_closing(why->status, text != NULL ? text : "{}", id,
                                &b);
        free(text);
        c->tail_len = b.len;
        c->tail = hk_buf_steal(&b);
    }
    char status[8];
    snprintf(status, sizeof(status), "%d", why->status);
    hk_metrics_request("unmatched", method, why->status, 0);
    if (*method != '\0')
        hk_log(HK_LOG_INFO, "request", "method", method, "route", "unmatched",
               "path", path, "status", status, "duration_ms", "0",
               "request_id", id, "error", why->message, (const char *)NULL);
    else
        hk_log(HK_LOG_INFO, "request", "route", "unmatched", "status",
               status, "duration_ms", "0", "request_id", id, "error",
               why->message, (const char *)NULL);
    /* libmicrohttpd is reading this request's body: it must not log the
     * request a second time when its end closes */
    if (c->owed && !started && c->t->r->refused != NULL)
        c->t->r->refused(c->t->r->ctx, c->mhd_peer);
    /* an answer still coming from libmicrohttpd is not waited for */
    mhd_done(c);
}

/* Reads what can be read of the requests in c->in, one at a time: the
 * next head only when the answer to the one before it is in whole. */
static void advance_requests(struct relay_conn *c)
{
    while (!c->mhd_gone && !c->mhd_deaf) {
        size_t avail = c->in_len - c->ok;
        if (c->rq == RQ_HEAD) {
            if (c->owed || avail == 0)
                return;
            struct hk_relay_head head;
            struct hk_relay_refusal why;
            enum hk_relay_verdict v =
                hk_relay_parse_head(c->in + c->ok, avail, &head, &why);
            if (v == HK_RELAY_MORE)
                return;
            if (v == HK_RELAY_REFUSE) {
                refuse_request(c, head.method, head.path, &why);
                return;
            }
            c->ok += head.len;
            c->owed = true;
            c->is_head = head.is_head;
            memcpy(c->method, head.method, sizeof(c->method));
            memcpy(c->path, head.path, sizeof(c->path));
            if (head.body == HK_RELAY_LENGTH) {
                c->rq = RQ_LENGTH;
                c->body_left = head.length;
            } else if (head.body == HK_RELAY_CHUNKED) {
                c->rq = RQ_CHUNKED;
                hk_relay_chunks_init(&c->chunks);
            }
        } else if (c->rq == RQ_LENGTH) {
            size_t n = avail;
            if ((uint64_t)n > c->body_left)
                n = (size_t)c->body_left;
            c->ok += n;
            c->body_left -= n;
            if (c->body_left > 0)
                return;
            c->rq = RQ_HEAD;
        } else {
            size_t used = 0;
            struct hk_relay_refusal why;
            enum hk_relay_verdict v = hk_relay_chunks_feed(
                &c->chunks, c->in + c->ok, avail, &used, &why);
            c->ok += used;
            if (v == HK_RELAY_MORE)
                return;
            if (v == HK_RELAY_REFUSE) {
                refuse_request(c, c->method, c->path, &why);
                return;
            }
            c->rq = RQ_HEAD;
        }
    }
}

/* The owed answer is relayed whole: the next request may be read. */
static void answer_done(struct relay_conn *c)
{
    c->an = AN_HEAD;
    c->ahead_len = 0;
    if (!c->owed)
        return;
    c->owed = false;
    advance_requests(c);
}

/* Follows the answer bytes data[0..n) just read from libmicrohttpd. */
static void follow_answers(struct relay_conn *c, const char *data, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (c->an == AN_HEAD) {
            while (i < n && c->ahead_len < ANSWER_HEAD_MAX) {
                c->ahead[c->ahead_len++] = data[i++];
                if (c->ahead_len >= 4 &&
                    memcmp(c->ahead + c->ahead_len - 4, "\r\n\r\n", 4) == 0)
                    break;
            }
            if (c->ahead_len >= 4 &&
                memcmp(c->ahead + c->ahead_len - 4, "\r\n\r\n", 4) == 0) {
                struct hk_relay_answer a;
                if (!hk_relay_parse_answer(c->ahead, c->ahead_len, &a)) {
                    c->an = AN_TO_CLOSE;
                } else if (a.status >= 100 && a.status < 200 &&
                           a.status != 101) {
                    c->ahead_len = 0; /* an interim answer: the final one
                                         follows */
                } else if (a.status == 101) {
                    c->an = AN_TO_CLOSE;
                } else if (c->is_head || a.status == 204 ||
                           a.status == 304) {
                    answer_done(c);
                } else if (a.chunked) {
                    c->an = AN_CHUNKED;
                    hk_relay_chunks_init(&c->ans_chunks);
                } else if (a.has_length) {
                    c->ans_left = a.length;
                    c->an = AN_LENGTH;
                    if (a.length == 0)
                        answer_done(c);
                } else {
                    c->an = AN_TO_CLOSE;
                }
            } else if (c->ahead_len >= ANSWER_HEAD_MAX) {
                c->an = AN_TO_CLOSE;
            }
        } else if (c->an == AN_LENGTH) {
            size_t k = n - i;
            if ((uint64_t)k > c->ans_left)
                k = (size_t)c->ans_left;
            c->ans_left -= k;
            i += k;
            if (c->ans_left == 0)
                answer_done(c);
        } else if (c->an == AN_CHUNKED) {
            size_t used = 0;
            struct hk_relay_refusal why;
            enum hk_relay_verdict v = hk_relay_chunks_feed(
                &c->ans_chunks, data + i, n - i, &used, &why);
            i += used;
            if (v == HK_RELAY_DONE)
                answer_done(c);
            else if (v == HK_RELAY_REFUSE)
                c->an = AN_TO_CLOSE;
        } else {
            i = n;
        }
    }
}

static void read_client(struct relay_conn *c)
{
    if (c->lingering) {
        char drop[4096];
        ssize_t r = recv(c->client.fd, drop, sizeof(drop), 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            close_end(c, &c->client);
        return;
    }
    if (c->in_len == IN_CAP || c->client_eof)
        return;
    ssize_t r = recv(c->client.fd, c->in + c->in_len, IN_CAP - c->in_len, 0);
    if (r > 0 && c->mhd_deaf) {
        c->in_len = 0;
    } else if (r > 0) {
        c->in_len += (size_t)r;
        advance_requests(c);
    } else if (r == 0) {
        c->client_eof = true;
    } else if (errno != EAGAIN && errno != EINTR) {
        close_end(c, &c->client);
    }
}

static void read_mhd(struct relay_conn *c)
{
    if (c->mhd_gone || c->out_len == OUT_CAP)
        return;
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len == OUT_CAP)
        return;
    ssize_t r = recv(c->mhd.fd, c->out + c->out_len, OUT_CAP - c->out_len,
                     0);
    if (r > 0) {
        c->out_len += (size_t)r;
        follow_answers(c, c->out + c->out_len - r, (size_t)r);
    } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        /* with unread bytes left on its end, libmicrohttpd's close
         * shows as ECONNRESET after the last of its answer: the same */
        mhd_done(c);
    }
}

/* Writes what is pending on both sides. */
static void flush(struct relay_conn *c)
{
    while (!c->mhd_gone && !c->mhd_deaf && c->ok > 0) {
        ssize_t w = send(c->mhd.fd, c->in, c->ok, MSG_NOSIGNAL);
        if (w < 0) {
            /* libmicrohttpd has closed its end, most often right after
             * an early answer (a 413 before the whole body): that answer
             * may still wait unread on this end, so the end stays open
             * for reading until its close shows there */
            if (errno != EAGAIN && errno != EINTR) {
                c->mhd_deaf = true;
                c->ok = c->in_len = 0;
            }
            break;
        }
        memmove(c->in, c->in + w, c->in_len - (size_t)w);
        c->in_len -= (size_t)w;
        c->ok -= (size_t)w;
        c->t->kick = true;
    }
    if (!c->mhd_gone && !c->mhd_deaf && c->client_eof && !c->mhd_shut &&
        c->ok == 0) {
        shutdown(c->mhd.fd, SHUT_WR);
        c->mhd_shut = true;
        c->t->kick = true;
    }
    while (c->client.fd >= 0 && !c->lingering) {
        const char *p;
        size_t n;
        if (c->out_off < c->out_len) {
            p = c->out + c->out_off;
            n = c->out_len - c->out_off;
        } else if (c->tail != NULL && c->tail_off < c->tail_len) {
            p = c->tail + c->tail_off;
            n = c->tail_len - c->tail_off;
        } else {
            break;
        }
        ssize_t w = send(c->client.fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno != EAGAIN && errno != EINTR)
                close_end(c, &c->client);
            break;
        }
        if (c->out_off < c->out_len)
            c->out_off += (size_t)w;
        else
            c->tail_off += (size_t)w;
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
}

static bool out_pending(const struct relay_conn *c)
{
    return c->out_off < c->out_len ||
           (c->tail != NULL && c->tail_off < c->tail_len);
}

/* After any progress: closes what is finished, frees the connection when
 * both ends are closed, and sets what each end waits for. */
static void settle(struct relay_conn *c)
{
    if (c->client.fd < 0 && !c->mhd_gone)
        mhd_done(c);
    if (c->mhd_gone && c->client.fd >= 0 && !c->lingering &&
        !out_pending(c)) {
        /* all is sent: shut our side and drop what the client still
         * sends for a moment, so that the close does not reset the
         * answer away */
        shutdown(c->client.fd, SHUT_WR);
        if (c->client_eof || atomic_load(&c->t->r->stopping)) {
            close_end(c, &c->client);
        } else {
            c->lingering = true;
            c->deadline = hk_mono_ms() + LINGER_MS;
        }
    }
    if (c->client.fd < 0) {
        free_conn(c);
        return;
    }
    uint32_t cw = 0;
    if (c->lingering || (!c->client_eof && c->in_len < IN_CAP &&
                         !c->mhd_gone))
        cw |= EPOLLIN; /* while mhd_deaf, to drop what the client sends */
    if (!c->lingering && out_pending(c))
        cw |= EPOLLOUT;
    set_interest(c, &c->client, cw);
    if (!c->mhd_gone) {
        uint32_t mw = 0;
        if (c->out_len < OUT_CAP)
            mw |= EPOLLIN;
        if (c->ok > 0 && !c->mhd_deaf)
            mw |= EPOLLOUT;
        set_interest(c, &c->mhd, mw);
    }
}

static void on_event(struct relay_end *e, uint32_t events)
{
    struct relay_conn *c = e->c;
    if (c->dead)
        return;
    bool readable = (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0;
    if (e == &c->client && readable)
        read_client(c);
    else if (e == &c->mhd && readable)
        read_mhd(c);
    if (c->client.fd >= 0)
        flush(c);
    settle(c);
}

/* Closes the connections past their flush or linger deadline, or all of
 * them once the stop's grace is over. */
static void sweep(struct relay_thread *t, bool all)
{
    int64_t now = hk_mono_ms();
    pthread_mutex_lock(&t->mu);
    struct relay_conn *due = NULL;
    for (struct relay_conn *c = t->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (all || (c->deadline != 0 && now >= c->deadline)) {
            /* moved to a list of their own: free_conn takes mu */
            if (c->prev != NULL)
                c->prev->next = c->next;
            else
                t->conns = c->next;
            if (c->next != NULL)
                c->next->prev = c->prev;
            c->prev = NULL;
            c->next = due;
            due = c;
        }
    }
    pthread_mutex_unlock(&t->mu);
    while (due != NULL) {
        struct relay_conn *c = due;
        due = c->next;
        destroy_conn(c);
    }
}

/* Gives the server the ends queued by hk_relay_add; once the server is
 * closed, closes them instead, and the relay then ends their clients. */
static void take_adds(struct relay_thread *t)
{
    pthread_mutex_lock(&t->mu);
    struct relay_add *a = t->adds;
    t->adds = NULL;
    pthread_mutex_unlock(&t->mu);
    /* oldest first, in the order they were accepted */
    struct relay_add *order = NULL;
    while (a != NULL) {
        struct relay_add *next = a->next;
        a->next = order;
        order = a;
        a = next;
    }
    while (order != NULL) {
        a = order;
        order = a->next;
        if (t->srv != NULL)
            t->r->server.add(t->srv, a->fd, (struct sockaddr *)&a->addr,
                             a->len);
        else
            close(a->fd);
        free(a);
    }
    t->kick = true;
}

static void close_server(struct relay_thread *t)
{
    if (t->srv == NULL)
        return;
    if (t->srv_fd >= 0)
        (void)epoll_ctl(t->epfd, EPOLL_CTL_DEL, t->srv_fd, NULL);
    t->r->server.close(t->srv);
    t->srv = NULL;
    t->srv_fd = -1;
    take_adds(t);
}

/* The thread's loop: waits for its connections' ends, its server's
 * descriptor and its wake-up, relays what they have, then runs the
 * server when bytes went to it, it has work, or its deadline is due. A
 * request's answer written by the server is read in the next turn, which
 * finds it at once. */
static void *relay_loop(void *arg)
{
    struct relay_thread *t = arg;
    struct hk_relay *r = t->r;
    struct epoll_event evs[64];
    int64_t next_sweep = hk_mono_ms() + SWEEP_MS;
    for (;;) {
        int wait_ms = SWEEP_MS;
        if (t->srv != NULL) {
            int64_t due = r->server.timeout(t->srv);
            if (due >= 0 && due < wait_ms)
                wait_ms = (int)due;
        }
        int n = epoll_wait(t->epfd, evs, 64, wait_ms);
        bool run = n == 0 || wait_ms == 0;
        /* new connections first: a client's bytes must not reach its
         * server end before the server has it (hk_relay_add) */
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &t->wake) {
                uint64_t v;
                (void)read(t->wake, &v, sizeof(v));
                take_adds(t);
            } else if (p == &t->srv_fd) {
                run = true;
            }
        }
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p != &t->wake && p != &t->srv_fd)
                on_event(p, evs[i].events);
        }
        if (t->kick) {
            t->kick = false;
            run = true;
        }
        if (run && t->srv != NULL)
            r->server.run(t->srv);
        while (t->dead != NULL) {
            struct relay_conn *c = t->dead;
            t->dead = c->next;
            free(c->tail);
            free(c);
        }
        int64_t now = hk_mono_ms();
        if (atomic_load(&r->stopping)) {
            /* the server's ends close now; their answers still go out */
            close_server(t);
            pthread_mutex_lock(&t->mu);
            bool empty = t->conns == NULL;
            pthread_mutex_unlock(&t->mu);
            if (empty || now >= atomic_load(&r->stop_by)) {
                sweep(t, true);
                return NULL;
            }
        }
        if (now >= next_sweep) {
            sweep(t, false);
            next_sweep = now + SWEEP_MS;
        }
    }
}

bool hk_relay_add(struct hk_relay *r, int client_fd,
                  const struct sockaddr *addr, socklen_t len)
{
    int sv[2];
    if (len > sizeof(struct sockaddr_storage) ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                   sv) != 0) {
        hk_log_warn("cannot relay a connection", "error", strerror(errno));
        close(client_fd);
        return false;
    }
    unsigned k = atomic_fetch_add(&r->next, 1) % (unsigned)r->nthreads;
    struct relay_thread *t = &r->threads[k];
    struct relay_conn *c = hk_calloc(1, sizeof(*c));
    c->t = t;
    c->client = (struct relay_end){c, client_fd, 0};
    c->mhd = (struct relay_end){c, sv[0], 0};
    c->mhd_peer = sv[1];
    /* The thread gives sv[1] to its server (a server is only ever used by
     * its own thread). It is queued and the thread woken before either of
     * c's ends can be seen, so the thread takes it before any of c's
     * events; from here the thread owns sv[1]. */
    struct relay_add *a = hk_calloc(1, sizeof(*a));
    a->fd = sv[1];
    memcpy(&a->addr, addr, len);
    a->len = len;
    pthread_mutex_lock(&t->mu);
    c->next = t->conns;
    if (c->next != NULL)
        c->next->prev = c;
    t->conns = c;
    a->next = t->adds;
    t->adds = a;
    pthread_mutex_unlock(&t->mu);
    uint64_t one = 1;
    (void)write(t->wake, &one, sizeof(one));
    struct epoll_event em = {.events = EPOLLIN, .data.ptr = &c->mhd};
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &c->client};
    bool ok = epoll_ctl(t->epfd, EPOLL_CTL_ADD, sv[0], &em) == 0;
    if (ok)
        c->mhd.events = EPOLLIN;
    /* set before the thread can see the end: it reads this field */
    c->client.events = EPOLLIN;
    ok = ok && epoll_ctl(t->epfd, EPOLL_CTL_ADD, client_fd, &ev) == 0;
    if (!ok) {
        /* the server sees its end close and ends the connection */
        hk_log_warn("cannot relay a connection", "error", strerror(errno));
        c->client.events = 0;
        unlink_conn(c);
        destroy_conn(c);
        return false;
    }
    return true;
}

struct hk_relay *hk_relay_start(int threads,
                                const struct hk_relay_server *server,
                                hk_relay_refused_fn refused, void *ctx)
{
    struct hk_relay *r = hk_calloc(1, sizeof(*r));
    r->server = *server;
    r->refused = refused;
    r->ctx = ctx;
    atomic_init(&r->next, 0);
    atomic_init(&r->stopping, false);
    atomic_init(&r->stop_by, 0);
    r->threads = hk_calloc((size_t)threads, sizeof(*r->threads));
    for (int i = 0; i < threads; i++) {
        struct relay_thread *t = &r->threads[i];
        t->r = r;
        t->srv_fd = -1;
        t->epfd = epoll_create1(EPOLL_CLOEXEC);
        t->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        pthread_mutex_init(&t->mu, NULL);
        r->nthreads = i + 1;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &t->wake};
        if (t->epfd < 0 || t->wake < 0 ||
            epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->wake, &ev) != 0) {
            hk_log_error("cannot start the relay", "error", strerror(errno));
            hk_relay_stop(r, 0);
            return NULL;
        }
        t->srv = server->open(ctx, i);
        if (t->srv == NULL) {
            hk_relay_stop(r, 0);
            return NULL;
        }
        t->srv_fd = server->fd(t->srv);
        struct epoll_event es = {.events = EPOLLIN, .data.ptr = &t->srv_fd};
        if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->srv_fd, &es) != 0 ||
            pthread_create(&t->id, NULL, relay_loop, t) != 0) {
            hk_log_error("cannot start the relay", "error", strerror(errno));
            hk_relay_stop(r, 0);
            return NULL;
        }
        t->started = true;
    }
    return r;
}

void hk_relay_stop(struct hk_relay *r, int64_t grace_ms)
{
    if (r == NULL)
        return;
    atomic_store(&r->stop_by, (long long)(hk_mono_ms() + grace_ms));
    atomic_store(&r->stopping, true);
    for (int i = 0; i < r->nthreads; i++) {
        struct relay_thread *t = &r->threads[i];
        if (t->wake >= 0) {
            uint64_t one = 1;
            (void)write(t->wake, &one, sizeof(one));
        }
    }
    for (int i = 0; i < r->nthreads; i++) {
        struct relay_thread *t = &r->threads[i];
        if (t->started) {
            pthread_join(t->id, NULL);
        } else {
            close_server(t);
            sweep(t, true);
        }
        if (t->epfd >= 0)
            close(t->epfd);
        if (t->wake >= 0)
            close(t->wake);
        pthread_mutex_destroy(&t->mu);
    }
    free(r->threads);
    free(r);
}
