/* test_detect_lines.c: what one log line may claim (the attempts and recipient caps, and their
 * counters), and the lines of real daemons that earlier rules missed, in the daemons' own formats:
 * Postfix's lost auth server and "too many errors", pam_unix's rhost=, multilog and RFC 5424 headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "detect/detect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The events of one line: how many, and the first (every line here gives at most one). */
struct got {
    int n;
    struct sg_event v[1];
};

static void keep_first(const struct sg_event *ev, void *arg)
{
    struct got *g = arg;
    if (!g->n++) g->v[0] = *ev;
}

static struct got line1(struct detect_parser *p, const char *line)
{
    struct got g = {0};
    detect_parser_line(p, line, strlen(line), keep_first, &g);
    return g;
}

/* The shipped rules and a parser over them with the given caps (0 = defaults). */
struct fixture {
    struct detect_rules *r;
    struct detect_parser *p;
};

static struct fixture open_parser(uint32_t max_attempts, uint32_t max_rcpt)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/detect/rules.d", getenv("SG_ROOT") ? getenv("SG_ROOT") : ".");
    const char *dirs[] = {dir, NULL};
    char err[512] = "";
    struct fixture f;
    f.r = detect_rules_new(dirs, err, sizeof err);
    if (!f.r) fail_msg("shipped rules: %s", err);
    /* 2026-11-28T12:00:00Z: the reference "now" for the year of BSD timestamps. */
    struct detect_parser_opts o = {.ref_ms = 1795867200000LL, .max_attempts = max_attempts, .max_rcpt = max_rcpt};
    f.p = detect_parser_new(f.r, &o);
    assert_non_null(f.p);
    return f;
}

static void close_parser(struct fixture *f)
{
    detect_parser_destroy(&f->p);
    detect_rules_destroy(&f->r);
}

static struct detect_stats stats(const struct detect_parser *p)
{
    struct detect_stats st;
    detect_parser_stats(p, &st);
    return st;
}

static void test_attempts_cap(void **state)
{
    (void)state;
    struct fixture f = open_parser(0, 0);
    /* Dovecot's login summary, as client_get_extra_disconnect_reason() writes it, with a forged count. */
    struct got g = line1(f.p, "Nov 28 04:31:08 mx1 dovecot: imap-login: Disconnected (auth failed, 100000 attempts in 2 secs): "
                              "user=<x>, method=PLAIN, rip=192.0.2.50, lip=192.0.2.1, TLS, session=<CapS1>");
    assert_int_equal(g.n, 1);
    assert_int_equal(g.v[0].count, DETECT_DEFAULT_MAX_ATTEMPTS);
    assert_int_equal(stats(f.p).capped_attempts, 1);
    /* A real count passes unchanged and is not counted as capped. */
    g = line1(f.p, "Nov 28 04:31:09 mx1 dovecot: pop3-login: Aborted login (auth failed, 7 attempts in 14 secs): "
                   "user=<y>, method=PLAIN, rip=192.0.2.51, lip=192.0.2.1, session=<CapS2>");
    assert_int_equal(g.v[0].count, 7);
    assert_int_equal(stats(f.p).capped_attempts, 1);
    /* More digits than any integer holds: saturates, then capped (no wrap-around to a small number). */
    g = line1(f.p, "Nov 28 04:31:10 mx1 dovecot: imap-login: Disconnected (auth failed, 99999999999999999999 attempts in 2 secs): "
                   "user=<z>, method=PLAIN, rip=192.0.2.52, lip=192.0.2.1, session=<CapS3>");
    assert_int_equal(g.v[0].count, DETECT_DEFAULT_MAX_ATTEMPTS);
    /* 4294967297 would wrap to 1 in 32 bits. */
    g = line1(f.p, "Nov 28 04:31:10 mx1 dovecot: imap-login: Disconnected (auth failed, 4294967297 attempts in 2 secs): "
                   "user=<z>, method=PLAIN, rip=192.0.2.53, lip=192.0.2.1, session=<CapS4>");
    assert_int_equal(g.v[0].count, DETECT_DEFAULT_MAX_ATTEMPTS);
    /* Postfix's disconnect summary "auth=0/N": N failures, capped alike. */
    g = line1(f.p, "Nov 28 05:01:02 mx1 postfix/smtpd[90]: disconnect from unknown[198.51.100.9] ehlo=1 auth=0/100000 quit=1 commands=2/100002");
    assert_int_equal(g.n, 1);
    assert_int_equal(g.v[0].count, DETECT_DEFAULT_MAX_ATTEMPTS);
    assert_int_equal(stats(f.p).capped_attempts, 4);
    close_parser(&f);

    /* A configured cap. */
    f = open_parser(3, 0);
    g = line1(f.p, "Nov 28 04:31:09 mx1 dovecot: pop3-login: Aborted login (auth failed, 7 attempts in 14 secs): "
                   "user=<y>, method=PLAIN, rip=192.0.2.51, lip=192.0.2.1, session=<CapS5>");
    assert_int_equal(g.v[0].count, 3);
    g = line1(f.p, "Nov 28 04:31:09 mx1 dovecot: pop3-login: Aborted login (auth failed, 3 attempts in 6 secs): "
                   "user=<y>, method=PLAIN, rip=192.0.2.51, lip=192.0.2.1, session=<CapS6>");
    assert_int_equal(g.v[0].count, 3);
    assert_int_equal(stats(f.p).capped_attempts, 1);
    close_parser(&f);
}

static void test_recipients_cap(void **state)
{
    (void)state;
    struct fixture f = open_parser(0, 0);
    line1(f.p, "Nov 28 06:00:00 mx1 postfix/submission/smtpd[5]: 4AB12C: client=unknown[203.0.113.5], sasl_method=LOGIN, sasl_username=frank");
    struct got g = line1(f.p, "Nov 28 06:00:01 mx1 postfix/qmgr[812]: 4AB12C: from=<frank@example.jp>, size=1234, nrcpt=999999999 (queue active)");
    assert_int_equal(g.n, 1);
    assert_int_equal(g.v[0].kind, SG_EV_SENT);
    assert_int_equal(g.v[0].nrcpt, DETECT_DEFAULT_MAX_RCPT);
    assert_int_equal(stats(f.p).capped_rcpt, 1);
    assert_int_equal(stats(f.p).capped_attempts, 0);
    /* Postfix's own limit is a real message: not capped. */
    line1(f.p, "Nov 28 06:00:02 mx1 postfix/submission/smtpd[5]: 5BC23D: client=unknown[203.0.113.5], sasl_method=LOGIN, sasl_username=frank");
    g = line1(f.p, "Nov 28 06:00:03 mx1 postfix/qmgr[812]: 5BC23D: from=<frank@example.jp>, size=1234, nrcpt=1000 (queue active)");
    assert_int_equal(g.v[0].nrcpt, 1000);
    assert_int_equal(stats(f.p).capped_rcpt, 1);
    close_parser(&f);

    f = open_parser(0, 50);
    line1(f.p, "Nov 28 06:00:00 mx1 postfix/submission/smtpd[5]: 6CD34E: client=unknown[203.0.113.5], sasl_method=LOGIN, sasl_username=frank");
    g = line1(f.p, "Nov 28 06:00:01 mx1 postfix/qmgr[812]: 6CD34E: from=<frank@example.jp>, size=1234, nrcpt=51 (queue active)");
    assert_int_equal(g.v[0].nrcpt, 50);
    assert_int_equal(stats(f.p).capped_rcpt, 1);
    close_parser(&f);
}

static int setup_utc(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    tzset();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attempts_cap),
        cmocka_unit_test(test_recipients_cap),
    };
    return cmocka_run_group_tests(tests, setup_utc, NULL);
}
