/*
 * test_validate.c - unit tests of validate.c: event type names, filters
 * and how they match, endpoint URLs (scheme, host, credentials, length,
 * whitespace, literal inward addresses), extra header names and values,
 * UUID text, display names and UTF-8.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "validate.h"

static void test_event_type_names(void **state)
{
    (void)state;
    char msg[128];
    static const char *const good[] = {"invoice.paid", "a", "user_created",
                                       "a-b.c_d.E9", "x.y.z.w"};
    for (size_t i = 0; i < HK_ARRAY_LEN(good); i++)
        if (!hk_valid_event_type_name(good[i], msg, sizeof(msg)))
            fail_msg("refused \"%s\": %s", good[i], msg);

    static const char *const bad[] = {"",   ".a", "a.",  "a..b", "a b",
                                      "a*", "*",  "a/b", "é.x",  "a.*"};
    for (size_t i = 0; i < HK_ARRAY_LEN(bad); i++) {
        msg[0] = '\0';
        if (hk_valid_event_type_name(bad[i], msg, sizeof(msg)))
            fail_msg("accepted \"%s\"", bad[i]);
        assert_true(msg[0] != '\0');
    }
    assert_false(hk_valid_event_type_name(NULL, msg, sizeof(msg)));

    char longest[130];
    memset(longest, 'a', 128);
    longest[128] = '\0';
    assert_true(hk_valid_event_type_name(longest, msg, sizeof(msg)));
    longest[128] = 'a';
    longest[129] = '\0';
    assert_false(hk_valid_event_type_name(longest, msg, sizeof(msg)));
}

static void test_event_type_filters(void **state)
{
    (void)state;
    char msg[128];
    static const char *const good[] = {"*", "invoice.*", "invoice.paid",
                                       "a.b.*", "a"};
    for (size_t i = 0; i < HK_ARRAY_LEN(good); i++)
        if (!hk_valid_event_type_filter(good[i], msg, sizeof(msg)))
            fail_msg("refused \"%s\": %s", good[i], msg);
    static const char *const bad[] = {"",       ".*",          "invoice*",
                                      "*.paid", "invoice.*.x", "**",
                                      "a..*",   "invoice.**",  "a. *"};
    for (size_t i = 0; i < HK_ARRAY_LEN(bad); i++)
        if (hk_valid_event_type_filter(bad[i], msg, sizeof(msg)))
            fail_msg("accepted \"%s\"", bad[i]);
}

static void test_filter_matching(void **state)
{
    (void)state;
    struct {
        const char *filter;
        const char *type;
        bool want;
    } rows[] = {
        {"invoice.*", "invoice.paid", true},
        {"invoice.*", "invoice.x.y", true},
        {"invoice.*", "invoices.paid", false},
        {"invoice.*", "invoice", false},
        {"invoice.*", "xinvoice.paid", false},
        {"*", "invoice.paid", true},
        {"*", "a", true},
        {"invoice.paid", "invoice.paid", true},
        {"invoice.paid", "invoice.paid.late", false},
        {"invoice.paid", "invoice.pai", false},
        {"invoice.paid", "Invoice.paid", false},
        {"a.b.*", "a.b.c", true},
        {"a.b.*", "a.bc", false},
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(rows); i++)
        if (hk_filter_matches(rows[i].filter, rows[i].type) != rows[i].want)
            fail_msg("filter \"%s\" on \"%s\": want %d", rows[i].filter,
                     rows[i].type, rows[i].want);
}

static void test_urls_good(void **state)
{
    (void)state;
    char msg[128];
    static const char *const good[] = {
        "https://example.com/hooks",
        "http://example.com",
        "HTTPS://Example.COM:8443/a/b?c=d&e=f#frag",
        "https://api.example.co.uk/v1/webhooks/abc123",
        "http://sub_domain.example.com/",
        "https://[2606:4700:4700::1111]/x",
        "https://[2606:4700:4700::1111]:8443/x",
        "https://8.8.8.8/hook",
        "https://example.com:1/",
        "https://example.com:65535/",
        "https://example.com?x=1",
        "https://example.com/%20encoded",
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(good); i++)
        if (!hk_valid_url(good[i], false, msg, sizeof(msg)))
            fail_msg("refused \"%s\": %s", good[i], msg);
}

static void test_urls_bad(void **state)
{
    (void)state;
    char msg[128];
    static const char *const bad[] = {
        "",
        "example.com/hook",       /* not absolute */
        "ftp://example.com/file", /* scheme */
        "file:///etc/passwd",
        "javascript:alert(1)",
        "https://", /* no host */
        "https:///path",
        "https://:443/",
        "https://?x",
        "https://user:pass@example.com/", /* credentials */
        "https://user@example.com/",
        "https://example.com@evil.com/",
        "https://exa mple.com/", /* spaces */
        "https://example.com/a b",
        " https://example.com/",
        "https://example.com/\t",
        "https://example.com/\r\nX: y",
        "https://example.com:0/", /* port */
        "https://example.com:65536/",
        "https://example.com:abc/",
        "https://example.com:/",
        "https://[::1/", /* broken brackets */
        "https://[zz::1]/",
        "https://[::1]x/",
        "https://exa%6dple.com/",
        "https://example.com/\xc3\xa9",
        "https://...",
        /* empty labels: no host name has them, and "localhost.." would
         * slip past the check for localhost */
        "http://api.localhost../",
        "http://localhost../",
        "http://a..example.com/",
        "http://.example.com/",
        "http://127.0.0.1../",
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(bad); i++) {
        msg[0] = '\0';
        if (hk_valid_url(bad[i], true, msg, sizeof(msg)))
            fail_msg("accepted \"%s\"", bad[i]);
        assert_true(msg[0] != '\0');
    }
    assert_false(hk_valid_url(NULL, true, msg, sizeof(msg)));

    /* 2048 characters pass, 2049 do not. */
    char *u = malloc(2050);
    assert_non_null(u);
    memcpy(u, "https://example.com/", 20);
    memset(u + 20, 'a', 2048 - 20);
    u[2048] = '\0';
    assert_true(hk_valid_url(u, false, msg, sizeof(msg)));
    u[2048] = 'a';
    u[2049] = '\0';
    assert_false(hk_valid_url(u, false, msg, sizeof(msg)));
    free(u);
}

static void test_urls_private_hosts(void **state)
{
    (void)state;
    char msg[128];
    static const char *const inward[] = {
        "http://127.0.0.1:8080/hook",
        "http://127.1/",      /* short IPv4 form */
        "http://2130706433/", /* 127.0.0.1 as one number */
        "http://0x7f.0.0.1/", /* hex octet */
        "http://0177.0.0.1/", /* octal octet */
        "http://10.0.0.5/",
        "http://192.168.1.1./", /* trailing dot */
        "http://169.254.169.254/latest/meta-data",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fd00::1]/",
        "http://[fe80::1]/",
        "http://localhost/",
        "http://LOCALHOST:3000/",
        "http://api.localhost/",
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(inward); i++) {
        msg[0] = '\0';
        if (hk_valid_url(inward[i], false, msg, sizeof(msg)))
            fail_msg("accepted \"%s\" with private targets refused", inward[i]);
        assert_non_null(strstr(msg, "not a public address"));
        /* The operator may allow them. */
        if (!hk_valid_url(inward[i], true, msg, sizeof(msg)))
            fail_msg("refused \"%s\" with private targets allowed: %s",
                     inward[i], msg);
    }
    /* Names that merely contain digits or "localhost" are hosts like any
     * other; DNS decides at connect time. */
    assert_true(
        hk_valid_url("http://123.example.com/", false, msg, sizeof(msg)));
    assert_true(
        hk_valid_url("http://localhost.example.com/", false, msg, sizeof(msg)));
    assert_true(hk_valid_url("http://mylocalhost/", false, msg, sizeof(msg)));
}

static void test_header_names(void **state)
{
    (void)state;
    char msg[128];
    static const char *const good[] = {"X-Foo",    "Authorization", "X-Api-Key",
                                       "x_custom", "Accept",        "X-A.B~c!"};
    for (size_t i = 0; i < HK_ARRAY_LEN(good); i++)
        if (!hk_valid_header_name(good[i], msg, sizeof(msg)))
            fail_msg("refused \"%s\": %s", good[i], msg);
    static const char *const bad[] = {
        "Host",
        "host",
        "HOST",
        "Content-Type",
        "content-length",
        "Content-Encoding",
        "Connection",
        "Transfer-Encoding",
        "transfer-encoding",
        "Keep-Alive",
        "Upgrade",
        "TE",
        "Trailer",
        "Proxy-Authorization",
        "User-Agent",
        "webhook-id",
        "Webhook-Signature",
        "WEBHOOK-TIMESTAMP",
        "",
        "X Foo",
        "X-Foo:",
        "X-Foo\r\n",
        "X-F\xc3\xa9",
        "(x)",
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(bad); i++) {
        msg[0] = '\0';
        if (hk_valid_header_name(bad[i], msg, sizeof(msg)))
            fail_msg("accepted \"%s\"", bad[i]);
        assert_true(msg[0] != '\0');
    }
    char longname[300];
    memset(longname, 'X', 257);
    longname[257] = '\0';
    assert_false(hk_valid_header_name(longname, msg, sizeof(msg)));
    longname[256] = '\0';
    assert_true(hk_valid_header_name(longname, msg, sizeof(msg)));
}

static void test_header_values(void **state)
{
    (void)state;
    char msg[128];
    assert_true(hk_valid_header_value("Bearer abc.def", msg, sizeof(msg)));
    assert_true(hk_valid_header_value("a\tb", msg, sizeof(msg)));
    assert_true(hk_valid_header_value("", msg, sizeof(msg)));
    assert_false(hk_valid_header_value("a\r\nX-Evil: 1", msg, sizeof(msg)));
    assert_non_null(strstr(msg, "CR or LF"));
    assert_false(hk_valid_header_value("a\nb", msg, sizeof(msg)));
    assert_false(hk_valid_header_value("a\rb", msg, sizeof(msg)));
    assert_false(hk_valid_header_value("a\x01", msg, sizeof(msg)));
    assert_false(hk_valid_header_value("caf\xc3\xa9", msg, sizeof(msg)));
    assert_false(hk_valid_header_value(NULL, msg, sizeof(msg)));
    char *v = malloc(4098);
    assert_non_null(v);
    memset(v, 'v', 4097);
    v[4097] = '\0';
    assert_false(hk_valid_header_value(v, msg, sizeof(msg)));
    v[4096] = '\0';
    assert_true(hk_valid_header_value(v, msg, sizeof(msg)));
    free(v);
}

static void test_uuid(void **state)
{
    (void)state;
    assert_true(hk_valid_uuid("0190b3a4-7c1e-7abc-8def-0123456789ab"));
    assert_true(hk_valid_uuid("00000000-0000-0000-0000-000000000000"));
    assert_false(hk_valid_uuid("0190B3A4-7C1E-7ABC-8DEF-0123456789AB"));
    assert_false(hk_valid_uuid("0190b3a4-7c1e-7abc-8def-0123456789a"));
    assert_false(hk_valid_uuid("0190b3a4-7c1e-7abc-8def-0123456789abc"));
    assert_false(hk_valid_uuid("0190b3a47c1e7abc8def0123456789ab"));
    assert_false(hk_valid_uuid("0190b3a4_7c1e-7abc-8def-0123456789ab"));
    assert_false(hk_valid_uuid("g190b3a4-7c1e-7abc-8def-0123456789ab"));
    assert_false(hk_valid_uuid(""));
    assert_false(hk_valid_uuid(NULL));
}

static void test_names_and_utf8(void **state)
{
    (void)state;
    char msg[128];
    assert_true(hk_valid_name("Acme Inc.", msg, sizeof(msg)));
    assert_true(hk_valid_name("Caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", msg,
                              sizeof(msg)));
    assert_false(hk_valid_name("", msg, sizeof(msg)));
    assert_false(hk_valid_name(NULL, msg, sizeof(msg)));
    assert_false(hk_valid_name("tab\there", msg, sizeof(msg)));
    assert_false(hk_valid_name("line\nbreak", msg, sizeof(msg)));
    assert_false(hk_valid_name("del\x7f", msg, sizeof(msg)));
    assert_false(hk_valid_name("c1\xc2\x85", msg, sizeof(msg)));
    assert_false(hk_valid_name("bad\xff", msg, sizeof(msg)));
    char n[202];
    memset(n, 'n', 201);
    n[201] = '\0';
    assert_false(hk_valid_name(n, msg, sizeof(msg)));
    n[200] = '\0';
    assert_true(hk_valid_name(n, msg, sizeof(msg)));

    struct {
        const char *s;
        bool want;
    } rows[] = {
        {"plain", true},
        {"\xc3\xa9", true},
        {"\xe2\x82\xac", true},
        {"\xf0\x9f\x98\x80", true},
        {"\xf4\x8f\xbf\xbf", true}, /* U+10FFFF */
        {"\xc3", false},            /* truncated */
        {"\xe2\x82", false},
        {"\x80", false},             /* lone continuation */
        {"\xc0\xaf", false},         /* overlong '/' */
        {"\xe0\x80\xaf", false},     /* overlong */
        {"\xed\xa0\x80", false},     /* surrogate */
        {"\xf4\x90\x80\x80", false}, /* beyond U+10FFFF */
        {"\xf8\x88\x80\x80\x80", false},
        {"\xfe", false},
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(rows); i++)
        if (hk_valid_utf8(rows[i].s, strlen(rows[i].s)) != rows[i].want)
            fail_msg("utf8 row %zu: want %d", i, rows[i].want);
    /* Only n bytes are looked at. */
    assert_true(hk_valid_utf8("ok\xff", 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_type_names),
        cmocka_unit_test(test_event_type_filters),
        cmocka_unit_test(test_filter_matching),
        cmocka_unit_test(test_urls_good),
        cmocka_unit_test(test_urls_bad),
        cmocka_unit_test(test_urls_private_hosts),
        cmocka_unit_test(test_header_names),
        cmocka_unit_test(test_header_values),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_names_and_utf8),
    };
    return cmocka_run_group_tests_name("validate", tests, NULL, NULL);
}
