/*
 * test_ids.c - unit tests of ids.c: UUIDv7 text form, version and variant
 * bits, the embedded timestamp, strict order over 10,000 ids, uniqueness
 * across threads, and list cursors: round trip and refusal of anything
 * encode did not produce.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include <cmocka.h>

#include "ids.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static void assert_v7_text(const char *id)
{
    assert_int_equal(strlen(id), 36);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(id[i], '-');
        else if (hexval(id[i]) < 0)
            fail_msg("%s: not lower-case hex at %d", id, i);
    }
    assert_int_equal(id[14], '7'); /* version */
    int v = hexval(id[19]);
    assert_int_equal(v & 0xc, 0x8); /* variant 10 */
}

static void test_uuid7_format(void **state)
{
    (void)state;
    char id[HK_UUID_STRLEN];
    int64_t before = hk_now_ms();
    hk_uuid7(id);
    int64_t after = hk_now_ms();
    assert_v7_text(id);

    /* The first 48 bits are the creation time in Unix ms. */
    int64_t ts = 0;
    for (int i = 0; i < 13; i++) {
        if (id[i] == '-')
            continue;
        ts = ts * 16 + hexval(id[i]);
    }
    assert_true(ts >= before);
    assert_true(ts <= after + 1);
}

static void test_uuid7_monotonic(void **state)
{
    (void)state;
    enum { N = 10000 };
    char prev[HK_UUID_STRLEN];
    char cur[HK_UUID_STRLEN];
    hk_uuid7(prev);
    for (int i = 0; i < N; i++) {
        hk_uuid7(cur);
        assert_v7_text(cur);
        if (strcmp(prev, cur) >= 0)
            fail_msg("not increasing: %s then %s", prev, cur);
        memcpy(prev, cur, sizeof(prev));
    }
}

enum { THREADS = 4, PER_THREAD = 2500 };
static char thread_ids[THREADS][PER_THREAD][HK_UUID_STRLEN];

static void *make_ids(void *arg)
{
    char(*mine)[HK_UUID_STRLEN] = arg;
    for (int i = 0; i < PER_THREAD; i++)
        hk_uuid7(mine[i]);
    return NULL;
}

static int cmp_ids(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_uuid7_threads(void **state)
{
    (void)state;
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, make_ids, thread_ids[i]),
                         0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    /* Each thread sees its own ids increasing ... */
    for (int i = 0; i < THREADS; i++)
        for (int k = 1; k < PER_THREAD; k++)
            assert_true(strcmp(thread_ids[i][k - 1], thread_ids[i][k]) < 0);
    /* ... and no id is handed out twice. */
    qsort(thread_ids, THREADS * PER_THREAD, HK_UUID_STRLEN, cmp_ids);
    char(*all)[HK_UUID_STRLEN] = (char(*)[HK_UUID_STRLEN])thread_ids;
    for (int k = 1; k < THREADS * PER_THREAD; k++)
        assert_true(strcmp(all[k - 1], all[k]) < 0);
}

/* The bytes of a uuid's text, as the dispatcher keeps the ids it holds:
 * either case, the dashes where they belong and nothing else. */
static void test_uuid_bytes(void **state)
{
    (void)state;
    unsigned char u[HK_UUID_BYTES], v[HK_UUID_BYTES];
    assert_true(hk_uuid_bin("0192a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6b", u));
    assert_memory_equal(u,
                        "\x01\x92\xa3\xb4\xc5\xd6\x7e\x8f\x9a\x0b\x1c\x2d"
                        "\x3e\x4f\x5a\x6b",
                        HK_UUID_BYTES);
    assert_true(hk_uuid_bin("0192A3B4-C5D6-7E8F-9A0B-1C2D3E4F5A6B", v));
    assert_memory_equal(u, v, HK_UUID_BYTES);
    const char *const bad[] = {
        NULL,
        "",
        "0192a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6",   /* a digit short */
        "0192a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6b0", /* one too many */
        "0192a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6g",  /* not hex */
        "0192a3b4c5d6-7e8f-9a0b-1c2d3e4f5a6b0",  /* a dash missing */
        "0192a3b-4c5d6-7e8f-9a0b-1c2d3e4f5a6b",  /* a dash misplaced */
        "{0192a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6b}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (hk_uuid_bin(bad[i], v))
            fail_msg("\"%s\" was read as a uuid", bad[i] ? bad[i] : "NULL");

    struct hk_buf list;
    hk_buf_init(&list);
    assert_false(hk_uuids_has(&list, u));
    hk_uuid_bin("00000000-0000-7000-8000-000000000001", v);
    hk_uuids_add(&list, v);
    assert_false(hk_uuids_has(&list, u));
    hk_uuids_add(&list, u);
    assert_int_equal(list.len, 2 * HK_UUID_BYTES);
    assert_true(hk_uuids_has(&list, u));
    assert_true(hk_uuids_has(&list, v));
    /* only whole ids match, not sixteen bytes across two of them */
    unsigned char across[HK_UUID_BYTES];
    memcpy(across, list.data + 8, HK_UUID_BYTES);
    assert_false(hk_uuids_has(&list, across));
    hk_buf_cleanup(&list);
}

static void test_cursor_round_trip(void **state)
{
    (void)state;
    for (int i = 0; i < 100; i++) {
        char id[HK_UUID_STRLEN];
        hk_uuid7(id);
        char cur[64];
        hk_cursor_encode(id, cur, sizeof(cur));
        assert_true(strlen(cur) > 0);
        /* URL-safe: no '+', '/', '=' or anything to escape. */
        for (const char *p = cur; *p; p++)
            assert_true((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                        (*p >= '0' && *p <= '9') || *p == '-' || *p == '_');
        char back[HK_UUID_STRLEN];
        assert_true(hk_cursor_decode(cur, back));
        assert_string_equal(back, id);
    }
    /* Any canonical UUID text works, not only v7. */
    char cur[64];
    char back[HK_UUID_STRLEN];
    hk_cursor_encode("00000000-0000-0000-0000-000000000000", cur, sizeof(cur));
    assert_true(hk_cursor_decode(cur, back));
    assert_string_equal(back, "00000000-0000-0000-0000-000000000000");
}

static void test_cursor_garbage(void **state)
{
    (void)state;
    char id[HK_UUID_STRLEN];
    char good[64];
    hk_uuid7(id);
    hk_cursor_encode(id, good, sizeof(good));

    char back[HK_UUID_STRLEN];
    static const char *const bad[] = {
        "",
        "x",
        "abc",
        "!!!!",
        "djE6", /* "v1:" alone */
        /* "v1:not-a-uuid-but-exactly-36-chars!!" */
        "djE6bm90LWEtdXVpZC1idXQtZXhhY3RseS0zNi1jaGFycyEh",
        /* "v2:0190b3a4-7c1e-7abc-8def-0123456789ab" */
        "djI6MDE5MGIzYTQtN2MxZS03YWJjLThkZWYtMDEyMzQ1Njc4OWFi",
        /* "v1:0190B3A4-7C1E-7ABC-8DEF-0123456789AB" (upper case) */
        "djE6MDE5MEIzQTQtN0MxRS03QUJDLThERUYtMDEyMzQ1Njc4OUFC",
        /* standard base64 with padding of a good cursor text */
        "djE6MDE5MGIzYTQtN2MxZS03YWJjLThkZWYtMDEyMzQ1Njc4OWFi==",
        "0190b3a4-7c1e-7abc-8def-0123456789ab",
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(bad); i++)
        if (hk_cursor_decode(bad[i], back))
            fail_msg("accepted \"%s\"", bad[i]);
    assert_false(hk_cursor_decode(NULL, back));

    /* A character outside the alphabet anywhere in a good cursor makes
     * it refused. */
    size_t n = strlen(good);
    char mutated[64];
    for (size_t i = 0; i < n; i++) {
        memcpy(mutated, good, n + 1);
        mutated[i] = mutated[i] == '.' ? '!' : '.';
        assert_false(hk_cursor_decode(mutated, back));
    }
    /* Truncations and extensions. */
    memcpy(mutated, good, n + 1);
    mutated[n - 1] = '\0';
    assert_false(hk_cursor_decode(mutated, back));
    memcpy(mutated, good, n);
    mutated[n] = 'A';
    mutated[n + 1] = '\0';
    assert_false(hk_cursor_decode(mutated, back));
    /* And the real one still decodes. */
    assert_true(hk_cursor_decode(good, back));
    assert_string_equal(back, id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uuid7_format),
        cmocka_unit_test(test_uuid7_monotonic),
        cmocka_unit_test(test_uuid7_threads),
        cmocka_unit_test(test_uuid_bytes),
        cmocka_unit_test(test_cursor_round_trip),
        cmocka_unit_test(test_cursor_garbage),
    };
    return cmocka_run_group_tests_name("ids", tests, NULL, NULL);
}
