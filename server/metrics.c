/*
 * metrics.c - counters behind /metrics. Requests are counted in a small
 * fixed table keyed by (route pattern, status), and timed in a histogram
 * per route pattern; route patterns are static strings so the tables hold
 * pointers, but they are compared by content, because the same pattern
 * may sit at several addresses (one per method in the route table, when
 * the compiler does not merge equal literals) and one route must be one
 * series. Attempts feed the attempts counter, the latency histogram and,
 * when the attempt ends its delivery (succeeded or failed), the deliveries
 * counter. Histograms keep one count per bucket and are made cumulative
 * when rendered, under the lock that guards their updates, so a scrape
 * never sees a bucket larger than the next one. The dispatcher and the
 * HTTP layer report here; nothing here does I/O.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define MAX_REQ_KEYS 512
#define MAX_ROUTES 128

/* Upper bounds in ms; one more slot past the last counts the rest. */
static const int64_t req_bounds_ms[] = {5,   10,  25,   50,   100, 250,
                                        500, 1000, 2500, 5000, 10000};
#define REQ_NBUCKETS HK_ARRAY_LEN(req_bounds_ms)

static const int64_t attempt_bounds_ms[] = {5,   10,   25,   50,   100,  250,
                                            500, 1000, 2500, 5000, 10000,
                                            30000};
#define ATT_NBUCKETS HK_ARRAY_LEN(attempt_bounds_ms)

struct req_key {
    const char *route;
    const char *method;
    int status;
    long long count;
};

struct route_hist {
    const char *route;
    const char *method;
    long long buckets[REQ_NBUCKETS + 1];
    long long count;
    int64_t sum_ms;
};

static pthread_mutex_t req_mu = PTHREAD_MUTEX_INITIALIZER;
static struct req_key req_keys[MAX_REQ_KEYS];
static int nreq_keys;
static struct route_hist routes[MAX_ROUTES];
static int nroutes;

static pthread_mutex_t att_mu = PTHREAD_MUTEX_INITIALIZER;
static long long att_succeeded, att_retry, att_failed;
static long long att_buckets[ATT_NBUCKETS + 1];
static long long att_count;
static int64_t att_sum_ms;

static atomic_llong events_ingested;
static atomic_llong deliveries_created;
static atomic_long in_flight;

/* Endpoints whose requests in flight are held below max_concurrency by
 * their answers (engine/outcome.h), with the current number; an endpoint
 * back at its max leaves the table. Bounded, so that a run of struggling
 * endpoints cannot grow the exposition without end: beyond the table's
 * size, endpoints are left out of it (and still adapt). */
#define MAX_ADAPTING 256
struct adapting {
    char endpoint_id[37];
    int concurrency;
};
static pthread_mutex_t conc_mu = PTHREAD_MUTEX_INITIALIZER;
static struct adapting adapting[MAX_ADAPTING];
static int nadapting;

/* The slot of a duration: the first bound it does not pass, or n for
 * beyond the last. */
static size_t bucket_of(const int64_t *bounds, size_t n, int64_t ms)
{
    size_t i = 0;
    while (i < n && ms > bounds[i])
        i++;
    return i;
}

/* The method as a label: one of the methods HTTP defines, or "other", so
 * that a client cannot add series by inventing methods. */
static const char *method_label(const char *method)
{
    static const char *const known[] = {"GET",    "HEAD",    "POST",
                                        "PUT",    "PATCH",   "DELETE",
                                        "OPTIONS", "CONNECT", "TRACE"};
    for (size_t i = 0; method != NULL && i < HK_ARRAY_LEN(known); i++)
        if (strcmp(method, known[i]) == 0)
            return known[i];
    return "other";
}

void hk_metrics_request(const char *route, const char *method, int status,
                        int64_t duration_ms)
{
    if (route == NULL)
        route = "unmatched";
    method = method_label(method);
    if (duration_ms < 0)
        duration_ms = 0;
    pthread_mutex_lock(&req_mu);
    int i;
    for (i = 0; i < nreq_keys; i++)
        if (req_keys[i].status == status && req_keys[i].method == method &&
            strcmp(req_keys[i].route, route) == 0)
            break;
    if (i == nreq_keys && nreq_keys < MAX_REQ_KEYS) {
        req_keys[i].route = route;
        req_keys[i].method = method;
        req_keys[i].status = status;
        nreq_keys++;
    }
    if (i < nreq_keys)
        req_keys[i].count++;
    for (i = 0; i < nroutes; i++)
        if (routes[i].method == method && strcmp(routes[i].route, route) == 0)
            break;
    if (i == nroutes && nroutes < MAX_ROUTES) {
        routes[i].route = route;
        routes[i].method = method;
        nroutes++;
    }
    if (i < nroutes) {
        routes[i].buckets[bucket_of(req_bounds_ms, REQ_NBUCKETS,
                                    duration_ms)]++;
        routes[i].count++;
        routes[i].sum_ms += duration_ms;
    }
    pthread_mutex_unlock(&req_mu);
}

void hk_metrics_event_ingested(int deliveries)
{
    atomic_fetch_add(&events_ingested, 1);
    atomic_fetch_add(&deliveries_created, deliveries);
}

void hk_metrics_attempt(const char *outcome, int64_t duration_ms)
{
    if (duration_ms < 0)
        duration_ms = 0;
    pthread_mutex_lock(&att_mu);
    if (strcmp(outcome, "succeeded") == 0)
        att_succeeded++;
    else if (strcmp(outcome, "retry") == 0)
        att_retry++;
    else
        att_failed++;
    att_buckets[bucket_of(attempt_bounds_ms, ATT_NBUCKETS, duration_ms)]++;
    att_count++;
    att_sum_ms += duration_ms;
    pthread_mutex_unlock(&att_mu);
}

void hk_metrics_in_flight(long n)
{
    atomic_store(&in_flight, n);
}

void hk_metrics_endpoint_concurrency(const char *endpoint_id, int n)
{
    pthread_mutex_lock(&conc_mu);
    int i = 0;
    while (i < nadapting && strcmp(adapting[i].endpoint_id, endpoint_id) != 0)
        i++;
    if (n <= 0) {
        if (i < nadapting)
            adapting[i] = adapting[--nadapting];
    } else if (i < nadapting) {
        adapting[i].concurrency = n;
    } else if (nadapting < MAX_ADAPTING) {
        snprintf(adapting[i].endpoint_id, sizeof(adapting[i].endpoint_id),
                 "%s", endpoint_id);
        adapting[i].concurrency = n;
        nadapting++;
    }
    pthread_mutex_unlock(&conc_mu);
}

/* A label value as the text format wants it: backslash, double quote and
 * newline escaped. */
static void put_label_value(struct hk_buf *out, const char *v)
{
    for (; *v != '\0'; v++) {
        if (*v == '\\')
            hk_buf_puts(out, "\\\\");
        else if (*v == '"')
            hk_buf_puts(out, "\\\"");
        else if (*v == '\n')
            hk_buf_puts(out, "\\n");
        else
            hk_buf_append(out, v, 1);
    }
}

/* The _bucket, _sum and _count lines of one histogram series. labels is
 * the series' label text without braces ("route=\"/x\"") or "" for none;
 * counts holds one count per slot (nbounds + 1). */
static void put_histogram(struct hk_buf *out, const char *name,
                          const char *labels, const int64_t *bounds,
                          size_t nbounds, const long long *counts,
                          long long count, int64_t sum_ms)
{
    const char *sep = labels[0] != '\0' ? "," : "";
    long long cum = 0;
    for (size_t i = 0; i < nbounds; i++) {
        cum += counts[i];
        hk_buf_printf(out, "%s_bucket{%s%sle=\"%g\"} %lld\n", name, labels,
                      sep, (double)bounds[i] / 1000.0, cum);
    }
    hk_buf_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %lld\n", name, labels, sep,
                  count);
    if (labels[0] != '\0') {
        hk_buf_printf(out, "%s_sum{%s} %.3f\n", name, labels,
                      (double)sum_ms / 1000.0);
        hk_buf_printf(out, "%s_count{%s} %lld\n", name, labels, count);
    } else {
        hk_buf_printf(out, "%s_sum %.3f\n", name, (double)sum_ms / 1000.0);
        hk_buf_printf(out, "%s_count %lld\n", name, count);
    }
}

static void render_requests(struct hk_buf *out)
{
    struct hk_buf lab;
    hk_buf_init(&lab);
    pthread_mutex_lock(&req_mu);
    hk_buf_puts(out, "# HELP hookd_http_requests_total HTTP requests by "
                     "route, method and status.\n"
                     "# TYPE hookd_http_requests_total counter\n");
    for (int i = 0; i < nreq_keys; i++) {
        hk_buf_puts(out, "hookd_http_requests_total{route=\"");
        put_label_value(out, req_keys[i].route);
        hk_buf_printf(out, "\",method=\"%s\",status=\"%d\"} %lld\n",
                      req_keys[i].method, req_keys[i].status,
                      req_keys[i].count);
    }
    hk_buf_puts(out, "# HELP hookd_http_request_duration_seconds Time from "
                     "the first byte of an HTTP request to the end of its "
                     "answer, by route and method.\n"
                     "# TYPE hookd_http_request_duration_seconds "
                     "histogram\n");
    for (int i = 0; i < nroutes; i++) {
        hk_buf_reset(&lab);
        hk_buf_puts(&lab, "route=\"");
        put_label_value(&lab, routes[i].route);
        hk_buf_printf(&lab, "\",method=\"%s\"", routes[i].method);
        put_histogram(out, "hookd_http_request_duration_seconds", lab.data,
                      req_bounds_ms, REQ_NBUCKETS, routes[i].buckets,
                      routes[i].count, routes[i].sum_ms);
    }
    pthread_mutex_unlock(&req_mu);
    hk_buf_cleanup(&lab);
}

static void render_attempts(struct hk_buf *out)
{
    pthread_mutex_lock(&att_mu);
    hk_buf_printf(out,
                  "# HELP hookd_attempts_total Delivery attempts by outcome: "
                  "succeeded, retry (another attempt is scheduled) or "
                  "failed (the last one).\n"
                  "# TYPE hookd_attempts_total counter\n"
                  "hookd_attempts_total{outcome=\"succeeded\"} %lld\n"
                  "hookd_attempts_total{outcome=\"retry\"} %lld\n"
                  "hookd_attempts_total{outcome=\"failed\"} %lld\n",
                  att_succeeded, att_retry, att_failed);
    hk_buf_printf(out,
                  "# HELP hookd_deliveries_total Deliveries ended by an "
                  "attempt of this process, by outcome.\n"
                  "# TYPE hookd_deliveries_total counter\n"
                  "hookd_deliveries_total{outcome=\"succeeded\"} %lld\n"
                  "hookd_deliveries_total{outcome=\"failed\"} %lld\n",
                  att_succeeded, att_failed);
    hk_buf_puts(out, "# HELP hookd_attempt_duration_seconds Delivery "
                     "attempt latency.\n"
                     "# TYPE hookd_attempt_duration_seconds histogram\n");
    put_histogram(out, "hookd_attempt_duration_seconds", "",
                  attempt_bounds_ms, ATT_NBUCKETS, att_buckets, att_count,
                  att_sum_ms);
    pthread_mutex_unlock(&att_mu);
}

void hk_metrics_render(struct hk_buf *out, long long queue_depth)
{
    render_requests(out);
    hk_buf_printf(out,
                  "# HELP hookd_events_ingested_total Events accepted.\n"
                  "# TYPE hookd_events_ingested_total counter\n"
                  "hookd_events_ingested_total %lld\n"
                  "# HELP hookd_deliveries_created_total Deliveries made by "
                  "fan-out.\n"
                  "# TYPE hookd_deliveries_created_total counter\n"
                  "hookd_deliveries_created_total %lld\n",
                  (long long)atomic_load(&events_ingested),
                  (long long)atomic_load(&deliveries_created));
    render_attempts(out);
    hk_buf_printf(out,
                  "# HELP hookd_in_flight Requests to endpoints in flight.\n"
                  "# TYPE hookd_in_flight gauge\n"
                  "hookd_in_flight %ld\n",
                  (long)atomic_load(&in_flight));
    hk_buf_puts(out, "# HELP hookd_endpoint_concurrency Requests in flight an "
                     "endpoint may have now, for endpoints held below their "
                     "max_concurrency by 429, 503 or timeouts.\n"
                     "# TYPE hookd_endpoint_concurrency gauge\n");
    pthread_mutex_lock(&conc_mu);
    for (int i = 0; i < nadapting; i++)
        hk_buf_printf(out,
                      "hookd_endpoint_concurrency{endpoint_id=\"%s\"} %d\n",
                      adapting[i].endpoint_id, adapting[i].concurrency);
    pthread_mutex_unlock(&conc_mu);
    if (queue_depth >= 0)
        hk_buf_printf(out,
                      "# HELP hookd_queue_depth Deliveries pending or "
                      "sending.\n"
                      "# TYPE hookd_queue_depth gauge\n"
                      "hookd_queue_depth %lld\n",
                      queue_depth);
}
