/*
 * retry.c - when to try a failed delivery again: the schedule parsed from
 * "5s,5m,30m,2h", the +-10 % jitter that keeps retries of one outage from
 * arriving together, and the receiver's Retry-After header (delta seconds
 * or an IMF-fixdate). Pure functions; the caller supplies the clock and
 * the random number.
 */
#include "retry.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define RETRY_AFTER_CAP_MS (7LL * 24 * 3600 * 1000)
/* No single duration is longer than ten years; this keeps every product
 * below far from int64 overflow. */
#define DURATION_CAP_MS (3650LL * 24 * 3600 * 1000)

/* Parses one duration from [s, s+n). */
static bool duration_span(const char *s, size_t n, int64_t *ms)
{
    size_t i = 0;
    int64_t v = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        if (v > DURATION_CAP_MS)
            return false;
        v = v * 10 + (s[i] - '0');
        i++;
    }
    if (i == 0 || v <= 0)
        return false;
    const char *unit = s + i;
    size_t ulen = n - i;
    int64_t mult;
    if (ulen == 2 && memcmp(unit, "ms", 2) == 0)
        mult = 1;
    else if (ulen == 1 && unit[0] == 's')
        mult = 1000;
    else if (ulen == 1 && unit[0] == 'm')
        mult = 60 * 1000;
    else if (ulen == 1 && unit[0] == 'h')
        mult = 3600 * 1000;
    else if (ulen == 1 && unit[0] == 'd')
        mult = 24LL * 3600 * 1000;
    else
        return false;
    if (v > DURATION_CAP_MS / mult)
        return false;
    *ms = v * mult;
    return true;
}

bool hk_duration_parse(const char *s, int64_t *ms)
{
    if (!s)
        return false;
    return duration_span(s, strlen(s), ms);
}

enum hk_result hk_retry_parse(const char *s, struct hk_retry_schedule *out)
{
    struct hk_retry_schedule r;
    memset(&r, 0, sizeof(r));
    if (!s)
        return HK_INVALID;
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strcspn(p, ",");
        size_t item = n;
        while (item > 0 && (p[item - 1] == ' ' || p[item - 1] == '\t'))
            item--;
        if (r.n == HK_RETRY_MAX_STEPS)
            return HK_INVALID;
        if (!duration_span(p, item, &r.delay_ms[r.n]))
            return HK_INVALID;
        r.n++;
        p += n;
        if (*p == '\0')
            break;
        p++; /* the comma; an item must follow it */
    }
    *out = r;
    return HK_OK;
}

int64_t hk_retry_next_delay(const struct hk_retry_schedule *s, int attempts,
                            double rnd)
{
    if (attempts < 1)
        attempts = 1;
    if (attempts > s->n)
        return -1;
    if (!(rnd >= 0.0)) /* NaN too */
        rnd = 0.0;
    if (rnd >= 1.0)
        rnd = nextafter(1.0, 0.0);
    double base = (double)s->delay_ms[attempts - 1];
    double d = base * (0.9 + 0.2 * rnd);
    int64_t v = (int64_t)floor(d + 0.5);
    int64_t lo = (int64_t)ceil(base * 0.9);
    int64_t hi = (int64_t)floor(base * 1.1);
    if (v < lo)
        v = lo;
    if (v > hi)
        v = hi;
    return v < 0 ? 0 : v;
}

static int month_index(const char *m)
{
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr",
                                         "May", "Jun", "Jul", "Aug",
                                         "Sep", "Oct", "Nov", "Dec"};
    for (int i = 0; i < 12; i++)
        if (strncmp(m, months[i], 3) == 0)
            return i + 1;
    return 0;
}

static bool two_digits(const char *p, int *v)
{
    if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
        return false;
    *v = (p[0] - '0') * 10 + (p[1] - '0');
    return true;
}

/* IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 5.6.7), into Unix
 * ms. The weekday name is checked for shape only. */
static bool parse_imf_fixdate(const char *s, int64_t *ms)
{
    if (strlen(s) != 29)
        return false;
    static const char *const days[] = {"Mon", "Tue", "Wed", "Thu",
                                       "Fri", "Sat", "Sun"};
    bool wd = false;
    for (int i = 0; i < 7; i++)
        if (strncmp(s, days[i], 3) == 0)
            wd = true;
    if (!wd || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
        s[16] != ' ' || s[19] != ':' || s[22] != ':' || s[25] != ' ' ||
        strcmp(s + 26, "GMT") != 0)
        return false;
    int day, mon, yh, yl, h, mi, sec;
    if (!two_digits(s + 5, &day) || !two_digits(s + 12, &yh) ||
        !two_digits(s + 14, &yl) || !two_digits(s + 17, &h) ||
        !two_digits(s + 20, &mi) || !two_digits(s + 23, &sec))
        return false;
    mon = month_index(s + 8);
    if (mon == 0 || day < 1 || day > 31 || h > 23 || mi > 59 || sec > 60)
        return false;
    /* The calendar arithmetic (and the day-of-month check) is
     * hk_parse_time's. */
    char iso[96]; /* room for any int, so the compiler sees no truncation */
    snprintf(iso, sizeof(iso), "%02d%02d-%02d-%02dT%02d:%02d:%02dZ", yh, yl,
             mon, day, h, mi, sec);
    return hk_parse_time(iso, ms);
}

int64_t hk_retry_after_parse(const char *value, int64_t now_ms)
{
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t n = strlen(value);
    while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
        n--;
    if (n == 0 || n > 64)
        return -1;
    char v[65];
    memcpy(v, value, n);
    v[n] = '\0';

    if (strspn(v, "0123456789") == n) {
        int64_t secs = 0;
        for (size_t i = 0; i < n; i++) {
            secs = secs * 10 + (v[i] - '0');
            if (secs > RETRY_AFTER_CAP_MS / 1000)
                return RETRY_AFTER_CAP_MS;
        }
        return secs * 1000;
    }
    int64_t at;
    if (!parse_imf_fixdate(v, &at))
        return -1;
    int64_t delay = at - now_ms;
    if (delay < 0)
        return 0;
    return delay > RETRY_AFTER_CAP_MS ? RETRY_AFTER_CAP_MS : delay;
}
