/* test_enforce_throttle_memo.c: the sending limits' per-thread memos never go stale: a bucket's
 * remembered horizon is not another bucket's, and counting after a check of other strings counts
 * the new subjects (subjects worked out once per request, reused by throttle_commit). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "enforce/throttle.h"

#define MIN 60000LL
#define HOUR (60 * MIN)
#define NOW (1700000000000LL - 1700000000000LL % HOUR + 4 * HOUR)   /* on a slot boundary */

static struct throttle_limit parse_ok(const char *name, const char *spec)
{
    struct throttle_limit l;
    char err[256];
    if (throttle_limit_parse(name, spec, &l, err, sizeof err) != 0) fail_msg("%s: %s", spec, err);
    return l;
}

static uint64_t used_at(const struct throttle_limit *l, int64_t ago_ms, uint64_t n)
{
    struct throttle_cell c = {NOW - ago_ms, n};
    struct throttle_slots s = {.slot_ms = 10000, .n = 1, .c = &c};
    return throttle_used(l, &s, 0, NOW);
}

/* Buckets differing only in rate, period or depth of debt have different horizons: a memo keyed
 * on less would drop an old slot the slow bucket still counts (used 0 instead of 10 or 80). */
static void test_horizon_memo_per_bucket(void **state)
{
    (void)state;
    struct throttle_limit slow = parse_ok("slow", "key=sasl_username rate=10/1h burst=10");
    struct throttle_limit fast_rate = parse_ok("fr", "key=sasl_username rate=600/1h burst=10");
    struct throttle_limit fast_per = parse_ok("fp", "key=sasl_username rate=10/1m burst=10");
    struct throttle_limit deep = parse_ok("deep", "key=sasl_username rate=10/1h burst=10 reject=1000%");
    for (int round = 0; round < 3; round++) {
        /* 10 units two minutes ago: slow has refilled a third of one, the fast ones are full */
        assert_int_equal(used_at(&fast_rate, 2 * MIN, 10), 0);
        assert_int_equal(used_at(&slow, 2 * MIN, 10), 10);
        assert_int_equal(used_at(&fast_per, 2 * MIN, 10), 0);
        assert_int_equal(used_at(&slow, 2 * MIN, 10), 10);
        /* 100 units two hours ago: slow forgot them (its horizon is an hour), deep is 90 in debt
         * and has refilled 20 since */
        assert_int_equal(used_at(&slow, 2 * HOUR, 100), 0);
        assert_int_equal(used_at(&deep, 2 * HOUR, 100), 80);
        assert_int_equal(used_at(&slow, 2 * HOUR, 100), 0);
    }
}

/* A store that remembers what was counted and holds nothing. */
struct fake {
    char added[16][128];
    size_t n;
};

static size_t fake_slots(void *arg, const char *key, int64_t lo, int64_t hi, struct throttle_cell *out, size_t max)
{
    (void)arg; (void)key; (void)lo; (void)hi; (void)out; (void)max;
    return 0;
}

static void fake_add(void *arg, const char *key, uint64_t n, int64_t now_ms)
{
    struct fake *f = arg;
    (void)n; (void)now_ms;
    assert_true(f->n < 16);
    snprintf(f->added[f->n++], sizeof f->added[0], "%s", key);
}

static bool counted(const struct fake *f, const char *subject)
{
    char key[512];
    assert_int_equal(throttle_counter_key(THROTTLE_MESSAGES, THROTTLE_SVC_SUBMISSION, false, subject, key, sizeof key), 0);
    size_t hits = 0;
    for (size_t i = 0; i < f->n; i++) hits += !strcmp(f->added[i], key);
    assert_true(hits <= 1);   /* one counter per (measure, service, subject), whatever the limits */
    return hits == 1;
}

static void test_commit_counts_the_strings_it_is_given(void **state)
{
    (void)state;
    struct throttle_config c;
    throttle_config_init(&c);
    char err[256];
    struct throttle_limit ls[] = {
        parse_ok("u", "key=sasl_username window=1h max=100"),
        parse_ok("u2", "key=sasl_username window=1d max=1000"),
        parse_ok("n24", "key=client_address window=1h max=100 prefix=24/64"),
        parse_ok("n24b", "key=client_address window=1h max=100 prefix=24/56"),   /* same IPv4 subject */
    };
    for (size_t i = 0; i < 4; i++) assert_int_equal(throttle_config_add(&c, &ls[i], err, sizeof err), 0);
    struct fake f = {.n = 0};
    struct throttle_store st = {.slot_ms = 10000, .slots = fake_slots, .add = fake_add, .arg = &f};
    char user[32] = "alice", client[32] = "192.0.2.7";
    struct throttle_input in = {.user = user, .client = client, .service = THROTTLE_SVC_SUBMISSION,
                                .amount = {1, 1, 100}};
    struct throttle_decision d;

    /* check and count the same request: its own subjects, each once */
    assert_int_equal(throttle_check(&c, &in, NOW, &st, &d), THROTTLE_NONE);
    throttle_commit(&c, &in, THROTTLE_NONE, NOW, &st);
    assert_true(counted(&f, "user:alice") && counted(&f, "net:192.0.2.0/24"));
    assert_int_equal(f.n, 2);

    /* the same struct, its strings changed in place after the check: the new ones are counted */
    f.n = 0;
    assert_int_equal(throttle_check(&c, &in, NOW, &st, &d), THROTTLE_NONE);
    snprintf(user, sizeof user, "carol");
    snprintf(client, sizeof client, "198.51.100.9");
    throttle_commit(&c, &in, THROTTLE_NONE, NOW, &st);
    assert_true(counted(&f, "user:carol") && counted(&f, "net:198.51.100.0/24"));
    assert_false(counted(&f, "user:alice") || counted(&f, "net:192.0.2.0/24"));
    assert_int_equal(f.n, 2);

    /* another request counted after a check of this one, and a commit with no check before */
    f.n = 0;
    struct throttle_input other = in;
    other.user = "dave";
    other.client = NULL;
    assert_int_equal(throttle_check(&c, &in, NOW, &st, &d), THROTTLE_NONE);
    throttle_commit(&c, &other, THROTTLE_NONE, NOW, &st);
    throttle_commit(&c, &in, THROTTLE_NONE, NOW, &st);
    assert_true(counted(&f, "user:dave") && counted(&f, "user:carol") && counted(&f, "net:198.51.100.0/24"));
    assert_int_equal(f.n, 3);
    throttle_config_release(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_horizon_memo_per_bucket),
        cmocka_unit_test(test_commit_counts_the_strings_it_is_given),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
