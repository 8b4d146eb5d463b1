/*
 * test_queue.c - unit tests of engine/queue.c, the hand-off between the
 * engine's threads: jobs come out in the order they went in; a batch
 * taken stays counted, and its deliveries listed, until it is settled,
 * even after its jobs are freed; jobs kept after a failed batch go back
 * in front of newer ones and mark the queue failing until a batch
 * succeeds; a consumer waiting on an empty queue wakes when jobs come
 * and stops once it is closed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/queue.h"

#include <uuid/uuid.h>

static struct hk_job *job(int i)
{
    struct hk_job *j = hk_job_new();
    snprintf(j->delivery_id, sizeof(j->delivery_id),
             "00000000-0000-7000-8000-%012d", i);
    assert_true(hk_uuid_bin(j->delivery_id, j->delivery_bin));
    return j;
}

/* The queue's list of deliveries, as "id,id,..." text. */
static char *ids_of(struct hk_jobq *q)
{
    struct hk_buf b, text;
    hk_buf_init(&b);
    hk_buf_init(&text);
    size_t n = hk_jobq_ids(q, &b, NULL);
    assert_int_equal(b.len, n * HK_UUID_BYTES);
    for (size_t at = 0; at < b.len; at += HK_UUID_BYTES) {
        char id[HK_UUID_STRLEN];
        uuid_unparse_lower((const unsigned char *)b.data + at, id);
        hk_buf_printf(&text, "%s%s", at > 0 ? "," : "", id);
    }
    hk_buf_puts(&text, "");
    hk_buf_cleanup(&b);
    return hk_buf_steal(&text);
}

static void test_fifo_and_take_now(void **state)
{
    (void)state;
    struct hk_jobq q;
    hk_jobq_init(&q);
    size_t n = 99;
    assert_null(hk_jobq_take_now(&q, &n));
    assert_int_equal(n, 0);
    struct hk_job *a[3] = {job(1), job(2), job(3)};
    hk_jobq_push(&q, a, 2);
    hk_jobq_push(&q, a + 2, 1);
    assert_int_equal(hk_jobq_count(&q), 3);
    struct hk_job **got = hk_jobq_take_now(&q, &n);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++)
        assert_ptr_equal(got[i], a[i]);
    assert_int_equal(hk_jobq_count(&q), 0);
    for (int i = 0; i < 3; i++)
        hk_job_free(got[i]);
    free(got);
    hk_jobq_cleanup(&q, hk_job_free);
}

static void test_batch_counted_until_settled(void **state)
{
    (void)state;
    struct hk_jobq q;
    hk_jobq_init(&q);
    struct hk_job *a[2] = {job(1), job(2)};
    hk_jobq_push(&q, a, 2);
    size_t n;
    struct hk_job **batch = hk_jobq_take_batch(&q, 200, 0, &n);
    assert_int_equal(n, 2);
    /* the batch is handled: its jobs are freed before it is settled */
    hk_job_free(batch[0]);
    hk_job_free(batch[1]);
    struct hk_job *c = job(3);
    hk_jobq_push(&q, &c, 1);
    assert_int_equal(hk_jobq_count(&q), 3);
    char *ids = ids_of(&q);
    assert_string_equal(ids, "00000000-0000-7000-8000-000000000001,"
                             "00000000-0000-7000-8000-000000000002,"
                             "00000000-0000-7000-8000-000000000003");
    free(ids);
    assert_false(hk_jobq_failing(&q));
    hk_jobq_settle(&q, 0);
    assert_int_equal(hk_jobq_count(&q), 1);
    ids = ids_of(&q);
    assert_string_equal(ids, "00000000-0000-7000-8000-000000000003");
    free(ids);
    hk_jobq_cleanup(&q, hk_job_free);
}

static void test_kept_go_back_in_front(void **state)
{
    (void)state;
    struct hk_jobq q;
    hk_jobq_init(&q);
    struct hk_job *a[3] = {job(1), job(2), job(3)};
    hk_jobq_push(&q, a, 3);
    size_t n;
    struct hk_job **batch = hk_jobq_take_batch(&q, 200, 0, &n);
    assert_int_equal(n, 3);
    /* the first was written; the other two could not be, and are moved
     * to the front of the batch, as the recorder does */
    hk_job_free(batch[0]);
    batch[0] = batch[1];
    batch[1] = batch[2];
    struct hk_job *d = job(4);
    hk_jobq_push(&q, &d, 1);
    hk_jobq_settle(&q, 2);
    assert_true(hk_jobq_failing(&q));
    struct hk_job **got = hk_jobq_take_now(&q, &n);
    assert_int_equal(n, 3);
    assert_ptr_equal(got[0], a[1]);
    assert_ptr_equal(got[1], a[2]);
    assert_ptr_equal(got[2], d);
    hk_jobq_push(&q, got, 3);
    free(got);
    /* a batch that succeeds clears the failure */
    batch = hk_jobq_take_batch(&q, 200, 0, &n);
    for (size_t i = 0; i < n; i++)
        hk_job_free(batch[i]);
    hk_jobq_settle(&q, 0);
    assert_false(hk_jobq_failing(&q));
    hk_jobq_cleanup(&q, hk_job_free);
}

struct consumer {
    struct hk_jobq *q;
    size_t taken;
};

static void *consume(void *arg)
{
    struct consumer *c = arg;
    size_t n;
    struct hk_job **batch;
    while ((batch = hk_jobq_take_batch(c->q, 200, 5, &n)), n > 0) {
        for (size_t i = 0; i < n; i++)
            hk_job_free(batch[i]);
        c->taken += n;
        hk_jobq_settle(c->q, 0);
    }
    return NULL;
}

static void test_waiting_consumer_wakes_and_stops(void **state)
{
    (void)state;
    struct hk_jobq q;
    hk_jobq_init(&q);
    struct consumer c = {&q, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, consume, &c), 0);
    for (int i = 0; i < 50; i++) {
        struct hk_job *j = job(i);
        hk_jobq_push(&q, &j, 1);
    }
    /* closing lets it take what is left, then stop */
    hk_jobq_close(&q);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(c.taken, 50);
    assert_false(hk_jobq_pause(&q, 1000)); /* closed: no wait */
    hk_jobq_cleanup(&q, hk_job_free);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_and_take_now),
        cmocka_unit_test(test_batch_counted_until_settled),
        cmocka_unit_test(test_kept_go_back_in_front),
        cmocka_unit_test(test_waiting_consumer_wakes_and_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
