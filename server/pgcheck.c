/*
 * pgcheck.c - the server settings hookd needs, and the warnings at start
 * when the server has them otherwise (see pgcheck.h). A setting that may
 * be set for one database or role (track_counts,
 * default_transaction_isolation) is read as hookd's own sessions see it.
 */
#include "pgcheck.h"
#include "log.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A setting with the one value hookd needs, and why it does. */
struct need {
    const char *name;
    const char *want;
    const char *why;
};

static const struct need needs[] = {
    {"autovacuum", "on",
     "hookd vacuums only its queue and its endpoints' owners; the "
     "deliveries, events and "
     "attempts tables, and the statistics their plans are made from, are "
     "left to autovacuum"},
    {"track_counts", "on",
     "without these counts autovacuum cannot tell which tables need it"},
    {"default_transaction_isolation", "read committed",
     "records and API changes update the same deliveries and endpoints; "
     "under a stricter isolation they fail with serialization errors "
     "under load"},
};

/* The settings read: those above, then these two for max_connections. */
#define N_NEEDS (sizeof(needs) / sizeof(needs[0]))
#define I_MAX N_NEEDS
#define I_RESERVED (N_NEEDS + 1)
#define N_NAMES (N_NEEDS + 2)

static void warn_setting(const char *name, const char *value,
                         const char *want, const char *why)
{
    hk_log_warn("PostgreSQL setting hookd needs otherwise", "setting", name,
                "value", value, "wants", want, "why", why);
}

int hk_pgcheck_warn(struct hk_conn *c, int connections)
{
    const char *names[N_NAMES];
    char *values[N_NAMES];
    for (size_t i = 0; i < N_NEEDS; i++)
        names[i] = needs[i].name;
    names[I_MAX] = "max_connections";
    names[I_RESERVED] = "superuser_reserved_connections";
    int warned = 0;
    if (hk_store_server_settings(c, names, N_NAMES, values) != HK_OK) {
        hk_log_info("could not read the PostgreSQL server's settings");
        return 0;
    }
    for (size_t i = 0; i < N_NEEDS; i++)
        if (values[i] != NULL && strcmp(values[i], needs[i].want) != 0) {
            warn_setting(needs[i].name, values[i], needs[i].want,
                         needs[i].why);
            warned++;
        }
    if (values[I_MAX] != NULL && values[I_RESERVED] != NULL) {
        long max = strtol(values[I_MAX], NULL, 10);
        long want = connections + strtol(values[I_RESERVED], NULL, 10);
        if (max < want) {
            char w[64];
            snprintf(w, sizeof(w), "at least %ld", want);
            warn_setting("max_connections", values[I_MAX], w,
                         "this hookd process alone opens that many "
                         "connections, with the server's reserved ones; "
                         "add those of every other hookd process");
            warned++;
        }
    }
    for (size_t i = 0; i < N_NAMES; i++)
        free(values[i]);

    char *tables = NULL;
    if (hk_store_not_vacuumable(c, &tables) != HK_OK) {
        hk_log_info("could not check whether hookd may vacuum its tables");
    } else if (tables != NULL) {
        hk_log_warn("hookd's database role may not vacuum its hot tables: "
                    "they are vacuumed only as often as autovacuum looks",
                    "tables", tables, "wants",
                    "the role that ran `hookd migrate` (their owner)");
        warned++;
    }
    free(tables);
    return warned;
}
