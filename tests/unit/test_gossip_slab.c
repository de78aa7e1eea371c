/* test_gossip_slab.c: the state's block allocator: blocks are zeroed, aligned and distinct across
 * chunks, a freed block is reused (zeroed again), and the memory figure counts whole chunks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/slab.h"

static void test_blocks_distinct_zeroed_reused(void **state)
{
    (void)state;
    struct gossip_slab s;
    gossip_slab_init(&s, 81);
    assert_int_equal(s.size, 88);
    enum { N = 5000 };   /* several 64 KiB chunks */
    unsigned char **p = calloc(N, sizeof *p);
    for (int i = 0; i < N; i++) {
        p[i] = gossip_slab_alloc(&s);
        assert_int_equal((uintptr_t)p[i] % 8, 0);
        for (size_t j = 0; j < s.size; j++) assert_int_equal(p[i][j], 0);
        memset(p[i], i & 255 ? i & 255 : 1, s.size);
    }
    for (int i = 0; i < N; i++) assert_int_equal(p[i][s.size - 1], i & 255 ? i & 255 : 1);   /* no overlap */
    assert_int_equal(s.live, N);
    assert_true(gossip_slab_mem(&s) >= (size_t)N * s.size);
    size_t mem = gossip_slab_mem(&s);
    for (int i = 0; i < N; i += 2) gossip_slab_free(&s, p[i]);
    gossip_slab_free(&s, NULL);
    assert_int_equal(s.live, N / 2);
    for (int i = 0; i < N; i += 2) {
        p[i] = gossip_slab_alloc(&s);
        for (size_t j = 0; j < s.size; j++) assert_int_equal(p[i][j], 0);
    }
    assert_int_equal(gossip_slab_mem(&s), mem);   /* the freed blocks, not new chunks */
    for (int i = 0; i < N; i++) gossip_slab_free(&s, p[i]);
    gossip_slab_fini(&s);
    assert_int_equal(s.size, 88);
    assert_int_equal(s.live, 0);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocks_distinct_zeroed_reused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
