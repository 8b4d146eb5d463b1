/*
 * deliver.h - the only user of libcurl: sends signed webhook requests on a
 * few send threads, each a curl multi handle with many requests in flight
 * and keep-alive, keeps receivers that open a new TLS connection for every
 * request apart from the others, refuses inward addresses at connect time,
 * and collects each outcome (status, headers, first 4 KiB of body, timing,
 * error text). It knows nothing of the database: the dispatcher hands it
 * jobs and takes back finished ones, on one thread of its own.
 */
#ifndef HK_DELIVER_H
#define HK_DELIVER_H

#include "common.h"
#include "ids.h"

#define HK_RESPONSE_BODY_CAP 4096

struct hk_header {
    char *name;
    char *value;
};

/* Where one attempt's time went, in microseconds, each phase on its own
 * (not cumulative as libcurl reports them). A phase that did not happen -
 * a reused connection needs no DNS, TCP or TLS - is 0. */
struct hk_timings {
    int64_t dns_us;          /* name resolution */
    int64_t connect_us;      /* TCP connect */
    int64_t tls_us;          /* TLS handshake, 0 for plain HTTP */
    int64_t ttfb_us;         /* request sent until the first response byte */
    int64_t total_us;        /* the whole attempt as libcurl saw it */
};

/* What came of one attempt; every heap field is owned by the job. */
struct hk_outcome {
    int64_t started_at_ms;   /* wall clock when the request started */
    int duration_ms;
    int status_code;         /* 0 when no response came */
    char *error;             /* NULL when a response came, else why not */
    char *request_headers;   /* JSON object text of the headers we sent */
    char *response_headers;  /* JSON object text, NULL without response */
    char *response_body;     /* valid UTF-8 text, at most 4 KiB; or NULL */
    bool truncated;          /* the body was longer than 4 KiB */
    int64_t retry_after_ms;  /* from Retry-After on 429/503, else -1 */
    struct hk_timings timings;
    char remote_ip[46];      /* address connected to, "" when none */
};

/* When one attempt passed each hand, wall clock in Unix microseconds (0
 * for a step not reached): the claim that brought it began (set by the
 * claimer) and returned (made), added when the dispatcher handed it to a send thread, started when
 * that thread signed it and gave it to libcurl, answered when libcurl
 * finished with it. With the attempt's timings, the debug log's "attempt
 * timeline" line shows where a delivery's latency went (docs/tls.md). */
struct hk_trace {
    int64_t claim_began_us;
    int64_t made_us;
    int64_t added_us;
    int64_t started_us;
    int64_t answered_us;
};

/* One request to make. The dispatcher fills the input part and owns the
 * struct; hk_job_free releases the struct and every heap field. */
struct hk_job {
    char tenant_id[37];
    char delivery_id[37];
    char endpoint_id[37];
    char event_id[37];       /* also the webhook-id header */
    /* delivery_id and endpoint_id as bytes, for the lists of held
     * deliveries a dispatcher's claims hand PostgreSQL (ids.h) */
    unsigned char delivery_bin[HK_UUID_BYTES];
    unsigned char endpoint_bin[HK_UUID_BYTES];
    int attempt_number;      /* 1-based number of this attempt */
    char *url;
    struct hk_header *headers; /* endpoint's extra headers */
    size_t nheaders;
    char *body;              /* the full envelope, sent as is */
    size_t body_len;
    char *secret;            /* "whsec_..." */
    char *prev_secret;       /* or NULL: also signs during a rotation */
    void *user;              /* for the dispatcher */
    struct hk_outcome out;   /* filled when the job completes */
    struct hk_trace trace;   /* filled by deliver.c on the way */
    void *priv_;             /* deliver.c's, from add until collect */
};

struct hk_job *hk_job_new(void);

/* The trace's clock: wall clock in Unix microseconds, comparable with
 * other processes' (a receiver's arrival time). */
int64_t hk_trace_now_us(void);
void hk_job_free(struct hk_job *job);

struct hk_deliver_opts {
    int64_t timeout_ms;      /* whole-request timeout */
    bool allow_private;      /* HOOKD_ALLOW_PRIVATE_TARGETS */
    int max_host_connections; /* per host cap inside curl, 0 = none */
    int threads;             /* HOOKD_SEND_THREADS; 0 = the default, 2 */
};

struct hk_deliver;

/* Starts the send threads. Free with hk_deliver_free (it stops and joins
 * them, and waits for no transfer: in-flight jobs are abandoned, collect
 * them first). Every other function but hk_deliver_wakeup must be called
 * from one thread, the caller's. */
struct hk_deliver *hk_deliver_new(const struct hk_deliver_opts *opts);
void hk_deliver_free(struct hk_deliver *d);

/* Starts job (signed now, with the current time as webhook-timestamp).
 * The job belongs to the deliverer until it comes back from collect. */
void hk_deliver_add(struct hk_deliver *d, struct hk_job *job);

/* Sleeps up to timeout_ms (the send threads drive the transfers), waking
 * early when a transfer finishes, when extra_fd (or -1) becomes readable
 * (then *extra_ready is set), or when hk_deliver_wakeup is called. */
void hk_deliver_poll(struct hk_deliver *d, int extra_fd, int timeout_ms,
                     bool *extra_ready);

/* Moves up to max finished jobs into done[]; returns how many. At debug
 * log level each is logged as an "attempt timeline" line. */
size_t hk_deliver_collect(struct hk_deliver *d, struct hk_job **done,
                          size_t max);

/* Number of jobs added and not yet collected. */
size_t hk_deliver_in_flight(const struct hk_deliver *d);

/* Safe from any thread: makes a sleeping hk_deliver_poll return. */
void hk_deliver_wakeup(struct hk_deliver *d);

#endif
