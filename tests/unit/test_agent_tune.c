/* test_agent_tune.c: the maths of `sgcluster tune`: nearest-rank quantiles, the threshold rule and
 * its verdicts, histogram bins; and the flow analysis on hand-made events: per-user peaks per clock
 * hour and day, failures split by addresses that also succeed, a scenario's peak over windows that
 * straddle a window boundary, and the proposal it makes; sending limits: trigger and proposal agree
 * with the evaluation (enforce/throttle.h), and limits are measured per user and client prefix. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config.h"
#include "agent/config_scenario.h"
#include "agent/tune.h"
#include "agent/tune_stats.h"
#include "agent/util.h"

#define T0 1795838400000LL   /* 2026-11-28 00:00 UTC: an hour and a day boundary */

static void test_quantile_nearest_rank(void **state)
{
    (void)state;
    struct tune_dist d = {0};
    for (uint64_t x = 1000; x >= 1; x--) tune_dist_push(&d, x);   /* unsorted on purpose */
    tune_dist_finish(&d);
    assert_int_equal(d.n, 1000);
    assert_int_equal(d.p50, 500);
    assert_int_equal(d.p90, 900);
    assert_int_equal(d.p99, 990);
    assert_int_equal(d.p999, 999);
    assert_int_equal(d.max, 1000);
    assert_int_equal(tune_quantile(d.v, d.n, 0), 1);
    assert_int_equal(tune_quantile(d.v, d.n, 1), 1000);
    tune_dist_free(&d);
    /* Ten values: q0.9 is the 9th, not rounded up to the 10th; q0.999 is the 10th. */
    uint64_t ten[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 100};
    assert_int_equal(tune_quantile(ten, 10, 0.9), 9);
    assert_int_equal(tune_quantile(ten, 10, 0.91), 100);
    assert_int_equal(tune_quantile(ten, 10, 0.999), 100);
    assert_int_equal(tune_quantile(ten, 1, 0.5), 1);
    assert_int_equal(tune_quantile(NULL, 0, 0.5), 0);
    tune_dist_finish(&d);   /* empty: all zero */
    assert_int_equal(d.p999 + d.max + d.p50, 0);
}

static void dist_of(struct tune_dist *d, uint64_t lo, uint64_t hi)
{
    for (uint64_t x = lo; x <= hi; x++) tune_dist_push(d, x);
    tune_dist_finish(d);
}

static void test_propose_rule(void **state)
{
    (void)state;
    struct tune_rule rule = {TUNE_RULE_Q_DEFAULT, TUNE_RULE_MARGIN_DEFAULT, TUNE_RULE_FLOOR_DEFAULT};
    struct tune_dist legit = {0}, attack = {0}, low = {0}, ones = {0}, none = {0};
    struct tune_proposal p;
    dist_of(&legit, 1, 1000);          /* q99.9 = 999 */
    dist_of(&attack, 2500, 3000);      /* median 2750 */
    tune_propose(&legit, &attack, &rule, 10, &p);
    assert_int_equal(p.legit_q, 999);
    assert_int_equal(p.threshold, 1999);   /* floor(999 * 2) + 1 */
    assert_int_equal(p.attack_p50, 2750);
    assert_int_equal(p.verdict, TUNE_SEPARATES);
    dist_of(&low, 1000, 1500);         /* attackers' median 1250 < 1999 */
    tune_propose(&legit, &low, &rule, 10, &p);
    assert_int_equal(p.verdict, TUNE_OVERLAP);
    assert_int_equal(p.threshold, 1999);   /* the legitimate side is kept */
    tune_propose(&legit, NULL, &rule, 10, &p);
    assert_int_equal(p.verdict, TUNE_NO_ATTACKERS);
    tune_propose(&none, &attack, &rule, 42, &p);
    assert_int_equal(p.verdict, TUNE_NO_DATA);
    assert_int_equal(p.threshold, 42);
    /* One event never triggers: the floor. */
    tune_dist_push(&ones, 0);
    tune_dist_finish(&ones);
    tune_propose(&ones, NULL, &rule, 10, &p);
    assert_int_equal(p.threshold, 2);
    /* Margin and quantile are the operator's. */
    struct tune_rule r2 = {0.5, 1.5, 1};
    tune_propose(&legit, NULL, &r2, 10, &p);
    assert_int_equal(p.legit_q, 500);
    assert_int_equal(p.threshold, 751);
    tune_dist_free(&legit);
    tune_dist_free(&attack);
    tune_dist_free(&low);
    tune_dist_free(&ones);
}

static void test_bins(void **state)
{
    (void)state;
    uint64_t lo[TUNE_BINS_MAX];
    assert_int_equal(tune_bins(0, lo), 0);
    assert_int_equal(tune_bins(5, lo), 5);
    assert_int_equal(lo[0], 1);
    assert_int_equal(lo[4], 5);
    assert_int_equal(tune_bin_of(lo, 5, 3), 2);
    size_t n = tune_bins(100, lo);   /* 1 2 4 8 16 32 64 */
    assert_int_equal(n, 7);
    assert_int_equal(lo[6], 64);
    assert_int_equal(tune_bin_of(lo, n, 1), 0);
    assert_int_equal(tune_bin_of(lo, n, 3), 1);
    assert_int_equal(tune_bin_of(lo, n, 64), 6);
    assert_int_equal(tune_bin_of(lo, n, 100), 6);
    n = tune_bins(UINT64_MAX, lo);
    assert_true(n <= TUNE_BINS_MAX);
    assert_int_equal(tune_bin_of(lo, n, UINT64_MAX), n - 1);
}

/* ---- the flow analysis ---------------------------------------------------------------------------- */

static struct sg_event ev_of(enum sg_event_kind kind, const char *service, const char *ip, const char *user, uint32_t nrcpt)
{
    struct sg_event ev = {.kind = kind, .count = 1, .nrcpt = nrcpt};
    snprintf(ev.service, sizeof ev.service, "%s", service);
    snprintf(ev.user, sizeof ev.user, "%s", user);
    if (ip) assert_int_equal(detect_ip_parse(ip, strlen(ip), &ev.family, ev.addr, ev.ip), 0);
    return ev;
}

static void test_flow(void **state)
{
    (void)state;
    struct config cfg = {0};
    cfg.prefix4 = 24;
    cfg.prefix6 = 64;
    char err[256];
    struct config_scenario *sc = config_scenario_new(&cfg, "auth-ip", "test", 1);
    assert_int_equal(config_scenario_set(sc, "events", "auth_fail", err, sizeof err), 0);
    assert_int_equal(config_scenario_set(sc, "window", "10m", err, sizeof err), 0);
    assert_int_equal(config_scenario_set(sc, "threshold", "10", err, sizeof err), 0);
    struct tune *t = tune_new(&cfg, NULL);
    /* alice: 3 messages (2+5+1 recipients) in hour 0, 1 in hour 1; bob: 1 message. */
    struct sg_event a = ev_of(SG_EV_SENT, "submission", "192.0.2.1", "alice", 2);
    tune_event(t, &a, T0 + 1000);
    a.nrcpt = 5;
    tune_event(t, &a, T0 + 2000);
    a.nrcpt = 1;
    tune_event(t, &a, T0 + 3000);
    struct sg_event a2 = ev_of(SG_EV_SENT, "submission", "192.0.2.9", "alice", 1);
    tune_event(t, &a2, T0 + 3600000 + 5);
    struct sg_event b = ev_of(SG_EV_SENT, "submission", "192.0.2.2", "bob", 1);
    tune_event(t, &b, T0 + 4000);
    /* 192.0.2.1 (alice's) fails twice: an address that also succeeds. 203.0.113.5 fails 5 times
     * just before a 10-minute boundary and 5 times just after: aligned windows see 5 and 5, the
     * windows shifted by half see 10. A dup is not counted. */
    struct sg_event f1 = ev_of(SG_EV_AUTH_FAIL, "imap", "192.0.2.1", "alice", 0);
    tune_event(t, &f1, T0 + 5000);
    tune_event(t, &f1, T0 + 6000);
    struct sg_event f2 = ev_of(SG_EV_AUTH_FAIL, "imap", "203.0.113.5", "root", 0);
    for (int i = 0; i < 5; i++) tune_event(t, &f2, T0 + 600000 - 5000 + i);
    for (int i = 0; i < 5; i++) tune_event(t, &f2, T0 + 600000 + 5000 + i);
    f2.dup = true;
    tune_event(t, &f2, T0 + 600000 + 6000);
    struct tune_rule rule = {TUNE_RULE_Q_DEFAULT, TUNE_RULE_MARGIN_DEFAULT, TUNE_RULE_FLOOR_DEFAULT};
    tune_finish(t, &rule);
    assert_int_equal(tune_count(t), TUNE_FLOW__COUNT + 1);

    const struct tune_measure *m = tune_get(t, TUNE_USER_MSG_HOUR);
    assert_string_equal(m->name, "user_messages_per_hour");
    assert_int_equal(m->legit.n, 2);
    assert_int_equal(m->legit.max, 3);    /* alice's hour 0 */
    assert_int_equal(m->legit.v[0], 1);   /* bob */
    assert_int_equal(tune_get(t, TUNE_USER_RCPT_HOUR)->legit.max, 8);
    assert_int_equal(tune_get(t, TUNE_USER_MSG_DAY)->legit.max, 4);
    assert_int_equal(tune_get(t, TUNE_USER_RCPT_DAY)->legit.max, 9);
    assert_int_equal(tune_get(t, TUNE_USER_ADDRS_DAY)->legit.max, 2);   /* alice from two addresses */
    m = tune_get(t, TUNE_ADDR_FAILS);
    assert_int_equal(m->legit.n, 1);
    assert_int_equal(m->legit.max, 2);
    assert_int_equal(m->attack.n, 1);
    assert_int_equal(m->attack.max, 10);

    m = tune_get(t, TUNE_FLOW__COUNT);
    assert_ptr_equal(m->sc, &cfg.scenarios[0]);
    assert_true(m->proposed);
    assert_int_equal(m->legit.max, 2);    /* 192.0.2.1 */
    assert_int_equal(m->attack.max, 10);  /* the half-shifted window holds all ten */
    assert_int_equal(m->prop.legit_q, 2);
    assert_int_equal(m->prop.threshold, 5);
    assert_int_equal(m->prop.verdict, TUNE_SEPARATES);
    int64_t first, last;
    uint64_t events;
    tune_period(t, &first, &last, &events);
    assert_int_equal(events, 17);
    assert_int_equal(first, T0 + 1000);
    tune_destroy(&t);
    tune_destroy(&t);   /* safe twice */
    for (size_t i = 0; i < cfg.nscenarios; i++) config_scenario_free(&cfg.scenarios[i]);
    free(cfg.scenarios);
}

/* A limit's trigger and proposal: the tier fires when (used + amount) * 100 > pct * capacity. */
static void test_limit_proposal(void **state)
{
    (void)state;
    struct throttle_limit l, p;
    char err[256];
    assert_int_equal(throttle_limit_parse("h", "key=sasl_username measure=recipients window=1h max=500 warn=80% defer=100% hold=300%",
                                          &l, err, sizeof err), 0);
    assert_int_equal(tune_limit_tier(&l), THROTTLE_DEFER);
    assert_int_equal(tune_limit_trigger(&l, 500), 501);
    tune_limit_propose(&l, 55, &p);
    assert_int_equal(p.max, 54);
    assert_int_equal(tune_limit_trigger(&p, p.max), 55);
    /* The trigger agrees with the evaluation itself: 54 used + 1 is deferred, 53 + 1 is not. */
    assert_int_equal(throttle_tier_of(&p, 53, 53, 1), THROTTLE_WARN);
    assert_int_equal(throttle_tier_of(&p, 54, 54, 1), THROTTLE_DEFER);
    /* A tier below 100%: the capacity grows so that it still fires at the threshold. */
    assert_int_equal(throttle_limit_parse("h", "key=sasl_username window=1h max=100 hold=80%", &l, err, sizeof err), 0);
    assert_int_equal(tune_limit_tier(&l), THROTTLE_HOLD);
    tune_limit_propose(&l, 41, &p);
    assert_int_equal(tune_limit_trigger(&p, p.max), 41);
    assert_int_equal(throttle_tier_of(&p, 39, 39, 1), THROTTLE_NONE);
    assert_int_equal(throttle_tier_of(&p, 40, 40, 1), THROTTLE_HOLD);
    /* A bucket: the rate is proposed, the burst keeps its proportion. */
    assert_int_equal(throttle_limit_parse("b", "key=sasl_username rate=10/1h burst=20", &l, err, sizeof err), 0);
    tune_limit_propose(&l, 17, &p);
    assert_int_equal(p.rate, 17);
    assert_int_equal(p.max, 34);
    assert_int_equal(p.per_ms, 3600000);
}

/* Limits measured from submissions: per user and per client prefix; a sender limit gets no data (these
 * hand-made events carry no sender: test_agent_tune_qmgr.c has the ones that do). */
static void test_flow_limits(void **state)
{
    (void)state;
    struct config cfg = {0};
    cfg.prefix4 = 24;
    cfg.prefix6 = 64;
    struct throttle_config thr;
    throttle_config_init(&thr);
    struct throttle_limit l;
    char err[256];
    assert_int_equal(throttle_limit_parse("rcpt", "key=sasl_username measure=recipients window=1h max=500", &l, err, sizeof err), 0);
    assert_int_equal(throttle_config_add(&thr, &l, err, sizeof err), 0);
    assert_int_equal(throttle_limit_parse("net", "key=client_address window=10m max=100 prefix=24/64", &l, err, sizeof err), 0);
    assert_int_equal(throttle_config_add(&thr, &l, err, sizeof err), 0);
    assert_int_equal(throttle_limit_parse("from", "key=sender window=1d max=1000", &l, err, sizeof err), 0);
    assert_int_equal(throttle_config_add(&thr, &l, err, sizeof err), 0);
    struct tune *t = tune_new(&cfg, &thr);
    struct sg_event a = ev_of(SG_EV_SENT, "submission", "192.0.2.1", "alice", 7);
    struct sg_event b = ev_of(SG_EV_SENT, "submission", "192.0.2.2", "bob", 3);
    tune_event(t, &a, T0 + 1000);
    tune_event(t, &a, T0 + 2000);
    tune_event(t, &b, T0 + 3000);
    struct tune_rule rule = {TUNE_RULE_Q_DEFAULT, TUNE_RULE_MARGIN_DEFAULT, TUNE_RULE_FLOOR_DEFAULT};
    tune_finish(t, &rule);
    assert_int_equal(tune_count(t), TUNE_FLOW__COUNT + 3);
    const struct tune_measure *m = tune_get(t, TUNE_FLOW__COUNT);
    assert_ptr_equal(m->limit, &thr.limits[0]);
    assert_int_equal(m->legit.n, 2);
    assert_int_equal(m->legit.max, 14);          /* alice: 7 + 7 recipients in the hour */
    assert_int_equal(m->current, 501);
    assert_int_equal(m->prop.threshold, 29);     /* floor(14 * 2) + 1 */
    assert_int_equal(m->proposed_limit.max, 28);
    m = tune_get(t, TUNE_FLOW__COUNT + 1);
    assert_int_equal(m->legit.n, 1);             /* both addresses in 192.0.2.0/24 */
    assert_int_equal(m->legit.max, 3);
    m = tune_get(t, TUNE_FLOW__COUNT + 2);
    assert_int_equal(m->legit.n, 0);
    assert_int_equal(m->prop.verdict, TUNE_NO_DATA);
    assert_int_equal(m->proposed_limit.max, 1000);
    tune_destroy(&t);
    throttle_config_release(&thr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantile_nearest_rank),
        cmocka_unit_test(test_propose_rule),
        cmocka_unit_test(test_bins),
        cmocka_unit_test(test_flow),
        cmocka_unit_test(test_limit_proposal),
        cmocka_unit_test(test_flow_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
