/*
 * test_pgrestart.c - end-to-end tests of "nothing is lost" (docs/design.md)
 * when PostgreSQL goes away and comes back: the test run's own cluster is
 * stopped (`scripts/pg.sh stop`, a fast shutdown) and started again on
 * the same port while hookd runs. First while a steady stream of events
 * is posted: POSTs made while the database is down must answer 503
 * `unavailable` at once (no hang, no other status, hookd stays up),
 * /readyz must answer 200 again once it is back, and every event whose
 * POST answered 202 must reach the receiver (repeats are allowed and
 * reported) and end `succeeded` in the API. Then with requests in flight
 * to a slow receiver, so that the dispatcher finishes them while it cannot
 * record them: after the restart they must be recorded or sent again, and
 * end `succeeded`. After each restart, once /readyz has answered 200, a
 * burst of concurrent API reads must answer 200, not 503: docs/api.md keeps
 * `unavailable` for a database that cannot be reached (checked last, after
 * the loss checks). One hookd (serve) for the file with
 * HOOKD_REQUEST_TIMEOUT=3s and a retry
 * schedule of seconds. The cluster is shared with the other test
 * programs: every test's teardown starts it again if it is down.
 * scripts/test.sh gives its folder in HOOKD_TEST_PGDIR.
 */
#include "engine_util.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct hk_srv srv;
static struct hk_rcv *rcv;
static char pg_script[4200];
static char pg_dir[4096];
static char pg_port[16];

/* ---- the cluster ---------------------------------------------------------
 */

/* `scripts/pg.sh stop DIR` or `scripts/pg.sh start DIR PORT fast`, its
 * output on stderr and none of this process's other descriptors (the
 * postmaster it starts outlives us and must not hold our sockets).
 * Returns its exit status (-1 when it could not run or took over 90 s);
 * *ms gets how long it took. Starting a cluster that runs on that port
 * already does nothing. */
static int pg_run(const char *verb, int64_t *ms)
{
    const char *stop[] = {pg_script, "stop", pg_dir, NULL};
    const char *start[] = {pg_script, "start", pg_dir, pg_port, "fast", NULL};
    const char *const *argv = strcmp(verb, "stop") == 0 ? stop : start;
    int64_t t0 = hk_wall_ms();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        dup2(2, 1);
        closefrom(3);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int rc = -1, st;
    while (pid > 0) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
        if (w < 0 || hk_wall_ms() - t0 > 90000) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            break;
        }
        hk_sleep_ms(20);
    }
    if (ms != NULL)
        *ms = hk_wall_ms() - t0;
    if (rc != 0)
        fprintf(stderr, "test_pgrestart: `pg.sh %s %s` exited with %d\n", verb,
                pg_dir, rc);
    return rc;
}

/* Every test ends with the cluster running, whatever happened. */
static int pg_ensure_up(void **state)
{
    (void)state;
    if (pg_run("start", NULL) != 0) {
        fprintf(stderr, "test_pgrestart: could not start the test cluster "
                        "again: the tests after this one will fail\n");
        return -1;
    }
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    const char *dir = getenv("HOOKD_TEST_PGDIR");
    const char *port = getenv("HOOKD_TEST_PGPORT");
    const char *src = getenv("HOOKD_SOURCE_DIR");
    if (dir == NULL || dir[0] == '\0' || port == NULL || port[0] == '\0') {
        fprintf(stderr, "test_pgrestart: HOOKD_TEST_PGDIR and "
                        "HOOKD_TEST_PGPORT must name the test cluster "
                        "(scripts/test.sh sets them)\n");
        return -1;
    }
    snprintf(pg_dir, sizeof pg_dir, "%s", dir);
    snprintf(pg_port, sizeof pg_port, "%s", port);
    snprintf(pg_script, sizeof pg_script, "%s/scripts/pg.sh",
             src != NULL && src[0] != '\0' ? src : ".");

    static const char *const env[] = {
        "HOOKD_REQUEST_TIMEOUT=3s",
        "HOOKD_RETRY_SCHEDULE=1s,1s,1s,1s,1s,1s,1s,1s", NULL};
    rcv = hk_rcv_start();
    if (rcv == NULL)
        return -1;
    struct hk_rcv_resp ok = {200, NULL, NULL, 10, false, NULL};
    hk_rcv_set_default(rcv, &ok);
    if (hk_srv_start(&srv, env) != 0)
        return -1;
    hk_mk_event_type(&srv, "pg.tick");
    return 0;
}

static int group_teardown(void **state)
{
    int up = pg_ensure_up(state);
    int rc = hk_srv_finish(&srv);
    hk_rcv_stop(rcv);
    rcv = NULL;
    return up != 0 ? -1 : rc;
}

/* ---- checks shared by both tests ------------------------------------------
 */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The tenant's deliveries through the API: the event ids of those that
 * succeeded (sorted, for hk_eng_ids_has) and how many are not succeeded
 * (open). */
static void succeeded_events(const char *key, const char *tid,
                             struct hk_eng_ids *done, long long *open)
{
    json_t *all = hk_eng_deliveries(&srv, key, tid, NULL);
    memset(done, 0, sizeof *done);
    done->v = calloc(json_array_size(all) + 1, sizeof *done->v);
    assert_non_null(done->v);
    *open = 0;
    size_t i;
    json_t *d;
    json_array_foreach(all, i, d)
    {
        const char *st = hk_jstr(d, "status");
        const char *ev = hk_jstr(d, "event_id");
        done->total++;
        if (st == NULL || strcmp(st, "succeeded") != 0 || ev == NULL) {
            (*open)++;
            continue;
        }
        done->v[done->n] = strdup(ev);
        assert_non_null(done->v[done->n]);
        done->n++;
    }
    qsort(done->v, done->n, sizeof *done->v, cmp_str);
    json_decref(all);
}

/* How far the delivery of ids[0..n) (empty strings skipped) has come. */
struct progress {
    size_t not_arrived;   /* accepted events the receiver never saw */
    size_t not_succeeded; /* accepted events without a succeeded delivery */
    long long open;       /* deliveries of the tenant not succeeded */
    size_t requests;      /* requests the receiver path got */
    size_t unique;        /* distinct webhook-ids among them */
    const char *first_missing;
};

static void check_progress(const char *key, const char *tid, const char *path,
                           char (*ids)[HK_ID_LEN], size_t n, struct progress *p)
{
    struct hk_eng_ids got, done;
    hk_eng_ids_at(rcv, path, &got);
    succeeded_events(key, tid, &done, &p->open);
    p->not_arrived = p->not_succeeded = 0;
    p->first_missing = NULL;
    for (size_t i = 0; i < n; i++) {
        if (ids[i][0] == '\0')
            continue;
        if (!hk_eng_ids_has(&got, ids[i])) {
            p->not_arrived++;
            if (p->first_missing == NULL)
                p->first_missing = ids[i];
        }
        if (!hk_eng_ids_has(&done, ids[i]))
            p->not_succeeded++;
    }
    p->requests = got.total;
    p->unique = got.n;
    hk_eng_ids_free(&got);
    hk_eng_ids_free(&done);
}

/* Polls until every accepted event has arrived and every delivery of the
 * tenant has succeeded, or for timeout_ms; p gets the last state.
 * *arrived_ms and *done_ms get when each first held, in ms since since_ms
 * (wall clock), or -1 if never. */
static void wait_all_delivered(const char *key, const char *tid,
                               const char *path, char (*ids)[HK_ID_LEN],
                               size_t n, int64_t since_ms, int timeout_ms,
                               struct progress *p, int64_t *arrived_ms,
                               int64_t *done_ms)
{
    int64_t t0 = hk_wall_ms();
    *arrived_ms = *done_ms = -1;
    for (;;) {
        check_progress(key, tid, path, ids, n, p);
        int64_t now = hk_wall_ms();
        if (p->not_arrived == 0 && *arrived_ms < 0)
            *arrived_ms = now - since_ms;
        if (p->not_arrived == 0 && p->not_succeeded == 0 && p->open == 0) {
            *done_ms = now - since_ms;
            return;
        }
        if (now - t0 >= timeout_ms)
            return;
        hk_sleep_ms(200);
    }
}

/* GET path's status and error code (code may be NULL). */
static long get_status(const char *path, char *code, size_t codelen)
{
    struct hk_reply *r = hk_http(&srv, "GET", path, NULL, NULL, NULL, 0, NULL);
    long st = r->status;
    if (code != NULL) {
        const char *c = hk_jstr(r->json, "error.code");
        snprintf(code, codelen, "%s", c ? c : "");
    }
    hk_reply_free(r);
    return st;
}

/* Polls /readyz (every 100 ms, up to 20 s) until it answers 200; returns
 * how long that took, or -1. */
static int64_t wait_ready(void)
{
    int64_t t0 = hk_wall_ms();
    while (hk_wall_ms() - t0 < 20000) {
        if (get_status("/readyz", NULL, 0) == 200)
            return hk_wall_ms() - t0;
        hk_sleep_ms(100);
    }
    return -1;
}

/* A burst of reads from BURST_CLIENTS clients at once, so that every API
 * thread, and so every pooled connection it may hold, serves some. */
#define BURST_CLIENTS 4
#define BURST_READS 10

struct burst {
    const char *key;
    char *path;
    atomic_int n503;
    atomic_int nother; /* neither 200 nor 503 */
    atomic_long other_status;
};

static void *burst_reader(void *arg)
{
    struct burst *b = arg;
    for (int i = 0; i < BURST_READS; i++) {
        struct hk_reply *r =
            hk_http(&srv, "GET", b->path, b->key, NULL, NULL, 0, NULL);
        if (r->status == 503) {
            atomic_fetch_add(&b->n503, 1);
        } else if (r->status != 200) {
            atomic_fetch_add(&b->nother, 1);
            atomic_store(&b->other_status, r->status);
        }
        hk_reply_free(r);
    }
    return NULL;
}

/* Once PostgreSQL is back and /readyz has said so, reads of the tenant's
 * deliveries must answer 200: docs/api.md keeps 503 `unavailable` for a
 * database that cannot be reached. Returns how many answered 503; any
 * other failure fails the test. */
static int read_burst(const char *key, const char *tid)
{
    struct burst b = {.key = key};
    b.path = hk_fmt("/v1/tenants/%s/deliveries?limit=1", tid);
    pthread_t t[BURST_CLIENTS];
    for (int i = 0; i < BURST_CLIENTS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, burst_reader, &b), 0);
    for (int i = 0; i < BURST_CLIENTS; i++)
        pthread_join(t[i], NULL);
    free(b.path);
    int n503 = atomic_load(&b.n503);
    print_message("after the restart, %d of %d concurrent API reads answered "
                  "503\n",
                  n503, BURST_CLIENTS * BURST_READS);
    if (atomic_load(&b.nother) > 0)
        fail_msg("%d API reads after the restart answered neither 200 nor "
                 "503 (the last: %ld)",
                 atomic_load(&b.nother), atomic_load(&b.other_status));
    return n503;
}

/* The check read_burst prepares; made last, so that what is lost or not
 * is known and reported first. */
static void expect_no_503_after_restart(int n503)
{
    if (n503 > 0)
        fail_msg("%d of %d API reads answered 503 `unavailable` although "
                 "PostgreSQL was back and /readyz had answered 200: pooled "
                 "connections the restart broke are only found broken by "
                 "the request whose query fails on them (see the hookd log: "
                 "\"server closed the connection unexpectedly\")",
                 n503, BURST_CLIENTS * BURST_READS);
}

/* ---- a restart while events stream in -----------------------------------
 */

#define STREAM_EVENTS 300
#define STREAM_MS 8000
#define STOP_AFTER_MS 2500
#define DOWN_MS 2000
/* a POST made while the database is down answers 503 within this */
#define REFUSE_MS 1000
#define DELIVER_TIMEOUT_MS 60000

enum phase { UP, STOPPING, DOWN, STARTING, UP_AGAIN, NPHASES };
static const char *const phase_name[NPHASES] = {"up", "stopping", "down",
                                                "starting", "up again"};
static atomic_int phase;

struct post {
    long status;
    char code[32]; /* error.code of a non-2xx answer */
    char err[256]; /* the client's error when no answer came */
    int ms;
    int phase_from, phase_to; /* when it was sent and when it came back */
};

struct stream {
    const char *key;
    const char *tid;
    char ids[STREAM_EVENTS][HK_ID_LEN]; /* "" unless it answered 202 */
    struct post posts[STREAM_EVENTS];
    atomic_int posted;
};

/* Posts STREAM_EVENTS events evenly over STREAM_MS (sequentially, each
 * waiting for its answer), noting what each got and in which phase. */
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
        char *body = hk_fmt("{\"event_type\":\"pg.tick\",\"payload\":"
                            "{\"seq\":%d}}",
                            i);
        struct post *p = &st->posts[i];
        p->phase_from = atomic_load(&phase);
        int64_t sent = hk_wall_ms();
        struct hk_reply *r =
            hk_http(&srv, "POST", path, st->key, "application/json", body,
                    strlen(body), NULL);
        p->ms = (int)(hk_wall_ms() - sent);
        p->phase_to = atomic_load(&phase);
        free(body);
        p->status = r->status;
        snprintf(p->err, sizeof p->err, "%s", r->err);
        const char *code = hk_jstr(r->json, "error.code");
        snprintf(p->code, sizeof p->code, "%s", code ? code : "");
        const char *id = hk_jstr(r->json, "id");
        if (r->status == 202 && id != NULL)
            snprintf(st->ids[i], HK_ID_LEN, "%s", id);
        hk_reply_free(r);
        atomic_store(&st->posted, i + 1);
    }
    free(path);
    return NULL;
}

static void test_pg_restart_while_streaming(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "pgrestart", tid);
    char *url = hk_rcv_url(rcv, "/pg/stream");
    hk_eng_endpoint(&srv, key, tid, url, "\"max_concurrency\":20", eid);
    free(url);

    struct stream *st = calloc(1, sizeof *st);
    assert_non_null(st);
    st->key = key;
    st->tid = tid;
    atomic_store(&phase, UP);
    pthread_t poster;
    assert_int_equal(pthread_create(&poster, NULL, post_stream, st), 0);

    /* Nothing here may fail the test before the poster is joined: the
     * outcome of each step is kept and checked afterwards. */
    hk_sleep_ms(STOP_AFTER_MS);
    int posted_at_stop = atomic_load(&st->posted);
    atomic_store(&phase, STOPPING);
    int64_t stop_ms, start_ms;
    int stop_rc = pg_run("stop", &stop_ms);
    atomic_store(&phase, DOWN);
    int64_t down_at = hk_wall_ms();
    print_message("PostgreSQL stopped after %d of %d events posted (the stop "
                  "took %lld ms)\n",
                  posted_at_stop, STREAM_EVENTS, (long long)stop_ms);
    hk_sleep_ms(DOWN_MS / 2);
    char ready_code[32];
    long health_down = get_status("/healthz", NULL, 0);
    long ready_down = get_status("/readyz", ready_code, sizeof ready_code);
    int64_t left = DOWN_MS - (hk_wall_ms() - down_at);
    if (left > 0)
        hk_sleep_ms((int)left);
    atomic_store(&phase, STARTING);
    int start_rc = pg_run("start", &start_ms);
    atomic_store(&phase, UP_AGAIN);
    int64_t up_at = hk_wall_ms();
    print_message("PostgreSQL down for %lld ms (the start took %lld ms)\n",
                  (long long)(up_at - down_at), (long long)start_ms);
    /* /readyz answers 200 again soon after */
    int64_t ready_ms = start_rc == 0 ? wait_ready() : -1;
    pthread_join(poster, NULL);
    int64_t stream_end = hk_wall_ms();

    if (stop_rc != 0 || start_rc != 0)
        fail_msg("could not %s the test cluster (see above)",
                 stop_rc != 0 ? "stop" : "start");
    if (!hk_srv_alive(&srv)) {
        hk_srv_print_log(&srv, 6000);
        fail_msg("hookd died while PostgreSQL was restarted");
    }
    print_message("while PostgreSQL was down: /healthz %ld, /readyz %ld %s; "
                  "/readyz 200 again %lld ms after the start\n",
                  health_down, ready_down, ready_code, (long long)ready_ms);

    /* what each POST got, by phase */
    int accepted = 0, by_phase[NPHASES][2] = {{0}}, down_posts = 0,
        down_max_ms = 0, bad = 0;
    for (int i = 0; i < STREAM_EVENTS; i++) {
        const struct post *p = &st->posts[i];
        bool ok = p->status == 202 && st->ids[i][0] != '\0';
        bool refused = p->status == 503 && strcmp(p->code, "unavailable") == 0;
        accepted += ok;
        by_phase[p->phase_from][ok ? 0 : 1]++;
        if (!ok && !refused && bad++ < 5)
            print_error("POST %d (sent while %s, back while %s, %d ms): "
                        "status %ld %s%s\n",
                        i, phase_name[p->phase_from], phase_name[p->phase_to],
                        p->ms, p->status, p->code, p->err);
        if (p->phase_from == DOWN && p->phase_to == DOWN) {
            down_posts++;
            if (p->ms > down_max_ms)
                down_max_ms = p->ms;
        }
    }
    for (int f = 0; f < NPHASES; f++)
        print_message("  POSTs sent while %-9s %3d accepted, %3d refused\n",
                      phase_name[f], by_phase[f][0], by_phase[f][1]);
    print_message("%d of %d events accepted; %d POSTs made while the database "
                  "was down, the slowest answered in %d ms\n",
                  accepted, STREAM_EVENTS, down_posts, down_max_ms);
    if (health_down != 200)
        fail_msg("GET /healthz answered %ld while PostgreSQL was down; "
                 "expected 200",
                 health_down);
    if (ready_down != 503 || strcmp(ready_code, "unavailable") != 0)
        fail_msg("GET /readyz answered %ld %s while PostgreSQL was down; "
                 "expected 503 unavailable",
                 ready_down, ready_code);
    if (ready_ms < 0)
        fail_msg("GET /readyz did not answer 200 within 20 s of PostgreSQL "
                 "starting again");
    if (bad > 0)
        fail_msg("%d POSTs got neither 202 nor 503 unavailable (see above)",
                 bad);
    if (down_posts < 10)
        fail_msg("only %d POSTs were made while the database was down: the "
                 "outage was not exercised",
                 down_posts);
    for (int i = 0; i < STREAM_EVENTS; i++) {
        const struct post *p = &st->posts[i];
        if (p->phase_from == DOWN && p->phase_to == DOWN &&
            (p->status != 503 || strcmp(p->code, "unavailable") != 0 ||
             p->ms > REFUSE_MS))
            fail_msg("POST %d while the database was down answered %ld %s "
                     "after %d ms; expected 503 unavailable within %d ms",
                     i, p->status, p->code, p->ms, REFUSE_MS);
    }
    if (by_phase[UP_AGAIN][0] == 0 || st->ids[STREAM_EVENTS - 1][0] == '\0')
        fail_msg("events are still refused after PostgreSQL is back (the last "
                 "POST answered %ld %s)",
                 st->posts[STREAM_EVENTS - 1].status,
                 st->posts[STREAM_EVENTS - 1].code);
    int n503 = read_burst(key, tid);

    /* everything accepted arrives and succeeds */
    struct progress p;
    int64_t arrived_ms, done_ms;
    wait_all_delivered(key, tid, "/pg/stream", st->ids, STREAM_EVENTS,
                       stream_end, DELIVER_TIMEOUT_MS, &p, &arrived_ms,
                       &done_ms);
    print_message("every accepted event arrived %lld ms after the stream "
                  "ended and every delivery succeeded after %lld ms; the "
                  "receiver got %zu requests for %zu events: %zu repeats\n",
                  (long long)arrived_ms, (long long)done_ms, p.requests,
                  p.unique, p.requests - p.unique);
    if (p.not_arrived > 0) {
        hk_srv_print_log(&srv, 6000);
        fail_msg("%zu of %d accepted events never reached the receiver "
                 "within %d s (first: %s)",
                 p.not_arrived, accepted, DELIVER_TIMEOUT_MS / 1000,
                 p.first_missing);
    }
    if (p.not_succeeded > 0 || p.open > 0) {
        hk_srv_print_log(&srv, 6000);
        fail_msg("%zu accepted events have no succeeded delivery and %lld "
                 "deliveries are not succeeded %d s after the stream",
                 p.not_succeeded, p.open, DELIVER_TIMEOUT_MS / 1000);
    }
    hk_expect_alive(&srv);
    free(st);
    free(key);
    expect_no_503_after_restart(n503);
}

/* ---- a restart with requests in flight ----------------------------------
 */

#define SLOW_EVENTS 30
#define SLOW_MS 1000

static void test_pg_down_with_requests_in_flight(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "pginflight", tid);
    char *url = hk_rcv_url(rcv, "/pg/slow");
    hk_eng_endpoint(&srv, key, tid, url, "\"max_concurrency\":50", eid);
    free(url);
    struct hk_rcv_resp slow = {200, NULL, "ok", SLOW_MS, false, "/pg/slow"};
    hk_rcv_set_default(rcv, &slow);

    char(*ids)[HK_ID_LEN] = calloc(SLOW_EVENTS, HK_ID_LEN);
    assert_non_null(ids);
    for (int i = 0; i < SLOW_EVENTS; i++)
        hk_eng_event(&srv, key, tid, "pg.tick", "{}", ids[i]);
    if (!hk_rcv_wait_for_path(rcv, "/pg/slow", SLOW_EVENTS, 10000))
        fail_msg("only %zu of %d requests reached the slow receiver",
                 hk_rcv_count_path(rcv, "/pg/slow"), SLOW_EVENTS);

    /* stop the database while they are being answered */
    int in_flight = hk_rcv_in_flight(rcv);
    int64_t stop_from = hk_wall_ms(), stop_ms, start_ms;
    int stop_rc = pg_run("stop", &stop_ms);
    int64_t stopped = hk_wall_ms();
    /* each is answered SLOW_MS after its body came; those answered once
     * the stop was complete cannot be recorded until the restart */
    int unrecordable = 0;
    for (size_t i = 0;; i++) {
        const struct hk_rcv_req *q = hk_rcv_get_path(rcv, "/pg/slow", i);
        if (q == NULL)
            break;
        if (q->body_ms < stop_from && q->body_ms + SLOW_MS > stopped)
            unrecordable++;
    }
    print_message("PostgreSQL stopped in %lld ms with %d requests in flight; "
                  "%d of them were answered after the stop\n",
                  (long long)stop_ms, in_flight, unrecordable);
    /* all answered, and the recorder has failed and tried again */
    hk_sleep_ms(SLOW_MS + 1500);
    long health_down = get_status("/healthz", NULL, 0);
    int left_in_flight = hk_rcv_in_flight(rcv);
    size_t got_down = hk_rcv_count_path(rcv, "/pg/slow");
    int start_rc = pg_run("start", &start_ms);
    int64_t up_at = hk_wall_ms();
    print_message("PostgreSQL down for %lld ms (the start took %lld ms)\n",
                  (long long)(up_at - stopped), (long long)start_ms);
    if (stop_rc != 0 || start_rc != 0)
        fail_msg("could not %s the test cluster (see above)",
                 stop_rc != 0 ? "stop" : "start");
    if (!hk_srv_alive(&srv)) {
        hk_srv_print_log(&srv, 6000);
        fail_msg("hookd died while PostgreSQL was down");
    }
    if (health_down != 200)
        fail_msg("GET /healthz answered %ld while PostgreSQL was down",
                 health_down);
    if (left_in_flight != 0)
        fail_msg("%d requests still in flight %d ms after the stop",
                 left_in_flight, SLOW_MS + 1500);
    if (unrecordable == 0)
        fail_msg("no request was answered while the database was down (the "
                 "stop took %lld ms): the case was not exercised",
                 (long long)stop_ms);
    int64_t ready_ms = wait_ready();
    if (ready_ms < 0)
        fail_msg("GET /readyz did not answer 200 within 20 s of PostgreSQL "
                 "starting again");
    print_message("/readyz 200 again %lld ms after the start\n",
                  (long long)ready_ms);
    int n503 = read_burst(key, tid);

    struct progress p;
    int64_t arrived_ms, done_ms;
    wait_all_delivered(key, tid, "/pg/slow", ids, SLOW_EVENTS, up_at,
                       DELIVER_TIMEOUT_MS, &p, &arrived_ms, &done_ms);
    if (p.not_succeeded > 0 || p.open > 0) {
        hk_srv_print_log(&srv, 6000);
        fail_msg("%zu of %d events have no succeeded delivery %d s after "
                 "PostgreSQL came back (%lld deliveries not succeeded)",
                 p.not_succeeded, SLOW_EVENTS, DELIVER_TIMEOUT_MS / 1000,
                 p.open);
    }
    assert_int_equal(p.not_arrived, 0);

    /* how each delivery got there: its outcome recorded after the
     * restart (one attempt) or sent again by the endpoint's owner */
    int once = 0, again = 0;
    long long attempts = 0;
    json_t *all = hk_eng_deliveries(&srv, key, tid, NULL);
    size_t i;
    json_t *d;
    json_array_foreach(all, i, d)
    {
        json_t *at = hk_eng_attempts(&srv, key, tid, hk_jstr(d, "id"));
        size_t n = json_array_size(at);
        attempts += (long long)n;
        if (n == 0)
            fail_msg("delivery %s succeeded with no attempt recorded",
                     hk_jstr(d, "id"));
        if (hk_jint(json_array_get(at, n - 1), "status_code", 0) != 200)
            fail_msg("the last attempt of delivery %s is not the 200 it got",
                     hk_jstr(d, "id"));
        if (n == 1)
            once++;
        else
            again++;
        json_decref(at);
    }
    json_decref(all);
    print_message("every delivery succeeded %lld ms after the start: %d with "
                  "one attempt, %d sent again; the receiver got %zu requests "
                  "(%zu before the restart) for %zu events, %zu "
                  "repeats; %lld attempts recorded\n",
                  (long long)done_ms, once, again, p.requests, got_down,
                  p.unique, p.requests - p.unique, attempts);
    if ((long long)p.requests > attempts)
        print_message("note: %lld requests the receiver answered have no "
                      "attempt recorded\n",
                      (long long)p.requests - attempts);
    hk_expect_alive(&srv);
    free(ids);
    free(key);
    expect_no_503_after_restart(n503);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_pg_restart_while_streaming,
                                  pg_ensure_up),
        cmocka_unit_test_teardown(test_pg_down_with_requests_in_flight,
                                  pg_ensure_up),
    };
    int rc = cmocka_run_group_tests_name("pgrestart", tests, group_setup,
                                         group_teardown);
    return hk_exit_code(rc);
}
