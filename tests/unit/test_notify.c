/*
 * test_notify.c - unit tests of how a dispatcher reads a NOTIFY's payload
 * (notify.h): its own process's notifications are passed over, whether or
 * not they say an endpoint has no owner; another's say so only with the
 * exact " own" suffix; hookd.send_event's payload is another's and says
 * nothing of owners.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "notify.h"

static void test_own_payloads_passed_over(void **state)
{
    (void)state;
    char p[64];
    assert_true(hk_notify_is_mine(hk_notify_origin()));
    snprintf(p, sizeof p, "%s own", hk_notify_origin());
    assert_true(hk_notify_is_mine(p));
    assert_true(hk_notify_unowned(p));
    /* a longer id that starts with ours is another's */
    snprintf(p, sizeof p, "%sx", hk_notify_origin());
    assert_false(hk_notify_is_mine(p));
}

static void test_others_payloads(void **state)
{
    (void)state;
    const char *other = "01a24300-0000-7000-8000-000000000000";
    char p[64];
    assert_false(hk_notify_is_mine(other));
    assert_false(hk_notify_unowned(other));
    snprintf(p, sizeof p, "%s own", other);
    assert_false(hk_notify_is_mine(p));
    assert_true(hk_notify_unowned(p));
    snprintf(p, sizeof p, "%s owner", other);
    assert_false(hk_notify_unowned(p));
    assert_false(hk_notify_is_mine("hookd.send_event"));
    assert_false(hk_notify_unowned("hookd.send_event"));
    assert_false(hk_notify_unowned(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_own_payloads_passed_over),
        cmocka_unit_test(test_others_payloads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
