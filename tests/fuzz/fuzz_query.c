/*
 * fuzz_query.c - query strings, through the whole HTTP layer: http.c runs
 * in this process on 127.0.0.1 with no database (as in test_http), and each
 * input is the query of a GET sent over a real socket to a route that needs
 * no database: /healthz, /openapi.json, a tenant list without a token
 * (401), an unknown path (404). libmicrohttpd parses the query and http.c
 * counts its parameters first (too many is a 414). Every request must be
 * answered, at once, with an HTTP status line, and every error in hookd's
 * JSON envelope; a request left without an answer is a finding (a query of
 * some 950 parameters once was). CR and LF in the input become '%' so
 * that it stays in the request line: headers are not what this target
 * explores.
 *
 * libFuzzer's -timeout arms a SIGALRM every timeout/2 + 1 seconds, and it
 * lands on this thread, most often while it waits for an answer: a wait
 * that gave up on EINTR once reported an answered request as "no
 * answer" (the server threads idle, the answer on its way). The waits
 * here go on after a signal, and a thread of this target interrupts them
 * with SIGUSR2 every few milliseconds, so that a wait that does not is
 * caught in the first hundred inputs rather than by chance.
 */
#include "fuzz.h"

#include "app.h"
#include "common.h"
#include "http.h"
#include "log.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* An answer takes a millisecond; an unanswered request waits for
 * libmicrohttpd's 60 s connection timeout. The margin is for a test
 * machine busy with other work (fuzz.sh and test.sh give each input 30 s
 * before libFuzzer calls it a timeout). */
#define ANSWER_MS 20000
/* How often the interrupting thread signals the fuzzing thread. */
#define INTERRUPT_MS 5

static struct hk_config cfg;
static struct hk_app app;
static struct hk_http *http;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        abort();
    close(fd);
    return ntohs(a.sin_port);
}

static void on_interrupt(int sig)
{
    (void)sig;
}

/* Signals the fuzzing thread every INTERRUPT_MS, as libFuzzer's timer
 * does now and then: every blocking call of exchange must go on after
 * it. */
static void *interrupt_loop(void *arg)
{
    pthread_t target = *(pthread_t *)arg;
    struct timespec pause = {0, INTERRUPT_MS * 1000000L};
    for (;;) {
        nanosleep(&pause, NULL);
        pthread_kill(target, SIGUSR2);
    }
    return NULL;
}

static void start_interrupts(void)
{
    static pthread_t self;
    /* no SA_RESTART: poll and recv fail with EINTR, as under SIGALRM */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, NULL);
    self = pthread_self();
    pthread_t t;
    if (pthread_create(&t, NULL, interrupt_loop, &self) != 0)
        abort();
    pthread_detach(t);
}

static void start(void)
{
    hk_json_init();
    hk_log_set_level(HK_LOG_ERROR);
    cfg.listen_host = "127.0.0.1";
    cfg.admin_key = "fuzz-admin-key-0123456789abcdef";
    cfg.web_dir = "web";
    cfg.max_body = 1024;
    cfg.http_threads = 2;
    cfg.log_level = HK_LOG_ERROR;
    cfg.portal_frame_ancestors = "'none'";
    app.cfg = &cfg;
    for (int attempt = 0; attempt < 10; attempt++) {
        cfg.listen_port = free_port();
        if (hk_http_start(&app, &http) == HK_OK) {
            start_interrupts();
            return;
        }
    }
    fprintf(stderr, "fuzz_query: the HTTP layer does not start\n");
    abort();
}

/* Sends req and reads until the server closes; the answer, or NULL when
 * none came within ANSWER_MS. */
static char *exchange(const char *req, size_t len, size_t *got)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)cfg.listen_port);
    /* a connect cut by a signal goes on in the background: wait for it */
    int rc = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&a, sizeof(a));
    while (rc != 0 && (errno == EINTR || errno == EALREADY)) {
        struct pollfd p = {fd, POLLOUT, 0};
        (void)poll(&p, 1, 1000);
        rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
        if (rc != 0 && errno == EISCONN)
            rc = 0;
    }
    if (rc != 0)
        abort();
    for (size_t off = 0; off < len;) {
        ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* answered and closed before the rest was read */
        off += (size_t)w;
    }
    struct hk_buf b;
    hk_buf_init(&b);
    int64_t deadline = hk_mono_ms() + ANSWER_MS;
    bool closed = false;
    while (!closed) {
        int64_t left = deadline - hk_mono_ms();
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0)
            break;
        int ready = poll(&p, 1, (int)left);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            break;
        char chunk[4096];
        ssize_t r = recv(fd, chunk, sizeof(chunk), 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            closed = true;
        else
            hk_buf_append(&b, chunk, (size_t)r);
    }
    close(fd);
    hk_buf_append(&b, "", 1);
    *got = b.len - 1;
    if (!closed) {
        fprintf(stderr, "fuzz_query: %zu bytes came before the wait ended: "
                        "%.200s\n", *got, b.data);
        hk_buf_cleanup(&b);
        return NULL;
    }
    return hk_buf_steal(&b);
}

/* The last requests sent: a request that wedges a server thread shows up
 * as a later request left unanswered, so a failure lists them all. */
#define RECENT 16
static char *recent[RECENT];
static unsigned sent;

static void remember(const char *req)
{
    free(recent[sent % RECENT]);
    recent[sent % RECENT] = hk_strdup(req);
    sent++;
}

static void print_recent(void)
{
    unsigned first = sent > RECENT ? sent - RECENT : 0;
    for (unsigned i = first; i < sent; i++)
        fprintf(stderr, "fuzz_query: request %u of %u: %s\n", i + 1, sent,
                recent[i % RECENT]);
}

static void check_answer(const char *req, const char *ans, size_t n)
{
    if (ans == NULL)
        print_recent();
    FUZZ_CHECK(ans != NULL, "no answer within %d ms to %.300s", ANSWER_MS, req);
    int status = 0;
    FUZZ_CHECK(n > 12 && sscanf(ans, "HTTP/1.1 %3d ", &status) == 1,
               "not an HTTP answer: %.200s", ans);
    const char *body = strstr(ans, "\r\n\r\n");
    FUZZ_CHECK(body != NULL, "answer without its header end");
    body += 4;
    if (status < 400)
        return;
    json_error_t err;
    json_t *j = json_loads(body, 0, &err);
    json_t *e = json_object_get(j, "error");
    FUZZ_CHECK(json_is_string(json_object_get(e, "code")) &&
                   json_is_string(json_object_get(e, "message")),
               "%d without the error envelope: %.200s", status, body);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const paths[] = {"/healthz", "/openapi.json",
                                        "/v1/tenants", "/v1/nothing-here"};
    if (http == NULL)
        start();
    if (size < 1)
        return 0;
    char *q = fuzz_str(data + 1, size - 1);
    for (size_t i = 0; i + 1 < size; i++)
        if (q[i] == '\r' || q[i] == '\n' || q[i] == ' ' || q[i] == '\0')
            q[i] = '%';
    char *req = hk_asprintf("GET %s?%s HTTP/1.1\r\nHost: hookd\r\n"
                            "Connection: close\r\n\r\n",
                            paths[data[0] % 4], q);
    remember(req);
    size_t n;
    char *ans = exchange(req, strlen(req), &n);
    check_answer(req, ans, n);
    free(ans);
    free(req);
    free(q);
    return 0;
}
