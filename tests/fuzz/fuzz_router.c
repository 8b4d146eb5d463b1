/*
 * fuzz_router.c - route matching on arbitrary methods and paths ("METHOD
 * path" per input). A match names a route of that method whose pattern,
 * with the captured ids put back in their {} places, is exactly the path
 * (so no id holds a '/', and nothing is cut or skipped); a 405's Allow
 * list holds only methods that do match the path, never the one asked.
 */
#include "fuzz.h"

#include "common.h"
#include "router.h"

/* The pattern with params substituted, into out. */
static void rebuild(const char *pattern, char params[][129], int n,
                    struct hk_buf *out)
{
    int k = 0;
    for (const char *p = pattern; *p; p++) {
        if (p[0] == '{' && p[1] == '}') {
            FUZZ_CHECK(k < n, "fewer ids than {} in %s", pattern);
            hk_buf_puts(out, params[k++]);
            p++;
        } else {
            hk_buf_append(out, p, 1);
        }
    }
    FUZZ_CHECK(k == n, "%d ids for %s", n, pattern);
    hk_buf_append(out, "", 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_str(data, size);
    char *path = strchr(s, ' ');
    if (path == NULL) {
        free(s);
        return 0;
    }
    *path++ = '\0';
    const char *method = s;
    const struct hk_route *route = NULL;
    char params[HK_MAX_PATH_PARAMS][129];
    int n = -1;
    char allow[256];
    enum hk_result rc =
        hk_router_match(method, path, &route, params, &n, allow, sizeof(allow));
    if (rc == HK_OK) {
        FUZZ_CHECK(route != NULL && strcmp(route->method, method) == 0,
                   "%s %s matched another method", method, path);
        FUZZ_CHECK(n >= 0 && n <= HK_MAX_PATH_PARAMS, "%d ids", n);
        for (int i = 0; i < n; i++)
            FUZZ_CHECK(params[i][0] != '\0' && strchr(params[i], '/') == NULL,
                       "id \"%s\" in %s", params[i], path);
        struct hk_buf b;
        hk_buf_init(&b);
        rebuild(route->pattern, params, n, &b);
        FUZZ_CHECK(strcmp(b.data, path) == 0, "%s rebuilt as %s", path, b.data);
        hk_buf_cleanup(&b);
    } else if (rc == HK_CONFLICT) {
        FUZZ_CHECK(allow[0] != '\0', "405 without Allow for %s", path);
        char *list = hk_strdup(allow);
        for (char *m = strtok(list, ", "); m; m = strtok(NULL, ", ")) {
            FUZZ_CHECK(strcmp(m, method) != 0, "Allow lists %s for %s", m,
                       path);
            const struct hk_route *r2;
            char p2[HK_MAX_PATH_PARAMS][129];
            int n2;
            char a2[256];
            FUZZ_CHECK(hk_router_match(m, path, &r2, p2, &n2, a2, sizeof(a2)) ==
                           HK_OK,
                       "Allow lists %s, which does not match %s", m, path);
        }
        free(list);
    } else {
        FUZZ_CHECK(rc == HK_NOT_FOUND, "result %d", (int)rc);
        FUZZ_CHECK(route == NULL, "a route on 404");
    }
    free(s);
    return 0;
}
