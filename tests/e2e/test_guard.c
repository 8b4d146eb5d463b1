/*
 * test_guard.c - end-to-end tests of the rule that endpoints cannot be
 * aimed inward (docs/design.md "What must always hold"): with
 * HOOKD_ALLOW_PRIVATE_TARGETS unset, an endpoint URL whose host is a
 * literal private address is refused at creation (422, field url), and one
 * whose host is a name that resolves to loopback is accepted but never
 * reached: every attempt fails with an error saying the address was
 * refused and no status code, and the receiver hears nothing. One hookd
 * (serve) for the file, without HOOKD_ALLOW_PRIVATE_TARGETS, and one
 * receiver on 127.0.0.1.
 */
#include "engine_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static struct hk_srv srv;
static struct hk_rcv *rcv;
static char tid[HK_ID_LEN];
static char *key;

static int group_setup(void **state)
{
    (void)state;
    static const char *const env[] = {"HOOKD_ALLOW_PRIVATE_TARGETS",
                                      "HOOKD_RETRY_SCHEDULE=1s,1s",
                                      "HOOKD_REQUEST_TIMEOUT=2s", NULL};
    if (hk_group_start(&srv, env, &rcv, NULL) != 0)
        return -1;
    key = hk_eng_tenant(&srv, "guard", tid);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    free(key);
    key = NULL;
    return hk_group_finish(&srv, &rcv);
}

static void test_literal_private_hosts_refused(void **state)
{
    (void)state;
    const char *const hosts[] = {
        "127.0.0.1",   "127.1.2.3",       "10.0.0.7",   "172.16.5.4",
        "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
        "[::1]",       "[fe80::1]",       "[fd00::1]",  "[::ffff:127.0.0.1]",
    };
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        char *url = hk_fmt("http://%s:%d/hook", hosts[i], hk_rcv_port(rcv));
        char *body = hk_jpack("{s:s}", "url", url);
        struct hk_reply *r =
            hk_call(&srv, "POST", key, body, "/v1/tenants/%s/endpoints", tid);
        if (r->status != 422)
            print_error("creating an endpoint on %s\n", url);
        hk_expect_error(r, 422, "validation_failed", "url");
        hk_reply_free(r);
        free(body);
        free(url);
    }
    /* nothing was created */
    char *path = hk_fmt("/v1/tenants/%s/endpoints", tid);
    json_t *eps = hk_list_all(&srv, key, path, 0, NULL);
    free(path);
    assert_int_equal(json_array_size(eps), 0);
    json_decref(eps);
}

/* An endpoint of the tenant whose URL is inward_url. The API may refuse
 * such a URL at creation (docs/api.md allows it for literal addresses, and
 * hookd also refuses the reserved name localhost); then the endpoint is
 * made on a public name and its URL changed in the database, as when a
 * name that passed validation later resolves inward (DNS rebinding).
 * Either way the connect-time check is what the test exercises. */
static void inward_endpoint(const char *inward_url, char *eid)
{
    char *body = hk_jpack("{s:s}", "url", inward_url);
    struct hk_reply *r =
        hk_call(&srv, "POST", key, body, "/v1/tenants/%s/endpoints", tid);
    free(body);
    if (r->status == 201) {
        snprintf(eid, HK_ID_LEN, "%s", hk_jstr(r->json, "id"));
        hk_reply_free(r);
        return;
    }
    hk_expect_error(r, 422, "validation_failed", "url");
    hk_reply_free(r);
    print_message("%s is refused at creation; changing a public endpoint's "
                  "url to it in the database\n",
                  inward_url);
    char *public_url =
        hk_fmt("http://hookd-guard.example.com:%d/x", hk_rcv_port(rcv));
    hk_eng_endpoint(&srv, key, tid, public_url, NULL, eid);
    free(public_url);
    free(hk_sql(&srv,
                "UPDATE hookd.endpoints SET url = $1 WHERE tenant_id = $2 "
                "AND id = $3 RETURNING url",
                inward_url, tid, eid));
}

/* Sends one event to the endpoint and checks that every attempt ended
 * refused by the guard, with no status code, and nothing reached rcv. */
static void expect_refused_at_connect(const char *eid, const char *type)
{
    char evid[HK_ID_LEN], did[HK_ID_LEN];
    size_t heard = hk_rcv_count(rcv);
    assert_int_equal(hk_eng_event(&srv, key, tid, type, "{\"probe\":1}", evid),
                     1);
    hk_eng_delivery_id(&srv, key, tid, evid, eid, did);
    json_t *d = hk_eng_wait_status(&srv, key, tid, did, "failed", 15000);
    assert_int_equal(hk_jint(d, "attempt_count", -1), 3);
    assert_true(json_is_null(hk_jget(d, "last_status_code")));
    json_decref(d);

    json_t *att = hk_eng_attempts(&srv, key, tid, did);
    assert_int_equal(json_array_size(att), 3);
    size_t i;
    json_t *a;
    json_array_foreach(att, i, a)
    {
        json_t *code = json_object_get(a, "status_code");
        if (code == NULL || !json_is_null(code))
            fail_msg("attempt %zu to a loopback address has status_code "
                     "%lld, not null",
                     i + 1, hk_jint(a, "status_code", -1));
        const char *err = hk_jstr(a, "error");
        /* the guard's refusal, not the port refusing: the receiver
         * listens there */
        if (err == NULL || strcasestr(err, "refused") == NULL ||
            strcasestr(err, "connection refused") != NULL)
            fail_msg("attempt %zu: the error does not say the address was "
                     "refused: %s",
                     i + 1, err ? err : "(null)");
    }
    json_decref(att);
    assert_int_equal(hk_rcv_count(rcv), heard);
}

static void test_name_resolving_to_loopback_refused_at_connect(void **state)
{
    (void)state;
    char eid[HK_ID_LEN];
    char *url = hk_fmt("http://localhost:%d/guarded", hk_rcv_port(rcv));
    inward_endpoint(url, eid);
    free(url);

    /* a PATCH to a literal private address is refused */
    char *patch =
        hk_fmt("{\"url\":\"http://127.0.0.1:%d/guarded\"}", hk_rcv_port(rcv));
    struct hk_reply *r = hk_call(&srv, "PATCH", key, patch,
                                 "/v1/tenants/%s/endpoints/%s", tid, eid);
    free(patch);
    hk_expect_error(r, 422, "validation_failed", "url");
    hk_reply_free(r);

    hk_mk_event_type(&srv, "guard.name");
    r = hk_call(&srv, "PATCH", key, "{\"event_types\":[\"guard.name\"]}",
                "/v1/tenants/%s/endpoints/%s", tid, eid);
    hk_expect(r, 200);
    hk_reply_free(r);
    expect_refused_at_connect(eid, "guard.name");
}

static void test_literal_loopback_refused_at_connect(void **state)
{
    (void)state;
    char eid[HK_ID_LEN];
    char *url = hk_fmt("http://127.0.0.1:%d/literal", hk_rcv_port(rcv));
    inward_endpoint(url, eid);
    free(url);
    hk_mk_event_type(&srv, "guard.literal");
    struct hk_reply *r =
        hk_call(&srv, "PATCH", key, "{\"event_types\":[\"guard.literal\"]}",
                "/v1/tenants/%s/endpoints/%s", tid, eid);
    hk_expect(r, 200);
    hk_reply_free(r);
    expect_refused_at_connect(eid, "guard.literal");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_private_hosts_refused),
        cmocka_unit_test(test_name_resolving_to_loopback_refused_at_connect),
        cmocka_unit_test(test_literal_loopback_refused_at_connect),
    };
    int rc = cmocka_run_group_tests_name("guard", tests, group_setup,
                                         group_teardown);
    return hk_exit_code(rc);
}
