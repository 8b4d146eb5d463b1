/*
 * test_vacuum.c - end-to-end tests of the dispatcher's own upkeep of its
 * hot tables (server/vacuum.c), on the test cluster's stock autovacuum
 * settings, where autovacuum looks once a minute: hookd analyzes
 * hookd.queue and hookd.endpoint_owners as soon as it records attempts, and
 * vacuums them once its records have left 2,000 dead rows in each.
 * PostgreSQL's own counters say so: pg_stat_user_tables counts VACUUM and
 * ANALYZE statements (vacuum_count, analyze_count) apart from autovacuum's.
 * The same thread runs the dispatcher's sweeps (server/engine/sweep.c),
 * and claims never wait for one.
 */
#include "engine_util.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct hk_srv srv;
static struct hk_rcv *rcv;

static int group_setup(void **state)
{
    (void)state;
    static const char *const types[] = {"v.tick", NULL};
    return hk_group_start(&srv, NULL, &rcv, types);
}

static int group_teardown(void **state)
{
    (void)state;
    return hk_group_finish(&srv, &rcv);
}

/* The counter column (vacuum_count or analyze_count) of hookd.table. */
static long long counter(const char *column, const char *table)
{
    char *sql = hk_fmt("SELECT %s FROM pg_stat_user_tables"
                       " WHERE schemaname = 'hookd' AND relname = '%s'",
                       column, table);
    long long n = hk_sql_int(&srv, sql);
    free(sql);
    return n;
}

/* Waits up to timeout_ms for counter(column, table) to pass before. */
static bool counter_passes(const char *column, const char *table,
                           long long before, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 200) {
        if (counter(column, table) > before)
            return true;
        hk_sleep_ms(200);
    }
    return false;
}

static void test_analyzes_once_it_records(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN];
    long long queue0 = counter("analyze_count", "queue");
    long long owners0 = counter("analyze_count", "endpoint_owners");
    char *key = hk_eng_tenant(&srv, "analyze", tid);
    hk_eng_rcv_endpoint(&srv, key, tid, rcv, "/analyze",
                        "\"event_types\":[\"v.tick\"]", eid);
    hk_eng_event(&srv, key, tid, "v.tick", "{}", NULL);
    assert_true(hk_rcv_wait_for_path(rcv, "/analyze", 1, 20000));
    assert_true(counter_passes("analyze_count", "queue", queue0, 15000));
    assert_true(
        counter_passes("analyze_count", "endpoint_owners", owners0, 15000));
    free(key);
}

#define CHURN_ENDPOINTS 20
#define CHURN_EVENTS 110 /* 2,200 deliveries: past the 2,000 that vacuum */

static void test_vacuums_after_churn(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN];
    long long queue0 = counter("vacuum_count", "queue");
    long long owners0 = counter("vacuum_count", "endpoint_owners");
    char *key = hk_eng_tenant(&srv, "churn", tid);
    for (int i = 0; i < CHURN_ENDPOINTS; i++) {
        hk_eng_rcv_endpoint(&srv, key, tid, rcv, "/churn",
                            "\"event_types\":[\"v.tick\"]", eid);
    }
    for (int i = 0; i < CHURN_EVENTS; i++)
        hk_eng_event(&srv, key, tid, "v.tick", "{}", NULL);
    assert_true(hk_rcv_wait_for_path(rcv, "/churn",
                                     CHURN_ENDPOINTS * CHURN_EVENTS, 120000));
    assert_true(counter_passes("vacuum_count", "queue", queue0, 15000));
    assert_true(
        counter_passes("vacuum_count", "endpoint_owners", owners0, 15000));
    free(key);
}

/* Waits up to timeout_ms for a sweep of hookd's to wait for a lock on
 * hookd.portal_sessions, as c sees it (outside a transaction: inside one,
 * pg_stat_activity keeps what it saw first). */
static bool sweep_waits(PGconn *c, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 100) {
        PGresult *r = PQexec(
            c, "SELECT count(*) FROM pg_stat_activity"
               " WHERE wait_event_type = 'Lock'"
               " AND query LIKE 'DELETE FROM hookd.portal_sessions%'");
        bool found = PQresultStatus(r) == PGRES_TUPLES_OK &&
                     strcmp(PQgetvalue(r, 0, 0), "0") != 0;
        PQclear(r);
        if (found)
            return true;
        hk_sleep_ms(100);
    }
    return false;
}

/* A sweep that takes long (here one held up by a lock) holds up no claim:
 * an event posted meanwhile is delivered. */
static void test_sweep_holds_up_no_claim(void **state)
{
    (void)state;
    char tid[HK_ID_LEN], eid[HK_ID_LEN];
    char *key = hk_eng_tenant(&srv, "sweeping", tid);
    hk_eng_rcv_endpoint(&srv, key, tid, rcv, "/sweeping",
                        "\"event_types\":[\"v.tick\"]", eid);
    PGconn *c = PQconnectdb(srv.db_url), *watch = PQconnectdb(srv.db_url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    assert_int_equal(PQstatus(watch), CONNECTION_OK);
    PGresult *r = PQexec(c, "BEGIN; LOCK TABLE hookd.portal_sessions"
                            " IN ACCESS EXCLUSIVE MODE");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    /* the sweeps come every 5 s */
    bool waited = sweep_waits(watch, 12000), delivered = false, still = false;
    if (waited) {
        hk_eng_event(&srv, key, tid, "v.tick", "{}", NULL);
        delivered = hk_rcv_wait_for_path(rcv, "/sweeping", 1, 10000);
        still = sweep_waits(watch, 0);
    }
    /* the lock goes before any assertion, which would leave it held */
    r = PQexec(c, "ROLLBACK");
    PQclear(r);
    PQfinish(c);
    PQfinish(watch);
    assert_true(waited);
    assert_true(delivered);
    assert_true(still);
    free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_analyzes_once_it_records),
        cmocka_unit_test(test_vacuums_after_churn),
        cmocka_unit_test(test_sweep_holds_up_no_claim),
    };
    int rc = cmocka_run_group_tests_name("vacuum", tests, group_setup,
                                         group_teardown);
    return hk_exit_code(rc);
}
