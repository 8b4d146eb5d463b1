/*
 * test_relay.c - unit tests of relay.c's parsers: request heads that are
 * read (with their body framing), every refusal with its status and code,
 * heads fed a byte at a time, chunked bodies whole and in pieces, and the
 * framing of answers libmicrohttpd writes; and the relay's threads, each
 * driving a server of its own (a stand-in for libmicrohttpd's daemon).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "relay.h"

static enum hk_relay_verdict parse(const char *s, struct hk_relay_head *h,
                                   struct hk_relay_refusal *why)
{
    return hk_relay_parse_head(s, strlen(s), h, why);
}

static void test_heads_read(void **state)
{
    (void)state;
    struct hk_relay_head h;
    struct hk_relay_refusal why;
    const char *get = "GET /v1/tenants?limit=2 HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /next";
    assert_int_equal(parse(get, &h, &why), HK_RELAY_DONE);
    assert_int_equal(h.len, strstr(get, "GET /next") - get);
    assert_string_equal(h.method, "GET");
    assert_string_equal(h.path, "/v1/tenants");
    assert_int_equal(h.body, HK_RELAY_NO_BODY);
    assert_false(h.is_head);

    assert_int_equal(parse("\r\n\r\nPOST /v1/events HTTP/1.0\r\n"
                           "content-length:  12 \r\n\r\n",
                           &h, &why),
                     HK_RELAY_DONE);
    assert_int_equal(h.body, HK_RELAY_LENGTH);
    assert_int_equal(h.length, 12);

    /* the same length twice is one length */
    assert_int_equal(parse("POST / HTTP/1.1\r\nContent-Length: 5\r\n"
                           "Content-Length: 005\r\n\r\n",
                           &h, &why),
                     HK_RELAY_DONE);
    assert_int_equal(h.length, 5);
    assert_int_equal(parse("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &h,
                           &why),
                     HK_RELAY_DONE);
    assert_int_equal(h.body, HK_RELAY_NO_BODY);
    assert_int_equal(parse("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n"
                           "X-Obs: caf\xc3\xa9\t!\r\n\r\n",
                           &h, &why),
                     HK_RELAY_DONE);
    assert_int_equal(h.body, HK_RELAY_CHUNKED);
    /* other control characters in a value are kept, a NUL is not */
    assert_int_equal(parse("GET / HTTP/1.1\r\nX-Request-Id: \xff\x01\x7f\r\n"
                           "\r\n",
                           &h, &why),
                     HK_RELAY_DONE);
    const char nul[] = "GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n";
    assert_int_equal(hk_relay_parse_head(nul, sizeof nul - 1, &h, &why),
                     HK_RELAY_REFUSE);
    assert_int_equal(why.status, 400);
    assert_int_equal(parse("HEAD /healthz HTTP/1.1\r\n\r\n", &h, &why),
                     HK_RELAY_DONE);
    assert_true(h.is_head);

    /* every prefix of a good head is "more" */
    const char *post = "POST /v1/tenants HTTP/1.1\r\nHost: x\r\n"
                       "Content-Length: 2\r\n\r\n";
    for (size_t n = 0; n < strlen(post); n++)
        assert_int_equal(hk_relay_parse_head(post, n, &h, &why),
                         HK_RELAY_MORE);
    assert_int_equal(parse(post, &h, &why), HK_RELAY_DONE);
}

static void test_heads_refused(void **state)
{
    (void)state;
    char *longline = malloc(HK_RELAY_LINE_MAX + 64);
    memcpy(longline, "GET /", 5);
    memset(longline + 5, 'a', HK_RELAY_LINE_MAX);
    longline[HK_RELAY_LINE_MAX + 5] = '\0';
    char *bighead = malloc(HK_RELAY_HEAD_MAX + 64);
    size_t o = (size_t)snprintf(bighead, 64, "GET / HTTP/1.1\r\nX-A: ");
    memset(bighead + o, 'v', HK_RELAY_HEAD_MAX);
    bighead[o + HK_RELAY_HEAD_MAX] = '\0';
    char *many = malloc(200 * 16 + 64);
    o = (size_t)snprintf(many, 64, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 101; i++)
        o += (size_t)snprintf(many + o, 16, "X-%d: 1\r\n", i);
    snprintf(many + o, 3, "\r\n");
    struct {
        const char *req;
        int status;
        const char *code;
    } cases[] = {
        {longline, 414, "uri_too_long"},
        {bighead, 431, "headers_too_large"},
        {many, 431, "headers_too_large"},
        {"GET / HTTP/2.0\r\n", 505, "version_not_supported"},
        {"GET / HTTP/0.9\r\n", 505, "version_not_supported"},
        {"GET / HTTP/1.2\r\n", 505, "version_not_supported"},
        {"GET / HTTP/1\r\n", 400, "bad_request"},
        {"GET / http/1.1\r\n", 400, "bad_request"},
        {"GET /\r\n", 400, "bad_request"},
        {"GARBAGE\r\n", 400, "bad_request"},
        {"GET  / HTTP/1.1\r\n", 400, "bad_request"},
        {"GET / HTTP/1.1\n", 400, "bad_request"},
        {"GET / HTTP/1.1\rX", 400, "bad_request"},
        {"GET /\x01 HTTP/1.1\r\n", 400, "bad_request"},
        {"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, "bad_request"},
        {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400, "bad_request"},
        {"GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n", 400, "bad_request"},
        {"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", 400, "bad_request"},
        {"GET / HTTP/1.1\r\nA: b\nc\r\n\r\n", 400, "bad_request"},
        {"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400,
         "bad_request"},
        {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "bad_request"},
        {"POST / HTTP/1.1\r\nContent-Length: \r\n\r\n", 400, "bad_request"},
        {"POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n", 400,
         "bad_request"},
        {"POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n",
         413, "payload_too_large"},
        {"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
         400, "bad_request"},
        {"POST / HTTP/1.1\r\nContent-Length: 2\r\n"
         "Transfer-Encoding: chunked\r\n\r\n",
         400, "bad_request"},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
         "not_implemented"},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
         501, "not_implemented"},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
         "Transfer-Encoding: chunked\r\n\r\n",
         501, "not_implemented"},
        {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
         "bad_request"},
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(cases); i++) {
        struct hk_relay_head h;
        struct hk_relay_refusal why;
        if (parse(cases[i].req, &h, &why) != HK_RELAY_REFUSE ||
            why.status != cases[i].status ||
            strcmp(why.code, cases[i].code) != 0)
            fail_msg("case %zu (%.60s): %d %s", i, cases[i].req, why.status,
                     why.code ? why.code : "(none)");
        assert_non_null(why.message);
    }
    /* what could be read of the line is kept for the log */
    struct hk_relay_head h;
    struct hk_relay_refusal why;
    assert_int_equal(parse("PUT /x?y HTTP/2.0\r\n", &h, &why),
                     HK_RELAY_REFUSE);
    assert_string_equal(h.method, "PUT");
    assert_string_equal(h.path, "/x");
    free(longline);
    free(bighead);
    free(many);
}

/* Feeds body in pieces of step bytes; the verdict and where it ended. */
static enum hk_relay_verdict feed(const char *body, size_t len, size_t step,
                                  size_t *end)
{
    struct hk_relay_chunks c;
    hk_relay_chunks_init(&c);
    struct hk_relay_refusal why;
    size_t off = 0;
    while (off < len) {
        size_t n = len - off < step ? len - off : step, used = 0;
        enum hk_relay_verdict v =
            hk_relay_chunks_feed(&c, body + off, n, &used, &why);
        off += used;
        if (v != HK_RELAY_MORE) {
            *end = off;
            return v;
        }
        assert_int_equal(used, n);
    }
    *end = off;
    return HK_RELAY_MORE;
}

static void test_chunks(void **state)
{
    (void)state;
    const char *good[] = {
        "0\r\n\r\n",
        "2\r\n{}\r\n0\r\n\r\n",
        "A\r\n0123456789\r\n00000\r\n\r\n",
        "1\r\na\r\n0\r\nX-Trailer: yes\r\n\r\n",
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(good); i++) {
        for (size_t step = 1; step <= 7; step += 6) {
            char buf[128];
            snprintf(buf, sizeof buf, "%sGET", good[i]);
            size_t end = 0;
            assert_int_equal(feed(buf, strlen(buf), step, &end),
                             HK_RELAY_DONE);
            assert_int_equal(end, strlen(good[i]));
        }
    }
    const char *bad[] = {
        "zz\r\n{}\r\n0\r\n\r\n",
        "\r\n",
        "2;ext=1\r\n{}\r\n0\r\n\r\n",
        "2\n{}\r\n0\r\n\r\n",
        "2\r\n{}xx0\r\n\r\n",
        "-1\r\n",
        " 2\r\n{}\r\n0\r\n\r\n",
        "0000000000000001\r\n",
        "0\r\nbad trailer\r\n\r\n",
        "0\r\n: x\r\n\r\n",
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(bad); i++) {
        size_t end = 0;
        if (feed(bad[i], strlen(bad[i]), 1, &end) != HK_RELAY_REFUSE)
            fail_msg("chunked body %zu was not refused", i);
    }
    size_t end = 0;
    assert_int_equal(feed("5\r\nab", 6, 3, &end), HK_RELAY_MORE);
}

static void test_answers(void **state)
{
    (void)state;
    struct hk_relay_answer a;
    const char *ok = "HTTP/1.1 201 Created\r\nContent-Length: 17\r\n"
                     "X-Request-Id: r\r\n\r\n";
    assert_true(hk_relay_parse_answer(ok, strlen(ok), &a));
    assert_int_equal(a.status, 201);
    assert_true(a.has_length);
    assert_int_equal(a.length, 17);
    assert_false(a.chunked);
    const char *ch = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_true(hk_relay_parse_answer(ch, strlen(ch), &a));
    assert_true(a.chunked);
    const char *cont = "HTTP/1.1 100 Continue\r\n\r\n";
    assert_true(hk_relay_parse_answer(cont, strlen(cont), &a));
    assert_int_equal(a.status, 100);
    assert_false(hk_relay_parse_answer("garbage\r\n\r\n", 11, &a));

    struct hk_buf b;
    hk_buf_init(&b);
    hk_relay_render_closing(431, "{\"error\":{}}", "req_x", &b);
    assert_true(hk_relay_parse_answer(b.data, strstr(b.data, "\r\n\r\n") + 4 -
                                                  b.data,
                                      &a));
    assert_int_equal(a.status, 431);
    assert_int_equal(a.length, strlen("{\"error\":{}}"));
    assert_non_null(strstr(b.data, "Connection: close\r\n"));
    hk_buf_cleanup(&b);
}

/* ---- the relay's threads and their servers ---- */

/* A stand-in for a libmicrohttpd daemon: answers each request head it
 * reads with 200 "ok", and notes which thread called it and what it was
 * given. Used only by its relay thread, as the relay promises. */
#define FAKE_CONNS 8
struct fake_server {
    int epfd;
    int fds[FAKE_CONNS];
    char got[FAKE_CONNS][256];
    size_t got_len[FAKE_CONNS];
    int nfds;
    pthread_t thread;  /* the first thread to call run or add */
    bool have_thread;
    bool other_thread; /* a call came from any other thread */
    bool broken; /* a call went wrong: checked on the test's thread, since
                    cmocka cannot fail a test from another thread */
    int ports[FAKE_CONNS];
    size_t bytes; /* request bytes read, all connections */
};

struct fake_servers {
    struct fake_server *s[4];
    int opened, closed;
    size_t bytes_at_close;
};

static void note_thread(struct fake_server *f)
{
    if (!f->have_thread) {
        f->thread = pthread_self();
        f->have_thread = true;
    } else if (!pthread_equal(f->thread, pthread_self())) {
        f->other_thread = true;
    }
}

static void *fake_open(void *ctx, int i)
{
    struct fake_servers *all = ctx;
    struct fake_server *f = calloc(1, sizeof(*f));
    f->epfd = epoll_create1(EPOLL_CLOEXEC);
    all->s[i] = f;
    all->opened++;
    return f;
}

static int fake_fd(void *srv)
{
    return ((struct fake_server *)srv)->epfd;
}

static void fake_run(void *srv)
{
    struct fake_server *f = srv;
    note_thread(f);
    struct epoll_event evs[FAKE_CONNS];
    int n = epoll_wait(f->epfd, evs, FAKE_CONNS, 0);
    for (int e = 0; e < n; e++) {
        int k = evs[e].data.u32;
        char *buf = f->got[k];
        ssize_t r = read(f->fds[k], buf + f->got_len[k],
                         sizeof(f->got[k]) - 1 - f->got_len[k]);
        if (r <= 0) {
            (void)epoll_ctl(f->epfd, EPOLL_CTL_DEL, f->fds[k], NULL);
            continue;
        }
        f->bytes += (size_t)r;
        f->got_len[k] += (size_t)r;
        buf[f->got_len[k]] = 0;
        char *end = strstr(buf, "\r\n\r\n");
        if (end != NULL) {
            const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
            if (write(f->fds[k], ok, strlen(ok)) != (ssize_t)strlen(ok))
                f->broken = true;
            f->got_len[k] = 0;
        }
    }
}

static int64_t fake_timeout(void *srv)
{
    (void)srv;
    return -1;
}

static void fake_add(void *srv, int fd, const struct sockaddr *addr,
                     socklen_t len)
{
    struct fake_server *f = srv;
    note_thread(f);
    if (len != sizeof(struct sockaddr_in) || f->nfds == FAKE_CONNS) {
        f->broken = true;
        close(fd);
        return;
    }
    int k = f->nfds++;
    f->fds[k] = fd;
    f->ports[k] = ntohs(((const struct sockaddr_in *)addr)->sin_port);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)k};
    if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        f->broken = true;
}

static struct fake_servers *closing_all;

static void fake_close(void *srv)
{
    struct fake_server *f = srv;
    note_thread(f);
    for (int k = 0; k < f->nfds; k++)
        close(f->fds[k]);
    close(f->epfd);
    closing_all->closed++;
    closing_all->bytes_at_close += f->bytes;
}

/* Reads from fd until want bytes or the end, within 5 s. */
static size_t read_answer(int fd, char *buf, size_t cap, size_t want)
{
    size_t len = 0;
    while (len < want && len < cap - 1) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 5000) <= 0)
            break;
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    buf[len] = 0;
    return len;
}

static void test_threads_drive_their_servers(void **state)
{
    (void)state;
    struct fake_servers all = {0};
    closing_all = &all;
    const struct hk_relay_server server = {
        fake_open, fake_fd, fake_run, fake_timeout, fake_add, fake_close,
    };
    struct hk_relay *r = hk_relay_start(2, &server, NULL, &all);
    assert_non_null(r);
    assert_int_equal(all.opened, 2);

    /* four clients, each with an address of its own */
    int ours[4];
    for (int i = 0; i < 4; i++) {
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
                                    sv),
                         0);
        assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)(40000 + i))};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_true(hk_relay_add(r, sv[1], (struct sockaddr *)&a, sizeof(a)));
        ours[i] = sv[0];
    }
    /* two requests on each kept-alive connection come back answered */
    const char *get = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
    const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 3; i++) {
            assert_int_equal(write(ours[i], get, strlen(get)),
                             (ssize_t)strlen(get));
            char buf[512];
            read_answer(ours[i], buf, sizeof(buf), strlen(ok));
            assert_string_equal(buf, ok);
        }
    }
    /* a refused request never reaches a server: its answer is the
     * relay's, and the connection is closed after it */
    const char *bad = "GET / HTTP/2.0\r\nHost: x\r\n\r\n";
    assert_int_equal(write(ours[3], bad, strlen(bad)), (ssize_t)strlen(bad));
    char buf[1024];
    read_answer(ours[3], buf, sizeof(buf), sizeof(buf));
    assert_non_null(strstr(buf, "HTTP/1.1 505 "));
    assert_non_null(strstr(buf, "version_not_supported"));

    hk_relay_stop(r, 1000);
    assert_int_equal(all.closed, 2);
    assert_int_equal(all.bytes_at_close, 6 * strlen(get));
    int seen[4] = {0};
    for (int s = 0; s < 2; s++) {
        struct fake_server *f = all.s[s];
        /* every call a server had came from its own relay thread */
        assert_true(f->have_thread);
        assert_false(f->broken);
        assert_false(f->other_thread);
        assert_false(pthread_equal(f->thread, pthread_self()));
        /* the connections are shared out over the threads */
        assert_int_equal(f->nfds, 2);
        for (int k = 0; k < f->nfds; k++)
            seen[f->ports[k] - 40000]++;
        free(f);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(seen[i], 1);
        close(ours[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heads_read),
        cmocka_unit_test(test_heads_refused),
        cmocka_unit_test(test_chunks),
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_threads_drive_their_servers),
    };
    return cmocka_run_group_tests_name("relay", tests, NULL, NULL);
}
