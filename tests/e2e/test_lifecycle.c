/*
 * test_lifecycle.c - end-to-end tests of how hookd starts and stops. A
 * setting that cannot work (a malformed HOOKD_DATABASE_URL, a HOOKD_LISTEN
 * host that does not resolve, a HOOKD_WEB_DIR or HOOKD_MIGRATIONS_DIR that
 * is not a readable folder) stops start-up with exit status 2 and one line
 * naming it, for the roles that use it. SIGTERM in the middle of an ingest
 * whose body is still arriving refuses new connections at once, reads that
 * request to its end, commits and answers it, logs it, cuts a client that
 * stalls past HOOKD_REQUEST_TIMEOUT, and exits 0. One hookd (serve) for
 * the file, restarted after each stop; the requests in flight are written
 * by hand over raw sockets so that the signal lands between two halves of
 * a body.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static struct hk_srv srv;

static int group_setup(void **state)
{
    (void)state;
    return hk_srv_start(&srv, NULL) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    return hk_srv_finish(&srv);
}

/* ---- raw connections ---- */

/* A connection to s's port; -1 with errno set when it is refused. */
static int raw_open(const struct hk_srv *s)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)s->port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

static void raw_write(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = send(fd, data, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            fail_msg("send: %s", strerror(errno));
        data += w;
        len -= (size_t)w;
    }
}

/* Reads one response with a Content-Length body into out within
 * timeout_ms; false when it does not come complete in time. */
static bool raw_answer(int fd, char *out, size_t cap, int timeout_ms)
{
    size_t len = 0;
    out[0] = '\0';
    int64_t deadline = hk_wall_ms() + timeout_ms;
    while (hk_wall_ms() < deadline) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t got = recv(fd, out + len, cap - 1 - len, 0);
        if (got <= 0)
            return false;
        len += (size_t)got;
        out[len] = '\0';
        const char *end = strstr(out, "\r\n\r\n");
        if (end == NULL)
            continue;
        const char *cl = strcasestr(out, "\r\nContent-Length:");
        if (cl == NULL || cl > end)
            return false;
        if (len >= (size_t)(end + 4 - out) + strtoul(cl + 17, NULL, 10))
            return true;
        if (len + 1 >= cap)
            return false;
    }
    return false;
}

/* Whether a line of the server log holds both a and b. */
static bool log_has(const struct hk_srv *s, const char *a, const char *b)
{
    FILE *f = fopen(s->log_path, "r");
    if (f == NULL)
        return false;
    char line[8192];
    bool found = false;
    while (!found && fgets(line, sizeof line, f) != NULL)
        found = strstr(line, a) != NULL && strstr(line, b) != NULL;
    fclose(f);
    return found;
}

/* Whether the server log holds an access line with this request id and
 * status. */
static bool logged(const struct hk_srv *s, const char *request_id,
                   const char *status)
{
    FILE *f = fopen(s->log_path, "r");
    if (f == NULL)
        return false;
    char *want_id = hk_fmt("\"request_id\":\"%s\"", request_id);
    char *want_status = hk_fmt("\"status\":\"%s\"", status);
    char line[8192];
    bool found = false;
    while (!found && fgets(line, sizeof line, f) != NULL)
        found = strstr(line, "\"msg\":\"request\"") != NULL &&
                strstr(line, want_id) != NULL &&
                strstr(line, want_status) != NULL;
    fclose(f);
    free(want_id);
    free(want_status);
    return found;
}

/* The head of an ingest into tid as the admin (caller frees). */
static char *ingest_head(const char *tid, const char *idempotency_key,
                         const char *request_id, size_t body_len)
{
    return hk_fmt("POST /v1/tenants/%s/events HTTP/1.1\r\n"
                  "Host: 127.0.0.1:%d\r\n"
                  "Authorization: Bearer %s\r\n"
                  "Content-Type: application/json\r\n"
                  "Idempotency-Key: %s\r\n"
                  "X-Request-Id: %s\r\n"
                  "Content-Length: %zu\r\n\r\n",
                  tid, srv.port, srv.admin_key, idempotency_key, request_id,
                  body_len);
}

/* ---- the tests ---- */

static void test_sigterm_answers_requests_in_flight(void **state)
{
    (void)state;
    char tid[HK_ID_LEN];
    hk_mk_tenant(&srv, "stopping", tid);
    hk_mk_event_type(&srv, "order.placed");

    /* an ingest whose body is half sent when the signal comes */
    const char *body =
        "{\"event_type\":\"order.placed\",\"payload\":{\"order\":\"o-17\"}}";
    size_t half = strlen(body) / 2;
    char *head = ingest_head(tid, "stop-17", "e2e-in-flight", strlen(body));
    int slow = raw_open(&srv);
    assert_true(slow >= 0);
    raw_write(slow, head, strlen(head));
    raw_write(slow, body, half);

    /* and a client that stalls mid-body and never finishes */
    char *stalled_head =
        ingest_head(tid, "stop-18", "e2e-stalled", strlen(body));
    int stalled = raw_open(&srv);
    assert_true(stalled >= 0);
    raw_write(stalled, stalled_head, strlen(stalled_head));
    raw_write(stalled, body, 3);
    hk_sleep_ms(300);

    int64_t t0 = hk_wall_ms();
    assert_int_equal(kill(srv.pid, SIGTERM), 0);

    /* new connections are refused from the start of the stop */
    bool refused = false;
    while (!refused && hk_wall_ms() - t0 < 1500) {
        int fd = raw_open(&srv);
        refused = fd < 0 && errno == ECONNREFUSED;
        if (fd >= 0)
            close(fd);
        else if (!refused)
            fail_msg("connect: %s", strerror(errno));
        if (!refused)
            hk_sleep_ms(20);
    }
    if (!refused)
        fail_msg("new connections still accepted 1.5 s after SIGTERM");

    /* the request in flight is read to its end, committed and answered */
    hk_sleep_ms(300);
    raw_write(slow, body + half, strlen(body) - half);
    char answer[8192];
    if (!raw_answer(slow, answer, sizeof answer, 5000))
        fail_msg("no answer to the ingest in flight after SIGTERM: <%s>",
                 answer);
    if (strncmp(answer, "HTTP/1.1 202", 12) != 0)
        fail_msg("want 202, got <%s>", answer);
    assert_non_null(strcasestr(answer, "\r\nConnection: close\r\n"));
    assert_non_null(strcasestr(answer, "\r\nX-Request-Id: e2e-in-flight\r\n"));
    assert_non_null(strstr(answer, "\"deliveries\":0"));
    close(slow);

    /* the stalled client holds the exit up to the deadline (2 s), no
     * longer, and the exit is clean */
    assert_int_equal(hk_srv_stop(&srv), 0);
    int64_t took = hk_wall_ms() - t0;
    close(stalled);
    if (took > 8000)
        fail_msg("hookd took %lld ms to exit after SIGTERM", (long long)took);
    assert_true(logged(&srv, "e2e-in-flight", "202"));
    /* the stop names who asked for it */
    char *sender = hk_fmt("\"sender_pid\":\"%ld\"", (long)getpid());
    assert_true(log_has(&srv, "\"msg\":\"stopping\"", sender));
    free(sender);
    long long n = hk_sql_int(&srv,
                             "SELECT count(*) FROM hookd.events WHERE "
                             "tenant_id = $1 AND idempotency_key = 'stop-17'",
                             tid);
    assert_int_equal(n, 1);
    n = hk_sql_int(&srv,
                   "SELECT count(*) FROM hookd.events WHERE "
                   "tenant_id = $1 AND idempotency_key = 'stop-18'",
                   tid);
    assert_int_equal(n, 0);
    free(head);
    free(stalled_head);

    assert_int_equal(hk_srv_restart(&srv), 0);
}

/* Runs `hookd <command>` with env on top of the server's settings and
 * wants exit status 2 and exactly one line of output, starting
 * "hookd: <name>: ". */
static void expect_refused(const char *command, const char *env,
                           const char *name)
{
    const char *args[] = {command, NULL};
    const char *extra[] = {env, NULL};
    char *out = NULL;
    int rc = hk_srv_exec(&srv, args, extra, &out);
    char *prefix = hk_fmt("hookd: %s: ", name);
    size_t n = strlen(out);
    bool one_line =
        n > 0 && out[n - 1] == '\n' && memchr(out, '\n', n - 1) == NULL;
    if (rc != 2 || !one_line || strncmp(out, prefix, strlen(prefix)) != 0 ||
        n <= strlen(prefix) + 1)
        fail_msg("`hookd %s` with %s: exit %d, want 2 and one line "
                 "\"%s...\"; output:\n%s",
                 command, env, rc, prefix, out);
    free(prefix);
    free(out);
}

/* Runs `hookd <command>` with env on top of the server's settings and
 * wants exit status 1 and a log line that names the setting to look at
 * (the settings are well formed, what they point at is not usable). */
static void expect_failed(const char *command, const char *env,
                          const char *name, const char *error)
{
    const char *args[] = {command, NULL};
    const char *extra[] = {env, NULL};
    char *out = NULL;
    int rc = hk_srv_exec(&srv, args, extra, &out);
    char *setting = hk_fmt("\"setting\":\"%s\"", name);
    if (rc != 1 || strstr(out, setting) == NULL || strstr(out, error) == NULL)
        fail_msg("`hookd %s` with %s: exit %d, want 1 and a log line with "
                 "%s and \"%s\"; output:\n%s",
                 command, env ? env : "the server's settings", rc, setting,
                 error, out);
    free(setting);
    free(out);
}

static void test_startup_errors_name_their_variable(void **state)
{
    (void)state;
    char *readme = hk_fmt("HOOKD_WEB_DIR=%s/README.md", srv.source_dir);
    static const char *const serving[] = {"serve", "api"};
    for (size_t i = 0; i < 2; i++) {
        const char *cmd = serving[i];
        expect_refused(cmd, "HOOKD_DATABASE_URL=postgresql://u:pw@[::1",
                       "HOOKD_DATABASE_URL");
        expect_refused(cmd, "HOOKD_DATABASE_URL=host=127.0.0.1 dbname",
                       "HOOKD_DATABASE_URL");
        expect_refused(cmd, "HOOKD_LISTEN=hookd-e2e.invalid:8080",
                       "HOOKD_LISTEN");
        expect_refused(cmd, "HOOKD_WEB_DIR=/nonexistent/hookd/web",
                       "HOOKD_WEB_DIR");
        expect_refused(cmd, readme, "HOOKD_WEB_DIR");
        expect_refused(cmd, "HOOKD_MIGRATIONS_DIR=/nonexistent/migrations",
                       "HOOKD_MIGRATIONS_DIR");
        /* the checks that were there before keep the same shape */
        expect_refused(cmd, "HOOKD_MAX_BODY=0", "HOOKD_MAX_BODY");
    }
    free(readme);
    expect_refused("migrate", "HOOKD_DATABASE_URL=postgresql://h/db?nosuch=1",
                   "HOOKD_DATABASE_URL");
    expect_refused("migrate", "HOOKD_MIGRATIONS_DIR=/nonexistent/migrations",
                   "HOOKD_MIGRATIONS_DIR");
    expect_refused("dispatch", "HOOKD_DATABASE_URL=nonsense",
                   "HOOKD_DATABASE_URL");

    /* well formed but unusable: nothing listens at the database's port,
     * and the server under test holds the API's address already */
    expect_failed("serve", "HOOKD_DATABASE_URL=postgresql://hookd@127.0.0.1:1/x",
                  "HOOKD_DATABASE_URL", "Connection refused");
    expect_failed("migrate",
                  "HOOKD_DATABASE_URL=postgresql://hookd@127.0.0.1:1/x",
                  "HOOKD_DATABASE_URL", "Connection refused");
    expect_failed("api", NULL, "HOOKD_LISTEN", "Address already in use");

    /* the dispatcher serves no portal and listens nowhere: it starts
     * whatever those two say */
    static const char *const env[] = {"HOOKD_WEB_DIR=/nonexistent/hookd/web",
                                      "HOOKD_LISTEN=hookd-e2e.invalid:8080",
                                      NULL};
    struct hk_srv peer;
    assert_int_equal(hk_srv_start_peer(&peer, &srv, "dispatch", env), 0);
    assert_true(hk_srv_alive(&peer));
    assert_int_equal(hk_srv_stop(&peer), 0);
    hk_srv_drop(&peer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_startup_errors_name_their_variable),
        cmocka_unit_test(test_sigterm_answers_requests_in_flight),
    };
    int rc = cmocka_run_group_tests_name("lifecycle", tests, group_setup,
                                         group_teardown);
    return hk_exit_code(rc);
}
