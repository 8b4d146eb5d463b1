/*
 * migrate.h - applies migrations/NNNN_name.sql in order, each in its own
 * transaction, recorded in hookd.schema_migrations, under an advisory lock
 * so that processes starting together do not race.
 */
#ifndef HK_MIGRATE_H
#define HK_MIGRATE_H

#include "db.h"

/* Both functions log every failure they return, except hk_migrate_check's
 * HK_CONFLICT, which is an answer. */

/* Applies every migration in dir not yet recorded, with its checksum;
 * *applied counts them. First checks the applied ones still in dir
 * against their recorded checksums: HK_CONFLICT, applying nothing, when
 * one has changed (each such file is logged by name). */
enum hk_result hk_migrate_run(struct hk_conn *c, const char *dir,
                              int *applied) HK_MUST_CHECK;
/* HK_OK when every migration in dir is recorded; HK_CONFLICT when some
 * are missing (the database needs `hookd migrate`), HK_DB on errors. */
enum hk_result hk_migrate_check(struct hk_conn *c,
                                const char *dir) HK_MUST_CHECK;

#endif
