/*
 * fuzz_relay.c - the relay's request parsers (relay.c), on untrusted
 * bytes: the first input byte picks what the rest is. A request head:
 * the verdict must be the same whether the head is given whole or cut at
 * any point before its end (a prefix is "more" or refused as the whole),
 * a head read ends with its blank line within the limits, and its length
 * is what it says. A chunked body: fed whole and fed a byte at a time, it
 * must give the same verdict at the same place. Either way, nothing may
 * read out of bounds (ASan).
 */
#include "fuzz.h"

#include "relay.h"

static void check_head(const char *buf, size_t len)
{
    struct hk_relay_head h;
    struct hk_relay_refusal why;
    enum hk_relay_verdict v = hk_relay_parse_head(buf, len, &h, &why);
    if (v == HK_RELAY_DONE) {
        FUZZ_CHECK(h.len >= 4 && h.len <= len && h.len <= HK_RELAY_HEAD_MAX,
                   "head length %zu of %zu", h.len, len);
        FUZZ_CHECK(memcmp(buf + h.len - 4, "\r\n\r\n", 4) == 0 ||
                       (h.len >= 2 && buf[h.len - 2] == '\r'),
                   "a head not ending with its blank line");
        FUZZ_CHECK(h.body != HK_RELAY_LENGTH || h.length > 0,
                   "an empty length framed as a body");
        /* the head alone reads the same */
        struct hk_relay_head h2;
        FUZZ_CHECK(hk_relay_parse_head(buf, h.len, &h2, &why) ==
                           HK_RELAY_DONE &&
                       h2.len == h.len && h2.body == h.body &&
                       h2.length == h.length,
                   "the head alone reads otherwise");
    } else if (v == HK_RELAY_REFUSE) {
        FUZZ_CHECK(why.status >= 400 && why.status < 600 && why.code &&
                       why.message,
                   "a refusal without its answer");
    }
    /* a prefix is never a head, and one refused is refused whole: cut
     * at some sixty places, so that long inputs stay quick */
    size_t step = len / 64 + 1;
    for (size_t n = 0; n < len && v != HK_RELAY_DONE; n += step) {
        struct hk_relay_head hp;
        struct hk_relay_refusal wp;
        enum hk_relay_verdict vp = hk_relay_parse_head(buf, n, &hp, &wp);
        FUZZ_CHECK(vp != HK_RELAY_DONE, "a prefix of %zu bytes is a head", n);
        FUZZ_CHECK(vp != HK_RELAY_REFUSE || v == HK_RELAY_REFUSE,
                   "a prefix of %zu bytes refused (%d), the whole not", n,
                   wp.status);
    }
}

static void check_chunks(const char *buf, size_t len)
{
    struct hk_relay_chunks whole, bytes;
    struct hk_relay_refusal why;
    size_t used = 0;
    hk_relay_chunks_init(&whole);
    enum hk_relay_verdict v =
        hk_relay_chunks_feed(&whole, buf, len, &used, &why);
    FUZZ_CHECK(used <= len, "used %zu of %zu", used, len);
    hk_relay_chunks_init(&bytes);
    size_t off = 0;
    enum hk_relay_verdict vb = HK_RELAY_MORE;
    while (off < len && vb == HK_RELAY_MORE) {
        size_t u = 0;
        vb = hk_relay_chunks_feed(&bytes, buf + off, 1, &u, &why);
        off += u;
    }
    FUZZ_CHECK(vb == v, "whole: %d, a byte at a time: %d", v, vb);
    FUZZ_CHECK(vb != HK_RELAY_DONE || off == used,
               "ends at %zu whole, %zu a byte at a time", used, off);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *buf = (const char *)data + 1;
    if (data[0] & 1)
        check_chunks(buf, size - 1);
    else
        check_head(buf, size - 1);
    return 0;
}
