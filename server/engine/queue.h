/*
 * queue.h - how the engine's threads hand each other jobs: a list under
 * its own mutex and condition variable. The claimer hands claimed jobs to
 * the sender through one; the sender hands finished jobs to the recorder
 * through another, which also keeps the batch the recorder is writing
 * (taken, not yet settled), so that a claim can count those answered
 * requests' slots as free until their record commits.
 */
#ifndef HK_ENGINE_QUEUE_H
#define HK_ENGINE_QUEUE_H

#include "common.h"
#include "deliver.h"

#include <pthread.h>
#include <time.h>

struct hk_jobq {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct hk_job **v; /* waiting, oldest first */
    size_t n, cap;
    /* the batch being handled, until settled, and its deliveries' ids:
     * and endpoints': the consumer may free its jobs before it settles */
    struct hk_job **taken;
    size_t ntaken;
    struct hk_buf taken_ids, taken_eps;
    bool failing; /* the last batch could not be handled (database away) */
    bool closed;
};

void hk_jobq_init(struct hk_jobq *q);
/* Frees the queue and, through release, every job still waiting in it
 * (release may be NULL to keep them). No batch may be taken. */
void hk_jobq_cleanup(struct hk_jobq *q, void (*release)(struct hk_job *));

/* Appends jobs[0..n) and wakes a waiting consumer. */
void hk_jobq_push(struct hk_jobq *q, struct hk_job *const *jobs, size_t n);

/* Takes every waiting job at once without waiting; *n gets how many.
 * The array is the caller's to free (NULL when none). */
struct hk_job **hk_jobq_take_now(struct hk_jobq *q, size_t *n);

/* Waits until jobs wait (or the queue is closed), then up to gather_ms
 * more for up to batch of them unless the last batch failed, and takes
 * them all as the batch being handled. Returns NULL with *n 0 once closed
 * and empty. The array stays the queue's until hk_jobq_settle. */
struct hk_job **hk_jobq_take_batch(struct hk_jobq *q, size_t batch,
                                   long gather_ms, size_t *n);
/* The batch is handled but for its first kept jobs, which go back in
 * front of the queue (and mark it failing when kept > 0). */
void hk_jobq_settle(struct hk_jobq *q, size_t kept);
/* After a failed batch: waits up to ms, or until closed; false when the
 * queue is closed (then it does not wait). */
bool hk_jobq_pause(struct hk_jobq *q, long ms);
void hk_jobq_close(struct hk_jobq *q);

/* Jobs waiting plus the batch being handled. */
size_t hk_jobq_count(struct hk_jobq *q);
bool hk_jobq_failing(struct hk_jobq *q);
/* Appends the delivery ids of the jobs waiting and being handled to ids,
 * and their endpoints' to eps unless NULL (16-byte ids, ids.h); returns
 * how many. */
size_t hk_jobq_ids(struct hk_jobq *q, struct hk_buf *ids, struct hk_buf *eps);

/* CLOCK_REALTIME ms from now, for pthread_cond_timedwait. */
struct timespec hk_jobq_deadline_in(long ms);

#endif
