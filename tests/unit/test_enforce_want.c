/* test_enforce_want.c: the wanted-bans set behind "kernel equals state", without a kernel: a
 * lifted prefix gives back what it covered (not what expired), a due prefix is lifted only when
 * it covers something, and the drift check's slices visit every live ban round robin. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enforce/enforce_nft.h"

#define NOW 1000000

static struct enforce_nft_change change(const char *text, uint32_t timeout_s, uint8_t kind, uint64_t seq)
{
    struct enforce_nft_change c = {.timeout_s = timeout_s, .kind = kind, .seq = seq};
    assert_int_equal(enforce_prefix_parse(text, &c.p), 0);
    return c;
}

/* Folds changes in at time t, as a commit does; returns what was pushed back. */
static size_t apply(struct enforce_want *w, struct enforce_nft_change *c, size_t n, int64_t t,
                    struct enforce_nft_queue *back)
{
    n = enforce_nft_changes_fold(c, n);
    return enforce_want_apply(w, c, n, t, back);
}

static bool pushed(const struct enforce_nft_queue *q, const char *text, uint8_t kind)
{
    struct enforce_prefix p;
    assert_int_equal(enforce_prefix_parse(text, &p), 0);
    for (size_t i = 0; i < q->n; i++)
        if (!enforce_prefix_cmp(&q->v[i].p, &p) && q->v[i].kind == kind) return true;
    return false;
}

static void test_lifted_prefix_gives_back(void **state)
{
    (void)state;
    struct enforce_want w;
    enforce_want_init(&w);
    struct enforce_nft_queue back = {0};
    struct enforce_nft_change c[] = {
        change("203.0.113.1", 600, ENFORCE_NFT_ADD, 1), change("203.0.113.2", 10, ENFORCE_NFT_ADD, 2),
        change("203.0.113.0/25", 600, ENFORCE_NFT_ADD, 3), change("203.0.113.0/24", 600, ENFORCE_NFT_ADD, 4),
        change("198.51.100.7", 600, ENFORCE_NFT_ADD, 5),
    };
    assert_int_equal(apply(&w, c, 5, NOW, &back), 0);            /* nothing lifted */
    /* 20 s later the /24 is unbanned: .1 and the /25 come back; .2 has expired; the address
     * outside the /24 was never covered. */
    struct enforce_nft_change u[] = {change("203.0.113.0/24", 0, ENFORCE_NFT_DEL, 6)};
    assert_int_equal(apply(&w, u, 1, NOW + 20000, &back), 2);
    assert_true(pushed(&back, "203.0.113.1", ENFORCE_NFT_ADD));
    assert_true(pushed(&back, "203.0.113.0/25", ENFORCE_NFT_ADD));
    assert_false(pushed(&back, "203.0.113.2", ENFORCE_NFT_ADD));
    assert_false(pushed(&back, "198.51.100.7", ENFORCE_NFT_ADD));
    /* Their timeouts are what they have left, not what they started with. */
    for (size_t i = 0; i < back.n; i++) assert_int_equal(back.v[i].timeout_s, 580);
    free(back.v);
    enforce_want_free(&w);
}

static void test_due_prefix(void **state)
{
    (void)state;
    struct enforce_want w;
    enforce_want_init(&w);
    struct enforce_nft_queue q = {0};
    struct enforce_nft_change c[] = {
        change("203.0.113.0/24", 5, ENFORCE_NFT_ADD, 1), change("203.0.113.9", 600, ENFORCE_NFT_ADD, 2),
        change("198.51.100.0/24", 5, ENFORCE_NFT_ADD, 3), change("2001:db8::/64", 60, ENFORCE_NFT_ADD, 4),
    };
    apply(&w, c, 4, NOW, &q);
    assert_int_equal(w.next_prefix_exp_ms, NOW + 5000);
    assert_int_equal(enforce_want_expire(&w, NOW + 4999, &q), 0);  /* not due yet */
    assert_int_equal(q.n, 0);
    /* Due: the /24 covering .9 is lifted (its delete queued); the empty one just goes. */
    assert_int_equal(enforce_want_expire(&w, NOW + 5000, &q), 1);
    assert_int_equal(q.n, 1);
    assert_true(pushed(&q, "203.0.113.0/24", ENFORCE_NFT_DEL));
    assert_int_equal(w.next_prefix_exp_ms, NOW + 60000);          /* the IPv6 prefix is next */
    /* The commit that folds that delete in gives .9 back. */
    struct enforce_nft_queue back = {0};
    assert_int_equal(apply(&w, q.v, q.n, NOW + 5001, &back), 1);
    assert_true(pushed(&back, "203.0.113.9", ENFORCE_NFT_ADD));
    free(back.v);
    free(q.v);
    enforce_want_free(&w);
}

static void test_slices_visit_everything(void **state)
{
    (void)state;
    struct enforce_want w;
    enforce_want_init(&w);
    struct enforce_nft_queue back = {0};
    enum { N = 100 };
    struct enforce_nft_change c[N];
    char text[32];
    for (int i = 0; i < N; i++) {
        snprintf(text, sizeof text, "192.0.2.%d", i + 1);
        /* Every tenth expires at once; every tenth plus one within the 5 s the check skips. */
        c[i] = change(text, i % 10 == 0 ? 1 : i % 10 == 1 ? 3 : 600, ENFORCE_NFT_ADD, (uint64_t)i);
    }
    apply(&w, c, N, NOW, &back);
    int seen[N] = {0};
    struct enforce_nft_elem out[7];
    for (int call = 0; call < 30; call++) {
        size_t k = enforce_want_slice(&w, NOW + 2000, 5000, 7, out);
        assert_true(k <= 7);
        for (size_t j = 0; j < k; j++) seen[out[j].p.addr[3] - 1]++;
    }
    for (int i = 0; i < N; i++) {
        if (i % 10 <= 1) assert_int_equal(seen[i], 0);            /* expired, or about to */
        else assert_true(seen[i] >= 2);                          /* 80 live in 30 x 7: each twice */
    }
    assert_int_equal(w.set.n, N - 10);                            /* the expired addresses dropped */
    free(back.v);
    enforce_want_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifted_prefix_gives_back),
        cmocka_unit_test(test_due_prefix),
        cmocka_unit_test(test_slices_visit_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
