/*
 * api.h - the REST handlers of docs/api.md, one function per route, and the
 * helpers they share for pagination and ids. Handlers validate input, call
 * the store and shape JSON; they contain no SQL and no libmicrohttpd.
 */
#ifndef HK_API_H
#define HK_API_H

#include "http.h"

/* Reads ?limit= (1..250, default 50) and ?cursor=, after checking that
 * only those and `extra` (NULL-terminated, may be NULL) query parameters
 * are present. after is "" when there is no cursor. */
bool hk_api_page_params(struct hk_req *req, struct hk_resp *resp,
                        const char *const *extra, int *limit,
                        char after[37]);
/* Answers 200 with {"data","has_more","next_cursor"} from rows (limit+1
 * rows at most, from the store); takes the reference to rows. key is the
 * member of a row that the cursor carries ("id"). */
void hk_api_page_respond(struct hk_resp *resp, json_t *rows, int limit,
                         const char *key);
/* The same from rows of JSON text (struct hk_text_rows), sent as they
 * are, never parsed; the caller still cleans rows up. */
struct hk_text_rows;
void hk_api_page_respond_text(struct hk_resp *resp,
                              const struct hk_text_rows *rows, int limit);
/* A path id: 404 unless it is a canonical UUID. */
bool hk_api_path_id(struct hk_req *req, struct hk_resp *resp, int index,
                    const char *what);
/* For the admin key on a tenant's list routes: 404 unless the tenant in
 * the path exists (a tenant token proves its tenant exists). */
bool hk_api_tenant_exists(struct hk_req *req, struct hk_resp *resp,
                          struct hk_conn *c);
/* Optional string member: true when absent (NULL) or a string without
 * \u0000; else 422. */
bool hk_api_opt_string(json_t *body, const char *key, struct hk_resp *resp,
                       const char **out);
/* A value bound for a jsonb column (which refuses \u0000): true when v is
 * NULL or holds no NUL in a string; else 422 naming key. */
bool hk_api_jsonb_storable(json_t *v, const char *key, struct hk_resp *resp);

void hk_api_healthz(struct hk_req *req, struct hk_resp *resp);
void hk_api_readyz(struct hk_req *req, struct hk_resp *resp);
void hk_api_metrics(struct hk_req *req, struct hk_resp *resp);
void hk_api_openapi(struct hk_req *req, struct hk_resp *resp);
void hk_api_me(struct hk_req *req, struct hk_resp *resp);
void hk_api_me_session_delete(struct hk_req *req, struct hk_resp *resp);
void hk_api_portal_config(struct hk_req *req, struct hk_resp *resp);

void hk_api_tenant_create(struct hk_req *req, struct hk_resp *resp);
void hk_api_tenant_list(struct hk_req *req, struct hk_resp *resp);
void hk_api_tenant_get(struct hk_req *req, struct hk_resp *resp);
void hk_api_tenant_patch(struct hk_req *req, struct hk_resp *resp);
void hk_api_tenant_delete(struct hk_req *req, struct hk_resp *resp);

void hk_api_key_create(struct hk_req *req, struct hk_resp *resp);
void hk_api_key_list(struct hk_req *req, struct hk_resp *resp);
void hk_api_key_delete(struct hk_req *req, struct hk_resp *resp);

void hk_api_event_type_create(struct hk_req *req, struct hk_resp *resp);
void hk_api_event_type_list(struct hk_req *req, struct hk_resp *resp);
void hk_api_event_type_patch(struct hk_req *req, struct hk_resp *resp);

void hk_api_endpoint_create(struct hk_req *req, struct hk_resp *resp);
void hk_api_endpoint_list(struct hk_req *req, struct hk_resp *resp);
void hk_api_endpoint_get(struct hk_req *req, struct hk_resp *resp);
void hk_api_endpoint_patch(struct hk_req *req, struct hk_resp *resp);
void hk_api_endpoint_delete(struct hk_req *req, struct hk_resp *resp);
void hk_api_endpoint_secret(struct hk_req *req, struct hk_resp *resp);

void hk_api_event_create(struct hk_req *req, struct hk_resp *resp);
void hk_api_event_list(struct hk_req *req, struct hk_resp *resp);
void hk_api_event_get(struct hk_req *req, struct hk_resp *resp);
void hk_api_delivery_list(struct hk_req *req, struct hk_resp *resp);
void hk_api_delivery_get(struct hk_req *req, struct hk_resp *resp);
void hk_api_attempt_list(struct hk_req *req, struct hk_resp *resp);
void hk_api_delivery_replay(struct hk_req *req, struct hk_resp *resp);
void hk_api_delivery_skip(struct hk_req *req, struct hk_resp *resp);

void hk_api_session_create(struct hk_req *req, struct hk_resp *resp);
void hk_api_session_list(struct hk_req *req, struct hk_resp *resp);
void hk_api_session_delete(struct hk_req *req, struct hk_resp *resp);
void hk_api_endpoint_rotate(struct hk_req *req, struct hk_resp *resp);
void hk_api_endpoint_test(struct hk_req *req, struct hk_resp *resp);
void hk_api_endpoint_recover(struct hk_req *req, struct hk_resp *resp);
void hk_api_stats(struct hk_req *req, struct hk_resp *resp);
void hk_api_changes(struct hk_req *req, struct hk_resp *resp);

#endif
