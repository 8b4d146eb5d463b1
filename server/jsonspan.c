/*
 * jsonspan.c - JSON text as hookd reads it. hk_json_member_span finds where
 * a top-level member's value lies in the raw text of a JSON object, so that
 * hookd can store and send a payload as the exact bytes the client posted;
 * it trusts that the text was already validated and never recurses, so
 * depth costs nothing. hk_json_parse is the one way hookd parses JSON it
 * did not build itself (request bodies, rows from PostgreSQL), so that a
 * valid text is never refused for jansson's sake; hk_json_dumps is the
 * one way hookd writes such a tree again.
 *
 * A number beyond a double has no jansson value: one too large (1e400, a
 * 400-digit integer), and one not zero but too small for a double's
 * normal range (1e-400, which jansson reads as 0 without a word, or a
 * subnormal such as 1e-310, which would come back with fewer significant
 * digits than any other number, down to one bit: 7e-324 would be written
 * as 4.9406564584124654e-324). It
 * is carried through the tree as a string holding its exact text behind
 * a marker (a NUL and a tag drawn at random when the process starts, so
 * that no client string can pass for one), and hk_json_dumps writes it
 * back as that number. Code that reads a number (a limit, a count) sees
 * a string and refuses it like any other non-number. Zero written with
 * any exponent (0e-400) is exact, and stays a number.
 */
#include "jsonspan.h"
#include "crypto.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' ||
                     s[i] == '\r'))
        i++;
    return i;
}

/* i is at an opening quote; returns the index after the closing one. */
static size_t skip_string(const char *s, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return n;
}

static size_t skip_value(const char *s, size_t i, size_t n)
{
    if (i < n && s[i] == '"')
        return skip_string(s, i, n);
    if (i < n && (s[i] == '{' || s[i] == '[')) {
        size_t depth = 0;
        while (i < n) {
            if (s[i] == '"') {
                i = skip_string(s, i, n);
                continue;
            }
            if (s[i] == '{' || s[i] == '[')
                depth++;
            else if (s[i] == '}' || s[i] == ']') {
                if (--depth == 0)
                    return i + 1;
            }
            i++;
        }
        return n;
    }
    while (i < n && strchr(",}] \t\r\n", s[i]) == NULL)
        i++;
    return i;
}

/* Decodes a short JSON string key starting at the quote at i into out;
 * false when it is longer than outlen - 1 or holds a non-ASCII escape. */
static bool decode_key(const char *s, size_t i, size_t end, char *out,
                       size_t outlen)
{
    size_t o = 0;
    for (i++; i + 1 < end; i++) {
        char ch = s[i];
        if (ch == '\\') {
            i++;
            if (s[i] == 'u' && i + 4 < end) {
                char hex[5] = {s[i + 1], s[i + 2], s[i + 3], s[i + 4], 0};
                long v = strtol(hex, NULL, 16);
                if (v <= 0 || v > 0x7f)
                    return false;
                ch = (char)v;
                i += 4;
            } else {
                static const char from[] = "bfnrt", to[] = "\b\f\n\r\t";
                const char *k = strchr(from, s[i]);
                ch = k != NULL ? to[k - from] : s[i];
            }
        }
        if (o + 1 >= outlen)
            return false;
        out[o++] = ch;
    }
    out[o] = '\0';
    return true;
}

bool hk_json_member_span(const char *s, size_t n, const char *name,
                        size_t *start, size_t *end)
{
    size_t i = skip_ws(s, 0, n);
    if (i >= n || s[i] != '{')
        return false;
    i++;
    for (;;) {
        i = skip_ws(s, i, n);
        if (i >= n || s[i] != '"')
            return false;
        size_t kend = skip_string(s, i, n);
        char key[32];
        bool match = decode_key(s, i, kend, key, sizeof(key)) &&
                     strcmp(key, name) == 0;
        i = skip_ws(s, kend, n);
        if (i >= n || s[i] != ':')
            return false;
        i = skip_ws(s, i + 1, n);
        size_t vend = skip_value(s, i, n);
        if (match) {
            *start = i;
            *end = vend;
            return true;
        }
        i = skip_ws(s, vend, n);
        if (i >= n || s[i] != ',')
            return false;
        i++;
    }
}


/* true when the integer literal s[0..n) (an optional '-' and digits) lies
 * outside int64_t. */
static bool int_overflows(const char *s, size_t n)
{
    bool neg = n > 0 && s[0] == '-';
    size_t d = neg ? 1 : 0;
    while (d < n - 1 && s[d] == '0')
        d++;
    size_t digits = n - d;
    const char *lim = neg ? "9223372036854775808" : "9223372036854775807";
    if (digits != 19)
        return digits > 19;
    return memcmp(s + d, lim, 19) > 0;
}

/* The marker before a big number's text: NUL, a random tag, ':'. In JSON
 * text the NUL is the escape \u0000. */
#define TAG_LEN 16
static char number_tag[TAG_LEN + 1];
static pthread_once_t number_tag_once = PTHREAD_ONCE_INIT;

static void draw_number_tag(void)
{
    hk_random_public_token(number_tag, TAG_LEN);
    number_tag[TAG_LEN] = '\0';
}

static const char *big_number_tag(void)
{
    pthread_once(&number_tag_once, draw_number_tag);
    return number_tag;
}

static size_t skip_digits(const char *s, size_t i, size_t n)
{
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    return i;
}

/* true when s[0..n) is exactly one JSON number literal. */
static bool is_number_literal(const char *s, size_t n)
{
    size_t i = n > 0 && s[0] == '-' ? 1 : 0;
    if (i >= n || s[i] < '0' || s[i] > '9')
        return false;
    i = s[i] == '0' ? i + 1 : skip_digits(s, i, n);
    if (i < n && s[i] == '.') {
        size_t d = i + 1;
        i = skip_digits(s, d, n);
        if (i == d)
            return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = i;
        i = skip_digits(s, d, n);
        if (i == d)
            return false;
    }
    return i == n;
}

/* true when the mantissa of the number literal s[0..n) (its digits
 * before any exponent) holds a digit other than 0. */
static bool nonzero_mantissa(const char *s, size_t n)
{
    for (size_t i = 0; i < n && s[i] != 'e' && s[i] != 'E'; i++)
        if (s[i] >= '1' && s[i] <= '9')
            return true;
    return false;
}

/* true when the number literal s[0..n) is beyond what a double holds:
 * beyond its largest value, or not zero and below its smallest normal
 * value (strtod's ERANGE with 0, or a subnormal: see the top of the
 * file). errno is not consulted, since C leaves it to the library
 * whether a subnormal result sets ERANGE. */
static bool beyond_double(const char *s, size_t n)
{
    char tmp[64];
    char *copy = n < sizeof(tmp) ? tmp : hk_malloc(n + 1);
    memcpy(copy, s, n);
    copy[n] = '\0';
    double d = strtod(copy, NULL);
    if (copy != tmp)
        free(copy);
    if (isinf(d))
        return true;
    return fabs(d) < DBL_MIN && nonzero_mantissa(s, n);
}

/* The end of the number that starts at s[i] (a '-' or a digit): its
 * integer part, then the rest of a real as the grammar has it, a
 * fraction and an exponent with its sign; what follows is the next
 * token. *int_end is where the integer part ends. */
static size_t number_end(const char *s, size_t i, size_t n, size_t *int_end)
{
    size_t e = skip_digits(s, i + 1, n);
    *int_end = e;
    if (e < n && s[e] == '.')
        e = skip_digits(s, e + 1, n);
    if (e < n && (s[e] == 'e' || s[e] == 'E')) {
        e++;
        if (e < n && (s[e] == '+' || s[e] == '-'))
            e++;
        e = skip_digits(s, e, n);
    }
    return e;
}

static bool starts_number(char c)
{
    return c == '-' || (c >= '0' && c <= '9');
}

/* true when hit(x) holds for some value x in v that is no array or
 * object: v itself, or one inside it at any depth. */
static bool any_leaf(const json_t *v, bool (*hit)(const json_t *))
{
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (any_leaf(json_array_get(v, i), hit))
                return true;
        return false;
    }
    if (!json_is_object(v))
        return hit(v);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        if (any_leaf(val, hit))
            return true;
    }
    return false;
}

/* true when v is a real that is 0 or below a double's smallest normal
 * value: jansson reads a literal too small for a double as one of these,
 * so only a tree holding one can have come from such a literal. */
static bool is_tiny_real(const json_t *v)
{
    return json_is_real(v) && fabs(json_real_value(v)) < DBL_MIN;
}

/* true when the JSON text s[0..n), which jansson read without an
 * overflow, holds a number beyond a double: one that is not zero but too
 * small for it. Only a real can be: an integer is at least 1 or 0. */
static bool has_tiny_literal(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] == '"') {
            i = skip_string(s, i, n);
            continue;
        }
        if (!starts_number(s[i])) {
            i++;
            continue;
        }
        size_t int_end, e = number_end(s, i, n, &int_end);
        if (e != int_end && is_number_literal(s + i, e - i) &&
            beyond_double(s + i, e - i))
            return true;
        i = e;
    }
    return false;
}

/* A copy of s[0..n) in which every integer literal outside int64_t gets a
 * ".0", so that jansson reads it as a real, and every number beyond a
 * double becomes a marked string holding its text. Strings are copied as
 * they are. */
static char *widen_integers(const char *s, size_t n, size_t *len)
{
    struct hk_buf b;
    hk_buf_init(&b);
    size_t i = 0;
    while (i < n) {
        if (s[i] == '"') {
            size_t e = skip_string(s, i, n);
            hk_buf_append(&b, s + i, e - i);
            i = e;
            continue;
        }
        if (starts_number(s[i])) {
            size_t int_end, e = number_end(s, i, n, &int_end);
            if (is_number_literal(s + i, e - i) &&
                beyond_double(s + i, e - i)) {
                hk_buf_printf(&b, "\"\\u0000%s:", big_number_tag());
                hk_buf_append(&b, s + i, e - i);
                hk_buf_puts(&b, "\"");
            } else {
                hk_buf_append(&b, s + i, int_end - i);
                if (int_end == e && int_overflows(s + i, e - i))
                    hk_buf_append(&b, ".0", 2);
                hk_buf_append(&b, s + int_end, e - int_end);
            }
            i = e;
            continue;
        }
        hk_buf_append(&b, s + i, 1);
        i++;
    }
    *len = b.len;
    return hk_buf_steal(&b);
}

json_t *hk_json_parse(const char *s, size_t n, size_t flags,
                      json_error_t *err)
{
    json_error_t local;
    if (err == NULL)
        err = &local;
    flags |= JSON_ALLOW_NUL;
    /* A raw NUL byte is never valid JSON (in a string it must be escaped),
     * but jansson reads one right after a number as the number's end:
     * {"n":1<NUL>} would be accepted, and its payload cut short where
     * PostgreSQL takes it as a C string. */
    const char *nul = memchr(s, '\0', n);
    if (nul != NULL) {
        memset(err, 0, sizeof(*err));
        snprintf(err->text, sizeof(err->text), "NUL byte in JSON text");
        err->text[JSON_ERROR_TEXT_LENGTH - 1] = json_error_invalid_syntax;
        snprintf(err->source, sizeof(err->source), "<buffer>");
        err->position = (int)(nul - s);
        err->line = 1;
        err->column = 1;
        for (const char *p = s; p < nul; p++) {
            err->column = *p == '\n' ? 1 : err->column + 1;
            err->line += *p == '\n';
        }
        return NULL;
    }
    json_t *j = json_loadb(s, n, flags, err);
    if (j == NULL && json_error_code(err) != json_error_numeric_overflow)
        return NULL;
    /* jansson reports a number too large, but reads one too small as 0
     * or a subnormal without a word: the text is looked at again only
     * when the tree holds such a real */
    if (j != NULL && !(any_leaf(j, is_tiny_real) && has_tiny_literal(s, n)))
        return j;
    json_decref(j);
    size_t len;
    char *wide = widen_integers(s, n, &len);
    j = json_loadb(wide, len, flags, err);
    free(wide);
    return j;
}

/* true when v is a big number carried as a marked string. */
static bool is_big_number(const json_t *v)
{
    if (!json_is_string(v))
        return false;
    const char *t = big_number_tag();
    const char *sv = json_string_value(v);
    size_t n = json_string_length(v);
    return n > TAG_LEN + 2 && sv[0] == '\0' &&
           memcmp(sv + 1, t, TAG_LEN) == 0 && sv[TAG_LEN + 1] == ':' &&
           is_number_literal(sv + TAG_LEN + 2, n - TAG_LEN - 2);
}

/* true when v is a string holding a NUL. */
static bool is_string_with_nul(const json_t *v)
{
    return json_is_string(v) &&
           memchr(json_string_value(v), '\0', json_string_length(v)) != NULL;
}

/* true when v is a string holding a NUL that is no big number. */
static bool is_nul_string(const json_t *v)
{
    return is_string_with_nul(v) && !is_big_number(v);
}

bool hk_json_jsonb_storable(const json_t *v)
{
    return !any_leaf(v, is_nul_string);
}

char *hk_json_dumps(const json_t *v, size_t flags)
{
    char *text = json_dumps(v, flags);
    if (text == NULL)
        return NULL;
    char marker[TAG_LEN + 16];
    snprintf(marker, sizeof(marker), "\\u0000%s:", big_number_tag());
    if (strstr(text, marker) == NULL)
        return text;
    /* every string that is a marked number becomes that number; the
     * text is walked string by string, so that a marker is only ever
     * looked for at the start of a string */
    size_t mlen = strlen(marker), n = strlen(text);
    struct hk_buf b;
    hk_buf_init(&b);
    size_t i = 0;
    while (i < n) {
        if (text[i] != '"') {
            hk_buf_append(&b, text + i, 1);
            i++;
            continue;
        }
        size_t e = skip_string(text, i, n);
        const char *in = text + i + 1;
        size_t in_len = e - i - 2;
        if (in_len > mlen && memcmp(in, marker, mlen) == 0 &&
            is_number_literal(in + mlen, in_len - mlen))
            hk_buf_append(&b, in + mlen, in_len - mlen);
        else
            hk_buf_append(&b, text + i, e - i);
        i = e;
    }
    free(text);
    return hk_buf_steal(&b);
}

bool hk_json_has_nul(const json_t *v)
{
    return any_leaf(v, is_string_with_nul);
}
