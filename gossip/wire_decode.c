/* wire_decode.c: body decoding that never trusts a declared count: each entry is pre-scanned
 * (every array/map/str/bin length checked against the bytes that remain) before msgpack-c,
 * which allocates what a header declares, is allowed to unpack it. */
#include "gossip/wire.h"

#include <stdlib.h>
#include <string.h>

#include "agent/util.h"

#define SCAN_MAX_DEPTH 4   /* entry array > hash array > integer, plus one to spare */

/* Size of the length field that follows type byte b, and what kind of length it is. */
enum scan_kind { SK_FIXED, SK_BYTES, SK_ARRAY, SK_MAP, SK_BAD };

static enum scan_kind classify(uint8_t b, size_t *fixed, int *lenbytes)
{
    *fixed = 0;
    *lenbytes = 0;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) { *fixed = 0; return SK_FIXED; }
    if (b >= 0x80 && b <= 0x8f) return SK_MAP;
    if (b >= 0x90 && b <= 0x9f) return SK_ARRAY;
    if (b >= 0xa0 && b <= 0xbf) return SK_BYTES;
    switch (b) {
    case 0xc4: case 0xd9: *lenbytes = 1; return SK_BYTES;
    case 0xc5: case 0xda: *lenbytes = 2; return SK_BYTES;
    case 0xc6: case 0xdb: *lenbytes = 4; return SK_BYTES;
    case 0xc7: *lenbytes = 1; *fixed = 1; return SK_BYTES;    /* ext: +1 type byte */
    case 0xc8: *lenbytes = 2; *fixed = 1; return SK_BYTES;
    case 0xc9: *lenbytes = 4; *fixed = 1; return SK_BYTES;
    case 0xca: *fixed = 4; return SK_FIXED;
    case 0xcb: *fixed = 8; return SK_FIXED;
    case 0xcc: case 0xd0: *fixed = 1; return SK_FIXED;
    case 0xcd: case 0xd1: *fixed = 2; return SK_FIXED;
    case 0xce: case 0xd2: *fixed = 4; return SK_FIXED;
    case 0xcf: case 0xd3: *fixed = 8; return SK_FIXED;
    case 0xd4: *fixed = 2; return SK_FIXED;
    case 0xd5: *fixed = 3; return SK_FIXED;
    case 0xd6: *fixed = 5; return SK_FIXED;
    case 0xd7: *fixed = 9; return SK_FIXED;
    case 0xd8: *fixed = 17; return SK_FIXED;
    case 0xdc: *lenbytes = 2; return SK_ARRAY;
    case 0xdd: *lenbytes = 4; return SK_ARRAY;
    case 0xde: *lenbytes = 2; return SK_MAP;
    case 0xdf: *lenbytes = 4; return SK_MAP;
    default: return SK_BAD;   /* 0xc1 is never used */
    }
}

/* Walks one object at p[0..len). *used = its size. Every element takes at least one byte, so a
 * container declaring more elements than bytes remain is a lie, refused before anything is allocated. */
static enum gossip_wire_err scan(const uint8_t *p, size_t len, size_t *used, int depth)
{
    if (len == 0) return GOSSIP_WIRE_EMALFORMED;
    if (depth > SCAN_MAX_DEPTH) return GOSSIP_WIRE_EFIELD;
    uint8_t b = p[0];
    size_t fixed;
    int lb;
    enum scan_kind k = classify(b, &fixed, &lb);
    if (k == SK_BAD) return GOSSIP_WIRE_EMALFORMED;
    size_t off = 1;
    if (len - off < (size_t)lb) return GOSSIP_WIRE_EMALFORMED;
    uint64_t n = 0;
    if (lb) {
        for (int i = 0; i < lb; i++) n = (n << 8) | p[off + i];
        off += (size_t)lb;
    } else if (k == SK_MAP || k == SK_ARRAY) {
        n = b & 0x0f;
    } else if (k == SK_BYTES) {
        n = b & 0x1f;
    }
    size_t rest = len - off;
    switch (k) {
    case SK_FIXED:
        if (rest < fixed) return GOSSIP_WIRE_EMALFORMED;
        *used = off + fixed;
        return GOSSIP_WIRE_OK;
    case SK_BYTES:
        if (n + fixed > rest) return GOSSIP_WIRE_ECOUNT;
        *used = off + fixed + (size_t)n;
        return GOSSIP_WIRE_OK;
    case SK_MAP:
        n *= 2;
        /* fall through */
    case SK_ARRAY:
        if (n > rest) return GOSSIP_WIRE_ECOUNT;
        for (uint64_t i = 0; i < n; i++) {
            size_t u;
            enum gossip_wire_err e = scan(p + off, len - off, &u, depth + 1);
            if (e != GOSSIP_WIRE_OK) return e;
            off += u;
        }
        *used = off;
        return GOSSIP_WIRE_OK;
    default:
        return GOSSIP_WIRE_EMALFORMED;
    }
}

/* ---- field readers: false on wrong type or range ---- */

static bool get_u64(const msgpack_object *o, uint64_t max, uint64_t *out)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max) return false;
    *out = o->via.u64;
    return true;
}

/* Copies a string into the body's arena. The arena is as large as the body, and a string of
 * n bytes takes at least n + 1 bytes of input, so it cannot overflow. */
static const char *get_str(struct gossip_body *b, const msgpack_object *o, size_t max, bool may_be_empty)
{
    if (o->type != MSGPACK_OBJECT_STR) return NULL;
    size_t n = o->via.str.size;
    /* msgpack-c may leave ptr NULL for an empty string: no mem* call on it then. */
    if (n > max || (!may_be_empty && n == 0) || (n && memchr(o->via.str.ptr, 0, n))) return NULL;
    if (b->arena_used + n + 1 > b->arena_len) return NULL;
    char *s = b->arena + b->arena_used;
    if (n) memcpy(s, o->via.str.ptr, n);
    s[n] = 0;
    b->arena_used += n + 1;
    return s;
}

static void *grow(void *v, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap) return v;
    *cap = *cap ? *cap * 2 : 8;
    return sg_xrealloc(v, *cap * elem);
}

static bool decode_slot(struct gossip_body *b, const msgpack_object *a, uint32_t n)
{
    uint64_t bucket, origin, epoch, count;
    if (n != 6) return false;
    const char *key = get_str(b, &a[1], GOSSIP_KEY_MAX, false);
    if (!key || !get_u64(&a[2], INT64_MAX, &bucket) || !get_u64(&a[3], UINT64_MAX, &origin) ||
        !get_u64(&a[4], UINT32_MAX, &epoch) || !get_u64(&a[5], UINT64_MAX, &count))
        return false;
    b->slots = grow(b->slots, &b->cap_slots, b->n_slots, sizeof *b->slots);
    b->slots[b->n_slots++] = (struct gossip_slot_entry){key, (int64_t)bucket, origin, (uint32_t)epoch, count};
    return true;
}

static bool decode_sketch(struct gossip_body *b, const msgpack_object *a, uint32_t n)
{
    uint64_t bucket;
    if (n != 4) return false;
    const char *key = get_str(b, &a[1], GOSSIP_KEY_MAX, false);
    if (!key || !get_u64(&a[2], INT64_MAX, &bucket)) return false;
    struct gossip_sketch *s = NULL;
    if (a[3].type == MSGPACK_OBJECT_BIN) {
        s = gossip_sketch_from_registers((const uint8_t *)a[3].via.bin.ptr, a[3].via.bin.size);
    } else if (a[3].type == MSGPACK_OBJECT_ARRAY && a[3].via.array.size <= GOSSIP_SKETCH_EXACT_MAX) {
        uint64_t h[GOSSIP_SKETCH_EXACT_MAX];
        for (uint32_t i = 0; i < a[3].via.array.size; i++)
            if (!get_u64(&a[3].via.array.ptr[i], UINT64_MAX, &h[i])) return false;
        s = gossip_sketch_from_hashes(h, a[3].via.array.size);
    }
    if (!s) return false;
    b->sketches = grow(b->sketches, &b->cap_sketches, b->n_sketches, sizeof *b->sketches);
    b->sketches[b->n_sketches++] = (struct gossip_sketch_entry){key, (int64_t)bucket, s};
    return true;
}

static bool decode_ban(struct gossip_body *b, const msgpack_object *a, uint32_t n)
{
    uint64_t hlc, author, action, kind, expires, level;
    if (n != 11) return false;
    const char *key = get_str(b, &a[1], GOSSIP_KEY_MAX, false);
    const char *reason = get_str(b, &a[8], GOSSIP_REASON_MAX, true);
    const char *scen = get_str(b, &a[9], GOSSIP_SCENARIO_MAX, true);
    if (!key || !reason || !scen || !get_u64(&a[2], UINT64_MAX, &hlc) || !get_u64(&a[3], UINT64_MAX, &author) ||
        !get_u64(&a[4], GOSSIP_BAN_ACTION_UNBAN, &action) || !get_u64(&a[5], GOSSIP_BAN_KIND_MAX, &kind) ||
        !get_u64(&a[6], INT64_MAX, &expires) || !get_u64(&a[7], UINT32_MAX, &level))
        return false;
    if (a[10].type != MSGPACK_OBJECT_BIN || a[10].via.bin.size != GOSSIP_SIG_LEN) return false;
    b->bans = grow(b->bans, &b->cap_bans, b->n_bans, sizeof *b->bans);
    struct gossip_ban *r = &b->bans[b->n_bans];
    memset(r, 0, sizeof *r);
    memcpy(r->key, key, strlen(key));
    memcpy(r->reason, reason, strlen(reason));
    memcpy(r->scenario, scen, strlen(scen));
    r->hlc = hlc;
    r->author = author;
    r->action = (uint8_t)action;
    r->kind = (uint8_t)kind;
    r->expires_at = (int64_t)expires;
    r->level = (uint32_t)level;
    memcpy(r->sig, a[10].via.bin.ptr, GOSSIP_SIG_LEN);
    if (!gossip_ban_valid(r)) return false;
    b->n_bans++;
    return true;
}

static enum gossip_wire_err decode_entry(struct gossip_body *b, const msgpack_object *o)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 1) return GOSSIP_WIRE_EFIELD;
    const msgpack_object *a = o->via.array.ptr;
    uint32_t n = o->via.array.size;
    uint64_t t;
    if (!get_u64(&a[0], 3, &t)) return GOSSIP_WIRE_EFIELD;
    bool ok = t == 1 ? decode_slot(b, a, n) : t == 2 ? decode_sketch(b, a, n) : t == 3 ? decode_ban(b, a, n) : false;
    return ok ? GOSSIP_WIRE_OK : GOSSIP_WIRE_EFIELD;
}

enum gossip_wire_err gossip_body_decode(const uint8_t *data, size_t len, size_t max_entries,
                                        struct gossip_body **out)
{
    *out = NULL;
    if (max_entries == 0) max_entries = GOSSIP_WIRE_MAX_ENTRIES;
    struct gossip_body *b = sg_xcalloc(1, sizeof *b);
    b->arena_len = len + 1;
    b->arena = sg_xmalloc(b->arena_len);
    msgpack_unpacked res;
    msgpack_unpacked_init(&res);
    enum gossip_wire_err e = GOSSIP_WIRE_OK;
    size_t off = 0;
    while (off < len) {
        if (gossip_body_entries(b) >= max_entries) { e = GOSSIP_WIRE_ECOUNT; break; }
        size_t used = 0;
        e = scan(data + off, len - off, &used, 0);
        if (e != GOSSIP_WIRE_OK) break;
        size_t o2 = 0;
        /* Only the scanned span is handed over, so msgpack-c sees no byte we did not check. */
        if (msgpack_unpack_next(&res, (const char *)data + off, used, &o2) != MSGPACK_UNPACK_SUCCESS || o2 != used) {
            e = GOSSIP_WIRE_EMALFORMED;
            break;
        }
        e = decode_entry(b, &res.data);
        if (e != GOSSIP_WIRE_OK) break;
        off += used;
    }
    msgpack_unpacked_destroy(&res);
    if (e != GOSSIP_WIRE_OK) {
        gossip_body_destroy(&b);
        return e;
    }
    *out = b;
    return GOSSIP_WIRE_OK;
}

size_t gossip_body_entries(const struct gossip_body *b)
{
    return b->n_slots + b->n_sketches + b->n_bans;
}

void gossip_body_destroy(struct gossip_body **pb)
{
    if (!pb || !*pb) return;
    struct gossip_body *b = *pb;
    for (size_t i = 0; i < b->n_sketches; i++) gossip_sketch_destroy(&b->sketches[i].sketch);
    free(b->slots);
    free(b->sketches);
    free(b->bans);
    free(b->arena);
    free(b);
    *pb = NULL;
}

/* ---- SYNC_LEAVES: a fixed shape, read byte by byte (nothing is unpacked or allocated) ---- */

struct leaves_rd {
    const uint8_t *p, *end;
};

static bool lr_be(struct leaves_rd *r, size_t n, uint64_t *out)
{
    if ((size_t)(r->end - r->p) < n) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v = v << 8 | r->p[i];
    r->p += n;
    *out = v;
    return true;
}

/* A non-negative integer of any msgpack width. */
static bool lr_uint(struct leaves_rd *r, uint64_t *out)
{
    if (r->p >= r->end) return false;
    uint8_t b = *r->p++;
    if (b <= 0x7f) {
        *out = b;
        return true;
    }
    if (b >= 0xcc && b <= 0xcf) return lr_be(r, (size_t)1 << (b - 0xcc), out);
    if (b >= 0xd0 && b <= 0xd3) {   /* a signed width holding a non-negative value */
        size_t w = (size_t)1 << (b - 0xd0);
        return lr_be(r, w, out) && !(*out >> (8 * w - 1) & 1);
    }
    return false;
}

enum gossip_wire_err gossip_wire_sync_leaves_decode(const uint8_t *body, size_t len, struct gossip_sync_leaves *out)
{
    struct leaves_rd r = {body, body + len};
    uint64_t role, recipient, mask, blen;
    memset(out, 0, sizeof *out);
    if (len == 0 || *r.p++ != 0x94) return GOSSIP_WIRE_EMALFORMED;   /* fixarray of 4 */
    if (!lr_uint(&r, &role) || !lr_uint(&r, &recipient) || !lr_uint(&r, &mask)) return GOSSIP_WIRE_EMALFORMED;
    if (r.p >= r.end) return GOSSIP_WIRE_EMALFORMED;
    uint8_t b = *r.p++;
    if (b < 0xc4 || b > 0xc6 || !lr_be(&r, (size_t)1 << (b - 0xc4), &blen)) return GOSSIP_WIRE_EMALFORMED;
    if (role > 1) return GOSSIP_WIRE_EFIELD;
    size_t want = gossip_wire_sync_leaves_len((uint8_t)role, mask);
    if (!want || blen != want) return GOSSIP_WIRE_EFIELD;
    if ((uint64_t)(r.end - r.p) < blen) return GOSSIP_WIRE_ETRUNCATED;
    if ((uint64_t)(r.end - r.p) > blen) return GOSSIP_WIRE_ELENGTH;
    out->role = (uint8_t)role;
    out->recipient = recipient;
    out->mask = mask;
    out->bin = r.p;
    out->bin_len = (size_t)blen;
    return GOSSIP_WIRE_OK;
}
