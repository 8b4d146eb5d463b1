/*
 * migrate.c - schema migrations. Files are named NNNN_name.sql; the number
 * is the version. Each file runs inside one transaction together with the
 * row that records it, so a failed migration leaves nothing behind. A
 * session-level advisory lock serialises concurrent `hookd migrate` runs.
 * The row keeps the SHA-256 of the file as applied; before applying
 * anything, every applied file still in the folder must have the same
 * checksum, since a landed migration is never edited and a changed one
 * means the folder no longer describes the database. Rows written before
 * checksums existed get the file's checksum at the next run (trust on
 * first use).
 */
#include "migrate.h"
#include "crypto.h"
#include "log.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOCK_ID "7460293100041"
#define MAX_MIGRATIONS 1000

struct migration {
    int version;
    char *name;
};

static int cmp_migration(const void *a, const void *b)
{
    const struct migration *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

/* Lists NNNN_*.sql in dir, sorted; caller frees with free_list. */
static enum hk_result list_migrations(const char *dir, struct migration **out,
                                      int *n)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        hk_log_error("cannot open migrations folder", "dir", dir);
        return HK_INVALID;
    }
    struct migration *list = hk_calloc(MAX_MIGRATIONS, sizeof(*list));
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && count < MAX_MIGRATIONS) {
        const char *nm = e->d_name;
        size_t len = strlen(nm);
        if (len < 9 || strcmp(nm + len - 4, ".sql") != 0)
            continue;
        char *end;
        long v = strtol(nm, &end, 10);
        if (end != nm + 4 || *end != '_' || v <= 0)
            continue;
        list[count].version = (int)v;
        list[count].name = hk_strdup(nm);
        count++;
    }
    closedir(d);
    qsort(list, (size_t)count, sizeof(*list), cmp_migration);
    *out = list;
    *n = count;
    return HK_OK;
}

static void free_list(struct migration *list, int n)
{
    for (int i = 0; i < n; i++)
        free(list[i].name);
    free(list);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    struct hk_buf b;
    hk_buf_init(&b);
    char chunk[8192];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        hk_buf_append(&b, chunk, got);
    fclose(f);
    return hk_buf_steal(&b);
}

static const char sql_schema[] = "CREATE SCHEMA IF NOT EXISTS hookd";
static const char sql_table[] =
    "CREATE TABLE IF NOT EXISTS hookd.schema_migrations ("
    " version integer PRIMARY KEY, name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now(), checksum text)";
/* A table made before checksums were recorded lacks the column. */
static const char sql_checksum_column[] =
    "ALTER TABLE hookd.schema_migrations ADD COLUMN IF NOT EXISTS checksum text";
static const char sql_applied[] =
    "SELECT version, checksum FROM hookd.schema_migrations";
static const char sql_backfill[] =
    "UPDATE hookd.schema_migrations SET checksum = $2"
    " WHERE version = $1 AND checksum IS NULL";
static const char sql_record[] =
    "INSERT INTO hookd.schema_migrations (version, name, checksum)"
    " VALUES ($1, $2, $3)";

/* The row of r (version in column 0) recording version, or -1. */
static int applied_row(PGresult *r, int version)
{
    for (int i = 0; i < PQntuples(r); i++)
        if (hk_db_get_int(r, i, 0) == version)
            return i;
    return -1;
}

static bool is_applied(PGresult *r, int version)
{
    return applied_row(r, version) >= 0;
}

/* Reads m's file into *sql (caller frees) and its SHA-256 into hex. */
static enum hk_result read_migration(const char *dir,
                                     const struct migration *m, char **sql,
                                     char hex[65])
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, m->name);
    *sql = read_file(path);
    if (*sql == NULL) {
        hk_log_error("cannot read migration", "file", path);
        return HK_INVALID;
    }
    hk_sha256_hex(*sql, strlen(*sql), hex);
    return HK_OK;
}

/* Checks every applied migration of list against its recorded checksum,
 * and records the checksum of those applied before checksums were kept.
 * HK_CONFLICT (logged, naming each file) when a file has changed since it
 * was applied; then nothing is recorded. */
static enum hk_result verify_applied(struct hk_conn *c, const char *dir,
                                     const struct migration *list, int n,
                                     PGresult *done)
{
    enum hk_result rc = HK_OK;
    bool *trust = hk_calloc((size_t)(n > 0 ? n : 1), sizeof(*trust));
    char(*sums)[65] = hk_calloc((size_t)(n > 0 ? n : 1), sizeof(*sums));
    for (int i = 0; i < n; i++) {
        int row = applied_row(done, list[i].version);
        if (row < 0)
            continue;
        char *sql;
        enum hk_result frc = read_migration(dir, &list[i], &sql, sums[i]);
        free(sql);
        if (frc != HK_OK) {
            rc = frc;
            continue;
        }
        const char *recorded = hk_db_get(done, row, 1);
        if (recorded == NULL) {
            trust[i] = true;
        } else if (strcmp(recorded, sums[i]) != 0) {
            hk_log_error("an applied migration has changed since it was "
                         "applied; restore the file as it was",
                         "file", list[i].name, "recorded", recorded, "found",
                         sums[i]);
            rc = HK_CONFLICT;
        }
    }
    for (int i = 0; rc == HK_OK && i < n; i++) {
        if (!trust[i])
            continue;
        char ver[16];
        snprintf(ver, sizeof(ver), "%d", list[i].version);
        const char *p[2] = {ver, sums[i]};
        rc = hk_db_exec(c, sql_backfill, 2, p, NULL);
        if (rc == HK_OK)
            hk_log_info("checksum of an applied migration recorded as the "
                        "file is now (trust on first use)",
                        "file", list[i].name, "checksum", sums[i]);
    }
    free(trust);
    free(sums);
    return rc;
}

static enum hk_result apply_one(struct hk_conn *c, const char *dir,
                                const struct migration *m)
{
    char *sql;
    char sum[65];
    enum hk_result rc = read_migration(dir, m, &sql, sum);
    if (rc != HK_OK)
        return rc;
    rc = hk_db_begin(c);
    if (rc == HK_OK) {
        PGresult *r = PQexec(c->pg, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK &&
            PQresultStatus(r) != PGRES_TUPLES_OK) {
            hk_log_error("migration failed", "file", m->name, "error",
                         PQresultErrorMessage(r));
            rc = HK_DB;
        }
        PQclear(r);
    }
    if (rc == HK_OK) {
        char ver[16];
        snprintf(ver, sizeof(ver), "%d", m->version);
        const char *p[3] = {ver, m->name, sum};
        rc = hk_db_exec(c, sql_record, 3, p, NULL);
        /* HK_DB is logged by db.c; a conflict is not, and means two files
         * share a number */
        if (rc != HK_OK && rc != HK_DB)
            hk_log_error("migration failed", "file", m->name, "error",
                         "its version number is already recorded");
    }
    if (rc == HK_OK)
        rc = hk_db_commit(c);
    else
        hk_db_rollback(c);
    free(sql);
    if (rc == HK_OK)
        hk_log_info("migration applied", "file", m->name);
    return rc;
}

enum hk_result hk_migrate_run(struct hk_conn *c, const char *dir,
                              int *applied)
{
    struct migration *list;
    int n;
    *applied = 0;
    enum hk_result rc = list_migrations(dir, &list, &n);
    if (rc != HK_OK)
        return rc;
    PGresult *done = NULL;
    rc = hk_db_exec(c, "SELECT pg_advisory_lock(" LOCK_ID ")", 0, NULL, NULL);
    if (rc != HK_OK)
        goto out;
    rc = hk_db_exec(c, sql_schema, 0, NULL, NULL);
    if (rc == HK_OK)
        rc = hk_db_exec(c, sql_table, 0, NULL, NULL);
    if (rc == HK_OK)
        rc = hk_db_exec(c, sql_checksum_column, 0, NULL, NULL);
    if (rc == HK_OK)
        rc = hk_db_exec(c, sql_applied, 0, NULL, &done);
    if (rc == HK_OK)
        rc = verify_applied(c, dir, list, n, done);
    for (int i = 0; rc == HK_OK && i < n; i++) {
        if (is_applied(done, list[i].version))
            continue;
        rc = apply_one(c, dir, &list[i]);
        if (rc == HK_OK)
            (*applied)++;
    }
    PQclear(done);
    enum hk_result urc = hk_db_exec(
        c, "SELECT pg_advisory_unlock(" LOCK_ID ")", 0, NULL, NULL);
    if (rc == HK_OK)
        rc = urc;
out:
    free_list(list, n);
    return rc;
}

enum hk_result hk_migrate_check(struct hk_conn *c, const char *dir)
{
    struct migration *list;
    int n;
    enum hk_result rc = list_migrations(dir, &list, &n);
    if (rc != HK_OK)
        return rc;
    PGresult *done = NULL;
    rc = hk_db_exec(c,
                    "SELECT to_regclass('hookd.schema_migrations') IS NOT NULL",
                    0, NULL, &done);
    if (rc != HK_OK)
        goto out;
    bool exists = hk_db_get_bool(done, 0, 0);
    PQclear(done);
    done = NULL;
    if (!exists) {
        /* nothing was ever applied */
        rc = HK_CONFLICT;
        goto out;
    }
    rc = hk_db_exec(c, "SELECT version FROM hookd.schema_migrations", 0, NULL,
                    &done);
    if (rc != HK_OK)
        goto out;
    for (int i = 0; i < n; i++) {
        if (!is_applied(done, list[i].version)) {
            rc = HK_CONFLICT;
            break;
        }
    }
    PQclear(done);
out:
    free_list(list, n);
    return rc;
}
