/*
 * test_http_edge.c - end-to-end tests of the HTTP layer's edges that
 * docs/limits.md promises, over raw sockets: a request whose body framing
 * hookd cannot vouch for (an unknown Transfer-Encoding, Content-Length
 * headers that differ, both Transfer-Encoding and Content-Length) is
 * refused in the error envelope and its connection closed; a client that
 * sends its request too slowly is answered 408 and cut off after
 * HOOKD_CLIENT_TIMEOUT, and logged once; the malformed requests that
 * libmicrohttpd would answer with a page of its own are refused by the
 * relay in the envelope, first on a connection or after a good request,
 * and their connections closed at once; pipelined requests are answered
 * in order. One hookd (serve) with HOOKD_CLIENT_TIMEOUT=2s.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CLIENT_TIMEOUT_MS 2000

static struct hk_srv srv;

static int group_setup(void **state)
{
    (void)state;
    const char *env[] = {"HOOKD_CLIENT_TIMEOUT=2s", NULL};
    return hk_srv_start(&srv, env);
}

static int group_teardown(void **state)
{
    (void)state;
    return hk_srv_finish(&srv);
}

/* What the server sent on one connection, and when it closed it. */
struct exchange {
    char *data; /* NUL-terminated */
    size_t len;
    bool closed;        /* EOF or reset seen */
    int64_t closed_ms;  /* ms from the first byte written to the close */
};

static void exchange_free(struct exchange *x)
{
    free(x->data);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int connect_srv(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)srv.port);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Reads from fd into x until EOF, a reset or timeout_ms from t0. */
static void read_until_close(int fd, struct exchange *x, int64_t t0,
                             int timeout_ms)
{
    for (;;) {
        int64_t left = t0 + timeout_ms - mono_ms();
        if (left <= 0)
            return;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        char buf[65536];
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            x->data = realloc(x->data, x->len + (size_t)n + 1);
            memcpy(x->data + x->len, buf, (size_t)n);
            x->len += (size_t)n;
            x->data[x->len] = '\0';
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        x->closed = true;
        x->closed_ms = mono_ms() - t0;
        return;
    }
}

/* Sends data on a new connection (as much as the server takes) and reads
 * until the server closes it or timeout_ms pass. */
static struct exchange send_raw(const char *data, size_t len, int timeout_ms)
{
    struct exchange x = {0};
    x.data = calloc(1, 1);
    int fd = connect_srv();
    int64_t t0 = mono_ms();
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(fd, data + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break; /* the server answered and closed early */
        off += (size_t)w;
    }
    read_until_close(fd, &x, t0, timeout_ms);
    close(fd);
    return x;
}

static long status_of(const struct exchange *x)
{
    long st = 0;
    if (sscanf(x->data, "HTTP/1.%*c %ld", &st) != 1)
        return 0;
    return st;
}

/* The answer's status is status, its body is the error envelope with
 * code, and the connection was closed within close_ms of the start. */
static void expect_closing_error(const struct exchange *x, const char *what,
                                 long status, const char *code,
                                 int64_t close_ms)
{
    if (status_of(x) != status)
        fail_msg("%s: expected %ld, got: %.300s", what, status, x->data);
    const char *body = strstr(x->data, "\r\n\r\n");
    assert_non_null(body);
    const char *ct = strcasestr(x->data, "\r\nContent-Type: application/json");
    if (ct == NULL || ct > body)
        fail_msg("%s: not a JSON answer: %.300s", what, x->data);
    json_error_t e;
    json_t *j = json_loads(body + 4, 0, &e);
    if (j == NULL)
        fail_msg("%s: the body is not JSON: %.300s", what, body + 4);
    const char *got = json_string_value(json_object_get(
        json_object_get(j, "error"), "code"));
    const char *msg = json_string_value(json_object_get(
        json_object_get(j, "error"), "message"));
    if (got == NULL || strcmp(got, code) != 0 || msg == NULL || !*msg)
        fail_msg("%s: expected error code %s: %s", what, code, body + 4);
    json_decref(j);
    if (!x->closed || x->closed_ms > close_ms)
        fail_msg("%s: the connection was not closed in time (%s after %lld "
                 "ms)",
                 what, x->closed ? "closed" : "still open",
                 (long long)x->closed_ms);
}

/* libmicrohttpd 0.9.75 took a body with an unknown transfer coding to run
 * to the end of the connection (no answer for 60 s), and read the first
 * of two Content-Length headers that differ. Each is refused at once, in
 * the envelope, and the connection closed. */
static void test_framing_refused(void **state)
{
    (void)state;
    const struct {
        const char *what, *headers;
        long status;
        const char *code;
    } cases[] = {
        {"Transfer-Encoding: gzip", "Transfer-Encoding: gzip\r\n", 501,
         "not_implemented"},
        {"Transfer-Encoding: chunked, identity",
         "Transfer-Encoding: chunked, identity\r\n", 501, "not_implemented"},
        {"two Transfer-Encoding headers",
         "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 501,
         "not_implemented"},
        {"two Content-Length headers that differ",
         "Content-Length: 2\r\nContent-Length: 12\r\n", 400, "bad_request"},
        {"Transfer-Encoding and Content-Length",
         "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n", 400,
         "bad_request"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *req = hk_fmt("POST /v1/tenants HTTP/1.1\r\nHost: x\r\n"
                           "Authorization: Bearer %s\r\n"
                           "Content-Type: application/json\r\n%s\r\n{}",
                           srv.admin_key, cases[i].headers);
        struct exchange x = send_raw(req, strlen(req), 5000);
        expect_closing_error(&x, cases[i].what, cases[i].status,
                             cases[i].code, 1500);
        exchange_free(&x);
        free(req);
    }
    /* the same length twice is one length (RFC 9112 section 6.3) */
    char *body = hk_fmt("{\"name\":\"same length\"}");
    char *req = hk_fmt("POST /v1/tenants HTTP/1.1\r\nHost: x\r\n"
                       "Authorization: Bearer %s\r\nConnection: close\r\n"
                       "Content-Type: application/json\r\n"
                       "Content-Length: %zu\r\nContent-Length: %zu\r\n\r\n%s",
                       srv.admin_key, strlen(body), strlen(body), body);
    struct exchange x = send_raw(req, strlen(req), 5000);
    if (status_of(&x) != 201)
        fail_msg("two equal Content-Length headers: %.300s", x.data);
    exchange_free(&x);
    free(req);
    free(body);
    hk_expect_alive(&srv);
}

/* Sends req a byte every gap_ms and reads what comes back, up to
 * timeout_ms. */
static struct exchange trickle(const char *req, int gap_ms, int timeout_ms)
{
    struct exchange x = {0};
    x.data = calloc(1, 1);
    int fd = connect_srv();
    int64_t t0 = mono_ms();
    size_t n = strlen(req);
    for (size_t i = 0; i < n && mono_ms() - t0 < timeout_ms; i++) {
        if (send(fd, req + i, 1, MSG_NOSIGNAL) != 1)
            break;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, gap_ms) > 0)
            break; /* an answer or the close */
    }
    read_until_close(fd, &x, t0, timeout_ms);
    close(fd);
    return x;
}

/* libmicrohttpd's timeout counts idle time only: a client sending a byte
 * every 0.5 s kept its connection for ever. A request's line, headers and
 * body must all arrive within HOOKD_CLIENT_TIMEOUT (2 s here): then 408 in
 * the envelope, and the connection is closed. */
static void test_slow_request_cut(void **state)
{
    (void)state;
    char *headers = hk_fmt("GET /v1/tenants HTTP/1.1\r\nHost: x\r\n"
                           "Authorization: Bearer %s\r\n"
                           "X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
                           "\r\n",
                           srv.admin_key);
    struct exchange x = trickle(headers, 200, 8000);
    expect_closing_error(&x, "headers a byte at a time", 408,
                         "request_timeout", CLIENT_TIMEOUT_MS + 1500);
    if (x.closed_ms < CLIENT_TIMEOUT_MS - 100)
        fail_msg("headers a byte at a time: cut after %lld ms, before "
                 "HOOKD_CLIENT_TIMEOUT",
                 (long long)x.closed_ms);
    exchange_free(&x);
    free(headers);

    /* the headers at once, then the body a byte at a time */
    char *post = hk_fmt("POST /v1/tenants HTTP/1.1\r\nHost: x\r\n"
                        "Authorization: Bearer %s\r\n"
                        "Content-Type: application/json\r\n"
                        "Content-Length: 60\r\n\r\n"
                        "{\"name\":\"slow body\",\"metadata\":{\"k\":"
                        "\"vvvvvvvvvvvvvvvvvvvv\"}}",
                        srv.admin_key);
    int fd = connect_srv();
    const char *body = strstr(post, "\r\n\r\n") + 4;
    size_t head = (size_t)(body - post);
    assert_int_equal(send(fd, post, head, MSG_NOSIGNAL), (ssize_t)head);
    struct exchange y = {0};
    y.data = calloc(1, 1);
    int64_t t0 = mono_ms();
    for (const char *p = body; *p != '\0' && mono_ms() - t0 < 8000; p++) {
        if (send(fd, p, 1, MSG_NOSIGNAL) != 1)
            break;
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 200) > 0)
            break;
    }
    read_until_close(fd, &y, t0, 8000);
    close(fd);
    expect_closing_error(&y, "a body a byte at a time", 408,
                         "request_timeout", CLIENT_TIMEOUT_MS + 1500);
    exchange_free(&y);
    free(post);
    /* nothing of the cut request was written */
    struct hk_reply *r = hk_admin(&srv, "GET", NULL, "/v1/tenants?limit=100");
    hk_expect(r, 200);
    assert_null(strstr(r->body, "slow body"));
    hk_reply_free(r);
    hk_expect_alive(&srv);
}

/* The deadline is per request: a kept-alive connection that sends its
 * requests promptly keeps working past HOOKD_CLIENT_TIMEOUT in all. */
static void test_prompt_requests_keep_their_connection(void **state)
{
    (void)state;
    int fd = connect_srv();
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < 4; i++) {
        assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL),
                         (ssize_t)strlen(req));
        char buf[4096] = {0};
        size_t got = 0;
        int64_t t0 = mono_ms();
        while (strstr(buf, "\r\n\r\n") == NULL && mono_ms() - t0 < 3000) {
            struct pollfd p = {fd, POLLIN, 0};
            if (poll(&p, 1, 500) <= 0)
                continue;
            ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
            if (n <= 0)
                fail_msg("request %d: the connection was closed", i);
            got += (size_t)n;
            buf[got] = '\0';
        }
        if (strncmp(buf, "HTTP/1.1 200", 12) != 0)
            fail_msg("request %d: %.200s", i, buf);
        hk_sleep_ms(900);
    }
    close(fd);
}

/* One malformed request and what hookd answers it with. */
struct bad_case {
    const char *what;
    char *req;
    long status;
    const char *code;
};

/* Every malformed request the relay refuses (docs/limits.md, "Refused by
 * the relay"); the caller frees each req. */
static size_t bad_cases(struct bad_case *out, size_t cap)
{
    char *big = malloc(70001);
    memset(big, 'a', 70000);
    big[70000] = '\0';
    char *many = malloc(200 * 40 + 1);
    size_t o = 0;
    for (int i = 0; i < 200; i++)
        o += (size_t)snprintf(many + o, 41, "X-H%03d: %030d\r\n", i, i);
    struct bad_case cases[] = {
        {"a 70 KB URL", hk_fmt("GET /%s HTTP/1.1\r\nHost: x\r\n\r\n", big),
         414, "uri_too_long"},
        {"a 70 KB header",
         hk_fmt("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", big),
         431, "headers_too_large"},
        {"7,000 headers' worth", hk_fmt("GET /healthz HTTP/1.1\r\nHost: x\r\n"
                                        "%s%s%s%s%s%s%s%s\r\n",
                                        many, many, many, many, many, many,
                                        many, many),
         431, "headers_too_large"},
        {"200 small headers",
         hk_fmt("GET /healthz HTTP/1.1\r\nHost: x\r\n%s\r\n", many), 431,
         "headers_too_large"},
        {"Content-Length: abc",
         hk_fmt("POST /v1/tenants HTTP/1.1\r\nHost: x\r\n"
                "Content-Length: abc\r\n\r\n"),
         400, "bad_request"},
        {"Content-Length: -1", hk_fmt("POST /v1/tenants HTTP/1.1\r\nHost: x\r\n"
                                      "Content-Length: -1\r\n\r\n"),
         400, "bad_request"},
        {"Content-Length beyond 2^64",
         hk_fmt("POST /v1/tenants HTTP/1.1\r\nHost: x\r\n"
                "Content-Length: 99999999999999999999999\r\n\r\n"),
         413, "payload_too_large"},
        {"two Content-Length headers that differ",
         hk_fmt("POST /v1/tenants HTTP/1.1\r\nHost: x\r\n"
                "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}"),
         400, "bad_request"},
        {"a bad chunk size",
         hk_fmt("POST /v1/tenants HTTP/1.1\r\nHost: x\r\n"
                "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
                srv.admin_key),
         400, "bad_request"},
        {"a chunk without its CRLF",
         hk_fmt("POST /v1/tenants HTTP/1.1\r\nHost: x\r\n"
                "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n2\r\n{}xx0\r\n\r\n",
                srv.admin_key),
         400, "bad_request"},
        {"Transfer-Encoding: gzip",
         hk_fmt("POST /v1/tenants HTTP/1.1\r\nHost: x\r\n"
                "Transfer-Encoding: gzip\r\n\r\n{}"),
         501, "not_implemented"},
        {"Transfer-Encoding: chunked, identity",
         hk_fmt("POST /v1/tenants HTTP/1.1\r\nHost: x\r\n"
                "Transfer-Encoding: chunked, identity\r\n\r\n{}"),
         501, "not_implemented"},
        {"HTTP/2.0", hk_fmt("GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n"), 505,
         "version_not_supported"},
        {"HTTP/0.9", hk_fmt("GET /healthz HTTP/0.9\r\nHost: x\r\n\r\n"), 505,
         "version_not_supported"},
        {"a malformed version", hk_fmt("GET /healthz HTTP/1\r\nHost: x\r\n\r\n"),
         400, "bad_request"},
        {"no version", hk_fmt("GET /healthz\r\nHost: x\r\n\r\n"), 400,
         "bad_request"},
        {"a space before a header's colon",
         hk_fmt("GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n"), 400,
         "bad_request"},
    };
    size_t n = sizeof cases / sizeof cases[0];
    assert_true(n <= cap);
    memcpy(out, cases, sizeof cases);
    free(big);
    free(many);
    return n;
}

/* The answer at the start of data, which must be whole (framed by its
 * Content-Length); returns its length. */
static size_t first_answer(const char *data, size_t len, const char *what)
{
    const char *end = strstr(data, "\r\n\r\n");
    if (end == NULL)
        fail_msg("%s: no whole answer first: %.200s", what, data);
    const char *cl = strcasestr(data, "\r\nContent-Length:");
    if (cl == NULL || cl > end)
        fail_msg("%s: the first answer has no Content-Length", what);
    size_t n = (size_t)(end + 4 - data) + strtoul(cl + 17, NULL, 10);
    if (len != SIZE_MAX && n > len)
        fail_msg("%s: the first answer is cut short: %.300s", what, data);
    return n;
}

/* Reads one whole answer (framed by its Content-Length) from fd into
 * buf; returns its length, failing when the connection closes first or
 * more than the answer comes. */
static size_t read_answer(int fd, char *buf, size_t cap, const char *what)
{
    size_t got = 0, want = 0;
    int64_t t0 = mono_ms();
    buf[0] = '\0';
    while ((want == 0 || got < want) && mono_ms() - t0 < 3000) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 500) <= 0)
            continue;
        ssize_t r = recv(fd, buf + got, cap - 1 - got, 0);
        if (r <= 0)
            fail_msg("%s: the connection closed before the answer's end",
                     what);
        got += (size_t)r;
        buf[got] = '\0';
        if (want == 0 && strstr(buf, "\r\n\r\n") != NULL)
            want = first_answer(buf, SIZE_MAX, what);
    }
    if (want == 0 || got != want)
        fail_msg("%s: not one whole answer: %.300s", what, buf);
    return got;
}

/* Malformed requests that libmicrohttpd 0.9.75 answered with an HTML page
 * of its own before any of hookd's code saw them: the relay answers each
 * in the error envelope with its status, as the first request of a
 * connection and as the second on a kept-alive one (after the answer to
 * the first, whole), and closes the connection at once. */
static void test_library_answers_close(void **state)
{
    (void)state;
    struct bad_case cases[32];
    size_t n = bad_cases(cases, 32);
    const char *good = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    for (size_t i = 0; i < n; i++) {
        struct exchange x =
            send_raw(cases[i].req, strlen(cases[i].req), 5000);
        expect_closing_error(&x, cases[i].what, cases[i].status,
                             cases[i].code, 1500);
        exchange_free(&x);

        /* second on a kept-alive connection: the good answer comes
         * first, whole, then the refusal */
        int fd = connect_srv();
        assert_int_equal(send(fd, good, strlen(good), MSG_NOSIGNAL),
                         (ssize_t)strlen(good));
        char buf[4096];
        (void)read_answer(fd, buf, sizeof buf, cases[i].what);
        if (strncmp(buf, "HTTP/1.1 200", 12) != 0)
            fail_msg("%s: the first answer: %.300s", cases[i].what, buf);
        struct exchange y = {0};
        y.data = calloc(1, 1);
        const char *req = cases[i].req;
        for (size_t off = 0, len = strlen(req); off < len;) {
            ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        int64_t t1 = mono_ms();
        read_until_close(fd, &y, t1, 5000);
        close(fd);
        char what[200];
        snprintf(what, sizeof what, "%s, second on a connection",
                 cases[i].what);
        expect_closing_error(&y, what, cases[i].status, cases[i].code, 1500);
        exchange_free(&y);
        free(cases[i].req);
    }
    hk_expect_alive(&srv);
}

/* Requests written together are answered in order, one after the other;
 * a malformed one after a good one is refused only after the good one's
 * answer, and the connection then closed. */
static void test_pipelined_requests(void **state)
{
    (void)state;
    char *two = hk_fmt("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /v1/tenants HTTP/1.1\r\nHost: x\r\n"
                       "Authorization: Bearer %s\r\nConnection: close\r\n"
                       "\r\n",
                       srv.admin_key);
    struct exchange x = send_raw(two, strlen(two), 5000);
    size_t a = first_answer(x.data, x.len, "two good requests");
    if (strncmp(x.data, "HTTP/1.1 200", 12) != 0 ||
        strncmp(x.data + a, "HTTP/1.1 200", 12) != 0 ||
        strstr(x.data + a, "\"data\"") == NULL)
        fail_msg("two good requests in one write: %.600s", x.data);
    if (!x.closed)
        fail_msg("two good requests: Connection: close was not honoured");
    exchange_free(&x);
    free(two);

    const char *good_bad = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                           "GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n";
    x = send_raw(good_bad, strlen(good_bad), 5000);
    a = first_answer(x.data, x.len, "a good then a bad request");
    if (strncmp(x.data, "HTTP/1.1 200", 12) != 0)
        fail_msg("a good then a bad request: %.300s", x.data);
    struct exchange rest = x;
    rest.data = x.data + a;
    expect_closing_error(&rest, "the bad request after a good one", 505,
                         "version_not_supported", 1500);
    exchange_free(&x);

    /* a POST with its body, then a GET, in one write */
    char *body = hk_fmt("{\"name\":\"pipelined\"}");
    char *post_get = hk_fmt("POST /v1/tenants HTTP/1.1\r\nHost: x\r\n"
                            "Authorization: Bearer %s\r\n"
                            "Content-Type: application/json\r\n"
                            "Content-Length: %zu\r\n\r\n%s"
                            "GET /healthz HTTP/1.1\r\nHost: x\r\n"
                            "Connection: close\r\n\r\n",
                            srv.admin_key, strlen(body), body);
    x = send_raw(post_get, strlen(post_get), 5000);
    a = first_answer(x.data, x.len, "a POST then a GET");
    if (strncmp(x.data, "HTTP/1.1 201", 12) != 0 ||
        strncmp(x.data + a, "HTTP/1.1 200", 12) != 0)
        fail_msg("a POST then a GET in one write: %.600s", x.data);
    exchange_free(&x);
    free(post_get);
    free(body);
    hk_expect_alive(&srv);
}

/* A request cut by the deadline is one request: one access line (the
 * 408), not a second one when libmicrohttpd gives the request up. */
static void test_cut_request_logged_once(void **state)
{
    (void)state;
    FILE *f = fopen(srv.log_path, "r");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long start = ftell(f);
    fclose(f);
    char *post = hk_fmt("POST /v1/tenants HTTP/1.1\r\nHost: x\r\n"
                        "Authorization: Bearer %s\r\n"
                        "X-Request-Id: cut-once\r\n"
                        "Content-Type: application/json\r\n"
                        "Content-Length: 40\r\n\r\n{\"name\":",
                        srv.admin_key);
    int fd = connect_srv();
    assert_int_equal(send(fd, post, strlen(post), MSG_NOSIGNAL),
                     (ssize_t)strlen(post));
    struct exchange x = {0};
    x.data = calloc(1, 1);
    read_until_close(fd, &x, mono_ms(), CLIENT_TIMEOUT_MS + 3000);
    close(fd);
    if (status_of(&x) != 408)
        fail_msg("a body that never comes: %.300s", x.data);
    exchange_free(&x);
    free(post);
    hk_sleep_ms(500);
    f = fopen(srv.log_path, "r");
    assert_non_null(f);
    fseek(f, start, SEEK_SET);
    char line[8192];
    int lines = 0, cut = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strstr(line, "\"msg\":\"request\"") == NULL)
            continue;
        lines++;
        cut += strstr(line, "\"status\":\"408\"") != NULL;
    }
    fclose(f);
    if (lines != 1 || cut != 1)
        fail_msg("the cut request logged %d request lines (%d with 408)",
                 lines, cut);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing_refused),
        cmocka_unit_test(test_slow_request_cut),
        cmocka_unit_test(test_prompt_requests_keep_their_connection),
        cmocka_unit_test(test_library_answers_close),
        cmocka_unit_test(test_pipelined_requests),
        cmocka_unit_test(test_cut_request_logged_once),
    };
    return hk_exit_code(
        cmocka_run_group_tests(tests, group_setup, group_teardown));
}
