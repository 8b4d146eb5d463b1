/*
 * outcome.h - what one attempt's outcome means: for its delivery
 * (succeeded, retry at a time, failed), for its endpoint (disabled, with
 * the reason) and for the endpoint's requests in flight (shrink, grow,
 * hold). The one place these rules live; pure functions, no I/O, no
 * clock, no randomness of their own (the caller passes the time and the
 * jitter), so that every case is a unit test. The record statement
 * (store_dispatch.c) writes what hk_outcome_decide returns and decides
 * nothing itself. docs/engine.md describes the rules in prose.
 */
#ifndef HK_ENGINE_OUTCOME_H
#define HK_ENGINE_OUTCOME_H

#include "common.h"
#include "retry.h"

/* What kind of answer an attempt got. */
enum hk_attempt_kind {
    HK_ATTEMPT_OK,        /* 2xx */
    HK_ATTEMPT_GONE,      /* 410: the receiver asks never to be called */
    HK_ATTEMPT_THROTTLED, /* 429 or 503: the receiver asks for less */
    HK_ATTEMPT_STATUS,    /* any other status */
    HK_ATTEMPT_TIMEOUT,   /* no answer within the request timeout */
    HK_ATTEMPT_REFUSED,   /* the address guard refused the address */
    HK_ATTEMPT_NETWORK,   /* DNS, connect, TLS or transfer error */
};

/* What the endpoint's requests in flight should do after the attempt. */
enum hk_pressure {
    HK_PRESSURE_HOLD,   /* no news about the receiver's capacity */
    HK_PRESSURE_GROW,   /* it answered well: one more slot, slowly */
    HK_PRESSURE_SHRINK, /* it is struggling: halve the slots */
};

enum hk_delivery_next {
    HK_NEXT_SUCCEEDED,
    HK_NEXT_RETRY,
    HK_NEXT_FAILED,
};

/* Everything the decision depends on. */
struct hk_outcome_in {
    int status_code;        /* 0 when no response came */
    const char *error;      /* deliver.c's text when no response came */
    int64_t retry_after_ms; /* from Retry-After on 429/503, else -1 */
    int cycle_attempts;     /* attempts of this cycle, this one included */
    const struct hk_retry_schedule *schedule;
    double jitter;            /* in [0, 1), for the schedule's +-10 % */
    int64_t now_ms;           /* wall clock when the outcome is decided */
    int64_t failing_since_ms; /* the endpoint's, 0 when it is not failing */
    int64_t disable_after_ms; /* HOOKD_DISABLE_AFTER */
};

/* The decision. reason is a static string or points into
 * reason_buf. */
struct hk_outcome_decision {
    enum hk_attempt_kind kind;
    enum hk_delivery_next next;
    int64_t next_attempt_ms;   /* wall ms, when next is HK_NEXT_RETRY */
    /* what the delivery becomes if its endpoint was disabled or deleted
     * while the request was in flight: it is not tried again */
    enum hk_delivery_next next_if_stopped;
    bool disable_endpoint;
    const char *disable_reason; /* when disable_endpoint */
    char reason_buf[96];
    enum hk_pressure pressure;
};

/* Classifies an attempt's answer. */
enum hk_attempt_kind hk_outcome_kind(int status_code, const char *error);

/* What the kind of answer does to the endpoint's requests in flight:
 * 429, 503 and timeouts shrink them, 2xx grows them. */
enum hk_pressure hk_outcome_pressure(enum hk_attempt_kind kind);

/* Decides what the attempt described by in does; fills *out. */
void hk_outcome_decide(const struct hk_outcome_in *in,
                       struct hk_outcome_decision *out);

/* The status text stored for next: "succeeded", "pending", "failed". */
const char *hk_outcome_status(enum hk_delivery_next next);

/* An endpoint's requests in flight as the receiver's answers allow:
 * halved (never below 1) when it shrinks, one more slot after as many
 * successes as there are slots (additive increase), never above the
 * endpoint's max_concurrency. A shrink is taken once per round of
 * requests: answers to requests started before the last shrink were
 * asked for under the old limit and do not halve it again. */
struct hk_adapt {
    int limit;        /* slots now, 1..max */
    int grow_credit;  /* successes since the limit last rose */
    int64_t shrunk_ms; /* wall ms of the last shrink, 0 for never */
};

/* A full limit: max slots. */
void hk_adapt_init(struct hk_adapt *a, int max);
/* Applies one attempt's pressure; started_ms is when its request started.
 * max is the endpoint's max_concurrency now (it may have changed). Returns
 * true when the limit changed. */
bool hk_adapt_apply(struct hk_adapt *a, enum hk_pressure p, int64_t started_ms,
                    int64_t now_ms, int max);

#endif
