/*
 * test_crash.c - end-to-end tests of "nothing is lost" (docs/design.md): a
 * steady stream of events to three endpoints while hookd is killed with
 * SIGKILL twice and started again; every event whose POST answered 2xx
 * must reach every matching endpoint (counted by unique webhook-id per
 * receiver path; repeats are allowed and reported). Work a killed process
 * held comes back when its endpoints' leases (9 s) run out and the next
 * dispatcher takes them; if its endpoint was deleted meanwhile, it ends
 * failed. A
 * SIGTERM with a request in flight finishes and records it.
 * Then two dispatchers on one database (the serve process and a
 * `hookd dispatch` peer) share a batch without delivering anything twice,
 * and keep an endpoint's max_concurrency between them. One hookd (serve)
 * for the file with HOOKD_REQUEST_TIMEOUT=1s, and one receiver that
 * answers 200 after 30 ms, so that requests are in flight when the kills
 * land.
 */
#include "engine_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct hk_srv srv;
static struct hk_rcv *rcv;

#define STREAM_EVENTS 600
#define STREAM_MS 10000
#define CRASH_PATHS 3

static int group_setup(void **state)
{
    (void)state;
    static const char *const env[] = {"HOOKD_REQUEST_TIMEOUT=1s",
                                      "HOOKD_RETRY_SCHEDULE=1s,1s,1s,1s", NULL};
    rcv = hk_rcv_start();
    if (rcv == NULL)
        return -1;
    struct hk_rcv_resp ok = {200, NULL, NULL, 30, false, NULL};
    hk_rcv_set_default(rcv, &ok);
    if (hk_srv_start(&srv, env) != 0)
        return -1;
    hk_mk_event_type(&srv, "crash.tick");
    hk_mk_event_type(&srv, "crash.other");
    hk_mk_event_type(&srv, "peer.tick");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    int rc = hk_srv_finish(&srv);
    hk_rcv_stop(rcv);
    rcv = NULL;
    return rc;
}

/* ---- the stream ---------------------------------------------------------- */

struct stream {
    const char *key;
    const char *tid;
    /* per event: its id when the POST answered 2xx, else "" */
    char ids[STREAM_EVENTS][HK_ID_LEN];
    int accepted;
    int refused;     /* no answer or not 2xx (server down) */
    int wrong_count; /* 2xx with "deliveries" other than 3 */
    atomic_int posted;
};

/* Posts STREAM_EVENTS events evenly over STREAM_MS, without stopping for
 * failures: while hookd is down the POSTs fail and are not counted. */
static void *post_stream(void *arg)
{
    struct stream *st = arg;
    char *path = hk_fmt("/v1/tenants/%s/events", st->tid);
    int64_t t0 = hk_wall_ms();
    for (int i = 0; i < STREAM_EVENTS; i++) {
        int64_t due = t0 + (int64_t)i * STREAM_MS / STREAM_EVENTS;
        int64_t now = hk_wall_ms();
        if (due > now)
            hk_sleep_ms((int)(due - now));
        char *body = hk_fmt("{\"event_type\":\"crash.tick\",\"payload\":"
                            "{\"seq\":%d}}",
                            i);
        struct hk_reply *r =
            hk_http(&srv, "POST", path, st->key, "application/json", body,
                    strlen(body), NULL);
        free(body);
        const char *id = hk_jstr(r->json, "id");
        if (r->status >= 200 && r->status < 300 && id != NULL) {
            snprintf(st->ids[i], HK_ID_LEN, "%s", id);
            st->accepted++;
            if (hk_jint(r->json, "deliveries", -1) != CRASH_PATHS)
                st->wrong_count++;
        } else {
            st->ids[i][0] = '\0';
            st->refused++;
        }
        hk_reply_free(r);
        atomic_store(&st->posted, i + 1);
    }
    free(path);
    return NULL;
}

/* Counts accepted events not yet seen at each path; fills missing[]. */
static int count_missing(const struct stream *st,
                         const char *const paths[CRASH_PATHS],
                         size_t missing[CRASH_PATHS], size_t dups[CRASH_PATHS])
{
    int total = 0;
    for (int p = 0; p < CRASH_PATHS; p++) {
        struct hk_eng_ids ids;
        hk_eng_ids_at(rcv, paths[p], &ids);
        missing[p] = 0;
        for (int i = 0; i < STREAM_EVENTS; i++)
            if (st->ids[i][0] != '\0' && !hk_eng_ids_has(&ids, st->ids[i]))
                missing[p]++;
        dups[p] = ids.total - ids.n;
        total += (int)missing[p];
        hk_eng_ids_free(&ids);
    }
    return total;
}

static void test_kill9_loses_nothing(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[CRASH_PATHS + 1][HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "crash", tid);
    static const char *const paths[CRASH_PATHS] = {
        "/crash/exact", "/crash/prefix", "/crash/all"};
    char *url = hk_rcv_url(rcv, paths[0]);
    hk_eng_endpoint(&srv, key, tid, url, "\"event_types\":[\"crash.tick\"]",
                    eid[0]);
    free(url);
    url = hk_rcv_url(rcv, paths[1]);
    hk_eng_endpoint(&srv, key, tid, url, "\"event_types\":[\"crash.*\"]",
                    eid[1]);
    free(url);
    url = hk_rcv_url(rcv, paths[2]);
    hk_eng_endpoint(&srv, key, tid, url, NULL, eid[2]);
    free(url);
    url = hk_rcv_url(rcv, "/crash/none");
    hk_eng_endpoint(&srv, key, tid, url, "\"event_types\":[\"crash.other\"]",
                    eid[3]);
    free(url);

    struct stream *st = calloc(1, sizeof *st);
    assert_non_null(st);
    st->key = key;
    st->tid = tid;
    pthread_t poster;
    assert_int_equal(pthread_create(&poster, NULL, post_stream, st), 0);

    /* two kills while the stream runs, each followed by a restart */
    int restarted = 0;
    for (int k = 0; k < 2; k++) {
        hk_sleep_ms(3000);
        int posted = atomic_load(&st->posted);
        hk_srv_kill9(&srv);
        print_message("kill -9 after %d of %d events posted\n", posted,
                      STREAM_EVENTS);
        hk_sleep_ms(300);
        if (hk_srv_restart(&srv) == 0)
            restarted++;
    }
    pthread_join(poster, NULL);
    if (restarted != 2) {
        free(st);
        free(key);
        fail_msg("hookd did not start again after kill -9");
    }
    print_message("%d events accepted, %d refused while hookd was down\n",
                  st->accepted, st->refused);
    assert_true(st->accepted >= STREAM_EVENTS / 2);
    assert_int_equal(st->wrong_count, 0);

    /* everything arrives, and every delivery ends succeeded: work the
     * killed processes held comes back when their endpoints' leases run
     * out, after 9 s */
    size_t missing[CRASH_PATHS], dups[CRASH_PATHS];
    int64_t t0 = hk_wall_ms(), arrived_ms = -1;
    long long open = -1;
    int left = -1;
    while (hk_wall_ms() - t0 < 50000) {
        left = count_missing(st, paths, missing, dups);
        if (left == 0 && arrived_ms < 0)
            arrived_ms = hk_wall_ms() - t0;
        open = hk_sql_int(&srv,
                          "SELECT count(*) FROM hookd.deliveries WHERE "
                          "tenant_id = $1 AND status <> 'succeeded'",
                          tid);
        if (left == 0 && open == 0)
            break;
        hk_sleep_ms(500);
    }
    left = count_missing(st, paths, missing, dups);
    print_message("every accepted event arrived %lld ms after the stream "
                  "ended, every delivery succeeded after %lld ms; repeats "
                  "per path: %zu %zu %zu\n",
                  (long long)arrived_ms, (long long)(hk_wall_ms() - t0),
                  dups[0], dups[1], dups[2]);
    if (left > 0)
        fail_msg("accepted events never delivered: %zu at %s, %zu at %s, "
                 "%zu at %s (of %d)",
                 missing[0], paths[0], missing[1], paths[1], missing[2],
                 paths[2], st->accepted);
    if (open != 0)
        fail_msg("%lld deliveries of the stream are not succeeded 50 s after "
                 "it ended",
                 open);
    assert_int_equal(hk_rcv_count_path(rcv, "/crash/none"), 0);
    long long rows = hk_sql_int(&srv,
                                "SELECT count(*) FROM hookd.deliveries WHERE "
                                "tenant_id = $1",
                                tid);
    assert_true(rows >= (long long)st->accepted * CRASH_PATHS);
    hk_expect_alive(&srv);
    free(st);
    free(key);
}

/* ---- a clean stop ----------------------------------------------------------
 */

/* SIGTERM while a request is in flight: hookd lets it finish and records
 * it before it exits, so nothing is left to be sent again. */
static void test_sigterm_finishes_in_flight(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN], evid[HK_ID_LEN], did[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "sigterm", tid);
    char *url = hk_rcv_url(rcv, "/term");
    hk_eng_endpoint(&srv, key, tid, url, NULL, eid);
    free(url);
    struct hk_rcv_resp slow = {200, NULL, "done", 600, false, "/term"};
    hk_rcv_push(rcv, &slow);
    hk_eng_event(&srv, key, tid, "crash.other", "{}", evid);
    hk_eng_delivery_id(&srv, key, tid, evid, eid, did);
    if (!hk_rcv_wait_for_path(rcv, "/term", 1, 10000))
        fail_msg("the request never arrived");
    int rc = hk_srv_stop(&srv);
    if (rc != 0)
        fail_msg("hookd exited with %d on SIGTERM with a request in flight",
                 rc);
    char *status = hk_sql(&srv,
                          "SELECT status FROM hookd.deliveries WHERE "
                          "tenant_id = $1 AND id = $2",
                          tid, did);
    long long attempts = hk_sql_int(&srv,
                                    "SELECT count(*) FROM hookd.attempts "
                                    "WHERE tenant_id = $1 AND delivery_id = $2",
                                    tid, did);
    if (hk_srv_restart(&srv) != 0) {
        free(status);
        fail_msg("hookd did not start again after SIGTERM");
    }
    if (status == NULL || strcmp(status, "succeeded") != 0 || attempts != 1)
        fail_msg("after SIGTERM the in-flight delivery is %s with %lld "
                 "attempts; expected succeeded with 1",
                 status ? status : "(missing)", attempts);
    free(status);
    hk_sleep_ms(2000);
    assert_int_equal(hk_rcv_count_path(rcv, "/term"), 1);
    free(key);
}

/* SIGTERM while a delivery waits in the dispatcher for its endpoint's
 * only slot (claimed, not started): hookd gives its endpoints up on the
 * way out, so that the next hookd sends it at once rather than after the
 * endpoint's lease (9 s) runs out. */
static void test_sigterm_gives_back_waiting_work(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "sigterm-waiting", tid);
    char *url = hk_rcv_url(rcv, "/term/wait");
    hk_eng_endpoint(&srv, key, tid, url,
                    "\"event_types\":[\"crash.other\"],\"max_concurrency\":1",
                    eid);
    free(url);
    struct hk_rcv_resp slow = {200, NULL, NULL, 800, false, "/term/wait"};
    hk_rcv_set_default(rcv, &slow);
    for (int i = 0; i < 3; i++)
        hk_eng_event(&srv, key, tid, "crash.other", "{}", NULL);
    if (!hk_rcv_wait_for_path(rcv, "/term/wait", 1, 10000))
        fail_msg("the first request never arrived");
    /* the endpoint's one slot is busy; the dispatcher holds a second
     * delivery to start when it frees up */
    hk_eng_wait_one_waiting(&srv, tid, eid);
    int rc = hk_srv_stop(&srv);
    if (rc != 0)
        fail_msg("hookd exited with %d on SIGTERM", rc);
    long long left = hk_eng_sending(&srv, tid, eid);
    size_t sent = hk_rcv_count_path(rcv, "/term/wait");
    if (hk_srv_restart(&srv) != 0)
        fail_msg("hookd did not start again after SIGTERM");
    if (left != 0 || sent != 1)
        fail_msg("after SIGTERM %lld deliveries are still sending and %zu "
                 "requests were sent; expected none sending (the waiting "
                 "delivery given back) and 1 request",
                 left, sent);
    if (!hk_rcv_wait_for_path(rcv, "/term/wait", 3, 6000))
        fail_msg("after the restart only %zu of 3 deliveries arrived within "
                 "6 s: the one that waited was not given back",
                 hk_rcv_count_path(rcv, "/term/wait"));
    hk_sleep_ms(1000);
    assert_int_equal(hk_rcv_count_path(rcv, "/term/wait"), 3);
    free(key);
}

/* hookd killed with a request in flight, then the endpoint deleted before
 * the endpoint's lease runs out: once no live dispatcher holds it, the
 * delivery ends failed ("endpoint deleted"), as its pending siblings did
 * at the delete, instead of waiting forever for an endpoint that is
 * gone. */
static void test_kill9_then_endpoint_deleted(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN], evid[HK_ID_LEN], did[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "killed-then-deleted", tid);
    char *url = hk_rcv_url(rcv, "/gone");
    hk_eng_endpoint(&srv, key, tid, url, NULL, eid);
    free(url);
    struct hk_rcv_resp slow = {200, NULL, "late", 800, false, "/gone"};
    hk_rcv_push(rcv, &slow);
    hk_eng_event(&srv, key, tid, "crash.other", "{}", evid);
    hk_eng_delivery_id(&srv, key, tid, evid, eid, did);
    if (!hk_rcv_wait_for_path(rcv, "/gone", 1, 10000))
        fail_msg("the request never arrived");
    hk_srv_kill9(&srv);
    if (hk_srv_restart(&srv) != 0)
        fail_msg("hookd did not start again after kill -9");
    struct hk_reply *r = hk_call(&srv, "DELETE", key, NULL,
                                 "/v1/tenants/%s/endpoints/%s", tid, eid);
    hk_expect(r, 204);
    hk_reply_free(r);
    /* the endpoint's lease is 9 s; sweeps every 5 s */
    json_t *d = hk_eng_wait_status(&srv, key, tid, did, "failed", 60000);
    assert_string_equal(hk_jstr(d, "last_error"), "endpoint deleted");
    assert_true(hk_jstr(d, "completed_at") != NULL);
    json_decref(d);
    free(key);
}

/* ---- two dispatchers ------------------------------------------------------
 */

/* The serve process's count of succeeded attempts, from GET /metrics. */
static long long succeeded_attempts(void)
{
    static const char name[] = "hookd_attempts_total{outcome=\"succeeded\"} ";
    struct hk_reply *r =
        hk_http(&srv, "GET", "/metrics", NULL, NULL, NULL, 0, NULL);
    hk_expect(r, 200);
    const char *at = strstr(r->body, name);
    long long n = at ? strtoll(at + strlen(name), NULL, 10) : -1;
    hk_reply_free(r);
    if (n < 0)
        fail_msg("GET /metrics has no %s", name);
    return n;
}

static void test_two_dispatchers_deliver_once(void **state)
{
    (void)state;
    /* Which dispatcher claims a delivery is a race: the serve process is
     * woken in-process by its own API, the peer by NOTIFY, and a slow host
     * can let the serve process win every claim of a round (seen once: 600
     * of 600). Rounds of N events go on until the peer made some of the
     * attempts, at most ROUNDS of them; every event of every round must
     * arrive exactly once at each endpoint. */
    enum { N = 300, ROUNDS = 3 };
    char tid[HK_ID_LEN], e0[HK_ID_LEN], e1[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "peers", tid);
    char *url = hk_rcv_url(rcv, "/peer/0");
    hk_eng_endpoint(&srv, key, tid, url, "\"event_types\":[\"peer.tick\"]", e0);
    free(url);
    url = hk_rcv_url(rcv, "/peer/1");
    hk_eng_endpoint(&srv, key, tid, url, "\"event_types\":[\"peer.*\"]", e1);
    free(url);

    static struct hk_srv peer;
    if (hk_srv_start_peer(&peer, &srv, "dispatch", NULL) != 0) {
        free(key);
        fail_msg("could not start a `hookd dispatch` peer");
    }
    long long serve_before = succeeded_attempts();
    char(*ids)[HK_ID_LEN] = calloc(N * ROUNDS, HK_ID_LEN);
    assert_non_null(ids);
    int posted = 0;
    long long by_serve = 0;
    bool all = true;
    for (int round = 0; round < ROUNDS && all; round++) {
        for (int i = 0; i < N; i++, posted++) {
            char payload[32];
            snprintf(payload, sizeof payload, "{\"n\":%d}", posted);
            int n =
                hk_eng_event(&srv, key, tid, "peer.tick", payload, ids[posted]);
            assert_int_equal(n, 2);
        }
        all = hk_rcv_wait_for_path(rcv, "/peer/0", (size_t)posted, 30000) &&
              hk_rcv_wait_for_path(rcv, "/peer/1", (size_t)posted, 30000);
        by_serve = succeeded_attempts() - serve_before;
        print_message("round %d: the serve process made %lld of the %d "
                      "attempts, the dispatch peer %lld\n",
                      round + 1, by_serve, 2 * posted, 2 * posted - by_serve);
        if (by_serve < 2 * posted)
            break;
    }
    /* time for a second copy to show up, if one were coming */
    hk_sleep_ms(2000);
    bool alive = hk_srv_alive(&peer);
    int peer_exit = hk_srv_finish(&peer);
    if (!all)
        fail_msg("with two dispatchers only %zu and %zu of %d arrived",
                 hk_rcv_count_path(rcv, "/peer/0"),
                 hk_rcv_count_path(rcv, "/peer/1"), posted);
    if (!alive || peer_exit != 0)
        fail_msg("the dispatch peer did not run to a clean exit (%d)",
                 peer_exit);
    const char *const paths[] = {"/peer/0", "/peer/1"};
    for (int p = 0; p < 2; p++) {
        struct hk_eng_ids got;
        hk_eng_ids_at(rcv, paths[p], &got);
        print_message("%s: %zu requests, %zu unique\n", paths[p], got.total,
                      got.n);
        if (got.total != (size_t)posted || got.n != (size_t)posted)
            fail_msg("%s got %zu requests for %zu events; expected each of "
                     "%d exactly once",
                     paths[p], got.total, got.n, posted);
        for (int i = 0; i < posted; i++)
            if (!hk_eng_ids_has(&got, ids[i]))
                fail_msg("%s never got event %s", paths[p], ids[i]);
        hk_eng_ids_free(&got);
    }
    assert_int_equal(hk_sql_int(&srv,
                                "SELECT count(*) FROM hookd.attempts WHERE "
                                "tenant_id = $1",
                                tid),
                     2 * posted);
    /* both dispatchers took part: the serve process made only some */
    if (by_serve >= 2 * posted)
        fail_msg("the dispatch peer delivered nothing in %d rounds: the "
                 "serve process made all %lld attempts",
                 ROUNDS, by_serve);
    free(ids);
    free(key);
}

/* max_concurrency holds for the endpoint as a whole, not per dispatcher:
 * two dispatchers woken by the same NOTIFY must not both fill its slots. */
static void test_two_dispatchers_respect_max_concurrency(void **state)
{
    (void)state;
    enum { N = 24 };
    char tid[HK_ID_LEN], eid[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "peer-concurrency", tid);
    char *url = hk_rcv_url(rcv, "/peer/conc");
    hk_eng_endpoint(&srv, key, tid, url,
                    "\"event_types\":[\"peer.tick\"],\"max_concurrency\":2",
                    eid);
    free(url);
    struct hk_rcv_resp slow = {200, NULL, NULL, 300, false, "/peer/conc"};
    hk_rcv_set_default(rcv, &slow);
    static struct hk_srv peer;
    if (hk_srv_start_peer(&peer, &srv, "dispatch", NULL) != 0) {
        free(key);
        fail_msg("could not start a `hookd dispatch` peer");
    }
    for (int i = 0; i < N; i++)
        hk_eng_event(&srv, key, tid, "peer.tick", "{}", NULL);
    bool all = hk_rcv_wait_for_path(rcv, "/peer/conc", N, 30000);
    int peer_exit = hk_srv_finish(&peer);
    int most = hk_rcv_max_concurrency_path(rcv, "/peer/conc");
    print_message("two dispatchers, max_concurrency 2: at most %d requests "
                  "in flight at once\n",
                  most);
    free(key);
    if (!all)
        fail_msg("only %zu of %d arrived", hk_rcv_count_path(rcv, "/peer/conc"),
                 N);
    assert_int_equal(peer_exit, 0);
    if (most > 2)
        fail_msg("the receiver saw %d requests in flight at once for an "
                 "endpoint with max_concurrency 2",
                 most);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9_loses_nothing),
        cmocka_unit_test(test_sigterm_finishes_in_flight),
        cmocka_unit_test(test_sigterm_gives_back_waiting_work),
        cmocka_unit_test(test_kill9_then_endpoint_deleted),
        cmocka_unit_test(test_two_dispatchers_deliver_once),
        cmocka_unit_test(test_two_dispatchers_respect_max_concurrency),
    };
    int rc = cmocka_run_group_tests_name("crash", tests, group_setup,
                                         group_teardown);
    return hk_exit_code(rc);
}
