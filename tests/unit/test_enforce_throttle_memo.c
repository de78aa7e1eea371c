/* test_enforce_throttle_memo.c: the sending limits' per-thread memos never go stale: a bucket's
 * remembered horizon is not another bucket's, and counting after a check of other strings counts
 * the new subjects (subjects worked out once per request, reused by throttle_commit); and the
 * shortcuts of a whole request (windows summed per counter, buckets merged from the longest
 * bucket horizon on) give what the definition gives on a day of dense history. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "enforce/throttle.h"
#include "common/key.h"

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

/* ---- a day of dense history against the definition ------------------------------------------ */

#define SLOT 10000LL
#define DAY (24 * HOUR)

/* Knuth's MMIX LCG, top bits: a fixed history, the same on every run. */
static uint64_t rnd(void)
{
    static uint64_t x = 7;
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return x >> 33;
}

static int64_t floor_slot(int64_t t) { return t - ((t % SLOT) + SLOT) % SLOT; }

/* The definition (throttle.h): the slots of every counter l sees, summed per slot, walked by
 * throttle_used without running sums; the reset read from its own counter. */
static uint64_t reference_used(const struct throttle_config *c, const struct throttle_limit *l, const char *subject,
                               bool tried, int64_t now, const struct throttle_store *st)
{
    static struct throttle_cell cells[8][THROTTLE_SLOTS_MAX], merged[THROTTLE_SLOTS_MAX];
    int64_t lo = floor_slot(now - c->horizon_ms), hi = floor_slot(now);
    size_t nk = 0, got[8];
    char key[512];
    for (int r = 0; r <= (int)tried; r++)
        for (int v = THROTTLE_SVC_SUBMISSION; v <= THROTTLE_SVC_SMTP; v++) {
            if (l->service != THROTTLE_SVC_ANY && (int)l->service != v) continue;
            assert_int_equal(throttle_counter_key(l->measure, (enum throttle_service)v, r, subject, key, sizeof key), 0);
            got[nk] = st->slots(st->arg, key, lo, hi, cells[nk], THROTTLE_SLOTS_MAX);
            nk++;
        }
    static uint64_t sum[THROTTLE_SLOTS_MAX];
    static bool any[THROTTLE_SLOTS_MAX];
    size_t n = 0, slots = (size_t)((hi - lo) / SLOT + 1);
    memset(sum, 0, sizeof sum);
    memset(any, 0, sizeof any);
    for (size_t k = 0; k < nk; k++)
        for (size_t i = 0; i < got[k]; i++) {
            size_t at = (size_t)((cells[k][i].start - lo) / SLOT);
            sum[at] += cells[k][i].n;
            any[at] = true;
        }
    for (size_t i = 0; i < slots; i++)
        if (any[i]) merged[n++] = (struct throttle_cell){lo + (int64_t)i * SLOT, sum[i]};
    assert_int_equal(sg_evidence_format_text(SG_SCOPE_THROTTLE_RESET, subject, key, sizeof key), 0);
    struct throttle_cell rc[THROTTLE_SLOTS_MAX / 8];
    size_t nr = st->slots(st->arg, key, lo, hi, rc, sizeof rc / sizeof rc[0]);
    int64_t reset = nr ? rc[nr - 1].start + SLOT : 0;
    struct throttle_slots sl = {.slot_ms = SLOT, .n = n, .c = merged, .cum = NULL};
    return throttle_used(l, &sl, reset, now);
}

static void test_dense_history_matches_definition(void **state)
{
    (void)state;
    struct throttle_config c;
    throttle_config_init(&c);
    char err[256];
    static const char *const specs[] = {
        "key=sasl_username window=1m max=20 service=any warn=50% defer=100% hold=200%",
        "key=sasl_username window=1h max=900 service=submission defer=100% reject=150%",
        "key=sasl_username measure=recipients window=1d max=40000 service=any warn=80% defer=100% hold=300%",
        "key=sender window=6h max=5000 service=smtp defer=100%",
        "key=sender_domain measure=bytes window=10m max=300000 service=any hold=120%",
        "key=sasl_username rate=300/1h burst=400 service=any defer=100%",
        "key=sasl_username measure=recipients rate=100/10m burst=150 service=submission defer=100% reject=400%",
        "key=sender rate=50/1m burst=60 service=any warn=90% defer=100% hold=250%",
        "key=client_address prefix=24/64 rate=2000/1d burst=500 service=any defer=100%",
        "key=client_address window=1h max=700 service=any defer=100% hold=200%",
        /* the longest bucket (18 h): refilled as fast as the history below consumes, so after the
         * burst near its start it is never full nor empty again, and every slot of its horizon
         * still weighs on it now */
        "key=sasl_username measure=recipients rate=662/1h burst=12000 service=any defer=100%",
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        char name[16];
        snprintf(name, sizeof name, "l%zu", i);
        struct throttle_limit l = parse_ok(name, specs[i]);
        assert_int_equal(throttle_config_add(&c, &l, err, sizeof err), 0);
    }
    throttle_sim_t *sim = throttle_sim_new(SLOT);
    struct throttle_store st = throttle_sim_store(sim);
    struct throttle_input in = {.user = "alice", .sender = "Alice@Example.org", .client = "192.0.2.7"};
    /* a day with a message in most slots, from both services, some of them refused */
    for (int64_t t = NOW - DAY + SLOT; t < NOW; t += SLOT) {
        if (rnd() % 10 < 3) continue;
        in.service = rnd() % 3 ? THROTTLE_SVC_SUBMISSION : THROTTLE_SVC_SMTP;
        in.amount[THROTTLE_MESSAGES] = 1 + rnd() % 2;
        in.amount[THROTTLE_RECIPIENTS] = 1 + rnd() % 6;
        in.amount[THROTTLE_BYTES] = 1 + rnd() % 5000;
        throttle_commit(&c, &in, rnd() % 4 ? THROTTLE_NONE : THROTTLE_DEFER, t + (int64_t)(rnd() % SLOT), &st);
        if (t == NOW - 3 * HOUR) assert_int_equal(throttle_reset("from:alice@example.org", t, &st), 0);
        if (t >= NOW - 18 * HOUR && t < NOW - 18 * HOUR + 2 * MIN) {
            in.service = THROTTLE_SVC_SUBMISSION;
            in.amount[THROTTLE_RECIPIENTS] = 400;
            throttle_commit(&c, &in, THROTTLE_NONE, t, &st);
        }
    }
    static const int64_t nows[] = {NOW, NOW + 3333, NOW + SLOT + 7001};
    size_t compared = 0;
    for (size_t k = 0; k < sizeof nows / sizeof nows[0]; k++) {
        int64_t now = nows[k];
        in.service = THROTTLE_SVC_SUBMISSION;
        struct throttle_decision d;
        enum throttle_tier worst = THROTTLE_NONE;
        for (size_t i = 0; i < c.nlimits; i++) {
            const struct throttle_limit *l = &c.limits[i];
            char subj[256];
            assert_int_equal(throttle_subject(l, &in, subj, sizeof subj), 0);
            uint64_t used, tried, cap, ru = reference_used(&c, l, subj, false, now, &st),
                                          rt = reference_used(&c, l, subj, true, now, &st);
            enum throttle_tier next;
            assert_int_equal(throttle_usage(&c, i, subj, now, &st, &used, &tried, &cap, &next), 0);
            assert_int_equal(used, ru);
            assert_int_equal(tried, rt);
            compared += ru > 0;
            if (l->service == THROTTLE_SVC_ANY || l->service == in.service) {
                enum throttle_tier t = throttle_tier_of(l, ru, rt, in.amount[l->measure]);
                if (t > worst) worst = t;
            }
        }
        assert_int_equal(throttle_check(&c, &in, now, &st, &d), worst);
    }
    assert_true(compared >= 20);   /* the history is really read, not empty */
    throttle_sim_destroy(&sim);
    throttle_config_release(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_horizon_memo_per_bucket),
        cmocka_unit_test(test_commit_counts_the_strings_it_is_given),
        cmocka_unit_test(test_dense_history_matches_definition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
