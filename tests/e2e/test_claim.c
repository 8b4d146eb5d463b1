/*
 * test_claim.c - the dispatcher's claim, called directly on a database
 * where no dispatcher runs (hookd api only), so that one claim takes
 * deliveries of several events to several endpoints at once: every
 * delivery claimed comes back with its own endpoint's URL, headers and
 * sealed secrets (the current one, and the previous one only where a
 * rotation left one signing) and its own event's type, payload and time,
 * each exactly once, and holds a lease afterwards.
 */
#include "common.h"
#include "engine_util.h"
#include "ids.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct hk_srv srv;

static int group_setup(void **state)
{
    (void)state;
    if (hk_srv_start_role(&srv, "api", NULL) != 0)
        return -1;
    hk_mk_event_type(&srv, "order.created");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    return hk_srv_finish(&srv);
}

static char *hex(const unsigned char *b, size_t n)
{
    char *s = hk_malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++)
        snprintf(s + 2 * i, 3, "%02x", b[i]);
    return s;
}

enum { NEP = 3, NEV = 4 };

static void test_claim_answers_each_delivery_with_its_own(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[NEP][HK_ID_LEN], evid[NEV][HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "claim", tid);
    static const char *const members[NEP] = {
        "\"headers\":{\"X-Which\":\"a\"}",
        NULL,
        "\"headers\":{\"X-Which\":\"c\",\"X-Other\":\"2\"}",
    };
    char url[NEP][64];
    for (int k = 0; k < NEP; k++) {
        snprintf(url[k], sizeof url[k], "http://127.0.0.1:9/claim/%c?n=%d",
                 'a' + k, k);
        hk_eng_endpoint(&srv, key, tid, url[k], members[k], eid[k]);
    }
    /* the middle endpoint's old secret still signs for a day */
    struct hk_reply *r =
        hk_call(&srv, "POST", key, "{}",
                "/v1/tenants/%s/endpoints/%s/secret/rotate", tid, eid[1]);
    hk_expect(r, 200);
    hk_reply_free(r);

    char payload[NEV][64], created[NEV][64];
    for (int v = 0; v < NEV; v++) {
        snprintf(payload[v], sizeof payload[v], "{\"n\": %d, \"s\":\"%.*s\"}",
                 v, v + 1, "xyzw");
        char *body = hk_fmt("{\"event_type\":\"order.created\",\"payload\":%s}",
                            payload[v]);
        r = hk_eng_post_body(&srv, key, tid, body, NULL);
        free(body);
        hk_expect(r, 202);
        assert_int_equal(hk_jint(r->json, "deliveries", -1), NEP);
        snprintf(evid[v], sizeof evid[v], "%s", hk_jstr(r->json, "id"));
        snprintf(created[v], sizeof created[v], "%s",
                 hk_jstr(r->json, "created_at"));
        hk_reply_free(r);
    }

    struct hk_conn *c = NULL;
    assert_int_equal(hk_conn_open(srv.db_url, "hookd test", &c), HK_OK);
    char owner[HK_UUID_STRLEN];
    hk_uuid7(owner);
    struct hk_claim *cl = NULL;
    size_t n = 0;
    bool more = false;
    assert_int_equal(hk_store_claim(c, owner, 100, 60000, NULL, NULL, NULL, NULL, NULL,
                                    &cl, &n, &more),
                     HK_OK);
    assert_int_equal(n, NEP * NEV);

    bool seen[NEP][NEV] = {{false}};
    for (size_t i = 0; i < n; i++) {
        const struct hk_claim *x = &cl[i];
        int k = 0, v = 0;
        while (k < NEP && strcmp(x->endpoint_id, eid[k]) != 0)
            k++;
        while (v < NEV && strcmp(x->event_id, evid[v]) != 0)
            v++;
        if (k == NEP || v == NEV)
            fail_msg("claimed a delivery of endpoint %s, event %s: not ours",
                     x->endpoint_id, x->event_id);
        if (seen[k][v])
            fail_msg("endpoint %d, event %d claimed twice", k, v);
        seen[k][v] = true;
        assert_string_equal(x->tenant_id, tid);
        char *did = hk_sql(&srv,
                           "SELECT id FROM hookd.deliveries WHERE tenant_id = "
                           "$1 AND event_id = $2 AND endpoint_id = $3",
                           tid, evid[v], eid[k]);
        assert_non_null(did);
        assert_string_equal(x->delivery_id, did);
        free(did);

        /* the endpoint's own settings */
        if (strcmp(x->url, url[k]) != 0)
            fail_msg("the delivery to endpoint %d came with URL %s, not %s",
                     k, x->url, url[k]);
        char *want_headers = hk_sql(
            &srv, "SELECT headers::text FROM hookd.endpoints WHERE id = $1",
            eid[k]);
        assert_string_equal(x->headers, want_headers);
        free(want_headers);
        char *got = hex(x->secret_enc, x->secret_len);
        char *want = hk_sql(&srv,
                            "SELECT encode(secret_enc, 'hex') FROM "
                            "hookd.endpoints WHERE id = $1",
                            eid[k]);
        if (strcmp(got, want) != 0)
            fail_msg("the delivery to endpoint %d came with another "
                     "endpoint's sealed secret",
                     k);
        free(got);
        free(want);
        if (k == 1) {
            assert_non_null(x->prev_enc);
            got = hex(x->prev_enc, x->prev_len);
            want = hk_sql(&srv,
                          "SELECT encode(prev_secret_enc, 'hex') FROM "
                          "hookd.endpoints WHERE id = $1",
                          eid[k]);
            assert_string_equal(got, want);
            free(got);
            free(want);
        } else if (x->prev_enc != NULL) {
            fail_msg("endpoint %d was never rotated but its delivery came "
                     "with a previous secret",
                     k);
        }
        assert_int_equal(x->max_concurrency, 10);

        /* the event's own type, payload text and time */
        assert_string_equal(x->event_type, "order.created");
        if (strcmp(x->payload, payload[v]) != 0)
            fail_msg("the delivery of event %d came with payload \"%s\", "
                     "not \"%s\"",
                     v, x->payload, payload[v]);
        assert_string_equal(x->event_time, created[v]);
        assert_int_equal(x->attempt_count, 0);
    }
    hk_store_claims_free(cl, n);

    /* every delivery holds a lease now: a second claim finds nothing */
    assert_int_equal(hk_store_claim(c, owner, 100, 60000, NULL, NULL, NULL, NULL, NULL,
                                    &cl, &n, &more),
                     HK_OK);
    assert_int_equal(n, 0);
    assert_false(more);
    assert_int_equal(hk_sql_int(&srv,
                                "SELECT count(*) FROM hookd.leases WHERE "
                                "tenant_id = $1 AND owner = $2",
                                tid, owner),
                     NEP * NEV);
    hk_conn_close(c);
    free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claim_answers_each_delivery_with_its_own),
    };
    return hk_exit_code(
        cmocka_run_group_tests(tests, group_setup, group_teardown));
}
