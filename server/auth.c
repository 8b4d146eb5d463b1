/*
 * auth.c - bearer tokens. The admin key is compared through SHA-256 of
 * both sides so the comparison takes the same time whatever the lengths.
 * A portal session token (hps_...) is found by its SHA-256 while it has
 * not expired and was not revoked; a "read" session may call every GET
 * but the endpoint secret's, and sign itself out, nothing else. A tenant key is found by its prefix and accepted only when the SHA-256
 * of the whole key matches the stored hash (constant-time compare in the
 * store); keys are never stored in clear.
 */
#include "auth.h"
#include "app.h"
#include "crypto.h"
#include "store.h"
#include "validate.h"

#include <string.h>
#include <strings.h>

void hk_auth_new_key(char *key, char *prefix, unsigned char hash[32])
{
    memcpy(key, "hk_", 3);
    hk_random_token(key + 3, HK_KEY_LEN - 3);
    memcpy(prefix, key, HK_KEY_PREFIX_LEN);
    prefix[HK_KEY_PREFIX_LEN] = '\0';
    hk_sha256(key, HK_KEY_LEN, hash);
}

static bool is_admin(const struct hk_app *app, const char *token)
{
    unsigned char a[HK_SHA256_LEN], b[HK_SHA256_LEN];
    const char *admin = app->cfg->admin_key;
    if (admin == NULL)
        return false;
    hk_sha256(token, strlen(token), a);
    hk_sha256(admin, strlen(admin), b);
    return hk_ct_equal(a, b, HK_SHA256_LEN);
}

static void unauthorized(struct hk_resp *resp, const char *why)
{
    hk_resp_error(resp, 401, "unauthorized", NULL, "%s", why);
}

bool hk_auth_check(struct hk_req *req, struct hk_resp *resp,
                   enum hk_access access)
{
    const char *h = hk_req_header(req, "Authorization");
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
        unauthorized(resp, "an Authorization: Bearer token is required");
        return false;
    }
    const char *token = h + 7;
    while (*token == ' ')
        token++;
    if (is_admin(req->app, token)) {
        req->auth.role = HK_ROLE_ADMIN;
    } else if (strlen(token) == HK_KEY_LEN &&
               strncmp(token, "hk_", 3) == 0) {
        char prefix[HK_KEY_PREFIX_LEN + 1];
        unsigned char hash[HK_SHA256_LEN];
        memcpy(prefix, token, HK_KEY_PREFIX_LEN);
        prefix[HK_KEY_PREFIX_LEN] = '\0';
        hk_sha256(token, HK_KEY_LEN, hash);
        struct hk_conn *c = hk_req_db(req, resp);
        if (c == NULL)
            return false;
        enum hk_result rc = hk_store_key_authenticate(
            c, prefix, hash, req->auth.tenant_id, req->auth.key_id);
        if (rc == HK_DB) {
            hk_resp_result(resp, rc, "key");
            return false;
        }
        if (rc != HK_OK) {
            unauthorized(resp, "the token is not valid");
            return false;
        }
        req->auth.role = HK_ROLE_TENANT;
    } else if (strlen(token) == 44 && strncmp(token, "hps_", 4) == 0) {
        unsigned char hash[HK_SHA256_LEN];
        hk_sha256(token, 44, hash);
        struct hk_conn *c = hk_req_db(req, resp);
        if (c == NULL)
            return false;
        struct hk_session sess;
        enum hk_result rc = hk_store_session_authenticate(c, hash, &sess);
        if (rc == HK_DB) {
            hk_resp_result(resp, rc, "session");
            return false;
        }
        if (rc != HK_OK) {
            unauthorized(resp, "the portal session is not valid or has "
                               "expired");
            return false;
        }
        req->auth.role = HK_ROLE_TENANT;
        memcpy(req->auth.tenant_id, sess.tenant_id, sizeof(sess.tenant_id));
        memcpy(req->auth.session_id, sess.id, sizeof(sess.id));
        memcpy(req->auth.session_expires_at, sess.expires_at,
               sizeof(sess.expires_at));
        req->auth.read_only = sess.read_only;
    } else {
        unauthorized(resp, "the token is not valid");
        return false;
    }

    if (access == HK_ACCESS_ADMIN && req->auth.role != HK_ROLE_ADMIN) {
        hk_resp_error(resp, 403, "forbidden", NULL,
                      "this route needs the operator's admin key");
        return false;
    }
    if (req->auth.read_only && access != HK_ACCESS_SIGN_OUT &&
        (strcmp(req->method, "GET") != 0 || access == HK_ACCESS_SECRET)) {
        hk_resp_error(resp, 403, "forbidden", NULL,
                      "this portal session can only read");
        return false;
    }
    if (access == HK_ACCESS_TENANT || access == HK_ACCESS_SECRET) {
        /* a malformed or foreign tenant id looks like a missing one */
        if (req->nparams < 1 || !hk_valid_uuid(req->params[0]) ||
            (req->auth.role == HK_ROLE_TENANT &&
             strcmp(req->params[0], req->auth.tenant_id) != 0)) {
            hk_resp_error(resp, 404, "not_found", NULL, "tenant not found");
            return false;
        }
    }
    return true;
}
