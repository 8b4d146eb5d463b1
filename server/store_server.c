/*
 * store_server.c - what hookd asks about the PostgreSQL server it runs on,
 * rather than about its own data: settings, and whether its role may
 * vacuum its hot tables. pgcheck.c decides what the answers mean.
 */
#include "store.h"

#include <stdlib.h>
#include <string.h>

static const char sql_settings[] =
    "SELECT name, setting FROM pg_catalog.pg_settings"
    " WHERE name = ANY ($1::text[])";

/* VACUUM needs the table's owner, the database's owner or a superuser;
 * pg_has_role answers for the current role and every role it inherits,
 * and is true for a superuser. */
static const char sql_not_vacuumable[] =
    "SELECT c.relname FROM pg_catalog.pg_class c"
    " WHERE c.oid IN ('hookd.queue'::regclass, 'hookd.endpoint_owners'::regclass)"
    " AND NOT pg_catalog.pg_has_role(c.relowner, 'USAGE')"
    " AND NOT pg_catalog.pg_has_role((SELECT d.datdba"
    "  FROM pg_catalog.pg_database d"
    "  WHERE d.datname = pg_catalog.current_database()), 'USAGE')"
    " ORDER BY 1";

enum hk_result hk_store_server_settings(struct hk_conn *c,
                                        const char *const *names, size_t n,
                                        char **values)
{
    for (size_t i = 0; i < n; i++)
        values[i] = NULL;
    char *list = hk_store_text_array(names, n);
    const char *p[1] = {list};
    PGresult *r = NULL;
    enum hk_result rc = hk_db_query(c, sql_settings, 1, p, &r);
    free(list);
    if (rc != HK_OK)
        return rc;
    for (int row = 0; row < PQntuples(r); row++)
        for (size_t i = 0; i < n; i++)
            if (values[i] == NULL &&
                strcmp(PQgetvalue(r, row, 0), names[i]) == 0)
                values[i] = hk_strdup(PQgetvalue(r, row, 1));
    PQclear(r);
    return HK_OK;
}

enum hk_result hk_store_not_vacuumable(struct hk_conn *c, char **tables)
{
    *tables = NULL;
    PGresult *r = NULL;
    enum hk_result rc = hk_db_query(c, sql_not_vacuumable, 0, NULL, &r);
    if (rc != HK_OK)
        return rc;
    int rows = PQntuples(r);
    if (rows > 0) {
        struct hk_buf b;
        hk_buf_init(&b);
        for (int i = 0; i < rows; i++)
            hk_buf_printf(&b, "%shookd.%s", i ? ", " : "",
                          PQgetvalue(r, i, 0));
        *tables = hk_buf_steal(&b);
    }
    PQclear(r);
    return HK_OK;
}
