/*
 * test_owners.c - end-to-end tests of endpoint ownership (docs/engine.md,
 * "Ownership") on the deployment it is for: three `hookd dispatch`
 * processes and two `hookd api` processes on one PostgreSQL. What a user
 * relies on, seen at the receiver: an endpoint's rate_limit holds in
 * every one-second window whatever the number of dispatchers, so does
 * max_concurrency, a fifo endpoint gets its events one at a time in order
 * through failures and retries, a receiver answering 429 sees the
 * endpoint's requests in flight fall to one and grow back, a
 * dispatcher killed with kill -9 mid-run loses nothing while the others
 * take over its endpoints, and one over its share when another joins
 * gives up idle endpoints before the one it is sending to.
 */
#include "engine_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NDISP 3

static struct hk_srv api[2];
static struct hk_srv disp[NDISP];
static struct hk_rcv *rcv;

static int group_setup(void **state)
{
    (void)state;
    static const char *const env[] = {
        "HOOKD_REQUEST_TIMEOUT=1s",
        "HOOKD_RETRY_SCHEDULE=300ms,300ms,300ms,300ms,300ms,300ms,300ms,"
        "300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,"
        "300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms",
        NULL};
    rcv = hk_rcv_start();
    if (rcv == NULL)
        return -1;
    if (hk_srv_start_role(&api[0], "api", env) != 0)
        return -1;
    if (hk_srv_start_peer(&api[1], &api[0], "api", NULL) != 0)
        return -1;
    for (int i = 0; i < NDISP; i++)
        if (hk_srv_start_peer(&disp[i], &api[0], "dispatch", NULL) != 0)
            return -1;
    hk_mk_event_type(&api[0], "own.tick");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    int rc = 0;
    for (int i = 0; i < NDISP; i++)
        if (hk_srv_finish(&disp[i]) != 0)
            rc = -1;
    if (hk_srv_finish(&api[1]) != 0)
        rc = -1;
    if (hk_srv_finish(&api[0]) != 0)
        rc = -1;
    hk_rcv_stop(rcv);
    rcv = NULL;
    return rc;
}

/* Posts n events {"n": first..first+n-1} through the two API processes in
 * turn. */
static void post_n(const char *key, const char *tid, int first, int n)
{
    for (int i = first; i < first + n; i++) {
        char payload[32];
        snprintf(payload, sizeof payload, "{\"n\":%d}", i);
        hk_eng_event(&api[i % 2], key, tid, "own.tick", payload, NULL);
    }
}

/* The "n" of the payload a request carried, or -1. */
static int payload_n(const struct hk_rcv_req *q)
{
    const char *at = strstr(q->body, "\"n\":");
    return at ? (int)strtol(at + 4, NULL, 10) : -1;
}

/* The id a dispatch process logged at its start ("dispatcher started"),
 * into id (HK_ID_LEN); false when the log has none. */
static bool dispatcher_id(const struct hk_srv *s, char *id)
{
    FILE *f = fopen(s->log_path, "r");
    if (f == NULL)
        return false;
    char line[4096];
    bool found = false;
    const char *tag = "\"dispatcher_id\":\"";
    while (fgets(line, sizeof line, f) != NULL) {
        const char *at = strstr(line, tag);
        if (at == NULL || strlen(at + strlen(tag)) < 36)
            continue;
        snprintf(id, HK_ID_LEN, "%.36s", at + strlen(tag));
        found = true; /* the last start's */
    }
    fclose(f);
    return found;
}

/* A rate_limit of 5 per second holds at the receiver in every one-second
 * window (5, plus one at the window's two ends), though three dispatchers
 * are there to send and two API processes take the events. */
static void test_rate_limit_holds_across_dispatchers(void **state)
{
    (void)state;
    enum { N = 30 };
    char tid[HK_ID_LEN], eid[HK_ID_LEN];
    char *key = hk_eng_tenant(&api[0], "owners rate", tid);
    char *url = hk_rcv_url(rcv, "/own/rate");
    hk_eng_endpoint(&api[0], key, tid, url,
                    "\"rate_limit\":5,\"max_concurrency\":10", eid);
    post_n(key, tid, 0, N);
    bool all = hk_rcv_wait_for_path(rcv, "/own/rate", N, 30000);
    size_t got = hk_rcv_count_path(rcv, "/own/rate");
    int64_t *t = calloc(got, sizeof(*t));
    assert_non_null(t);
    for (size_t i = 0; i < got; i++)
        t[i] = hk_rcv_get_path(rcv, "/own/rate", i)->arrival_ms;
    int most = 0;
    for (size_t i = 0; i < got; i++) {
        int in = 0;
        for (size_t k = 0; k < got; k++)
            if (t[k] >= t[i] && t[k] < t[i] + 1000)
                in++;
        if (in > most)
            most = in;
    }
    double secs = got > 1 ? (double)(t[got - 1] - t[0]) / 1000.0 : 0;
    print_message("rate_limit 5, three dispatchers: %zu requests in %.2f s, "
                  "at most %d in one second\n",
                  got, secs, most);
    free(t);
    free(url);
    free(key);
    if (!all)
        fail_msg("only %zu of %d arrived", got, N);
    if (most > 6)
        fail_msg("%d requests within one second at an endpoint with "
                 "rate_limit 5",
                 most);
    /* the limit is not stricter than it says: 30 at 5/s take about 6 s */
    if (secs > 9.0)
        fail_msg("30 requests at rate_limit 5 took %.2f s", secs);
}

/* max_concurrency holds for the endpoint as a whole: slow answers, three
 * dispatchers, never more than 3 requests in flight at the receiver. */
static void test_max_concurrency_holds_across_dispatchers(void **state)
{
    (void)state;
    enum { N = 30 };
    char tid[HK_ID_LEN], eid[HK_ID_LEN];
    char *key = hk_eng_tenant(&api[0], "owners concurrency", tid);
    char *url = hk_rcv_url(rcv, "/own/conc");
    hk_eng_endpoint(&api[0], key, tid, url, "\"max_concurrency\":3", eid);
    struct hk_rcv_resp slow = {200, NULL, NULL, 200, false, "/own/conc"};
    hk_rcv_set_default(rcv, &slow);
    post_n(key, tid, 0, N);
    bool all = hk_rcv_wait_for_path(rcv, "/own/conc", N, 30000);
    int most = hk_rcv_max_concurrency_path(rcv, "/own/conc");
    print_message("max_concurrency 3, three dispatchers: at most %d in "
                  "flight\n",
                  most);
    free(url);
    free(key);
    if (!all)
        fail_msg("only %zu of %d arrived", hk_rcv_count_path(rcv, "/own/conc"),
                 N);
    if (most > 3)
        fail_msg("%d requests in flight at once at an endpoint with "
                 "max_concurrency 3",
                 most);
    /* the endpoint's slots were used: it was not sent to one at a time */
    assert_true(most >= 2);
}

/* A fifo endpoint receives its events one at a time in the order they
 * were posted, though the receiver fails the first two tries of the 3rd
 * and the first try of the 7th: each waits for its retry, holding the
 * ones behind it, and nothing overtakes it. */
static void test_fifo_in_order_through_retries(void **state)
{
    (void)state;
    enum { N = 12 };
    char tid[HK_ID_LEN], eid[HK_ID_LEN];
    char *key = hk_eng_tenant(&api[0], "owners fifo", tid);
    char *url = hk_rcv_url(rcv, "/own/fifo");
    hk_eng_endpoint(&api[0], key, tid, url,
                    "\"max_concurrency\":5,\"ordering\":\"fifo\"", eid);
    /* answers in arrival order: one at a time, so request k is known */
    const struct hk_rcv_resp ok = {200, NULL, NULL, 30, false, "/own/fifo"};
    const struct hk_rcv_resp bad = {500, NULL, NULL, 30, false, "/own/fifo"};
    const struct hk_rcv_resp script[] = {ok,  ok, bad, bad, ok, ok, ok, ok,
                                         bad, ok, ok,  ok,  ok, ok, ok};
    hk_rcv_set_script(rcv, script, sizeof script / sizeof script[0]);
    /* one API process: its ids follow the order of the posts */
    for (int i = 0; i < N; i++) {
        char payload[32];
        snprintf(payload, sizeof payload, "{\"n\":%d}", i);
        hk_eng_event(&api[0], key, tid, "own.tick", payload, NULL);
    }
    bool all = hk_rcv_wait_for_path(rcv, "/own/fifo", N + 3, 30000);
    size_t got = hk_rcv_count_path(rcv, "/own/fifo");
    int next = 0, most = hk_rcv_max_concurrency_path(rcv, "/own/fifo");
    char seen[512] = "";
    for (size_t i = 0; i < got; i++) {
        const struct hk_rcv_req *q = hk_rcv_get_path(rcv, "/own/fifo", i);
        int n = payload_n(q);
        size_t len = strlen(seen);
        snprintf(seen + len, sizeof seen - len, "%s%d%s", i ? " " : "", n,
                 q->status >= 300 ? "!" : "");
        /* the head again (a retry) or, once it succeeded, the next */
        if (n != next)
            fail_msg("fifo endpoint got event %d while event %d was due "
                     "(arrivals: %s)",
                     n, next, seen);
        if (q->status >= 200 && q->status < 300)
            next++;
    }
    print_message("fifo arrivals (! failed): %s\n", seen);
    free(url);
    free(key);
    if (!all || next != N)
        fail_msg("fifo endpoint: %d of %d events delivered (arrivals: %s)",
                 next, N, seen);
    if (most > 1)
        fail_msg("%d requests in flight at once at a fifo endpoint", most);
}

/* A receiver answering 429 sees the endpoint's requests in flight fall to
 * one, across all three dispatchers, and grow back once it answers 2xx. */
static void test_throttled_endpoint_falls_and_recovers(void **state)
{
    (void)state;
    enum { MAXC = 6 };
    char tid[HK_ID_LEN], eid[HK_ID_LEN];
    char *key = hk_eng_tenant(&api[0], "owners adaptive", tid);
    char *url = hk_rcv_url(rcv, "/own/busy");
    hk_eng_endpoint(&api[0], key, tid, url, "\"max_concurrency\":6", eid);
    const char *ra[] = {"Retry-After: 0", NULL};
    struct hk_rcv_resp busy = {429, ra, NULL, 100, false, "/own/busy"};
    hk_rcv_set_default(rcv, &busy);
    post_n(key, tid, 0, 3 * MAXC);
    const char *q = "SELECT COALESCE(current_concurrency, max_concurrency)"
                    " FROM hookd.endpoints WHERE tenant_id = $1 AND id = $2";
    int64_t until = hk_wall_ms() + 20000;
    long long cur;
    while ((cur = hk_sql_int(&api[0], q, tid, eid)) > 1 && hk_wall_ms() < until)
        hk_sleep_ms(50);
    if (cur > 1)
        fail_msg("a receiver answering 429 still has %lld requests in "
                 "flight allowed after 20 s",
                 cur);
    /* requests started under the old limit end; then one at a time.
     * The endpoint may move to another dispatcher meanwhile (one over
     * its share gives up the endpoint it took last when another endpoint
     * goes quiet), which pauses its requests for a round or two; the new
     * owner starts from the limit the last one wrote. */
    hk_sleep_ms(300);
    hk_rcv_reset_max(rcv);
    size_t before = hk_rcv_count_path(rcv, "/own/busy");
    until = hk_wall_ms() + 15000;
    while (hk_rcv_count_path(rcv, "/own/busy") < before + 5 &&
           hk_wall_ms() < until)
        hk_sleep_ms(50);
    if (hk_rcv_count_path(rcv, "/own/busy") < before + 5)
        fail_msg("a throttled endpoint got %zu requests in 15 s",
                 hk_rcv_count_path(rcv, "/own/busy") - before);
    int seen = hk_rcv_max_concurrency_path(rcv, "/own/busy");
    if (seen > 1)
        fail_msg("%d requests in flight at once from three dispatchers at "
                 "an endpoint held to one",
                 seen);
    /* it recovers */
    struct hk_rcv_resp fine = {200, NULL, NULL, 20, false, "/own/busy"};
    hk_rcv_set_default(rcv, &fine);
    until = hk_wall_ms() + 30000;
    for (int round = 0; (cur = hk_sql_int(&api[0], q, tid, eid)) < MAXC &&
                        hk_wall_ms() < until;
         round++) {
        post_n(key, tid, 100 + round * 2 * MAXC, 2 * MAXC);
        hk_sleep_ms(300);
    }
    if (cur < MAXC)
        fail_msg("requests in flight grew back to %lld of %d only", cur, MAXC);
    free(url);
    free(key);
}

/* kill -9 of a dispatcher that owns endpoints with work: every event
 * still reaches every endpoint: the other two take its endpoints over
 * when their leases run out (9 s), and send what it had in flight or
 * waiting again. */
static void test_kill9_endpoints_taken_over(void **state)
{
    (void)state;
    enum { NEP = 6, N = 40 };
    char tid[HK_ID_LEN], eids[NEP][HK_ID_LEN], victim[HK_ID_LEN];
    char *key = hk_eng_tenant(&api[0], "owners kill", tid);
    char *url = hk_rcv_url(rcv, "/own/kill");
    for (int i = 0; i < NEP; i++)
        hk_eng_endpoint(&api[0], key, tid, url, "\"max_concurrency\":2",
                        eids[i]);
    struct hk_rcv_resp slow = {200, NULL, NULL, 100, false, "/own/kill"};
    hk_rcv_set_default(rcv, &slow);
    assert_true(dispatcher_id(&disp[0], victim));
    post_n(key, tid, 0, N);
    /* the victim owns some of them while they have work */
    const char *owns = "SELECT count(*) FROM hookd.endpoint_owners"
                       " WHERE tenant_id = $1 AND owner = $2"
                       " AND lease_until > now()";
    int64_t until = hk_wall_ms() + 15000;
    while (hk_sql_int(&api[0], owns, tid, victim) == 0 && hk_wall_ms() < until)
        hk_sleep_ms(20);
    long long had = hk_sql_int(&api[0], owns, tid, victim);
    hk_srv_kill9(&disp[0]);
    print_message("killed a dispatcher owning %lld of %d endpoints, %zu of "
                  "%d requests in\n",
                  had, NEP, hk_rcv_count_path(rcv, "/own/kill"), NEP * N);
    if (had == 0)
        fail_msg("dispatcher %s never owned an endpoint of six with work",
                 victim);
    /* more work while it is dead: the others must take its endpoints */
    post_n(key, tid, N, N);
    /* endpoint leases: 9 s */
    const char *pending = "SELECT count(*) FROM hookd.deliveries"
                          " WHERE tenant_id = $1 AND status <> 'succeeded'";
    until = hk_wall_ms() + 60000;
    while (hk_sql_int(&api[0], pending, tid) > 0 && hk_wall_ms() < until)
        hk_sleep_ms(200);
    long long left = hk_sql_int(&api[0], pending, tid);
    long long still = hk_sql_int(&api[0],
                                 "SELECT count(*) FROM hookd.endpoint_owners"
                                 " WHERE owner = $1 AND lease_until > now()",
                                 victim);
    struct hk_eng_ids got;
    hk_eng_ids_at(rcv, "/own/kill", &got);
    print_message("after kill -9: %zu events of %d received, %zu requests "
                  "for %d deliveries\n",
                  got.n, 2 * N, got.total, NEP * 2 * N);
    size_t distinct = got.n, total = got.total;
    hk_eng_ids_free(&got);
    /* the dead process is started again for the rest of the file */
    assert_int_equal(hk_srv_restart(&disp[0]), 0);
    free(url);
    free(key);
    if (left > 0)
        fail_msg("%lld deliveries not succeeded a minute after kill -9", left);
    if (still > 0)
        fail_msg("the killed dispatcher still holds %lld live endpoint "
                 "leases",
                 still);
    /* at least once: every event (its webhook-id) reached every endpoint */
    assert_int_equal(distinct, 2 * N);
    assert_true(total >= (size_t)NEP * 2 * N);
}

/* An endpoint that gets an event every two seconds has no pending work
 * most of the time, yet it keeps its owner from one event to the next
 * across lease renewals (every 3 s): given up between two events, the
 * next would wait for an ownership round before any claim took it. */
static void test_steady_endpoint_keeps_its_owner(void **state)
{
    (void)state;
    enum { N = 8, GAP_MS = 2000 };
    char tid[HK_ID_LEN], eid[HK_ID_LEN], first[HK_ID_LEN] = "";
    char *key = hk_eng_tenant(&api[0], "owners steady", tid);
    char *url = hk_rcv_url(rcv, "/own/steady");
    hk_eng_endpoint(&api[0], key, tid, url, NULL, eid);
    const char *owner = "SELECT owner FROM hookd.endpoint_owners"
                        " WHERE tenant_id = $1 AND endpoint_id = $2";
    int lost = 0, changed = 0;
    /* The earlier tests' endpoints are given up first. While they are
     * owned, a dispatcher over its share (the one restarted by the kill
     * -9 test joined with none) gives up idle endpoints, then the one it
     * took last, which could be this one, idle between its events: a
     * move this test is not about. */
    int64_t settle = hk_wall_ms() + 30000;
    while (hk_sql_int(&api[0], "SELECT count(*) FROM hookd.endpoint_owners") >
               0 &&
           hk_wall_ms() < settle)
        hk_sleep_ms(100);
    post_n(key, tid, 0, 1);
    int64_t until = hk_wall_ms() + 10000;
    while (hk_rcv_count_path(rcv, "/own/steady") < 1 && hk_wall_ms() < until)
        hk_sleep_ms(20);
    for (int i = 1; i <= N; i++) {
        int64_t next = hk_wall_ms() + GAP_MS;
        while (hk_wall_ms() < next) {
            char *o = hk_sql(&api[0], owner, tid, eid);
            if (o == NULL)
                lost++;
            else if (first[0] == '\0')
                snprintf(first, sizeof first, "%s", o);
            else if (strcmp(o, first) != 0)
                changed++;
            free(o);
            hk_sleep_ms(100);
        }
        post_n(key, tid, i, 1);
    }
    until = hk_wall_ms() + 10000;
    while (hk_rcv_count_path(rcv, "/own/steady") < N + 1 &&
           hk_wall_ms() < until)
        hk_sleep_ms(20);
    size_t got = hk_rcv_count_path(rcv, "/own/steady");
    free(url);
    free(key);
    assert_int_equal(got, N + 1);
    if (lost > 0 || changed > 0)
        fail_msg("an endpoint with an event every %d ms lost its owner "
                 "between events (%d samples without one, %d with another)",
                 GAP_MS, lost, changed);
}

/* A dispatcher over its share gives up the endpoints it holds nothing of
 * before one it is sending to: alone, it owns two endpoints whose
 * receivers asked for a minute's pause (429, Retry-After: 60) and, taken
 * last, one with requests in flight; once a second dispatcher joins,
 * the busy endpoint keeps its owner and its deliveries go on without a
 * pause while the idle ones are given up. */
static void test_busy_endpoint_kept_when_rebalancing(void **state)
{
    (void)state;
    enum { BUSY_EVENTS = 40 };
    char tid[HK_ID_LEN], idle[2][HK_ID_LEN], busy[HK_ID_LEN];
    char first[HK_ID_LEN];
    /* the earlier tests' endpoints are given up first (as above) */
    int64_t settle = hk_wall_ms() + 30000;
    while (hk_sql_int(&api[0], "SELECT count(*) FROM hookd.endpoint_owners") >
               0 &&
           hk_wall_ms() < settle)
        hk_sleep_ms(100);
    assert_int_equal(hk_srv_stop(&disp[1]), 0);
    assert_int_equal(hk_srv_stop(&disp[2]), 0);
    assert_true(dispatcher_id(&disp[0], first));

    hk_mk_event_type(&api[0], "own.idle");
    char *key = hk_eng_tenant(&api[0], "owners rebalance", tid);
    char *idle_url = hk_rcv_url(rcv, "/own/idle");
    char *busy_url = hk_rcv_url(rcv, "/own/busy");
    const char *pause_hdr[] = {"Retry-After: 60", NULL};
    struct hk_rcv_resp paused = {429, pause_hdr, NULL, 0, false, "/own/idle"};
    struct hk_rcv_resp slow = {200, NULL, NULL, 400, false, "/own/busy"};
    hk_rcv_set_default(rcv, &paused);
    hk_rcv_set_default(rcv, &slow);
    for (int i = 0; i < 2; i++)
        hk_eng_endpoint(&api[0], key, tid, idle_url,
                        "\"event_types\":[\"own.idle\"]", idle[i]);
    hk_eng_event(&api[0], key, tid, "own.idle", "{\"n\":0}", NULL);
    int64_t until = hk_wall_ms() + 10000;
    while (hk_rcv_count_path(rcv, "/own/idle") < 2 && hk_wall_ms() < until)
        hk_sleep_ms(20);
    assert_int_equal(hk_rcv_count_path(rcv, "/own/idle"), 2);

    hk_eng_endpoint(&api[0], key, tid, busy_url,
                    "\"event_types\":[\"own.tick\"],\"max_concurrency\":2",
                    busy);
    post_n(key, tid, 1, BUSY_EVENTS);
    const char *owner = "SELECT owner FROM hookd.endpoint_owners"
                        " WHERE tenant_id = $1 AND endpoint_id = $2";
    until = hk_wall_ms() + 10000;
    while (hk_rcv_count_path(rcv, "/own/busy") < 2 && hk_wall_ms() < until)
        hk_sleep_ms(20);
    for (int i = 0; i < 3; i++) {
        char *o = hk_sql(&api[0], owner, tid, i < 2 ? idle[i] : busy);
        if (o == NULL || strcmp(o, first) != 0)
            fail_msg("endpoint %d is owned by %s, not the only dispatcher", i,
                     o ? o : "nobody");
        free(o);
    }

    /* a second dispatcher joins: the share is two, then one */
    assert_int_equal(hk_srv_restart(&disp[1]), 0);
    int moved = 0, lost = 0, checks = 0;
    until = hk_wall_ms() + 5000;
    while (hk_wall_ms() < until) {
        char *o = hk_sql(&api[0], owner, tid, busy);
        if (o == NULL || strcmp(o, first) != 0)
            lost++;
        free(o);
        checks++;
        hk_sleep_ms(100);
    }
    for (int i = 0; i < 2; i++) {
        char *o = hk_sql(&api[0], owner, tid, idle[i]);
        if (o == NULL || strcmp(o, first) != 0)
            moved++;
        free(o);
    }
    assert_int_equal(hk_srv_restart(&disp[2]), 0);
    hk_rcv_set_default(rcv, &(struct hk_rcv_resp){200, NULL, NULL, 0, false,
                                                  "/own/idle"});
    free(idle_url);
    free(busy_url);
    free(key);
    if (lost > 0)
        fail_msg("the endpoint with requests in flight left its dispatcher "
                 "(%d of %d checks) when another joined",
                 lost, checks);
    if (moved == 0)
        fail_msg("the dispatcher over its share gave up neither idle "
                 "endpoint");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_limit_holds_across_dispatchers),
        cmocka_unit_test(test_max_concurrency_holds_across_dispatchers),
        cmocka_unit_test(test_fifo_in_order_through_retries),
        cmocka_unit_test(test_throttled_endpoint_falls_and_recovers),
        cmocka_unit_test(test_kill9_endpoints_taken_over),
        cmocka_unit_test(test_steady_endpoint_keeps_its_owner),
        cmocka_unit_test(test_busy_endpoint_kept_when_rebalancing),
    };
    return hk_exit_code(
        cmocka_run_group_tests(tests, group_setup, group_teardown));
}
