/* test_gossip_hlc.c: the hybrid logical clock never goes backwards, orders after what it observed,
 * and refuses stamps too far in the future. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gossip/hlc.h"

static void test_local_stamps_monotonic(void **state)
{
    (void)state;
    struct gossip_hlc c;
    gossip_hlc_init(&c, 0);
    assert_int_equal(c.max_skew_ms, GOSSIP_HLC_DEFAULT_MAX_SKEW_MS);
    uint64_t a = gossip_hlc_now(&c, 1000);
    assert_true(a == GOSSIP_HLC_MAKE(1000, 0));
    uint64_t b = gossip_hlc_now(&c, 1000);          /* same millisecond: logical part counts */
    assert_true(b == GOSSIP_HLC_MAKE(1000, 1));
    uint64_t d = gossip_hlc_now(&c, 900);           /* wall clock stepped back */
    assert_true(d > b && GOSSIP_HLC_MS(d) == 1000 && GOSSIP_HLC_LOGICAL(d) == 2);
    uint64_t e = gossip_hlc_now(&c, 1001);
    assert_true(e == GOSSIP_HLC_MAKE(1001, 0));
    /* The logical part overflowing carries into the milliseconds, still increasing. */
    c.last = GOSSIP_HLC_MAKE(5000, 0xffff);
    uint64_t f = gossip_hlc_now(&c, 10);
    assert_true(f == GOSSIP_HLC_MAKE(5001, 0));
    /* Absurd clocks clamp instead of wrapping. */
    gossip_hlc_init(&c, 1000);
    assert_true(GOSSIP_HLC_MS(gossip_hlc_now(&c, -5)) == 0);
    assert_true(GOSSIP_HLC_MS(gossip_hlc_now(&c, INT64_MAX)) == 0xffffffffffffLL);
}

static void test_observe_and_skew(void **state)
{
    (void)state;
    struct gossip_hlc c;
    gossip_hlc_init(&c, 60000);
    gossip_hlc_now(&c, 100000);
    uint64_t remote = GOSSIP_HLC_MAKE(150000, 7);   /* 50 s ahead: accepted */
    assert_true(gossip_hlc_acceptable(&c, remote, 100000));
    assert_int_equal(gossip_hlc_observe(&c, remote, 100000), 0);
    assert_true(gossip_hlc_now(&c, 100001) > remote);
    uint64_t before = c.last;
    uint64_t far = GOSSIP_HLC_MAKE(160002, 0);      /* 60.001 s ahead of 100001: refused, nothing moves */
    assert_false(gossip_hlc_acceptable(&c, far, 100001));
    assert_int_equal(gossip_hlc_observe(&c, far, 100001), -1);
    assert_true(c.last == before);
    /* Exactly at the limit is still fine; older remote stamps change nothing. */
    assert_int_equal(gossip_hlc_observe(&c, GOSSIP_HLC_MAKE(160001, 0), 100001), 0);
    assert_int_equal(gossip_hlc_observe(&c, GOSSIP_HLC_MAKE(5, 0), 100001), 0);
    assert_true(c.last == GOSSIP_HLC_MAKE(160001, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_stamps_monotonic),
        cmocka_unit_test(test_observe_and_skew),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
