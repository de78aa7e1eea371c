/* test_enforce_dryrun.c: the public enforce API end to end over the dry-run backend: guard at
 * queue time, one commit per tick, overlap folding, reconcile, counters, bad input, removal. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/util.h"
#include "enforce/enforce.h"
#include "enforce/enforce_nft.h"

static struct enforce *dry_new(void)
{
    static const char *const allow[] = {"192.0.2.0/24"};
    static const char *const nodes[] = {"198.51.100.10", "2001:db8:2::10"};
    struct enforce_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.backend = ENFORCE_BACKEND_DRYRUN;
    cfg.allow = allow;
    cfg.nallow = 1;
    cfg.nodes = nodes;
    cfg.nnodes = 2;
    struct enforce *e = enforce_new(&cfg);
    assert_non_null(e);
    return e;
}

static void test_ban_commit_counts(void **state)
{
    (void)state;
    struct enforce *e = dry_new();
    struct enforce_stats st;
    struct enforce_kernel k;
    assert_int_equal(enforce_ban_text(e, "203.0.113.7", 3600), 0);
    assert_int_equal(enforce_ban_text(e, "203.0.113.0/24", 600), 0);
    assert_int_equal(enforce_ban_text(e, "2001:db8:9::/64", 600), 0);
    assert_int_equal(enforce_ban_text(e, "127.0.0.1", 600), -1);        /* loopback */
    assert_int_equal(enforce_ban_text(e, "192.0.2.9", 600), -1);        /* allowlisted */
    assert_int_equal(enforce_ban_text(e, "198.51.100.10", 600), -1);    /* a node */
    assert_int_equal(enforce_ban_text(e, "10.0.0.0/8", 600), -1);       /* too wide */
    assert_int_equal(enforce_ban_text(e, "300.1.1.1", 600), -1);        /* bad text */
    assert_int_equal(enforce_ban_text(e, NULL, 600), -1);
    assert_int_equal(enforce_pending(e), 3);
    assert_int_equal(enforce_commit(e), 0);
    assert_int_equal(enforce_pending(e), 0);
    enforce_get_stats(e, &st);
    assert_int_equal(st.applied, 2);             /* the address folded into its /24 */
    assert_int_equal(st.covered, 1);
    assert_int_equal(st.refused_by_guard, 4);
    assert_int_equal(st.bad_input, 2);
    assert_int_equal(st.transactions, 1);
    assert_int_equal(enforce_get_kernel(e, &k), 0);
    assert_true(k.table_present);
    assert_int_equal(k.set4, 1);
    assert_int_equal(k.set6, 1);

    /* An empty tick sends nothing. */
    assert_int_equal(enforce_commit(e), 0);
    enforce_get_stats(e, &st);
    assert_int_equal(st.transactions, 1);

    /* Unban, and a ban inside the banned /24 while it stands. */
    assert_int_equal(enforce_unban_text(e, "2001:db8:9::/64"), 0);
    assert_int_equal(enforce_ban_text(e, "203.0.113.99", 60), 0);
    assert_int_equal(enforce_commit(e), 0);
    enforce_get_stats(e, &st);
    assert_int_equal(st.removed, 1);
    assert_int_equal(st.covered, 2);
    assert_int_equal(enforce_get_kernel(e, &k), 0);
    assert_int_equal(k.set4, 1);
    assert_int_equal(k.set6, 0);

    assert_int_equal(enforce_remove_table(e), 0);
    assert_int_equal(enforce_get_kernel(e, &k), 0);
    assert_false(k.table_present);
    assert_int_equal(k.set4, 0);
    enforce_destroy(&e);
    assert_null(e);
    enforce_destroy(&e);
}

/* Waits (bounded) for the dry-run sets to hold n4 IPv4 elements, ticking as the agent does. */
static bool tick_until_set4(struct enforce *e, size_t n4, int max_ms)
{
    struct enforce_kernel k;
    for (int waited = 0; waited <= max_ms; waited += 20) {
        enforce_tick(e);
        if (enforce_get_kernel(e, &k) == 0 && k.set4 == n4) return true;
        usleep(20000);
    }
    return false;
}

/* A prefix ban replaces the bans it covers in the kernel; when it is lifted, or expires, they
 * come back (their own timeouts kept), and enforce_holds follows what the kernel holds. */
static void test_covered_bans_return(void **state)
{
    (void)state;
    struct enforce *e = dry_new();
    struct enforce_stats st;
    struct enforce_kernel k;
    struct enforce_prefix a1, a9, out;
    assert_int_equal(enforce_prefix_parse("203.0.113.1", &a1), 0);
    assert_int_equal(enforce_prefix_parse("203.0.113.9", &a9), 0);
    assert_int_equal(enforce_prefix_parse("198.18.0.1", &out), 0);
    assert_false(enforce_holds(e, &a1));                     /* nothing committed yet */
    assert_int_equal(enforce_ban_text(e, "203.0.113.1", 600), 0);
    assert_int_equal(enforce_ban_text(e, "203.0.113.2", 600), 0);
    assert_int_equal(enforce_ban_text(e, "2001:db8:7::5", 600), 0);
    assert_int_equal(enforce_commit(e), 0);
    assert_true(enforce_holds(e, &a1));
    assert_false(enforce_holds(e, &a9));

    /* Lifted: the /24 replaced both; its unban puts them back in the same transaction. */
    assert_int_equal(enforce_ban_text(e, "203.0.113.0/24", 600), 0);
    assert_int_equal(enforce_commit(e), 0);
    assert_int_equal(enforce_get_kernel(e, &k), 0);
    assert_int_equal(k.set4, 1);
    assert_true(enforce_holds(e, &a9));
    assert_int_equal(enforce_unban_text(e, "203.0.113.0/24"), 0);
    assert_int_equal(enforce_commit(e), 0);
    assert_int_equal(enforce_get_kernel(e, &k), 0);
    assert_int_equal(k.set4, 2);
    assert_int_equal(k.set6, 1);
    assert_true(enforce_holds(e, &a1));
    assert_false(enforce_holds(e, &a9));
    enforce_get_stats(e, &st);
    assert_int_equal(st.uncovered, 2);

    /* Expired: a 1 s /24 (and a /25 inside it that expires with it); the addresses come back
     * on the tick after the prefix's time is up, nothing else does. */
    assert_int_equal(enforce_ban_text(e, "203.0.113.0/24", 1), 0);
    assert_int_equal(enforce_ban_text(e, "203.0.113.0/25", 1), 0);
    assert_int_equal(enforce_commit(e), 0);
    assert_int_equal(enforce_get_kernel(e, &k), 0);
    assert_int_equal(k.set4, 1);
    assert_true(tick_until_set4(e, 2, 3000));
    assert_true(enforce_holds(e, &a1));
    assert_false(enforce_holds(e, &a9));
    assert_false(enforce_holds(e, &out));
    enforce_get_stats(e, &st);
    assert_int_equal(st.uncovered, 4);
    assert_int_equal(st.drift_missing, 0);                    /* no drift in a dry run */
    assert_int_equal(enforce_get_kernel(e, &k), 0);
    assert_int_equal(k.drift, 0);

    /* Removing the table forgets every wanted ban: no tick puts them back. */
    assert_int_equal(enforce_remove_table(e), 0);
    enforce_tick(e);
    assert_int_equal(enforce_get_kernel(e, &k), 0);
    assert_int_equal(k.set4, 0);
    enforce_destroy(&e);
}

static void test_reconcile(void **state)
{
    (void)state;
    struct enforce *e = dry_new();
    struct enforce_stats st;
    struct enforce_kernel k;
    assert_int_equal(enforce_ban_text(e, "203.0.113.1", 600), 0);
    assert_int_equal(enforce_ban_text(e, "203.0.113.2", 600), 0);
    assert_int_equal(enforce_commit(e), 0);
    struct enforce_ban want[3];
    memset(want, 0, sizeof want);
    assert_int_equal(enforce_prefix_parse("203.0.113.1", &want[0].prefix), 0);
    want[0].timeout_s = 600;
    assert_int_equal(enforce_prefix_parse("2001:db8:7::/64", &want[1].prefix), 0);
    want[1].timeout_s = 600;
    assert_int_equal(enforce_prefix_parse("::1", &want[2].prefix), 0);   /* refused here too */
    want[2].timeout_s = 600;
    assert_int_equal(enforce_ban_text(e, "203.0.113.50", 600), 0);       /* dropped: wanted is the truth */
    assert_int_equal(enforce_reconcile(e, want, 3), 0);
    assert_int_equal(enforce_pending(e), 0);
    enforce_get_stats(e, &st);
    assert_int_equal(st.reconciled_added, 1);
    assert_int_equal(st.reconciled_removed, 1);
    assert_int_equal(st.reconciled_retimed, 0);
    assert_int_equal(st.refused_by_guard, 1);
    assert_int_equal(enforce_get_kernel(e, &k), 0);
    assert_int_equal(k.set4, 1);
    assert_int_equal(k.set6, 1);
    /* Again: nothing to do. */
    assert_int_equal(enforce_reconcile(e, want, 2), 0);
    enforce_get_stats(e, &st);
    assert_int_equal(st.reconciled_added, 1);
    assert_int_equal(st.reconciled_removed, 1);
    enforce_destroy(&e);
}

/* The reconcile cut in slices, as the agent runs it: 30,000 wanted bans over a simulated set
 * that holds most of them, an extra one and a wrong timeout; enforce_tick runs one slice at a
 * time, bans queued meanwhile wait for the end, and the end state is exactly what is wanted. */
static void test_reconcile_slices(void **state)
{
    (void)state;
    struct enforce *e = dry_new();
    enum { N = 30000 };
    struct enforce_ban *want = calloc(N, sizeof *want);
    assert_non_null(want);
    char a[32];
    for (unsigned i = 0; i < N; i++) {
        /* Out of order on purpose: the slices sort them. */
        unsigned x = (i * 7919u) % N;
        snprintf(a, sizeof a, "10.%u.%u.%u", 1 + (x >> 16), (x >> 8) & 255, x & 255);
        assert_int_equal(enforce_prefix_parse(a, &want[i].prefix), 0);
        want[i].timeout_s = 3600;
        if (x >= 10 && enforce_ban(e, &want[i].prefix, x == 20 ? 60 : 3600) < 0) fail();   /* 10 missing, 1 off */
    }
    assert_int_equal(enforce_ban_text(e, "203.0.113.99", 600), 0);                     /* an extra */
    assert_int_equal(enforce_commit(e), 0);
    assert_int_equal(enforce_reconcile_start(e, want, N), 0);
    free(want);
    assert_true(enforce_reconciling(e));
    assert_string_equal(enforce_reconcile_stage(e), "sort");
    assert_int_equal(enforce_ban_text(e, "198.51.100.5", 600), 0);                     /* queued meanwhile */
    int ticks = 0;
    struct enforce_kernel k;
    while (enforce_reconciling(e) && ticks < 100000) {
        enforce_tick(e);
        ticks++;
        if (enforce_reconciling(e)) assert_int_equal(enforce_pending(e), 1);           /* it waits */
    }
    assert_false(enforce_reconciling(e));
    /* the queued ban went in as the reconcile ended, however long the commit of 30,000 above took */
    assert_int_equal(enforce_pending(e), 0);
    assert_true(ticks >= 2);                  /* cut in slices of a few ms (the whole takes tens of ms) */
    struct enforce_stats st;
    enforce_get_stats(e, &st);
    assert_int_equal(st.reconciled_added, 10);
    assert_int_equal(st.reconciled_removed, 1);
    assert_int_equal(st.reconciled_retimed, 1);
    assert_true(st.reconcile_slices >= (uint64_t)ticks);
    enforce_tick(e);                                             /* the queued ban goes in now */
    assert_int_equal(enforce_pending(e), 0);
    assert_int_equal(enforce_get_kernel(e, &k), 0);
    assert_int_equal(k.set4, N + 1);
    struct enforce_prefix p;
    assert_int_equal(enforce_prefix_parse("198.51.100.5", &p), 0);
    assert_true(enforce_holds(e, &p));
    assert_int_equal(enforce_prefix_parse("203.0.113.99", &p), 0);
    assert_false(enforce_holds(e, &p));
    enforce_destroy(&e);
}

/* Starts a reconcile of a few bans; it stays under way until the next enforce_tick. */
static void reconcile_under_way(struct enforce *e)
{
    struct enforce_ban w[4];
    for (unsigned i = 0; i < 4; i++) {
        char a[32];
        snprintf(a, sizeof a, "198.18.1.%u", i + 1);
        assert_int_equal(enforce_prefix_parse(a, &w[i].prefix), 0);
        w[i].timeout_s = 3600;
    }
    assert_int_equal(enforce_reconcile_start(e, w, 4), 0);
    assert_true(enforce_reconciling(e));
}

/* The queue that waits for a reconcile is bounded (ENFORCE_QUEUE_MAX): changes to the same prefix
 * coalesce, the last one winning; distinct changes past the bound are dropped, counted, and a
 * reconcile is asked for, which a new start answers. */
static void test_queue_bound(void **state)
{
    (void)state;
    struct enforce *e = dry_new();
    struct enforce_stats st;
    struct enforce_prefix a, b, p;
    assert_int_equal(enforce_prefix_parse("203.0.113.7", &a), 0);
    assert_int_equal(enforce_prefix_parse("203.0.113.8", &b), 0);
    reconcile_under_way(e);
    /* One address banned and unbanned over and over, the other banned once: ends banned, a lifted. */
    assert_int_equal(enforce_ban(e, &b, 600), 0);
    for (unsigned i = 0; i < 3 * ENFORCE_QUEUE_MAX; i++) {
        if (i % 2) assert_int_equal(enforce_unban(e, &a), 0);
        else assert_int_equal(enforce_ban(e, &a, 600), 0);
        assert_true(enforce_pending(e) <= ENFORCE_QUEUE_MAX);
    }
    assert_int_equal(enforce_ban(e, &a, 600), 0);   /* the last word on a: banned */
    enforce_get_stats(e, &st);
    assert_true(st.queue_coalesced >= 2 * (uint64_t)ENFORCE_QUEUE_MAX);
    assert_int_equal(st.queue_dropped, 0);
    assert_false(enforce_reconcile_needed(e));
    assert_true(enforce_holds(e, &a));
    while (enforce_reconciling(e)) enforce_tick(e);   /* its end commits the queue */
    assert_int_equal(enforce_pending(e), 0);
    assert_true(enforce_holds(e, &a));
    assert_true(enforce_holds(e, &b));

    /* Distinct bans, more than the queue holds: dropped and counted, a reconcile asked for; the
     * bans queued after the drop still wait for this reconcile's end. */
    reconcile_under_way(e);
    char t[32];
    for (unsigned i = 0; i < ENFORCE_QUEUE_MAX + 100; i++) {
        snprintf(t, sizeof t, "10.%u.%u.%u", 1 + (i >> 16), (i >> 8) & 255, i & 255);
        assert_int_equal(enforce_ban_text(e, t, 600), 0);
        assert_true(enforce_pending(e) <= ENFORCE_QUEUE_MAX);
    }
    enforce_get_stats(e, &st);
    assert_true(st.queue_dropped >= ENFORCE_QUEUE_MAX / 2);
    assert_true(enforce_reconcile_needed(e));
    assert_int_equal(enforce_pending(e), 100);         /* queued after the drop */
    while (enforce_reconciling(e)) enforce_tick(e);
    assert_int_equal(enforce_pending(e), 0);
    assert_int_equal(enforce_prefix_parse(t, &p), 0);
    assert_true(enforce_holds(e, &p));                 /* queued after the drop: in */
    assert_int_equal(enforce_prefix_parse("10.1.0.1", &p), 0);
    assert_false(enforce_holds(e, &p));                /* dropped: left to the reconcile asked for */
    assert_true(enforce_reconcile_needed(e));
    reconcile_under_way(e);
    assert_false(enforce_reconcile_needed(e));

    /* A queue the caller commits is not bounded here (its state bounds it). */
    while (enforce_reconciling(e)) enforce_tick(e);
    for (unsigned i = 0; i < ENFORCE_QUEUE_MAX + 1; i++) {
        snprintf(t, sizeof t, "10.%u.%u.%u", 1 + (i >> 16), (i >> 8) & 255, i & 255);
        assert_int_equal(enforce_ban_text(e, t, 600), 0);
    }
    assert_int_equal(enforce_pending(e), ENFORCE_QUEUE_MAX + 1);
    assert_int_equal(enforce_commit(e), 0);
    enforce_destroy(&e);
}

static void test_struct_prefixes(void **state)
{
    (void)state;
    struct enforce *e = dry_new();
    struct enforce_stats st;
    struct enforce_prefix p;
    memset(&p, 0, sizeof p);
    p.family = 2;                       /* AF_INET */
    p.len = 40;
    assert_int_equal(enforce_ban(e, &p, 60), -1);
    assert_int_equal(enforce_unban(e, &p), -1);
    p.family = 99;
    p.len = 24;
    assert_int_equal(enforce_ban(e, &p, 60), -1);
    /* Host bits in a struct handed in are cleared: both name the same /24. */
    assert_int_equal(enforce_prefix_parse("203.0.113.77", &p), 0);
    p.len = 24;
    assert_int_equal(enforce_ban(e, &p, 60), 0);
    assert_int_equal(enforce_ban_text(e, "203.0.113.0/24", 60), 0);
    assert_int_equal(enforce_commit(e), 0);
    enforce_get_stats(e, &st);
    assert_int_equal(st.bad_input, 3);
    assert_int_equal(st.applied, 1);
    assert_int_equal(st.covered, 0);
    enforce_destroy(&e);
}

static void test_bad_config(void **state)
{
    (void)state;
    struct enforce_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.backend = ENFORCE_BACKEND_DRYRUN;
    cfg.verdict = (enum enforce_verdict)7;
    assert_null(enforce_new(&cfg));
    cfg.verdict = ENFORCE_REJECT;
    cfg.nports = 1;
    cfg.ports[0] = 0;
    assert_null(enforce_new(&cfg));
    cfg.nports = ENFORCE_MAX_PORTS + 1;
    assert_null(enforce_new(&cfg));
    cfg.nports = 0;
    cfg.min_prefix4 = 40;
    assert_null(enforce_new(&cfg));
    cfg.min_prefix4 = 0;
    const char *bad[] = {"nonsense"};
    cfg.allow = bad;
    cfg.nallow = 1;
    assert_null(enforce_new(&cfg));
    cfg.nallow = 0;
    cfg.table = "";
    assert_null(enforce_new(&cfg));
    assert_null(enforce_new(NULL));
}

/* A long commit (a large interval set) spaces the next ones: a tick commits only once 9 times the last
 * commit's length has passed since it ended, at most 5 s; what waits stays queued, and held. */
static void test_commit_paced(void **state)
{
    (void)state;
    assert_true(enforce_commit_due(1000, 0, 1000));        /* a quick commit: every tick */
    assert_false(enforce_commit_due(1000, 100, 1899));     /* 100 ms: the next one 900 ms after it ended */
    assert_true(enforce_commit_due(1000, 100, 1900));
    assert_false(enforce_commit_due(1000, 2000, 5999));    /* 2 s: 18 s would be too long; 5 s at most */
    assert_true(enforce_commit_due(1000, 2000, 6000));

    struct enforce *e = dry_new();
    struct enforce_stats st;
    assert_int_equal(enforce_ban_text(e, "203.0.113.7", 3600), 0);
    assert_int_equal(enforce_tick(e), 0);                  /* the first commit: nothing before it */
    assert_int_equal(enforce_pending(e), 0);
    /* As if that commit had taken 200 ms: for 1.8 s after it ended, ticks leave the queue alone. */
    e->commit_cost_ms = 200;
    e->commit_end_ms = sg_mono_ms();
    assert_int_equal(enforce_ban_text(e, "203.0.113.8", 3600), 0);
    assert_int_equal(enforce_tick(e), 0);
    assert_int_equal(enforce_pending(e), 1);
    enforce_get_stats(e, &st);
    assert_int_equal(st.commits_paced, 1);
    assert_int_equal(st.applied, 1);
    e->commit_end_ms -= 1800;
    assert_int_equal(enforce_tick(e), 0);
    assert_int_equal(enforce_pending(e), 0);
    enforce_get_stats(e, &st);
    assert_int_equal(st.applied, 2);
    assert_int_equal(st.commits_paced, 1);
    enforce_destroy(&e);
}

int main(void)
{
    sg_log_set_level(SG_LOG_ERR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ban_commit_counts),
        cmocka_unit_test(test_covered_bans_return),
        cmocka_unit_test(test_reconcile),
        cmocka_unit_test(test_reconcile_slices),
        cmocka_unit_test(test_queue_bound),
        cmocka_unit_test(test_commit_paced),
        cmocka_unit_test(test_struct_prefixes),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
