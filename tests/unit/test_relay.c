/*
 * test_relay.c - unit tests of relay.c's parsers: request heads that are
 * read (with their body framing), every refusal with its status and code,
 * heads fed a byte at a time, chunked bodies whole and in pieces, and the
 * framing of answers libmicrohttpd writes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heads_read),
        cmocka_unit_test(test_heads_refused),
        cmocka_unit_test(test_chunks),
        cmocka_unit_test(test_answers),
    };
    return cmocka_run_group_tests_name("relay", tests, NULL, NULL);
}
