/*
 * engine.h - the parts of the delivery engine and what they share
 * (docs/engine.md). Each part has its file: work.c (a claimed delivery as
 * a job), limits.c (rate limits), lanes.c (an endpoint's slots and their
 * adaptation), claim.c (the claimer thread), send.c (the sender thread,
 * owner of the curl multi handle), record.c (the recorder thread),
 * outcome.c (what an outcome means: pure) and dispatcher.c (start and
 * stop). Only these files include this header; the rest of hookd sees
 * dispatcher.h.
 */
#ifndef HK_ENGINE_ENGINE_H
#define HK_ENGINE_ENGINE_H

#include "config.h"
#include "db.h"
#include "deliver.h"
#include "engine/outcome.h"
#include "engine/queue.h"
#include "store.h"
#include "vacuum.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

/* A rate-limited endpoint's token bucket and the jobs waiting on it. */
struct hk_bucket {
    char endpoint_id[37];
    int rate;
    double tokens;
    int64_t refilled_ms;
    struct hk_job **held;
    size_t nheld, capheld;
};

/* An endpoint's slots in this dispatcher: its requests started (or held
 * for its rate limit) and the claimed jobs waiting, in claim order, for
 * one of its max_concurrency slots. A claim gives the endpoint's owner up
 * to HK_LANE_DEPTH times max_concurrency deliveries (store.h), so that
 * when a request ends the next one starts at once instead of after the
 * next claim. Lanes live in a hash table by endpoint id while they hold
 * anything. Every LANE_CHECK_MS while jobs wait (in a lane, or held for a
 * rate limit), the claimer asks the database whether their endpoints are
 * still enabled and still this dispatcher's; the waiting jobs of one
 * that is not are dropped (their deliveries are due again for whoever
 * owns the endpoint), so that at most the requests already in flight
 * reach it after that. */
#define LANE_BUCKETS 1024

#define LANE_CHECK_MS 100

struct hk_lane {
    struct hk_lane *next; /* in its hash chain */
    char tenant_id[37];
    char endpoint_id[37];
    int max_conc;
    int busy;
    /* While the endpoint's answers hold its requests in flight below
     * max_concurrency (engine/outcome.h), the lane stays, empty or not,
     * and is listed in the dispatcher's limited lanes. */
    bool adapting;
    struct hk_adapt adapt;
    int64_t idle_ms; /* monotonic ms when it last emptied */
    struct hk_job **wait; /* a ring of capwait */
    size_t head, nwait, capwait;
};

/* Endpoint ownership (docs/engine.md, "Ownership"): the claimer runs the
 * ownership round every OWN_ROUND_MS, and before a claim when the last
 * round is OWN_ROUND_MIN_MS old, so that an endpoint that just got work
 * is taken at once. When the ingest says the work is for an endpoint with
 * no owner, the round comes once the last is OWN_ROUND_NOW_MS old, or ten
 * times as long as it took, whichever is longer: under a steady stream of
 * claims the endpoint's first deliveries would otherwise wait up to
 * OWN_ROUND_MIN_MS, and a round reads every endpoint, so on a large
 * install it keeps to a tenth of the claimer's time. Endpoint leases
 * last OWN_LEASE_MS and are renewed once a third of it has passed; a
 * round that succeeded at t leaves every owned endpoint's lease live
 * until at least t + 2/3 OWN_LEASE_MS, and the sender starts no
 * request after that less OWN_MARGIN_MS (the clocks of the host and of
 * PostgreSQL, the statement's own time) unless a later round succeeded:
 * another dispatcher may take the endpoint once its lease has run out. */
#define OWN_LEASE_MS 9000
#define OWN_ROUND_MS 1000
#define OWN_ROUND_MIN_MS 200
#define OWN_ROUND_NOW_MS 10
#define OWN_MARGIN_MS 1000

struct hk_dispatcher {
    const struct hk_config *cfg;
    char owner[37]; /* this dispatcher's id: its endpoints' owner */
    struct hk_lane *lanes[LANE_BUCKETS];
    size_t waiting; /* jobs waiting in lanes */
    struct hk_conn *work;
    struct hk_conn *listen;
    struct hk_vacuum *vacuum; /* fed by the recorder */
    struct hk_deliver *deliver;
    struct hk_job *live; /* see live_add */
    pthread_t thread;
    atomic_bool stop;
    /* Set when work may have come (an ingest, a NOTIFY, an endpoint taken):
     * the next turn claims. woken is set when a request ends or outcomes
     * are written: slots are free, and the next turn claims only if the
     * last claim may have left work behind (claim_more); otherwise no new
     * claim could find anything until `fresh` is set again, and each
     * request that ends would cost a claim that finds nothing. */
    atomic_bool fresh;
    atomic_bool woken;
    /* Set with fresh when the work came for an endpoint nobody owns: the
     * claimer runs the ownership round before that claim, as soon as
     * own_gap allows (see OWN_ROUND_NOW_MS). */
    atomic_bool own_now;
    bool listening;
    struct hk_bucket *buckets;
    size_t nbuckets, capbuckets;
    struct hk_lane **limited; /* the lanes adapting, see struct lane */
    size_t nlimited, caplimited;
    /* The recorder: a second thread with its own connection that writes
     * finished attempts while this one claims and sends, so that the two
     * statements of a turn run side by side. The sender hands it finished
     * jobs through `outcomes`, which also holds the batch being written. */
    struct hk_conn *rec_conn;
    pthread_t rec_thread;
    struct hk_jobq outcomes;
    /* The claimer: a third thread that runs claims (and the housekeeping
     * sweeps) on the work connection, so that the sender never waits for
     * the database and keeps every transfer moving meanwhile. It hands
     * claimed jobs to the sender through `claimed`; claim_mu guards the
     * rest of what the two exchange, below: the sender's request for a
     * claim and its inputs, and the claimer's answers about endpoints.
     * Taken before a queue's own lock, never after. */
    pthread_mutex_t claim_mu;
    pthread_t cl_thread;
    pthread_cond_t cl_cv;
    bool want_claim; /* set here when slots may be free or work is due */
    bool claim_more; /* the last claim may have left due work behind */
    bool claim_again; /* a claim was skipped: make it when woken */
    bool cl_stop;
    char *exclude;     /* endpoints with jobs held for their rate limit */
    /* endpoints whose requests in flight are held below max_concurrency,
     * and the deliveries this dispatcher may hold for each (a uuid[] and
     * an int[] literal, or NULL) */
    char *cap_ids, *caps;
    /* deliveries this dispatcher holds and has not finished, and their
     * endpoints, in the same order, as 16-byte ids (ids.h; see mine_reset);
     * mine_gen is live_gen when they were made, at mine_ms (monotonic) */
    struct hk_buf mine, mine_eps;
    bool mine_dirty; /* changed since the claimer last wrote them */
    unsigned live_gen, mine_gen;
    int64_t mine_ms;
    /* deliveries whose outcome the database refused (see record.c), and
     * their endpoints, stepped over by claims until parked_until
     * (monotonic ms); 16-byte ids */
    struct hk_buf parked_ids, parked_eps;
    int64_t parked_until;
    size_t busy_local; /* transfers in flight plus jobs held, published */
    size_t waiting_pub; /* jobs waiting in lanes, published */
    /* the lanes' check: endpoints with waiting jobs (two uuid[] literals,
     * handed to the claimer) and those found stopped (handed back) */
    char *check_tids, *check_eids;
    char *stopped;
    int64_t checked_ms; /* sender thread: when lanes were last sent */
    /* claimed jobs, from the claimer to the sender */
    struct hk_jobq claimed;
    /* earliest retry the recorder scheduled (wall ms), 0 for none, so
     * that short retry delays do not wait for the next poll (under
     * claim_mu too) */
    int64_t next_due_ms;
    /* Ownership. The claimer's: when its last round ran, how many
     * endpoints it owned, and the endpoints it is giving up (two uuid[]
     * literals, NULL for none) since yield_ms: claims leave them out,
     * and from a round later, as soon as this dispatcher holds nothing of
     * one (no job waiting, in flight or waiting to be recorded), its row
     * is deleted for another dispatcher to take. yielding is
     * the same ids for the sender (under claim_mu), which drops any job
     * of theirs still coming from an earlier claim. own_valid_ms: the
     * monotonic ms until which the leases are known live (see
     * OWN_LEASE_MS). held_pub: the holding lists last written (see
     * hk_store_hold), the endpoints' ids then the deliveries', when
     * held_pub_ok. */
    int64_t owned_at_ms;
    size_t nowned;
    char *yield_tids, *yield_eids;
    int64_t yield_ms;
    char *yielding;
    atomic_llong own_valid_ms;
    bool held_back; /* sender: a start waited for the leases (see
                     * hk_lanes_owning) */
    bool own_asked; /* claimer: a round as soon as OWN_ROUND_MIN_MS allows */
    bool own_soon;  /* claimer: ... or, for own_now, OWN_ROUND_NOW_MS */
    int64_t own_cost_ms; /* claimer: how long the last round took */
    struct hk_buf held_pub;
    bool held_pub_ok;
    int64_t held_ms;
    int64_t pruned_ms; /* vacuum thread: when old attempts were pruned */
};

struct hk_job_meta {
    int cycle_attempts; /* before this attempt */
    int rate_limit;
    int max_conc;
    int64_t failing_since_ms; /* the endpoint's at the claim, 0: none */
    int conc; /* the endpoint's slots after this attempt if it changed them */
    int stored_conc; /* the endpoint's current_concurrency at the claim */
    bool fifo; /* the endpoint's ordering at the claim */
    /* in the dispatcher's list of live jobs (see live_add) */
    struct hk_job *prev, *next;
    bool live;
};

/* ---- work.c ---- */

/* A job for claim c, with its meta; freed by hk_work_release. like, when
 * not NULL, is a job made from the same claim for the same endpoint,
 * whose URL, headers and opened secrets are copied. */
struct hk_job *hk_work_from_claim(struct hk_dispatcher *d,
                                  const struct hk_claim *c,
                                  const struct hk_job *like);
void hk_work_release(struct hk_job *job);
/* The live list (sender thread only). */
void hk_work_live_add(struct hk_dispatcher *d, struct hk_job *job);
void hk_work_live_remove(struct hk_dispatcher *d, struct hk_job *job);
/* Appends the jobs' deliveries to ids, and their endpoints to eps (NULL:
 * not wanted), as 16-byte ids (ids.h). */
void hk_work_ids_append(struct hk_job *const *jobs, size_t n,
                        struct hk_buf *ids, struct hk_buf *eps);
/* Makes d->mine the live, the claimed and the parked jobs' deliveries,
 * and d->mine_eps their endpoints (under claim_mu). */
void hk_work_mine_reset(struct hk_dispatcher *d);
/* Keeps a job's delivery out of claims for a while: the database refused
 * its outcome (under claim_mu). */
void hk_work_park(struct hk_dispatcher *d, const struct hk_job *job);

/* ---- limits.c (sender thread) ---- */

/* Starts a job now, or holds it until its endpoint's bucket has a token. */
void hk_limits_start(struct hk_dispatcher *d, struct hk_job *job);
/* Starts held jobs whose tokens have come; ms until the next may start,
 * or -1 when nothing is held. */
int64_t hk_limits_release_held(struct hk_dispatcher *d);
size_t hk_limits_held_count(const struct hk_dispatcher *d);

/* ---- lanes.c (sender thread) ---- */

/* Queues a claimed job in its endpoint's lane and starts what the
 * endpoint's slots allow. */
void hk_lanes_submit(struct hk_dispatcher *d, struct hk_job *job);
/* A request to eid ended (job, or NULL for a held job given back). */
void hk_lanes_done(struct hk_dispatcher *d, const char *eid,
                   struct hk_job *job);
struct hk_job *hk_lanes_pop(struct hk_lane *l);
/* Drops a job that will not be sent: its delivery, still pending and
 * due, is claimed again by the endpoint's owner (under claim_mu). */
void hk_lanes_drop(struct hk_dispatcher *d, struct hk_job *j);
/* Under claim_mu: hands the claimer the endpoints to check, drops the jobs
 * of those it found stopped, and sets the claim's filters. */
void hk_lanes_to_check(struct hk_dispatcher *d, int64_t now, size_t held);
void hk_lanes_drop_stopped(struct hk_dispatcher *d);
/* Whether this dispatcher's endpoint leases are known live now; when not,
 * notes that a start waited (held_back), so that the sender starts what
 * waited once they are (hk_lanes_fill_all). */
bool hk_lanes_owning(struct hk_dispatcher *d);
/* Starts what every lane's free slots allow (the leases are live again). */
void hk_lanes_fill_all(struct hk_dispatcher *d);
void hk_lanes_claim_filters(struct hk_dispatcher *d);

/* ---- claim.c, record.c, send.c: the threads ---- */

void *hk_claimer_loop(void *arg);
void hk_claimer_stop(struct hk_dispatcher *d);
void *hk_recorder_loop(void *arg);
void hk_recorder_stop(struct hk_dispatcher *d);
void *hk_sender_loop(void *arg);

/* ---- sweep.c ---- */

/* The sweeps, run every SWEEP_MS as the vacuum thread's chore (vacuum.h)
 * on its connection c; arg is the dispatcher. */
#define SWEEP_MS 5000
void hk_sweep_run(struct hk_conn *c, void *arg);

#endif
