/*
 * metrics.c - counters behind /metrics. Requests are counted in a small
 * fixed table keyed by (route pattern, status); route patterns are static
 * strings so the table holds pointers. Everything else is atomic.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define MAX_REQ_KEYS 256

struct req_key {
    const char *route;
    int status;
    long long count;
    double seconds;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct req_key req_keys[MAX_REQ_KEYS];
static int nreq_keys;

static atomic_llong events_ingested;
static atomic_llong deliveries_created;
static atomic_llong outcome_succeeded, outcome_retry, outcome_failed;
static atomic_long in_flight;

static const int64_t buckets_ms[] = {5, 10, 25, 50, 100, 250, 500,
                                     1000, 2500, 5000, 10000, 30000};
#define NBUCKETS (sizeof(buckets_ms) / sizeof(buckets_ms[0]))
static atomic_llong latency_buckets[NBUCKETS];
static atomic_llong latency_count;
static atomic_llong latency_sum_ms;

void hk_metrics_request(const char *route, int status, int64_t duration_ms)
{
    pthread_mutex_lock(&mu);
    int i;
    for (i = 0; i < nreq_keys; i++)
        if (req_keys[i].route == route && req_keys[i].status == status)
            break;
    if (i == nreq_keys && nreq_keys < MAX_REQ_KEYS) {
        req_keys[i].route = route;
        req_keys[i].status = status;
        nreq_keys++;
    }
    if (i < nreq_keys) {
        req_keys[i].count++;
        req_keys[i].seconds += (double)duration_ms / 1000.0;
    }
    pthread_mutex_unlock(&mu);
}

void hk_metrics_event_ingested(int deliveries)
{
    atomic_fetch_add(&events_ingested, 1);
    atomic_fetch_add(&deliveries_created, deliveries);
}

void hk_metrics_attempt(const char *outcome, int64_t duration_ms)
{
    if (strcmp(outcome, "succeeded") == 0)
        atomic_fetch_add(&outcome_succeeded, 1);
    else if (strcmp(outcome, "retry") == 0)
        atomic_fetch_add(&outcome_retry, 1);
    else
        atomic_fetch_add(&outcome_failed, 1);
    for (size_t i = 0; i < NBUCKETS; i++)
        if (duration_ms <= buckets_ms[i])
            atomic_fetch_add(&latency_buckets[i], 1);
    atomic_fetch_add(&latency_count, 1);
    atomic_fetch_add(&latency_sum_ms, duration_ms);
}

void hk_metrics_in_flight(long n)
{
    atomic_store(&in_flight, n);
}

void hk_metrics_render(struct hk_buf *out, long long queue_depth)
{
    hk_buf_puts(out, "# HELP hookd_http_requests_total HTTP requests by "
                     "route and status.\n"
                     "# TYPE hookd_http_requests_total counter\n");
    pthread_mutex_lock(&mu);
    for (int i = 0; i < nreq_keys; i++)
        hk_buf_printf(out,
                      "hookd_http_requests_total{route=\"%s\",status=\"%d\"}"
                      " %lld\n",
                      req_keys[i].route, req_keys[i].status,
                      req_keys[i].count);
    pthread_mutex_unlock(&mu);
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
    hk_buf_printf(out,
                  "# HELP hookd_attempts_total Delivery attempts by outcome.\n"
                  "# TYPE hookd_attempts_total counter\n"
                  "hookd_attempts_total{outcome=\"succeeded\"} %lld\n"
                  "hookd_attempts_total{outcome=\"retry\"} %lld\n"
                  "hookd_attempts_total{outcome=\"failed\"} %lld\n",
                  (long long)atomic_load(&outcome_succeeded),
                  (long long)atomic_load(&outcome_retry),
                  (long long)atomic_load(&outcome_failed));
    hk_buf_puts(out, "# HELP hookd_attempt_duration_seconds Attempt latency.\n"
                     "# TYPE hookd_attempt_duration_seconds histogram\n");
    for (size_t i = 0; i < NBUCKETS; i++)
        hk_buf_printf(out,
                      "hookd_attempt_duration_seconds_bucket{le=\"%g\"} "
                      "%lld\n",
                      (double)buckets_ms[i] / 1000.0,
                      (long long)atomic_load(&latency_buckets[i]));
    hk_buf_printf(out,
                  "hookd_attempt_duration_seconds_bucket{le=\"+Inf\"} %lld\n"
                  "hookd_attempt_duration_seconds_sum %g\n"
                  "hookd_attempt_duration_seconds_count %lld\n",
                  (long long)atomic_load(&latency_count),
                  (double)atomic_load(&latency_sum_ms) / 1000.0,
                  (long long)atomic_load(&latency_count));
    hk_buf_printf(out,
                  "# HELP hookd_in_flight Requests to endpoints in flight.\n"
                  "# TYPE hookd_in_flight gauge\n"
                  "hookd_in_flight %ld\n",
                  (long)atomic_load(&in_flight));
    if (queue_depth >= 0)
        hk_buf_printf(out,
                      "# HELP hookd_queue_depth Deliveries pending or "
                      "sending.\n"
                      "# TYPE hookd_queue_depth gauge\n"
                      "hookd_queue_depth %lld\n",
                      queue_depth);
}
