/*
 * main.c - the hookd command: `serve` (API, portal and dispatcher in one
 * process), `api`, `dispatch`, `migrate`, `--help`, `--version`. Reads the
 * settings, sets up logging, starts the roles, and waits for SIGTERM or
 * SIGINT to shut them down in order: refuse new connections and let the
 * API requests in flight be answered (up to HOOKD_REQUEST_TIMEOUT), let
 * in-flight deliveries finish and be recorded, close the database.
 */
#include "app.h"
#include "common.h"
#include "config.h"
#include "db.h"
#include "dispatcher.h"
#include "http.h"
#include "log.h"
#include "migrate.h"
#include "notify.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "hookd %s - multi-tenant webhook delivery\n\n"
            "Usage: hookd <command>\n\n"
            "Commands:\n"
            "  serve     API, portal and dispatcher in one process\n"
            "  api       the API and portal only\n"
            "  dispatch  the dispatcher only\n"
            "  migrate   apply database migrations and exit\n"
            "  --help    this text\n"
            "  --version the version\n\n"
            "Settings (environment):\n",
            HK_VERSION);
    for (size_t i = 0; i < hk_config_docs_len; i++)
        fprintf(out, "  %-28s %s (default: %s)\n", hk_config_docs[i].name,
                hk_config_docs[i].help,
                hk_config_docs[i].def ? hk_config_docs[i].def : "none");
    fprintf(out, "  %-28s %s (default: %s)\n", "HOOKD_MIGRATIONS_DIR",
            "folder of NNNN_name.sql migrations", "migrations");
}

static const char *migrations_dir(void)
{
    const char *d = getenv("HOOKD_MIGRATIONS_DIR");
    return d && *d ? d : "migrations";
}

static int cmd_migrate(struct hk_config *cfg)
{
    struct hk_conn *c;
    if (hk_conn_open(cfg->database_url, &c) != HK_OK)
        return 1;
    int applied = 0;
    enum hk_result rc = hk_migrate_run(c, migrations_dir(), &applied);
    hk_conn_close(c);
    if (rc != HK_OK) {
        fprintf(stderr, "hookd: migrate failed: %s\n", hk_result_str(rc));
        return 1;
    }
    char n[16];
    snprintf(n, sizeof(n), "%d", applied);
    hk_log_info("migrations current", "applied", n);
    return 0;
}

/* What an ingest wakes: the dispatcher of this process at once, and the
 * others through a coalesced NOTIFY. */
struct wakers {
    struct hk_dispatcher *disp;
    struct hk_notifier *notifier;
};

static void wake_all(void *ctx)
{
    struct wakers *w = ctx;
    if (w->disp != NULL)
        hk_dispatcher_wake(w->disp);
    if (w->notifier != NULL)
        hk_notifier_poke(w->notifier);
}

/* Blocks the stop signals in every thread, so that main can sigwait. */
static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int cmd_run(struct hk_config *cfg, bool api, bool dispatch)
{
    sigset_t set;
    block_signals(&set);

    struct hk_conn *check;
    if (hk_conn_open(cfg->database_url, &check) != HK_OK)
        return 1;
    enum hk_result rc = hk_migrate_check(check, migrations_dir());
    hk_conn_close(check);
    if (rc == HK_CONFLICT) {
        fprintf(stderr, "hookd: the database is not migrated; run "
                        "`hookd migrate` first\n");
        return 1;
    }
    if (rc != HK_OK) {
        fprintf(stderr, "hookd: cannot read the migration state: %s\n",
                hk_result_str(rc));
        return 1;
    }

    struct hk_app app = {.cfg = cfg, .migrations_dir = migrations_dir()};
    struct wakers wakers = {0};
    struct hk_http *http = NULL;
    int status = 1;
    if (dispatch && hk_dispatcher_start(cfg, &wakers.disp) != HK_OK)
        goto out;
    if (api) {
        if (hk_notifier_start(cfg->database_url, &wakers.notifier) != HK_OK)
            goto out;
        app.wake = wake_all;
        app.wake_ctx = &wakers;
        if (hk_db_new(cfg->database_url, cfg->db_pool_size, &app.db) != HK_OK)
            goto out;
        if (hk_http_start(&app, &http) != HK_OK)
            goto out;
        char addr[300];
        snprintf(addr, sizeof(addr), "http://%s:%d", cfg->listen_host,
                 cfg->listen_port);
        hk_log_info("listening", "address", addr, "version", HK_VERSION);
    }
    hk_log_info("started", "role",
                api && dispatch ? "serve" : (api ? "api" : "dispatch"));
    int sig = 0;
    sigwait(&set, &sig);
    hk_log_info("stopping", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    status = 0;
out:
    /* the API first: an ingest answered here may still wake the
     * dispatcher and the notifier, which stop after it */
    hk_http_stop(http, cfg->request_timeout_ms);
    hk_notifier_stop(wakers.notifier);
    hk_dispatcher_stop(wakers.disp);
    hk_db_free(app.db);
    if (status == 0)
        hk_log_info("stopped");
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
        strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("hookd %s\n", HK_VERSION);
        return 0;
    }
    bool migrate = strcmp(cmd, "migrate") == 0;
    bool serve = strcmp(cmd, "serve") == 0;
    bool api = strcmp(cmd, "api") == 0;
    bool dispatch = strcmp(cmd, "dispatch") == 0;
    if (!migrate && !serve && !api && !dispatch) {
        fprintf(stderr, "hookd: unknown command '%s' (see hookd --help)\n",
                cmd);
        return 2;
    }
    hk_json_init();
    struct hk_config cfg = {0};
    char err[512];
    if (hk_config_load(&cfg, !migrate, err, sizeof(err)) != HK_OK) {
        fprintf(stderr, "hookd: %s\n", err);
        return 2;
    }
    hk_log_set_level(cfg.log_level);
    int status = migrate ? cmd_migrate(&cfg)
                         : cmd_run(&cfg, serve || api, serve || dispatch);
    hk_config_cleanup(&cfg);
    return status;
}
