/*
 * test_pgarr.c - unit tests of the PostgreSQL array parameters. The text
 * literals (store_admin.c): quotes and backslashes escaped wherever they
 * fall, NULL as the bare word, empty strings and separators kept inside
 * quotes, other bytes (UTF-8 included) as they are. The binary arrays
 * that carry the batched statements' rows (db.c): array_send's layout
 * byte for byte, numbers big-endian at their limits, NULL as length -1,
 * and ids that are not uuids refused. test_engine sends each kind through
 * PostgreSQL itself.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "db.h"
#include "store.h"

static void test_text_literals(void **state)
{
    (void)state;
    struct hk_pgarr a;
    hk_pgarr_init(&a);
    hk_pgarr_text(&a, "plain");
    hk_pgarr_text(&a, "a\"b\\c");
    hk_pgarr_text(&a, "");
    hk_pgarr_text(&a, NULL);
    hk_pgarr_text(&a, "x,y{} NULL");
    hk_pgarr_text(&a, "\"\"");
    hk_pgarr_text(&a, "\\");
    hk_pgarr_text(&a, "end\\");
    hk_pgarr_text(&a, "\"start");
    hk_pgarr_text(&a, "caf\xc3\xa9 \xe2\x82\xac");
    char *lit = hk_pgarr_done(&a);
    assert_string_equal(lit, "{\"plain\",\"a\\\"b\\\\c\",\"\",NULL,"
                             "\"x,y{} NULL\",\"\\\"\\\"\",\"\\\\\","
                             "\"end\\\\\",\"\\\"start\","
                             "\"caf\xc3\xa9 \xe2\x82\xac\"}");
    free(lit);
}

static void test_empty_array(void **state)
{
    (void)state;
    struct hk_pgarr a;
    hk_pgarr_init(&a);
    char *lit = hk_pgarr_done(&a);
    assert_string_equal(lit, "{}");
    free(lit);
}

/* the big-endian 32-bit word at p */
static uint32_t word(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 |
           (uint32_t)u[2] << 8 | u[3];
}

static void test_binary_uuids(void **state)
{
    (void)state;
    struct hk_pgbin a;
    hk_pgbin_init(&a, HK_OID_UUID);
    hk_pgbin_uuid(&a, "0192a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6b");
    /* a list of ids in their 16 bytes (ids.h), as the dispatcher keeps
     * what it holds */
    struct hk_buf list, empty;
    hk_buf_init(&list);
    hk_buf_init(&empty);
    unsigned char u[HK_UUID_BYTES];
    assert_true(hk_uuid_bin("00000000-0000-0000-0000-000000000001", u));
    hk_uuids_add(&list, u);
    assert_true(hk_uuid_bin("FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", u));
    hk_uuids_add(&list, u);
    assert_true(hk_uuids_has(&list, u));
    assert_false(hk_uuid_bin("0192a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6", u));
    hk_pgbin_uuids(&a, &list);
    hk_pgbin_uuids(&a, &empty);
    hk_pgbin_uuids(&a, NULL);
    hk_buf_cleanup(&list);
    int len = 0;
    const char *p = hk_pgbin_done(&a, &len);
    assert_non_null(p);
    assert_int_equal(len, 20 + 3 * 20);
    assert_int_equal(word(p), 1);         /* dimensions */
    assert_int_equal(word(p + 4), 0);     /* no NULL element */
    assert_int_equal(word(p + 8), 2950);  /* uuid */
    assert_int_equal(word(p + 12), 3);    /* elements */
    assert_int_equal(word(p + 16), 1);    /* lower bound */
    assert_int_equal(word(p + 20), 16);
    assert_memory_equal(p + 24,
                        "\x01\x92\xa3\xb4\xc5\xd6\x7e\x8f\x9a\x0b\x1c\x2d"
                        "\x3e\x4f\x5a\x6b",
                        16);
    assert_int_equal(word(p + 40), 16);
    assert_memory_equal(p + 44,
                        "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
    assert_int_equal(word(p + 60), 16);
    for (int i = 0; i < 16; i++)
        assert_int_equal((unsigned char)p[64 + i], 0xff);
    hk_pgbin_cleanup(&a);
}

static void test_binary_numbers_and_nulls(void **state)
{
    (void)state;
    struct hk_pgbin a;
    hk_pgbin_init(&a, HK_OID_INT8);
    hk_pgbin_int8(&a, INT64_MIN);
    hk_pgbin_null(&a);
    hk_pgbin_int8(&a, 0x0102030405060708LL);
    int len = 0;
    const char *p = hk_pgbin_done(&a, &len);
    assert_int_equal(len, 20 + 12 + 4 + 12);
    assert_int_equal(word(p + 4), 1); /* has a NULL element */
    assert_int_equal(word(p + 8), 20);
    assert_int_equal(word(p + 12), 3);
    assert_int_equal(word(p + 20), 8);
    assert_memory_equal(p + 24, "\x80\0\0\0\0\0\0\0", 8);
    assert_int_equal(word(p + 32), 0xffffffffu); /* NULL: length -1 */
    assert_int_equal(word(p + 36), 8);
    assert_memory_equal(p + 40, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    hk_pgbin_cleanup(&a);

    hk_pgbin_init(&a, HK_OID_INT4);
    hk_pgbin_int4(&a, -2);
    p = hk_pgbin_done(&a, &len);
    assert_int_equal(len, 20 + 8);
    assert_int_equal(word(p + 20), 4);
    assert_int_equal(word(p + 24), 0xfffffffeu);
    hk_pgbin_cleanup(&a);

    hk_pgbin_init(&a, HK_OID_BOOL);
    hk_pgbin_bool(&a, true);
    hk_pgbin_bool(&a, false);
    p = hk_pgbin_done(&a, &len);
    assert_int_equal(len, 20 + 5 + 5);
    assert_int_equal(word(p + 20), 1);
    assert_int_equal(p[24], 1);
    assert_int_equal(p[29], 0);
    hk_pgbin_cleanup(&a);
}

static void test_binary_text_and_jsonb(void **state)
{
    (void)state;
    struct hk_pgbin a;
    hk_pgbin_init(&a, HK_OID_TEXT);
    hk_pgbin_text(&a, "a\"b\\c,{}");
    hk_pgbin_text(&a, "");
    hk_pgbin_text(&a, NULL);
    int len = 0;
    const char *p = hk_pgbin_done(&a, &len);
    assert_int_equal(len, 20 + 4 + 8 + 4 + 4);
    assert_int_equal(word(p + 4), 1);
    assert_int_equal(word(p + 8), 25);
    assert_int_equal(word(p + 20), 8);
    assert_memory_equal(p + 24, "a\"b\\c,{}", 8); /* no quoting at all */
    assert_int_equal(word(p + 32), 0);
    assert_int_equal(word(p + 36), 0xffffffffu);
    hk_pgbin_cleanup(&a);

    hk_pgbin_init(&a, HK_OID_JSONB);
    hk_pgbin_text(&a, "{\"k\":1}");
    p = hk_pgbin_done(&a, &len);
    assert_int_equal(len, 20 + 4 + 1 + 7);
    assert_int_equal(word(p + 8), 3802);
    assert_int_equal(word(p + 20), 8);
    assert_int_equal(p[24], 1); /* jsonb's format version */
    assert_memory_equal(p + 25, "{\"k\":1}", 7);
    hk_pgbin_cleanup(&a);
}

static void test_binary_empty_array(void **state)
{
    (void)state;
    struct hk_pgbin a;
    hk_pgbin_init(&a, HK_OID_UUID);
    int len = 0;
    const char *p = hk_pgbin_done(&a, &len);
    assert_int_equal(len, 12); /* no dimensions, so no bounds */
    assert_int_equal(word(p), 0);
    assert_int_equal(word(p + 8), 2950);
    hk_pgbin_cleanup(&a);
}

static void test_binary_refuses_what_is_not_a_uuid(void **state)
{
    (void)state;
    const char *const bad[] = {
        "0192a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6",   /* a digit short */
        "0192a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6b0", /* one too many */
        "0192a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6g",  /* not hex */
        "-0192a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6b", /* leading dash */
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct hk_pgbin a;
        hk_pgbin_init(&a, HK_OID_UUID);
        hk_pgbin_uuid(&a, "0192a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6b");
        hk_pgbin_uuid(&a, bad[i]);
        int len = 0;
        if (hk_pgbin_done(&a, &len) != NULL)
            fail_msg("\"%s\" was taken for a uuid", bad[i]);
        hk_pgbin_cleanup(&a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_literals),
        cmocka_unit_test(test_empty_array),
        cmocka_unit_test(test_binary_uuids),
        cmocka_unit_test(test_binary_numbers_and_nulls),
        cmocka_unit_test(test_binary_text_and_jsonb),
        cmocka_unit_test(test_binary_empty_array),
        cmocka_unit_test(test_binary_refuses_what_is_not_a_uuid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
