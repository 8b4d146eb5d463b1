/*
 * test_config.c - unit tests of config.c through hk_config_load_from and a
 * table-driven fake environment: the defaults, every accepted form of each
 * variable, and for each bad value an error that starts with the name of
 * the variable at fault. Also checks the --help table lists them all, and
 * the start-up checks against the machine (folders, the listen host) and
 * of the database URL's syntax: each failure one line naming its variable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "db.h"

#include <sys/stat.h>
#include <unistd.h>

#define DB "postgresql:///hookd_test"
#define ADMIN "admin-key-0123456789"
/* base64 of the 32 bytes 0x00..0x1f */
#define SECRET "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

struct env {
    const char *pairs[40]; /* name, value, ..., NULL */
};

static const char *fake_getenv(const char *name, void *ctx)
{
    const struct env *e = ctx;
    for (size_t i = 0; e->pairs[i]; i += 2)
        if (strcmp(e->pairs[i], name) == 0)
            return e->pairs[i + 1];
    return NULL;
}

/* The minimal environment of a server, plus up to two overrides (a
 * later entry with the same name is never reached, so overrides go
 * first). */
static void base_env(struct env *e, const char *k1, const char *v1,
                     const char *k2, const char *v2)
{
    size_t i = 0;
    memset(e, 0, sizeof(*e));
    if (k1) {
        e->pairs[i++] = k1;
        e->pairs[i++] = v1;
    }
    if (k2) {
        e->pairs[i++] = k2;
        e->pairs[i++] = v2;
    }
    e->pairs[i++] = "HOOKD_DATABASE_URL";
    e->pairs[i++] = DB;
    e->pairs[i++] = "HOOKD_ADMIN_KEY";
    e->pairs[i++] = ADMIN;
    e->pairs[i++] = "HOOKD_SECRET_KEY";
    e->pairs[i++] = SECRET;
}

static void test_defaults(void **state)
{
    (void)state;
    struct env e;
    base_env(&e, NULL, NULL, NULL, NULL);
    struct hk_config cfg = {0};
    char err[256] = "untouched";
    assert_int_equal(
        hk_config_load_from(&cfg, true, fake_getenv, &e, err, sizeof(err)),
        HK_OK);
    assert_string_equal(cfg.database_url, DB);
    assert_string_equal(cfg.listen_host, "127.0.0.1");
    assert_int_equal(cfg.listen_port, 8080);
    assert_string_equal(cfg.admin_key, ADMIN);
    assert_true(cfg.have_secret_key);
    for (int i = 0; i < HK_AES_KEY_LEN; i++)
        assert_int_equal(cfg.secret_key[i], i);
    assert_string_equal(cfg.web_dir, "web");
    assert_int_equal(cfg.retry.n, 7);
    assert_int_equal(cfg.retry.delay_ms[0], 5000);
    assert_int_equal(cfg.retry.delay_ms[6], 36000000);
    assert_int_equal(cfg.request_timeout_ms, 15000);
    assert_int_equal(cfg.max_body, 262144);
    assert_int_equal(cfg.client_timeout_ms, 30000);
    assert_false(cfg.allow_private_targets);
    assert_string_equal(cfg.public_url, "http://127.0.0.1:8080");
    assert_int_equal(cfg.disable_after_ms, 5LL * 24 * 3600 * 1000);
    assert_int_equal(cfg.retention_days, 30);
    assert_int_equal(cfg.log_level, HK_LOG_INFO);
    assert_int_equal(cfg.http_threads, 16);
    assert_int_equal(cfg.db_pool_size, 18);
    assert_int_equal(cfg.max_in_flight, 256);
    assert_int_equal(cfg.send_threads, 2);
    assert_null(cfg.ca_file); /* the system store alone */
    assert_string_equal(cfg.portal_name, "hookd");
    assert_string_equal(cfg.portal_accent, "#4f46e5");
    assert_string_equal(cfg.portal_frame_ancestors, "'none'");
    hk_config_cleanup(&cfg);
    assert_null(cfg.database_url);
    hk_config_cleanup(&cfg); /* twice is harmless */
}

static void test_overrides(void **state)
{
    (void)state;
    struct env e;
    memset(&e, 0, sizeof(e));
    const char *pairs[] = {
        "HOOKD_DATABASE_URL",
        "host=/tmp dbname=x",
        "HOOKD_LISTEN",
        "[::1]:9000",
        "HOOKD_WEB_DIR",
        "/srv/web",
        "HOOKD_RETRY_SCHEDULE",
        "1s,2s",
        "HOOKD_REQUEST_TIMEOUT",
        "500ms",
        "HOOKD_MAX_BODY",
        "1MiB",
        "HOOKD_ALLOW_PRIVATE_TARGETS",
        "yes",
        "HOOKD_PUBLIC_URL",
        "https://hooks.example.com/",
        "HOOKD_DISABLE_AFTER",
        "2h",
        "HOOKD_RETENTION_DAYS",
        "7",
        "HOOKD_LOG_LEVEL",
        "DEBUG",
        "HOOKD_HTTP_THREADS",
        "8",
        "HOOKD_MAX_IN_FLIGHT",
        "1000",
        "HOOKD_SEND_THREADS",
        "4",
        "HOOKD_CA_FILE",
        "/etc/hookd/internal-ca.pem",
        NULL,
    };
    memcpy(e.pairs, pairs, sizeof(pairs));
    struct hk_config cfg = {0};
    char err[256];
    /* migrate needs no keys. */
    assert_int_equal(
        hk_config_load_from(&cfg, false, fake_getenv, &e, err, sizeof(err)),
        HK_OK);
    assert_string_equal(cfg.database_url, "host=/tmp dbname=x");
    assert_string_equal(cfg.listen_host, "::1");
    assert_int_equal(cfg.listen_port, 9000);
    assert_null(cfg.admin_key);
    assert_false(cfg.have_secret_key);
    assert_string_equal(cfg.web_dir, "/srv/web");
    assert_int_equal(cfg.retry.n, 2);
    assert_int_equal(cfg.request_timeout_ms, 500);
    assert_int_equal(cfg.max_body, 1048576);
    assert_true(cfg.allow_private_targets);
    assert_string_equal(cfg.public_url, "https://hooks.example.com");
    assert_int_equal(cfg.disable_after_ms, 7200000);
    assert_int_equal(cfg.retention_days, 7);
    assert_int_equal(cfg.log_level, HK_LOG_DEBUG);
    assert_int_equal(cfg.http_threads, 8);
    assert_int_equal(cfg.db_pool_size, 10); /* follows the threads */
    assert_int_equal(cfg.max_in_flight, 1000);
    assert_int_equal(cfg.send_threads, 4);
    assert_string_equal(cfg.ca_file, "/etc/hookd/internal-ca.pem");
    hk_config_cleanup(&cfg);
}

static void test_accepted_forms(void **state)
{
    (void)state;
    struct {
        const char *name;
        const char *value;
    } rows[] = {
        {"HOOKD_MAX_BODY", "1024"},
        {"HOOKD_MAX_BODY", "256k"},
        {"HOOKD_MAX_BODY", "256KiB"},
        {"HOOKD_MAX_BODY", "2M"},
        {"HOOKD_ALLOW_PRIVATE_TARGETS", "1"},
        {"HOOKD_ALLOW_PRIVATE_TARGETS", "0"},
        {"HOOKD_ALLOW_PRIVATE_TARGETS", "TRUE"},
        {"HOOKD_ALLOW_PRIVATE_TARGETS", "false"},
        {"HOOKD_ALLOW_PRIVATE_TARGETS", "no"},
        {"HOOKD_REQUEST_TIMEOUT", "30"},
        {"HOOKD_REQUEST_TIMEOUT", "2m"},
        {"HOOKD_LISTEN", "0.0.0.0:80"},
        {"HOOKD_LISTEN", "localhost:8443"},
        {"HOOKD_LISTEN", ":8081"},
        {"HOOKD_LOG_LEVEL", "warn"},
        {"HOOKD_LOG_LEVEL", "error"},
        {"HOOKD_DB_POOL", "3"},
        {"HOOKD_WEB_DIR", ""}, /* empty means unset */
        {"HOOKD_PORTAL_NAME", "Acme Webhooks"},
        {"HOOKD_PORTAL_ACCENT", "#A1b2C3"},
        {"HOOKD_PORTAL_FRAME_ANCESTORS", "'self'"},
        {"HOOKD_PORTAL_FRAME_ANCESTORS", "https://app.example.com"},
        {"HOOKD_PORTAL_FRAME_ANCESTORS",
         "'self' https://*.example.com http://localhost:3000"},
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(rows); i++) {
        struct env e;
        base_env(&e, rows[i].name, rows[i].value, NULL, NULL);
        struct hk_config cfg = {0};
        char err[256];
        if (hk_config_load_from(&cfg, true, fake_getenv, &e, err,
                                sizeof(err)) != HK_OK)
            fail_msg("%s=%s refused: %s", rows[i].name, rows[i].value, err);
        hk_config_cleanup(&cfg);
    }

    struct env e;
    struct hk_config cfg = {0};
    char err[256];
    base_env(&e, "HOOKD_MAX_BODY", "256k", "HOOKD_ALLOW_PRIVATE_TARGETS", "1");
    assert_int_equal(
        hk_config_load_from(&cfg, true, fake_getenv, &e, err, sizeof(err)),
        HK_OK);
    assert_int_equal(cfg.max_body, 262144);
    assert_true(cfg.allow_private_targets);
    hk_config_cleanup(&cfg);

    base_env(&e, "HOOKD_LISTEN", ":8081", "HOOKD_REQUEST_TIMEOUT", "30");
    assert_int_equal(
        hk_config_load_from(&cfg, true, fake_getenv, &e, err, sizeof(err)),
        HK_OK);
    assert_string_equal(cfg.listen_host, "127.0.0.1");
    assert_int_equal(cfg.listen_port, 8081);
    assert_int_equal(cfg.request_timeout_ms, 30000);
    hk_config_cleanup(&cfg);
}

static void test_bad_values_name_their_variable(void **state)
{
    (void)state;
    struct {
        const char *name;
        const char *value;
    } rows[] = {
        {"HOOKD_LISTEN", "8080"},
        {"HOOKD_LISTEN", "127.0.0.1:"},
        {"HOOKD_LISTEN", "127.0.0.1:0"},
        {"HOOKD_LISTEN", "127.0.0.1:70000"},
        {"HOOKD_LISTEN", "127.0.0.1:80x"},
        {"HOOKD_LISTEN", "::1:8080"},
        {"HOOKD_LISTEN", "[::1]8080"},
        {"HOOKD_ADMIN_KEY", "short"},
        {"HOOKD_ADMIN_KEY", "fifteen-chars!!"},
        {"HOOKD_ADMIN_KEY", "has a space in the key"},
        {"HOOKD_SECRET_KEY", "not base64!"},
        {"HOOKD_SECRET_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg=="},
        {"HOOKD_SECRET_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g"},
        {"HOOKD_RETRY_SCHEDULE", "5s,,5m"},
        {"HOOKD_RETRY_SCHEDULE", "soon"},
        {"HOOKD_REQUEST_TIMEOUT", "fast"},
        {"HOOKD_REQUEST_TIMEOUT", "0s"},
        {"HOOKD_REQUEST_TIMEOUT", "2h"},
        {"HOOKD_MAX_BODY", "0"},
        {"HOOKD_MAX_BODY", "-1"},
        {"HOOKD_MAX_BODY", "1G"},
        {"HOOKD_MAX_BODY", "100MiB"},
        {"HOOKD_MAX_BODY", "12 k"},
        {"HOOKD_MAX_BODY", "99999999999999999999999"},
        {"HOOKD_CLIENT_TIMEOUT", "500ms"},
        {"HOOKD_CLIENT_TIMEOUT", "slow"},
        {"HOOKD_ALLOW_PRIVATE_TARGETS", "maybe"},
        {"HOOKD_ALLOW_PRIVATE_TARGETS", "2"},
        {"HOOKD_PUBLIC_URL", "hooks.example.com"},
        {"HOOKD_PUBLIC_URL", "ftp://hooks.example.com"},
        {"HOOKD_DISABLE_AFTER", "forever"},
        {"HOOKD_DISABLE_AFTER", "10ms"},
        {"HOOKD_RETENTION_DAYS", "0"},
        {"HOOKD_RETENTION_DAYS", "thirty"},
        {"HOOKD_RETENTION_DAYS", "30d"},
        {"HOOKD_LOG_LEVEL", "loud"},
        {"HOOKD_HTTP_THREADS", "0"},
        {"HOOKD_HTTP_THREADS", "1000"},
        {"HOOKD_HTTP_THREADS", " 4"},
        {"HOOKD_DB_POOL", "0"},
        {"HOOKD_DB_POOL", "x"},
        {"HOOKD_MAX_IN_FLIGHT", "0"},
        {"HOOKD_MAX_IN_FLIGHT", "99999999999"},
        {"HOOKD_SEND_THREADS", "0"},
        {"HOOKD_SEND_THREADS", "65"},
        {"HOOKD_PORTAL_ACCENT", "4f46e5"},
        {"HOOKD_PORTAL_ACCENT", "#4f46e"},
        {"HOOKD_PORTAL_ACCENT", "#4f46eg"},
        {"HOOKD_PORTAL_ACCENT", "red"},
        {"HOOKD_PORTAL_NAME", "two\nlines"},
        {"HOOKD_PORTAL_FRAME_ANCESTORS", "none"},
        {"HOOKD_PORTAL_FRAME_ANCESTORS", "'none' https://a.example.com"},
        {"HOOKD_PORTAL_FRAME_ANCESTORS", "https://a.example.com; script-src *"},
        {"HOOKD_PORTAL_FRAME_ANCESTORS", "https://a.example.com,https://b"},
        {"HOOKD_PORTAL_FRAME_ANCESTORS", "app.example.com"},
        {"HOOKD_PORTAL_FRAME_ANCESTORS", "https://a.example.com  https://b"},
        {"HOOKD_PORTAL_FRAME_ANCESTORS", "https://"},
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(rows); i++) {
        struct env e;
        base_env(&e, rows[i].name, rows[i].value, NULL, NULL);
        struct hk_config cfg = {0};
        char err[256] = "";
        if (hk_config_load_from(&cfg, true, fake_getenv, &e, err,
                                sizeof(err)) != HK_INVALID)
            fail_msg("%s=%s accepted", rows[i].name, rows[i].value);
        size_t n = strlen(rows[i].name);
        if (strncmp(err, rows[i].name, n) != 0 || strncmp(err + n, ": ", 2))
            fail_msg("%s=%s: error \"%s\" does not name it", rows[i].name,
                     rows[i].value, err);
        assert_true(strlen(err) > n + 2);
        /* Nothing is left allocated after a failure. */
        assert_null(cfg.database_url);
        assert_null(cfg.listen_host);
        assert_null(cfg.admin_key);
    }
}

static void test_required(void **state)
{
    (void)state;
    struct env e;
    struct hk_config cfg = {0};
    char err[256];

    memset(&e, 0, sizeof(e));
    assert_int_equal(
        hk_config_load_from(&cfg, false, fake_getenv, &e, err, sizeof(err)),
        HK_INVALID);
    assert_string_equal(err, "HOOKD_DATABASE_URL: required");

    /* Empty counts as unset. */
    e.pairs[0] = "HOOKD_DATABASE_URL";
    e.pairs[1] = "";
    assert_int_equal(
        hk_config_load_from(&cfg, false, fake_getenv, &e, err, sizeof(err)),
        HK_INVALID);
    assert_string_equal(err, "HOOKD_DATABASE_URL: required");

    /* The database alone is enough for migrate, not for serving. */
    e.pairs[1] = DB;
    assert_int_equal(
        hk_config_load_from(&cfg, false, fake_getenv, &e, err, sizeof(err)),
        HK_OK);
    hk_config_cleanup(&cfg);
    assert_int_equal(
        hk_config_load_from(&cfg, true, fake_getenv, &e, err, sizeof(err)),
        HK_INVALID);
    assert_string_equal(err, "HOOKD_ADMIN_KEY: required");

    e.pairs[2] = "HOOKD_ADMIN_KEY";
    e.pairs[3] = ADMIN;
    assert_int_equal(
        hk_config_load_from(&cfg, true, fake_getenv, &e, err, sizeof(err)),
        HK_INVALID);
    assert_string_equal(err, "HOOKD_SECRET_KEY: required");

    e.pairs[4] = "HOOKD_SECRET_KEY";
    e.pairs[5] = SECRET;
    assert_int_equal(
        hk_config_load_from(&cfg, true, fake_getenv, &e, err, sizeof(err)),
        HK_OK);
    hk_config_cleanup(&cfg);

    /* A tiny error buffer is still terminated. */
    memset(&e, 0, sizeof(e));
    char small[8];
    assert_int_equal(
        hk_config_load_from(&cfg, false, fake_getenv, &e, small, sizeof(small)),
        HK_INVALID);
    assert_string_equal(small, "HOOKD_D");
}

static void test_docs(void **state)
{
    (void)state;
    static const char *const names[] = {
        "HOOKD_DATABASE_URL",
        "HOOKD_LISTEN",
        "HOOKD_ADMIN_KEY",
        "HOOKD_SECRET_KEY",
        "HOOKD_WEB_DIR",
        "HOOKD_RETRY_SCHEDULE",
        "HOOKD_REQUEST_TIMEOUT",
        "HOOKD_MAX_BODY",
        "HOOKD_CLIENT_TIMEOUT",
        "HOOKD_ALLOW_PRIVATE_TARGETS",
        "HOOKD_PUBLIC_URL",
        "HOOKD_DISABLE_AFTER",
        "HOOKD_RETENTION_DAYS",
        "HOOKD_LOG_LEVEL",
        "HOOKD_HTTP_THREADS",
        "HOOKD_DB_POOL",
        "HOOKD_MAX_IN_FLIGHT",
        "HOOKD_SEND_THREADS",
        "HOOKD_CA_FILE",
        "HOOKD_PORTAL_NAME",
        "HOOKD_PORTAL_ACCENT",
        "HOOKD_PORTAL_FRAME_ANCESTORS",
    };
    assert_int_equal(hk_config_docs_len, HK_ARRAY_LEN(names));
    for (size_t i = 0; i < HK_ARRAY_LEN(names); i++) {
        bool found = false;
        for (size_t k = 0; k < hk_config_docs_len; k++)
            if (strcmp(hk_config_docs[k].name, names[i]) == 0) {
                found = true;
                assert_non_null(hk_config_docs[k].help);
                assert_true(strlen(hk_config_docs[k].help) > 10);
            }
        if (!found)
            fail_msg("%s missing from --help", names[i]);
    }
}

/* err must be "name: " followed by a reason, on one line. */
static void expect_named(const char *err, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(err, name, n) != 0 || strncmp(err + n, ": ", 2) != 0 ||
        strlen(err) <= n + 2)
        fail_msg("error \"%s\" does not name %s", err, name);
    if (strchr(err, '\n') != NULL)
        fail_msg("error \"%s\" is more than one line", err);
}

static void test_check_dir(void **state)
{
    (void)state;
    char dir[] = "/tmp/hk_test_config.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char file[64];
    snprintf(file, sizeof(file), "%s/index.html", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    char missing[64];
    snprintf(missing, sizeof(missing), "%s/nope", dir);
    char err[512];

    assert_int_equal(
        hk_config_check_dir("HOOKD_WEB_DIR", dir, err, sizeof(err)), HK_OK);
    assert_int_equal(
        hk_config_check_dir("HOOKD_WEB_DIR", missing, err, sizeof(err)),
        HK_INVALID);
    expect_named(err, "HOOKD_WEB_DIR");
    assert_non_null(strstr(err, missing));
    assert_int_equal(
        hk_config_check_dir("HOOKD_MIGRATIONS_DIR", file, err, sizeof(err)),
        HK_INVALID);
    expect_named(err, "HOOKD_MIGRATIONS_DIR");
    assert_non_null(strstr(err, "not a directory"));
    /* a relative path says where it was looked for */
    assert_int_equal(hk_config_check_dir("HOOKD_WEB_DIR", "no-such-web-dir",
                                         err, sizeof(err)),
                     HK_INVALID);
    expect_named(err, "HOOKD_WEB_DIR");
    assert_non_null(strstr(err, "relative to /"));
    /* a directory this process may not read (root reads everything) */
    if (geteuid() != 0) {
        assert_int_equal(chmod(dir, 0), 0);
        assert_int_equal(
            hk_config_check_dir("HOOKD_WEB_DIR", dir, err, sizeof(err)),
            HK_INVALID);
        expect_named(err, "HOOKD_WEB_DIR");
        assert_int_equal(chmod(dir, 0700), 0);
    }
    unlink(file);
    rmdir(dir);
}

static void test_check_serving(void **state)
{
    (void)state;
    struct hk_config cfg = {0};
    cfg.listen_host = "127.0.0.1";
    cfg.listen_port = 8080;
    cfg.web_dir = "/";
    char err[512];
    assert_int_equal(hk_config_check_serving(&cfg, err, sizeof(err)), HK_OK);
    cfg.listen_host = "localhost";
    assert_int_equal(hk_config_check_serving(&cfg, err, sizeof(err)), HK_OK);
    cfg.listen_host = "::1";
    assert_int_equal(hk_config_check_serving(&cfg, err, sizeof(err)), HK_OK);

    /* .invalid never resolves (RFC 6761) */
    cfg.listen_host = "hookd-test.invalid";
    assert_int_equal(hk_config_check_serving(&cfg, err, sizeof(err)),
                     HK_INVALID);
    expect_named(err, "HOOKD_LISTEN");
    assert_non_null(strstr(err, "hookd-test.invalid"));

    cfg.listen_host = "127.0.0.1";
    cfg.web_dir = "/nonexistent/hookd/web";
    assert_int_equal(hk_config_check_serving(&cfg, err, sizeof(err)),
                     HK_INVALID);
    expect_named(err, "HOOKD_WEB_DIR");
}

static void test_conninfo_check(void **state)
{
    (void)state;
    static const char *const good[] = {
        "postgresql:///hookd_test",
        "postgresql://postgres@127.0.0.1:5433/hookd",
        "postgres://u:p@[::1]:5432/db?sslmode=disable",
        "host=/tmp dbname=x",
        "host=127.0.0.1 port=5433 user=postgres dbname='with space'",
        "dbname=hookd",
    };
    char err[512];
    for (size_t i = 0; i < HK_ARRAY_LEN(good); i++)
        if (hk_db_conninfo_check(good[i], err, sizeof(err)) != HK_OK)
            fail_msg("\"%s\" refused: %s", good[i], err);

    static const char *const bad_[] = {
        "postgresql://u:s3cret@[::1", "postgresql://h/db?nosuchparam=1",
        "host=x nosuchoption=1",      "host=x dbname",
        "host='unterminated",         "just-words",
    };
    for (size_t i = 0; i < HK_ARRAY_LEN(bad_); i++) {
        memset(err, 0, sizeof(err));
        if (hk_db_conninfo_check(bad_[i], err, sizeof(err)) != HK_INVALID)
            fail_msg("\"%s\" accepted", bad_[i]);
        if (err[0] == '\0' || strchr(err, '\n') != NULL)
            fail_msg("\"%s\": reason \"%s\" is not one line", bad_[i], err);
        /* a password in a bad URI is not repeated */
        if (strstr(err, "s3cret") != NULL)
            fail_msg("\"%s\": reason \"%s\" repeats the password", bad_[i],
                     err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_accepted_forms),
        cmocka_unit_test(test_bad_values_name_their_variable),
        cmocka_unit_test(test_required),
        cmocka_unit_test(test_docs),
        cmocka_unit_test(test_check_dir),
        cmocka_unit_test(test_check_serving),
        cmocka_unit_test(test_conninfo_check),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
