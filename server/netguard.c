/*
 * netguard.c - the address classifier behind "endpoints cannot be aimed
 * inward". It knows the special-purpose IPv4 and IPv6 ranges (IANA
 * registries) and looks through the IPv6 forms that carry an IPv4 address:
 * IPv4-mapped, IPv4-compatible, IPv4-translated, NAT64 and 6to4. Outside
 * 2000::/3 nothing is globally routed, so any other IPv6 address is
 * reserved. Pure functions; the dispatcher decides what to refuse.
 */
#include "netguard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

struct v4_range {
    uint32_t net;
    int prefix;
    enum hk_addr_class cls;
};

#define V4(a, b, c, d)                                                         \
    (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) |    \
     (uint32_t)(d))

/* Checked in order; the first match wins. */
static const struct v4_range v4_ranges[] = {
    {V4(0, 0, 0, 0), 8, HK_ADDR_UNSPECIFIED},
    {V4(10, 0, 0, 0), 8, HK_ADDR_PRIVATE},
    {V4(100, 64, 0, 0), 10, HK_ADDR_CGNAT},
    {V4(127, 0, 0, 0), 8, HK_ADDR_LOOPBACK},
    {V4(169, 254, 0, 0), 16, HK_ADDR_LINK_LOCAL},
    {V4(172, 16, 0, 0), 12, HK_ADDR_PRIVATE},
    {V4(192, 0, 0, 0), 24, HK_ADDR_RESERVED},    /* IETF assignments */
    {V4(192, 0, 2, 0), 24, HK_ADDR_RESERVED},    /* TEST-NET-1 */
    {V4(192, 31, 196, 0), 24, HK_ADDR_RESERVED}, /* AS112 */
    {V4(192, 52, 193, 0), 24, HK_ADDR_RESERVED}, /* AMT */
    {V4(192, 88, 99, 0), 24, HK_ADDR_RESERVED},  /* 6to4 relay anycast */
    {V4(192, 168, 0, 0), 16, HK_ADDR_PRIVATE},
    {V4(192, 175, 48, 0), 24, HK_ADDR_RESERVED}, /* AS112 direct */
    {V4(198, 18, 0, 0), 15, HK_ADDR_RESERVED},   /* benchmarking */
    {V4(198, 51, 100, 0), 24, HK_ADDR_RESERVED}, /* TEST-NET-2 */
    {V4(203, 0, 113, 0), 24, HK_ADDR_RESERVED},  /* TEST-NET-3 */
    {V4(224, 0, 0, 0), 4, HK_ADDR_MULTICAST},
    {V4(240, 0, 0, 0), 4, HK_ADDR_RESERVED}, /* incl. 255.255.255.255 */
};

static enum hk_addr_class classify_v4(uint32_t a)
{
    for (size_t i = 0; i < HK_ARRAY_LEN(v4_ranges); i++) {
        uint32_t mask = 0xffffffffu << (32 - v4_ranges[i].prefix);
        if ((a & mask) == v4_ranges[i].net)
            return v4_ranges[i].cls;
    }
    return HK_ADDR_PUBLIC;
}

static uint32_t load_v4(const uint8_t *p)
{
    return V4(p[0], p[1], p[2], p[3]);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static enum hk_addr_class classify_v6(const uint8_t a[16])
{
    static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
    static const uint8_t nat64_local[6] = {0x00, 0x64, 0xff, 0x9b, 0x00, 0x01};

    if (all_zero(a, 15)) {
        if (a[15] == 0)
            return HK_ADDR_UNSPECIFIED;
        if (a[15] == 1)
            return HK_ADDR_LOOPBACK;
    }
    /* ::ffff:a.b.c.d (mapped) and ::ffff:0:a.b.c.d (translated) reach the
     * embedded IPv4 host. */
    if (all_zero(a, 10) && a[10] == 0xff && a[11] == 0xff)
        return classify_v4(load_v4(a + 12));
    if (all_zero(a, 8) && a[8] == 0xff && a[9] == 0xff && a[10] == 0 &&
        a[11] == 0)
        return classify_v4(load_v4(a + 12));
    /* ::a.b.c.d, IPv4-compatible: deprecated, never a legitimate target,
     * but name the inner class when it is a special one. */
    if (all_zero(a, 12)) {
        enum hk_addr_class c = classify_v4(load_v4(a + 12));
        return c == HK_ADDR_PUBLIC ? HK_ADDR_RESERVED : c;
    }
    /* 64:ff9b::/96, the well-known NAT64 prefix: a gateway forwards to the
     * embedded IPv4 address. */
    if (memcmp(a, nat64, sizeof(nat64)) == 0)
        return classify_v4(load_v4(a + 12));
    /* 64:ff9b:1::/48, local-use NAT64: translated inside the site. */
    if (memcmp(a, nat64_local, sizeof(nat64_local)) == 0)
        return HK_ADDR_PRIVATE;
    if ((a[0] & 0xfe) == 0xfc)
        return HK_ADDR_PRIVATE; /* fc00::/7 unique local */
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
        return HK_ADDR_LINK_LOCAL; /* fe80::/10 */
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0)
        return HK_ADDR_PRIVATE; /* fec0::/10, deprecated site-local */
    if (a[0] == 0xff)
        return HK_ADDR_MULTICAST;
    /* Only 2000::/3 is allocated for global unicast. */
    if ((a[0] & 0xe0) != 0x20)
        return HK_ADDR_RESERVED;
    /* 2002::/16, 6to4: the relay delivers to the IPv4 address in bits
     * 16..47. */
    if (a[0] == 0x20 && a[1] == 0x02)
        return classify_v4(load_v4(a + 2));
    /* 2001::/23: IETF protocol assignments, Teredo (2001::/32) included. */
    if (a[0] == 0x20 && a[1] == 0x01 && (a[2] & 0xfe) == 0x00)
        return HK_ADDR_RESERVED;
    /* 2001:db8::/32 documentation. */
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8)
        return HK_ADDR_RESERVED;
    /* 3fff::/20 documentation (RFC 9637). */
    if (a[0] == 0x3f && a[1] == 0xff && (a[2] & 0xf0) == 0x00)
        return HK_ADDR_RESERVED;
    return HK_ADDR_PUBLIC;
}

enum hk_addr_class hk_netguard_classify(const struct sockaddr *sa,
                                        socklen_t len)
{
    if (!sa || len < (socklen_t)sizeof(sa_family_t))
        return HK_ADDR_RESERVED;
    if (sa->sa_family == AF_INET &&
        len >= (socklen_t)sizeof(struct sockaddr_in)) {
        struct sockaddr_in sin;
        memcpy(&sin, sa, sizeof(sin));
        return classify_v4(ntohl(sin.sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6 &&
        len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 sin6;
        memcpy(&sin6, sa, sizeof(sin6));
        return classify_v6(sin6.sin6_addr.s6_addr);
    }
    /* Unix sockets and anything else are never webhook targets. */
    return HK_ADDR_RESERVED;
}

bool hk_netguard_classify_text(const char *s, enum hk_addr_class *out)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (!s)
        return false;
    if (inet_pton(AF_INET, s, &a4) == 1) {
        *out = classify_v4(ntohl(a4.s_addr));
        return true;
    }
    if (inet_pton(AF_INET6, s, &a6) == 1) {
        *out = classify_v6(a6.s6_addr);
        return true;
    }
    return false;
}

const char *hk_netguard_class_name(enum hk_addr_class c)
{
    switch (c) {
    case HK_ADDR_PUBLIC:
        return "public";
    case HK_ADDR_LOOPBACK:
        return "loopback";
    case HK_ADDR_PRIVATE:
        return "private";
    case HK_ADDR_LINK_LOCAL:
        return "link-local";
    case HK_ADDR_CGNAT:
        return "carrier-grade NAT";
    case HK_ADDR_MULTICAST:
        return "multicast";
    case HK_ADDR_UNSPECIFIED:
        return "unspecified";
    case HK_ADDR_RESERVED:
        return "reserved";
    }
    return "unknown";
}
