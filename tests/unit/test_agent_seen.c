/* test_agent_seen.c: `seen` from the ring of input horizons (agent/seen.h): the sample at or before
 * the oldest queued touch (checked against a plain scan over a wrapped ring), 0 for a queue older
 * than the ring, never more than the input horizon now, and 0 after a clock step back until every
 * key queued before it was evaluated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "agent/seen.h"

static const struct seen_queue empty = {-1, 0, 0};

static void test_empty_queue_is_input(void **state)
{
    (void)state;
    struct seen_ring r = {0};
    assert_int_equal(seen_ring_update(&r, 10000, 9000, &empty), 9000);
    assert_int_equal(seen_ring_update(&r, 10050, 9500, &empty), 9500);
    assert_int_equal(r.n, 1);   /* a sample every SEEN_STEP_MS at most */
    assert_int_equal(seen_ring_update(&r, 10000 + SEEN_STEP_MS, 9600, &empty), 9600);
    assert_int_equal(r.n, 2);
    seen_ring_fini(&r);
    seen_ring_fini(&r);   /* safe twice */
}

/* The plain answer: the input of the last sample whose wall is at or before oldest, capped. */
static int64_t scan(const int64_t *wall, const int64_t *input, size_t n, int64_t oldest, int64_t input_now)
{
    for (size_t i = n; i-- > 0;)
        if (wall[i] <= oldest) return input[i] < input_now ? input[i] : input_now;
    return 0;
}

static void test_lookup_matches_scan(void **state)
{
    (void)state;
    struct seen_ring r = {0};
    enum { TOTAL = SEEN_SAMPLES + 1500 };   /* the ring wraps */
    static int64_t wall[TOTAL], input[TOTAL];
    srand(7);
    int64_t now = 1000000, in = 900000;
    for (size_t i = 0; i < TOTAL; i++) {
        wall[i] = now;
        input[i] = in;
        assert_int_equal(seen_ring_update(&r, now, in, &empty), in);
        now += SEEN_STEP_MS + rand() % 300;
        in += rand() % 500;   /* the horizon only rises (a peer gone may lower it: see below) */
    }
    const int64_t *w = wall + (TOTAL - SEEN_SAMPLES), *iv = input + (TOTAL - SEEN_SAMPLES);
    int64_t last = wall[TOTAL - 1] + 1;   /* queried within a step of the last sample: none is added */
    for (int k = 0; k < 20000; k++) {
        /* touches anywhere from before the ring to after its last sample, on sample times too */
        int64_t oldest = k % 3 ? w[rand() % SEEN_SAMPLES] + (rand() % 3 - 1)
                               : wall[0] + rand() % (last - wall[0]);
        int64_t input_now = in + (k % 5 == 0 ? -(rand() % 400000) : 0);   /* a lower horizon now caps it */
        struct seen_queue q = {oldest, 1, 0};
        int64_t want = scan(w, iv, SEEN_SAMPLES, oldest, input_now);
        assert_int_equal(seen_ring_update(&r, last, input_now, &q), want);
    }
    assert_int_equal(r.n, SEEN_SAMPLES);
    /* before the ring's first sample: behind */
    struct seen_queue q = {w[0] - 1, 1, 0};
    assert_int_equal(seen_ring_update(&r, last, in, &q), 0);
    seen_ring_fini(&r);
}

static void test_clock_step_back(void **state)
{
    (void)state;
    struct seen_ring r = {0};
    for (int64_t t = 0; t < 100; t++) seen_ring_update(&r, 100000 + t * SEEN_STEP_MS, 50000 + t * 10, &empty);
    /* 5 keys queued, touched at 105000 by the old clock, 40 evaluated so far */
    struct seen_queue q = {105000, 5, 40};
    assert_int_equal(seen_ring_update(&r, 109950, 60000, &q), 50000 + 50 * 10);
    /* the clock steps back 10 s: new samples at 99950.. would pair the old touches with later horizons */
    assert_int_equal(seen_ring_update(&r, 99950, 61000, &q), 0);
    assert_int_equal(r.n, 1);
    q.oldest = 99950;   /* even a touch that looks as old as the new samples */
    assert_int_equal(seen_ring_update(&r, 100050, 61100, &q), 0);
    q.evaluated = 44;   /* one of the five still waits */
    assert_int_equal(seen_ring_update(&r, 100150, 61200, &q), 0);
    q.evaluated = 45, q.queued = 3;   /* all five out; three new ones, touched after the step */
    q.oldest = 100060;
    assert_int_equal(seen_ring_update(&r, 100250, 61300, &q), 61100);
    assert_false(r.stepped);
    /* a step back with nothing queued: nothing to wait for */
    assert_int_equal(seen_ring_update(&r, 50000, 62000, &empty), 62000);
    assert_false(r.stepped);
    seen_ring_fini(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_queue_is_input),
        cmocka_unit_test(test_lookup_matches_scan),
        cmocka_unit_test(test_clock_step_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
