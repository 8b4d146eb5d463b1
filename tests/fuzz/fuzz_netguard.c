/*
 * fuzz_netguard.c - netguard.c's address classes from text and from raw
 * socket addresses. The text form and the socket form of one address get
 * one class; an IPv4 address wrapped in IPv6 (IPv4-mapped, NAT64's
 * 64:ff9b::/96, 6to4's 2002::/16) gets the class of the address it
 * carries, unless that class is public and the wrapper itself says more;
 * and the address blocks everyone knows are never public.
 */
#include "fuzz.h"

#include "common.h"
#include "netguard.h"

#include <arpa/inet.h>
#include <netinet/in.h>

static enum hk_addr_class of_v4(const uint8_t b[4])
{
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    memcpy(&sin.sin_addr, b, 4);
    return hk_netguard_classify((struct sockaddr *)&sin, sizeof(sin));
}

static enum hk_addr_class of_v6(const uint8_t b[16])
{
    struct sockaddr_in6 sin6 = {0};
    sin6.sin6_family = AF_INET6;
    memcpy(&sin6.sin6_addr, b, 16);
    return hk_netguard_classify((struct sockaddr *)&sin6, sizeof(sin6));
}

/* Text and socket forms agree, through inet_ntop's spelling too. */
static void check_text(const char *s)
{
    enum hk_addr_class c;
    if (!hk_netguard_classify_text(s, &c))
        return;
    uint8_t b[16];
    char back[INET6_ADDRSTRLEN];
    enum hk_addr_class again;
    if (inet_pton(AF_INET, s, b) == 1) {
        FUZZ_CHECK(of_v4(b) == c, "%s: text and socket classes differ", s);
        inet_ntop(AF_INET, b, back, sizeof(back));
    } else {
        FUZZ_CHECK(inet_pton(AF_INET6, s, b) == 1, "%s is no address", s);
        FUZZ_CHECK(of_v6(b) == c, "%s: text and socket classes differ", s);
        inet_ntop(AF_INET6, b, back, sizeof(back));
    }
    FUZZ_CHECK(hk_netguard_classify_text(back, &again) && again == c,
               "%s and %s classed differently", s, back);
}

static void check_raw(const uint8_t *v4)
{
    enum hk_addr_class c4 = of_v4(v4);
    if (v4[0] == 127)
        FUZZ_CHECK(c4 == HK_ADDR_LOOPBACK, "127/8 is not loopback");
    if (v4[0] == 10 || (v4[0] == 192 && v4[1] == 168) ||
        (v4[0] == 172 && (v4[1] & 0xf0) == 16))
        FUZZ_CHECK(c4 == HK_ADDR_PRIVATE, "RFC 1918 is not private");
    if (v4[0] == 169 && v4[1] == 254)
        FUZZ_CHECK(c4 == HK_ADDR_LINK_LOCAL, "169.254/16 is not link-local");
    if (v4[0] == 0 || v4[0] >= 224)
        FUZZ_CHECK(c4 != HK_ADDR_PUBLIC, "%u/8 is public", v4[0]);

    /* the IPv4 address behind every IPv6 wrapper gets its own class */
    uint8_t mapped[16] = {0};
    mapped[10] = mapped[11] = 0xff;
    memcpy(mapped + 12, v4, 4);
    FUZZ_CHECK(of_v6(mapped) == c4, "::ffff:%u.%u.%u.%u classed apart", v4[0],
               v4[1], v4[2], v4[3]);
    uint8_t nat64[16] = {0x00, 0x64, 0xff, 0x9b};
    memcpy(nat64 + 12, v4, 4);
    if (c4 != HK_ADDR_PUBLIC)
        FUZZ_CHECK(of_v6(nat64) != HK_ADDR_PUBLIC,
                   "64:ff9b::%u.%u.%u.%u is public", v4[0], v4[1], v4[2],
                   v4[3]);
    uint8_t six2four[16] = {0x20, 0x02};
    memcpy(six2four + 2, v4, 4);
    if (c4 != HK_ADDR_PUBLIC)
        FUZZ_CHECK(of_v6(six2four) != HK_ADDR_PUBLIC,
                   "2002:%02x%02x:%02x%02x:: is public", v4[0], v4[1], v4[2],
                   v4[3]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1) {
        char *s = fuzz_str(data + 1, size - 1);
        check_text(s);
        free(s);
        return 0;
    }
    if (size >= 5)
        check_raw(data + 1);
    if (size >= 17) {
        enum hk_addr_class c = of_v6(data + 1);
        const uint8_t *a = data + 1;
        if (a[0] == 0xff)
            FUZZ_CHECK(c == HK_ADDR_MULTICAST, "ff00::/8 not multicast");
        if ((a[0] & 0xfe) == 0xfc)
            FUZZ_CHECK(c == HK_ADDR_PRIVATE, "fc00::/7 not private");
        if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
            FUZZ_CHECK(c == HK_ADDR_LINK_LOCAL, "fe80::/10 not link-local");
    }
    /* a short or foreign socket address is never public */
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    size_t n = size - 1 < sizeof(ss) ? size - 1 : sizeof(ss);
    memcpy(&ss, data + 1, n);
    enum hk_addr_class c =
        hk_netguard_classify((struct sockaddr *)&ss, (socklen_t)n);
    if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
        FUZZ_CHECK(c == HK_ADDR_RESERVED, "family %d classed %s", ss.ss_family,
                   hk_netguard_class_name(c));
    return 0;
}
