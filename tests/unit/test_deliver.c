/*
 * test_deliver.c - the outbound HTTP engine against a real receiver: an
 * in-process libmicrohttpd server on 127.0.0.1 (free port) that records what
 * it gets and answers by path. Covers the exact request a receiver sees and
 * its signatures, status outcomes, redirects not followed, timeouts, body
 * capping and UTF-8 repair, Retry-After, the connect-time address guard,
 * many transfers in flight, keep-alive reuse, the poll wake-ups, and the
 * attempt's timeline (struct hk_trace and its debug log line).
 */
/* cmocka needs these three included before it, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "deliver.h"
#include "log.h"
#include "sign.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define PREV_SECRET "whsec_dGhlIHByZXZpb3VzIHNlY3JldCBvZiB0aGlzIGVuZHBvaW50"
#define EVENT_ID "01890a5d-ac96-774b-bcce-b302099a8057"
#define BODY                                                                   \
    "{\"type\":\"invoice.paid\",\"timestamp\":\"2026-11-22T10:04:05.123Z\","   \
    "\"data\":{\"amount\":1200,\"name\":\"Z\xc3\xbcrich\"}}"

/* ---- the receiver ---------------------------------------------------- */

#define RX_MAX_HEADERS 32

struct rx_request {
    char method[16];
    char url[256];
    int nheaders;
    char names[RX_MAX_HEADERS][128];
    char values[RX_MAX_HEADERS][1024];
    char *body;
    size_t body_len;
};

struct receiver {
    struct MHD_Daemon *daemon;
    int port;
    pthread_mutex_t mu;
    int requests;           /* complete requests, every path */
    int connections;        /* TCP connections accepted */
    int target_hits;        /* requests to /target (the redirect's Location) */
    int64_t arrival_us;     /* wall clock when the last request was whole */
    struct rx_request last; /* the last request outside /target */
};

static struct receiver rx;

struct rx_conn {
    char *body;
    size_t len;
};

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind,
                                      const char *key, const char *value)
{
    struct rx_request *r = cls;
    (void)kind;
    if (r->nheaders < RX_MAX_HEADERS) {
        snprintf(r->names[r->nheaders], sizeof(r->names[0]), "%s", key);
        snprintf(r->values[r->nheaders], sizeof(r->values[0]), "%s",
                 value ? value : "");
        r->nheaders++;
    }
    return MHD_YES;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
                             const void *body, size_t len,
                             const char *const *headers)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, (void *)body, MHD_RESPMEM_MUST_COPY);
    for (size_t i = 0; headers && headers[i]; i += 2)
        MHD_add_response_header(resp, headers[i], headers[i + 1]);
    enum MHD_Result r = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct rx_conn *st = *con_cls;
    (void)cls;
    (void)version;

    if (!st) {
        st = calloc(1, sizeof(*st));
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_size) {
        st->body = realloc(st->body, st->len + *upload_size + 1);
        memcpy(st->body + st->len, upload, *upload_size);
        st->len += *upload_size;
        *upload_size = 0;
        return MHD_YES;
    }

    pthread_mutex_lock(&rx.mu);
    rx.requests++;
    rx.arrival_us = hk_trace_now_us();
    if (strcmp(url, "/target") == 0) {
        rx.target_hits++;
    } else {
        struct rx_request *r = &rx.last;
        free(r->body);
        memset(r, 0, sizeof(*r));
        snprintf(r->method, sizeof(r->method), "%s", method);
        snprintf(r->url, sizeof(r->url), "%s", url);
        MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, r);
        r->body = malloc(st->len + 1);
        if (st->len)
            memcpy(r->body, st->body, st->len);
        r->body[st->len] = '\0';
        r->body_len = st->len;
    }
    pthread_mutex_unlock(&rx.mu);

    if (strcmp(url, "/ok") == 0) {
        static const char *const h[] = {"X-Multi", "a",     "X-Multi", "b",
                                        "X-Case",  "Mixed", NULL};
        return reply(c, 200, "ok", 2, h);
    }
    if (strcmp(url, "/status/500") == 0)
        return reply(c, 500, "boom", 4, NULL);
    if (strcmp(url, "/status/204") == 0)
        return reply(c, 204, "", 0, NULL);
    if (strcmp(url, "/redirect") == 0) {
        char loc[64];
        snprintf(loc, sizeof(loc), "http://127.0.0.1:%d/target", rx.port);
        const char *const h[] = {"Location", loc, NULL};
        return reply(c, 302, "", 0, h);
    }
    if (strcmp(url, "/target") == 0)
        return reply(c, 200, "target", 6, NULL);
    if (strcmp(url, "/slow") == 0) {
        usleep(1200 * 1000);
        return reply(c, 200, "late", 4, NULL);
    }
    if (strcmp(url, "/big") == 0) {
        static char big[10 * 1024];
        memset(big, 'x', sizeof(big));
        return reply(c, 200, big, sizeof(big), NULL);
    }
    if (strcmp(url, "/badutf8") == 0) {
        /* a stray continuation byte, an invalid lead byte, a lead byte
         * followed by ASCII, a NUL, a surrogate, and a cut 3-byte sequence */
        static const char bad[] = "ok\x80|\xff|\xc3(|\0|\xed\xa0\x80|\xe2\x82";
        return reply(c, 200, bad, sizeof(bad) - 1, NULL);
    }
    if (strcmp(url, "/split") == 0) {
        /* a 2-byte character straddles the 4096-byte cut */
        static char split[5000];
        memset(split, 'a', sizeof(split));
        split[4095] = '\xc3';
        split[4096] = '\xa9';
        return reply(c, 200, split, sizeof(split), NULL);
    }
    if (strcmp(url, "/unavailable") == 0) {
        static const char *const h[] = {"Retry-After", "7", NULL};
        return reply(c, 503, "later", 5, h);
    }
    if (strcmp(url, "/ratelimited") == 0) {
        static const char *const h[] = {"Retry-After", "2", NULL};
        return reply(c, 429, "slow down", 9, h);
    }
    if (strcmp(url, "/retryafter200") == 0) {
        static const char *const h[] = {"Retry-After", "9", NULL};
        return reply(c, 200, "ok", 2, h);
    }
    return reply(c, 404, "no", 2, NULL);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct rx_conn *st = *con_cls;
    (void)cls;
    (void)c;
    (void)toe;
    if (st) {
        free(st->body);
        free(st);
        *con_cls = NULL;
    }
}

static void on_connection(void *cls, struct MHD_Connection *c,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    (void)c;
    (void)socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        pthread_mutex_lock(&rx.mu);
        rx.connections++;
        pthread_mutex_unlock(&rx.mu);
    }
}

static int rx_start(void **state)
{
    (void)state;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    pthread_mutex_init(&rx.mu, NULL);
    rx.daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
            MHD_USE_POLL,
        0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &sa,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (!rx.daemon)
        return -1;
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(rx.daemon, MHD_DAEMON_INFO_BIND_PORT);
    rx.port = info ? info->port : 0;
    return rx.port ? 0 : -1;
}

static int rx_stop(void **state)
{
    (void)state;
    MHD_stop_daemon(rx.daemon);
    free(rx.last.body);
    pthread_mutex_destroy(&rx.mu);
    return 0;
}

static int rx_requests(void)
{
    pthread_mutex_lock(&rx.mu);
    int n = rx.requests;
    pthread_mutex_unlock(&rx.mu);
    return n;
}

static int rx_connections(void)
{
    pthread_mutex_lock(&rx.mu);
    int n = rx.connections;
    pthread_mutex_unlock(&rx.mu);
    return n;
}

/* Value of a header the receiver got (case-insensitive name), or NULL. */
static const char *rx_header(const char *name)
{
    for (int i = 0; i < rx.last.nheaders; i++)
        if (strcasecmp(rx.last.names[i], name) == 0)
            return rx.last.values[i];
    return NULL;
}

/* ---- helpers --------------------------------------------------------- */

static struct hk_deliver *deliverer(bool allow_private, int64_t timeout_ms)
{
    struct hk_deliver_opts o = {.timeout_ms = timeout_ms,
                                .allow_private = allow_private,
                                .max_host_connections = 0};
    return hk_deliver_new(&o);
}

static struct hk_job *job_for(const char *host, const char *path)
{
    struct hk_job *j = hk_job_new();
    snprintf(j->event_id, sizeof(j->event_id), "%s", EVENT_ID);
    j->attempt_number = 1;
    j->url = hk_asprintf("http://%s:%d%s", host, rx.port, path);
    j->body = hk_strdup(BODY);
    j->body_len = strlen(BODY);
    j->secret = hk_strdup(SECRET);
    return j;
}

static void add_extra(struct hk_job *j, const char *name, const char *value)
{
    j->headers =
        hk_realloc(j->headers, (j->nheaders + 1) * sizeof(*j->headers));
    j->headers[j->nheaders].name = hk_strdup(name);
    j->headers[j->nheaders].value = hk_strdup(value);
    j->nheaders++;
}

/* Polls until n jobs have come back (or 15 s pass) into out[]. */
static size_t wait_for(struct hk_deliver *d, struct hk_job **out, size_t n)
{
    size_t got = 0;
    int64_t deadline = hk_mono_ms() + 15000;
    while (got < n && hk_mono_ms() < deadline) {
        hk_deliver_poll(d, -1, 200, NULL);
        got += hk_deliver_collect(d, out + got, n - got);
    }
    return got;
}

static struct hk_job *run_one(struct hk_deliver *d, struct hk_job *j)
{
    struct hk_job *done = NULL;
    hk_deliver_add(d, j);
    assert_int_equal(hk_deliver_in_flight(d), 1);
    assert_int_equal(wait_for(d, &done, 1), 1);
    assert_ptr_equal(done, j);
    assert_int_equal(hk_deliver_in_flight(d), 0);
    return done;
}

/* ---- tests ----------------------------------------------------------- */

static void test_request_is_exactly_the_documented_one(void **state)
{
    (void)state;
    struct hk_deliver *d = deliverer(true, 5000);
    struct hk_job *j = job_for("127.0.0.1", "/ok");
    add_extra(j, "X-Tenant", "acme");
    add_extra(j, "Authorization", "Bearer s3cret");
    int64_t before = hk_now_ms() / 1000;
    run_one(d, j);
    int64_t after = hk_now_ms() / 1000;

    assert_int_equal(j->out.status_code, 200);
    assert_null(j->out.error);
    assert_string_equal(rx.last.method, "POST");
    assert_string_equal(rx.last.url, "/ok");
    assert_int_equal(rx.last.body_len, strlen(BODY));
    assert_memory_equal(rx.last.body, BODY, strlen(BODY));

    static const char *const expected[] = {
        "Host",         "Content-Length",    "Content-Type",      "User-Agent",
        "webhook-id",   "webhook-timestamp", "webhook-signature", "X-Tenant",
        "Authorization"};
    assert_int_equal(rx.last.nheaders, HK_ARRAY_LEN(expected));
    for (size_t i = 0; i < HK_ARRAY_LEN(expected); i++)
        assert_non_null(rx_header(expected[i]));
    assert_string_equal(rx_header("Content-Type"), "application/json");
    assert_string_equal(rx_header("User-Agent"), "hookd/" HK_VERSION);
    assert_string_equal(rx_header("webhook-id"), EVENT_ID);
    assert_string_equal(rx_header("X-Tenant"), "acme");
    assert_string_equal(rx_header("Authorization"), "Bearer s3cret");
    char clen[16];
    snprintf(clen, sizeof(clen), "%zu", strlen(BODY));
    assert_string_equal(rx_header("Content-Length"), clen);

    char *end;
    long long ts = strtoll(rx_header("webhook-timestamp"), &end, 10);
    assert_true(*end == '\0');
    assert_true(ts >= before && ts <= after);
    const char *sig = rx_header("webhook-signature");
    assert_true(strncmp(sig, "v1,", 3) == 0);
    assert_null(strchr(sig, ' '));
    assert_true(hk_sign_verify(SECRET, EVENT_ID, ts, BODY, strlen(BODY), sig));
    assert_false(
        hk_sign_verify(SECRET, EVENT_ID, ts + 1, BODY, strlen(BODY), sig));

    /* what the attempt records: the same headers, Authorization hidden */
    json_error_t err;
    json_t *rh = json_loads(j->out.request_headers, 0, &err);
    assert_non_null(rh);
    assert_int_equal(json_object_size(rh), 7);
    assert_string_equal(json_string_value(json_object_get(rh, "Content-Type")),
                        "application/json");
    assert_string_equal(json_string_value(json_object_get(rh, "User-Agent")),
                        "hookd/" HK_VERSION);
    assert_string_equal(json_string_value(json_object_get(rh, "webhook-id")),
                        EVENT_ID);
    assert_string_equal(
        json_string_value(json_object_get(rh, "webhook-timestamp")),
        rx_header("webhook-timestamp"));
    assert_string_equal(
        json_string_value(json_object_get(rh, "webhook-signature")), sig);
    assert_string_equal(json_string_value(json_object_get(rh, "X-Tenant")),
                        "acme");
    assert_string_equal(json_string_value(json_object_get(rh, "Authorization")),
                        "[redacted]");
    json_decref(rh);
    assert_null(strstr(j->out.request_headers, "s3cret"));

    /* what came back: names lower-cased, repeats joined */
    json_t *resp = json_loads(j->out.response_headers, 0, &err);
    assert_non_null(resp);
    assert_string_equal(json_string_value(json_object_get(resp, "x-multi")),
                        "a, b");
    assert_string_equal(json_string_value(json_object_get(resp, "x-case")),
                        "Mixed");
    assert_string_equal(
        json_string_value(json_object_get(resp, "content-length")), "2");
    assert_null(json_object_get(resp, "X-Case"));
    json_decref(resp);
    assert_string_equal(j->out.response_body, "ok");
    assert_false(j->out.truncated);
    assert_int_equal(j->out.retry_after_ms, -1);
    assert_true(j->out.started_at_ms >= before * 1000);
    assert_true(j->out.duration_ms >= 0 && j->out.duration_ms < 5000);

    hk_job_free(j);
    hk_deliver_free(d);
}

static void test_rotation_sends_two_signatures(void **state)
{
    (void)state;
    struct hk_deliver *d = deliverer(true, 5000);
    struct hk_job *j = job_for("127.0.0.1", "/ok");
    j->prev_secret = hk_strdup(PREV_SECRET);
    run_one(d, j);
    assert_int_equal(j->out.status_code, 200);

    long long ts = strtoll(rx_header("webhook-timestamp"), NULL, 10);
    char sig[512];
    snprintf(sig, sizeof(sig), "%s", rx_header("webhook-signature"));
    char *space = strchr(sig, ' ');
    assert_non_null(space);
    assert_null(strchr(space + 1, ' '));
    assert_true(hk_sign_verify(SECRET, EVENT_ID, ts, BODY, strlen(BODY), sig));
    assert_true(
        hk_sign_verify(PREV_SECRET, EVENT_ID, ts, BODY, strlen(BODY), sig));
    *space = '\0';
    /* the current secret signs first, the previous one second */
    assert_true(hk_sign_verify(SECRET, EVENT_ID, ts, BODY, strlen(BODY), sig));
    assert_false(
        hk_sign_verify(PREV_SECRET, EVENT_ID, ts, BODY, strlen(BODY), sig));
    assert_true(hk_sign_verify(PREV_SECRET, EVENT_ID, ts, BODY, strlen(BODY),
                               space + 1));
    hk_job_free(j);
    hk_deliver_free(d);
}

static void test_status_outcomes(void **state)
{
    (void)state;
    struct hk_deliver *d = deliverer(true, 5000);

    struct hk_job *j = run_one(d, job_for("127.0.0.1", "/status/500"));
    assert_int_equal(j->out.status_code, 500);
    assert_null(j->out.error);
    assert_string_equal(j->out.response_body, "boom");
    assert_int_equal(j->out.retry_after_ms, -1);
    hk_job_free(j);

    j = run_one(d, job_for("127.0.0.1", "/status/204"));
    assert_int_equal(j->out.status_code, 204);
    assert_null(j->out.error);
    assert_string_equal(j->out.response_body, "");
    assert_non_null(j->out.response_headers);
    hk_job_free(j);

    /* Retry-After counts only on 429 and 503 */
    j = run_one(d, job_for("127.0.0.1", "/unavailable"));
    assert_int_equal(j->out.status_code, 503);
    assert_int_equal(j->out.retry_after_ms, 7000);
    hk_job_free(j);
    j = run_one(d, job_for("127.0.0.1", "/ratelimited"));
    assert_int_equal(j->out.status_code, 429);
    assert_int_equal(j->out.retry_after_ms, 2000);
    hk_job_free(j);
    j = run_one(d, job_for("127.0.0.1", "/retryafter200"));
    assert_int_equal(j->out.status_code, 200);
    assert_int_equal(j->out.retry_after_ms, -1);
    hk_job_free(j);

    hk_deliver_free(d);
}

static void test_redirect_is_not_followed(void **state)
{
    (void)state;
    struct hk_deliver *d = deliverer(true, 5000);
    int hits = rx.target_hits;
    struct hk_job *j = run_one(d, job_for("127.0.0.1", "/redirect"));
    assert_int_equal(j->out.status_code, 302);
    assert_null(j->out.error);
    assert_non_null(strstr(j->out.response_headers, "\"location\":"));
    usleep(100 * 1000);
    assert_int_equal(rx.target_hits, hits);
    hk_job_free(j);
    hk_deliver_free(d);
}

static void test_timeout(void **state)
{
    (void)state;
    struct hk_deliver *d = deliverer(true, 300);
    struct hk_job *j = run_one(d, job_for("127.0.0.1", "/slow"));
    assert_int_equal(j->out.status_code, 0);
    assert_non_null(j->out.error);
    assert_string_equal(j->out.error, "timeout after 300 ms");
    assert_null(j->out.response_headers);
    assert_null(j->out.response_body);
    assert_true(j->out.duration_ms >= 290 && j->out.duration_ms < 1200);
    hk_job_free(j);
    hk_deliver_free(d);
}

static void test_connection_refused(void **state)
{
    (void)state;
    /* a port nobody listens on: bind one, note it, close it */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &len), 0);
    close(s);

    struct hk_deliver *d = deliverer(true, 2000);
    struct hk_job *j = job_for("127.0.0.1", "/ok");
    free(j->url);
    j->url = hk_asprintf("http://127.0.0.1:%d/ok", ntohs(sa.sin_port));
    run_one(d, j);
    assert_int_equal(j->out.status_code, 0);
    assert_non_null(j->out.error);
    assert_true(strncmp(j->out.error, "connection refused", 18) == 0);
    hk_job_free(j);
    hk_deliver_free(d);
}

static void test_body_capped_at_4096(void **state)
{
    (void)state;
    struct hk_deliver *d = deliverer(true, 5000);
    int conns = rx_connections();
    struct hk_job *j = run_one(d, job_for("127.0.0.1", "/big"));
    assert_int_equal(j->out.status_code, 200);
    assert_true(j->out.truncated);
    assert_int_equal(strlen(j->out.response_body), HK_RESPONSE_BODY_CAP);
    for (size_t i = 0; i < HK_RESPONSE_BODY_CAP; i++)
        assert_int_equal(j->out.response_body[i], 'x');
    hk_job_free(j);

    /* the rest was read, not aborted: the connection is reused */
    j = run_one(d, job_for("127.0.0.1", "/ok"));
    assert_int_equal(j->out.status_code, 200);
    assert_int_equal(rx_connections(), conns + 1);
    hk_job_free(j);

    /* a character cut by the cap is dropped, not turned into U+FFFD */
    j = run_one(d, job_for("127.0.0.1", "/split"));
    assert_true(j->out.truncated);
    assert_int_equal(strlen(j->out.response_body), 4095);
    assert_null(strchr(j->out.response_body, '\xef'));
    hk_job_free(j);
    hk_deliver_free(d);
}

static void test_invalid_utf8_replaced(void **state)
{
    (void)state;
    struct hk_deliver *d = deliverer(true, 5000);
    struct hk_job *j = run_one(d, job_for("127.0.0.1", "/badutf8"));
    assert_int_equal(j->out.status_code, 200);
    assert_false(j->out.truncated);
#define R "\xef\xbf\xbd"
    assert_string_equal(j->out.response_body,
                        "ok" R "|" R "|" R "(|" R "|" R R R "|" R);
#undef R
    /* jansson accepts only valid UTF-8: the body can go into JSON as is */
    json_t *s = json_string(j->out.response_body);
    assert_non_null(s);
    json_decref(s);
    hk_job_free(j);
    hk_deliver_free(d);
}

static void test_guard_refuses_loopback(void **state)
{
    (void)state;
    struct hk_deliver *d = deliverer(false, 2000);
    int reqs = rx_requests(), conns = rx_connections();

    struct hk_job *j = run_one(d, job_for("127.0.0.1", "/ok"));
    assert_int_equal(j->out.status_code, 0);
    assert_non_null(j->out.error);
    assert_string_equal(j->out.error,
                        "refused to connect to 127.0.0.1: loopback address "
                        "(set HOOKD_ALLOW_PRIVATE_TARGETS=1 to allow)");
    assert_null(j->out.response_headers);
    hk_job_free(j);

    /* a name is checked on the address it resolves to */
    j = run_one(d, job_for("localhost", "/ok"));
    assert_int_equal(j->out.status_code, 0);
    assert_non_null(strstr(j->out.error, "loopback address"));
    hk_job_free(j);

    j = run_one(d, job_for("[::1]", "/ok"));
    assert_int_equal(j->out.status_code, 0);
    assert_non_null(
        strstr(j->out.error, "refused to connect to ::1: loopback address"));
    hk_job_free(j);

    usleep(100 * 1000);
    assert_int_equal(rx_requests(), reqs);
    assert_int_equal(rx_connections(), conns);
    hk_deliver_free(d);

    d = deliverer(true, 2000);
    j = run_one(d, job_for("127.0.0.1", "/ok"));
    assert_int_equal(j->out.status_code, 200);
    assert_int_equal(rx_requests(), reqs + 1);
    hk_job_free(j);
    hk_deliver_free(d);
}

static void test_malformed_secret_sends_nothing(void **state)
{
    (void)state;
    struct hk_deliver *d = deliverer(true, 2000);
    int reqs = rx_requests();
    struct hk_job *j = job_for("127.0.0.1", "/ok");
    free(j->secret);
    j->secret = hk_strdup("not-a-secret");
    hk_deliver_add(d, j);
    /* it is done at once: poll does not sleep before handing it back */
    int64_t t0 = hk_mono_ms();
    hk_deliver_poll(d, -1, 5000, NULL);
    assert_true(hk_mono_ms() - t0 < 2500);
    struct hk_job *got = NULL;
    assert_int_equal(hk_deliver_collect(d, &got, 1), 1);
    assert_ptr_equal(got, j);
    assert_int_equal(j->out.status_code, 0);
    assert_non_null(strstr(j->out.error, "malformed"));
    assert_string_equal(j->out.request_headers, "{}");
    assert_int_equal(rx_requests(), reqs);
    hk_job_free(j);
    hk_deliver_free(d);
}

static void test_unsafe_extra_headers_not_sent(void **state)
{
    (void)state;
    struct hk_deliver *d = deliverer(true, 2000);
    struct hk_job *j = job_for("127.0.0.1", "/ok");
    add_extra(j, "X-Bad", "a\r\nX-Injected: 1");
    add_extra(j, "webhook-id", "forged");
    add_extra(j, "Bad Name", "v");
    add_extra(j, "X-Empty", "");
    add_extra(j, "X-Quote", "say \"hi\" \\ there");
    run_one(d, j);
    assert_int_equal(j->out.status_code, 200);
    assert_null(rx_header("X-Bad"));
    assert_null(rx_header("X-Injected"));
    assert_null(rx_header("Bad Name"));
    assert_string_equal(rx_header("webhook-id"), EVENT_ID);
    assert_non_null(rx_header("X-Empty"));
    assert_string_equal(rx_header("X-Empty"), "");
    assert_string_equal(rx_header("X-Quote"), "say \"hi\" \\ there");

    json_error_t err;
    json_t *rh = json_loads(j->out.request_headers, 0, &err);
    assert_non_null(rh);
    assert_string_equal(json_string_value(json_object_get(rh, "X-Quote")),
                        "say \"hi\" \\ there");
    assert_string_equal(json_string_value(json_object_get(rh, "X-Empty")), "");
    assert_null(json_object_get(rh, "X-Bad"));
    json_decref(rh);
    hk_job_free(j);
    hk_deliver_free(d);
}

static void test_many_in_flight(void **state)
{
    (void)state;
    enum { N = 200 };
    struct hk_deliver *d = deliverer(true, 10000);
    struct hk_job *jobs[N], *done[N];
    int reqs = rx_requests();

    for (int i = 0; i < N; i++) {
        jobs[i] = job_for("127.0.0.1", "/ok");
        jobs[i]->user = &jobs[i];
        hk_deliver_add(d, jobs[i]);
    }
    assert_int_equal(hk_deliver_in_flight(d), N);
    assert_int_equal(wait_for(d, done, N), N);
    assert_int_equal(hk_deliver_in_flight(d), 0);
    bool seen[N] = {false};
    for (int i = 0; i < N; i++) {
        assert_int_equal(done[i]->out.status_code, 200);
        assert_null(done[i]->out.error);
        ptrdiff_t k = (struct hk_job **)done[i]->user - jobs;
        assert_true(k >= 0 && k < N && jobs[k] == done[i] && !seen[k]);
        seen[k] = true;
    }
    assert_int_equal(rx_requests(), reqs + N);
    for (int i = 0; i < N; i++)
        hk_job_free(done[i]);
    hk_deliver_free(d);
}

static void test_connection_reuse(void **state)
{
    (void)state;
    struct hk_deliver *d = deliverer(true, 5000);
    int conns = rx_connections();
    for (int i = 0; i < 50; i++) {
        struct hk_job *j = run_one(d, job_for("127.0.0.1", "/ok"));
        assert_int_equal(j->out.status_code, 200);
        hk_job_free(j);
    }
    int used = rx_connections() - conns;
    assert_true(used >= 1 && used <= 2);
    hk_deliver_free(d);
}

/* With several send threads, each receiver (scheme, host and port; the
 * host's case does not matter) stays on one thread, so its requests reuse
 * one keep-alive connection however the threads are shared; and jobs to
 * many receivers at once each come back exactly once. */
static void test_receivers_keep_connections_across_threads(void **state)
{
    (void)state;
    enum { N = 60, PAR = 300 };
    struct hk_deliver_opts o = {.timeout_ms = 5000, .allow_private = true,
                                .threads = 4};
    struct hk_deliver *d = hk_deliver_new(&o);
    static const char *const hosts[] = {"127.0.0.1", "localhost",
                                        "LocalHost"};
    int conns = rx_connections();
    for (int i = 0; i < N; i++) {
        struct hk_job *j = run_one(d, job_for(hosts[i % 3], "/ok"));
        assert_int_equal(j->out.status_code, 200);
        hk_job_free(j);
    }
    /* two receivers, one connection each (a spare for a connection the
     * receiver closed) */
    int used = rx_connections() - conns;
    assert_true(used >= 2 && used <= 3);

    struct hk_job *jobs[PAR], *done[PAR];
    int reqs = rx_requests();
    for (int i = 0; i < PAR; i++) {
        jobs[i] = job_for(hosts[i % 3], "/ok");
        jobs[i]->user = &jobs[i];
        hk_deliver_add(d, jobs[i]);
    }
    assert_int_equal(wait_for(d, done, PAR), PAR);
    assert_int_equal(hk_deliver_in_flight(d), 0);
    bool seen[PAR] = {false};
    for (int i = 0; i < PAR; i++) {
        assert_int_equal(done[i]->out.status_code, 200);
        ptrdiff_t k = (struct hk_job **)done[i]->user - jobs;
        assert_true(k >= 0 && k < PAR && jobs[k] == done[i] && !seen[k]);
        seen[k] = true;
        hk_job_free(done[i]);
    }
    assert_int_equal(rx_requests(), reqs + PAR);
    hk_deliver_free(d);
}

struct waker {
    struct hk_deliver *d;
};

static void *wake_later(void *arg)
{
    struct waker *w = arg;
    usleep(100 * 1000);
    hk_deliver_wakeup(w->d);
    return NULL;
}

static void test_poll_wakeups(void **state)
{
    (void)state;
    struct hk_deliver *d = deliverer(true, 5000);
    bool ready = true;

    /* nothing to do: sleeps the whole timeout */
    int64_t t0 = hk_mono_ms();
    hk_deliver_poll(d, -1, 150, &ready);
    assert_false(ready);
    assert_true(hk_mono_ms() - t0 >= 140);

    /* another thread wakes it */
    struct waker w = {d};
    pthread_t th;
    t0 = hk_mono_ms();
    assert_int_equal(pthread_create(&th, NULL, wake_later, &w), 0);
    hk_deliver_poll(d, -1, 5000, &ready);
    pthread_join(th, NULL);
    assert_true(hk_mono_ms() - t0 < 2500);

    /* the extra descriptor wakes it and is reported */
    int p[2];
    assert_int_equal(pipe(p), 0);
    hk_deliver_poll(d, p[0], 50, &ready);
    assert_false(ready);
    assert_int_equal(write(p[1], "x", 1), 1);
    t0 = hk_mono_ms();
    hk_deliver_poll(d, p[0], 5000, &ready);
    assert_true(ready);
    assert_true(hk_mono_ms() - t0 < 2500);
    close(p[0]);
    close(p[1]);

    /* a finished transfer wakes it */
    struct hk_job *j = job_for("127.0.0.1", "/ok");
    hk_deliver_add(d, j);
    struct hk_job *got = NULL;
    t0 = hk_mono_ms();
    size_t n = 0;
    for (int i = 0; i < 20 && n == 0; i++) {
        hk_deliver_poll(d, -1, 5000, NULL);
        n = hk_deliver_collect(d, &got, 1);
    }
    assert_int_equal(n, 1);
    assert_true(hk_mono_ms() - t0 < 2500);
    hk_job_free(got);
    hk_deliver_free(d);
}

/* An attempt's timeline puts each hand it passed in order, around the
 * moment the receiver had the request, and at debug level it is logged
 * once, with the attempt's ids and libcurl's phases: what an operator
 * (and make bench) reads to tell where a delivery's time went. */
static void test_timeline(void **state)
{
    (void)state;
    struct hk_deliver *d = deliverer(true, 5000);
    struct hk_job *j = job_for("127.0.0.1", "/ok");
    snprintf(j->delivery_id, sizeof(j->delivery_id), "%s",
             "01890a5d-ac96-774b-bcce-b302099a8058");
    j->trace.claim_began_us = j->trace.made_us - 1000;

    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
    hk_log_set_level(HK_LOG_DEBUG);
    j = run_one(d, j);
    pthread_mutex_lock(&rx.mu);
    int64_t arrival = rx.arrival_us;
    pthread_mutex_unlock(&rx.mu);
    hk_log_set_level(HK_LOG_INFO);
    /* below debug, nothing */
    struct hk_job *quiet = run_one(d, job_for("127.0.0.1", "/ok"));
    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);

    const struct hk_trace *t = &j->trace;
    assert_int_equal(j->out.status_code, 200);
    assert_true(t->claim_began_us < t->made_us);
    assert_true(t->made_us <= t->added_us);
    assert_true(t->added_us <= t->started_us);
    assert_true(t->started_us <= arrival);
    assert_true(t->answered_us >= arrival);
    assert_true(quiet->trace.started_us >= t->answered_us);
    assert_true(t->answered_us - t->made_us < 5 * 1000000);

    char text[8192];
    rewind(tmp);
    size_t n = fread(text, 1, sizeof(text) - 1, tmp);
    text[n] = '\0';
    fclose(tmp);
    int lines = 0;
    json_t *found = NULL;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *o = json_loads(line, 0, NULL);
        const char *msg = json_string_value(json_object_get(o, "msg"));
        if (msg && strcmp(msg, "attempt timeline") == 0) {
            lines++;
            json_decref(found);
            found = o;
        } else {
            json_decref(o);
        }
    }
    assert_int_equal(lines, 1);
    assert_string_equal(
        json_string_value(json_object_get(found, "delivery_id")),
        j->delivery_id);
    assert_string_equal(json_string_value(json_object_get(found, "event_id")),
                        EVENT_ID);
    static const char *const keys[] = {
        "claim_began_us", "claimed_us", "added_us", "started_us",
        "answered_us",    "collected_us"};
    const int64_t want[] = {t->claim_began_us, t->made_us,    t->added_us,
                            t->started_us,     t->answered_us, 0};
    int64_t prev = 0;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *v = json_string_value(json_object_get(found, keys[i]));
        assert_non_null(v);
        int64_t x = strtoll(v, NULL, 10);
        if (want[i] != 0)
            assert_true(x == want[i]);
        assert_true(x >= prev);
        prev = x;
    }
    assert_non_null(json_object_get(found, "ttfb_us"));
    assert_non_null(json_object_get(found, "total_us"));
    assert_string_equal(json_string_value(json_object_get(found, "isolated")),
                        "0");
    json_decref(found);
    hk_job_free(j);
    hk_job_free(quiet);
    hk_deliver_free(d);
}

static void test_free_abandons_jobs(void **state)
{
    (void)state;
    /* jobs still in flight or uncollected are freed with the deliverer
     * (ASan reports any leak) */
    struct hk_deliver *d = deliverer(true, 5000);
    hk_deliver_add(d, job_for("127.0.0.1", "/slow"));
    hk_deliver_add(d, job_for("127.0.0.1", "/ok"));
    struct hk_job *bad = job_for("127.0.0.1", "/ok");
    free(bad->secret);
    bad->secret = NULL;
    hk_deliver_add(d, bad);
    hk_deliver_poll(d, -1, 100, NULL);
    assert_int_equal(hk_deliver_in_flight(d), 3);
    hk_deliver_free(d);
    hk_job_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_is_exactly_the_documented_one),
        cmocka_unit_test(test_rotation_sends_two_signatures),
        cmocka_unit_test(test_status_outcomes),
        cmocka_unit_test(test_redirect_is_not_followed),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_body_capped_at_4096),
        cmocka_unit_test(test_invalid_utf8_replaced),
        cmocka_unit_test(test_guard_refuses_loopback),
        cmocka_unit_test(test_malformed_secret_sends_nothing),
        cmocka_unit_test(test_unsafe_extra_headers_not_sent),
        cmocka_unit_test(test_many_in_flight),
        cmocka_unit_test(test_connection_reuse),
        cmocka_unit_test(test_receivers_keep_connections_across_threads),
        cmocka_unit_test(test_poll_wakeups),
        cmocka_unit_test(test_timeline),
        cmocka_unit_test(test_free_abandons_jobs),
    };
    return cmocka_run_group_tests(tests, rx_start, rx_stop);
}
