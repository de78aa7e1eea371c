/* test_agent_attempt_once.c: an attempt seen in the log and in a Dovecot auth-policy report counts
 * once whichever comes first; a login line standing for N attempts against N reports; other
 * sessions, addresses, users and kinds never cancel each other; entries expire; a flood of
 * sessions keeps memory fixed, counts its evictions, and only ever makes attempts count twice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "agent/attempt_once.h"

#define T0 1795838400000LL

static struct sg_event ev(enum sg_event_kind k, const char *session, const char *ip, const char *user, uint32_t count)
{
    struct sg_event e;
    memset(&e, 0, sizeof e);
    e.kind = k;
    e.count = count;
    e.family = strchr(ip, ':') ? AF_INET6 : AF_INET;
    inet_pton(e.family, ip, e.addr);
    snprintf(e.ip, sizeof e.ip, "%s", ip);
    snprintf(e.user, sizeof e.user, "%s", user);
    snprintf(e.session, sizeof e.session, "%s", session);
    return e;
}

/* Counted attempts of e from src: 0 when it came out dup. */
static uint32_t join(struct attempt_once *o, enum attempt_source src, struct sg_event e, int64_t now)
{
    attempt_once_join(o, src, &e, now);
    return e.dup ? 0 : e.count;
}

static void test_either_order_counts_once(void **state)
{
    (void)state;
    struct attempt_once *o = attempt_once_new();
    struct sg_event f = ev(SG_EV_AUTH_FAIL, "u0Bvr/xhepIKTQBl", "10.77.0.101", "alice", 1);
    assert_int_equal(join(o, ATTEMPT_LOG, f, T0), 1);
    assert_int_equal(join(o, ATTEMPT_REPORT, f, T0 + 5), 0);
    struct sg_event g = ev(SG_EV_AUTH_FAIL, "Qih4r/xhXu0KTQBm", "10.77.0.102", "bob", 1);
    assert_int_equal(join(o, ATTEMPT_REPORT, g, T0), 1);
    assert_int_equal(join(o, ATTEMPT_LOG, g, T0 + 800), 0);
    /* a success is an attempt of its own kind */
    struct sg_event ok = ev(SG_EV_AUTH_OK, "u0Bvr/xhepIKTQBl", "10.77.0.101", "alice", 1);
    assert_int_equal(join(o, ATTEMPT_REPORT, ok, T0 + 10), 1);
    assert_int_equal(join(o, ATTEMPT_LOG, ok, T0 + 20), 0);
    struct attempt_once_stats s;
    attempt_once_stats(o, &s);
    assert_int_equal(s.once, 3);
    assert_int_equal(s.log, 3);
    assert_int_equal(s.report, 3);
    assert_int_equal(s.evictions, 0);
    attempt_once_destroy(&o);
    assert_null(o);
    attempt_once_destroy(&o);
}

/* Dovecot's login line "(auth failed, 3 attempts)" (auth_verbose = no) and the session's 3 reports:
 * 3 attempts, however the two streams interleave; the user's case does not matter (%Lu). */
static void test_login_line_of_n_attempts(void **state)
{
    (void)state;
    struct attempt_once *o = attempt_once_new();
    struct sg_event r = ev(SG_EV_AUTH_FAIL, "TGCNr/xhC4gKTQBn", "10.77.0.103", "bob", 1);
    struct sg_event line = ev(SG_EV_AUTH_FAIL, "TGCNr/xhC4gKTQBn", "10.77.0.103", "Bob", 3);
    uint32_t total = join(o, ATTEMPT_REPORT, r, T0) + join(o, ATTEMPT_REPORT, r, T0 + 1000);
    total += join(o, ATTEMPT_LOG, line, T0 + 2000);   /* 2 already counted: 1 left */
    total += join(o, ATTEMPT_REPORT, r, T0 + 2100);   /* the third report, late */
    assert_int_equal(total, 3);
    /* the other way: the line first stands for all 3, the reports add nothing */
    struct sg_event r2 = ev(SG_EV_AUTH_FAIL, "75bOr/xhC6gKTQBq", "10.77.0.106", "carol", 1);
    struct sg_event line2 = ev(SG_EV_AUTH_FAIL, "75bOr/xhC6gKTQBq", "10.77.0.106", "carol", 3);
    total = join(o, ATTEMPT_LOG, line2, T0);
    for (int i = 0; i < 3; i++) total += join(o, ATTEMPT_REPORT, r2, T0 + 10 + i);
    assert_int_equal(total, 3);
    /* a fourth report is a fourth attempt */
    assert_int_equal(join(o, ATTEMPT_REPORT, r2, T0 + 20), 1);
    attempt_once_destroy(&o);
}

/* Only the same (kind, session, address, user) cancels: a report of one user never takes the log
 * line of another, even at the same address without a session (SMTP AUTH behind one NAT). */
static void test_others_never_cancel(void **state)
{
    (void)state;
    struct attempt_once *o = attempt_once_new();
    const struct sg_event logged[] = {
        ev(SG_EV_AUTH_FAIL, "", "192.0.2.10", "victim", 1),
        ev(SG_EV_AUTH_FAIL, "S1", "192.0.2.11", "victim", 1),
        ev(SG_EV_AUTH_FAIL, "S2", "192.0.2.12", "victim", 1),
        ev(SG_EV_AUTH_OK, "S3", "192.0.2.13", "victim", 1),
    };
    const struct sg_event reports[] = {
        ev(SG_EV_AUTH_FAIL, "", "192.0.2.10", "attacker", 1),   /* same address, other user */
        ev(SG_EV_AUTH_FAIL, "S9", "192.0.2.11", "victim", 1),   /* other session */
        ev(SG_EV_AUTH_FAIL, "S2", "192.0.2.99", "victim", 1),   /* same session id, other address */
        ev(SG_EV_AUTH_FAIL, "S3", "192.0.2.13", "victim", 1),   /* other kind */
        ev(SG_EV_AUTH_FAIL, "S1", "192.0.2.11", "victim2", 1),  /* other user in the session */
    };
    for (size_t i = 0; i < sizeof logged / sizeof logged[0]; i++) assert_int_equal(join(o, ATTEMPT_LOG, logged[i], T0), 1);
    for (size_t i = 0; i < sizeof reports / sizeof reports[0]; i++)
        assert_int_equal(join(o, ATTEMPT_REPORT, reports[i], T0 + 1), 1);
    struct attempt_once_stats s;
    attempt_once_stats(o, &s);
    assert_int_equal(s.once, 0);
    /* events it does not join pass unchanged: dup already, no address, other kinds */
    struct sg_event d = logged[0];
    d.dup = true;
    attempt_once_join(o, ATTEMPT_REPORT, &d, T0);
    struct sg_event noaddr = logged[0];
    noaddr.family = 0;
    noaddr.ip[0] = '\0';
    assert_int_equal(join(o, ATTEMPT_LOG, noaddr, T0), 1);
    assert_int_equal(join(o, ATTEMPT_REPORT, noaddr, T0), 1);
    struct sg_event conn = ev(SG_EV_CONN, "", "192.0.2.10", "", 1);
    assert_int_equal(join(o, ATTEMPT_LOG, conn, T0), 1);
    assert_int_equal(join(o, ATTEMPT_REPORT, conn, T0), 1);
    attempt_once_stats(o, &s);
    assert_int_equal(s.log, 4);
    assert_int_equal(s.report, 5);
    attempt_once_destroy(&o);
}

/* A hostile count near UINT32_MAX saturates the side's tally (no int32 overflow): the reports
 * after it still join it and count nothing. */
static void test_huge_count_saturates(void **state)
{
    (void)state;
    struct attempt_once *o = attempt_once_new();
    struct sg_event line = ev(SG_EV_AUTH_FAIL, "h0geCountXXXXXXX", "10.77.0.120", "dave", 3000000000u);
    struct sg_event r = ev(SG_EV_AUTH_FAIL, "h0geCountXXXXXXX", "10.77.0.120", "dave", 5);
    assert_int_equal(join(o, ATTEMPT_LOG, line, T0), 3000000000u);
    assert_int_equal(join(o, ATTEMPT_REPORT, r, T0 + 1), 0);
    attempt_once_destroy(&o);
}

/* An entry lives ATTEMPT_ONCE_TTL_MS after its last use: a report that long after its line counts. */
static void test_entries_expire(void **state)
{
    (void)state;
    struct attempt_once *o = attempt_once_new();
    struct sg_event f = ev(SG_EV_AUTH_FAIL, "Xv7Br/xhQNYKTQBp", "10.77.0.105", "admin", 1);
    assert_int_equal(join(o, ATTEMPT_LOG, f, T0), 1);
    assert_int_equal(join(o, ATTEMPT_REPORT, f, T0 + ATTEMPT_ONCE_TTL_MS + 1), 1);
    attempt_once_destroy(&o);
}

/* A flood of sessions that never match (an attacker's, or a Dovecot without reports): the table
 * stays at its size, evictions are counted, and the victim's attempt in the middle of it is counted
 * at least once (twice when its entry went), never zero times. */
static void test_flood_is_bounded(void **state)
{
    (void)state;
    struct attempt_once *o = attempt_once_new();
    struct sg_event victim = ev(SG_EV_AUTH_FAIL, "victimSession", "198.51.100.1", "victim", 1);
    assert_int_equal(join(o, ATTEMPT_LOG, victim, T0), 1);
    for (int i = 0; i < 4 * ATTEMPT_ONCE_SLOTS; i++) {
        char sess[32];
        snprintf(sess, sizeof sess, "flood%d", i);
        assert_int_equal(join(o, ATTEMPT_REPORT, ev(SG_EV_AUTH_FAIL, sess, "203.0.113.66", "x", 1), T0 + 1), 1);
    }
    struct attempt_once_stats s;
    attempt_once_stats(o, &s);
    assert_true(s.evictions >= 3 * ATTEMPT_ONCE_SLOTS);
    uint32_t again = join(o, ATTEMPT_REPORT, victim, T0 + 2);
    assert_true(again <= 1);   /* 0: joined; 1: its entry was evicted, counted twice */
    attempt_once_destroy(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_either_order_counts_once),
        cmocka_unit_test(test_huge_count_saturates),
        cmocka_unit_test(test_login_line_of_n_attempts),
        cmocka_unit_test(test_others_never_cancel),
        cmocka_unit_test(test_entries_expire),
        cmocka_unit_test(test_flood_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
