/* slab.c: the fixed-size block allocator behind the state's keys (see slab.h). */
#include "gossip/slab.h"

#include <stdlib.h>
#include <string.h>

#include "agent/util.h"

#if defined(__SANITIZE_ADDRESS__)
#define SLAB_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLAB_MALLOC 1
#endif
#endif

void gossip_slab_init(struct gossip_slab *s, size_t size)
{
    memset(s, 0, sizeof *s);
    s->size = size < 8 ? 8 : (size + 7) & ~(size_t)7;
}

void gossip_slab_fini(struct gossip_slab *s)
{
    for (size_t i = 0; i < s->nchunks; i++) free(s->chunks[i]);
    free(s->chunks);
    size_t size = s->size;
    gossip_slab_init(s, size);
}

void *gossip_slab_alloc(struct gossip_slab *s)
{
    s->live++;
#ifdef SLAB_MALLOC
    return sg_xcalloc(1, s->size);
#else
    void *p = s->free;
    if (p) {
        memcpy(&s->free, p, sizeof s->free);
        memset(p, 0, s->size);
        return p;
    }
    if ((size_t)(s->end - s->cur) < s->size) {
        if (s->nchunks == s->capchunks) {
            s->capchunks = s->capchunks ? s->capchunks * 2 : 16;
            s->chunks = sg_xrealloc(s->chunks, s->capchunks * sizeof *s->chunks);
        }
        size_t bytes = s->size > GOSSIP_SLAB_CHUNK ? s->size : GOSSIP_SLAB_CHUNK;
        s->cur = s->chunks[s->nchunks++] = sg_xcalloc(1, bytes);   /* calloc: blocks start zeroed */
        s->end = s->cur + bytes / s->size * s->size;
    }
    p = s->cur;
    s->cur += s->size;
    return p;
#endif
}

void gossip_slab_free(struct gossip_slab *s, void *p)
{
    if (!p) return;
    s->live--;
#ifdef SLAB_MALLOC
    free(p);
#else
    memcpy(p, &s->free, sizeof s->free);
    s->free = p;
#endif
}

size_t gossip_slab_mem(const struct gossip_slab *s)
{
#ifdef SLAB_MALLOC
    return s->live * s->size;
#else
    size_t chunk = s->size > GOSSIP_SLAB_CHUNK ? s->size : GOSSIP_SLAB_CHUNK;
    return s->nchunks * chunk + s->capchunks * sizeof *s->chunks;
#endif
}
