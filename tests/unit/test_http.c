/*
 * test_http.c - unit tests of http.c driven over real sockets: the HTTP
 * layer runs in-process on 127.0.0.1 with no database (so only requests
 * that never need one are sent) and libcurl plays the client. Covers the
 * body cap (Content-Length over it answered before the body is sent, a
 * chunked body answered as soon as it passes it, with the rest never
 * sent, a body exactly at it accepted), media
 * type, broken and too-deep JSON, unknown fields, missing and wrong tokens,
 * 405 with Allow, 404, X-Request-Id on every response, the exact error
 * shape, /healthz, /openapi.json serving the embedded document, and the stop:
 * new connections refused at once, a request in flight still answered,
 * a stalled client cut at the deadline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app.h"
#include "http.h"
#include "log.h"
#include "openapi.h"
#include "router.h"

#define MAX_BODY 1024
#define ADMIN_KEY "test-admin-key-0123456789abcdef"

struct server {
    struct hk_config cfg;
    struct hk_app app;
    struct hk_http *http;
};

static struct server main_srv;

/* ---- the server under test ---- */

/* A port that was free a moment ago on 127.0.0.1. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void server_start(struct server *s, size_t max_body)
{
    memset(s, 0, sizeof(*s));
    s->cfg.listen_host = "127.0.0.1";
    s->cfg.admin_key = ADMIN_KEY;
    s->cfg.web_dir = "web";
    s->cfg.max_body = max_body;
    s->cfg.http_threads = 2;
    s->cfg.db_pool_size = 0;
    s->cfg.log_level = HK_LOG_ERROR;
    s->app.cfg = &s->cfg;
    s->app.db = NULL;
    /* another process may take the port between probe and bind */
    for (int attempt = 0; attempt < 10; attempt++) {
        s->cfg.listen_port = free_port();
        if (hk_http_start(&s->app, &s->http) == HK_OK)
            return;
        s->http = NULL;
    }
    fail_msg("hk_http_start failed on 10 ports");
}

static void server_stop(struct server *s)
{
    hk_http_stop(s->http, 0);
    s->http = NULL;
}

/* ---- a libcurl client ---- */

enum body_mode { BODY_NONE, BODY_LENGTH, BODY_CHUNKED };

struct reply {
    long status;
    struct hk_buf body;
    char request_id[512];
    int request_id_count;
    char allow[256];
    char content_type[256];
};

struct upload {
    const char *data;
    size_t len, pos;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct reply *r = ud;
    hk_buf_append(&r->body, p, size * n);
    return size * n;
}

/* Copies the value of "Name: value\r\n" into out when line is that
 * header. */
static bool header_value(const char *line, size_t len, const char *name,
                         char *out, size_t outlen)
{
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return false;
    const char *v = line + nl + 1;
    const char *e = line + len;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
        e--;
    snprintf(out, outlen, "%.*s", (int)(e - v), v);
    return true;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct reply *r = ud;
    size_t len = size * n;
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        /* a new response (after a 100 Continue): forget the last one's */
        r->request_id[0] = '\0';
        r->request_id_count = 0;
        r->allow[0] = '\0';
        r->content_type[0] = '\0';
        return len;
    }
    if (header_value(p, len, "X-Request-Id", r->request_id,
                     sizeof(r->request_id)))
        r->request_id_count++;
    header_value(p, len, "Allow", r->allow, sizeof(r->allow));
    header_value(p, len, "Content-Type", r->content_type,
                 sizeof(r->content_type));
    return len;
}

static size_t on_read(char *p, size_t size, size_t n, void *ud)
{
    struct upload *u = ud;
    size_t want = size * n;
    /* hand the body over in small pieces so it arrives as several chunks */
    if (want > 300)
        want = 300;
    if (want > u->len - u->pos)
        want = u->len - u->pos;
    memcpy(p, u->data + u->pos, want);
    u->pos += want;
    return want;
}

static void reply_cleanup(struct reply *r)
{
    hk_buf_cleanup(&r->body);
}

/* Sends one request to s and fills r (caller cleans it up). headers is
 * NULL-terminated, may be NULL. Every response must carry exactly one
 * X-Request-Id. */
static void request(struct server *s, const char *method, const char *path,
                    const char *const *headers, const char *body,
                    size_t body_len, enum body_mode mode, struct reply *r)
{
    memset(r, 0, sizeof(*r));
    hk_buf_init(&r->body);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char url[2048];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->cfg.listen_port,
             path);
    struct curl_slist *hl = NULL;
    for (const char *const *h = headers; h != NULL && *h != NULL; h++)
        hl = curl_slist_append(hl, *h);
    struct upload up = {body, body_len, 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (mode == BODY_LENGTH) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    } else if (mode == BODY_CHUNKED) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
        hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
    }
    if (strcmp(method, "GET") != 0 || mode != BODY_NONE)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (r->request_id_count != 1 || r->request_id[0] == '\0')
        fail_msg("%s %s: %d X-Request-Id headers, \"%s\"", method, path,
                 r->request_id_count, r->request_id);
}

static void get(const char *path, const char *const *headers, struct reply *r)
{
    request(&main_srv, "GET", path, headers, NULL, 0, BODY_NONE, r);
}

static void post(const char *path, const char *const *headers, const char *body,
                 enum body_mode mode, struct reply *r)
{
    request(&main_srv, "POST", path, headers, body, body ? strlen(body) : 0,
            mode, r);
}

static bool is_generated_id(const char *id)
{
    if (strncmp(id, "req_", 4) != 0 || strlen(id) != 4 + 24)
        return false;
    for (const char *p = id + 4; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9')))
            return false;
    return true;
}

static json_t *reply_json(const struct reply *r)
{
    if (strncmp(r->content_type, "application/json", 16) != 0)
        fail_msg("Content-Type \"%s\", body %s", r->content_type,
                 r->body.data ? r->body.data : "");
    json_error_t err;
    json_t *j =
        json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, &err);
    if (j == NULL)
        fail_msg("body is not JSON (%s): %.*s", err.text, (int)r->body.len,
                 r->body.data ? r->body.data : "");
    return j;
}

/* Asserts status and the exact error shape
 * {"error":{"code","message"[,"field"]}} with that code and field. */
static void expect_error(const struct reply *r, long status, const char *code,
                         const char *field)
{
    if (r->status != status)
        fail_msg("status %ld, want %ld; body %.*s", r->status, status,
                 (int)r->body.len, r->body.data ? r->body.data : "");
    json_t *j = reply_json(r);
    assert_true(json_is_object(j));
    assert_int_equal(json_object_size(j), 1);
    json_t *e = json_object_get(j, "error");
    assert_true(json_is_object(e));
    const char *key;
    json_t *v;
    json_object_foreach(e, key, v)
    {
        if (strcmp(key, "code") != 0 && strcmp(key, "message") != 0 &&
            strcmp(key, "field") != 0)
            fail_msg("unexpected member error.%s", key);
        if (!json_is_string(v))
            fail_msg("error.%s is not a string", key);
    }
    assert_string_equal(json_string_value(json_object_get(e, "code")), code);
    const char *msg = json_string_value(json_object_get(e, "message"));
    assert_non_null(msg);
    assert_true(msg[0] != '\0');
    json_t *f = json_object_get(e, "field");
    if (field == NULL) {
        if (f != NULL)
            fail_msg("unexpected field \"%s\"", json_string_value(f));
    } else {
        assert_non_null(f);
        assert_string_equal(json_string_value(f), field);
    }
    json_decref(j);
}

static const char *const admin_json[] = {
    "Authorization: Bearer " ADMIN_KEY, "Content-Type: application/json", NULL};

/* ---- a raw socket, for what curl will not do ---- */

static int raw_connect(const struct server *s)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)s->cfg.listen_port);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static void raw_send(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = send(fd, data, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        assert_true(w > 0);
        data += w;
        len -= (size_t)w;
    }
}

/* Reads one response (headers and a Content-Length body) within
 * timeout_ms; false when it does not come complete in time. */
static bool raw_read_response(int fd, char *out, size_t outlen, int timeout_ms)
{
    size_t len = 0;
    out[0] = '\0';
    for (int waited = 0; waited < timeout_ms; waited += 50) {
        struct pollfd p = {fd, POLLIN, 0};
        int n = poll(&p, 1, 50);
        if (n <= 0)
            continue;
        ssize_t got = recv(fd, out + len, outlen - 1 - len, 0);
        if (got <= 0)
            break;
        len += (size_t)got;
        out[len] = '\0';
        const char *end = strstr(out, "\r\n\r\n");
        if (end == NULL)
            continue;
        const char *cl = strcasestr(out, "\r\nContent-Length:");
        if (cl == NULL || cl > end)
            return true;
        unsigned long want = strtoul(cl + 17, NULL, 10);
        if (len >= (size_t)(end + 4 - out) + want)
            return true;
        if (len + 1 >= outlen)
            return false;
    }
    return false;
}

/* ---- the tests ---- */

static void test_healthz(void **state)
{
    (void)state;
    struct reply r;
    get("/healthz", NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *j = reply_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
    json_decref(j);
    assert_true(is_generated_id(r.request_id));
    reply_cleanup(&r);

    /* a trailing slash is another path */
    get("/healthz/", NULL, &r);
    assert_int_equal(r.status, 404);
    reply_cleanup(&r);
}

static void test_cap_content_length(void **state)
{
    (void)state;
    /* one byte over, sent by curl */
    char *big = hk_malloc(MAX_BODY + 2);
    memset(big, ' ', MAX_BODY + 1);
    big[0] = '{';
    big[MAX_BODY] = '}';
    big[MAX_BODY + 1] = '\0';
    struct reply r;
    post("/v1/tenants", admin_json, big, BODY_LENGTH, &r);
    expect_error(&r, 413, "payload_too_large", NULL);
    reply_cleanup(&r);
    free(big);

    /* far over, without the token or a JSON type: the size is judged
     * first, before anything else is read */
    big = hk_malloc(20000);
    memset(big, 'x', 20000 - 1);
    big[20000 - 1] = '\0';
    post("/nowhere", NULL, big, BODY_LENGTH, &r);
    expect_error(&r, 413, "payload_too_large", NULL);
    reply_cleanup(&r);
    free(big);

    /* the answer comes while the body has not been sent at all */
    int fd = raw_connect(&main_srv);
    const char *head = "POST /v1/tenants HTTP/1.1\r\n"
                       "Host: 127.0.0.1\r\n"
                       "Authorization: Bearer " ADMIN_KEY "\r\n"
                       "Content-Type: application/json\r\n"
                       "X-Request-Id: raw-413\r\n"
                       "Content-Length: 100000000\r\n\r\n";
    raw_send(fd, head, strlen(head));
    char buf[4096];
    if (!raw_read_response(fd, buf, sizeof(buf), 5000))
        fail_msg("no complete 413 before the body was sent: <%s>", buf);
    if (strncmp(buf, "HTTP/1.1 413", 12) != 0)
        fail_msg("want 413, got <%s>", buf);
    assert_non_null(strcasestr(buf, "\r\nX-Request-Id: raw-413\r\n"));
    assert_non_null(strcasestr(buf, "\r\nConnection: close\r\n"));
    assert_non_null(strstr(buf, "\"payload_too_large\""));
    close(fd);
}

static void test_cap_chunked(void **state)
{
    (void)state;
    /* a chunked body gives no length up front; it grows past the cap */
    size_t n = MAX_BODY + 1;
    char *big = hk_malloc(n + 1);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = '\0';
    struct reply r;
    post("/v1/tenants", admin_json, big, BODY_CHUNKED, &r);
    expect_error(&r, 413, "payload_too_large", NULL);
    reply_cleanup(&r);
    free(big);

    n = 50000;
    big = hk_malloc(n + 1);
    memset(big, 'x', n);
    big[n] = '\0';
    post("/v1/tenants", admin_json, big, BODY_CHUNKED, &r);
    expect_error(&r, 413, "payload_too_large", NULL);
    reply_cleanup(&r);
    free(big);

    /* the answer comes as soon as the cap is passed, while the client
     * has not finished sending: no last chunk is ever sent here */
    int fd = raw_connect(&main_srv);
    const char *head = "POST /v1/tenants HTTP/1.1\r\n"
                       "Host: 127.0.0.1\r\n"
                       "Authorization: Bearer " ADMIN_KEY "\r\n"
                       "Content-Type: application/json\r\n"
                       "X-Request-Id: raw-chunked-413\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n";
    raw_send(fd, head, strlen(head));
    char chunk[512 + 16];
    int hl = snprintf(chunk, sizeof(chunk), "200\r\n");
    memset(chunk + hl, ' ', 512);
    memcpy(chunk + hl + 512, "\r\n", 2);
    for (size_t sent = 0; sent <= MAX_BODY; sent += 512)
        raw_send(fd, chunk, (size_t)hl + 512 + 2);
    char buf[4096];
    if (!raw_read_response(fd, buf, sizeof(buf), 3000))
        fail_msg("no 413 while the chunked body was still open: <%s>", buf);
    if (strncmp(buf, "HTTP/1.1 413", 12) != 0)
        fail_msg("want 413, got <%s>", buf);
    assert_non_null(strcasestr(buf, "\r\nX-Request-Id: raw-chunked-413\r\n"));
    assert_non_null(strcasestr(buf, "\r\nConnection: close\r\n"));
    assert_non_null(strstr(buf, "\"payload_too_large\""));
    /* and the server closes the connection rather than read on */
    struct pollfd p = {fd, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 3000), 1);
    char rest[64];
    assert_true(recv(fd, rest, sizeof(rest), 0) <= 0);
    close(fd);
}

/* A body of exactly max_body bytes whose one member is unknown. */
static char *body_at_cap(void)
{
    const char *pre = "{\"unknown_field\":\"";
    const char *post_ = "\"}";
    char *b = hk_malloc(MAX_BODY + 1);
    size_t pl = strlen(pre), sl = strlen(post_);
    memcpy(b, pre, pl);
    memset(b + pl, 'a', MAX_BODY - pl - sl);
    memcpy(b + MAX_BODY - sl, post_, sl);
    b[MAX_BODY] = '\0';
    assert_int_equal(strlen(b), MAX_BODY);
    return b;
}

static void test_cap_exact(void **state)
{
    (void)state;
    char *b = body_at_cap();
    struct reply r;
    /* 422 naming the field proves the whole body was read and parsed */
    post("/v1/tenants", admin_json, b, BODY_LENGTH, &r);
    expect_error(&r, 422, "validation_failed", "unknown_field");
    reply_cleanup(&r);
    post("/v1/tenants", admin_json, b, BODY_CHUNKED, &r);
    expect_error(&r, 422, "validation_failed", "unknown_field");
    reply_cleanup(&r);
    free(b);

    /* a small chunked body is read as well */
    post("/v1/tenants", admin_json, "{\"colour\":\"red\"}", BODY_CHUNKED, &r);
    expect_error(&r, 422, "validation_failed", "colour");
    reply_cleanup(&r);
}

static void test_media_type(void **state)
{
    (void)state;
    static const char *const plain[] = {"Authorization: Bearer " ADMIN_KEY,
                                        "Content-Type: text/plain", NULL};
    struct reply r;
    post("/v1/tenants", plain, "{\"name\":\"acme\"}", BODY_LENGTH, &r);
    expect_error(&r, 415, "unsupported_media_type", NULL);
    reply_cleanup(&r);

    static const char *const none[] = {"Authorization: Bearer " ADMIN_KEY,
                                       "Content-Type:", NULL};
    post("/v1/tenants", none, "{\"name\":\"acme\"}", BODY_LENGTH, &r);
    expect_error(&r, 415, "unsupported_media_type", NULL);
    reply_cleanup(&r);

    static const char *const lookalike[] = {"Authorization: Bearer " ADMIN_KEY,
                                            "Content-Type: application/jsonp",
                                            NULL};
    post("/v1/tenants", lookalike, "{\"name\":\"acme\"}", BODY_LENGTH, &r);
    expect_error(&r, 415, "unsupported_media_type", NULL);
    reply_cleanup(&r);

    /* a charset parameter is fine; the unknown field shows the body was
     * taken as JSON */
    static const char *const charset[] = {
        "Authorization: Bearer " ADMIN_KEY,
        "Content-Type: application/json; charset=utf-8", NULL};
    post("/v1/tenants", charset, "{\"colour\":1}", BODY_LENGTH, &r);
    expect_error(&r, 422, "validation_failed", "colour");
    reply_cleanup(&r);
}

static void test_invalid_json(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"name\":",
        "{\"name\":\"a\",}",
        "not json",
        "{name:\"a\"}",
        "{\"name\":\"a\"} trailing",
        "{\"name\":\"a\",\"name\":\"b\"}",
        "{\"name\":\"\xff\xfe\"}",
        "[1,2]",
        "\"a string\"",
        "42",
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(bad); i++) {
        struct reply r;
        post("/v1/tenants", admin_json, bad[i], BODY_LENGTH, &r);
        expect_error(&r, 400, "invalid_json", NULL);
        reply_cleanup(&r);
    }

    /* no body where one is required */
    struct reply r;
    post("/v1/tenants", admin_json, "", BODY_LENGTH, &r);
    expect_error(&r, 400, "bad_request", NULL);
    reply_cleanup(&r);
}

static void test_deep_nesting(void **state)
{
    (void)state;
    /* 10,000 levels do not fit in 1 KiB: a second server with a larger
     * cap, which also shows that two can run side by side */
    struct server big;
    server_start(&big, 64 * 1024);
    const size_t depth = 10000;
    const char *pre = "{\"name\":";
    size_t pl = strlen(pre);
    size_t n = pl + 2 * depth + 1;
    char *b = hk_malloc(n + 1);
    memcpy(b, pre, pl);
    memset(b + pl, '[', depth);
    memset(b + pl + depth, ']', depth);
    b[n - 1] = '}';
    b[n] = '\0';
    struct reply r;
    request(&big, "POST", "/v1/tenants", admin_json, b, n, BODY_LENGTH, &r);
    expect_error(&r, 400, "invalid_json", NULL);
    reply_cleanup(&r);

    /* the same as a bare top-level array, and unclosed */
    memset(b, '[', depth);
    request(&big, "POST", "/v1/tenants", admin_json, b, depth, BODY_LENGTH, &r);
    expect_error(&r, 400, "invalid_json", NULL);
    reply_cleanup(&r);

    /* objects nested as deep */
    struct hk_buf o;
    hk_buf_init(&o);
    for (size_t i = 0; i < depth; i++)
        hk_buf_puts(&o, "{\"a\":");
    hk_buf_puts(&o, "1");
    for (size_t i = 0; i < depth; i++)
        hk_buf_puts(&o, "}");
    request(&big, "POST", "/v1/tenants", admin_json, o.data, o.len, BODY_LENGTH,
            &r);
    expect_error(&r, 400, "invalid_json", NULL);
    reply_cleanup(&r);
    hk_buf_cleanup(&o);
    free(b);

    request(&big, "GET", "/healthz", NULL, NULL, 0, BODY_NONE, &r);
    assert_int_equal(r.status, 200);
    reply_cleanup(&r);
    server_stop(&big);
}

static void test_unknown_field(void **state)
{
    (void)state;
    struct reply r;
    post("/v1/tenants", admin_json, "{\"name\":\"acme\",\"colour\":\"red\"}",
         BODY_LENGTH, &r);
    expect_error(&r, 422, "validation_failed", "colour");
    reply_cleanup(&r);

    /* an unknown query parameter is refused the same way */
    static const char *const admin[] = {"Authorization: Bearer " ADMIN_KEY,
                                        NULL};
    get("/v1/me?colour=red", admin, &r);
    expect_error(&r, 422, "validation_failed", "colour");
    reply_cleanup(&r);
}

static void test_unauthorized(void **state)
{
    (void)state;
    const char *const *const tokens[] = {
        (const char *const[]){NULL},
        (const char *const[]){"Authorization: Bearer wrong", NULL},
        (const char *const[]){"Authorization: Bearer " ADMIN_KEY "x", NULL},
        (const char *const[]){"Authorization: Bearer", NULL},
        (const char *const[]){"Authorization: Bearer ", NULL},
        (const char *const[]){"Authorization: " ADMIN_KEY, NULL},
        (const char *const[]){"Authorization: Basic " ADMIN_KEY, NULL},
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(tokens); i++) {
        struct reply r;
        get("/v1/me", tokens[i], &r);
        expect_error(&r, 401, "unauthorized", NULL);
        reply_cleanup(&r);
        get("/v1/tenants", tokens[i], &r);
        expect_error(&r, 401, "unauthorized", NULL);
        reply_cleanup(&r);
        /* the token is checked before the body is looked at */
        request(&main_srv, "POST", "/v1/tenants", tokens[i], "{broken", 7,
                BODY_LENGTH, &r);
        expect_error(&r, 401, "unauthorized", NULL);
        reply_cleanup(&r);
    }
}

static void test_me_admin(void **state)
{
    (void)state;
    static const char *const admin[] = {"Authorization: Bearer " ADMIN_KEY,
                                        NULL};
    struct reply r;
    get("/v1/me", admin, &r);
    assert_int_equal(r.status, 200);
    json_t *j = reply_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "role")), "admin");
    json_decref(j);
    reply_cleanup(&r);
}

static void test_method_not_allowed(void **state)
{
    (void)state;
    static const char *const admin[] = {"Authorization: Bearer " ADMIN_KEY,
                                        NULL};
    struct reply r;
    request(&main_srv, "DELETE", "/v1/tenants", admin, NULL, 0, BODY_NONE, &r);
    expect_error(&r, 405, "method_not_allowed", NULL);
    assert_string_equal(r.allow, "POST, GET");
    reply_cleanup(&r);

    request(&main_srv, "PUT",
            "/v1/tenants/0190a6b4-1111-7111-8111-1111111111"
            "11",
            NULL, NULL, 0, BODY_NONE, &r);
    expect_error(&r, 405, "method_not_allowed", NULL);
    assert_string_equal(r.allow, "GET, PATCH, DELETE");
    reply_cleanup(&r);

    request(&main_srv, "POST", "/healthz", NULL, "{}", 2, BODY_LENGTH, &r);
    expect_error(&r, 405, "method_not_allowed", NULL);
    assert_string_equal(r.allow, "GET");
    reply_cleanup(&r);
}

static void test_not_found(void **state)
{
    (void)state;
    static const char *const paths[] = {
        "/nope",        "/",          "/v1", "/v1/tenants//endpoints",
        "/v1/tenantsx", "/healthz/x",
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(paths); i++) {
        struct reply r;
        get(paths[i], NULL, &r);
        expect_error(&r, 404, "not_found", NULL);
        reply_cleanup(&r);
    }
    /* with a token too, and with a method nothing has */
    static const char *const admin[] = {"Authorization: Bearer " ADMIN_KEY,
                                        NULL};
    struct reply r;
    request(&main_srv, "DELETE", "/nope", admin, NULL, 0, BODY_NONE, &r);
    expect_error(&r, 404, "not_found", NULL);
    reply_cleanup(&r);
    /* a malformed tenant id in the path looks like a missing tenant */
    get("/v1/tenants/not-a-uuid", admin, &r);
    expect_error(&r, 404, "not_found", NULL);
    reply_cleanup(&r);
}

static void test_request_id(void **state)
{
    (void)state;
    struct reply r;
    static const char *const good[] = {"X-Request-Id: my-trace-123", NULL};
    get("/healthz", good, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.request_id, "my-trace-123");
    reply_cleanup(&r);

    /* echoed on errors too */
    get("/nope", good, &r);
    expect_error(&r, 404, "not_found", NULL);
    assert_string_equal(r.request_id, "my-trace-123");
    reply_cleanup(&r);
    post("/v1/tenants", good, "{}", BODY_LENGTH, &r);
    expect_error(&r, 401, "unauthorized", NULL);
    assert_string_equal(r.request_id, "my-trace-123");
    reply_cleanup(&r);

    /* a 64-character id is kept whole */
    char hdr[300], id[201];
    memset(id, 'k', 64);
    id[64] = '\0';
    snprintf(hdr, sizeof(hdr), "X-Request-Id: %s", id);
    const char *const long_ok[] = {hdr, NULL};
    get("/healthz", long_ok, &r);
    assert_string_equal(r.request_id, id);
    reply_cleanup(&r);

    /* a bad one is replaced by a fresh id */
    static const char *const spaced[] = {"X-Request-Id: bad id", NULL};
    get("/healthz", spaced, &r);
    assert_int_equal(r.status, 200);
    if (!is_generated_id(r.request_id))
        fail_msg("\"bad id\" came back as \"%s\"", r.request_id);
    reply_cleanup(&r);

    memset(id, 'a', 200);
    id[200] = '\0';
    snprintf(hdr, sizeof(hdr), "X-Request-Id: %s", id);
    const char *const too_long[] = {hdr, NULL};
    get("/healthz", too_long, &r);
    assert_int_equal(r.status, 200);
    if (!is_generated_id(r.request_id))
        fail_msg("a 200-character id came back as \"%s\"", r.request_id);
    reply_cleanup(&r);

    static const char *const ctl[] = {"X-Request-Id: a\x01"
                                      "b",
                                      NULL};
    get("/healthz", ctl, &r);
    assert_true(is_generated_id(r.request_id));
    reply_cleanup(&r);

    static const char *const high[] = {"X-Request-Id: caf\xc3\xa9", NULL};
    get("/healthz", high, &r);
    assert_true(is_generated_id(r.request_id));
    reply_cleanup(&r);

    /* two requests without one get two different ids */
    char first[512];
    get("/healthz", NULL, &r);
    snprintf(first, sizeof(first), "%s", r.request_id);
    reply_cleanup(&r);
    get("/healthz", NULL, &r);
    assert_true(is_generated_id(first));
    assert_true(is_generated_id(r.request_id));
    assert_string_not_equal(first, r.request_id);
    reply_cleanup(&r);
}

/* /openapi.json is the embedded docs/openapi.json, byte for byte, as JSON
 * (test_openapi.c checks the document against the route table). */
static void test_openapi(void **state)
{
    (void)state;
    struct reply r;
    get("/openapi.json", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    assert_int_equal(r.body.len, hk_openapi_doc_len);
    assert_memory_equal(r.body.data, hk_openapi_doc, hk_openapi_doc_len);
    reply_cleanup(&r);
}

/* Many requests on one kept-alive connection, some with bodies, some
 * refused, then a fresh connection still works. */
static void test_keep_alive(void **state)
{
    (void)state;
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/tenants",
             main_srv.cfg.listen_port);
    struct curl_slist *hl = NULL;
    hl = curl_slist_append(hl, "Authorization: Bearer " ADMIN_KEY);
    hl = curl_slist_append(hl, "Content-Type: application/json");
    struct reply r;
    memset(&r, 0, sizeof(r));
    hk_buf_init(&r.body);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{\"x\":1}");
    for (int i = 0; i < 50; i++) {
        hk_buf_reset(&r.body);
        assert_int_equal(curl_easy_perform(c), CURLE_OK);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
        expect_error(&r, 422, "validation_failed", "x");
    }
    long conns = -1;
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &conns);
    assert_int_equal(conns, 0); /* the last request reused the connection */
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    reply_cleanup(&r);
}

/* Whether a new connection to s is refused (rather than accepted or left
 * waiting in the listen queue). */
static bool connect_refused(const struct server *s)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)s->cfg.listen_port);
    bool refused = connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 &&
                   errno == ECONNREFUSED;
    close(fd);
    return refused;
}

struct stopper {
    struct server *srv;
    int64_t grace_ms;
    int64_t took_ms;
};

static void *stop_in_background(void *arg)
{
    struct stopper *st = arg;
    int64_t t0 = hk_mono_ms();
    hk_http_stop(st->srv->http, st->grace_ms);
    st->took_ms = hk_mono_ms() - t0;
    return NULL;
}

static void test_stop_lets_requests_finish(void **state)
{
    (void)state;
    struct server s;
    server_start(&s, MAX_BODY);

    /* a request in flight: its headers and part of its body are sent */
    const char *body = "{\"colour\":\"red\"}";
    char head[512];
    snprintf(head, sizeof(head),
             "POST /v1/tenants HTTP/1.1\r\n"
             "Host: 127.0.0.1\r\n"
             "Authorization: Bearer " ADMIN_KEY "\r\n"
             "Content-Type: application/json\r\n"
             "X-Request-Id: in-flight\r\n"
             "Content-Length: %zu\r\n\r\n",
             strlen(body));
    int fd = raw_connect(&s);
    raw_send(fd, head, strlen(head));
    raw_send(fd, body, 5);
    usleep(200 * 1000);

    struct stopper st = {&s, 10000, -1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, stop_in_background, &st), 0);

    /* new connections are refused as soon as the stop begins */
    bool refused = false;
    for (int i = 0; i < 100 && !refused; i++) {
        refused = connect_refused(&s);
        if (!refused)
            usleep(20 * 1000);
    }
    if (!refused)
        fail_msg("new connections still accepted 2 s into the stop");

    /* the request in flight is read to its end and answered */
    usleep(300 * 1000);
    raw_send(fd, body + 5, strlen(body) - 5);
    char buf[4096];
    if (!raw_read_response(fd, buf, sizeof(buf), 5000))
        fail_msg("no answer to the request in flight: <%s>", buf);
    if (strncmp(buf, "HTTP/1.1 422", 12) != 0)
        fail_msg("want 422 (the whole body read), got <%s>", buf);
    assert_non_null(strstr(buf, "\"colour\""));
    assert_non_null(strcasestr(buf, "\r\nX-Request-Id: in-flight\r\n"));
    assert_non_null(strcasestr(buf, "\r\nConnection: close\r\n"));
    close(fd);

    /* and the stop ends with it, not at the deadline */
    assert_int_equal(pthread_join(t, NULL), 0);
    if (st.took_ms >= 5000)
        fail_msg("the stop took %lld ms", (long long)st.took_ms);
}

static void test_still_answers_then_stops(void **state)
{
    (void)state;
    struct reply r;
    get("/healthz", NULL, &r);
    assert_int_equal(r.status, 200);
    reply_cleanup(&r);
    static const char *const admin[] = {"Authorization: Bearer " ADMIN_KEY,
                                        NULL};
    get("/v1/me", admin, &r);
    assert_int_equal(r.status, 200);
    reply_cleanup(&r);

    /* a client left mid-body holds the stop up to the deadline, no
     * longer */
    int fd = raw_connect(&main_srv);
    const char *head = "POST /v1/tenants HTTP/1.1\r\n"
                       "Host: 127.0.0.1\r\n"
                       "Content-Type: application/json\r\n"
                       "Content-Length: 100\r\n\r\n{\"a\":";
    raw_send(fd, head, strlen(head));
    usleep(100 * 1000);
    int64_t t0 = hk_mono_ms();
    hk_http_stop(main_srv.http, 700);
    main_srv.http = NULL;
    int64_t took = hk_mono_ms() - t0;
    if (took < 600 || took >= 10000)
        fail_msg("the stop took %lld ms with a 700 ms deadline",
                 (long long)took);
    close(fd);

    /* nobody listens any more */
    CURL *c = curl_easy_init();
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz",
             main_srv.cfg.listen_port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    memset(&r, 0, sizeof(r));
    hk_buf_init(&r.body);
    assert_int_equal(curl_easy_perform(c), CURLE_COULDNT_CONNECT);
    curl_easy_cleanup(c);
    reply_cleanup(&r);
}

static int group_setup(void **state)
{
    (void)state;
    hk_json_init();
    hk_log_set_level(HK_LOG_ERROR);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -1;
    server_start(&main_srv, MAX_BODY);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (main_srv.http != NULL)
        server_stop(&main_srv);
    curl_global_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthz),
        cmocka_unit_test(test_cap_content_length),
        cmocka_unit_test(test_cap_chunked),
        cmocka_unit_test(test_cap_exact),
        cmocka_unit_test(test_media_type),
        cmocka_unit_test(test_invalid_json),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_unknown_field),
        cmocka_unit_test(test_unauthorized),
        cmocka_unit_test(test_me_admin),
        cmocka_unit_test(test_method_not_allowed),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_request_id),
        cmocka_unit_test(test_openapi),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_stop_lets_requests_finish),
        cmocka_unit_test(test_still_answers_then_stops),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
