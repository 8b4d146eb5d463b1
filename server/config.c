/*
 * config.c - hookd's settings: every HOOKD_* variable, its default, its
 * parser and its --help line. Everything is read once at start-up through
 * a lookup function (getenv in production, a table in the tests); the first
 * bad value stops loading with "HOOKD_X: why". An empty variable counts as
 * unset. Loading reads nothing but the variables; the hk_config_check_*
 * functions, run once at start-up, are the only ones here that look at
 * the machine (the resolver, the file system). What the settings mean at
 * run time belongs to the modules that use them.
 */
#include "config.h"
#include "validate.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEF_LISTEN "127.0.0.1:8080"
#define DEF_WEB_DIR "web"
#define DEF_RETRY "5s,5m,30m,2h,5h,10h,10h"
#define DEF_TIMEOUT "15s"
#define DEF_MAX_BODY "262144"
#define DEF_CLIENT_TIMEOUT "30s"
#define DEF_PUBLIC_URL "http://127.0.0.1:8080"
#define DEF_DISABLE_AFTER "5d"
#define DEF_RETENTION "30"
#define DEF_LOG_LEVEL "info"
#define DEF_HTTP_THREADS "16"
#define DEF_MAX_IN_FLIGHT "256"
#define DEF_SEND_THREADS "2"
#define DEF_PORTAL_NAME "hookd"
#define DEF_PORTAL_ACCENT "#4f46e5"
#define DEF_FRAME_ANCESTORS "'none'"
#define PORTAL_NAME_MAX 100
#define FRAME_ANCESTORS_MAX 1024

#define ADMIN_KEY_MIN 16
#define ADMIN_KEY_MAX 512
#define MAX_BODY_LIMIT ((size_t)64 * 1024 * 1024)
#define TIMEOUT_MAX_MS (3600LL * 1000)

const struct hk_config_doc hk_config_docs[] = {
    {"HOOKD_DATABASE_URL", NULL,
     "PostgreSQL connection string or URI (required)"},
    {"HOOKD_LISTEN", DEF_LISTEN,
     "address and port of the API and portal, host:port or [v6]:port"},
    {"HOOKD_ADMIN_KEY", NULL,
     "operator bearer token, at least 16 characters (required to serve)"},
    {"HOOKD_SECRET_KEY", NULL,
     "base64 of 32 random bytes that encrypt endpoint secrets at rest "
     "(required to serve; e.g. openssl rand -base64 32)"},
    {"HOOKD_WEB_DIR", DEF_WEB_DIR, "directory of the portal's static files"},
    {"HOOKD_RETRY_SCHEDULE", DEF_RETRY,
     "delays between attempts, each a number with ms, s, m, h or d"},
    {"HOOKD_REQUEST_TIMEOUT", DEF_TIMEOUT,
     "time limit of one delivery attempt, and of the wait for API "
     "requests in flight when stopping (duration; a bare number is "
     "seconds)"},
    {"HOOKD_MAX_BODY", DEF_MAX_BODY,
     "largest request body accepted, in bytes (k, KiB, M, MiB suffixes)"},
    {"HOOKD_CLIENT_TIMEOUT", DEF_CLIENT_TIMEOUT,
     "time a client has to send one whole API request, line, headers and "
     "body (duration; a bare number is seconds)"},
    {"HOOKD_ALLOW_PRIVATE_TARGETS", "false",
     "allow endpoints on loopback, private and other inward addresses"},
    {"HOOKD_PUBLIC_URL", DEF_PUBLIC_URL,
     "base URL users reach hookd at, for portal links"},
    {"HOOKD_DISABLE_AFTER", DEF_DISABLE_AFTER,
     "disable an endpoint whose deliveries failed for this long (duration)"},
    {"HOOKD_RETENTION_DAYS", DEF_RETENTION,
     "days that delivery attempts are kept"},
    {"HOOKD_LOG_LEVEL", DEF_LOG_LEVEL, "debug, info, warn or error"},
    {"HOOKD_HTTP_THREADS", DEF_HTTP_THREADS, "threads serving the API (1-256)"},
    {"HOOKD_DB_POOL", "HOOKD_HTTP_THREADS + 2",
     "database connections of the API pool"},
    {"HOOKD_MAX_IN_FLIGHT", DEF_MAX_IN_FLIGHT,
     "most delivery requests one dispatcher keeps in flight"},
    {"HOOKD_SEND_THREADS", DEF_SEND_THREADS,
     "threads sending deliveries (1-64); with 2 or more, receivers that "
     "open a new TLS connection for every delivery get threads of their "
     "own"},
    {"HOOKD_CA_FILE", NULL,
     "PEM bundle of CA certificates trusted for HTTPS deliveries in "
     "addition to the system's; read again on SIGHUP"},
    {"HOOKD_PORTAL_NAME", DEF_PORTAL_NAME,
     "product name the portal shows (1-100 characters)"},
    {"HOOKD_PORTAL_ACCENT", DEF_PORTAL_ACCENT,
     "accent colour of the portal, # and 6 hex digits"},
    {"HOOKD_PORTAL_FRAME_ANCESTORS", DEF_FRAME_ANCESTORS,
     "who may show the portal in a frame: 'none', or origins like "
     "https://app.example.com separated by spaces ('self' allowed)"},
};
const size_t hk_config_docs_len = HK_ARRAY_LEN(hk_config_docs);

struct loader {
    hk_getenv_fn get;
    void *ctx;
    char *err;
    size_t errlen;
};

static bool bad(struct loader *l, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool bad(struct loader *l, const char *name, const char *fmt, ...)
{
    if (l->err && l->errlen) {
        int n = snprintf(l->err, l->errlen, "%s: ", name);
        if (n >= 0 && (size_t)n < l->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(l->err + n, l->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return false;
}

/* The variable's value, or def when it is unset or empty. */
static const char *value(struct loader *l, const char *name, const char *def)
{
    const char *v = l->get(name, l->ctx);
    return v && *v ? v : def;
}

static bool parse_int(struct loader *l, const char *name, const char *def,
                      long lo, long hi, int *out)
{
    const char *v = value(l, name, def);
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end != '\0' || v[0] == ' ' || v[0] == '+')
        return bad(l, name, "must be a whole number, got \"%s\"", v);
    if (n < lo || n > hi)
        return bad(l, name, "must be between %ld and %ld, got %ld", lo, hi, n);
    *out = (int)n;
    return true;
}

static bool parse_duration(struct loader *l, const char *name, const char *def,
                           int64_t lo, int64_t hi, int64_t *out)
{
    const char *v = value(l, name, def);
    int64_t ms;
    size_t digits = strspn(v, "0123456789");
    if (digits > 0 && digits == strlen(v) && digits < 10) {
        /* A bare number is seconds. */
        ms = (int64_t)strtol(v, NULL, 10) * 1000;
    } else if (!hk_duration_parse(v, &ms)) {
        return bad(l, name,
                   "must be a duration like 15s, 500ms, 5m, 2h or 5d, got "
                   "\"%s\"",
                   v);
    }
    if (ms < lo || ms > hi)
        return bad(l, name, "must be between %" PRId64 "ms and %" PRId64 "ms",
                   lo, hi);
    *out = ms;
    return true;
}

static bool parse_bool(struct loader *l, const char *name, const char *def,
                       bool *out)
{
    const char *v = value(l, name, def);
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < HK_ARRAY_LEN(yes); i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return bad(l, name, "must be 1/0, true/false or yes/no, got \"%s\"", v);
}

/* Bytes, optionally with k/KiB/KB (1024) or M/MiB/MB (1048576). */
static bool parse_size(struct loader *l, const char *name, const char *def,
                       size_t lo, size_t hi, size_t *out)
{
    const char *v = value(l, name, def);
    char *end;
    errno = 0;
    if (v[0] < '0' || v[0] > '9')
        return bad(l, name, "must be a size in bytes like 262144 or 256KiB");
    unsigned long long n = strtoull(v, &end, 10);
    if (errno)
        return bad(l, name, "is too large");
    unsigned long long mult = 1;
    if (*end == '\0' || strcasecmp(end, "b") == 0)
        mult = 1;
    else if (strcasecmp(end, "k") == 0 || strcasecmp(end, "kb") == 0 ||
             strcasecmp(end, "kib") == 0)
        mult = 1024;
    else if (strcasecmp(end, "m") == 0 || strcasecmp(end, "mb") == 0 ||
             strcasecmp(end, "mib") == 0)
        mult = 1024 * 1024;
    else
        return bad(l, name, "must be a size in bytes like 262144 or 256KiB");
    if (n > hi / mult || n * mult < lo || n * mult > hi)
        return bad(l, name, "must be between %zu and %zu bytes", lo, hi);
    *out = (size_t)(n * mult);
    return true;
}

/* host:port, [v6]:port, or :port (default host). */
static bool parse_listen(struct loader *l, struct hk_config *cfg)
{
    const char *name = "HOOKD_LISTEN";
    const char *v = value(l, name, DEF_LISTEN);
    const char *colon;
    const char *host;
    size_t hostlen;
    if (v[0] == '[') {
        const char *close = strchr(v, ']');
        if (!close || close[1] != ':')
            return bad(l, name, "must be host:port or [ipv6]:port, got \"%s\"",
                       v);
        host = v + 1;
        hostlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(v, ':');
        if (!colon || strchr(v, ':') != colon)
            return bad(l, name, "must be host:port or [ipv6]:port, got \"%s\"",
                       v);
        host = v;
        hostlen = (size_t)(colon - v);
    }
    const char *port = colon + 1;
    char *end;
    errno = 0;
    long p = strtol(port, &end, 10);
    if (errno || end == port || *end != '\0' || port[0] < '0' ||
        port[0] > '9' || p < 1 || p > 65535)
        return bad(l, name, "port must be 1 to 65535, got \"%s\"", port);
    for (size_t i = 0; i < hostlen; i++) {
        unsigned char c = (unsigned char)host[i];
        if (c <= ' ' || c >= 0x7f || c == '/' || c == '[' || c == ']')
            return bad(l, name, "host has a character that is not allowed");
    }
    cfg->listen_host =
        hostlen ? hk_strndup(host, hostlen) : hk_strdup("127.0.0.1");
    cfg->listen_port = (int)p;
    return true;
}

static bool parse_admin_key(struct loader *l, struct hk_config *cfg, bool need)
{
    const char *name = "HOOKD_ADMIN_KEY";
    const char *v = value(l, name, NULL);
    if (!v)
        return need ? bad(l, name, "required") : true;
    size_t n = strlen(v);
    if (n < ADMIN_KEY_MIN)
        return bad(l, name, "must be at least %d characters", ADMIN_KEY_MIN);
    if (n > ADMIN_KEY_MAX)
        return bad(l, name, "must be at most %d characters", ADMIN_KEY_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c <= ' ' || c >= 0x7f)
            return bad(l, name,
                       "must be printable ASCII without spaces (it is sent "
                       "as a bearer token)");
    }
    cfg->admin_key = hk_strdup(v);
    return true;
}

static bool parse_secret_key(struct loader *l, struct hk_config *cfg, bool need)
{
    const char *name = "HOOKD_SECRET_KEY";
    const char *v = value(l, name, NULL);
    if (!v)
        return need ? bad(l, name, "required") : true;
    unsigned char *key;
    size_t keylen;
    if (hk_base64_decode(v, &key, &keylen) != HK_OK)
        return bad(l, name,
                   "must be standard base64 (e.g. openssl rand -base64 32)");
    bool ok = keylen == HK_AES_KEY_LEN;
    if (ok) {
        memcpy(cfg->secret_key, key, HK_AES_KEY_LEN);
        cfg->have_secret_key = true;
    }
    explicit_bzero(key, keylen);
    free(key);
    if (!ok)
        return bad(l, name, "must decode to exactly %d bytes, got %zu",
                   HK_AES_KEY_LEN, keylen);
    return true;
}

/* One source of a CSP frame-ancestors list as hookd accepts it: 'self',
 * or scheme://host[:port] where host may start with "*." and the
 * characters are those of a host name; nothing that could end the header
 * value or start another directive. */
static bool frame_source_ok(const char *s, size_t n)
{
    if (n == 6 && memcmp(s, "'self'", 6) == 0)
        return true;
    const char *sep = memchr(s, ':', n);
    if (sep == NULL || sep == s || (size_t)(s + n - sep) < 4 ||
        memcmp(sep, "://", 3) != 0)
        return false;
    for (const char *p = s; p < sep; p++)
        if (strchr("abcdefghijklmnopqrstuvwxyz0123456789+.-", *p) == NULL)
            return false;
    const char *host = sep + 3, *end = s + n;
    if (end - host >= 2 && host[0] == '*' && host[1] == '.')
        host += 2;
    if (host == end)
        return false;
    for (const char *p = host; p < end; p++)
        if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                   "0123456789.-:[]",
                   *p) == NULL)
            return false;
    return true;
}

static bool frame_ancestors_ok(const char *v)
{
    if (strcmp(v, "'none'") == 0)
        return true;
    size_t len = strlen(v);
    if (len > FRAME_ANCESTORS_MAX)
        return false;
    const char *p = v;
    for (;;) {
        size_t n = strcspn(p, " ");
        if (n == 0 || !frame_source_ok(p, n))
            return false;
        p += n;
        if (*p == '\0')
            return true;
        p++;
    }
}

static bool parse_public_url(struct loader *l, struct hk_config *cfg)
{
    const char *name = "HOOKD_PUBLIC_URL";
    const char *v = value(l, name, DEF_PUBLIC_URL);
    char msg[160];
    if (!hk_valid_url(v, true, msg, sizeof(msg)))
        return bad(l, name, "%s", msg);
    /* Stored without trailing slashes so "<url>/portal/" is well formed. */
    size_t n = strlen(v);
    const char *slashes = strstr(v, "://") + 3;
    while (n > (size_t)(slashes - v) && v[n - 1] == '/')
        n--;
    cfg->public_url = hk_strndup(v, n);
    return true;
}

static bool parse_portal(struct loader *l, struct hk_config *cfg)
{
    const char *name = value(l, "HOOKD_PORTAL_NAME", DEF_PORTAL_NAME);
    char msg[160];
    if (!hk_valid_name(name, msg, sizeof(msg)))
        return bad(l, "HOOKD_PORTAL_NAME", "%s", msg);
    if (strlen(name) > PORTAL_NAME_MAX)
        return bad(l, "HOOKD_PORTAL_NAME", "must be at most %d bytes",
                   PORTAL_NAME_MAX);
    const char *accent = value(l, "HOOKD_PORTAL_ACCENT", DEF_PORTAL_ACCENT);
    if (strlen(accent) != 7 || accent[0] != '#' ||
        strspn(accent + 1, "0123456789abcdefABCDEF") != 6)
        return bad(l, "HOOKD_PORTAL_ACCENT",
                   "must be # and 6 hex digits like #4f46e5, got \"%s\"",
                   accent);
    const char *fa =
        value(l, "HOOKD_PORTAL_FRAME_ANCESTORS", DEF_FRAME_ANCESTORS);
    if (!frame_ancestors_ok(fa))
        return bad(l, "HOOKD_PORTAL_FRAME_ANCESTORS",
                   "must be 'none', or origins like https://app.example.com "
                   "or 'self' separated by single spaces, got \"%s\"",
                   fa);
    cfg->portal_name = hk_strdup(name);
    cfg->portal_accent = hk_strdup(accent);
    cfg->portal_frame_ancestors = hk_strdup(fa);
    return true;
}

static bool load_all(struct loader *l, struct hk_config *cfg, bool need_keys)
{
    const char *db = value(l, "HOOKD_DATABASE_URL", NULL);
    if (!db)
        return bad(l, "HOOKD_DATABASE_URL", "required");
    cfg->database_url = hk_strdup(db);

    if (!parse_listen(l, cfg) || !parse_admin_key(l, cfg, need_keys) ||
        !parse_secret_key(l, cfg, need_keys))
        return false;

    cfg->web_dir = hk_strdup(value(l, "HOOKD_WEB_DIR", DEF_WEB_DIR));

    const char *sched = value(l, "HOOKD_RETRY_SCHEDULE", DEF_RETRY);
    if (hk_retry_parse(sched, &cfg->retry) != HK_OK)
        return bad(l, "HOOKD_RETRY_SCHEDULE",
                   "must be 1 to %d comma-separated durations like "
                   "5s,5m,30m,2h, got \"%s\"",
                   HK_RETRY_MAX_STEPS, sched);

    if (!parse_duration(l, "HOOKD_REQUEST_TIMEOUT", DEF_TIMEOUT, 1,
                        TIMEOUT_MAX_MS, &cfg->request_timeout_ms) ||
        !parse_size(l, "HOOKD_MAX_BODY", DEF_MAX_BODY, 1, MAX_BODY_LIMIT,
                    &cfg->max_body) ||
        !parse_duration(l, "HOOKD_CLIENT_TIMEOUT", DEF_CLIENT_TIMEOUT, 1000,
                        TIMEOUT_MAX_MS, &cfg->client_timeout_ms) ||
        !parse_bool(l, "HOOKD_ALLOW_PRIVATE_TARGETS", "false",
                    &cfg->allow_private_targets) ||
        !parse_public_url(l, cfg) ||
        !parse_duration(l, "HOOKD_DISABLE_AFTER", DEF_DISABLE_AFTER, 1000,
                        3650LL * 24 * 3600 * 1000, &cfg->disable_after_ms) ||
        !parse_int(l, "HOOKD_RETENTION_DAYS", DEF_RETENTION, 1, 3650,
                   &cfg->retention_days))
        return false;

    const char *lvl = value(l, "HOOKD_LOG_LEVEL", DEF_LOG_LEVEL);
    if (!hk_log_parse_level(lvl, &cfg->log_level))
        return bad(l, "HOOKD_LOG_LEVEL",
                   "must be debug, info, warn or error, got \"%s\"", lvl);

    if (!parse_int(l, "HOOKD_HTTP_THREADS", DEF_HTTP_THREADS, 1, 256,
                   &cfg->http_threads))
        return false;
    char pool_def[16];
    snprintf(pool_def, sizeof(pool_def), "%d", cfg->http_threads + 2);
    if (!parse_int(l, "HOOKD_DB_POOL", pool_def, 1, 1024, &cfg->db_pool_size) ||
        !parse_int(l, "HOOKD_MAX_IN_FLIGHT", DEF_MAX_IN_FLIGHT, 1, 100000,
                   &cfg->max_in_flight) ||
        !parse_int(l, "HOOKD_SEND_THREADS", DEF_SEND_THREADS, 1, 64,
                   &cfg->send_threads) ||
        !parse_portal(l, cfg))
        return false;
    /* Read (and checked) by trust.c at start-up: loading the settings
     * looks at nothing but the variables. */
    const char *ca = value(l, "HOOKD_CA_FILE", NULL);
    cfg->ca_file = ca ? hk_strdup(ca) : NULL;
    return true;
}

enum hk_result hk_config_load_from(struct hk_config *cfg, bool need_keys,
                                   hk_getenv_fn get, void *ctx, char *err,
                                   size_t errlen)
{
    struct loader l = {get, ctx, err, errlen};
    if (err && errlen)
        err[0] = '\0';
    if (!load_all(&l, cfg, need_keys)) {
        /* The caller gets a zeroed config back and frees nothing. */
        hk_config_cleanup(cfg);
        return HK_INVALID;
    }
    return HK_OK;
}

static const char *process_getenv(const char *name, void *ctx)
{
    (void)ctx;
    return getenv(name);
}

enum hk_result hk_config_load(struct hk_config *cfg, bool need_keys, char *err,
                              size_t errlen)
{
    return hk_config_load_from(cfg, need_keys, process_getenv, NULL, err,
                               errlen);
}

void hk_config_cleanup(struct hk_config *cfg)
{
    free(cfg->database_url);
    free(cfg->listen_host);
    if (cfg->admin_key) {
        explicit_bzero(cfg->admin_key, strlen(cfg->admin_key));
        free(cfg->admin_key);
    }
    free(cfg->web_dir);
    free(cfg->public_url);
    free(cfg->ca_file);
    free(cfg->portal_name);
    free(cfg->portal_accent);
    free(cfg->portal_frame_ancestors);
    explicit_bzero(cfg, sizeof(*cfg));
}

/* ---- start-up checks against the machine ---- */

enum hk_result hk_config_check_dir(const char *name, const char *path,
                                   char *err, size_t errlen)
{
    struct loader l = {NULL, NULL, err, errlen};
    /* a relative path starts where hookd was started, which is the usual
     * surprise: say where that is */
    char where[1100] = "";
    char cwd[1024];
    if (path[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL)
        snprintf(where, sizeof(where), " (relative to %s)", cwd);
    struct stat st;
    if (stat(path, &st) != 0) {
        bad(&l, name, "\"%s\"%s: %s", path, where, strerror(errno));
        return HK_INVALID;
    }
    if (!S_ISDIR(st.st_mode)) {
        bad(&l, name, "\"%s\"%s is not a directory", path, where);
        return HK_INVALID;
    }
    DIR *d = opendir(path);
    if (d == NULL || access(path, X_OK) != 0) {
        int e = errno;
        if (d != NULL)
            closedir(d);
        bad(&l, name, "cannot read the directory \"%s\"%s: %s", path, where,
            strerror(e));
        return HK_INVALID;
    }
    closedir(d);
    return HK_OK;
}

int hk_config_resolve_listen(const struct hk_config *cfg, struct addrinfo **ai)
{
    struct addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port[16];
    snprintf(port, sizeof(port), "%d", cfg->listen_port);
    *ai = NULL;
    int rc = getaddrinfo(cfg->listen_host, port, &hints, ai);
    if (rc == 0 && *ai == NULL)
        rc = EAI_NONAME;
    return rc;
}

enum hk_result hk_config_check_serving(const struct hk_config *cfg, char *err,
                                       size_t errlen)
{
    struct loader l = {NULL, NULL, err, errlen};
    struct addrinfo *ai;
    int rc = hk_config_resolve_listen(cfg, &ai);
    if (rc != 0) {
        const char *why =
            rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc);
        bad(&l, "HOOKD_LISTEN", "host \"%s\" does not resolve: %s",
            cfg->listen_host, why);
        return HK_INVALID;
    }
    freeaddrinfo(ai);
    return hk_config_check_dir("HOOKD_WEB_DIR", cfg->web_dir, err, errlen);
}
