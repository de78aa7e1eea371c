/* endpoint.c: parse and classify the gossip sockets' tcp endpoints (see endpoint.h). */
#include "gossip/endpoint.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *why)
{
    if (err && errlen) snprintf(err, errlen, "%s", why);
    return -1;
}

static bool host_ok(const char *h)
{
    if (!*h) return false;
    for (const char *p = h; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
              *p == '-' || *p == '_' || *p == ':' || *p == '%'))
            return false;
    return true;
}

int gossip_endpoint_parse(const char *text, bool bind, struct gossip_endpoint *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!text || strncmp(text, "tcp://", 6)) return fail(err, errlen, "expected tcp://HOST:PORT");
    const char *h = text + 6, *colon;
    size_t hlen;
    if (*h == '[') {
        const char *close = strchr(h, ']');
        if (!close || close[1] != ':') return fail(err, errlen, "expected tcp://[IPV6]:PORT");
        h++;
        hlen = (size_t)(close - h);
        colon = close + 1;
        struct in6_addr a6;
        char tmp[INET6_ADDRSTRLEN];
        if (hlen == 0 || hlen >= sizeof tmp) return fail(err, errlen, "bad IPv6 address");
        memcpy(tmp, h, hlen);
        tmp[hlen] = 0;
        if (inet_pton(AF_INET6, tmp, &a6) != 1) return fail(err, errlen, "bad IPv6 address");
    } else {
        colon = strrchr(h, ':');
        if (!colon) return fail(err, errlen, "no port (expected tcp://HOST:PORT)");
        hlen = (size_t)(colon - h);
        if (memchr(h, ':', hlen)) return fail(err, errlen, "an IPv6 address goes in brackets: tcp://[ADDR]:PORT");
    }
    if (hlen == 0 || hlen >= sizeof out->host) return fail(err, errlen, "no host");
    memcpy(out->host, h, hlen);
    out->host[hlen] = 0;
    if (!strcmp(out->host, "*")) {
        if (!bind) return fail(err, errlen, "'*' is for binding, not for a peer's address");
    } else if (!host_ok(out->host)) {
        return fail(err, errlen, "bad host");
    }
    const char *port = colon + 1;
    if (!strcmp(port, "*")) {
        if (!bind) return fail(err, errlen, "a peer's port must be a number");
        out->port = 0;
        return 0;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (end == port || *end || p < 1 || p > 65535) return fail(err, errlen, "port must be 1-65535");
    out->port = (int)p;
    return 0;
}

bool gossip_endpoint_loopback(const struct gossip_endpoint *e)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (!strcmp(e->host, "localhost")) return true;
    if (inet_pton(AF_INET, e->host, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, e->host, &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}
