/*
 * fuzz_time.c - the parsers of times and durations: RFC 3339 times
 * (hk_parse_time: `since` and other query values), a receiver's
 * Retry-After (delta seconds or an IMF-fixdate), the retry schedule and
 * single durations (HOOKD_RETRY_SCHEDULE, HOOKD_DISABLE_AFTER). The first
 * byte picks the parser. A time within years 1..9999 reads back the same
 * after hk_format_time; Retry-After is -1 or a delay within 0..7 days,
 * equal to the seconds or the date it spells; a schedule holds 1..32
 * positive steps, each jittered by at most 10 %.
 */
#include "fuzz.h"

#include "common.h"
#include "retry.h"

#include <time.h>

#define CAP_MS (7LL * 24 * 3600 * 1000)
/* 0001-01-01T00:00:00Z */
#define YEAR1_MS (-62135596800000LL)

static void check_time(const char *s)
{
    int64_t ms;
    if (!hk_parse_time(s, &ms) || ms < YEAR1_MS || ms > HK_TIME_MAX_MS)
        return;
    char out[64];
    hk_format_time(ms, out, sizeof(out));
    int64_t again;
    FUZZ_CHECK(hk_parse_time(out, &again) && again == ms,
               "%s is %lld ms, formatted %s", s, (long long)ms, out);
}

static void check_retry_after(const char *s, int64_t now)
{
    int64_t d = hk_retry_after_parse(s, now);
    FUZZ_CHECK(d == -1 || (d >= 0 && d <= CAP_MS), "%s: %lld", s, (long long)d);
    const char *p = s;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (n > 0 && n <= 64 && strspn(p, "0123456789") == n) {
        /* delta seconds: the number, capped */
        long double secs = 0;
        for (size_t i = 0; i < n; i++)
            secs = secs * 10 + (p[i] - '0');
        int64_t want = secs * 1000 > CAP_MS ? CAP_MS : (int64_t)secs * 1000;
        FUZZ_CHECK(d == want, "%s: %lld, not %lld", s, (long long)d,
                   (long long)want);
    }
}

/* The IMF-fixdate of a time a receiver could send reads as that time. */
static void check_imf(int64_t at_s, int64_t now)
{
    at_s %= 253402300799LL; /* years 1970..9999 */
    if (at_s < 0)
        at_s = -at_s;
    time_t t = (time_t)at_s;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL)
        return;
    char imf[64];
    static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed",
                                     "Thu", "Fri", "Sat"};
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    snprintf(imf, sizeof(imf), "%s, %02d %s %04d %02d:%02d:%02d GMT",
             wd[tm.tm_wday], tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
    int64_t d = hk_retry_after_parse(imf, now);
    int64_t want = at_s * 1000 - now;
    want = want < 0 ? 0 : want > CAP_MS ? CAP_MS : want;
    FUZZ_CHECK(d == want, "%s at now=%lld: %lld, not %lld", imf, (long long)now,
               (long long)d, (long long)want);
}

static void check_schedule(const char *s, double rnd)
{
    struct hk_retry_schedule r;
    int64_t one;
    if (hk_duration_parse(s, &one))
        FUZZ_CHECK(one > 0, "duration %s is %lld", s, (long long)one);
    if (hk_retry_parse(s, &r) != HK_OK)
        return;
    FUZZ_CHECK(r.n >= 1 && r.n <= HK_RETRY_MAX_STEPS, "%d steps", r.n);
    for (int i = 0; i < r.n; i++) {
        int64_t base = r.delay_ms[i];
        FUZZ_CHECK(base > 0, "step %d is %lld", i, (long long)base);
        int64_t d = hk_retry_next_delay(&r, i + 1, rnd);
        FUZZ_CHECK(d >= (int64_t)(base * 0.9) - 1 &&
                       d <= (int64_t)(base * 1.1) + 1,
                   "step %lld jittered to %lld", (long long)base, (long long)d);
    }
    FUZZ_CHECK(hk_retry_next_delay(&r, r.n + 1, rnd) == -1,
               "a step past the end");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int64_t num = 0;
    if (size >= 9)
        memcpy(&num, data + 1, 8);
    /* a clock between 1970 and 2100 */
    int64_t now = (int64_t)((uint64_t)num % 4102444800000ULL);
    char *s = fuzz_str(data + 1, size - 1);
    switch (data[0] % 4) {
    case 0:
        check_time(s);
        break;
    case 1:
        check_retry_after(s, now);
        break;
    case 2:
        if (size >= 17) {
            int64_t at;
            memcpy(&at, data + 9, 8);
            check_imf(at == INT64_MIN ? 0 : at, now);
        }
        check_retry_after(s, now);
        break;
    default:
        check_schedule(s, (double)(num & 0xffff) / 65536.0);
        break;
    }
    free(s);
    return 0;
}
