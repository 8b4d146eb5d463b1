/*
 * loadgen.c - the benchmark's HTTP load generator. It POSTs a JSON body
 * to one URL over N kept-alive connections with libcurl's multi
 * interface, either a fixed number of requests as fast as they are
 * answered (-n) or at a fixed rate for a fixed time (-r, -s). The body is
 * a template: {{now_us}} becomes the Unix time in microseconds at which
 * that request is handed to libcurl, {{seq}} its sequence number. At the
 * end it prints one JSON object on stdout: requests, duration, rate,
 * counts per status code (0 = no response), and latency p50/p90/p99/max
 * measured from hand-over to the last byte of the answer. It knows
 * nothing of hookd; the same binary measures the raw HTTP ceiling against
 * the sink.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEADERS 16
#define ERR_BODY_KEEP 512

/* A template is split once into literal pieces and placeholders. */
enum piece_kind { PIECE_TEXT, PIECE_NOW_US, PIECE_SEQ };
struct piece {
    enum piece_kind kind;
    const char *text;
    size_t len;
};

struct slot {
    CURL *easy;
    char *body;
    size_t body_cap;
    int64_t started_us;
    char resp[ERR_BODY_KEEP]; /* the answer's first bytes */
    size_t resp_len;
};

static struct piece *pieces;
static size_t npieces;

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(1);
    }
    return p;
}

static void parse_template(const char *t)
{
    size_t cap = 8;
    pieces = xmalloc(cap * sizeof(*pieces));
    const char *p = t;
    while (*p) {
        if (npieces + 2 > cap) {
            cap *= 2;
            pieces = realloc(pieces, cap * sizeof(*pieces));
            if (!pieces)
                exit(1);
        }
        const char *a = strstr(p, "{{now_us}}");
        const char *b = strstr(p, "{{seq}}");
        const char *next = a && (!b || a < b) ? a : b;
        if (!next) {
            pieces[npieces++] = (struct piece){PIECE_TEXT, p, strlen(p)};
            break;
        }
        if (next > p)
            pieces[npieces++] =
                (struct piece){PIECE_TEXT, p, (size_t)(next - p)};
        if (next == a) {
            pieces[npieces++] = (struct piece){PIECE_NOW_US, NULL, 0};
            p = next + strlen("{{now_us}}");
        } else {
            pieces[npieces++] = (struct piece){PIECE_SEQ, NULL, 0};
            p = next + strlen("{{seq}}");
        }
    }
}

/* Renders the template into the slot's buffer; returns the length. */
static size_t render(struct slot *s, uint64_t seq)
{
    size_t need = 1;
    for (size_t i = 0; i < npieces; i++)
        need += pieces[i].kind == PIECE_TEXT ? pieces[i].len : 24;
    if (need > s->body_cap) {
        free(s->body);
        s->body = xmalloc(need);
        s->body_cap = need;
    }
    size_t len = 0;
    for (size_t i = 0; i < npieces; i++) {
        const struct piece *pc = &pieces[i];
        if (pc->kind == PIECE_TEXT) {
            memcpy(s->body + len, pc->text, pc->len);
            len += pc->len;
        } else {
            uint64_t v = pc->kind == PIECE_SEQ ? seq : (uint64_t)wall_us();
            len += (size_t)snprintf(s->body + len, s->body_cap - len,
                                    "%" PRIu64, v);
        }
    }
    s->body[len] = '\0';
    return len;
}

/* Keeps the first bytes of each answer, for the report of the first
 * failure; the rest is read and dropped. */
static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct slot *s = ud;
    size_t n = size * nmemb;
    size_t room = sizeof(s->resp) - 1 - s->resp_len;
    size_t take = n < room ? n : room;
    memcpy(s->resp + s->resp_len, ptr, take);
    s->resp_len += take;
    return n;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(const int64_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return (double)v[i] / 1000.0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen -u URL -c CONNS (-n COUNT | -r RATE -s SECONDS)\n"
            "               [-b BODY | -f BODYFILE] [-a TOKEN] [-H HEADER]...\n"
            "               [-t TIMEOUT_MS]\n"
            "  BODY may hold {{now_us}} and {{seq}}\n");
}

static double arg_num(const char *s, double lo, double hi)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= lo && v <= hi)) {
        usage();
        exit(2);
    }
    return v;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "loadgen: cannot open %s\n", path);
        exit(2);
    }
    size_t cap = 4096, len = 0;
    char *s = xmalloc(cap);
    size_t n;
    while ((n = fread(s + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0) {
            cap *= 2;
            s = realloc(s, cap);
            if (!s)
                exit(1);
        }
    }
    fclose(f);
    while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
        len--;
    s[len] = '\0';
    return s;
}

int main(int argc, char **argv)
{
    const char *url = NULL, *token = NULL;
    char *body_tpl = NULL;
    const char *headers[MAX_HEADERS];
    size_t nheaders = 0;
    long conns = 0, timeout_ms = 30000;
    uint64_t total = 0;
    double rate = 0, seconds = 0;
    int opt;
    while ((opt = getopt(argc, argv, "u:c:n:r:s:b:f:a:H:t:h")) != -1) {
        switch (opt) {
        case 'u':
            url = optarg;
            break;
        case 'c':
            conns = (long)arg_num(optarg, 1, 10000);
            break;
        case 'n':
            total = (uint64_t)arg_num(optarg, 1, 1e9);
            break;
        case 'r':
            rate = arg_num(optarg, 0.001, 1e7);
            break;
        case 's':
            seconds = arg_num(optarg, 0.001, 86400);
            break;
        case 'b':
            body_tpl = optarg;
            break;
        case 'f':
            body_tpl = read_file(optarg);
            break;
        case 'a':
            token = optarg;
            break;
        case 'H':
            if (nheaders == MAX_HEADERS) {
                usage();
                return 2;
            }
            headers[nheaders++] = optarg;
            break;
        case 't':
            timeout_ms = (long)arg_num(optarg, 1, 3600000);
            break;
        default:
            usage();
            return 2;
        }
    }
    bool rate_mode = rate > 0;
    if (!url || !conns || (rate_mode ? seconds <= 0 || total : !total)) {
        usage();
        return 2;
    }
    if (rate_mode)
        total = (uint64_t)llround(rate * seconds);
    if (total == 0) {
        usage();
        return 2;
    }
    parse_template(body_tpl ? body_tpl : "{}");

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "loadgen: curl_global_init failed\n");
        return 1;
    }
    struct curl_slist *hl = NULL;
    hl = curl_slist_append(hl, "Content-Type: application/json");
    hl = curl_slist_append(hl, "Expect:");
    char auth[1024];
    if (token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        hl = curl_slist_append(hl, auth);
    }
    for (size_t i = 0; i < nheaders; i++)
        hl = curl_slist_append(hl, headers[i]);

    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, conns);
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, conns);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, conns);
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);

    struct slot *slots = xmalloc((size_t)conns * sizeof(*slots));
    size_t *free_slots = xmalloc((size_t)conns * sizeof(*free_slots));
    size_t nfree = 0;
    bool failure_shown = false;
    for (long i = 0; i < conns; i++) {
        struct slot *s = &slots[i];
        memset(s, 0, sizeof(*s));
        s->easy = curl_easy_init();
        curl_easy_setopt(s->easy, CURLOPT_URL, url);
        curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(s->easy, CURLOPT_HTTP_VERSION,
                         (long)CURL_HTTP_VERSION_1_1);
        curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
        curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(s->easy, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
        curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
        free_slots[nfree++] = (size_t)i;
    }

    int64_t *lat = xmalloc(total * sizeof(*lat));
    size_t nlat = 0;
    uint64_t status_count[600] = {0};
    uint64_t sent = 0, done = 0, late = 0;
    int64_t t0 = mono_us();

    while (done < total) {
        int64_t now = mono_us();
        while (nfree && sent < total) {
            if (rate_mode) {
                /* Request i is due at i / rate; one sent more than 10 ms
                 * after that (all connections busy) counts as late. */
                int64_t due = t0 + (int64_t)((double)sent * 1e6 / rate);
                if (due > now)
                    break;
                if (now - due > 10000)
                    late++;
            }
            struct slot *s = &slots[free_slots[--nfree]];
            size_t len = render(s, sent);
            curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE, (long)len);
            curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body);
            s->resp_len = 0;
            s->started_us = mono_us();
            curl_multi_add_handle(multi, s->easy);
            sent++;
        }
        int running = 0;
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct slot *s;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            int64_t end = mono_us();
            long code = 0;
            if (m->data.result == CURLE_OK)
                curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
            if (code < 0 || code >= 600)
                code = 0;
            /* The first failure is shown once, to make a failed run easy
             * to diagnose. */
            if (!failure_shown && (code < 200 || code >= 300)) {
                failure_shown = true;
                s->resp[s->resp_len] = '\0';
                if (code == 0)
                    fprintf(stderr, "loadgen: first failure: %s\n",
                            curl_easy_strerror(m->data.result));
                else
                    fprintf(stderr, "loadgen: first failure: %ld %s\n", code,
                            s->resp);
            }
            status_count[code]++;
            if (code >= 200 && code < 300)
                lat[nlat++] = end - s->started_us;
            curl_multi_remove_handle(multi, s->easy);
            free_slots[nfree++] = (size_t)(s - slots);
            done++;
        }
        if (done >= total)
            break;
        /* A free connection with work for it goes round again at once
         * (or when its next request is due); otherwise sleep until a
         * transfer has something to do. */
        int wait_ms = 100;
        if (nfree && sent < total) {
            wait_ms = 0;
            if (rate_mode) {
                int64_t due = t0 + (int64_t)((double)sent * 1e6 / rate);
                int64_t w = due - mono_us();
                wait_ms = w <= 0 ? 0 : (int)((w + 999) / 1000);
                if (wait_ms > 100)
                    wait_ms = 100;
            }
        }
        if (wait_ms > 0)
            curl_multi_poll(multi, NULL, 0, wait_ms, NULL);
    }
    int64_t elapsed = mono_us() - t0;

    qsort(lat, nlat, sizeof(*lat), cmp_i64);
    double secs = (double)elapsed / 1e6;
    uint64_t ok = 0;
    for (int c = 200; c < 300; c++)
        ok += status_count[c];
    printf("{\"requests\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"errors\":%" PRIu64
           ",\"late\":%" PRIu64 ",\"connections\":%ld,\"body_bytes\":%zu,"
           "\"duration_s\":%.3f,\"per_s\":%.1f,\"status\":{",
           done, ok, done - ok, late, conns, render(&slots[0], 0), secs,
           secs > 0 ? (double)done / secs : 0);
    bool first = true;
    for (int c = 0; c < 600; c++) {
        if (!status_count[c])
            continue;
        printf("%s\"%d\":%" PRIu64, first ? "" : ",", c, status_count[c]);
        first = false;
    }
    printf("},\"latency_ms\":{\"n\":%zu,\"p50\":%.3f,\"p90\":%.3f,"
           "\"p99\":%.3f,\"max\":%.3f}}\n",
           nlat, pct_ms(lat, nlat, 0.50), pct_ms(lat, nlat, 0.90),
           pct_ms(lat, nlat, 0.99),
           nlat ? (double)lat[nlat - 1] / 1000.0 : 0);

    for (long i = 0; i < conns; i++) {
        curl_easy_cleanup(slots[i].easy);
        free(slots[i].body);
    }
    curl_multi_cleanup(multi);
    curl_slist_free_all(hl);
    curl_global_cleanup();
    free(slots);
    free(free_slots);
    free(lat);
    free(pieces);
    return ok == done ? 0 : 3;
}
