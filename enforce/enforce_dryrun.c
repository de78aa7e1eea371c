/* enforce_dryrun.c: a backend that logs the nft changes it would make and simulates the sets,
 * for trials on production nodes: the whole pipeline runs, the kernel is never touched. */
#include "enforce/enforce_nft.h"

#include "agent/util.h"

#include <linux/netfilter/nf_tables.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct dry_be {
    char table[64];
    struct enforce_nft_mirror sim;   /* what the kernel would hold */
    struct enforce_stats *stats;
    bool present;
    int dump_family;                 /* the sliced dump under way, and where it is */
    size_t dump_at;
};

static int dry_setup(void *vbe)
{
    struct dry_be *be = vbe;
    if (!be->present)
        sg_log(SG_LOG_NOTICE, "enforce: dry-run: would create table inet %s (sets ban4, ban6, ports; chain input)",
               be->table);
    be->present = true;
    return 0;
}

static int dry_apply(void *vbe, struct enforce_nft_op *ops, size_t n)
{
    struct dry_be *be = vbe;
    int64_t now = sg_mono_ms();
    char t[96];
    if (!n) return 0;
    be->stats->transactions++;
    for (size_t i = 0; i < n; i++) {
        struct enforce_nft_op *o = &ops[i];
        const char *set = o->el.p.family == AF_INET ? "ban4" : "ban6";
        enforce_nft_elem_format(&o->el, t, sizeof t);
        if (o->kind == ENFORCE_NFT_ADD) {
            sg_log(SG_LOG_NOTICE, "enforce: dry-run: would add element inet %s %s { %s timeout %llus }", be->table,
                   set, t, (unsigned long long)(o->el.timeout_ms / 1000));
            o->status = ENFORCE_NFT_OK;
        } else {
            const struct enforce_nft_elem *e = enforce_nft_mirror_find(&be->sim, &o->el.p);
            sg_log(SG_LOG_NOTICE, "enforce: dry-run: would delete element inet %s %s { %s }", be->table, set, t);
            o->status = e && !e->dead ? ENFORCE_NFT_OK : ENFORCE_NFT_GONE;
        }
    }
    enforce_nft_mirror_apply(&be->sim, ops, n, now);
    return 0;
}

static int dry_dump(void *vbe, struct enforce_nft_elem **elems, size_t *n)
{
    struct dry_be *be = vbe;
    int64_t now = sg_mono_ms();
    struct enforce_nft_elem *out = sg_xcalloc(be->sim.n + 1, sizeof *out);
    size_t w = 0;
    /* The kernel would have dropped expired entries by now. */
    for (size_t i = 0; i < be->sim.n; i++)
        if (!be->sim.v[i].expires_ms || be->sim.v[i].expires_ms > now) out[w++] = be->sim.v[i];
    *elems = out;
    *n = w;
    return 0;
}

static int dry_dump_begin(void *vbe, int family)
{
    struct dry_be *be = vbe;
    be->dump_family = family;
    be->dump_at = 0;
    return 0;
}

#define DRY_DUMP_SLICE 4096   /* entries per read, as a reply holds a few hundred */

/* The simulated set as the kernel's replies would give it: a start element, and an end one. */
static int dry_dump_read(void *vbe, struct enforce_nft_rawlist *raw, int64_t budget_us, bool *done)
{
    struct dry_be *be = vbe;
    int64_t now = sg_mono_ms();
    (void)budget_us;
    size_t stop = be->dump_at + DRY_DUMP_SLICE;
    for (; be->dump_at < be->sim.n && be->dump_at < stop; be->dump_at++) {
        const struct enforce_nft_elem *e = &be->sim.v[be->dump_at];
        if (e->dead || e->p.family != be->dump_family || (e->expires_ms && e->expires_ms <= now)) continue;
        if (raw->n + 2 > raw->cap) {
            raw->cap = raw->cap ? raw->cap * 2 : 256;
            raw->v = sg_xrealloc(raw->v, raw->cap * sizeof *raw->v);
        }
        struct enforce_nft_raw *r = &raw->v[raw->n++];
        memset(r, 0, sizeof *r);
        memcpy(r->key, e->p.addr, sizeof r->key);
        r->timeout_ms = e->timeout_ms;
        r->expiration_ms = e->expires_ms ? (uint64_t)(e->expires_ms - now) : 0;
        if (!e->has_end) continue;
        r = &raw->v[raw->n++];
        memset(r, 0, sizeof *r);
        memcpy(r->key, e->end, sizeof r->key);
        r->flags = NFT_SET_ELEM_INTERVAL_END;
    }
    *done = be->dump_at >= be->sim.n;
    return 0;
}

static int dry_remove(void *vbe)
{
    struct dry_be *be = vbe;
    sg_log(SG_LOG_NOTICE, "enforce: dry-run: would delete table inet %s", be->table);
    enforce_nft_mirror_free(&be->sim);
    be->present = false;
    return 0;
}

static int dry_kernel(void *vbe, struct enforce_kernel *out, bool count_sets)
{
    struct dry_be *be = vbe;
    int64_t now = sg_mono_ms();
    (void)count_sets;   /* the simulated sets are counted cheaply either way */
    memset(out, 0, sizeof *out);
    out->table_present = be->present;
    out->set4 = enforce_nft_mirror_count(&be->sim, AF_INET, now);
    out->set6 = enforce_nft_mirror_count(&be->sim, AF_INET6, now);
    return 0;
}

static int dry_lookup(void *vbe, struct enforce_nft_probe *pr, size_t n)
{
    struct dry_be *be = vbe;
    int64_t now = sg_mono_ms();
    for (size_t i = 0; i < n; i++) {
        struct enforce_prefix key = pr[i].p;
        key.len = key.family == AF_INET ? 32 : 128;
        const struct enforce_nft_elem *e = enforce_nft_mirror_covering(&be->sim, &key, now);
        pr[i].found = e != NULL;
        if (e) memcpy(pr[i].start, e->p.addr, sizeof pr[i].start);
    }
    return 0;
}

static void dry_destroy(void *vbe)
{
    struct dry_be *be = vbe;
    if (!be) return;
    enforce_nft_mirror_free(&be->sim);
    free(be);
}

static const struct enforce_backend_ops dry_ops = {
    "dry-run", dry_setup, dry_apply, dry_dump, dry_dump_begin, dry_dump_read, dry_remove, dry_kernel, dry_lookup, dry_destroy,
};

void *enforce_dryrun_backend_new(const struct enforce_config *cfg, struct enforce_stats *stats,
                                 const struct enforce_backend_ops **ops)
{
    const char *table = cfg->table ? cfg->table : ENFORCE_TABLE_DEFAULT;
    if (!*table || strlen(table) >= 64) {
        sg_log(SG_LOG_ERR, "enforce: dry-run: bad table name '%s'", table);
        return NULL;
    }
    struct dry_be *be = sg_xcalloc(1, sizeof *be);
    strcpy(be->table, table);
    enforce_nft_mirror_init(&be->sim);
    be->stats = stats;
    *ops = &dry_ops;
    sg_log(SG_LOG_NOTICE, "enforce: dry-run backend: bans are logged, not enforced");
    return be;
}
