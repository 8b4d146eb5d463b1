/*
 * test_ingest_rate.c - end-to-end tests of a tenant's event rate and
 * payload limit where the ingest statement itself takes the tenant's
 * tokens (docs/limits.md): the bound across hookd api processes with many
 * requests at once and several tenants in one group, an idempotent retry
 * against the limit, and the answers for an event that statement refuses
 * (over the payload limit, an unknown type, no such tenant), each with
 * nothing written. One hookd (serve), and a second (api) on the same
 * database.
 */
#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct hk_srv srv;

static int group_setup(void **state)
{
    (void)state;
    static const char *const types[] = {"rate.one", NULL};
    return hk_group_start(&srv, NULL, NULL, types);
}

static int group_teardown(void **state)
{
    (void)state;
    return hk_group_finish(&srv, NULL);
}

static struct hk_reply *post(struct hk_srv *s, const char *tid,
                             const char *type, const char *payload,
                             const char *key)
{
    char *body =
        hk_fmt("{\"event_type\":\"%s\",\"payload\":%s}", type, payload);
    char *hdr = key != NULL ? hk_fmt("Idempotency-Key: %s", key) : NULL;
    const char *const headers[] = {hdr, NULL};
    char *path = hk_fmt("/v1/tenants/%s/events", tid);
    struct hk_reply *r =
        hk_http(s, "POST", path, srv.admin_key, "application/json", body,
                strlen(body), hdr != NULL ? headers : NULL);
    free(path);
    free(hdr);
    free(body);
    return r;
}

static long long events_of(const char *tid)
{
    return hk_sql_int(
        &srv, "SELECT count(*) FROM hookd.events WHERE tenant_id = $1", tid);
}

#define POSTERS 8
#define RATE 30

struct poster {
    struct hk_srv *s;
    const char *tid;
    int64_t until_ms;
    int accepted, limited, other;
    long other_status;
};

static void *poster_run(void *arg)
{
    struct poster *p = arg;
    while (hk_wall_ms() < p->until_ms) {
        struct hk_reply *r = post(p->s, p->tid, "rate.one", "{}", NULL);
        const char *ra = hk_reply_header(r, "Retry-After");
        if (r->status == 202) {
            p->accepted++;
        } else if (r->status == 429 && ra != NULL &&
                   strtol(ra, NULL, 10) >= 1) {
            p->limited++;
        } else {
            p->other++;
            p->other_status = r->status;
        }
        hk_reply_free(r);
    }
    return NULL;
}

/* Eight clients post at once for about 3 s, half to each of two hookd api
 * processes, half for each of two tenants limited to 30 events a second:
 * groups then hold several tenants' takes together, and a process's
 * clients wait for one take at a time. Each tenant gets no more than the
 * bucket's second plus 30 a second plus one batch (1 token) per process,
 * every accepted event is written and no other one, and the rest are 429
 * with a Retry-After; nothing else is answered (a lock-order deadlock
 * between two groups would be a 503). */
static void test_rate_holds_with_concurrent_groups(void **state)
{
    (void)state;
    char tid[2][HK_ID_LEN];
    hk_mk_tenant(&srv, "rate concurrent a", tid[0]);
    hk_mk_tenant(&srv, "rate concurrent b", tid[1]);
    char *limits = hk_fmt("{\"events_per_second\":%d}", RATE);
    hk_set_limits(&srv, tid[0], limits);
    hk_set_limits(&srv, tid[1], limits);
    free(limits);
    struct hk_srv peer;
    assert_int_equal(hk_srv_start_peer(&peer, &srv, "api", NULL), 0);
    struct poster p[POSTERS];
    pthread_t th[POSTERS];
    int64_t t0 = hk_wall_ms();
    for (int i = 0; i < POSTERS; i++) {
        p[i] = (struct poster){.s = i % 2 ? &peer : &srv,
                               .tid = tid[(i / 2) % 2],
                               .until_ms = t0 + 3000};
        assert_int_equal(pthread_create(&th[i], NULL, poster_run, &p[i]), 0);
    }
    for (int i = 0; i < POSTERS; i++)
        pthread_join(th[i], NULL);
    double secs = (double)(hk_wall_ms() - t0) / 1000.0;
    double bound = RATE * (secs + 1.0) + 2.0;
    for (int k = 0; k < 2; k++) {
        int accepted = 0, limited = 0;
        for (int i = 0; i < POSTERS; i++) {
            if (p[i].other > 0)
                fail_msg("a post answered %ld", p[i].other_status);
            if (p[i].tid == tid[k]) {
                accepted += p[i].accepted;
                limited += p[i].limited;
            }
        }
        print_message("tenant %d: %d accepted, %d limited in %.2f s "
                      "(bound %.0f)\n",
                      k, accepted, limited, secs, bound);
        if ((double)accepted > bound)
            fail_msg("%d events accepted in %.2f s at %d/s over two "
                     "processes (bound %.0f)",
                     accepted, secs, RATE, bound);
        if ((double)accepted < RATE * secs * 0.6)
            fail_msg("only %d events accepted in %.2f s at %d/s", accepted,
                     secs, RATE);
        assert_true(limited > 0);
        assert_int_equal(events_of(tid[k]), accepted);
    }
    assert_int_equal(hk_srv_stop(&peer), 0);
    hk_srv_drop(&peer);
}

/* A retry with the same Idempotency-Key meets the rate limit as any post
 * does (429 with Retry-After while the bucket is empty); once it is let
 * through it answers 200 with the first event, and only that event is
 * written. */
static void test_idempotent_retry_after_limit(void **state)
{
    (void)state;
    char tid[HK_ID_LEN];
    hk_mk_tenant(&srv, "rate idempotent", tid);
    hk_set_limits(&srv, tid, "{\"events_per_second\":1}");
    struct hk_reply *r = post(&srv, tid, "rate.one", "{\"n\":1}", "key-1");
    hk_expect(r, 202);
    char *id = hk_fmt("%s", hk_jstr(r->json, "id"));
    hk_reply_free(r);
    r = post(&srv, tid, "rate.one", "{\"n\":1}", "key-1");
    hk_expect_error(r, 429, "rate_limited", NULL);
    const char *ra = hk_reply_header(r, "Retry-After");
    assert_non_null(ra);
    long wait_s = strtol(ra, NULL, 10);
    assert_true(wait_s >= 1);
    hk_reply_free(r);
    hk_sleep_ms((int)wait_s * 1000 + 100);
    r = post(&srv, tid, "rate.one", "{\"n\":1}", "key-1");
    hk_expect(r, 200);
    assert_string_equal(hk_jstr(r->json, "id"), id);
    hk_reply_free(r);
    assert_int_equal(events_of(tid), 1);
    /* an event without a key is held to the same bucket */
    hk_sleep_ms(1100);
    r = post(&srv, tid, "rate.one", "{\"n\":2}", NULL);
    hk_expect(r, 202);
    hk_reply_free(r);
    r = post(&srv, tid, "rate.one", "{\"n\":3}", NULL);
    hk_expect_error(r, 429, "rate_limited", NULL);
    hk_reply_free(r);
    assert_int_equal(events_of(tid), 2);
    free(id);
}

/* The first event of a tenant is the one whose statement takes the
 * tenant's first token: a payload over max_payload_bytes is 413, an
 * unknown type 422 and an unknown tenant 404, as for any event, and none
 * of them is written; the next event that fits is. */
static void test_first_event_refused(void **state)
{
    (void)state;
    char big[HK_ID_LEN], typo[HK_ID_LEN];
    hk_mk_tenant(&srv, "first too large", big);
    hk_set_limits(&srv, big, "{\"max_payload_bytes\":20}");
    /* 21 bytes */
    struct hk_reply *r =
        post(&srv, big, "rate.one", "{\"k\":\"0123456789abc\"}", NULL);
    hk_expect_error(r, 413, "payload_too_large", "payload");
    hk_reply_free(r);
    assert_int_equal(events_of(big), 0);
    r = post(&srv, big, "rate.one", "{\"k\":\"0123456789ab\"}", NULL);
    hk_expect(r, 202);
    hk_reply_free(r);
    assert_int_equal(events_of(big), 1);

    hk_mk_tenant(&srv, "first unknown type", typo);
    r = post(&srv, typo, "rate.none", "{}", NULL);
    hk_expect_error(r, 422, "validation_failed", "event_type");
    hk_reply_free(r);
    assert_int_equal(events_of(typo), 0);
    r = post(&srv, typo, "rate.one", "{}", NULL);
    hk_expect(r, 202);
    hk_reply_free(r);
    assert_int_equal(events_of(typo), 1);

    r = post(&srv, "0190c0de-0000-7000-8000-000000000001", "rate.one", "{}",
             NULL);
    hk_expect_error(r, 404, "not_found", NULL);
    hk_reply_free(r);
}

/* An event refused for its size after spending a token held may have
 * been the one to carry the process's next take of the tenant's tokens:
 * refusing it ends that take, so that once the tokens held are spent the
 * next event takes more instead of waiting for a take that never comes.
 * Two events fit (a first token, then a batch of 20 at 1,000/s), then
 * more refused ones than the batch holds, then one that fits. */
static void test_refused_event_ends_its_take(void **state)
{
    (void)state;
    char tid[HK_ID_LEN];
    hk_mk_tenant(&srv, "refused carrier", tid);
    hk_set_limits(&srv, tid,
                  "{\"events_per_second\":1000,\"max_payload_bytes\":20}");
    for (int i = 0; i < 2; i++) {
        struct hk_reply *r = post(&srv, tid, "rate.one", "{}", NULL);
        hk_expect(r, 202);
        hk_reply_free(r);
    }
    for (int i = 0; i < 25; i++) {
        struct hk_reply *r =
            post(&srv, tid, "rate.one", "{\"k\":\"0123456789abcdef\"}", NULL);
        hk_expect_error(r, 413, "payload_too_large", "payload");
        hk_reply_free(r);
    }
    struct hk_reply *r = post(&srv, tid, "rate.one", "{}", NULL);
    hk_expect(r, 202);
    hk_reply_free(r);
    assert_int_equal(events_of(tid), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_holds_with_concurrent_groups),
        cmocka_unit_test(test_idempotent_retry_after_limit),
        cmocka_unit_test(test_first_event_refused),
        cmocka_unit_test(test_refused_event_ends_its_take),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
