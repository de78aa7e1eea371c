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

/* An update with the monotonic clock at a fixed distance from the wall clock: no step. */
static int64_t upd(struct seen_ring *r, int64_t now, int64_t input_ms, const struct seen_queue *q)
{
    return seen_ring_update(r, now, now - 5000, input_ms, q);
}

static void test_empty_queue_is_input(void **state)
{
    (void)state;
    struct seen_ring r = {0};
    assert_int_equal(upd(&r, 10000, 9000, &empty), 9000);
    assert_int_equal(upd(&r, 10050, 9500, &empty), 9500);
    assert_int_equal(r.n, 1);   /* a sample every SEEN_STEP_MS at most */
    assert_int_equal(upd(&r, 10000 + SEEN_STEP_MS, 9600, &empty), 9600);
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
        assert_int_equal(upd(&r, now, in, &empty), in);
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
        assert_int_equal(upd(&r, last, input_now, &q), want);
    }
    assert_int_equal(r.n, SEEN_SAMPLES);
    /* before the ring's first sample: behind */
    struct seen_queue q = {w[0] - 1, 1, 0};
    assert_int_equal(upd(&r, last, in, &q), 0);
    seen_ring_fini(&r);
}

static void test_clock_step_back(void **state)
{
    (void)state;
    struct seen_ring r = {0};
    for (int64_t t = 0; t < 100; t++) upd(&r, 100000 + t * SEEN_STEP_MS, 50000 + t * 10, &empty);
    /* 5 keys queued, touched at 105000 by the old clock, 40 evaluated so far */
    struct seen_queue q = {105000, 5, 40};
    assert_int_equal(upd(&r, 109950, 60000, &q), 50000 + 50 * 10);
    /* the clock steps back 10 s (the monotonic clock goes on): new samples at 99950.. would pair the
     * old touches with later horizons */
    int64_t mono = 109950 - 5000 + 10;
    assert_int_equal(seen_ring_update(&r, 99960, mono, 61000, &q), 0);
    assert_int_equal(r.n, 1);
    q.oldest = 99950;   /* even a touch that looks as old as the new samples */
    assert_int_equal(seen_ring_update(&r, 100060, mono + 100, 61100, &q), 0);
    q.evaluated = 44;   /* one of the five still waits */
    assert_int_equal(seen_ring_update(&r, 100160, mono + 200, 61200, &q), 0);
    q.evaluated = 45, q.queued = 3;   /* all five out; three new ones, touched after the step */
    q.oldest = 100070;
    assert_int_equal(seen_ring_update(&r, 100260, mono + 300, 61300, &q), 61100);
    assert_false(r.stepped);
    /* A step back that leaves now after the last sample and after the oldest touch (calls are
     * sparse): only the monotonic clock shows it. Last sample at 100360 (mono + 400); key A touched
     * at 100400 and key B at 100600 by the old clock (mono + 440, + 640); at mono + 700 the clock
     * steps back 200 ms and reads 100460. Without the step, the sample taken then (after B's touch)
     * would be found for B once A is out: a horizon later than B's touch. */
    assert_int_equal(seen_ring_update(&r, 100360, mono + 400, 61400, &empty), 61400);
    struct seen_queue late = {100400, 2, 45};
    assert_int_equal(seen_ring_update(&r, 100460, mono + 700, 61450, &late), 0);
    assert_true(r.stepped);
    late.evaluated = 46, late.queued = 1, late.oldest = 100600;   /* A out: B is the oldest */
    assert_int_equal(seen_ring_update(&r, 100610, mono + 850, 61600, &late), 0);
    late.evaluated = 47, late.oldest = 100650;   /* B out, and C touched after the step */
    assert_int_equal(seen_ring_update(&r, 100720, mono + 960, 61700, &late), 61600);
    assert_false(r.stepped);
    /* A queued touch later than now is a step back too (one before a reload, say) */
    struct seen_queue ahead = {200000, 2, 47};
    assert_int_equal(seen_ring_update(&r, 100820, mono + 1060, 61800, &ahead), 0);
    ahead.evaluated = 49, ahead.oldest = 100850, ahead.queued = 1;   /* out; one touched after */
    assert_int_equal(seen_ring_update(&r, 100920, mono + 1160, 61900, &ahead), 61800);
    /* a step back with nothing queued: nothing to wait for */
    assert_int_equal(seen_ring_update(&r, 50000, mono + 1260, 62000, &empty), 62000);
    assert_false(r.stepped);
    /* the monotonic clock read a millisecond apart is noise, not a step */
    struct seen_queue one = {50050, 1, 49};
    assert_int_equal(seen_ring_update(&r, 50100, mono + 1360 + SEEN_STEP_BACK_MS, 62100, &one), 62000);
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
