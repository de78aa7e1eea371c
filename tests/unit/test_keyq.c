/* test_keyq.c: the bounded queue of distinct keys: order, deduplication, the bound, and random pushes
 * and pops (wrapping the ring, deleting from the index's probe chains) against a plain model. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/keyq.h"

static void test_order_dups_bound(void **state)
{
    (void)state;
    struct keyq q;
    keyq_init(&q, 3);
    assert_null(keyq_first(&q, NULL, NULL));
    assert_null(keyq_pop(&q));
    assert_int_equal(keyq_push(&q, "a", 1, -1), KEYQ_ADDED);
    assert_int_equal(keyq_push(&q, "b", 2, -2), KEYQ_ADDED);
    assert_int_equal(keyq_push(&q, "a", 9, -9), KEYQ_QUEUED);   /* place and time kept */
    assert_int_equal(keyq_push(&q, "c", 3, -3), KEYQ_ADDED);
    assert_int_equal(keyq_push(&q, "d", 4, -4), KEYQ_FULL);
    assert_int_equal(keyq_push(&q, "c", 4, -4), KEYQ_QUEUED);   /* full, but queued already */
    int64_t at, t0;
    assert_string_equal(keyq_first(&q, &at, &t0), "a");
    assert_int_equal(at, 1);
    assert_int_equal(t0, -1);   /* the first push's second time too */
    char *k = keyq_pop(&q);
    assert_string_equal(k, "a");
    free(k);
    assert_int_equal(keyq_push(&q, "a", 5, -5), KEYQ_ADDED);    /* popped: queued again, last */
    struct keyq to;
    keyq_init(&to, 2);
    assert_int_equal(keyq_push(&to, "c", 0, 0), KEYQ_ADDED);
    keyq_move(&to, &q);                                    /* b joins; c is there; a does not fit */
    assert_int_equal(q.n, 0);
    assert_int_equal(to.n, 2);
    free(keyq_pop(&to));
    assert_string_equal(keyq_first(&to, &at, &t0), "b");   /* both times move with the key */
    assert_true(at == 2 && t0 == -2);
    assert_int_equal(keyq_push(&to, "c", 0, 0), KEYQ_ADDED);
    const char *want[] = {"b", "c"};
    for (int i = 0; i < 2; i++) {
        k = keyq_pop(&to);
        assert_string_equal(k, want[i]);
        free(k);
    }
    keyq_fini(&to);
    keyq_fini(&q);
    keyq_init(&q, 0);
    assert_int_equal(keyq_push(&q, "a", 0, 0), KEYQ_FULL);
    keyq_fini(&q);
}

/* Random pushes of keys from a small alphabet (many duplicates, long probe chains) and pops. */
static void test_random_against_model(void **state)
{
    (void)state;
    enum { CAP = 37, KEYS = 60, OPS = 200000 };
    struct keyq q;
    keyq_init(&q, CAP);
    int model[CAP], head = 0, n = 0;   /* ring of key numbers */
    srandom(7);
    for (int op = 0; op < OPS; op++) {
        char key[16];
        if (random() % 3) {
            int k = (int)(random() % KEYS);
            snprintf(key, sizeof key, "k%d", k);
            bool queued = false;
            for (int i = 0; i < n; i++) queued |= model[(head + i) % CAP] == k;
            enum keyq_push want = queued ? KEYQ_QUEUED : n == CAP ? KEYQ_FULL : KEYQ_ADDED;
            assert_int_equal(keyq_has(&q, key), queued);
            assert_int_equal(keyq_push(&q, key, k, -k), want);
            if (want == KEYQ_ADDED) model[(head + n++) % CAP] = k;
        } else {
            char *got = keyq_pop(&q);
            if (!n) {
                assert_null(got);
                continue;
            }
            snprintf(key, sizeof key, "k%d", model[head]);
            assert_non_null(got);
            assert_string_equal(got, key);
            free(got);
            head = (head + 1) % CAP;
            n--;
        }
        assert_int_equal(q.n, (size_t)n);
    }
    keyq_fini(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_dups_bound),
        cmocka_unit_test(test_random_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
