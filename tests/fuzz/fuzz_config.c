/*
 * fuzz_config.c - hookd's settings read from arbitrary values. The input
 * is lines; a line's first byte picks a variable of hk_config_docs and the
 * rest is its value (HOOKD_DATABASE_URL gets a value when no line gives
 * one). A refused setting says which variable in "HOOKD_X: why" and
 * leaves nothing allocated; an accepted one lies in the documented
 * ranges, and what goes into HTTP headers (the frame-ancestors list, the
 * accent colour, the public URL) cannot end or split a header.
 */
#include "fuzz.h"

#include "common.h"
#include "config.h"
#include "validate.h"

#define MAX_VARS 32

struct env {
    const char *names[MAX_VARS];
    const char *values[MAX_VARS];
    int n;
};

static const char *lookup(const char *name, void *ctx)
{
    struct env *e = ctx;
    for (int i = e->n - 1; i >= 0; i--)
        if (strcmp(e->names[i], name) == 0)
            return e->values[i];
    if (strcmp(name, "HOOKD_DATABASE_URL") == 0)
        return "postgresql://hookd@127.0.0.1/hookd";
    return NULL;
}

static void check_header_safe(const char *what, const char *v)
{
    for (const char *p = v; *p; p++)
        FUZZ_CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f &&
                       *p != ';' && *p != ',',
                   "%s holds byte 0x%02x: %s", what, (unsigned char)*p, v);
}

static void check_accepted(const struct hk_config *c)
{
    FUZZ_CHECK(c->database_url != NULL, "no database URL");
    FUZZ_CHECK(c->listen_port >= 1 && c->listen_port <= 65535, "port %d",
               c->listen_port);
    FUZZ_CHECK(c->listen_host != NULL && c->listen_host[0] != '\0',
               "no listen host");
    for (const char *p = c->listen_host; *p; p++)
        FUZZ_CHECK((unsigned char)*p > ' ' && (unsigned char)*p < 0x7f,
                   "listen host byte 0x%02x", (unsigned char)*p);
    FUZZ_CHECK(c->retry.n >= 1 && c->retry.n <= HK_RETRY_MAX_STEPS,
               "%d retry steps", c->retry.n);
    FUZZ_CHECK(c->request_timeout_ms >= 1, "timeout %lld",
               (long long)c->request_timeout_ms);
    FUZZ_CHECK(c->max_body >= 1, "max body %zu", c->max_body);
    FUZZ_CHECK(c->disable_after_ms >= 1000, "disable after %lld",
               (long long)c->disable_after_ms);
    FUZZ_CHECK(c->retention_days >= 1 && c->retention_days <= 3650,
               "retention %d", c->retention_days);
    FUZZ_CHECK(c->http_threads >= 1 && c->http_threads <= 256, "threads %d",
               c->http_threads);
    FUZZ_CHECK(c->db_pool_size >= 1 && c->db_pool_size <= 1024, "pool %d",
               c->db_pool_size);
    FUZZ_CHECK(c->max_in_flight >= 1, "in flight %d", c->max_in_flight);
    char msg[160];
    FUZZ_CHECK(hk_valid_url(c->public_url, true, msg, sizeof(msg)),
               "public URL %s: %s", c->public_url, msg);
    size_t n = strlen(c->public_url);
    FUZZ_CHECK(n > 0 && c->public_url[n - 1] != '/',
               "public URL ends with a slash: %s", c->public_url);
    FUZZ_CHECK(hk_valid_name(c->portal_name, msg, sizeof(msg)),
               "portal name: %s", msg);
    FUZZ_CHECK(strlen(c->portal_accent) == 7 && c->portal_accent[0] == '#',
               "accent %s", c->portal_accent);
    check_header_safe("accent", c->portal_accent);
    check_header_safe("frame ancestors", c->portal_frame_ancestors);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool need_keys = data[0] & 1;
    char *s = fuzz_str(data + 1, size - 1);
    struct env e = {.n = 0};
    for (char *line = s; line != NULL && e.n < MAX_VARS;) {
        char *next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if (line[0] != '\0') {
            e.names[e.n] =
                hk_config_docs[(unsigned char)line[0] % hk_config_docs_len]
                    .name;
            e.values[e.n] = line + 1;
            e.n++;
        }
        line = next;
    }
    struct hk_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    char err[512];
    if (hk_config_load_from(&cfg, need_keys, lookup, &e, err, sizeof(err)) ==
        HK_OK) {
        check_accepted(&cfg);
        if (need_keys)
            FUZZ_CHECK(cfg.admin_key != NULL && cfg.have_secret_key,
                       "keys missing");
        hk_config_cleanup(&cfg);
    } else {
        FUZZ_CHECK(strncmp(err, "HOOKD_", 6) == 0 && strchr(err, ':') != NULL,
                   "error without its variable: %s", err);
        FUZZ_CHECK(cfg.database_url == NULL && cfg.listen_host == NULL &&
                       cfg.portal_name == NULL,
                   "a refused config keeps memory");
    }
    free(s);
    return 0;
}
