/* enforce_prefix.c: parsing, printing and comparing the addresses and prefixes that bans name. */
#include "enforce/enforce.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Clears every bit past p->len, so equal prefixes compare equal byte for byte. */
static void prefix_mask(struct enforce_prefix *p);

int enforce_prefix_check(const struct enforce_prefix *in, struct enforce_prefix *out)
{
    if ((in->family != AF_INET || in->len > 32) && (in->family != AF_INET6 || in->len > 128)) return -1;
    *out = *in;
    prefix_mask(out);
    return 0;
}

static void prefix_mask(struct enforce_prefix *p)
{
    unsigned alen = p->family == AF_INET ? 4 : 16;
    for (unsigned i = 0; i < 16; i++) {
        unsigned bit = i * 8;
        if (i >= alen || bit >= p->len) p->addr[i] = 0;
        else if (bit + 8 > p->len) p->addr[i] &= (uint8_t)(0xff << (8 - (p->len - bit)));
    }
}

int enforce_prefix_parse(const char *text, struct enforce_prefix *out)
{
    char buf[ENFORCE_PREFIX_STRLEN];
    struct enforce_prefix p;
    long len = -1;

    if (!text || !out) return -1;
    size_t n = strlen(text);
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, text, n + 1);
    char *slash = strchr(buf, '/');
    if (slash) {
        *slash = '\0';
        const char *d = slash + 1;
        if (*d < '0' || *d > '9' || strlen(d) > 3) return -1;
        char *end;
        len = strtol(d, &end, 10);
        if (*end) return -1;
    }
    memset(&p, 0, sizeof p);
    if (inet_pton(AF_INET, buf, p.addr) == 1) {
        p.family = AF_INET;
        if (len > 32) return -1;
        p.len = (uint8_t)(len < 0 ? 32 : len);
    } else if (inet_pton(AF_INET6, buf, p.addr) == 1) {
        p.family = AF_INET6;
        if (len > 128) return -1;
        p.len = (uint8_t)(len < 0 ? 128 : len);
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        /* A v4-mapped address reaches the kernel as an IPv4 packet: ban it in the IPv4 set. */
        if (p.len >= 96 && !memcmp(p.addr, mapped, sizeof mapped)) {
            memmove(p.addr, p.addr + 12, 4);
            memset(p.addr + 4, 0, 12);
            p.family = AF_INET;
            p.len = (uint8_t)(p.len - 96);
        }
    } else {
        return -1;
    }
    prefix_mask(&p);
    *out = p;
    return 0;
}

const char *enforce_prefix_format(const struct enforce_prefix *p, char *buf, size_t size)
{
    char a[INET6_ADDRSTRLEN];
    int full = p->family == AF_INET ? 32 : 128;
    if (size == 0) return buf;
    if (p->family != AF_INET && p->family != AF_INET6) {
        snprintf(buf, size, "?");
        return buf;
    }
    inet_ntop(p->family, p->addr, a, sizeof a);
    if (p->len == full) snprintf(buf, size, "%s", a);
    else snprintf(buf, size, "%s/%u", a, (unsigned)p->len);
    return buf;
}

bool enforce_prefix_contains(const struct enforce_prefix *outer, const struct enforce_prefix *inner)
{
    if (outer->family != inner->family || outer->len > inner->len) return false;
    unsigned full = outer->len / 8, rest = outer->len % 8;
    if (memcmp(outer->addr, inner->addr, full)) return false;
    if (rest) {
        uint8_t m = (uint8_t)(0xff << (8 - rest));
        if ((outer->addr[full] & m) != (inner->addr[full] & m)) return false;
    }
    return true;
}

int enforce_prefix_cmp(const struct enforce_prefix *a, const struct enforce_prefix *b)
{
    if (a->family != b->family) return a->family < b->family ? -1 : 1;
    int c = memcmp(a->addr, b->addr, 16);
    if (c) return c < 0 ? -1 : 1;
    if (a->len != b->len) return a->len < b->len ? -1 : 1;
    return 0;
}
