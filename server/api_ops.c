/*
 * api_ops.c - the routes an operator's tooling uses: /healthz (the process
 * runs), /readyz (the database answers and the schema is current),
 * /metrics (Prometheus text) and /openapi.json, which serves
 * docs/openapi.json as the build embedded it: the document is written once,
 * as data, and tests/unit/test_openapi.c holds it and the route table to
 * each other.
 */
#include "api.h"
#include "app.h"
#include "metrics.h"
#include "migrate.h"
#include "openapi.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hk_api_healthz(struct hk_req *req, struct hk_resp *resp)
{
    (void)req;
    hk_resp_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

void hk_api_readyz(struct hk_req *req, struct hk_resp *resp)
{
    struct hk_conn *c = req->db ? req->db : hk_db_acquire(req->app->db);
    req->db = c;
    if (c == NULL) {
        hk_resp_error(resp, 503, "unavailable", NULL,
                      "the database is unavailable");
        return;
    }
    enum hk_result rc = hk_migrate_check(c, req->app->migrations_dir);
    if (rc == HK_CONFLICT)
        hk_resp_error(resp, 503, "unavailable", NULL,
                      "the database schema is behind: run `hookd migrate`");
    else if (rc != HK_OK)
        hk_resp_error(resp, 503, "unavailable", NULL,
                      "the database is unavailable");
    else
        hk_resp_json(resp, 200, json_pack("{s:s}", "status", "ready"));
}

void hk_api_metrics(struct hk_req *req, struct hk_resp *resp)
{
    long long depth = -1;
    struct hk_conn *c = hk_db_acquire(req->app->db);
    req->db = c;
    if (c != NULL && hk_store_queue_depth(c, &depth) != HK_OK)
        depth = -1;
    struct hk_buf b;
    hk_buf_init(&b);
    hk_metrics_render(&b, depth);
    hk_resp_raw(resp, 200, "text/plain; version=0.0.4", &b);
}

void hk_api_openapi(struct hk_req *req, struct hk_resp *resp)
{
    (void)req;
    struct hk_buf b;
    hk_buf_init(&b);
    hk_buf_append(&b, hk_openapi_doc, hk_openapi_doc_len);
    hk_resp_raw(resp, 200, "application/json", &b);
}
