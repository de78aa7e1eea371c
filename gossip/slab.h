/* slab.h: fixed-size blocks carved from 64 KiB chunks, with a free list: the state's keys, a
 * million or more small objects, without malloc's per-block header and rounding (16 of every
 * 96 to 112 bytes at 1M keys). Freed blocks are reused by the next allocation of the same size;
 * chunks go back to the system only at gossip_slab_fini. Under AddressSanitizer each block is its
 * own malloc, so that a use after free is still caught. */
#ifndef GOSSIP_SLAB_H
#define GOSSIP_SLAB_H

#include <stddef.h>

#define GOSSIP_SLAB_CHUNK (64 * 1024)

struct gossip_slab {
    size_t size;             /* block size: a multiple of 8 */
    void *free;              /* free list, linked through the blocks' first word */
    char *cur, *end;         /* the unused rest of the newest chunk */
    void **chunks;
    size_t nchunks, capchunks;
    size_t live;             /* blocks handed out and not freed */
};

/* size: bytes of a block, rounded up to a multiple of 8 (at least 8). */
void gossip_slab_init(struct gossip_slab *s, size_t size);
/* Frees every chunk: blocks still live become invalid (free them first: under AddressSanitizer
 * each is its own malloc, which fini cannot find). */
void gossip_slab_fini(struct gossip_slab *s);
/* A zeroed block of s->size bytes, aligned to 8. Aborts when out of memory. */
void *gossip_slab_alloc(struct gossip_slab *s);
/* p came from gossip_slab_alloc on s (NULL is ignored). */
void gossip_slab_free(struct gossip_slab *s, void *p);
/* Heap bytes held (chunks and their index). */
size_t gossip_slab_mem(const struct gossip_slab *s);

#endif
