/*
 * config.h - hookd's settings, read once from the environment at start-up.
 * A bad value stops start-up with one line naming the variable.
 */
#ifndef HK_CONFIG_H
#define HK_CONFIG_H

#include "common.h"
#include "crypto.h"
#include "log.h"
#include "retry.h"

struct hk_config {
    char *database_url;      /* HOOKD_DATABASE_URL (libpq conninfo or URI) */
    char *listen_host;       /* HOOKD_LISTEN host part, default 127.0.0.1 */
    int listen_port;         /* HOOKD_LISTEN port part, default 8080 */
    char *admin_key;         /* HOOKD_ADMIN_KEY, required for api/serve */
    unsigned char secret_key[HK_AES_KEY_LEN]; /* HOOKD_SECRET_KEY, base64 */
    bool have_secret_key;
    char *web_dir;           /* HOOKD_WEB_DIR, default "web" */
    struct hk_retry_schedule retry; /* HOOKD_RETRY_SCHEDULE */
    int64_t request_timeout_ms;     /* HOOKD_REQUEST_TIMEOUT, default 15s */
    size_t max_body;                /* HOOKD_MAX_BODY, default 256 KiB */
    int64_t client_timeout_ms; /* HOOKD_CLIENT_TIMEOUT, default 30s; 0: none */
    bool allow_private_targets;     /* HOOKD_ALLOW_PRIVATE_TARGETS */
    char *public_url;               /* HOOKD_PUBLIC_URL */
    int64_t disable_after_ms;       /* HOOKD_DISABLE_AFTER, default 5d */
    int retention_days;             /* HOOKD_RETENTION_DAYS, default 30 */
    enum hk_log_level log_level;    /* HOOKD_LOG_LEVEL, default info */
    int http_threads;               /* HOOKD_HTTP_THREADS, default 4 */
    int db_pool_size;               /* HOOKD_DB_POOL, default http_threads+2 */
    int max_in_flight;              /* HOOKD_MAX_IN_FLIGHT, default 256 */
    int send_threads;               /* HOOKD_SEND_THREADS, default 2 */
    char *ca_file; /* HOOKD_CA_FILE: PEM bundle trusted beside the system's,
                    * or NULL; read by trust.c at start-up and on SIGHUP */
    char *portal_name;              /* HOOKD_PORTAL_NAME, default hookd */
    char *portal_accent;            /* HOOKD_PORTAL_ACCENT, #rrggbb */
    char *portal_frame_ancestors;   /* HOOKD_PORTAL_FRAME_ANCESTORS */
};

/* One row per variable, for --help and the README. */
struct hk_config_doc {
    const char *name;
    const char *def;
    const char *help;
};
extern const struct hk_config_doc hk_config_docs[];
extern const size_t hk_config_docs_len;

/* Loads from getenv into cfg (zeroed by the caller). On failure returns
 * HK_INVALID and writes "HOOKD_X: why" into err. need_keys: admin and secret
 * key are required (serve/api/dispatch); migrate needs only the database. */
enum hk_result hk_config_load(struct hk_config *cfg, bool need_keys, char *err,
                              size_t errlen) HK_MUST_CHECK;
/* Same, but reading variables through a lookup function (for tests). */
typedef const char *(*hk_getenv_fn)(const char *name, void *ctx);
enum hk_result hk_config_load_from(struct hk_config *cfg, bool need_keys,
                                   hk_getenv_fn get, void *ctx, char *err,
                                   size_t errlen) HK_MUST_CHECK;
void hk_config_cleanup(struct hk_config *cfg);

/* Start-up checks against this machine, for the settings that name
 * something on it; the same "HOOKD_X: why" in err on HK_INVALID.
 * hk_config_check_dir: path (the value of variable name) is a directory
 * this process can list and enter. hk_config_check_serving: for a process
 * that serves the API and portal, the HOOKD_LISTEN host resolves and
 * HOOKD_WEB_DIR passes hk_config_check_dir. */
enum hk_result hk_config_check_dir(const char *name, const char *path,
                                   char *err, size_t errlen) HK_MUST_CHECK;
/* Resolves HOOKD_LISTEN as the API binds it (the first address is used).
 * Returns getaddrinfo's code (0 with *ai set; the caller frees it with
 * freeaddrinfo). */
struct addrinfo;
int hk_config_resolve_listen(const struct hk_config *cfg, struct addrinfo **ai);
enum hk_result hk_config_check_serving(const struct hk_config *cfg, char *err,
                                       size_t errlen) HK_MUST_CHECK;

#endif
