/* guard.c: the never-ban rules, checked at the last step before a ban reaches the kernel. */
#include "enforce/enforce.h"

#include "agent/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum guard_kind { GUARD_BUILTIN, GUARD_ALLOW, GUARD_NODE, GUARD_SHARED };

struct guard_net {
    struct enforce_prefix p;
    enum guard_kind kind;
};

struct enforce_guard {
    struct guard_net *nets;
    size_t n, cap;
    int min4, min6;
};

static void guard_push(struct enforce_guard *g, const struct enforce_prefix *p, enum guard_kind kind)
{
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 8;
        g->nets = sg_xrealloc(g->nets, g->cap * sizeof *g->nets);
    }
    g->nets[g->n].p = *p;
    g->nets[g->n].kind = kind;
    g->n++;
}

struct enforce_guard *enforce_guard_new(void)
{
    /* Loopback and the unspecified addresses are never banned, whatever the config says. */
    static const char *const builtin[] = {"127.0.0.0/8", "0.0.0.0/32", "::1", "::/128"};
    struct enforce_guard *g = sg_xcalloc(1, sizeof *g);
    g->min4 = SG_MIN_PREFIX4_DEFAULT;
    g->min6 = SG_MIN_PREFIX6_DEFAULT;
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++) {
        struct enforce_prefix p;
        if (enforce_prefix_parse(builtin[i], &p) == 0) guard_push(g, &p, GUARD_BUILTIN);
    }
    return g;
}

void enforce_guard_destroy(struct enforce_guard **gp)
{
    if (!gp || !*gp) return;
    free((*gp)->nets);
    free(*gp);
    *gp = NULL;
}

int enforce_guard_allow(struct enforce_guard *g, const char *cidr)
{
    struct enforce_prefix p;
    if (enforce_prefix_parse(cidr, &p) < 0) {
        sg_log(SG_LOG_ERR, "enforce: guard: bad allowlist entry '%s'", cidr ? cidr : "(null)");
        return -1;
    }
    guard_push(g, &p, GUARD_ALLOW);
    return 0;
}

int enforce_guard_add_node(struct enforce_guard *g, const char *addr)
{
    struct enforce_prefix p;
    if (enforce_prefix_parse(addr, &p) < 0 || p.len != (p.family == AF_INET ? 32 : 128)) {
        sg_log(SG_LOG_ERR, "enforce: guard: bad node address '%s'", addr ? addr : "(null)");
        return -1;
    }
    guard_push(g, &p, GUARD_NODE);
    return 0;
}

void enforce_guard_set_shared(struct enforce_guard *g, const struct enforce_prefix *v, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < g->n; i++)
        if (g->nets[i].kind != GUARD_SHARED) g->nets[w++] = g->nets[i];
    g->n = w;
    for (size_t i = 0; i < n; i++) guard_push(g, &v[i], GUARD_SHARED);
}

int enforce_guard_set_min_prefix(struct enforce_guard *g, int min4, int min6)
{
    if (min4 < 0 || min4 > 32 || min6 < 0 || min6 > 128) return -1;
    g->min4 = min4;
    g->min6 = min6;
    return 0;
}

/* Two aligned prefixes overlap exactly when one contains the other: so a ban is refused both
 * when it falls inside a protected network and when it would swallow one. */
const char *enforce_guard_check(const struct enforce_guard *g, const struct enforce_prefix *p,
                                char *buf, size_t size)
{
    static const char *const what[] = {"loopback or unspecified", "allowlisted", "own node address",
                                       "allowed cluster-wide"};
    char net[ENFORCE_PREFIX_STRLEN];

    if (p->family != AF_INET && p->family != AF_INET6) return "not an IP prefix";
    int min = p->family == AF_INET ? g->min4 : g->min6;
    if (p->len < min) {
        if (buf && size) {
            snprintf(buf, size, "prefix /%u shorter than the minimum /%d", (unsigned)p->len, min);
            return buf;
        }
        return "prefix shorter than the minimum";
    }
    for (size_t i = 0; i < g->n; i++) {
        const struct enforce_prefix *q = &g->nets[i].p;
        if (!enforce_prefix_contains(q, p) && !enforce_prefix_contains(p, q)) continue;
        const char *w = what[g->nets[i].kind];
        if (buf && size) {
            snprintf(buf, size, "%s %s", w, enforce_prefix_format(q, net, sizeof net));
            return buf;
        }
        return w;
    }
    return NULL;
}
