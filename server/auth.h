/*
 * auth.h - who is calling: the operator's admin key or a tenant API key
 * (hk_...), from the Authorization: Bearer header, and whether that caller
 * may use a route. Applies docs/api.md's rules: no or unknown token 401, a
 * tenant token on an operator route 403, on another tenant's path 404.
 */
#ifndef HK_AUTH_H
#define HK_AUTH_H

#include "router.h"

#define HK_KEY_PREFIX_LEN 11 /* "hk_" + 8 characters */
#define HK_KEY_LEN 43        /* "hk_" + 40 characters */

/* Fills req->auth, or an error response and returns false. */
bool hk_auth_check(struct hk_req *req, struct hk_resp *resp,
                   enum hk_access access);

/* Makes a new tenant key: key (HK_KEY_LEN + 1 bytes), its prefix
 * (HK_KEY_PREFIX_LEN + 1) and the SHA-256 to store. */
void hk_auth_new_key(char *key, char *prefix, unsigned char hash[32]);

#endif
