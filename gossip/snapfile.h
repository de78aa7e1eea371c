/* snapfile.h: the frame of a state snapshot file, around the entries (a body as on the wire, see
 * wire.h), so that a file cut short or altered is refused at load rather than restoring part of a
 * state without a word:
 *
 *   head (8 bytes)     "SGSNAP" 0x00 0x02: the version marker
 *   body               the entries, msgpack, as gossip_body_decode reads them
 *   trailer (56 bytes) "SGSNEND" 0x02, u64 entries, u64 body bytes (big-endian), and a 32-byte
 *                      BLAKE2b (crypto_generichash) of every byte before it: head, body and the
 *                      trailer's first 24 bytes
 *
 * The sum is kept while a save writes, slice by slice (gossip/snapshot.c) or at once (gossip_state_save).
 * A file written before the frame existed (format 1: the body alone, which starts with a msgpack
 * array or is empty) still loads, unchecked: an upgrade must not lose the state. */
#ifndef GOSSIP_SNAPFILE_H
#define GOSSIP_SNAPFILE_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

#define GOSSIP_SNAPFILE_HEAD_LEN 8
#define GOSSIP_SNAPFILE_TRAILER_LEN 56

struct gossip_snapfile {
    crypto_generichash_state sum;
    uint64_t entries, bytes;     /* of the body so far */
};

/* Starts a file: head[] gets the version marker, which the sum covers. */
void gossip_snapfile_begin(struct gossip_snapfile *f, uint8_t head[GOSSIP_SNAPFILE_HEAD_LEN]);
/* n more bytes of body, holding entries whole entries. */
void gossip_snapfile_body(struct gossip_snapfile *f, const void *p, size_t n, size_t entries);
/* The trailer of the body given so far. */
void gossip_snapfile_end(struct gossip_snapfile *f, uint8_t trailer[GOSSIP_SNAPFILE_TRAILER_LEN]);

/* Writes all of p[0 .. len) to fd (again after EINTR). 0, or -1 with errno. */
int gossip_snapfile_write(int fd, const void *p, size_t len);

/* A file read whole, buf[0 .. len). Returns 2 for a framed file whose trailer holds (*body, *body_len
 * point into buf, *entries is what the trailer says the body holds), 1 for a file of format 1 (the
 * whole of it is the body, *entries is UINT64_MAX: unknown), or -1 when refused (*why says why). */
int gossip_snapfile_open(const uint8_t *buf, size_t len, const uint8_t **body, size_t *body_len, uint64_t *entries,
                         const char **why);

#endif
