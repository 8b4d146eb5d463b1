/*
 * router.h - the route table: method, path pattern ({} marks an id
 * segment), handler and who may call it. Matching is a plain walk over a
 * static table; a path that matches with the wrong method yields the
 * Allow list for a 405.
 */
#ifndef HK_ROUTER_H
#define HK_ROUTER_H

#include "http.h"

enum hk_access {
    HK_ACCESS_PUBLIC, /* no token */
    HK_ACCESS_ANY,    /* any valid token */
    HK_ACCESS_ADMIN,  /* the operator's admin key */
    HK_ACCESS_TENANT, /* admin, or a token of the tenant in the first {} */
    HK_ACCESS_SECRET, /* as TENANT, but never a "read" portal session */
    HK_ACCESS_SIGN_OUT /* any valid token; a "read" session included */
};

struct hk_route {
    const char *method;
    const char *pattern;
    hk_handler_fn fn;
    enum hk_access access;
};

extern const struct hk_route hk_routes[];
extern const size_t hk_routes_len;

/* HK_OK: *route and params set. HK_NOT_FOUND: no pattern matches the path.
 * HK_CONFLICT: the path matches, the method does not; allow lists the
 * methods that would (comma-separated). */
enum hk_result hk_router_match(const char *method, const char *path,
                               const struct hk_route **route,
                               char params[][129], int *nparams, char *allow,
                               size_t allowlen) HK_MUST_CHECK;

#endif
