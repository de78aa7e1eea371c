/* test_gossip_sketch.c: distinct-count sketch: exact up to the cap, HyperLogLog after within its
 * error, union merge commutative, associative and idempotent, wire forms validated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "gossip/sketch.h"

static struct gossip_sketch *range(int from, int to)
{
    struct gossip_sketch *s = gossip_sketch_new();
    char item[32];
    for (int i = from; i < to; i++) {
        snprintf(item, sizeof item, "user%d@example.jp", i);
        gossip_sketch_add(s, item, strlen(item));
    }
    return s;
}

static void test_exact_then_hll(void **state)
{
    (void)state;
    struct gossip_sketch *s = gossip_sketch_new();
    assert_int_equal(gossip_sketch_count(s), 0);
    assert_true(gossip_sketch_add(s, "alice", 5));
    assert_false(gossip_sketch_add(s, "alice", 5));   /* duplicates do not count */
    assert_int_equal(gossip_sketch_count(s), 1);
    gossip_sketch_destroy(&s);
    gossip_sketch_destroy(&s);
    for (int n = 1; n <= GOSSIP_SKETCH_EXACT_MAX; n++) {
        s = range(0, n);
        assert_int_equal(gossip_sketch_count(s), n);
        assert_null(gossip_sketch_registers(s));
        gossip_sketch_destroy(&s);
    }
    const int sizes[] = {GOSSIP_SKETCH_EXACT_MAX + 1, 100, 1000, 10000, 100000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        s = range(0, sizes[i]);
        assert_non_null(gossip_sketch_registers(s));
        double est = (double)gossip_sketch_count(s), err = (est - sizes[i]) / sizes[i];
        /* 2^10 registers: 3.25% standard error; 10% is three of them. */
        if (err > 0.10 || err < -0.10) fail_msg("%d items estimated as %.0f", sizes[i], est);
        gossip_sketch_destroy(&s);
    }
}

static void test_merge_laws(void **state)
{
    (void)state;
    /* Pairs crossing the cap in every way: small+small (union exact or not), small+big, big+big. */
    const int spans[][2] = {{0, 10}, {5, 20}, {15, 30}, {0, 40}, {30, 500}, {400, 3000}};
    const int n = sizeof spans / sizeof spans[0];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            for (int k = 0; k < n; k++) {
                struct gossip_sketch *a = range(spans[i][0], spans[i][1]), *b = range(spans[j][0], spans[j][1]),
                                     *c = range(spans[k][0], spans[k][1]);
                /* (a+b)+c */
                struct gossip_sketch *l = gossip_sketch_dup(a);
                gossip_sketch_merge(l, b);
                gossip_sketch_merge(l, c);
                /* c+(b+a), with a repeated */
                struct gossip_sketch *r = gossip_sketch_dup(b), *r2 = gossip_sketch_dup(c);
                gossip_sketch_merge(r, a);
                gossip_sketch_merge(r2, r);
                gossip_sketch_merge(r2, a);
                assert_true(gossip_sketch_equal(l, r2));
                /* and equal to adding everything into one sketch */
                int lo = spans[i][0], hi = spans[i][1];
                struct gossip_sketch *all = range(lo, hi), *bb = range(spans[j][0], spans[j][1]);
                gossip_sketch_merge(all, bb);
                gossip_sketch_merge(all, c);
                assert_true(gossip_sketch_equal(l, all));
                assert_false(gossip_sketch_merge(l, l == all ? b : a));   /* idempotent */
                struct gossip_sketch *v[] = {a, b, c, l, r, r2, all, bb};
                for (size_t x = 0; x < sizeof v / sizeof v[0]; x++) gossip_sketch_destroy(&v[x]);
            }
}

static void test_wire_forms(void **state)
{
    (void)state;
    struct gossip_sketch *s = range(0, 20);
    size_t n;
    const uint64_t *h = gossip_sketch_hashes(s, &n);
    assert_int_equal(n, 20);
    for (size_t i = 1; i < n; i++) assert_true(h[i - 1] < h[i]);
    struct gossip_sketch *t = gossip_sketch_from_hashes(h, n);
    assert_true(gossip_sketch_equal(s, t));
    gossip_sketch_destroy(&t);
    uint64_t many[GOSSIP_SKETCH_EXACT_MAX + 1] = {0};
    assert_null(gossip_sketch_from_hashes(many, GOSSIP_SKETCH_EXACT_MAX + 1));
    gossip_sketch_destroy(&s);
    s = range(0, 1000);
    const uint8_t *reg = gossip_sketch_registers(s);
    t = gossip_sketch_from_registers(reg, GOSSIP_SKETCH_HLL_M);
    assert_true(gossip_sketch_equal(s, t));
    assert_int_equal(gossip_sketch_count(s), gossip_sketch_count(t));
    assert_true(gossip_sketch_mem(t) >= GOSSIP_SKETCH_HLL_M);
    gossip_sketch_destroy(&t);
    assert_null(gossip_sketch_from_registers(reg, GOSSIP_SKETCH_HLL_M - 1));
    uint8_t bad[GOSSIP_SKETCH_HLL_M];
    memcpy(bad, reg, sizeof bad);
    bad[7] = 200;   /* no 64-bit hash has that many leading zeros */
    assert_null(gossip_sketch_from_registers(bad, sizeof bad));
    gossip_sketch_destroy(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_then_hll),
        cmocka_unit_test(test_merge_laws),
        cmocka_unit_test(test_wire_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
