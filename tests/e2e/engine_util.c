/*
 * engine_util.c - the helpers of engine_util.h: thin wrappers over the
 * harness's HTTP client for tenants, endpoints, events, deliveries and
 * attempts; polling loops that fail the calling test with what they last
 * saw; the signature check of a received request through server/sign.c;
 * the sorted set of webhook-ids of a receiver path; and fork/exec of an
 * outside verifier. What the tests assert is theirs.
 */
#include "engine_util.h"
#include "sign.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static char *dup_str(const char *s)
{
    size_t n = strlen(s);
    char *p = malloc(n + 1);
    if (p == NULL)
        abort();
    memcpy(p, s, n + 1);
    return p;
}

char *hk_eng_tenant(struct hk_srv *s, const char *name, char *tid)
{
    hk_mk_tenant(s, name, tid);
    return hk_mk_api_key(s, tid, NULL);
}

void hk_eng_endpoint(struct hk_srv *s, const char *token, const char *tid,
                     const char *url, const char *members, char *eid)
{
    json_t *url_json = json_string(url);
    char *url_text = json_dumps(url_json, JSON_ENCODE_ANY);
    json_decref(url_json);
    char *body = members ? hk_fmt("{\"url\":%s,%s}", url_text, members)
                         : hk_fmt("{\"url\":%s}", url_text);
    free(url_text);
    hk_mk_endpoint(s, token, tid, body, eid);
    free(body);
}

void hk_eng_rcv_endpoint(struct hk_srv *s, const char *token, const char *tid,
                         struct hk_rcv *rcv, const char *path,
                         const char *members, char *eid)
{
    char *url = hk_rcv_url(rcv, path);
    hk_eng_endpoint(s, token, tid, url, members, eid);
    free(url);
}

struct hk_reply *hk_eng_post_body(struct hk_srv *s, const char *token,
                                  const char *tid, const char *body,
                                  const char *idem_key)
{
    char *path = hk_fmt("/v1/tenants/%s/events", tid);
    char *idem = idem_key ? hk_fmt("Idempotency-Key: %s", idem_key) : NULL;
    const char *hdrs[] = {idem, NULL};
    struct hk_reply *r = hk_http(s, "POST", path, token, "application/json",
                                 body, strlen(body), idem ? hdrs : NULL);
    free(idem);
    free(path);
    return r;
}

int hk_eng_event_at(const char *file, int line, struct hk_srv *s,
                    const char *token, const char *tid, const char *type,
                    const char *payload, char *evid)
{
    char *body =
        hk_fmt("{\"event_type\":\"%s\",\"payload\":%s}", type, payload);
    struct hk_reply *r = hk_eng_post_body(s, token, tid, body, NULL);
    free(body);
    hk_expect_at(file, line, r, 202);
    const char *id = hk_jstr(r->json, "id");
    if (id == NULL) {
        print_error("POST events: no \"id\" in %s\n", r->body);
        hk_reply_free(r);
        _fail(file, line);
        return -1;
    }
    if (evid != NULL)
        snprintf(evid, HK_ID_LEN, "%s", id);
    int n = (int)hk_jint(r->json, "deliveries", -1);
    hk_reply_free(r);
    return n;
}

json_t *hk_eng_deliveries(struct hk_srv *s, const char *token, const char *tid,
                          const char *query)
{
    char *path = query ? hk_fmt("/v1/tenants/%s/deliveries?%s", tid, query)
                       : hk_fmt("/v1/tenants/%s/deliveries", tid);
    json_t *all = hk_list_all(s, token, path, 250, NULL);
    free(path);
    return all;
}

void hk_eng_delivery_id_at(const char *file, int line, struct hk_srv *s,
                           const char *token, const char *tid, const char *evid,
                           const char *eid, char *did)
{
    char *q = hk_fmt("event_id=%s&endpoint_id=%s", evid, eid);
    json_t *all = hk_eng_deliveries(s, token, tid, q);
    free(q);
    if (json_array_size(all) != 1) {
        char *text = json_dumps(all, JSON_COMPACT);
        print_error("expected one delivery of event %s to endpoint %s, "
                    "got %zu: %.2000s\n",
                    evid, eid, json_array_size(all), text ? text : "");
        free(text);
        json_decref(all);
        _fail(file, line);
        return;
    }
    snprintf(did, HK_ID_LEN, "%s", hk_jstr(all, "0.id"));
    json_decref(all);
}

json_t *hk_eng_delivery(struct hk_srv *s, const char *token, const char *tid,
                        const char *did)
{
    struct hk_reply *r = hk_call(s, "GET", token, NULL,
                                 "/v1/tenants/%s/deliveries/%s", tid, did);
    hk_expect(r, 200);
    json_t *d = json_incref(r->json);
    hk_reply_free(r);
    return d;
}

json_t *hk_eng_attempts(struct hk_srv *s, const char *token, const char *tid,
                        const char *did)
{
    char *path = hk_fmt("/v1/tenants/%s/deliveries/%s/attempts", tid, did);
    json_t *all = hk_list_all(s, token, path, 250, NULL);
    free(path);
    return all;
}

static void show_delivery(struct hk_srv *s, const char *token, const char *tid,
                          const char *did, json_t *d)
{
    char *dt = json_dumps(d, JSON_COMPACT);
    json_t *att = hk_eng_attempts(s, token, tid, did);
    char *at = json_dumps(att, JSON_COMPACT);
    print_error("  delivery: %.3000s\n  attempts: %.6000s\n", dt ? dt : "",
                at ? at : "");
    free(dt);
    free(at);
    json_decref(att);
}

json_t *hk_eng_wait_status_at(const char *file, int line, struct hk_srv *s,
                              const char *token, const char *tid,
                              const char *did, const char *want, int timeout_ms)
{
    int64_t deadline = hk_wall_ms() + timeout_ms;
    for (;;) {
        json_t *d = hk_eng_delivery(s, token, tid, did);
        const char *st = hk_jstr(d, "status");
        if (st != NULL && strcmp(st, want) == 0)
            return d;
        if (hk_wall_ms() >= deadline) {
            print_error("delivery %s did not reach status %s within %d ms "
                        "(it is %s)\n",
                        did, want, timeout_ms, st ? st : "(none)");
            show_delivery(s, token, tid, did, d);
            json_decref(d);
            _fail(file, line);
            return NULL;
        }
        json_decref(d);
        hk_sleep_ms(100);
    }
}

json_t *hk_eng_wait_attempts_at(const char *file, int line, struct hk_srv *s,
                                const char *token, const char *tid,
                                const char *did, size_t n, int timeout_ms)
{
    int64_t deadline = hk_wall_ms() + timeout_ms;
    for (;;) {
        json_t *att = hk_eng_attempts(s, token, tid, did);
        if (json_array_size(att) >= n)
            return att;
        if (hk_wall_ms() >= deadline) {
            print_error("delivery %s has %zu attempts, not %zu, after %d ms\n",
                        did, json_array_size(att), n, timeout_ms);
            json_t *d = hk_eng_delivery(s, token, tid, did);
            show_delivery(s, token, tid, did, d);
            json_decref(d);
            json_decref(att);
            _fail(file, line);
            return NULL;
        }
        json_decref(att);
        hk_sleep_ms(100);
    }
}

char *hk_eng_secret(struct hk_srv *s, const char *token, const char *tid,
                    const char *eid)
{
    struct hk_reply *r = hk_call(
        s, "GET", token, NULL, "/v1/tenants/%s/endpoints/%s/secret", tid, eid);
    hk_expect(r, 200);
    const char *k = hk_jstr(r->json, "key");
    if (k == NULL || strncmp(k, "whsec_", 6) != 0) {
        print_error("GET secret: no whsec_ key in %s\n", r->body);
        hk_reply_free(r);
        fail();
        return NULL;
    }
    char *key = dup_str(k);
    hk_reply_free(r);
    return key;
}

int64_t hk_eng_time_ms(const char *s)
{
    if (s == NULL)
        return -1;
    int y, mo, d, h, mi, sec, used = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
               &used) != 6 ||
        used != 19)
        return -1;
    const char *p = s + 19;
    int64_t frac_ms = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        int64_t scale = 100;
        while (*p >= '0' && *p <= '9') {
            if (digits < 3) {
                frac_ms += (*p - '0') * scale;
                scale /= 10;
            }
            digits++;
            p++;
        }
        if (digits == 0)
            return -1;
    }
    if (strcmp(p, "Z") != 0)
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    return (int64_t)t * 1000 + frac_ms;
}

bool hk_eng_sig_ok(const struct hk_rcv_req *q, const char *secret)
{
    const char *id = hk_rcv_req_header(q, "webhook-id");
    const char *ts = hk_rcv_req_header(q, "webhook-timestamp");
    const char *sig = hk_rcv_req_header(q, "webhook-signature");
    if (id == NULL || ts == NULL || sig == NULL)
        return false;
    char *end;
    errno = 0;
    long long t = strtoll(ts, &end, 10);
    if (errno != 0 || end == ts || *end != '\0')
        return false;
    return hk_sign_verify(secret, id, (int64_t)t, q->body, q->body_len, sig);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void hk_eng_ids_at(struct hk_rcv *r, const char *path, struct hk_eng_ids *out)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    for (size_t i = 0;; i++) {
        const struct hk_rcv_req *q = hk_rcv_get_path(r, path, i);
        if (q == NULL)
            break;
        out->total++;
        const char *id = hk_rcv_req_header(q, "webhook-id");
        if (out->n == cap) {
            cap = cap ? cap * 2 : 64;
            out->v = realloc(out->v, cap * sizeof *out->v);
            if (out->v == NULL)
                abort();
        }
        out->v[out->n++] = dup_str(id ? id : "");
    }
    if (out->n == 0)
        return;
    qsort(out->v, out->n, sizeof *out->v, cmp_str);
    size_t w = 1;
    for (size_t i = 1; i < out->n; i++) {
        if (strcmp(out->v[i], out->v[w - 1]) == 0)
            free(out->v[i]);
        else
            out->v[w++] = out->v[i];
    }
    out->n = w;
}

bool hk_eng_ids_has(const struct hk_eng_ids *ids, const char *id)
{
    if (ids->n == 0)
        return false;
    return bsearch(&id, ids->v, ids->n, sizeof *ids->v, cmp_str) != NULL;
}

void hk_eng_ids_free(struct hk_eng_ids *ids)
{
    for (size_t i = 0; i < ids->n; i++)
        free(ids->v[i]);
    free(ids->v);
    memset(ids, 0, sizeof *ids);
}

int hk_eng_run(const char *const *argv, const char *const *extra_env,
               int timeout_ms)
{
    size_t nenv = 0, nextra = 0;
    while (environ[nenv] != NULL)
        nenv++;
    while (extra_env != NULL && extra_env[nextra] != NULL)
        nextra++;
    char **envp = calloc(nenv + nextra + 1, sizeof *envp);
    if (envp == NULL)
        abort();
    size_t k = 0;
    for (size_t i = 0; i < nextra; i++)
        envp[k++] = (char *)extra_env[i];
    for (size_t i = 0; i < nenv; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t nl = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        bool replaced = false;
        for (size_t j = 0; j < nextra && !replaced; j++)
            replaced = strncmp(extra_env[j], environ[i], nl) == 0 &&
                       extra_env[j][nl] == '=';
        if (!replaced)
            envp[k++] = environ[i];
    }
    envp[k] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        free(envp);
        fprintf(stderr, "engine_util: fork failed: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        dup2(2, 1);
        execvpe(argv[0], (char *const *)argv, envp);
        static const char msg[] = "engine_util: exec failed\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        _exit(127);
    }
    free(envp);
    int64_t deadline = hk_wall_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            if (WIFEXITED(st))
                return WEXITSTATUS(st);
            if (WIFSIGNALED(st))
                return 128 + WTERMSIG(st);
            return -1;
        }
        if (w < 0 && errno != EINTR)
            return -1;
        if (hk_wall_ms() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            fprintf(stderr, "engine_util: %s timed out after %d ms\n", argv[0],
                    timeout_ms);
            return -1;
        }
        hk_sleep_ms(20);
    }
}

long long hk_eng_sending(struct hk_srv *s, const char *tid, const char *eid)
{
    return hk_sql_int(s,
                      "SELECT count(*) FROM hookd.endpoint_owners o"
                      " CROSS JOIN unnest(o.holding) AS h(id)"
                      " JOIN hookd.deliveries d"
                      " ON d.tenant_id = o.tenant_id AND d.id = h.id"
                      " WHERE o.tenant_id = $1 AND o.endpoint_id = $2"
                      " AND o.lease_until > now() AND d.status = 'pending'"
                      " AND d.next_attempt_at <= now()",
                      tid, eid);
}

void hk_eng_wait_one_waiting(struct hk_srv *s, const char *tid,
                             const char *eid)
{
    int64_t until = hk_wall_ms() + 5000;
    long long leased;
    while ((leased = hk_eng_sending(s, tid, eid)) < 2 && hk_wall_ms() < until)
        hk_sleep_ms(20);
    if (leased != 2)
        fail_msg("with one request in flight at a max_concurrency 1 "
                 "endpoint, %lld deliveries are sending; expected 2 (one "
                 "waiting in the dispatcher)",
                 leased);
}

void hk_eng_timings_at(const char *file, int line, json_t *attempt,
                       double ms[5])
{
    static const char *const names[5] = {"dns_ms", "connect_ms", "tls_ms",
                                         "ttfb_ms", "total_ms"};
    json_t *t = json_object_get(attempt, "timings");
    char *text = json_dumps(attempt, JSON_COMPACT);
    if (!json_is_object(t) || json_object_size(t) != 5)
        fail_msg("%s:%d: attempt without the five timings: %s", file, line,
                 text);
    for (int i = 0; i < 5; i++) {
        json_t *v = json_object_get(t, names[i]);
        if (!json_is_number(v) || json_number_value(v) < 0)
            fail_msg("%s:%d: timings.%s is not a number >= 0: %s", file, line,
                     names[i], text);
        ms[i] = json_number_value(v);
    }
    if (ms[4] < ms[3])
        fail_msg("%s:%d: total_ms below ttfb_ms: %s", file, line, text);
    free(text);
}
