/*
 * main.c - the hookd command: `serve` (API, portal and dispatcher in one
 * process), `api`, `dispatch`, `migrate`, `--help`, `--version`. Reads and
 * checks the settings (every start-up failure is one line on stderr), sets
 * up logging, checks HOOKD_CA_FILE for the roles that deliver, starts the
 * roles, loads the trusted CAs (and loads them again on SIGHUP), and waits for SIGTERM or SIGINT
 * to shut them down in order: refuse new connections and let the API requests in
 * flight be answered (up to HOOKD_REQUEST_TIMEOUT), let in-flight
 * deliveries finish and be recorded, close the database.
 */
#include "app.h"
#include "common.h"
#include "config.h"
#include "db.h"
#include "dispatcher.h"
#include "fanout.h"
#include "ratelimit.h"
#include "http.h"
#include "log.h"
#include "migrate.h"
#include "notify.h"
#include "pgcheck.h"
#include "trust.h"

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

/* What can be checked before anything starts, each failure one line in
 * err naming its variable: the database URL's syntax and the migrations
 * folder for every command, the listen address and the portal's folder
 * for the roles that serve them. */
static enum hk_result check_setup(const struct hk_config *cfg, bool serving,
                                  char *err, size_t errlen)
{
    char why[400];
    if (hk_db_conninfo_check(cfg->database_url, why, sizeof(why)) != HK_OK) {
        snprintf(err, errlen,
                 "HOOKD_DATABASE_URL: not a PostgreSQL connection string or "
                 "URI: %s",
                 why);
        return HK_INVALID;
    }
    if (hk_config_check_dir("HOOKD_MIGRATIONS_DIR", migrations_dir(), err,
                            errlen) != HK_OK)
        return HK_INVALID;
    if (serving && hk_config_check_serving(cfg, err, errlen) != HK_OK)
        return HK_INVALID;
    return HK_OK;
}

static int cmd_migrate(struct hk_config *cfg)
{
    struct hk_conn *c;
    if (hk_conn_open(cfg->database_url, "hookd migrate", &c) != HK_OK)
        return 1;
    int applied = 0;
    enum hk_result rc = hk_migrate_run(c, migrations_dir(), &applied);
    long resealed = 0;
    if (rc == HK_OK)
        rc = hk_migrate_reseal(
            c, cfg->have_secret_key ? cfg->secret_key : NULL, &resealed);
    hk_conn_close(c);
    if (rc != HK_OK)
        return 1; /* logged by migrate.c with the file and the error */
    char n[16], r[24];
    snprintf(n, sizeof(n), "%d", applied);
    snprintf(r, sizeof(r), "%ld", resealed);
    hk_log_info("migrations current", "applied", n, "secrets_resealed", r);
    return 0;
}

/* What an ingest wakes: the dispatcher of this process at once, and the
 * others through a coalesced NOTIFY. */
struct wakers {
    struct hk_dispatcher *disp;
    struct hk_notifier *notifier;
};

static void wake_all(void *ctx, bool unowned)
{
    struct wakers *w = ctx;
    if (w->disp != NULL)
        hk_dispatcher_wake(w->disp, unowned);
    if (w->notifier != NULL)
        hk_notifier_poke(w->notifier, unowned);
}

/* Blocks the stop and reload signals in every thread, so that main can
 * sigwait. */
static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Says how many CA certificates HTTPS deliveries trust now. */
static void log_trust(const struct hk_config *cfg, const char *what)
{
    size_t total, extra;
    char t[24], x[24];
    hk_trust_counts(&total, &extra);
    snprintf(t, sizeof(t), "%zu", total);
    snprintf(x, sizeof(x), "%zu", extra);
    hk_log_info(what, "certificates", t, "from_ca_file", x, "ca_file",
                cfg->ca_file ? cfg->ca_file : "");
}

/* Loads the trusted CAs (again on SIGHUP, from the same files) for
 * connections made from now on; when they cannot be loaded the ones in
 * use stay. */
static void load_trust(const struct hk_config *cfg, const char *what)
{
    char err[700];
    if (hk_trust_load(cfg->ca_file, err, sizeof(err)) != HK_OK) {
        hk_log_error("cannot load the trusted CAs; the ones in use stay",
                     "error", err);
        return;
    }
    log_trust(cfg, what);
}

static int cmd_run(struct hk_config *cfg, bool api, bool dispatch)
{
    sigset_t set;
    block_signals(&set);

    struct hk_conn *check;
    if (hk_conn_open(cfg->database_url, "hookd migrate", &check) != HK_OK)
        return 1;
    enum hk_result rc = hk_migrate_check(check, migrations_dir());
    if (rc == HK_OK) {
        /* the API's pool, its group writers and its notifier */
        int conns = (api ? cfg->db_pool_size + HK_FANOUT_WRITERS + 1 : 0) +
                    (dispatch ? HK_DISPATCHER_CONNECTIONS : 0);
        hk_pgcheck_warn(check, conns);
    }
    hk_conn_close(check);
    if (rc == HK_CONFLICT) {
        fprintf(stderr, "hookd: the database is not migrated; run "
                        "`hookd migrate` first\n");
        return 1;
    }
    if (rc != HK_OK)
        return 1; /* logged by migrate.c */

    struct hk_app app = {.cfg = cfg, .migrations_dir = migrations_dir()};
    struct wakers wakers = {0};
    struct hk_http *http = NULL;
    int status = 1;
    /* a database that cannot be reached is logged where it is found
     * (HK_DB); what fails silently below it is said here, once */
    const char *failed = NULL;
    if (dispatch && (rc = hk_dispatcher_start(cfg, &wakers.disp)) != HK_OK) {
        failed = "the dispatcher";
        goto out;
    }
    if (api) {
        rc = hk_notifier_start(cfg->database_url, &wakers.notifier);
        if (rc != HK_OK) {
            failed = "the notifier";
            goto out;
        }
        app.wake = wake_all;
        app.wake_ctx = &wakers;
        app.rate = hk_rate_new();
        app.fanout =
            hk_fanout_new(hk_store_event_ingest_group, HK_FANOUT_WRITERS,
                          cfg->database_url, wake_all, &wakers);
        rc = hk_db_new(cfg->database_url, "hookd api", cfg->db_pool_size,
                       &app.db);
        if (rc != HK_OK)
            goto out;
        if (hk_http_start(&app, &http) != HK_OK)
            goto out; /* logged by http.c */
        char addr[300];
        snprintf(addr, sizeof(addr), "http://%s:%d", cfg->listen_host,
                 cfg->listen_port);
        hk_log_info("listening", "address", addr, "version", HK_VERSION);
    }
    hk_log_info("started", "role",
                api && dispatch ? "serve" : (api ? "api" : "dispatch"));
    /* the system's CAs are parsed here, once the API is answering, rather
     * than before it starts: on a busy host that takes a while */
    if (dispatch)
        load_trust(cfg, "trusted CAs loaded");
    siginfo_t si;
    int sig;
    for (;;) {
        sig = sigwaitinfo(&set, &si);
        if (sig == SIGHUP && dispatch)
            load_trust(cfg, "trusted CAs reloaded");
        else if (sig == SIGTERM || sig == SIGINT)
            break;
    }
    /* who asked: an unexpected stop is then one `ps` away from its cause */
    char from[16];
    snprintf(from, sizeof(from), "%ld", (long)si.si_pid);
    hk_log_info("stopping", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                "sender_pid", from);
    status = 0;
out:
    if (failed != NULL && rc != HK_DB)
        fprintf(stderr, "hookd: cannot start %s: %s\n", failed,
                hk_result_str(rc));
    /* the API first: an ingest answered here may still wake the
     * dispatcher and the notifier, which stop after it */
    hk_http_stop(http, cfg->request_timeout_ms);
    hk_fanout_free(app.fanout);
    hk_rate_free(app.rate);
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
    if (check_setup(&cfg, serve || api, err, sizeof(err)) != HK_OK) {
        fprintf(stderr, "hookd: %s\n", err);
        hk_config_cleanup(&cfg);
        return 2;
    }
    hk_log_set_level(cfg.log_level);
    /* the roles that deliver check HOOKD_CA_FILE before anything starts;
     * the whole store is loaded once they have started */
    if ((serve || dispatch) &&
        hk_trust_check(cfg.ca_file, err, sizeof(err)) != HK_OK) {
        fprintf(stderr, "hookd: %s\n", err);
        hk_config_cleanup(&cfg);
        return 2;
    }
    int status = migrate ? cmd_migrate(&cfg)
                         : cmd_run(&cfg, serve || api, serve || dispatch);
    hk_trust_cleanup();
    hk_config_cleanup(&cfg);
    return status;
}
