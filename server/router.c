/*
 * router.c - hookd's route table and matcher. The table is the single
 * list of what the API offers; /openapi.json is checked against it by the
 * tests. Patterns are literal segments and {} placeholders that capture one
 * path segment of at most 128 bytes.
 */
#include "router.h"
#include "api.h"

#include <stdio.h>
#include <string.h>

const struct hk_route hk_routes[] = {
    {"GET", "/healthz", hk_api_healthz, HK_ACCESS_PUBLIC},
    {"GET", "/readyz", hk_api_readyz, HK_ACCESS_PUBLIC},
    {"GET", "/metrics", hk_api_metrics, HK_ACCESS_PUBLIC},
    {"GET", "/openapi.json", hk_api_openapi, HK_ACCESS_PUBLIC},
    {"GET", "/v1/me", hk_api_me, HK_ACCESS_ANY},
    {"DELETE", "/v1/me/session", hk_api_me_session_delete,
     HK_ACCESS_SIGN_OUT},
    {"GET", "/v1/portal/config", hk_api_portal_config, HK_ACCESS_PUBLIC},

    {"POST", "/v1/tenants", hk_api_tenant_create, HK_ACCESS_ADMIN},
    {"GET", "/v1/tenants", hk_api_tenant_list, HK_ACCESS_ADMIN},
    {"GET", "/v1/tenants/{}", hk_api_tenant_get, HK_ACCESS_TENANT},
    {"PATCH", "/v1/tenants/{}", hk_api_tenant_patch, HK_ACCESS_ADMIN},
    {"DELETE", "/v1/tenants/{}", hk_api_tenant_delete, HK_ACCESS_ADMIN},

    {"POST", "/v1/tenants/{}/api-keys", hk_api_key_create, HK_ACCESS_ADMIN},
    {"GET", "/v1/tenants/{}/api-keys", hk_api_key_list, HK_ACCESS_ADMIN},
    {"DELETE", "/v1/tenants/{}/api-keys/{}", hk_api_key_delete,
     HK_ACCESS_ADMIN},
    {"POST", "/v1/tenants/{}/portal-sessions", hk_api_session_create,
     HK_ACCESS_ADMIN},
    {"GET", "/v1/tenants/{}/portal-sessions", hk_api_session_list,
     HK_ACCESS_ADMIN},
    {"DELETE", "/v1/tenants/{}/portal-sessions/{}", hk_api_session_delete,
     HK_ACCESS_ADMIN},

    {"POST", "/v1/event-types", hk_api_event_type_create, HK_ACCESS_ADMIN},
    {"GET", "/v1/event-types", hk_api_event_type_list, HK_ACCESS_ANY},
    {"PATCH", "/v1/event-types/{}", hk_api_event_type_patch, HK_ACCESS_ADMIN},

    {"POST", "/v1/tenants/{}/endpoints", hk_api_endpoint_create,
     HK_ACCESS_TENANT},
    {"GET", "/v1/tenants/{}/endpoints", hk_api_endpoint_list,
     HK_ACCESS_TENANT},
    {"GET", "/v1/tenants/{}/endpoints/{}", hk_api_endpoint_get,
     HK_ACCESS_TENANT},
    {"PATCH", "/v1/tenants/{}/endpoints/{}", hk_api_endpoint_patch,
     HK_ACCESS_TENANT},
    {"DELETE", "/v1/tenants/{}/endpoints/{}", hk_api_endpoint_delete,
     HK_ACCESS_TENANT},
    {"GET", "/v1/tenants/{}/endpoints/{}/secret", hk_api_endpoint_secret,
     HK_ACCESS_SECRET},
    {"POST", "/v1/tenants/{}/endpoints/{}/secret/rotate",
     hk_api_endpoint_rotate, HK_ACCESS_TENANT},
    {"POST", "/v1/tenants/{}/endpoints/{}/test", hk_api_endpoint_test,
     HK_ACCESS_TENANT},
    {"POST", "/v1/tenants/{}/endpoints/{}/recover", hk_api_endpoint_recover,
     HK_ACCESS_TENANT},

    {"POST", "/v1/tenants/{}/events", hk_api_event_create, HK_ACCESS_TENANT},
    {"GET", "/v1/tenants/{}/events", hk_api_event_list, HK_ACCESS_TENANT},
    {"GET", "/v1/tenants/{}/events/{}", hk_api_event_get, HK_ACCESS_TENANT},
    {"GET", "/v1/tenants/{}/deliveries", hk_api_delivery_list,
     HK_ACCESS_TENANT},
    {"GET", "/v1/tenants/{}/deliveries/{}", hk_api_delivery_get,
     HK_ACCESS_TENANT},
    {"GET", "/v1/tenants/{}/deliveries/{}/attempts", hk_api_attempt_list,
     HK_ACCESS_TENANT},
    {"POST", "/v1/tenants/{}/deliveries/{}/replay", hk_api_delivery_replay,
     HK_ACCESS_TENANT},
    {"POST", "/v1/tenants/{}/deliveries/{}/skip", hk_api_delivery_skip,
     HK_ACCESS_TENANT},
    {"GET", "/v1/tenants/{}/stats", hk_api_stats, HK_ACCESS_TENANT},
    {"GET", "/v1/tenants/{}/changes", hk_api_changes, HK_ACCESS_TENANT},
};
const size_t hk_routes_len = HK_ARRAY_LEN(hk_routes);

/* Matches one pattern against path; fills params on success. */
static bool match(const char *pattern, const char *path, char params[][129],
                  int *nparams)
{
    const char *p = pattern, *s = path;
    int n = 0;
    while (*p != '\0' && *s != '\0') {
        if (p[0] == '{' && p[1] == '}') {
            size_t len = strcspn(s, "/");
            if (len == 0 || len > 128 || n >= HK_MAX_PATH_PARAMS)
                return false;
            memcpy(params[n], s, len);
            params[n][len] = '\0';
            n++;
            s += len;
            p += 2;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    /* exact match only: a trailing slash could hide a cut id ("/x/%00"
     * arrives as "/x/") behind the list route */
    if (*p == '\0' && *s == '\0') {
        *nparams = n;
        return true;
    }
    return false;
}

enum hk_result hk_router_match(const char *method, const char *path,
                               const struct hk_route **route,
                               char params[][129], int *nparams, char *allow,
                               size_t allowlen)
{
    bool path_known = false;
    size_t used = 0;
    allow[0] = '\0';
    for (size_t i = 0; i < hk_routes_len; i++) {
        const struct hk_route *r = &hk_routes[i];
        if (!match(r->pattern, path, params, nparams))
            continue;
        if (strcmp(r->method, method) == 0) {
            *route = r;
            return HK_OK;
        }
        path_known = true;
        int w = snprintf(allow + used, allowlen - used, "%s%s",
                         used ? ", " : "", r->method);
        if (w > 0 && (size_t)w < allowlen - used)
            used += (size_t)w;
    }
    *route = NULL;
    return path_known ? HK_CONFLICT : HK_NOT_FOUND;
}
