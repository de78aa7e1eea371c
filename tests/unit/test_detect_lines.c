/* test_detect_lines.c: what one log line may claim (the attempts and recipient caps, and their
 * counters), and the lines of real daemons that earlier rules missed, in the daemons' own formats:
 * Postfix's lost auth server and "too many errors", pam_unix's rhost=, multilog and RFC 5424 headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "detect/detect.h"
#include "tests/support/shipped_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/* The one event a line must give (fails the test otherwise). */
static struct sg_event one(struct detect_parser *p, const char *line)
{
    struct got g = line1(p, line);
    if (g.n != 1) fail_msg("%d events, want 1, for: %s", g.n, line);
    return g.v[0];
}

/* The shipped rules and a parser over them with the given caps (0 = defaults). */
struct fixture {
    struct detect_rules *r;
    struct detect_parser *p;
};

static struct fixture open_parser(uint32_t max_attempts, uint32_t max_rcpt)
{
    char err[512] = "";
    struct fixture f;
    f.r = sg_test_shipped_rules(err, sizeof err);
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

/* Postfix smtpd_sasl_glue.c: msg_warn("%s: SASL %s authentication failed: %s", namaddr, mechanism, reply),
 * the reply being xsasl_dovecot's when the auth server went away (Dovecot's penalty delay). */
static void test_postfix_auth_server_lost(void **state)
{
    (void)state;
    struct fixture f = open_parser(0, 0);
    struct got g = line1(f.p, "Nov 28 05:00:00 mx1 postfix/smtpd[77]: warning: unknown[198.51.100.40]: SASL LOGIN authentication failed: Connection lost to authentication server");
    assert_int_equal(g.n, 1);
    assert_int_equal(g.v[0].kind, SG_EV_AUTH_FAIL);
    assert_string_equal(g.v[0].ip, "198.51.100.40");
    assert_string_equal(g.v[0].service, "smtp");
    assert_false(g.v[0].dup);
    /* smtpd_client_port_logging = yes, a named client, the submission instance. */
    g = line1(f.p, "Nov 28 05:00:01 mx1 postfix/submission/smtpd[78]: warning: host.example.net[2001:db8::40]:50312: SASL PLAIN authentication failed: Connection lost to authentication server");
    assert_int_equal(g.n, 1);
    assert_string_equal(g.v[0].ip, "2001:db8::40");
    assert_string_equal(g.v[0].service, "submission");
    /* Dovecot's auth line for the same attempt, if it comes after all, is the same attempt. */
    g = line1(f.p, "Nov 28 05:00:02 mx1 dovecot: auth: passwd-file(carol,198.51.100.40): Password mismatch");
    assert_int_equal(g.n, 1);
    assert_true(g.v[0].dup);
    /* Newer Postfix names the SASL user after the reply (the client chose it: it cannot move the address). */
    g = line1(f.p, "Nov 28 05:00:04 mx1 postfix/smtpd[79]: warning: unknown[198.51.100.42]: SASL PLAIN authentication failed: Connection lost to authentication server, sasl_username=x [6.6.6.6]");
    assert_int_equal(g.n, 1);
    assert_string_equal(g.v[0].ip, "198.51.100.42");
    assert_string_equal(g.v[0].user, "x [6.6.6.6]");
    /* Postfix writes nothing else after the reply: such a line is not its. */
    g = line1(f.p, "Nov 28 05:00:03 mx1 postfix/smtpd[77]: warning: unknown[198.51.100.41]: SASL LOGIN authentication failed: Connection lost to authentication server, x");
    assert_int_equal(g.n, 0);
    close_parser(&f);
}

/* smtpd.c: msg_info("too many errors after %s from %s", state->where, state->namaddr). */
static void test_postfix_too_many_errors(void **state)
{
    (void)state;
    struct fixture f = open_parser(0, 0);
    static const char *const where[] = {"RCPT", "AUTH", "DATA", "END-OF-MESSAGE", "UNKNOWN", "EHLO"};
    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
        char line[256];
        snprintf(line, sizeof line, "Nov 28 05:10:00 mx1 postfix/smtpd[80]: too many errors after %s from unknown[203.0.113.%zu]", where[i], i + 1);
        struct got g = line1(f.p, line);
        if (g.n != 1 || g.v[0].kind != SG_EV_REJECTED) fail_msg("no rejected event for: %s", line);
        char ip[32];
        snprintf(ip, sizeof ip, "203.0.113.%zu", i + 1);
        assert_string_equal(g.v[0].ip, ip);
    }
    struct got g = line1(f.p, "Nov 28 05:10:01 mx1 postfix/smtps/smtpd[81]: too many errors after RCPT from mx.example.org[2001:db8::9]:25001");
    assert_int_equal(g.n, 1);
    assert_string_equal(g.v[0].ip, "2001:db8::9");
    assert_string_equal(g.v[0].service, "submission");
    close_parser(&f);
}

/* Linux-PAM pam_unix (support.c): "authentication failure; logname=%s uid=%d euid=%d tty=%s ruser=%s
 * rhost=%s %s%s", the last two " user=" and the name when there is one. Dovecot sets PAM_RHOST to the
 * client, PAM_TTY to "dovecot" and (from 2.2) PAM_RUSER to the user name. PAM writes through syslog in
 * the auth process ("auth:"), or under Dovecot's own ident. */
static void test_pam_unix_dovecot(void **state)
{
    (void)state;
    struct fixture f = open_parser(0, 0);
    static const struct { const char *line, *ip, *user; } cases[] = {
        {"Nov 28 04:31:06 mx1 auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=alice rhost=192.0.2.5  user=alice",
         "192.0.2.5", "alice"},
        {"Nov 28 04:31:07 mx1 auth[812]: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser= rhost=::ffff:192.0.2.6  user=bob",
         "192.0.2.6", "bob"},
        {"Nov 28 04:31:08 mx1 dovecot[12]: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=carol rhost=2001:db8::7  user=carol",
         "2001:db8::7", "carol"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct got g = line1(f.p, cases[i].line);
        if (g.n != 1) fail_msg("no event for: %s", cases[i].line);
        assert_int_equal(g.v[0].kind, SG_EV_AUTH_FAIL);
        assert_string_equal(g.v[0].ip, cases[i].ip);
        assert_string_equal(g.v[0].user, cases[i].user);
        assert_string_equal(g.v[0].rule, "dovecot-pam-unix");
    }
    close_parser(&f);
}

/* daemontools tai64n: "@" then 24 hex digits, 2^62 + 10 + the UTC second, then nanoseconds. */
static void test_multilog(void **state)
{
    (void)state;
    struct fixture f = open_parser(0, 0);
    /* 0x69295abe - 10 = 2025-11-28T08:17:56Z; 0x1d2b2f9c ns = .489 s */
    const int64_t t = (0x69295abeLL - 10) * 1000 + 489;
    struct sg_event ev = one(f.p, "@4000000069295abe1d2b2f9c imap-login: Info: Disconnected (auth failed, 2 attempts in 4 secs): user=<a>, method=PLAIN, rip=192.0.2.11, lip=192.0.2.1, session=<m1>");
    assert_int_equal(ev.time_ms, t);
    assert_int_equal(ev.count, 2);
    /* socklog under multilog: "facility.level: " and the syslog line with its own (zone-less) stamp;
     * the TAI64N stamp is the time. */
    ev = one(f.p, "@4000000069295abe1d2b2f9c mail.info: Nov 28 04:31:06 postfix/smtpd[1]: warning: unknown[192.0.2.30]: SASL LOGIN authentication failed: UGFzc3dvcmQ6");
    assert_int_equal(ev.time_ms, t);
    assert_string_equal(ev.ip, "192.0.2.30");
    ev = one(f.p, "@4000000069295abe1d2b2f9c authpriv.notice: auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=a rhost=192.0.2.31  user=a");
    assert_string_equal(ev.ip, "192.0.2.31");
    ev = one(f.p, "@4000000069295abe1d2b2f9c Nov 28 04:31:06 mx1 sshd[42]: Failed password for root from 192.0.2.9 port 22 ssh2");
    assert_string_equal(ev.host, "mx1");
    /* Truncated and odd stamps: no event, no crash, and "mail.info" is not taken for a program. */
    static const char *const odd[] = {"@4000000069295abe1d2b2f9c", "@4000000069295abe1d2b2f9c mail.info:",
                                      "@4000000069295abe1d2b2f9c mail.info: Nov", "@4000000069295abeXd2b2f9c sshd[1]: x"};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) assert_int_equal(line1(f.p, odd[i]).n, 0);
    close_parser(&f);
}

/* RFC 5424: "<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG", each "-" when
 * absent, MSG possibly starting with a UTF-8 BOM (rsyslog's RSYSLOG_SyslogProtocol23Format). */
static void test_rfc5424(void **state)
{
    (void)state;
    struct fixture f = open_parser(0, 0);
    const int64_t t = 1795840266000LL;   /* 2026-11-28T04:31:06Z */
    /* Dovecot under its syslog ident: the login process is the inner tag, as in BSD syslog lines. */
    struct sg_event ev = one(f.p, "<22>1 2026-11-28T04:31:06Z mx1 dovecot 77 - - imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<a>, method=PLAIN, rip=192.0.2.15, lip=192.0.2.1, session=<r1>");
    assert_int_equal(ev.time_ms, t);
    assert_string_equal(ev.service, "imap");
    assert_string_equal(ev.host, "mx1");
    ev = one(f.p, "<22>1 2026-11-28T04:31:06Z mx1 dovecot 77 - [meta sequenceId=\"1\" x=\"a]b\"] auth: passwd-file(a,192.0.2.16): unknown user");
    assert_string_equal(ev.ip, "192.0.2.16");
    ev = one(f.p, "<22>1 2026-11-28T04:31:06.003+01:00 mx1 postfix/smtpd 1234 - - \xef\xbb\xbfwarning: unknown[192.0.2.17]: SASL LOGIN authentication failed: UGFzc3dvcmQ6");
    assert_int_equal(ev.time_ms, t - 3600 * 1000 + 3);
    assert_string_equal(ev.ip, "192.0.2.17");
    ev = one(f.p, "<22>1 - mx1 postfix/submission/smtpd 1234 ID47 - warning: unknown[192.0.2.18]: SASL PLAIN authentication failed: ");
    assert_int_equal(ev.time_ms, 0);
    assert_string_equal(ev.service, "submission");
    close_parser(&f);
}

/* A rule's role is looked up in the join families' table, which also says what groups it needs. */
static void test_roles_from_the_table(void **state)
{
    (void)state;
    char dir[] = "/tmp/sgdetect-rolesXXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/r.conf", dir);
    static const struct { const char *rule, *want; } cases[] = {
        {"[q]\nliteral = nrcpt\npattern = ^(?<qid>\\w+): nrcpt\nrole = qmgr\n", "needs the named group(s) nrcpt"},
        {"[d]\nliteral = auth=\npattern = from \\[(?<ip>[^]]+)\\] auth=\nrole = smtp-disconnect\n",
         "needs the named group(s) ok and count"},
        {"[s]\nliteral = from=\npattern = (?<ip>\\S+) from=\nrole = sendmail-from\n", "needs the named group(s) qid"},
        {"[n]\nliteral = boom\npattern = boom\nrole = none\n", "needs the named group(s) ip"},
        {"[u]\nliteral = boom\npattern = boom\nrole = imap-magic\n", "r.conf:4: unknown role 'imap-magic'"},
        {"[p]\nliteral = boom\npattern = boom\nrole = sshd-pid\n", NULL},   /* no address needed */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        fputs(cases[i].rule, fp);
        fclose(fp);
        const char *dirs[] = {dir, NULL};
        char err[512] = "";
        struct detect_rules *r = detect_rules_new(dirs, err, sizeof err);
        if (!cases[i].want) {
            if (!r) fail_msg("rule %zu refused: %s", i, err);
        } else if (r || !strstr(err, cases[i].want)) {
            fail_msg("rule %zu: error '%s', want '%s'", i, err, cases[i].want);
        }
        detect_rules_destroy(&r);
    }
    unlink(path);
    rmdir(dir);
}

static int setup_utc(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    tzset();
    return 0;
}

/* Dovecot's session id reaches the event (auth line and login line, recorded from Dovecot 2.3.19),
 * and the rules whose attempts Dovecot's auth-policy reports also carry are marked; with them
 * dropped (`[authpolicy] log_auth_lines = no`) those lines give nothing, the others still do. */
static const char *const reported_lines[] = {
    "Dec 06 20:09:23 auth: Info: passwd-file(alice,10.77.0.101,<u0Bvr/xhepIKTQBl>): Password mismatch",
    "Dec 06 20:09:23 imap-login: Info: Login: user=<alice>, method=PLAIN, rip=10.77.0.201, lip=10.77.0.1, mpid=14735, session=<1Extr/xhNOUKTQDJ>",
    "Dec 06 20:09:40 node1 postfix/submission/smtpd[17522]: warning: unknown[10.77.0.115]: SASL LOGIN authentication failed: (reason unavailable), sasl_username=carol",
    "Dec 06 20:09:26 imap-login: Info: Disconnected: Aborted login by logging out (auth failed, 3 attempts in 1 secs): user=<bob>, method=PLAIN, rip=10.77.0.103, lip=10.77.0.1, session=<TGCNr/xhC4gKTQBn>",
};

static void test_reported_rules(void **state)
{
    (void)state;
    struct fixture f = open_parser(0, 0);
    struct sg_event ev = one(f.p, reported_lines[0]);
    assert_true(ev.reported);
    assert_string_equal(ev.session, "u0Bvr/xhepIKTQBl");
    ev = one(f.p, reported_lines[1]);
    assert_true(ev.reported);
    assert_int_equal(ev.kind, SG_EV_AUTH_OK);
    assert_string_equal(ev.session, "1Extr/xhNOUKTQDJ");
    ev = one(f.p, reported_lines[2]);
    assert_true(ev.reported);
    assert_string_equal(ev.session, "");
    ev = one(f.p, reported_lines[3]);
    assert_true(ev.reported && ev.count == 3);
    const char *other = "Nov 28 04:31:02 mx1 postfix/smtpd[9103]: too many errors after RCPT from unknown[198.51.100.142]";
    ev = one(f.p, other);
    assert_false(ev.reported);
    assert_string_equal(ev.session, "");
    detect_parser_destroy(&f.p);
    char err[256] = "";
    int n = detect_rules_drop_reported(f.r, err, sizeof err);
    assert_true(n >= 8);
    assert_int_equal(detect_rules_drop_reported(f.r, err, sizeof err), 0);
    f.p = detect_parser_new(f.r, NULL);
    for (size_t i = 0; i < sizeof reported_lines / sizeof reported_lines[0]; i++)
        if (line1(f.p, reported_lines[i]).n) fail_msg("a dropped rule still read: %s", reported_lines[i]);
    one(f.p, other);
    close_parser(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attempts_cap),
        cmocka_unit_test(test_recipients_cap),
        cmocka_unit_test(test_postfix_auth_server_lost),
        cmocka_unit_test(test_postfix_too_many_errors),
        cmocka_unit_test(test_pam_unix_dovecot),
        cmocka_unit_test(test_multilog),
        cmocka_unit_test(test_rfc5424),
        cmocka_unit_test(test_roles_from_the_table),
        cmocka_unit_test(test_reported_rules),
    };
    return cmocka_run_group_tests(tests, setup_utc, NULL);
}
