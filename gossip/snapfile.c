/* snapfile.c: the head and trailer of a snapshot file (see snapfile.h). */
#include "gossip/snapfile.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "gossip/wire.h"

static const uint8_t head_magic[GOSSIP_SNAPFILE_HEAD_LEN] = {'S', 'G', 'S', 'N', 'A', 'P', 0, 2};
static const uint8_t trailer_magic[8] = {'S', 'G', 'S', 'N', 'E', 'N', 'D', 2};
#define SUM_LEN 32
#define SUMMED_TRAILER (GOSSIP_SNAPFILE_TRAILER_LEN - SUM_LEN)   /* magic, entries, bytes */
_Static_assert(SUMMED_TRAILER == 24, "trailer layout");

void gossip_snapfile_begin(struct gossip_snapfile *f, uint8_t head[GOSSIP_SNAPFILE_HEAD_LEN])
{
    crypto_generichash_init(&f->sum, NULL, 0, SUM_LEN);
    f->entries = f->bytes = 0;
    memcpy(head, head_magic, sizeof head_magic);
    crypto_generichash_update(&f->sum, head, GOSSIP_SNAPFILE_HEAD_LEN);
}

void gossip_snapfile_body(struct gossip_snapfile *f, const void *p, size_t n, size_t entries)
{
    if (n) crypto_generichash_update(&f->sum, p, n);
    f->bytes += n;
    f->entries += entries;
}

static void trailer_fields(uint8_t out[SUMMED_TRAILER], uint64_t entries, uint64_t bytes)
{
    memcpy(out, trailer_magic, sizeof trailer_magic);
    gossip_wire_put_be64(out + 8, entries);
    gossip_wire_put_be64(out + 16, bytes);
}

void gossip_snapfile_end(struct gossip_snapfile *f, uint8_t trailer[GOSSIP_SNAPFILE_TRAILER_LEN])
{
    trailer_fields(trailer, f->entries, f->bytes);
    crypto_generichash_update(&f->sum, trailer, SUMMED_TRAILER);
    crypto_generichash_final(&f->sum, trailer + SUMMED_TRAILER, SUM_LEN);
}

int gossip_snapfile_open(const uint8_t *buf, size_t len, const uint8_t **body, size_t *body_len, uint64_t *entries,
                         const char **why)
{
    size_t head = len < GOSSIP_SNAPFILE_HEAD_LEN ? len : GOSSIP_SNAPFILE_HEAD_LEN;
    if (!len || memcmp(buf, head_magic, head)) {
        /* Format 1 starts with a msgpack array (0x90-0x9f, 0xdc, 0xdd), never with 'S'; an empty
         * file was an empty state. */
        *body = buf;
        *body_len = len;
        *entries = UINT64_MAX;
        return 1;
    }
    if (len < GOSSIP_SNAPFILE_HEAD_LEN + GOSSIP_SNAPFILE_TRAILER_LEN) {
        *why = "cut short (no trailer)";
        return -1;
    }
    const uint8_t *t = buf + len - GOSSIP_SNAPFILE_TRAILER_LEN;
    uint64_t n = gossip_wire_be64(t + 8), bytes = gossip_wire_be64(t + 16);
    if (memcmp(t, trailer_magic, sizeof trailer_magic) ||
        bytes != len - GOSSIP_SNAPFILE_HEAD_LEN - GOSSIP_SNAPFILE_TRAILER_LEN) {
        *why = "cut short or extended (no trailer at its end)";
        return -1;
    }
    uint8_t sum[SUM_LEN];
    crypto_generichash(sum, sizeof sum, buf, len - SUM_LEN, NULL, 0);
    if (sodium_memcmp(sum, t + SUMMED_TRAILER, SUM_LEN) != 0) {
        *why = "checksum mismatch (altered)";
        return -1;
    }
    *body = buf + GOSSIP_SNAPFILE_HEAD_LEN;
    *body_len = (size_t)bytes;
    *entries = n;
    return 2;
}

int gossip_snapfile_write(int fd, const void *p, size_t len)
{
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, (const uint8_t *)p + off, len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        off += (size_t)n;
    }
    return 0;
}
