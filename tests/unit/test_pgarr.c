/*
 * test_pgarr.c - unit tests of the PostgreSQL array literals that carry
 * the batched statements' rows (store_admin.c): quotes and backslashes
 * escaped wherever they fall, NULL as the bare word, empty strings and
 * separators kept inside quotes, other bytes (UTF-8 included) as they
 * are, numbers at their limits.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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

static void test_number_literals(void **state)
{
    (void)state;
    struct hk_pgarr a;
    hk_pgarr_init(&a);
    hk_pgarr_num(&a, 0);
    hk_pgarr_num(&a, -5);
    hk_pgarr_num(&a, LLONG_MAX);
    hk_pgarr_num(&a, LLONG_MIN);
    char *lit = hk_pgarr_done(&a);
    assert_string_equal(lit, "{0,-5,9223372036854775807,"
                             "-9223372036854775808}");
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_literals),
        cmocka_unit_test(test_number_literals),
        cmocka_unit_test(test_empty_array),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
