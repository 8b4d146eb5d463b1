/*
 * test_metrics.c - end-to-end tests of GET /metrics as docs/api.md names it:
 * requests by route and status (and their durations by route), events
 * ingested, deliveries by outcome, the attempt latency histogram, queue
 * depth and in-flight requests. Every scrape is parsed as the Prometheus
 * text format (0.0.4) and checked the way a scraper would: HELP and TYPE
 * once per family and before its samples, a family's samples together, no
 * series twice, valid label syntax and values, and histograms whose
 * buckets rise with le, are cumulative and end in le="+Inf" equal to
 * _count beside a _sum. Then real traffic (events fanned out to a receiver
 * that answers 200, 500 for ever, and 500 once) must move each counter by
 * exactly what happened. One hookd (serve) for the file with
 * HOOKD_RETRY_SCHEDULE=1s,1s, so a failing delivery ends after 3 attempts.
 */
#include "engine_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct hk_srv srv;
static struct hk_rcv *rcv;

static int group_setup(void **state)
{
    (void)state;
    static const char *const env[] = {"HOOKD_RETRY_SCHEDULE=1s,1s", NULL};
    static const char *const types[] = {"m.good", "m.bad", "m.flaky", "m.slow",
                                        NULL};
    return hk_group_start(&srv, env, &rcv, types);
}

static int group_teardown(void **state)
{
    (void)state;
    return hk_group_finish(&srv, &rcv);
}

/* ---- a parser of the Prometheus text format ------------------------------
 */

struct sample {
    char *name;
    char *labels; /* canonical: pairs sorted by name, k="v" joined by , */
    char *le;     /* the le label's value, or NULL */
    char *rest;   /* the labels without le, canonical */
    double value;
    int family;
};

struct family {
    char *name;
    char *type; /* NULL until its TYPE line */
    bool help;
    bool closed; /* another family's samples came after its own */
};

struct scrape {
    struct sample *s;
    size_t n;
    struct family *f;
    size_t nf;
};

static char *dupn(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    assert_non_null(p);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static bool name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           c == ':' || (!first && c >= '0' && c <= '9');
}

static size_t name_len(const char *s)
{
    size_t n = 0;
    while (name_char(s[n], n == 0))
        n++;
    return n;
}

static int family_find(struct scrape *sc, const char *name, size_t len)
{
    for (size_t i = 0; i < sc->nf; i++)
        if (strlen(sc->f[i].name) == len &&
            strncmp(sc->f[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

static int family_add(struct scrape *sc, const char *name, size_t len)
{
    int i = family_find(sc, name, len);
    if (i >= 0)
        return i;
    sc->f = realloc(sc->f, (sc->nf + 1) * sizeof(*sc->f));
    assert_non_null(sc->f);
    memset(&sc->f[sc->nf], 0, sizeof(*sc->f));
    sc->f[sc->nf].name = dupn(name, len);
    return (int)sc->nf++;
}

/* The family a sample name belongs to: itself for a counter, gauge or
 * untyped family, the stem for a histogram's _bucket/_sum/_count or a
 * summary's _sum/_count; -1 when no TYPE line declared it. */
static int family_of(struct scrape *sc, const char *name)
{
    size_t n = strlen(name);
    int i = family_find(sc, name, n);
    if (i >= 0 && sc->f[i].type != NULL &&
        strcmp(sc->f[i].type, "histogram") != 0 &&
        strcmp(sc->f[i].type, "summary") != 0)
        return i;
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    for (size_t k = 0; k < 3; k++) {
        size_t sl = strlen(suffixes[k]);
        if (n <= sl || strcmp(name + n - sl, suffixes[k]) != 0)
            continue;
        i = family_find(sc, name, n - sl);
        if (i < 0 || sc->f[i].type == NULL)
            continue;
        if (strcmp(sc->f[i].type, "histogram") == 0 ||
            (k > 0 && strcmp(sc->f[i].type, "summary") == 0))
            return i;
    }
    return -1;
}

struct pair {
    char *k;
    char *v; /* as written, escapes kept */
};

static int pair_cmp(const void *a, const void *b)
{
    return strcmp(((const struct pair *)a)->k, ((const struct pair *)b)->k);
}

/* A fixed buffer for one canonical label set. */
struct label_text {
    char text[1024];
    size_t len;
};

static void append_pair(struct label_text *b, const char *k, const char *v,
                        const char *line)
{
    int n = snprintf(b->text + b->len, sizeof b->text - b->len, "%s%s=\"%s\"",
                     b->len ? "," : "", k, v);
    if (n < 0 || (size_t)n >= sizeof b->text - b->len)
        fail_msg("labels too long in: %s", line);
    b->len += (size_t)n;
}

/* Parses {k="v",...} at *p (just past the brace) into a canonical string
 * with and without le; fails the test on bad syntax. */
static void parse_labels(const char **p, const char *line, struct sample *s)
{
    struct pair pairs[16];
    size_t np = 0;
    const char *q = *p;
    while (*q != '}') {
        size_t kl = name_len(q);
        if (kl == 0 || q[kl] != '=' || q[kl + 1] != '"')
            fail_msg("bad label syntax in: %s", line);
        if (np == 16)
            fail_msg("too many labels in: %s", line);
        pairs[np].k = dupn(q, kl);
        q += kl + 2;
        const char *v = q;
        while (*q != '"') {
            if (*q == '\0' || *q == '\n')
                fail_msg("unterminated label value in: %s", line);
            if (*q == '\\') {
                if (q[1] != '\\' && q[1] != '"' && q[1] != 'n')
                    fail_msg("bad escape in a label value in: %s", line);
                q++;
            }
            q++;
        }
        pairs[np].v = dupn(v, (size_t)(q - v));
        for (size_t i = 0; i < np; i++)
            if (strcmp(pairs[i].k, pairs[np].k) == 0)
                fail_msg("label %s twice in: %s", pairs[np].k, line);
        np++;
        q++;
        if (*q == ',')
            q++;
        else if (*q != '}')
            fail_msg("expected , or } after a label in: %s", line);
    }
    *p = q + 1;
    qsort(pairs, np, sizeof(*pairs), pair_cmp);
    struct label_text all = {{0}, 0}, rest = {{0}, 0};
    for (size_t i = 0; i < np; i++) {
        append_pair(&all, pairs[i].k, pairs[i].v, line);
        if (strcmp(pairs[i].k, "le") == 0) {
            s->le = pairs[i].v;
            pairs[i].v = NULL;
        } else {
            append_pair(&rest, pairs[i].k, pairs[i].v, line);
        }
        free(pairs[i].k);
        free(pairs[i].v);
    }
    s->labels = dupn(all.text, all.len);
    s->rest = dupn(rest.text, rest.len);
}

static double parse_value(const char *v, const char *line)
{
    if (strcmp(v, "+Inf") == 0)
        return INFINITY;
    if (strcmp(v, "-Inf") == 0)
        return -INFINITY;
    if (strcmp(v, "NaN") == 0)
        return NAN;
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end != '\0')
        fail_msg("bad sample value \"%s\" in: %s", v, line);
    return d;
}

static void parse_sample(struct scrape *sc, const char *line, int *current)
{
    struct sample s;
    memset(&s, 0, sizeof s);
    size_t nl = name_len(line);
    if (nl == 0)
        fail_msg("a line that is no sample: %s", line);
    s.name = dupn(line, nl);
    const char *p = line + nl;
    if (*p == '{') {
        p++;
        parse_labels(&p, line, &s);
    } else {
        s.labels = dupn("", 0);
        s.rest = dupn("", 0);
    }
    if (*p != ' ')
        fail_msg("no space before the value in: %s", line);
    while (*p == ' ')
        p++;
    const char *sp = strchr(p, ' ');
    char *v = dupn(p, sp ? (size_t)(sp - p) : strlen(p));
    s.value = parse_value(v, line);
    free(v);
    if (sp != NULL) {
        /* an optional timestamp: an integer of ms */
        char *end;
        (void)strtoll(sp + 1, &end, 10);
        if (end == sp + 1 || *end != '\0')
            fail_msg("bad timestamp in: %s", line);
    }
    s.family = family_of(sc, s.name);
    if (s.family < 0)
        fail_msg("sample before (or without) its family's TYPE line: %s",
                 line);
    struct family *f = &sc->f[s.family];
    if (f->closed)
        fail_msg("family %s's samples are not together: %s", f->name, line);
    if (*current >= 0 && *current != s.family)
        sc->f[*current].closed = true;
    *current = s.family;
    if (strcmp(f->type, "histogram") == 0 &&
        strcmp(s.name + strlen(f->name), "_bucket") == 0 && s.le == NULL)
        fail_msg("a histogram bucket without le: %s", line);
    for (size_t i = 0; i < sc->n; i++)
        if (strcmp(sc->s[i].name, s.name) == 0 &&
            strcmp(sc->s[i].labels, s.labels) == 0)
            fail_msg("series %s{%s} appears twice", s.name, s.labels);
    sc->s = realloc(sc->s, (sc->n + 1) * sizeof(*sc->s));
    assert_non_null(sc->s);
    sc->s[sc->n++] = s;
}

static void parse_comment(struct scrape *sc, const char *line, int *current)
{
    bool help = strncmp(line, "# HELP ", 7) == 0;
    bool type = strncmp(line, "# TYPE ", 7) == 0;
    if (!help && !type)
        return; /* a plain comment */
    const char *name = line + 7;
    size_t nl = name_len(name);
    if (nl == 0 || (name[nl] != ' ' && name[nl] != '\0'))
        fail_msg("bad metric name in: %s", line);
    int i = family_add(sc, name, nl);
    struct family *f = &sc->f[i];
    if (*current >= 0 && *current != i)
        sc->f[*current].closed = true;
    const char *text = name[nl] == ' ' ? name + nl + 1 : "";
    if (help) {
        if (f->help)
            fail_msg("HELP twice for %s", f->name);
        if (text[0] == '\0')
            fail_msg("empty HELP for %s", f->name);
        f->help = true;
        return;
    }
    if (f->type != NULL)
        fail_msg("TYPE twice for %s", f->name);
    for (size_t k = 0; k < sc->n; k++)
        if (sc->s[k].family == i)
            fail_msg("TYPE of %s after its samples", f->name);
    static const char *const types[] = {"counter", "gauge", "histogram",
                                        "summary", "untyped"};
    bool ok = false;
    for (size_t k = 0; k < 5; k++)
        ok = ok || strcmp(text, types[k]) == 0;
    if (!ok)
        fail_msg("unknown TYPE \"%s\" for %s", text, f->name);
    f->type = dupn(text, strlen(text));
}

struct bucket {
    double le;
    const struct sample *s;
};

static int le_cmp(const void *a, const void *b)
{
    double x = ((const struct bucket *)a)->le;
    double y = ((const struct bucket *)b)->le;
    return x < y ? -1 : x > y;
}

/* One histogram series (the _count sample c of family fi): its _sum, and
 * buckets that rise with le, never hold less than the one below, and end
 * in le="+Inf" equal to _count. */
static void check_histogram_series(struct scrape *sc, size_t fi,
                                   const struct sample *c)
{
    const struct family *f = &sc->f[fi];
    size_t fl = strlen(f->name);
    struct bucket *b = calloc(sc->n, sizeof(*b));
    assert_non_null(b);
    size_t nb = 0;
    const struct sample *sum = NULL;
    for (size_t k = 0; k < sc->n; k++) {
        const struct sample *s = &sc->s[k];
        if (s->family != (int)fi || strcmp(s->rest, c->rest) != 0)
            continue;
        if (strcmp(s->name + fl, "_sum") == 0)
            sum = s;
        if (strcmp(s->name + fl, "_bucket") != 0)
            continue;
        b[nb].le = parse_value(s->le, s->le);
        b[nb].s = s;
        nb++;
    }
    if (sum == NULL)
        fail_msg("%s{%s} has no _sum", f->name, c->rest);
    if (!(sum->value >= 0))
        fail_msg("%s_sum{%s} is %g", f->name, c->rest, sum->value);
    if (nb < 2)
        fail_msg("%s{%s} has %zu buckets", f->name, c->rest, nb);
    qsort(b, nb, sizeof(*b), le_cmp);
    for (size_t k = 1; k < nb; k++) {
        if (b[k].le == b[k - 1].le)
            fail_msg("%s{%s}: le=\"%s\" twice", f->name, c->rest, b[k].s->le);
        if (b[k].s->value < b[k - 1].s->value)
            fail_msg("%s{%s}: bucket le=\"%s\" holds %g, less than le=\"%s\" "
                     "below it (%g): buckets are not cumulative",
                     f->name, c->rest, b[k].s->le, b[k].s->value,
                     b[k - 1].s->le, b[k - 1].s->value);
    }
    const struct sample *inf = b[nb - 1].s;
    if (strcmp(inf->le, "+Inf") != 0)
        fail_msg("%s{%s} has no le=\"+Inf\" bucket", f->name, c->rest);
    if (inf->value != c->value)
        fail_msg("%s{%s}: le=\"+Inf\" holds %g, _count %g", f->name, c->rest,
                 inf->value, c->value);
    free(b);
}

/* The histogram rules, for every series of every histogram family. */
static void check_histograms(struct scrape *sc)
{
    for (size_t fi = 0; fi < sc->nf; fi++) {
        struct family *f = &sc->f[fi];
        if (strcmp(f->type, "histogram") != 0)
            continue;
        size_t fl = strlen(f->name);
        for (size_t i = 0; i < sc->n; i++)
            if (sc->s[i].family == (int)fi &&
                strcmp(sc->s[i].name + fl, "_count") == 0)
                check_histogram_series(sc, fi, &sc->s[i]);
        /* and no buckets or sums without a count */
        for (size_t i = 0; i < sc->n; i++) {
            const struct sample *s = &sc->s[i];
            if (s->family != (int)fi || strcmp(s->name + fl, "_count") == 0)
                continue;
            bool counted = false;
            for (size_t k = 0; k < sc->n; k++)
                counted = counted ||
                          (sc->s[k].family == (int)fi &&
                           strcmp(sc->s[k].name + fl, "_count") == 0 &&
                           strcmp(sc->s[k].rest, s->rest) == 0);
            if (!counted)
                fail_msg("%s{%s} has no _count", s->name, s->labels);
        }
    }
}

static void scrape_free(struct scrape *sc)
{
    for (size_t i = 0; i < sc->n; i++) {
        free(sc->s[i].name);
        free(sc->s[i].labels);
        free(sc->s[i].le);
        free(sc->s[i].rest);
    }
    for (size_t i = 0; i < sc->nf; i++) {
        free(sc->f[i].name);
        free(sc->f[i].type);
    }
    free(sc->s);
    free(sc->f);
    memset(sc, 0, sizeof *sc);
}

/* GET /metrics, parsed and checked as a scraper would. */
static void scrape(struct scrape *sc)
{
    memset(sc, 0, sizeof *sc);
    struct hk_reply *r =
        hk_http(&srv, "GET", "/metrics", NULL, NULL, NULL, 0, NULL);
    hk_expect(r, 200);
    const char *ct = hk_reply_header(r, "Content-Type");
    if (ct == NULL || strncmp(ct, "text/plain; version=0.0.4", 25) != 0)
        fail_msg("/metrics has Content-Type %s", ct ? ct : "(none)");
    if (strlen(r->body) != r->body_len)
        fail_msg("/metrics holds a NUL byte");
    if (r->body_len == 0 || r->body[r->body_len - 1] != '\n')
        fail_msg("/metrics does not end with a newline");
    int current = -1;
    char *text = r->body;
    for (char *line = text; *line != '\0';) {
        char *nl = strchr(line, '\n');
        *nl = '\0';
        if (strchr(line, '\r') != NULL)
            fail_msg("a carriage return in: %s", line);
        if (line[0] == '#')
            parse_comment(sc, line, &current);
        else if (line[0] != '\0')
            parse_sample(sc, line, &current);
        line = nl + 1;
    }
    hk_reply_free(r);
    for (size_t i = 0; i < sc->nf; i++)
        if (sc->f[i].type == NULL)
            fail_msg("HELP without TYPE for %s", sc->f[i].name);
    check_histograms(sc);
    for (size_t i = 0; i < sc->n; i++) {
        struct family *f = &sc->f[sc->s[i].family];
        double v = sc->s[i].value;
        if (strcmp(f->type, "counter") == 0 && !(v >= 0))
            fail_msg("counter %s{%s} is %g", sc->s[i].name, sc->s[i].labels,
                     v);
        if (strcmp(f->type, "gauge") == 0 && isnan(v))
            fail_msg("gauge %s is NaN", sc->s[i].name);
    }
}

/* The value of a series, or def when it is absent. labels is canonical:
 * sorted by name (le before route), as parse_labels writes them. */
static double value_or(const struct scrape *sc, const char *name,
                       const char *labels, double def)
{
    for (size_t i = 0; i < sc->n; i++)
        if (strcmp(sc->s[i].name, name) == 0 &&
            strcmp(sc->s[i].labels, labels) == 0)
            return sc->s[i].value;
    return def;
}

static double value(const struct scrape *sc, const char *name,
                    const char *labels)
{
    double v = value_or(sc, name, labels, NAN);
    if (isnan(v))
        fail_msg("/metrics has no series %s{%s}", name, labels);
    return v;
}

/* How much a series moved between two scrapes; a series absent from the
 * first counts as 0 there. */
static double delta(const struct scrape *a, const struct scrape *b,
                    const char *name, const char *labels)
{
    return value(b, name, labels) - value_or(a, name, labels, 0);
}

static void expect_delta(const struct scrape *a, const struct scrape *b,
                         const char *name, const char *labels, double want)
{
    double d = delta(a, b, name, labels);
    if (d != want)
        fail_msg("%s{%s} moved by %g, expected %g", name, labels, d, want);
}

static void expect_type(const struct scrape *sc, const char *name,
                        const char *type)
{
    int i = family_find((struct scrape *)sc, name, strlen(name));
    if (i < 0)
        fail_msg("/metrics has no family %s", name);
    if (strcmp(sc->f[i].type, type) != 0)
        fail_msg("%s has TYPE %s, expected %s", name, sc->f[i].type, type);
    if (!sc->f[i].help)
        fail_msg("%s has no HELP", name);
}

static void expect_families(const struct scrape *sc)
{
    expect_type(sc, "hookd_http_requests_total", "counter");
    expect_type(sc, "hookd_http_request_duration_seconds", "histogram");
    expect_type(sc, "hookd_events_ingested_total", "counter");
    expect_type(sc, "hookd_deliveries_created_total", "counter");
    expect_type(sc, "hookd_attempts_total", "counter");
    expect_type(sc, "hookd_deliveries_total", "counter");
    expect_type(sc, "hookd_attempt_duration_seconds", "histogram");
    expect_type(sc, "hookd_in_flight", "gauge");
    expect_type(sc, "hookd_queue_depth", "gauge");
}

#define EVENTS_ROUTE "method=\"POST\",route=\"/v1/tenants/{}/events\""

/* ---- tests ---------------------------------------------------------------
 */

/* Every family is there from the start, counters at zero, before any
 * delivery was made. */
static void test_format_at_start(void **state)
{
    (void)state;
    struct scrape sc;
    scrape(&sc);
    expect_families(&sc);
    assert_true(value(&sc, "hookd_events_ingested_total", "") == 0);
    assert_true(value(&sc, "hookd_deliveries_created_total", "") == 0);
    static const char *const att[] = {"outcome=\"succeeded\"",
                                      "outcome=\"retry\"",
                                      "outcome=\"failed\""};
    for (size_t i = 0; i < 3; i++)
        assert_true(value(&sc, "hookd_attempts_total", att[i]) == 0);
    assert_true(value(&sc, "hookd_deliveries_total", att[0]) == 0);
    assert_true(value(&sc, "hookd_deliveries_total", att[2]) == 0);
    assert_true(value(&sc, "hookd_attempt_duration_seconds_count", "") == 0);
    assert_true(
        value(&sc, "hookd_attempt_duration_seconds_bucket", "le=\"+Inf\"") ==
        0);
    assert_true(value(&sc, "hookd_in_flight", "") == 0);
    assert_true(value(&sc, "hookd_queue_depth", "") == 0);
    /* the set-up's requests are there already */
    assert_true(value(&sc, "hookd_http_requests_total",
                      "method=\"POST\",route=\"/v1/event-types\",status=\"201\"") ==
                4);
    scrape_free(&sc);

    /* a second scrape counts the first */
    scrape(&sc);
    assert_true(value(&sc, "hookd_http_requests_total",
                      "method=\"GET\",route=\"/metrics\",status=\"200\"") >= 1);
    assert_true(value(&sc, "hookd_http_request_duration_seconds_count",
                      "method=\"GET\",route=\"/metrics\"") >= 1);
    scrape_free(&sc);
}

/* The gauges while a request is held by a slow receiver, and after. */
static void test_gauges(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN], evid[HK_ID_LEN], did[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "gauges", tid);
    hk_eng_rcv_endpoint(&srv, key, tid, rcv, "/m/slow",
                        "\"event_types\":[\"m.slow\"]", eid);
    struct hk_rcv_resp slow = {200, NULL, NULL, 2000, false, "/m/slow"};
    hk_rcv_push(rcv, &slow);
    hk_eng_event(&srv, key, tid, "m.slow", "{}", evid);
    hk_eng_delivery_id(&srv, key, tid, evid, eid, did);
    if (!hk_rcv_wait_for_path(rcv, "/m/slow", 1, 10000))
        fail_msg("the slow receiver got nothing");
    struct scrape sc;
    scrape(&sc);
    double in_flight = value(&sc, "hookd_in_flight", "");
    double depth = value(&sc, "hookd_queue_depth", "");
    scrape_free(&sc);
    if (in_flight != 1)
        fail_msg("hookd_in_flight is %g while one request is held", in_flight);
    if (depth != 1)
        fail_msg("hookd_queue_depth is %g while one delivery is sending",
                 depth);
    json_decref(hk_eng_wait_status(&srv, key, tid, did, "succeeded", 10000));
    int64_t deadline = hk_wall_ms() + 5000;
    for (;;) {
        scrape(&sc);
        in_flight = value(&sc, "hookd_in_flight", "");
        depth = value(&sc, "hookd_queue_depth", "");
        scrape_free(&sc);
        if (in_flight == 0 && depth == 0)
            break;
        if (hk_wall_ms() > deadline)
            fail_msg("after the delivery succeeded hookd_in_flight is %g "
                     "and hookd_queue_depth %g",
                     in_flight, depth);
        hk_sleep_ms(100);
    }
    free(key);
}

static void wait_final(const char *key, const char *tid, const char *evid,
                       const char *eid, const char *want)
{
    char did[HK_ID_LEN];
    hk_eng_delivery_id(&srv, key, tid, evid, eid, did);
    json_decref(hk_eng_wait_status(&srv, key, tid, did, want, 20000));
}

/* Real traffic moves every counter by exactly what happened. */
static void test_counters_follow_traffic(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], good[HK_ID_LEN], bad[HK_ID_LEN], flaky[HK_ID_LEN];
    char ev_good[3][HK_ID_LEN], ev_bad[HK_ID_LEN], ev_flaky[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "traffic", tid);
    hk_eng_rcv_endpoint(&srv, key, tid, rcv, "/m/good",
                        "\"event_types\":[\"m.good\"]", good);
    hk_eng_rcv_endpoint(&srv, key, tid, rcv, "/m/bad",
                        "\"event_types\":[\"m.bad\"]", bad);
    hk_eng_rcv_endpoint(&srv, key, tid, rcv, "/m/flaky",
                        "\"event_types\":[\"m.flaky\"]", flaky);
    /* /m/bad answers 500 after 300 ms, always: 3 attempts, then failed;
     * /m/flaky answers 500 once, then 200 */
    struct hk_rcv_resp slow500 = {500, NULL, "no", 300, false, "/m/bad"};
    hk_rcv_set_default(rcv, &slow500);
    hk_rcv_push(rcv, &(struct hk_rcv_resp){500, NULL, NULL, 0, false,
                                           "/m/flaky"});

    struct scrape before, after;
    scrape(&before);

    /* 5 events ingested (one of them with a key that is then repeated),
     * one refused, one unmatched route */
    static const char body[] = "{\"event_type\":\"m.good\",\"payload\":{}}";
    struct hk_reply *r = hk_eng_post_body(&srv, key, tid, body, "once");
    hk_expect(r, 202);
    snprintf(ev_good[0], HK_ID_LEN, "%s", hk_jstr(r->json, "id"));
    hk_reply_free(r);
    r = hk_eng_post_body(&srv, key, tid, body, "once");
    hk_expect(r, 200);
    hk_reply_free(r);
    hk_eng_event(&srv, key, tid, "m.good", "{\"n\":2}", ev_good[1]);
    hk_eng_event(&srv, key, tid, "m.good", "{\"n\":3}", ev_good[2]);
    hk_eng_event(&srv, key, tid, "m.bad", "{}", ev_bad);
    hk_eng_event(&srv, key, tid, "m.flaky", "{}", ev_flaky);
    r = hk_eng_post_body(&srv, key, tid,
                         "{\"event_type\":\"m.unknown\",\"payload\":{}}",
                         NULL);
    hk_expect_error(r, 422, "validation_failed", "event_type");
    hk_reply_free(r);
    r = hk_http(&srv, "GET", "/no/such/route", NULL, NULL, NULL, 0, NULL);
    hk_expect(r, 404);
    hk_reply_free(r);
    /* a method HTTP does not define adds no series of its own */
    r = hk_http(&srv, "BREW", "/no/such/route", NULL, NULL, NULL, 0, NULL);
    int brew_status = r->status;
    hk_reply_free(r);

    for (int i = 0; i < 3; i++)
        wait_final(key, tid, ev_good[i], good, "succeeded");
    wait_final(key, tid, ev_flaky, flaky, "succeeded");
    wait_final(key, tid, ev_bad, bad, "failed");

    /* outcomes reach the counters just after the database */
    int64_t deadline = hk_wall_ms() + 5000;
    for (;;) {
        scrape(&after);
        if (delta(&before, &after, "hookd_attempt_duration_seconds_count",
                  "") >= 8 ||
            hk_wall_ms() > deadline)
            break;
        scrape_free(&after);
        hk_sleep_ms(100);
    }
    expect_families(&after);

    expect_delta(&before, &after, "hookd_events_ingested_total", "", 5);
    expect_delta(&before, &after, "hookd_deliveries_created_total", "", 5);
    /* good 3 + flaky 1 succeeded; flaky 1 + bad 2 retried; bad 1 failed */
    expect_delta(&before, &after, "hookd_attempts_total",
                 "outcome=\"succeeded\"", 4);
    expect_delta(&before, &after, "hookd_attempts_total", "outcome=\"retry\"",
                 3);
    expect_delta(&before, &after, "hookd_attempts_total", "outcome=\"failed\"",
                 1);
    expect_delta(&before, &after, "hookd_deliveries_total",
                 "outcome=\"succeeded\"", 4);
    expect_delta(&before, &after, "hookd_deliveries_total",
                 "outcome=\"failed\"", 1);

    /* latency: 8 attempts, the 3 to /m/bad took at least 300 ms each */
    expect_delta(&before, &after, "hookd_attempt_duration_seconds_count", "",
                 8);
    expect_delta(&before, &after, "hookd_attempt_duration_seconds_bucket",
                 "le=\"+Inf\"", 8);
    double fast =
        delta(&before, &after, "hookd_attempt_duration_seconds_bucket",
              "le=\"0.25\"");
    if (fast > 5)
        fail_msg("%g attempts counted at or under 0.25 s; 3 of the 8 took at "
                 "least 0.3 s",
                 fast);
    double sum = delta(&before, &after, "hookd_attempt_duration_seconds_sum", "");
    if (sum < 0.9)
        fail_msg("hookd_attempt_duration_seconds_sum grew by %g s; three "
                 "attempts alone took 0.9 s",
                 sum);

    /* requests by route and status */
    expect_delta(&before, &after, "hookd_http_requests_total",
                 EVENTS_ROUTE ",status=\"202\"", 5);
    expect_delta(&before, &after, "hookd_http_requests_total",
                 EVENTS_ROUTE ",status=\"200\"", 1);
    expect_delta(&before, &after, "hookd_http_requests_total",
                 EVENTS_ROUTE ",status=\"422\"", 1);
    expect_delta(&before, &after, "hookd_http_requests_total",
                 "method=\"GET\",route=\"unmatched\",status=\"404\"", 1);
    char *brew = hk_fmt("method=\"other\",route=\"unmatched\",status=\"%d\"",
                        brew_status);
    expect_delta(&before, &after, "hookd_http_requests_total", brew, 1);
    free(brew);
    for (size_t i = 0; i < after.n; i++)
        if (strstr(after.s[i].labels, "BREW") != NULL)
            fail_msg("a series names the method BREW: %s{%s}",
                     after.s[i].name, after.s[i].labels);
    expect_delta(&before, &after, "hookd_http_request_duration_seconds_count",
                 EVENTS_ROUTE, 7);
    expect_delta(&before, &after, "hookd_http_request_duration_seconds_bucket",
                 "le=\"+Inf\"," EVENTS_ROUTE, 7);
    if (delta(&before, &after, "hookd_http_request_duration_seconds_sum",
              EVENTS_ROUTE) < 0)
        fail_msg("a duration sum went down");

    /* within one scrape, each route's duration count is the sum of its
     * requests over every status */
    for (size_t i = 0; i < after.n; i++) {
        const struct sample *c = &after.s[i];
        if (strcmp(c->name, "hookd_http_request_duration_seconds_count") != 0)
            continue;
        double total = 0;
        for (size_t k = 0; k < after.n; k++) {
            const struct sample *q = &after.s[k];
            if (strcmp(q->name, "hookd_http_requests_total") == 0 &&
                strncmp(q->labels, c->labels, strlen(c->labels)) == 0 &&
                q->labels[strlen(c->labels)] == ',')
                total += q->value;
        }
        if (total != c->value)
            fail_msg("{%s}: %g requests timed, %g counted by status",
                     c->labels, c->value, total);
    }

    assert_true(value(&after, "hookd_in_flight", "") == 0);
    assert_true(value(&after, "hookd_queue_depth", "") == 0);
    scrape_free(&before);
    scrape_free(&after);
    free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_at_start),
        cmocka_unit_test(test_gauges),
        cmocka_unit_test(test_counters_follow_traffic),
    };
    int rc = cmocka_run_group_tests_name("metrics", tests, group_setup,
                                         group_teardown);
    return hk_exit_code(rc);
}
