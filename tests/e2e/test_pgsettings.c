/*
 * test_pgsettings.c - end-to-end tests of the warnings hookd logs at start
 * about PostgreSQL settings it needs otherwise (server/pgcheck.c): none on
 * the test cluster, which runs with PostgreSQL's stock settings; one line
 * per setting, naming it, its value and the value wanted, for settings a
 * database can set for itself (ALTER DATABASE ... SET, read by every
 * session of hookd's); and max_connections below what the process opens,
 * said before the connection that does not fit fails.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct hk_srv srv;

#define WARNING "\"msg\":\"PostgreSQL setting hookd needs otherwise\""

static int group_setup(void **state)
{
    (void)state;
    return hk_srv_start(&srv, NULL);
}

static int group_teardown(void **state)
{
    (void)state;
    return hk_srv_finish(&srv);
}

/* The whole file at path (caller frees); fails the test if unreadable. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t got;
    while ((got = fread(text + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (len + 1 == cap) {
            cap *= 2;
            text = realloc(text, cap);
            assert_non_null(text);
        }
    }
    fclose(f);
    text[len] = '\0';
    return text;
}

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = strstr(text, what); p != NULL;
         p = strstr(p + 1, what))
        n++;
    return n;
}

/* The warning's line for setting, with its value and the value wanted,
 * as the log writes it. */
static char *warning_for(const char *setting, const char *value,
                         const char *want)
{
    return hk_fmt("\"setting\":\"%s\",\"value\":\"%s\",\"wants\":\"%s\"",
                  setting, value, want);
}

static void test_stock_server_no_warning(void **state)
{
    (void)state;
    char *log = slurp(srv.log_path);
    if (count(log, WARNING) != 0 || count(log, "may not vacuum") != 0)
        hk_srv_print_log(&srv, 4000);
    assert_int_equal(count(log, WARNING), 0);
    assert_int_equal(count(log, "may not vacuum"), 0);
    free(log);
}

static void test_database_settings_warned(void **state)
{
    (void)state;
    char *sql = hk_fmt("ALTER DATABASE %s SET track_counts = off", srv.dbname);
    free(hk_sql(&srv, sql));
    free(sql);
    sql = hk_fmt("ALTER DATABASE %s SET default_transaction_isolation = "
                 "'repeatable read'",
                 srv.dbname);
    free(hk_sql(&srv, sql));
    free(sql);
    assert_int_equal(hk_srv_restart(&srv), 0);

    char *log = slurp(srv.log_path);
    char *tc = warning_for("track_counts", "off", "on");
    char *iso = warning_for("default_transaction_isolation",
                            "repeatable read", "read committed");
    if (count(log, tc) != 1 || count(log, iso) != 1 ||
        count(log, WARNING) != 2)
        hk_srv_print_log(&srv, 4000);
    assert_int_equal(count(log, tc), 1);
    assert_int_equal(count(log, iso), 1);
    assert_int_equal(count(log, WARNING), 2);
    free(tc);
    free(iso);
    free(log);

    /* set back, the warnings are gone at the next start */
    sql = hk_fmt("ALTER DATABASE %s RESET ALL", srv.dbname);
    free(hk_sql(&srv, sql));
    free(sql);
    assert_int_equal(hk_srv_restart(&srv), 0);
    log = slurp(srv.log_path);
    assert_int_equal(count(log, WARNING), 0);
    free(log);
}

/* An API pool larger than the server allows: the warning names what this
 * process needs (its pool, its group writer, its notifier, and the
 * server's reserved connections), then the pool fails to open. */
static void test_max_connections_warned(void **state)
{
    (void)state;
    long long max = hk_sql_int(&srv, "SELECT setting::int FROM pg_settings "
                                     "WHERE name = 'max_connections'");
    long long reserved =
        hk_sql_int(&srv, "SELECT setting::int FROM pg_settings "
                         "WHERE name = 'superuser_reserved_connections'");
    long long pool = max + 10;
    char *env_pool = hk_fmt("HOOKD_DB_POOL=%lld", pool);
    const char *const env[] = {env_pool, NULL};
    const char *const args[] = {"api", NULL};
    char *out = NULL;
    int rc = hk_srv_exec(&srv, args, env, &out);
    char *value = hk_fmt("%lld", max);
    char *want = hk_fmt("at least %lld", pool + 2 + reserved);
    char *line = warning_for("max_connections", value, want);
    if (rc == 0 || count(out, line) != 1)
        fprintf(stderr, "hookd api exited with %d:\n%s\n", rc, out);
    assert_int_not_equal(rc, 0);
    assert_int_equal(count(out, line), 1);
    free(line);
    free(want);
    free(value);
    free(out);
    free(env_pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stock_server_no_warning),
        cmocka_unit_test(test_database_settings_warned),
        cmocka_unit_test(test_max_connections_warned),
    };
    int rc = cmocka_run_group_tests_name("pgsettings", tests, group_setup,
                                         group_teardown);
    return hk_exit_code(rc);
}
