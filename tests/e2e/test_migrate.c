/*
 * test_migrate.c - end-to-end tests of `hookd migrate`'s checksums: a fresh
 * database records the SHA-256 of every migration file it applies; a
 * folder in which an applied migration was edited is refused, naming the
 * file and applying nothing, not even a new migration beside it; and a
 * database migrated before checksums were recorded (no checksum column)
 * gets the files' checksums at its next run, which then guard it like a
 * fresh one's. Each test has its own database (hk_srv_start migrates it)
 * and edits only a copy of migrations/.
 */
#include "harness.h"

#include "crypto.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The whole file, or NULL; caller frees. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0, got;
    char *b = malloc(cap);
    assert_non_null(b);
    while ((got = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            cap *= 2;
            b = realloc(b, cap);
            assert_non_null(b);
        }
    }
    fclose(f);
    b[n] = '\0';
    return b;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* A copy of the source's migrations/ in a new temporary folder; caller
 * removes it with remove_copy and frees the path. */
static char *copy_migrations(const struct hk_srv *s)
{
    char tmpl[] = "/tmp/hookd-migrations.XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    char *src = hk_fmt("%s/migrations", s->source_dir);
    DIR *d = opendir(src);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".sql") != 0)
            continue;
        char *from = hk_fmt("%s/%s", src, e->d_name);
        char *to = hk_fmt("%s/%s", tmpl, e->d_name);
        char *text = slurp(from);
        assert_non_null(text);
        write_file(to, text);
        free(text);
        free(from);
        free(to);
    }
    closedir(d);
    free(src);
    return hk_fmt("%s", tmpl);
}

static void remove_copy(char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char *p = hk_fmt("%s/%s", dir, e->d_name);
            unlink(p);
            free(p);
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

/* Runs `hookd migrate` on s's database with HOOKD_MIGRATIONS_DIR=dir (the
 * server's own folder when dir is NULL); returns the exit status and the
 * output in *out (caller frees). */
static int migrate(struct hk_srv *s, const char *dir, char **out)
{
    const char *args[] = {"migrate", NULL};
    char *env = dir ? hk_fmt("HOOKD_MIGRATIONS_DIR=%s", dir) : NULL;
    const char *extra[] = {env, NULL};
    int rc = hk_srv_exec(s, args, extra, out);
    free(env);
    return rc;
}

/* Fails unless every NNNN_*.sql of the source's migrations/ is recorded
 * with the SHA-256 of its bytes as they are now. */
static void expect_checksums_of_files(struct hk_srv *s)
{
    char *src = hk_fmt("%s/migrations", s->source_dir);
    DIR *d = opendir(src);
    assert_non_null(d);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 9 || strcmp(e->d_name + len - 4, ".sql") != 0 ||
            e->d_name[4] != '_')
            continue;
        char *path = hk_fmt("%s/%s", src, e->d_name);
        char *text = slurp(path);
        assert_non_null(text);
        char want[65];
        hk_sha256_hex(text, strlen(text), want);
        char *got = hk_sql(
            s, "SELECT checksum FROM hookd.schema_migrations WHERE name = $1",
            e->d_name);
        if (got == NULL || strcmp(got, want) != 0)
            fail_msg("%s: recorded checksum %s, the file's is %s", e->d_name,
                     got ? got : "NULL", want);
        files++;
        free(got);
        free(text);
        free(path);
    }
    closedir(d);
    free(src);
    assert_true(files > 0);
    assert_int_equal(hk_sql_int(s, "SELECT count(*) FROM hookd.schema_migrations"
                                   " WHERE checksum IS NULL"),
                     0);
}

static void test_fresh_database_records_checksums(void **state)
{
    (void)state;
    struct hk_srv srv = {0};
    assert_int_equal(hk_srv_start(&srv, NULL), 0);
    expect_checksums_of_files(&srv);

    /* the files as they are: nothing to apply, nothing refused */
    char *out = NULL;
    int rc = migrate(&srv, NULL, &out);
    if (rc != 0 || strstr(out, "\"applied\":\"0\"") == NULL)
        fail_msg("a second `hookd migrate`: exit %d, output:\n%s", rc, out);
    free(out);
    assert_int_equal(hk_srv_finish(&srv), 0);
}

static void test_changed_migration_is_refused_by_name(void **state)
{
    (void)state;
    struct hk_srv srv = {0};
    assert_int_equal(hk_srv_start(&srv, NULL), 0);
    char *dir = copy_migrations(&srv);
    char *edited = hk_fmt("%s/0002_portal_sessions.sql", dir);
    char *text = slurp(edited);
    assert_non_null(text);
    char *more = hk_fmt("%s\n-- an edit after it landed\n", text);
    write_file(edited, more);
    /* a new migration beside it must not be applied either */
    char *added = hk_fmt("%s/9999_after_edit.sql", dir);
    write_file(added, "CREATE TABLE hookd.after_edit (x int);\n");

    char *out = NULL;
    int rc = migrate(&srv, dir, &out);
    if (rc == 0 || strstr(out, "0002_portal_sessions.sql") == NULL ||
        strstr(out, "changed since it was applied") == NULL)
        fail_msg("`hookd migrate` with an edited 0002: exit %d, want a "
                 "failure naming the file; output:\n%s",
                 rc, out);
    free(out);
    char *made = hk_sql(&srv, "SELECT to_regclass('hookd.after_edit')::text");
    if (made != NULL)
        fail_msg("the new migration was applied beside the edited one");
    assert_int_equal(hk_sql_int(&srv, "SELECT count(*) FROM "
                                      "hookd.schema_migrations WHERE version "
                                      "= 9999"),
                     0);

    /* the folder as it was is still accepted */
    rc = migrate(&srv, NULL, &out);
    if (rc != 0)
        fail_msg("`hookd migrate` with the files as applied: exit %d, "
                 "output:\n%s",
                 rc, out);
    free(out);
    free(added);
    free(more);
    free(text);
    free(edited);
    remove_copy(dir);
    assert_int_equal(hk_srv_finish(&srv), 0);
}

static void test_old_database_gets_checksums_on_first_run(void **state)
{
    (void)state;
    struct hk_srv srv = {0};
    assert_int_equal(hk_srv_start(&srv, NULL), 0);
    /* a database migrated before checksums were recorded */
    free(hk_sql(&srv,
                "ALTER TABLE hookd.schema_migrations DROP COLUMN checksum"));
    long long applied =
        hk_sql_int(&srv, "SELECT count(*) FROM hookd.schema_migrations");

    char *out = NULL;
    int rc = migrate(&srv, NULL, &out);
    if (rc != 0 || strstr(out, "trust on first use") == NULL ||
        strstr(out, "0001_schema.sql") == NULL)
        fail_msg("`hookd migrate` on a database without checksums: exit %d, "
                 "want 0 and a line per file recorded; output:\n%s",
                 rc, out);
    free(out);
    assert_int_equal(
        hk_sql_int(&srv, "SELECT count(*) FROM hookd.schema_migrations"),
        applied);
    expect_checksums_of_files(&srv);

    /* from now on an edit is caught as on a fresh database */
    char *dir = copy_migrations(&srv);
    char *edited = hk_fmt("%s/0001_schema.sql", dir);
    write_file(edited, "-- not the schema that was applied\n");
    rc = migrate(&srv, dir, &out);
    if (rc == 0 || strstr(out, "0001_schema.sql") == NULL)
        fail_msg("`hookd migrate` with an edited 0001 after the backfill: "
                 "exit %d; output:\n%s",
                 rc, out);
    free(out);
    free(edited);
    remove_copy(dir);
    assert_int_equal(hk_srv_finish(&srv), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_database_records_checksums),
        cmocka_unit_test(test_changed_migration_is_refused_by_name),
        cmocka_unit_test(test_old_database_gets_checksums_on_first_run),
    };
    int rc = cmocka_run_group_tests_name("migrate", tests, NULL, NULL);
    return hk_exit_code(rc);
}
