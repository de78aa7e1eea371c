/* literal.c: the one-pass multi-literal prefilter that runs before any regex, and program filters. */
#include "detect/rules_int.h"

#include "agent/util.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

static inline uint32_t load4(const char *p)
{
    uint32_t w;
    memcpy(&w, p, 4);
    return w;
}

static inline uint32_t hash4(uint32_t w)
{
    return (w * 2654435761u) >> (32 - DETECT_LIT_BITS);
}

/* A rule's literal may list alternatives separated by '|' ("unknown user | Password mismatch"): each
 * one is an entry of the set pointing at the same rule. */
void detect_lit_build(struct detect_litset *ls, const struct detect_rules *r)
{
    detect_lit_free(ls);
    size_t cap = 16;
    ls->e = sg_xcalloc(cap, sizeof *ls->e);
    for (size_t i = 0; i < r->n; i++) {
        const struct detect_rule *ru = &r->v[i];
        if (!ru->enabled) continue;
        const char *p = ru->literal;
        while (*p) {
            const char *bar = strchr(p, '|'), *q = bar ? bar : p + strlen(p);
            const char *a = p, *b = q;
            while (a < b && *a == ' ') a++;
            while (b > a && b[-1] == ' ') b--;
            p = bar ? bar + 1 : q;
            if (b - a < 4 || ls->n >= 0xfffe) continue;   /* the loader refuses these; never index past */
            if (ls->n == cap) {
                cap *= 2;
                ls->e = sg_xrealloc(ls->e, cap * sizeof *ls->e);
            }
            struct detect_lit *l = &ls->e[ls->n];
            l->text = a;
            l->len = (size_t)(b - a);
            l->first4 = load4(a);
            l->rule = (uint16_t)i;
            uint32_t h = hash4(l->first4);
            l->next = ls->head[h];
            ls->head[h] = (uint16_t)(ls->n + 1);
            ls->bloom[h >> 6] |= 1ULL << (h & 63);
            ls->n++;
        }
    }
}

void detect_lit_free(struct detect_litset *ls)
{
    free(ls->e);
    memset(ls, 0, sizeof *ls);
}

void detect_lit_scan(const struct detect_litset *ls, const char *s, size_t n, uint64_t out[DETECT_MASK_WORDS])
{
    memset(out, 0, DETECT_MASK_WORDS * sizeof out[0]);
    if (n < 4) return;
    for (size_t i = 0; i + 4 <= n; i++) {
        uint32_t w = load4(s + i), h = hash4(w);
        if (!(ls->bloom[h >> 6] & (1ULL << (h & 63)))) continue;
        for (uint16_t k = ls->head[h]; k; k = ls->e[k - 1].next) {
            const struct detect_lit *l = &ls->e[k - 1];
            if (l->first4 == w && l->len <= n - i && !memcmp(s + i + 4, l->text + 4, l->len - 4))
                out[l->rule >> 6] |= 1ULL << (l->rule & 63);
        }
    }
}

/* Program filters are shell patterns ("postfix" star "/smtpd"); they run only when a program name is first
 * seen, the parser caches the result. */
bool detect_rule_prog_match(const struct detect_rule *r, const char *prog, size_t n)
{
    if (!r->n_progs) return true;
    char name[256];
    if (n >= sizeof name) n = sizeof name - 1;
    memcpy(name, prog, n);
    name[n] = '\0';
    for (size_t i = 0; i < r->n_progs; i++)
        if (fnmatch(r->progs[i], name, 0) == 0) return true;
    return false;
}
