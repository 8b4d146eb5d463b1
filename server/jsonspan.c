/*
 * jsonspan.c - finds where a top-level member's value lies in the raw text
 * of a JSON object, so that hookd can store and send a payload as the
 * exact bytes the client posted. It trusts that the text was already
 * validated (by jansson) and never recurses, so depth costs nothing.
 */
#include "jsonspan.h"

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

