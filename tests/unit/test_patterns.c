/*
 * test_patterns.c - unit tests of hk_event_type_patterns, the list of
 * filter entries an ingest hands to PostgreSQL to pick the endpoints an
 * event fans out to: it must hold exactly the entries hk_filter_matches
 * accepts for the type, so that the fan-out agrees with the documented
 * filter rules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "validate.h"

static char *patterns(const char *type)
{
    struct hk_buf b;
    hk_buf_init(&b);
    hk_event_type_patterns(type, &b);
    return hk_buf_steal(&b);
}

static void test_literal(void **state)
{
    (void)state;
    char *p = patterns("invoice.paid");
    assert_string_equal(p, "{\"*\",\"invoice.paid\",\"invoice.*\"}");
    free(p);
    p = patterns("a.b.c");
    assert_string_equal(p, "{\"*\",\"a.b.c\",\"a.*\",\"a.b.*\"}");
    free(p);
    p = patterns("ping");
    assert_string_equal(p, "{\"*\",\"ping\"}");
    free(p);
}

/* Every entry listed matches the type, and every candidate filter that
 * matches the type is listed: the list and hk_filter_matches agree. */
static void test_agrees_with_filter_matches(void **state)
{
    (void)state;
    static const char *const types[] = {"invoice.paid", "invoice",
                                        "invoices.paid", "a.b.c", "x"};
    static const char *const filters[] = {
        "*",         "invoice.paid", "invoice.*", "invoice",  "invoices.*",
        "invoice.p", "a.*",          "a.b.*",     "a.b.c.*",  "a.b.c",
        "b.*",       "x",            "x.*",       "invoice.paid.*"};
    for (size_t t = 0; t < HK_ARRAY_LEN(types); t++) {
        char *p = patterns(types[t]);
        for (size_t f = 0; f < HK_ARRAY_LEN(filters); f++) {
            char quoted[64];
            snprintf(quoted, sizeof(quoted), "\"%s\"", filters[f]);
            bool listed = strstr(p, quoted) != NULL;
            if (listed != hk_filter_matches(filters[f], types[t]))
                fail_msg("type %s, filter %s: listed %d in %s", types[t],
                         filters[f], listed, p);
        }
        free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal),
        cmocka_unit_test(test_agrees_with_filter_matches),
    };
    return cmocka_run_group_tests_name("patterns", tests, NULL, NULL);
}
