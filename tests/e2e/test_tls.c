/*
 * test_tls.c - deliveries over HTTPS, end to end: real TLS receivers (an
 * OpenSSL front before the tests' receiver, tlsrcv.h) presenting
 * certificates this file makes on the fly into its own temp folder, from a
 * private CA that hookd trusts only through HOOKD_CA_FILE (the system store
 * is never touched). A CA-signed certificate is delivered to with SNI and a
 * signature that verifies; self-signed, wrong-host and expired ones are
 * refused with the reason on the attempt and retried; a receiver that closes
 * every connection still gets every delivery, over resumed TLS sessions; a
 * receiver whose answers come in several TLS records at once has each answer
 * read whole on its first attempt; a bundle rewritten and announced with
 * SIGHUP is trusted from then on; and a HOOKD_CA_FILE that cannot be used
 * stops start-up naming the setting. Many receivers, over HTTP and HTTPS and
 * one that closes every connection, each get every delivery once, signed,
 * from several send threads, the closing one moved to a thread of its own.
 * Two hookd (serve), both with several send threads: one trusting the
 * private CA from the start, one whose bundle is rotated.
 */
#include "engine_util.h"
#include "tlsrcv.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[4200];          /* this run's certificates */
static struct hk_tls_id *ca;    /* the private CA that hookd trusts */
static struct hk_tls_id *other; /* a CA nobody trusts */
static struct hk_tls_id *good, *self_signed, *wrong_host, *expired;
static struct hk_rcv *rcv;
static struct hk_tls_front *f_good, *f_self, *f_wrong, *f_expired, *f_close;
static struct hk_tls_front *f_split; /* answers in several TLS records */
static struct hk_srv srv;  /* HOOKD_CA_FILE: the private CA */
static struct hk_srv srv2; /* HOOKD_CA_FILE: rotated during a test */
static char *ca_file, *rotating_file;

static int group_setup(void **state)
{
    (void)state;
    const char *run = getenv("HOOKD_TEST_RUN");
    snprintf(dir, sizeof(dir), "%s/test_tls-XXXXXX", run ? run : "/tmp");
    if (mkdtemp(dir) == NULL)
        return -1;
    const char *names = "DNS:localhost,IP:127.0.0.1";
    ca = hk_tls_ca_new("hookd test private CA");
    other = hk_tls_ca_new("hookd test other CA");
    if (ca == NULL || other == NULL)
        return -1;
    good = hk_tls_cert_new(ca, "localhost", names, -60, 86400);
    self_signed = hk_tls_cert_new(NULL, "localhost", names, -60, 86400);
    wrong_host = hk_tls_cert_new(ca, "wrong.example", "DNS:wrong.example",
                                 -60, 86400);
    expired = hk_tls_cert_new(ca, "localhost", names, -30 * 86400, -86400);
    if (!good || !self_signed || !wrong_host || !expired)
        return -1;
    ca_file = hk_fmt("%s/private-ca.pem", dir);
    rotating_file = hk_fmt("%s/rotating-ca.pem", dir);
    const struct hk_tls_id *trusted[] = {ca};
    const struct hk_tls_id *untrusted[] = {other};
    if (hk_tls_write_bundle(ca_file, trusted, 1) != 0 ||
        hk_tls_write_bundle(rotating_file, untrusted, 1) != 0)
        return -1;

    rcv = hk_rcv_start();
    if (rcv == NULL)
        return -1;
    f_good = hk_tls_front_start(rcv, good);
    f_self = hk_tls_front_start(rcv, self_signed);
    f_wrong = hk_tls_front_start(rcv, wrong_host);
    f_expired = hk_tls_front_start(rcv, expired);
    f_close = hk_tls_front_start(rcv, good);
    f_split = hk_tls_front_start(rcv, good);
    if (!f_good || !f_self || !f_wrong || !f_expired || !f_close || !f_split)
        return -1;
    hk_tls_front_split_answers(f_split);

    char *env1 = hk_fmt("HOOKD_CA_FILE=%s", ca_file);
    char *env2 = hk_fmt("HOOKD_CA_FILE=%s", rotating_file);
    /* More send threads than the default, so that receivers are spread
     * over several keep-alive threads beside the isolated one. */
    const char *const e1[] = {env1, "HOOKD_SEND_THREADS=4", NULL};
    const char *const e2[] = {env2, "HOOKD_RETRY_SCHEDULE=1s,1s,1s,1s,1s,1s,1s,1s",
                              "HOOKD_SEND_THREADS=8", NULL};
    int rc = hk_srv_start(&srv, e1) == 0 && hk_srv_start(&srv2, e2) == 0
                 ? 0
                 : -1;
    free(env1);
    free(env2);
    if (rc == 0) {
        hk_mk_event_type(&srv, "tls.test");
        hk_mk_event_type(&srv2, "tls.test");
    }
    return rc;
}

static int group_teardown(void **state)
{
    (void)state;
    int rc = hk_srv_finish(&srv);
    if (hk_srv_finish(&srv2) != 0)
        rc = -1;
    hk_tls_front_stop(f_good);
    hk_tls_front_stop(f_self);
    hk_tls_front_stop(f_wrong);
    hk_tls_front_stop(f_expired);
    hk_tls_front_stop(f_close);
    hk_tls_front_stop(f_split);
    hk_rcv_stop(rcv);
    hk_tls_id_free(good);
    hk_tls_id_free(self_signed);
    hk_tls_id_free(wrong_host);
    hk_tls_id_free(expired);
    hk_tls_id_free(ca);
    hk_tls_id_free(other);
    unlink(ca_file);
    unlink(rotating_file);
    rmdir(dir);
    free(ca_file);
    free(rotating_file);
    return rc;
}

/* An endpoint at url for a new tenant of s, one event to it; did gets the
 * delivery's id. Returns the tenant's key (caller frees). */
static char *deliver_one(struct hk_srv *s, const char *url, char *tid,
                         char *eid, char *did)
{
    char evid[HK_ID_LEN];
    char *key = hk_eng_tenant(s, "tls", tid);
    hk_eng_endpoint(s, key, tid, url, "\"event_types\":[\"tls.test\"]", eid);
    hk_eng_event(s, key, tid, "tls.test", "{\"over\":\"https\"}", evid);
    hk_eng_delivery_id(s, key, tid, evid, eid, did);
    return key;
}

static void test_ca_signed_receiver_gets_signed_delivery(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN], did[HK_ID_LEN];
    char *url = hk_tls_front_url(f_good, "localhost", "/tls/ok");
    char *key = deliver_one(&srv, url, tid, eid, did);
    json_decref(hk_eng_wait_status(&srv, key, tid, did, "succeeded", 15000));

    assert_true(hk_rcv_wait_for_path(rcv, "/tls/ok", 1, 5000));
    char *secret = hk_eng_secret(&srv, key, tid, eid);
    assert_true(hk_eng_sig_ok(hk_rcv_get_path(rcv, "/tls/ok", 0), secret));
    char sni[256];
    hk_tls_front_last_sni(f_good, sni, sizeof(sni));
    assert_string_equal(sni, "localhost");
    json_t *att = hk_eng_attempts(&srv, key, tid, did);
    assert_int_equal(json_array_size(att), 1);
    assert_int_equal(hk_jint(json_array_get(att, 0), "status_code", -1), 200);
    json_t *error = hk_jget(json_array_get(att, 0), "error");
    assert_true(error == NULL || json_is_null(error));
    /* a new connection: the handshake's time is shown on its own, and the
     * address reached is the front's */
    double ms[5];
    hk_eng_timings(json_array_get(att, 0), ms);
    if (!(ms[2] > 0.0))
        fail_msg("tls_ms %.3f on an attempt that opened a new HTTPS "
                 "connection", ms[2]);
    const char *ip = hk_jstr(json_array_get(att, 0), "remote_ip");
    if (ip == NULL || (strcmp(ip, "127.0.0.1") != 0 && strcmp(ip, "::1") != 0))
        fail_msg("remote_ip %s for a receiver on localhost",
                 ip ? ip : "(none)");
    json_decref(att);
    free(secret);
    free(key);
    free(url);
}

/* A delivery to front is refused at every attempt with a reason holding
 * want (or want2 when not NULL), retried, and the receiver hears nothing.
 * refused_in_handshake: the certificate is refused during the handshake
 * (the front counts it failed); a host name is checked after it. */
static void expect_refused(struct hk_tls_front *front, const char *path,
                           const char *want, const char *want2,
                           bool refused_in_handshake)
{
    char tid[HK_ID_LEN], eid[HK_ID_LEN], did[HK_ID_LEN];
    char *url = hk_tls_front_url(front, "localhost", path);
    size_t before = hk_tls_front_counts(front).failed;
    char *key = deliver_one(&srv, url, tid, eid, did);
    json_t *att = hk_eng_wait_attempts(&srv, key, tid, did, 2, 15000);
    for (size_t i = 0; i < 2; i++) {
        json_t *a = json_array_get(att, i);
        const char *err = hk_jstr(a, "error");
        if (!json_is_null(hk_jget(a, "status_code")) || err == NULL ||
            (strstr(err, want) == NULL &&
             (want2 == NULL || strstr(err, want2) == NULL)))
            fail_msg("attempt %zu to %s: status_code %s, error \"%s\"; "
                     "want no status and an error with \"%s\"",
                     i + 1, url,
                     json_is_null(hk_jget(a, "status_code")) ? "null"
                                                              : "a number",
                     err ? err : "(none)", want);
    }
    if (refused_in_handshake)
        assert_true(hk_tls_front_counts(front).failed >= before + 2);
    assert_int_equal(hk_rcv_count_path(rcv, path), 0);
    json_decref(att);
    free(key);
    free(url);
}

static void test_self_signed_refused_and_retried(void **state)
{
    (void)state;
    /* OpenSSL 3 writes "self-signed", earlier ones "self signed" */
    expect_refused(f_self, "/tls/self", "self-signed certificate",
                   "self signed certificate", true);
}

static void test_wrong_host_refused_and_retried(void **state)
{
    (void)state;
    expect_refused(f_wrong, "/tls/wrong", "host name 'localhost'", NULL,
                   false);
}

static void test_expired_refused_and_retried(void **state)
{
    (void)state;
    expect_refused(f_expired, "/tls/expired", "certificate has expired", NULL,
                   true);
}

/* A receiver that closes the connection after every answer gets every
 * delivery, each over a new TLS connection; the sessions they make are
 * resumed by later connections. */
static void test_closing_receiver_gets_every_delivery(void **state)
{
    (void)state;
    enum { N = 30 };
    static const char *const close_hdr[] = {"Connection: close", NULL};
    hk_rcv_set_default(rcv, &(struct hk_rcv_resp){200, close_hdr, "ok", 0,
                                                  false, "/tls/close"});
    char tid[HK_ID_LEN], eid[HK_ID_LEN];
    char *url = hk_tls_front_url(f_close, "localhost", "/tls/close");
    char *key = hk_eng_tenant(&srv, "tls-close", tid);
    hk_eng_endpoint(&srv, key, tid, url,
                    "\"event_types\":[\"tls.test\"],\"max_concurrency\":2",
                    eid);
    struct hk_tls_counts before = hk_tls_front_counts(f_close);
    for (int i = 0; i < N; i++) {
        char *payload = hk_fmt("{\"n\":%d}", i);
        hk_eng_event(&srv, key, tid, "tls.test", payload, NULL);
        free(payload);
    }
    if (!hk_rcv_wait_for_path(rcv, "/tls/close", N, 30000))
        fail_msg("the closing receiver got %zu of %d deliveries",
                 hk_rcv_count_path(rcv, "/tls/close"), N);
    struct hk_eng_ids ids;
    hk_eng_ids_at(rcv, "/tls/close", &ids);
    assert_int_equal(ids.n, N);
    hk_eng_ids_free(&ids);
    json_t *all = hk_eng_deliveries(&srv, key, tid, NULL);
    for (int tries = 0; tries < 100; tries++) {
        size_t done = 0;
        for (size_t i = 0; i < json_array_size(all); i++)
            done += strcmp(hk_jstr(json_array_get(all, i), "status"),
                           "succeeded") == 0;
        if (done == N)
            break;
        hk_sleep_ms(100);
        json_decref(all);
        all = hk_eng_deliveries(&srv, key, tid, NULL);
    }
    for (size_t i = 0; i < json_array_size(all); i++)
        assert_string_equal(hk_jstr(json_array_get(all, i), "status"),
                            "succeeded");
    json_decref(all);
    struct hk_tls_counts after = hk_tls_front_counts(f_close);
    if (after.handshakes - before.handshakes < N ||
        after.resumed - before.resumed < 1)
        fail_msg("%zu handshakes (%zu resumed) for %d deliveries to a "
                 "receiver that closes every connection; want one each, "
                 "some resumed",
                 after.handshakes - before.handshakes,
                 after.resumed - before.resumed, N);
    free(key);
    free(url);
}

/* A receiver that writes each answer as several TLS records, which reach
 * hookd in one segment (servers that write a response in pieces do this;
 * the first piece here holds no whole header line), has every answer read
 * whole on its first attempt, on the same keep-alive connection. A TLS
 * client that read the later records from the socket with the first
 * (OpenSSL's read-ahead, off in deliver.c for this reason) and then waited
 * on the socket for them would wait until the request timed out (2 s in
 * these tests), and the attempt would be recorded as a timeout. */
static void test_answer_in_records_read_at_once(void **state)
{
    (void)state;
    enum { N = 5 };
    static const char body[] = "{\"received\":true,\"by\":\"split\"}";
    hk_rcv_set_default(rcv, &(struct hk_rcv_resp){200, NULL, body, 0, false,
                                                  "/tls/split"});
    char tid[HK_ID_LEN], eid[HK_ID_LEN];
    char *url = hk_tls_front_url(f_split, "localhost", "/tls/split");
    char *key = hk_eng_tenant(&srv, "tls-split", tid);
    /* one at a time, so that every answer after the first comes over the
     * connection the first opened */
    hk_eng_endpoint(&srv, key, tid, url,
                    "\"event_types\":[\"tls.test\"],\"max_concurrency\":1",
                    eid);
    size_t split_before = hk_tls_front_counts(f_split).split_answers;
    char dids[N][HK_ID_LEN];
    for (int i = 0; i < N; i++) {
        char evid[HK_ID_LEN];
        char *payload = hk_fmt("{\"n\":%d}", i);
        hk_eng_event(&srv, key, tid, "tls.test", payload, evid);
        hk_eng_delivery_id(&srv, key, tid, evid, eid, dids[i]);
        free(payload);
    }
    for (int i = 0; i < N; i++) {
        json_decref(hk_eng_wait_status(&srv, key, tid, dids[i], "succeeded",
                                       15000));
        json_t *att = hk_eng_attempts(&srv, key, tid, dids[i]);
        json_t *a = json_array_get(att, 0);
        assert_int_equal(json_array_size(att), 1);
        assert_int_equal(hk_jint(a, "status_code", -1), 200);
        const char *got = hk_jstr(a, "response.body");
        if (got == NULL || strcmp(got, body) != 0)
            fail_msg("delivery %d recorded the answer \"%s\"; the receiver "
                     "sent \"%s\"", i, got ? got : "(none)", body);
        json_decref(att);
    }
    size_t split = hk_tls_front_counts(f_split).split_answers - split_before;
    if (split < N)
        fail_msg("the receiver split %zu of %d answers into records",
                 split, N);
    size_t shook = hk_tls_front_counts(f_split).handshakes;
    if (shook >= N)
        fail_msg("%zu handshakes for %d deliveries one at a time: the "
                 "connection was not kept after a split answer", shook, N);
    free(key);
    free(url);
}

/* Whether s's log has a line holding both a and b. */
static bool log_has(const struct hk_srv *s, const char *a, const char *b)
{
    bool found = false;
    FILE *log = fopen(s->log_path, "r");
    char line[4096];
    while (log != NULL && !found && fgets(line, sizeof(line), log))
        found = strstr(line, a) != NULL && strstr(line, b) != NULL;
    if (log != NULL)
        fclose(log);
    return found;
}

/* Nine endpoints of one tenant on six receivers (scheme, host and port:
 * what decides a delivery's send thread), among them one that closes
 * every connection, all subscribed to one event type: every endpoint gets
 * every event exactly once with a signature that verifies, while the
 * closing receiver is moved to the isolated send thread (and says so in
 * the log) in the middle of the run. */
static void test_many_receivers_across_send_threads(void **state)
{
    (void)state;
    enum { EVENTS = 40, KEEP = 8 };
    static const char *const close_hdr[] = {"Connection: close", NULL};
    hk_rcv_set_default(rcv, &(struct hk_rcv_resp){200, close_hdr, "ok", 0,
                                                  false, "/mt/close"});
    char tid[HK_ID_LEN], eid[KEEP + 1][HK_ID_LEN];
    char *path[KEEP + 1], *url[KEEP + 1];
    char *key = hk_eng_tenant(&srv, "tls-many", tid);
    hk_mk_event_type(&srv, "tls.many");
    for (int i = 0; i < KEEP; i++) {
        /* two endpoints on each of localhost and 127.0.0.1, over each of
         * HTTPS and HTTP: four receivers */
        const char *host = i % 2 ? "localhost" : "127.0.0.1";
        path[i] = hk_fmt("/mt/%d", i);
        url[i] = i % 4 < 2 ? hk_tls_front_url(f_good, host, path[i])
                           : hk_fmt("http://%s:%d%s", host,
                                    hk_rcv_port(rcv), path[i]);
    }
    path[KEEP] = hk_fmt("/mt/close");
    url[KEEP] = hk_tls_front_url(f_close, "localhost", path[KEEP]);
    for (int i = 0; i <= KEEP; i++)
        hk_eng_endpoint(&srv, key, tid, url[i],
                        "\"event_types\":[\"tls.many\"],"
                        "\"max_concurrency\":2",
                        eid[i]);
    for (int i = 0; i < EVENTS; i++) {
        char *payload = hk_fmt("{\"n\":%d}", i);
        hk_eng_event(&srv, key, tid, "tls.many", payload, NULL);
        free(payload);
    }
    for (int i = 0; i <= KEEP; i++) {
        if (!hk_rcv_wait_for_path(rcv, path[i], EVENTS, 60000))
            fail_msg("%s got %zu of %d deliveries", url[i],
                     hk_rcv_count_path(rcv, path[i]), EVENTS);
    }
    /* nothing more arrives: no delivery is sent twice */
    hk_sleep_ms(500);
    for (int i = 0; i <= KEEP; i++) {
        struct hk_eng_ids ids;
        hk_eng_ids_at(rcv, path[i], &ids);
        if (ids.n != EVENTS || ids.total != EVENTS)
            fail_msg("%s: %zu requests, %zu distinct events; want %d of "
                     "each",
                     url[i], ids.total, ids.n, EVENTS);
        hk_eng_ids_free(&ids);
        char *secret = hk_eng_secret(&srv, key, tid, eid[i]);
        for (size_t k = 0; k < EVENTS; k++)
            if (!hk_eng_sig_ok(hk_rcv_get_path(rcv, path[i], k), secret))
                fail_msg("%s: request %zu's signature does not verify",
                         url[i], k);
        free(secret);
    }
    char *moved_url = hk_tls_front_url(f_close, "localhost", "");
    char *moved = hk_fmt("\"%s\"", moved_url);
    free(moved_url);
    if (!log_has(&srv, "send thread of their own", moved))
        fail_msg("no log line says %s was moved to a send thread of its "
                 "own",
                 moved);
    /* the receivers that keep their connections open were not moved */
    for (int i = 0; i < 2; i++) {
        char *kept_url = hk_tls_front_url(
            f_good, i ? "localhost" : "127.0.0.1", "");
        char *kept = hk_fmt("\"%s\"", kept_url);
        assert_false(log_has(&srv, "send thread of their own", kept));
        free(kept);
        free(kept_url);
    }
    hk_expect_alive(&srv);
    free(moved);
    for (int i = 0; i <= KEEP; i++) {
        free(path[i]);
        free(url[i]);
    }
    free(key);
}

/* The second hookd trusts another CA: the private one's receiver is
 * refused (the system store does not know it either) until the bundle is
 * rewritten with it and hookd is sent SIGHUP. */
static void test_rotated_bundle_trusted_after_sighup(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN], did[HK_ID_LEN];
    char *url = hk_tls_front_url(f_good, "localhost", "/tls/rotated");
    char *key = deliver_one(&srv2, url, tid, eid, did);
    json_t *att = hk_eng_wait_attempts(&srv2, key, tid, did, 1, 15000);
    const char *err = hk_jstr(json_array_get(att, 0), "error");
    if (err == NULL || strstr(err, "unable to get local issuer") == NULL)
        fail_msg("the first attempt, before the CA is trusted: error \"%s\"",
                 err ? err : "(none)");
    json_decref(att);
    assert_int_equal(hk_rcv_count_path(rcv, "/tls/rotated"), 0);
    /* The store is the process's, not a send thread's: receivers carried
     * by other threads (each name and port is a receiver of its own),
     * refused before the reload, trust the new CA after it as well. */
    enum { MORE = 3 };
    const char *hosts[MORE] = {"127.0.0.1", "localhost", "127.0.0.1"};
    struct hk_tls_front *fronts[MORE] = {f_good, f_close, f_close};
    char tid2[MORE][HK_ID_LEN], eid2[MORE][HK_ID_LEN], did2[MORE][HK_ID_LEN];
    char *path2[MORE], *key2[MORE];
    for (int i = 0; i < MORE; i++) {
        path2[i] = hk_fmt("/tls/rotated/%d", i);
        char *url2 = hk_tls_front_url(fronts[i], hosts[i], path2[i]);
        key2[i] = deliver_one(&srv2, url2, tid2[i], eid2[i], did2[i]);
        json_decref(hk_eng_wait_attempts(&srv2, key2[i], tid2[i], did2[i], 1,
                                         15000));
        free(url2);
    }

    const struct hk_tls_id *both[] = {other, ca};
    assert_int_equal(hk_tls_write_bundle(rotating_file, both, 2), 0);
    assert_int_equal(kill(srv2.pid, SIGHUP), 0);
    json_decref(hk_eng_wait_status(&srv2, key, tid, did, "succeeded", 15000));
    assert_true(hk_rcv_wait_for_path(rcv, "/tls/rotated", 1, 5000));
    hk_expect_alive(&srv2);
    for (int i = 0; i < MORE; i++) {
        json_decref(hk_eng_wait_status(&srv2, key2[i], tid2[i], did2[i],
                                       "succeeded", 15000));
        assert_true(hk_rcv_wait_for_path(rcv, path2[i], 1, 5000));
        free(key2[i]);
        free(path2[i]);
    }

    /* a bundle that no longer loads: hookd says so and goes on with the
     * CAs in use (what it then trusts is test_trust's) */
    FILE *f = fopen(rotating_file, "w");
    assert_non_null(f);
    fputs("not a certificate\n", f);
    fclose(f);
    assert_int_equal(kill(srv2.pid, SIGHUP), 0);
    bool said = false;
    for (int i = 0; i < 50 && !said; i++) {
        hk_sleep_ms(100);
        FILE *log = fopen(srv2.log_path, "r");
        char line[2048];
        while (log != NULL && !said && fgets(line, sizeof(line), log))
            said = strstr(line, "cannot load the trusted CAs") != NULL &&
                   strstr(line, "holds no certificate") != NULL;
        if (log != NULL)
            fclose(log);
    }
    if (!said)
        fail_msg("no log line says the broken bundle was not loaded");
    hk_expect_alive(&srv2);
    const struct hk_tls_id *back[] = {other};
    assert_int_equal(hk_tls_write_bundle(rotating_file, back, 1), 0);
    free(key);
    free(url);
}

/* `hookd serve` with HOOKD_CA_FILE set to what is not a usable bundle
 * exits with status 2 and one line naming the setting and the reason. */
static void expect_bad_ca_file(const char *path, const char *why)
{
    const char *args[] = {"serve", NULL};
    char *env = hk_fmt("HOOKD_CA_FILE=%s", path);
    const char *extra[] = {env, NULL};
    char *out = NULL;
    int rc = hk_srv_exec(&srv, args, extra, &out);
    size_t n = strlen(out);
    bool one_line =
        n > 0 && out[n - 1] == '\n' && memchr(out, '\n', n - 1) == NULL;
    if (rc != 2 || !one_line ||
        strncmp(out, "hookd: HOOKD_CA_FILE: ", 22) != 0 ||
        strstr(out, why) == NULL)
        fail_msg("hookd serve with %s: exit %d, want 2 and one line "
                 "\"hookd: HOOKD_CA_FILE: ...%s...\"; output:\n%s",
                 env, rc, why, out);
    free(env);
    free(out);
}

static void test_unusable_ca_file_stops_startup(void **state)
{
    (void)state;
    char *missing = hk_fmt("%s/missing.pem", dir);
    char *text = hk_fmt("%s/text.pem", dir);
    char *broken = hk_fmt("%s/broken.pem", dir);
    FILE *f = fopen(text, "w");
    assert_non_null(f);
    fputs("# a comment and no certificate\n", f);
    fclose(f);
    f = fopen(broken, "w");
    assert_non_null(f);
    fputs("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n"
          "-----END CERTIFICATE-----\n",
          f);
    fclose(f);
    expect_bad_ca_file(missing, "No such file or directory");
    expect_bad_ca_file(text, "holds no certificate");
    expect_bad_ca_file(broken, "is not a valid PEM bundle");
    expect_bad_ca_file(dir, "is not a regular file");
    unlink(text);
    unlink(broken);
    free(missing);
    free(text);
    free(broken);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ca_signed_receiver_gets_signed_delivery),
        cmocka_unit_test(test_self_signed_refused_and_retried),
        cmocka_unit_test(test_wrong_host_refused_and_retried),
        cmocka_unit_test(test_expired_refused_and_retried),
        cmocka_unit_test(test_closing_receiver_gets_every_delivery),
        cmocka_unit_test(test_answer_in_records_read_at_once),
        cmocka_unit_test(test_many_receivers_across_send_threads),
        cmocka_unit_test(test_rotated_bundle_trusted_after_sighup),
        cmocka_unit_test(test_unusable_ca_file_stops_startup),
    };
    int rc = cmocka_run_group_tests_name("tls", tests, group_setup,
                                         group_teardown);
    return hk_exit_code(rc);
}
