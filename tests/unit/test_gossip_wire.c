/* test_gossip_wire.c: frame and body codec: every field round-trips; forged, foreign, flipped,
 * truncated and lying inputs are all refused without allocating more than a constant times their size. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/keyring.h"
#include "gossip/wire.h"
#include "tests/support/two_keys.h"

/* ---- allocation accounting (not under ASan, which owns malloc) ----
 * The executable's malloc interposes on every library's, msgpack-c's included. */
#if defined(__SANITIZE_ADDRESS__)
#define ALLOC_ACCOUNTING 0
static void alloc_start(void) {}
static long long alloc_peak(void) { return 0; }
#else
#define ALLOC_ACCOUNTING 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
static long long live, peak;
static int counting;
static void note(void *p, long long sign)
{
    if (p && counting) {
        live += sign * (long long)malloc_usable_size(p);
        if (live > peak) peak = live;
    }
}
void *malloc(size_t n) { void *p = __libc_malloc(n); note(p, 1); return p; }
void *calloc(size_t a, size_t b) { void *p = __libc_calloc(a, b); note(p, 1); return p; }
void free(void *p) { note(p, -1); __libc_free(p); }
void *realloc(void *p, size_t n)
{
    note(p, -1);
    void *q = __libc_realloc(p, n);
    note(q ? q : (n ? p : NULL), 1);
    return q;
}
static void alloc_start(void) { live = peak = 0; counting = 1; }
static long long alloc_peak(void) { counting = 0; return peak; }
#endif

/* The bound asserted for any input of len bytes: a small constant per byte plus msgpack-c's first
 * zone chunk and the fixed body structure. */
#define ALLOC_BOUND(len) (24LL * (long long)(len) + 24 * 1024)

static int setup(void **state)
{
    (void)state;
    return two_keys_setup("alpha", 0xa1, "beta", 0xb2, false);
}

static void make_ban(struct gossip_ban *b, const char *key, uint64_t hlc, const struct gossip_identity *id)
{
    memset(b, 0, sizeof *b);
    snprintf(b->key, sizeof b->key, "%s", key);
    b->hlc = hlc;
    b->action = GOSSIP_BAN_ACTION_BAN;
    b->kind = GOSSIP_BAN_KIND_THROTTLE;
    b->expires_at = 1800000000000LL;
    b->level = 7;
    snprintf(b->reason, sizeof b->reason, "auth failures 42/600s across 5 nodes");
    snprintf(b->scenario, sizeof b->scenario, "auth-ip");
    gossip_ban_sign(b, id);
}

/* A body with one of each kind, extreme values included. */
static void build_body(struct gossip_writer *w)
{
    char longkey[GOSSIP_KEY_MAX + 1];
    memset(longkey, 'k', GOSSIP_KEY_MAX);
    longkey[GOSSIP_KEY_MAX] = 0;
    gossip_writer_init(w);
    assert_int_equal(gossip_writer_slot(w, "auth-ip|ip:203.0.113.7", 1700000000000LL, ida->origin, 7, 42), 0);
    assert_int_equal(gossip_writer_slot(w, longkey, 0, UINT64_MAX, UINT32_MAX, UINT64_MAX), 0);
    struct gossip_sketch *ex = gossip_sketch_new(), *hl = gossip_sketch_new();
    for (int i = 0; i < 5; i++) gossip_sketch_add(ex, &i, sizeof i);
    for (int i = 0; i < 500; i++) gossip_sketch_add(hl, &i, sizeof i);
    assert_int_equal(gossip_writer_sketch(w, "users|ip:198.51.100.1", 1700000010000LL, ex), 0);
    assert_int_equal(gossip_writer_sketch(w, "users|ip:198.51.100.2", 1700000020000LL, hl), 0);
    gossip_sketch_destroy(&ex);
    gossip_sketch_destroy(&hl);
    struct gossip_ban b;
    make_ban(&b, "net:203.0.113.0/24", 0x0123456789abcdefULL, ida);
    assert_int_equal(gossip_writer_ban(w, &b), 0);
    assert_int_equal(w->entries, 5);
}

static void test_body_roundtrip(void **state)
{
    (void)state;
    struct gossip_writer w;
    build_body(&w);
    struct gossip_body *b = NULL;
    assert_int_equal(gossip_body_decode((const uint8_t *)w.buf.data, w.buf.size, 0, &b), GOSSIP_WIRE_OK);
    assert_int_equal(b->n_slots, 2);
    assert_string_equal(b->slots[0].key, "auth-ip|ip:203.0.113.7");
    assert_int_equal(b->slots[0].bucket, 1700000000000LL);
    assert_true(b->slots[0].origin == ida->origin);
    assert_int_equal(b->slots[0].epoch, 7);
    assert_int_equal(b->slots[0].count, 42);
    assert_int_equal(strlen(b->slots[1].key), GOSSIP_KEY_MAX);
    assert_true(b->slots[1].origin == UINT64_MAX && b->slots[1].count == UINT64_MAX);
    assert_true(b->slots[1].epoch == UINT32_MAX && b->slots[1].bucket == 0);
    assert_int_equal(b->n_sketches, 2);
    assert_string_equal(b->sketches[0].key, "users|ip:198.51.100.1");
    assert_int_equal(b->sketches[0].bucket, 1700000010000LL);
    assert_int_equal(gossip_sketch_count(b->sketches[0].sketch), 5);
    assert_non_null(gossip_sketch_registers(b->sketches[1].sketch));
    struct gossip_sketch *hl = gossip_sketch_new();
    for (int i = 0; i < 500; i++) gossip_sketch_add(hl, &i, sizeof i);
    assert_true(gossip_sketch_equal(hl, b->sketches[1].sketch));
    gossip_sketch_destroy(&hl);
    assert_int_equal(b->n_bans, 1);
    struct gossip_ban want;
    make_ban(&want, "net:203.0.113.0/24", 0x0123456789abcdefULL, ida);
    assert_memory_equal(&want, &b->bans[0], sizeof want);
    assert_true(gossip_ban_verify(&b->bans[0], kr));
    /* Re-encoding the decoded body gives the same bytes. */
    struct gossip_writer w2;
    gossip_writer_init(&w2);
    for (size_t i = 0; i < b->n_slots; i++)
        gossip_writer_slot(&w2, b->slots[i].key, b->slots[i].bucket, b->slots[i].origin, b->slots[i].epoch,
                           b->slots[i].count);
    for (size_t i = 0; i < b->n_sketches; i++)
        gossip_writer_sketch(&w2, b->sketches[i].key, b->sketches[i].bucket, b->sketches[i].sketch);
    gossip_writer_ban(&w2, &b->bans[0]);
    assert_int_equal(w2.buf.size, w.buf.size);
    assert_memory_equal(w2.buf.data, w.buf.data, w.buf.size);
    gossip_body_destroy(&b);
    gossip_body_destroy(&b);   /* safe twice */
    gossip_writer_fini(&w);
    gossip_writer_fini(&w2);
}

static void test_ban_signature_covers_every_field(void **state)
{
    (void)state;
    struct gossip_ban b, t;
    make_ban(&b, "user:alice@example.jp", 99, ida);
    assert_true(gossip_ban_verify(&b, kr));
    t = b; t.key[0] = 'U'; assert_false(gossip_ban_verify(&t, kr));
    t = b; t.hlc++; assert_false(gossip_ban_verify(&t, kr));
    t = b; t.action = GOSSIP_BAN_ACTION_UNBAN; assert_false(gossip_ban_verify(&t, kr));
    t = b; t.kind = GOSSIP_BAN_KIND_HOLD; assert_false(gossip_ban_verify(&t, kr));
    t = b; t.expires_at++; assert_false(gossip_ban_verify(&t, kr));
    t = b; t.level++; assert_false(gossip_ban_verify(&t, kr));
    t = b; t.reason[0] = 'X'; assert_false(gossip_ban_verify(&t, kr));
    t = b; t.scenario[0] = 'X'; assert_false(gossip_ban_verify(&t, kr));
    t = b; t.sig[5] ^= 1; assert_false(gossip_ban_verify(&t, kr));
    /* Empty reason and scenario survive the round trip (msgpack-c hands empty strings over as NULL). */
    t = b;
    memset(t.reason, 0, sizeof t.reason);
    memset(t.scenario, 0, sizeof t.scenario);
    gossip_ban_sign(&t, ida);
    struct gossip_writer w;
    gossip_writer_init(&w);
    assert_int_equal(gossip_writer_ban(&w, &t), 0);
    struct gossip_body *body = NULL;
    assert_int_equal(gossip_body_decode((const uint8_t *)w.buf.data, w.buf.size, 0, &body), GOSSIP_WIRE_OK);
    assert_memory_equal(&body->bans[0], &t, sizeof t);
    assert_true(gossip_ban_verify(&body->bans[0], kr));
    gossip_body_destroy(&body);
    gossip_writer_fini(&w);
    /* Author not in the keyring. */
    make_ban(&t, "user:alice@example.jp", 99, idb);
    assert_false(gossip_ban_verify(&t, kr));
    /* Author claims alpha, signature by beta. */
    t.author = ida->origin;
    assert_false(gossip_ban_verify(&t, kr));
}

static uint8_t *make_frame(const struct gossip_identity *id, const uint8_t *body, size_t blen, size_t *flen)
{
    struct gossip_frame_header h = {.type = GOSSIP_FRAME_DELTA, .origin = id->origin, .epoch = 0xdeadbeef,
                                    .seq = 0x1122334455667788ULL, .hlc = 0x0000018c00000005ULL};
    uint8_t *f = NULL;
    assert_int_equal(gossip_wire_frame_encode(&h, body, blen, id, &f, flen), 0);
    return f;
}

/* A body with one entry of each kind, framed and signed by alpha, and somewhere to verify it into. */
struct frame_fx {
    struct gossip_writer w;
    uint8_t *f;
    size_t flen;
};
static struct gossip_frame_header h;
static const uint8_t *body;
static size_t blen;

static void frame_fx_init(struct frame_fx *fx)
{
    build_body(&fx->w);
    fx->f = make_frame(ida, (const uint8_t *)fx->w.buf.data, fx->w.buf.size, &fx->flen);
}

static void frame_fx_fini(struct frame_fx *fx)
{
    free(fx->f);
    gossip_writer_fini(&fx->w);
}

static void test_frame_roundtrip(void **state)
{
    (void)state;
    struct gossip_writer w;
    build_body(&w);
    size_t flen;
    uint8_t *f = make_frame(ida, (const uint8_t *)w.buf.data, w.buf.size, &flen);
    assert_int_equal(flen, w.buf.size + GOSSIP_WIRE_OVERHEAD);
    assert_int_equal(gossip_wire_frame_verify(f, flen, kr, &h, &body, &blen), GOSSIP_WIRE_OK);
    assert_int_equal(h.type, GOSSIP_FRAME_DELTA);
    assert_int_equal(h.version, GOSSIP_WIRE_VERSION);
    assert_true(h.origin == ida->origin);
    assert_int_equal(h.epoch, 0xdeadbeef);
    assert_true(h.seq == 0x1122334455667788ULL);
    assert_true(h.hlc == 0x0000018c00000005ULL);
    assert_int_equal(blen, w.buf.size);
    assert_memory_equal(body, w.buf.data, blen);
    /* Empty bodies (heartbeats) are fine too. */
    free(f);
    f = make_frame(ida, NULL, 0, &flen);
    assert_int_equal(gossip_wire_frame_verify(f, flen, kr, &h, &body, &blen), GOSSIP_WIRE_OK);
    assert_int_equal(blen, 0);
    free(f);
    gossip_writer_fini(&w);
}

static void test_frame_forged_and_foreign(void **state)
{
    (void)state;
    struct gossip_writer w;
    build_body(&w);
    size_t flen;
    /* Signed by beta, who is not in the keyring. */
    uint8_t *f = make_frame(idb, (const uint8_t *)w.buf.data, w.buf.size, &flen);
    assert_int_equal(gossip_wire_frame_verify(f, flen, kr, &h, &body, &blen), GOSSIP_WIRE_EUNKNOWN);
    /* Beta's frame relabelled with alpha's origin: the signature no longer matches. */
    for (int i = 0; i < 8; i++) f[8 + i] = (uint8_t)(ida->origin >> (56 - 8 * i));
    assert_int_equal(gossip_wire_frame_verify(f, flen, kr, &h, &body, &blen), GOSSIP_WIRE_EBADSIG);
    free(f);
    /* Alpha's frame with a signature from beta pasted over. */
    f = make_frame(ida, (const uint8_t *)w.buf.data, w.buf.size, &flen);
    gossip_sign(idb, f, flen - GOSSIP_SIG_LEN, f + flen - GOSSIP_SIG_LEN);
    assert_int_equal(gossip_wire_frame_verify(f, flen, kr, &h, &body, &blen), GOSSIP_WIRE_EBADSIG);
    free(f);
    gossip_writer_fini(&w);
}

static void test_frame_every_bit_flip_rejected(void **state)
{
    (void)state;
    struct frame_fx fx;
    frame_fx_init(&fx);
    size_t flen = fx.flen;
    uint8_t *f = fx.f;
    int seen[GOSSIP_WIRE_ERR_MAX] = {0};
    for (size_t bit = 0; bit < flen * 8; bit++) {
        f[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        alloc_start();
        enum gossip_wire_err e = gossip_wire_frame_verify(f, flen, kr, &h, &body, &blen);
        assert_true(alloc_peak() == 0);   /* refusing a frame allocates nothing at all */
        assert_int_not_equal(e, GOSSIP_WIRE_OK);
        seen[e]++;
        f[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    /* Distinct reasons show which check caught it. */
    assert_true(seen[GOSSIP_WIRE_EBADSIG] > 0 && seen[GOSSIP_WIRE_EVERSION] > 0 && seen[GOSSIP_WIRE_ETYPE] > 0);
    assert_true(seen[GOSSIP_WIRE_EUNKNOWN] > 0 && seen[GOSSIP_WIRE_ETRUNCATED] > 0 && seen[GOSSIP_WIRE_ELENGTH] > 0);
    assert_int_equal(gossip_wire_frame_verify(f, flen, kr, &h, &body, &blen), GOSSIP_WIRE_OK);
    frame_fx_fini(&fx);
}

static void test_frame_truncation_and_size(void **state)
{
    (void)state;
    struct frame_fx fx;
    frame_fx_init(&fx);
    size_t flen = fx.flen;
    uint8_t *f = fx.f;
    for (size_t n = 0; n < flen; n++) {
        /* Exactly-sized copy so ASan sees any read past the end. */
        uint8_t *c = malloc(n ? n : 1);
        memcpy(c, f, n);
        assert_int_equal(gossip_wire_frame_verify(c, n, kr, &h, &body, &blen), GOSSIP_WIRE_ETRUNCATED);
        free(c);
    }
    uint8_t *longer = malloc(flen + 1);
    memcpy(longer, f, flen);
    longer[flen] = 0;
    assert_int_equal(gossip_wire_frame_verify(longer, flen + 1, kr, &h, &body, &blen), GOSSIP_WIRE_ELENGTH);
    free(longer);
    assert_int_equal(gossip_wire_frame_verify(f, GOSSIP_WIRE_MAX_FRAME + 1, kr, &h, &body, &blen),
                     GOSSIP_WIRE_ETOOBIG);
    /* The encoder refuses bodies that would make an oversize frame. */
    struct gossip_frame_header hh = {.type = GOSSIP_FRAME_DELTA, .origin = ida->origin};
    uint8_t *out = NULL;
    size_t olen;
    uint8_t *big = calloc(1, GOSSIP_WIRE_MAX_BODY + 1);
    assert_int_equal(gossip_wire_frame_encode(&hh, big, GOSSIP_WIRE_MAX_BODY + 1, ida, &out, &olen), -1);
    assert_int_equal(gossip_wire_frame_encode(&hh, big, GOSSIP_WIRE_MAX_BODY, ida, &out, &olen), 0);
    assert_int_equal(olen, GOSSIP_WIRE_MAX_FRAME);
    free(out);
    free(big);
    frame_fx_fini(&fx);
}

static long long last_peak;

/* Decodes an exactly-sized copy, asserts the expected result and the allocation bound. */
static enum gossip_wire_err decode_bounded(const uint8_t *data, size_t len)
{
    uint8_t *c = malloc(len ? len : 1);
    memcpy(c, data, len);
    struct gossip_body *b = NULL;
    alloc_start();
    enum gossip_wire_err e = gossip_body_decode(c, len, 0, &b);
    gossip_body_destroy(&b);
    long long p = alloc_peak();
    if (ALLOC_ACCOUNTING && p > ALLOC_BOUND(len)) fail_msg("decoding %zu bytes allocated %lld", len, p);
    free(c);
    last_peak = p;
    return e;
}

static void test_body_lying_counts(void **state)
{
    (void)state;
    /* Each declares far more than follows: array32, map32, str32, bin32, and an array of hashes. */
    static const uint8_t arr32[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02};
    static const uint8_t map32[] = {0xdf, 0x7f, 0xff, 0xff, 0xff, 0x01, 0x02};
    static const uint8_t str32[] = {0x96, 0x01, 0xdb, 0xff, 0xff, 0xff, 0xf0, 'a'};
    static const uint8_t bin32[] = {0x94, 0x02, 0xa1, 'k', 0x00, 0xc6, 0x7f, 0xff, 0xff, 0xff, 0x00};
    static const uint8_t hashes[] = {0x94, 0x02, 0xa1, 'k', 0x00, 0xdd, 0x10, 0x00, 0x00, 0x00, 0x01};
    assert_int_equal(decode_bounded(arr32, sizeof arr32), GOSSIP_WIRE_ECOUNT);
    assert_int_equal(decode_bounded(map32, sizeof map32), GOSSIP_WIRE_ECOUNT);
    assert_int_equal(decode_bounded(str32, sizeof str32), GOSSIP_WIRE_ECOUNT);
    assert_int_equal(decode_bounded(bin32, sizeof bin32), GOSSIP_WIRE_ECOUNT);
    assert_int_equal(decode_bounded(hashes, sizeof hashes), GOSSIP_WIRE_ECOUNT);
    /* 160 bytes of nested array32 headers, each claiming 2^32-1 elements: msgpack-c alone would
     * reserve 2^32 * 24 bytes for the first one. */
    uint8_t nest[160];
    for (size_t i = 0; i + 5 <= sizeof nest; i += 5) {
        nest[i] = 0xdd;
        nest[i + 1] = nest[i + 2] = nest[i + 3] = nest[i + 4] = 0xff;
    }
    assert_int_equal(decode_bounded(nest, sizeof nest), GOSSIP_WIRE_ECOUNT);
    /* Many small honest-looking arrays: each count is fine, nesting too deep. */
    uint8_t deep[64];
    memset(deep, 0x91, sizeof deep);
    deep[63] = 0x01;
    assert_int_equal(decode_bounded(deep, sizeof deep), GOSSIP_WIRE_EFIELD);
    /* Entry count cap. */
    struct gossip_writer w;
    gossip_writer_init(&w);
    for (int i = 0; i < 10; i++) gossip_writer_slot(&w, "k", 0, 1, 1, 1);
    struct gossip_body *b = NULL;
    assert_int_equal(gossip_body_decode((const uint8_t *)w.buf.data, w.buf.size, 9, &b), GOSSIP_WIRE_ECOUNT);
    assert_null(b);
    assert_int_equal(gossip_body_decode((const uint8_t *)w.buf.data, w.buf.size, 10, &b), GOSSIP_WIRE_OK);
    gossip_body_destroy(&b);
    gossip_writer_fini(&w);
}

struct bad_case {
    const char *what;
    uint8_t bytes[16];
    size_t len;
    enum gossip_wire_err want;
};

static void test_body_bad_fields(void **state)
{
    (void)state;
    static const struct bad_case cases[] = {
        {"NUL in key", {0x96, 0x01, 0xa3, 'a', 0x00, 'b', 0x00, 0x01, 0x01, 0x01}, 10, GOSSIP_WIRE_EFIELD},
        {"empty key", {0x96, 0x01, 0xa0, 0x00, 0x01, 0x01, 0x01}, 7, GOSSIP_WIRE_EFIELD},
        {"negative bucket", {0x96, 0x01, 0xa1, 'k', 0xff, 0x01, 0x01, 0x01}, 8, GOSSIP_WIRE_EFIELD},
        {"epoch over 32 bits", {0x96, 0x01, 0xa1, 'k', 0x00, 0x01, 0xcf, 1, 0, 0, 0, 0, 0, 0, 0, 0x01}, 16,
         GOSSIP_WIRE_EFIELD},
        {"unknown entry type", {0x96, 0x07, 0xa1, 'k', 0x00, 0x01, 0x01, 0x01}, 8, GOSSIP_WIRE_EFIELD},
        {"slot with 5 fields", {0x95, 0x01, 0xa1, 'k', 0x00, 0x01, 0x01}, 7, GOSSIP_WIRE_EFIELD},
        {"not an array", {0x01}, 1, GOSSIP_WIRE_EFIELD},
        {"float count", {0x96, 0x01, 0xa1, 'k', 0x00, 0x01, 0x01, 0xca, 0, 0, 0, 0}, 12, GOSSIP_WIRE_EFIELD},
        {"3 registers", {0x94, 0x02, 0xa1, 'k', 0x00, 0xc4, 0x03, 1, 2, 3}, 10, GOSSIP_WIRE_EFIELD},
        {"reserved byte", {0xc1}, 1, GOSSIP_WIRE_EMALFORMED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (decode_bounded(cases[i].bytes, cases[i].len) != cases[i].want) fail_msg("case '%s'", cases[i].what);
    /* A ban whose key is too long for the record. */
    struct gossip_writer w;
    gossip_writer_init(&w);
    char longkey[GOSSIP_KEY_MAX + 2];
    memset(longkey, 'x', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = 0;
    assert_int_equal(gossip_writer_slot(&w, longkey, 0, 1, 1, 1), -1);
    assert_int_equal(w.buf.size, 0);
    gossip_writer_fini(&w);
}

static void test_body_truncation_and_flips(void **state)
{
    (void)state;
    struct gossip_writer w;
    build_body(&w);
    const uint8_t *d = (const uint8_t *)w.buf.data;
    size_t n = w.buf.size;
    /* Every prefix: either a clean shorter body (cut at an entry boundary) or an error; never more. */
    size_t ok = 0;
    for (size_t i = 0; i < n; i++)
        if (decode_bounded(d, i) == GOSSIP_WIRE_OK) ok++;
    assert_true(ok >= 1 && ok <= 5);   /* the empty prefix and the 4 inner entry boundaries */
    /* The accounting sees the decoder's allocations (else the bound above proves nothing). */
    assert_int_equal(decode_bounded(d, n), GOSSIP_WIRE_OK);
    if (ALLOC_ACCOUNTING) assert_true(last_peak > (long long)n);
    print_message("decoding %zu bytes: peak %lld bytes allocated\n", n, last_peak);
    uint8_t *c = malloc(n);
    for (size_t bit = 0; bit < n * 8; bit++) {
        memcpy(c, d, n);
        c[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        decode_bounded(c, n);   /* result varies; the bound and sanitizers are what is checked */
    }
    free(c);
    gossip_writer_fini(&w);
}

static void test_strerror_distinct(void **state)
{
    (void)state;
    for (int i = 0; i < GOSSIP_WIRE_ERR_MAX; i++)
        for (int j = i + 1; j < GOSSIP_WIRE_ERR_MAX; j++)
            assert_string_not_equal(gossip_wire_strerror(i), gossip_wire_strerror(j));
    assert_string_equal(gossip_wire_strerror(GOSSIP_WIRE_ERR_MAX + 3), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_roundtrip),
        cmocka_unit_test(test_ban_signature_covers_every_field),
        cmocka_unit_test(test_frame_roundtrip),
        cmocka_unit_test(test_frame_forged_and_foreign),
        cmocka_unit_test(test_frame_every_bit_flip_rejected),
        cmocka_unit_test(test_frame_truncation_and_size),
        cmocka_unit_test(test_body_lying_counts),
        cmocka_unit_test(test_body_bad_fields),
        cmocka_unit_test(test_body_truncation_and_flips),
        cmocka_unit_test(test_strerror_distinct),
    };
    return cmocka_run_group_tests(tests, setup, two_keys_teardown);
}
