/*
 * pgcheck.h - what hookd still needs from the PostgreSQL server it runs on,
 * checked once at start. hookd runs on a server with stock settings and
 * keeps its own hot tables lean (vacuum.h), but a few settings, and the
 * right to vacuum those tables, it cannot do without: this module owns the
 * list of them, the value each should have and why, and the warnings. It
 * never stops hookd from starting: a server set otherwise works, slower or
 * with errors under load, and the operator is told which setting to
 * change. The queries are in store_server.c.
 */
#ifndef HK_PGCHECK_H
#define HK_PGCHECK_H

#include "db.h"

/* Reads the server's settings on c (a migrated database) and logs one
 * warning for each that differs from what hookd needs, naming the setting,
 * its value and the value wanted; max_connections is compared with the
 * `connections` this process opens. Returns the number of warnings; a
 * question the server does not answer is logged and skipped. */
int hk_pgcheck_warn(struct hk_conn *c, int connections);

#endif
