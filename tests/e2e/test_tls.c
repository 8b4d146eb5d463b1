/*
 * test_tls.c - deliveries over HTTPS, end to end: real TLS receivers (an
 * OpenSSL front before the tests' receiver, tlsrcv.h) presenting
 * certificates this file makes on the fly into its own temp folder, from a
 * private CA that hookd trusts only through HOOKD_CA_FILE (the system store
 * is never touched). A CA-signed certificate is delivered to with SNI and a
 * signature that verifies; self-signed, wrong-host and expired ones are
 * refused with the reason on the attempt and retried; a receiver that
 * closes every connection still gets every delivery, over resumed TLS
 * sessions; a bundle rewritten and announced with SIGHUP is trusted from
 * then on; and a HOOKD_CA_FILE that cannot be used stops start-up naming
 * the setting. Two hookd (serve): one trusting the private CA from the
 * start, one whose bundle is rotated.
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
    if (!f_good || !f_self || !f_wrong || !f_expired || !f_close)
        return -1;

    char *env1 = hk_fmt("HOOKD_CA_FILE=%s", ca_file);
    char *env2 = hk_fmt("HOOKD_CA_FILE=%s", rotating_file);
    const char *const e1[] = {env1, NULL};
    const char *const e2[] = {env2, "HOOKD_RETRY_SCHEDULE=1s,1s,1s,1s,1s,1s,1s,1s",
                              NULL};
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

    const struct hk_tls_id *both[] = {other, ca};
    assert_int_equal(hk_tls_write_bundle(rotating_file, both, 2), 0);
    assert_int_equal(kill(srv2.pid, SIGHUP), 0);
    json_decref(hk_eng_wait_status(&srv2, key, tid, did, "succeeded", 15000));
    assert_true(hk_rcv_wait_for_path(rcv, "/tls/rotated", 1, 5000));
    hk_expect_alive(&srv2);

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
        cmocka_unit_test(test_rotated_bundle_trusted_after_sighup),
        cmocka_unit_test(test_unusable_ca_file_stops_startup),
    };
    int rc = cmocka_run_group_tests_name("tls", tests, group_setup,
                                         group_teardown);
    return hk_exit_code(rc);
}
