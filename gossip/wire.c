/* wire.c: frame header, signing and verification; ban record canonical bytes; the body writer. */
#include "gossip/wire.h"

#include <stdlib.h>
#include <string.h>

#include "agent/util.h"

static const char *const wire_errs[GOSSIP_WIRE_ERR_MAX] = {
    [GOSSIP_WIRE_OK] = "ok",
    [GOSSIP_WIRE_ETRUNCATED] = "truncated",
    [GOSSIP_WIRE_ETOOBIG] = "too big",
    [GOSSIP_WIRE_EVERSION] = "bad version",
    [GOSSIP_WIRE_EOLDVERSION] = "old wire version 1 (the peer runs an older sgagent: upgrade it)",
    [GOSSIP_WIRE_ETYPE] = "bad type",
    [GOSSIP_WIRE_ELENGTH] = "trailing bytes",
    [GOSSIP_WIRE_EUNKNOWN] = "unknown origin",
    [GOSSIP_WIRE_EBADSIG] = "bad signature",
    [GOSSIP_WIRE_EMALFORMED] = "malformed body",
    [GOSSIP_WIRE_ECOUNT] = "count exceeds input",
    [GOSSIP_WIRE_EFIELD] = "bad field",
};

const char *gossip_wire_strerror(enum gossip_wire_err e)
{
    return (unsigned)e < GOSSIP_WIRE_ERR_MAX ? wire_errs[e] : "unknown error";
}

static uint8_t *put_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
    return p + bytes;
}

static uint64_t get_be(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v = (v << 8) | p[i];
    return v;
}

int gossip_wire_frame_encode(struct gossip_frame_header *h, const uint8_t *body, size_t body_len,
                             const struct gossip_identity *id, uint8_t **out, size_t *out_len)
{
    if (body_len > GOSSIP_WIRE_MAX_BODY) return -1;
    h->version = GOSSIP_WIRE_VERSION;
    h->body_len = (uint32_t)body_len;
    size_t n = GOSSIP_WIRE_OVERHEAD + body_len;
    uint8_t *f = sg_xmalloc(n);
    uint8_t *p = f;
    *p++ = h->type;
    *p++ = h->version;
    p = put_be(p, 0, 2);
    p = put_be(p, h->body_len, 4);
    p = put_be(p, h->origin, 8);
    p = put_be(p, h->epoch, 4);
    p = put_be(p, h->seq, 8);
    p = put_be(p, h->hlc, 8);
    if (body_len) memcpy(p, body, body_len);
    gossip_sign(id, f, GOSSIP_WIRE_HEADER_LEN + body_len, f + GOSSIP_WIRE_HEADER_LEN + body_len);
    *out = f;
    *out_len = n;
    return 0;
}

enum gossip_wire_err gossip_wire_header_parse(const uint8_t *f, size_t len, struct gossip_frame_header *h)
{
    if (len < GOSSIP_WIRE_OVERHEAD) return GOSSIP_WIRE_ETRUNCATED;
    if (len > GOSSIP_WIRE_MAX_FRAME) return GOSSIP_WIRE_ETOOBIG;
    h->type = f[0];
    h->version = f[1];
    if (h->version == 1) return GOSSIP_WIRE_EOLDVERSION;
    if (h->version != GOSSIP_WIRE_VERSION || get_be(f + 2, 2) != 0) return GOSSIP_WIRE_EVERSION;
    if (h->type < GOSSIP_FRAME_DELTA || h->type > GOSSIP_FRAME_TYPE_MAX) return GOSSIP_WIRE_ETYPE;
    h->body_len = (uint32_t)get_be(f + 4, 4);
    h->origin = get_be(f + 8, 8);
    h->epoch = (uint32_t)get_be(f + 16, 4);
    h->seq = get_be(f + 20, 8);
    h->hlc = get_be(f + 28, 8);
    /* Compare in 64 bits: body_len is attacker-chosen and may be near 2^32. */
    uint64_t want = (uint64_t)GOSSIP_WIRE_OVERHEAD + h->body_len;
    if (want > len) return GOSSIP_WIRE_ETRUNCATED;
    if (want < len) return GOSSIP_WIRE_ELENGTH;
    return GOSSIP_WIRE_OK;
}

enum gossip_wire_err gossip_wire_frame_verify(const uint8_t *f, size_t len, const struct gossip_keyring *kr,
                                              struct gossip_frame_header *h, const uint8_t **body, size_t *body_len)
{
    enum gossip_wire_err e = gossip_wire_header_parse(f, len, h);
    if (e != GOSSIP_WIRE_OK) return e;
    const struct gossip_peer_key *k = gossip_keyring_find(kr, h->origin);
    if (!k) return GOSSIP_WIRE_EUNKNOWN;
    size_t signed_len = GOSSIP_WIRE_HEADER_LEN + h->body_len;
    if (!gossip_verify(k->pk, f, signed_len, f + signed_len)) return GOSSIP_WIRE_EBADSIG;
    *body = f + GOSSIP_WIRE_HEADER_LEN;
    *body_len = h->body_len;
    return GOSSIP_WIRE_OK;
}

/* ---- ban records ---- */

static bool str_ok(const char *s, size_t cap, size_t max, bool may_be_empty)
{
    size_t n = strnlen(s, cap);
    return n < cap && n <= max && (may_be_empty || n > 0);
}

bool gossip_ban_valid(const struct gossip_ban *b)
{
    return str_ok(b->key, sizeof b->key, GOSSIP_KEY_MAX, false) &&
           str_ok(b->reason, sizeof b->reason, GOSSIP_REASON_MAX, true) &&
           str_ok(b->scenario, sizeof b->scenario, GOSSIP_SCENARIO_MAX, true) &&
           (b->action == GOSSIP_BAN_ACTION_BAN || b->action == GOSSIP_BAN_ACTION_UNBAN) &&
           b->kind >= GOSSIP_BAN_KIND_BLOCK && b->kind <= GOSSIP_BAN_KIND_MAX && b->expires_at >= 0;
}

/* Layout: MAGIC | u16 keylen | key | u64 hlc | u64 author | u8 action | u8 kind | u64 expires_at |
 * u32 level | u8 len | reason | u8 len | scenario, integers big-endian. A fixed layout rather than
 * msgpack so that the bytes signed never depend on an encoder's choice of integer width. */
static size_t ban_canonical(const struct gossip_ban *b, uint8_t *buf, const char magic[4])
{
    uint8_t *p = buf;
    memcpy(p, magic, 4);
    p += 4;
    size_t kl = strnlen(b->key, GOSSIP_KEY_MAX);
    size_t rl = strnlen(b->reason, GOSSIP_REASON_MAX);
    size_t sl = strnlen(b->scenario, GOSSIP_SCENARIO_MAX);
    p = put_be(p, kl, 2);
    memcpy(p, b->key, kl);
    p += kl;
    p = put_be(p, b->hlc, 8);
    p = put_be(p, b->author, 8);
    *p++ = b->action;
    *p++ = b->kind;
    p = put_be(p, (uint64_t)b->expires_at, 8);
    p = put_be(p, b->level, 4);
    *p++ = (uint8_t)rl;
    memcpy(p, b->reason, rl);
    p += rl;
    *p++ = (uint8_t)sl;
    memcpy(p, b->scenario, sl);
    p += sl;
    return (size_t)(p - buf);
}

size_t gossip_ban_canonical(const struct gossip_ban *b, uint8_t *buf)
{
    return ban_canonical(b, buf, "SGB2");   /* records of wire version 1 ("SGB1") do not verify as these */
}

size_t gossip_ban_canonical_v1(const struct gossip_ban *b, uint8_t *buf)
{
    return ban_canonical(b, buf, "SGB1");
}

void gossip_ban_sign(struct gossip_ban *b, const struct gossip_identity *id)
{
    uint8_t buf[GOSSIP_BAN_CANON_MAX];
    b->author = id->origin;
    size_t n = gossip_ban_canonical(b, buf);
    gossip_sign(id, buf, n, b->sig);
}

bool gossip_ban_verify(const struct gossip_ban *b, const struct gossip_keyring *kr)
{
    const struct gossip_peer_key *k = gossip_keyring_find(kr, b->author);
    if (!k || !gossip_ban_valid(b)) return false;
    uint8_t buf[GOSSIP_BAN_CANON_MAX];
    size_t n = gossip_ban_canonical(b, buf);
    return gossip_verify(k->pk, buf, n, b->sig);
}

/* ---- writer ---- */

void gossip_writer_init(struct gossip_writer *w)
{
    msgpack_sbuffer_init(&w->buf);
    msgpack_packer_init(&w->pk, &w->buf, msgpack_sbuffer_write);
    w->entries = 0;
}

void gossip_writer_reset(struct gossip_writer *w)
{
    w->buf.size = 0;
    w->entries = 0;
}

void gossip_writer_fini(struct gossip_writer *w)
{
    msgpack_sbuffer_destroy(&w->buf);
    w->entries = 0;
}

static bool key_ok(const char *key)
{
    return key && key[0] && strnlen(key, GOSSIP_KEY_MAX + 1) <= GOSSIP_KEY_MAX;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

int gossip_writer_slot(struct gossip_writer *w, const char *key, int64_t bucket, uint64_t origin, uint32_t epoch,
                       uint64_t count)
{
    if (!key_ok(key) || bucket < 0) return -1;
    msgpack_pack_array(&w->pk, 6);
    msgpack_pack_uint8(&w->pk, 1);
    pack_str(&w->pk, key);
    msgpack_pack_int64(&w->pk, bucket);
    msgpack_pack_uint64(&w->pk, origin);
    msgpack_pack_uint32(&w->pk, epoch);
    msgpack_pack_uint64(&w->pk, count);
    w->entries++;
    return 0;
}

static void pack_sketch_head(struct gossip_writer *w, const char *key, int64_t bucket)
{
    msgpack_pack_array(&w->pk, 4);
    msgpack_pack_uint8(&w->pk, 2);
    pack_str(&w->pk, key);
    msgpack_pack_int64(&w->pk, bucket);
}

int gossip_writer_sketch_hashes(struct gossip_writer *w, const char *key, int64_t bucket, const uint64_t *h,
                                size_t n)
{
    if (!key_ok(key) || bucket < 0 || n > GOSSIP_SKETCH_EXACT_MAX) return -1;
    pack_sketch_head(w, key, bucket);
    msgpack_pack_array(&w->pk, n);
    for (size_t i = 0; i < n; i++) msgpack_pack_uint64(&w->pk, h[i]);
    w->entries++;
    return 0;
}

int gossip_writer_sketch(struct gossip_writer *w, const char *key, int64_t bucket, const struct gossip_sketch *s)
{
    size_t n;
    const uint64_t *h = gossip_sketch_hashes(s, &n);
    const uint8_t *reg = gossip_sketch_registers(s);
    if (!reg) return gossip_writer_sketch_hashes(w, key, bucket, h, n);
    if (!key_ok(key) || bucket < 0) return -1;
    pack_sketch_head(w, key, bucket);
    msgpack_pack_bin(&w->pk, GOSSIP_SKETCH_HLL_M);
    msgpack_pack_bin_body(&w->pk, reg, GOSSIP_SKETCH_HLL_M);
    w->entries++;
    return 0;
}

int gossip_writer_ban(struct gossip_writer *w, const struct gossip_ban *b)
{
    if (!gossip_ban_valid(b)) return -1;
    msgpack_pack_array(&w->pk, 11);
    msgpack_pack_uint8(&w->pk, 3);
    pack_str(&w->pk, b->key);
    msgpack_pack_uint64(&w->pk, b->hlc);
    msgpack_pack_uint64(&w->pk, b->author);
    msgpack_pack_uint8(&w->pk, b->action);
    msgpack_pack_uint8(&w->pk, b->kind);
    msgpack_pack_int64(&w->pk, b->expires_at);
    msgpack_pack_uint32(&w->pk, b->level);
    pack_str(&w->pk, b->reason);
    pack_str(&w->pk, b->scenario);
    msgpack_pack_bin(&w->pk, GOSSIP_SIG_LEN);
    msgpack_pack_bin_body(&w->pk, b->sig, GOSSIP_SIG_LEN);
    w->entries++;
    return 0;
}

/* ---- SYNC_LEAVES ---- */

uint64_t gossip_wire_be64(const uint8_t *p)
{
    return get_be(p, 8);
}

void gossip_wire_put_be64(uint8_t *p, uint64_t v)
{
    put_be(p, v, 8);
}

/* The bin length a SYNC_LEAVES body must carry for its role and mask; 0 when they break the rules. */
size_t gossip_wire_sync_leaves_len(uint8_t role, uint64_t mask)
{
    if (role == 0) return mask ? (size_t)__builtin_popcountll(mask) * GOSSIP_SYNC_LEAF_BYTES : 0;
    return role == 1 && mask == 0 ? GOSSIP_SYNC_PULL_BYTES : 0;
}

int gossip_wire_sync_leaves_encode(const struct gossip_sync_leaves *m, struct gossip_writer *w)
{
    size_t want = gossip_wire_sync_leaves_len(m->role, m->mask);
    if (!want || m->bin_len != want || !m->bin) return -1;
    gossip_writer_reset(w);
    msgpack_pack_array(&w->pk, 4);
    msgpack_pack_uint8(&w->pk, m->role);
    msgpack_pack_uint64(&w->pk, m->recipient);
    msgpack_pack_uint64(&w->pk, m->mask);
    msgpack_pack_bin(&w->pk, m->bin_len);
    msgpack_pack_bin_body(&w->pk, m->bin, m->bin_len);
    return 0;
}
