/* enforce_nft_elem.c: ban elements as intervals: from prefixes, back to prefixes, pairing dumps. */
#include "enforce/enforce_nft.h"

#include "agent/util.h"

#include <arpa/inet.h>
#include <linux/netfilter/nf_tables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef unsigned __int128 u128;

static unsigned alen_of(int family) { return family == AF_INET ? 4 : 16; }

static u128 to_u128(const uint8_t *b, unsigned alen)
{
    u128 v = 0;
    for (unsigned i = 0; i < alen; i++) v = (v << 8) | b[i];
    return v;
}

static void from_u128(u128 v, uint8_t *b, unsigned alen)
{
    memset(b, 0, 16);
    for (unsigned i = alen; i-- > 0;) {
        b[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

void enforce_nft_elem_from_prefix(struct enforce_nft_elem *el, const struct enforce_prefix *p,
                                  uint64_t timeout_ms)
{
    unsigned alen = alen_of(p->family), bits = alen * 8;
    memset(el, 0, sizeof *el);
    el->p = *p;
    el->timeout_ms = timeout_ms;
    /* end = start + 2^(bits - len); it wraps to zero exactly when the prefix reaches the top,
     * and then the interval has no end element (as nft does for 255.255.255.255). */
    u128 start = to_u128(p->addr, alen);
    unsigned host = bits - p->len;
    u128 size = host >= 128 ? 0 : ((u128)1 << host);
    u128 top = bits == 128 ? ~(u128)0 : (((u128)1 << bits) - 1);
    if (host >= 128 || start + (size - 1) >= top) {
        el->has_end = false;
        return;
    }
    from_u128(start + size, el->end, alen);
    el->has_end = true;
}

void enforce_nft_elem_classify(struct enforce_nft_elem *el)
{
    unsigned alen = alen_of(el->p.family), bits = alen * 8;
    u128 start = to_u128(el->p.addr, alen);
    u128 top = bits == 128 ? ~(u128)0 : (((u128)1 << bits) - 1);
    /* size - 1 of the interval: last address minus first. */
    u128 last = el->has_end ? to_u128(el->end, alen) - 1 : top;
    el->p.len = ENFORCE_NFT_RANGE;
    if (el->has_end && to_u128(el->end, alen) <= start) return;
    u128 span = last - start;               /* a prefix has span = 2^k - 1, start aligned */
    if (span & (span + 1)) return;
    if (start & span) return;
    unsigned k = 0;
    while (k < bits && ((span >> k) & 1)) k++;
    el->p.len = (uint8_t)(bits - k);
}

const char *enforce_nft_elem_format(const struct enforce_nft_elem *el, char *buf, size_t size)
{
    if (el->p.len != ENFORCE_NFT_RANGE) return enforce_prefix_format(&el->p, buf, size);
    char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
    inet_ntop(el->p.family, el->p.addr, a, sizeof a);
    if (el->has_end) inet_ntop(el->p.family, el->end, b, sizeof b);
    else snprintf(b, sizeof b, "top");
    snprintf(buf, size, "%s-%s(excl)", a, b);
    return buf;
}

int enforce_nft_raw_cmp(const void *x, const void *y)
{
    const struct enforce_nft_raw *a = x, *b = y;
    int c = memcmp(a->key, b->key, 16);
    if (c) return c;
    /* At one key an end closes the interval before the next one starts there. */
    int ea = (a->flags & NFT_SET_ELEM_INTERVAL_END) != 0, eb = (b->flags & NFT_SET_ELEM_INTERVAL_END) != 0;
    return eb - ea;
}

size_t enforce_nft_raw_pair(struct enforce_nft_rawlist *raw, int64_t now_ms, struct enforce_nft_elem **elems)
{
    if (raw->n) qsort(raw->v, raw->n, sizeof *raw->v, enforce_nft_raw_cmp);
    return enforce_nft_raw_pair_sorted(raw, now_ms, elems);
}

size_t enforce_nft_raw_pair_sorted(const struct enforce_nft_rawlist *raw, int64_t now_ms, struct enforce_nft_elem **elems)
{
    size_t n = 0;
    struct enforce_nft_elem *out = sg_xcalloc(raw->n ? raw->n : 1, sizeof *out);
    for (size_t i = 0; i < raw->n; i++) {
        const struct enforce_nft_raw *r = &raw->v[i];
        /* An end with no start before it (nft writes one at 0.0.0.0) opens nothing: skip. */
        if (r->flags & NFT_SET_ELEM_INTERVAL_END) continue;
        struct enforce_nft_elem *el = &out[n++];
        memset(el, 0, sizeof *el);
        el->p.family = (uint8_t)raw->family;
        memcpy(el->p.addr, r->key, 16);
        el->timeout_ms = r->timeout_ms;
        el->expires_ms = r->timeout_ms || r->expiration_ms ? now_ms + (int64_t)r->expiration_ms : 0;
        if (i + 1 < raw->n && (raw->v[i + 1].flags & NFT_SET_ELEM_INTERVAL_END)) {
            memcpy(el->end, raw->v[i + 1].key, 16);
            el->has_end = true;
            i++;
        }
        enforce_nft_elem_classify(el);
    }
    *elems = out;
    return n;
}
