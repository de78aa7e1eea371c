/* test_detect_journal.c: the journal source's pure parts: which entries are trusted (by journald's own
 * fields only), which untrusted lines claim a trusted daemon, the line rebuilt for the rules and what
 * the shipped rules make of it, the [detect] journal keys and the journal's line in the cursors file. The journal itself is followed in
 * tests/integration/94_journal_source.sh (a real journald under a real systemd). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/config.h"
#include "detect/journal.h"
#include "tests/support/shipped_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define F(name, text) .name = (text), .name##_len = sizeof(text) - 1

static const char *const units[] = {"postfix@-.service", "dovecot.service"};

static struct detect_journal_trust trust(void)
{
    struct detect_journal_trust t = {.units = units, .nunits = 2, .uids = {0, 101, 102}, .nuids = 3};
    return t;
}

/* What a real Dovecot login process writes through syslog, as journald stores it. */
static struct detect_journal_fields dovecot_entry(void)
{
    struct detect_journal_fields f = {
        F(unit, "dovecot.service"), F(uid, "102"), F(ident, "dovecot"), F(pid, "4242"), F(host, "mx1"),
        F(comm, "imap-login"),
        F(msg, "imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<alice>, method=PLAIN, "
               "rip=203.0.113.9, lip=10.0.0.1, session=<AbCd>"),
        .realtime_us = 1796586293123456ULL,   /* 2026-12-06T19:44:53.123456Z */
    };
    return f;
}

/* Whether the Dovecot entry is trusted once journald's unit and uid fields say unit and uid. */
static bool trusted_as(const char *unit, size_t unit_len, const char *uid)
{
    struct detect_journal_trust t = trust();
    struct detect_journal_fields f = dovecot_entry();
    f.unit = unit;
    f.unit_len = unit_len;
    f.uid = uid;
    f.uid_len = uid ? strlen(uid) : 0;
    return detect_journal_trusted(&t, &f);
}
#define UNIT(s) (s), strlen(s)

static void test_trust_by_journald_fields_only(void **state)
{
    (void)state;
    assert_true(trusted_as(UNIT("dovecot.service"), "102"));
    assert_true(trusted_as(UNIT("postfix@-.service"), "101"));
    assert_true(trusted_as(UNIT("dovecot.service"), "0"));
    /* `logger -t dovecot` by a user: same identifier and message, journald's fields say who it was. */
    assert_false(trusted_as(UNIT("session-3.scope"), "1000"));
    assert_false(trusted_as(UNIT("run-u7.service"), "102"));
    /* A recipient's .forward pipe runs in postfix@-.service, as the recipient. */
    assert_false(trusted_as(UNIT("postfix@-.service"), "1000"));
    /* No unit (the sender exited before journald looked), a unit that only starts like a trusted one
     * or is a prefix of one, a garbled or missing or out-of-range uid: not trusted. */
    assert_false(trusted_as(NULL, 0, "102"));
    assert_false(trusted_as(UNIT("dovecot.service.evil"), "102"));
    assert_false(trusted_as("dovecot.service", 7, "102"));
    assert_false(trusted_as(UNIT("dovecot.service"), "10x"));
    assert_false(trusted_as(UNIT("dovecot.service"), NULL));
    assert_false(trusted_as(UNIT("dovecot.service"), "99999999999"));
}

/* Which untrusted lines are forgeries: their identifier claims the family of a trusted unit's name,
 * or one a trusted writer has used; other daemons' lines (sshd in ssh.service) are not. */
static void test_claims(void **state)
{
    (void)state;
    struct detect_journal_trust t = trust();
    detect_journal_trust_init(&t);
    struct detect_journal_fields f = {F(unit, "session-3.scope"), F(uid, "1000"), F(ident, "postfix/submission/smtpd")};
    assert_string_equal(detect_journal_claims(&t, &f), "postfix");
    f.ident = "dovecot";
    f.ident_len = 7;
    assert_string_equal(detect_journal_claims(&t, &f), "dovecot");
    struct detect_journal_fields o[] = {
        {F(unit, "ssh.service"), F(uid, "0"), F(ident, "sshd")},
        {F(unit, "session-3.scope"), F(uid, "1000"), F(ident, "postfixx")},
        {F(unit, "session-3.scope"), F(uid, "1000"), F(ident, "dove")},
        {F(unit, "session-3.scope"), F(uid, "1000"), F(ident, "")},
        {F(unit, "session-3.scope"), F(uid, "1000")},
        {F(unit, "session-3.scope"), F(uid, "1000"), F(ident, "postmulti")},
    };
    for (size_t i = 0; i < sizeof o / sizeof o[0]; i++) assert_null(detect_journal_claims(&t, &o[i]));
    /* An identifier a trusted writer used becomes claimable too; the table is bounded. */
    struct detect_journal_fields pm = {F(unit, "postfix@-.service"), F(uid, "0"), F(ident, "postmulti")};
    assert_true(detect_journal_trusted(&t, &pm));
    detect_journal_learn(&t, &pm);
    assert_string_equal(detect_journal_claims(&t, &o[5]), "postmulti");
    char name[16];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof name, "p%d", i);
        struct detect_journal_fields l = {F(unit, "dovecot.service"), F(uid, "0"), .ident = name, .ident_len = strlen(name)};
        detect_journal_learn(&t, &l);
    }
    assert_int_equal(t.nfamilies, DETECT_JOURNAL_MAX_FAMILIES);
    assert_string_equal(detect_journal_claims(&t, &f), "dovecot");
}

static void test_line_rebuilt(void **state)
{
    (void)state;
    struct detect_journal_fields f = dovecot_entry();
    char buf[512];
    size_t n = detect_journal_line(&f, buf, sizeof buf);
    const char *want = "2026-12-06T19:44:53.123456+00:00 mx1 dovecot[4242]: imap-login: Disconnected (auth failed, "
                       "1 attempts in 2 secs): user=<alice>, method=PLAIN, rip=203.0.113.9, lip=10.0.0.1, session=<AbCd>";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, n);
    /* No identifier: _COMM names the program; no pid: no brackets. */
    f.ident = NULL;
    f.ident_len = 0;
    f.pid_len = 0;
    n = detect_journal_line(&f, buf, sizeof buf);
    assert_true(n > 0);
    assert_memory_equal(buf + 33, "mx1 imap-login: imap-login: ", 28);
    /* A newline ends the line; a line that does not fit, or no message, gives nothing. */
    f = dovecot_entry();
    f.msg = "first\nsecond";
    f.msg_len = 12;
    n = detect_journal_line(&f, buf, sizeof buf);
    assert_int_equal(n, strlen("2026-12-06T19:44:53.123456+00:00 mx1 dovecot[4242]: first"));
    f = dovecot_entry();
    assert_int_equal(detect_journal_line(&f, buf, 60), 0);
    f.msg = NULL;
    f.msg_len = 0;
    assert_int_equal(detect_journal_line(&f, buf, sizeof buf), 0);
}

struct got {
    int n;
    struct sg_event ev;
};

static void collect(const struct sg_event *ev, void *arg)
{
    struct got *g = arg;
    g->ev = *ev;
    g->n++;
}

/* The shipped rules (SG_ROOT/detect/rules.d). */
static struct detect_rules *mail_rules(void)
{
    char err[512] = "";
    struct detect_rules *r = sg_test_shipped_rules(err, sizeof err);
    if (!r) fprintf(stderr, "%s\n", err);
    assert_non_null(r);
    return r;
}

/* The rebuilt lines are what the shipped rules read, with the journal's time. */
static void test_rules_read_rebuilt_lines(void **state)
{
    (void)state;
    struct detect_rules *r = mail_rules();
    struct detect_parser *p = detect_parser_new(r, NULL);
    struct detect_journal_fields f = dovecot_entry();
    char buf[1024];
    size_t n = detect_journal_line(&f, buf, sizeof buf);
    struct got g = {0};
    assert_int_equal(detect_parser_line(p, buf, n, collect, &g), 1);
    assert_string_equal(g.ev.ip, "203.0.113.9");
    assert_int_equal(g.ev.kind, SG_EV_AUTH_FAIL);
    assert_int_equal(g.ev.time_ms, 1796586293123LL);
    struct detect_journal_fields s = {
        F(unit, "postfix@-.service"), F(uid, "101"), F(ident, "postfix/submission/smtpd"), F(pid, "77"),
        F(host, "mx1"), F(msg, "warning: unknown[198.51.100.7]: SASL LOGIN authentication failed: UGFzc3dvcmQ6"),
        .realtime_us = 1796586294000000ULL,
    };
    n = detect_journal_line(&s, buf, sizeof buf);
    g.n = 0;
    assert_int_equal(detect_parser_line(p, buf, n, collect, &g), 1);
    assert_string_equal(g.ev.ip, "198.51.100.7");
    assert_string_equal(g.ev.service, "submission");
    detect_parser_destroy(&p);
    detect_rules_destroy(&r);
}

static struct config *load(const char *text)
{
    char path[] = "/tmp/sgjcfgXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct config *cfg = config_load(path, NULL);
    unlink(path);
    assert_non_null(cfg);
    return cfg;
}

static void test_config_keys(void **state)
{
    (void)state;
    struct config *cfg = load("[node]\nname = mx1\n");
    assert_false(cfg->journal);
    assert_int_equal(cfg->journal_units.n, 2);
    assert_string_equal(cfg->journal_units.v[0], "postfix@-.service");
    assert_string_equal(cfg->journal_users.v[3], "dovenull");
    config_destroy(&cfg);
    cfg = load("[node]\nname = mx1\n[detect]\njournal = yes\njournal_units = exim4.service, dovecot.service  ssh.service\n"
               "journal_users = Debian-exim\n");
    assert_int_equal(cfg->errors.n, 0);
    assert_true(cfg->journal);
    assert_int_equal(cfg->journal_units.n, 3);
    assert_string_equal(cfg->journal_units.v[2], "ssh.service");
    assert_int_equal(cfg->journal_users.n, 1);
    config_destroy(&cfg);
    cfg = load("[node]\nname = mx1\n[detect]\njournal = maybe\njournal_units = ,\n");
    assert_int_equal(cfg->errors.n, 2);
    assert_non_null(strstr(cfg->errors.v[0], ":4: journal: expected yes or no"));
    assert_non_null(strstr(cfg->errors.v[1], ":5: journal_units: expected at least one name"));
    config_destroy(&cfg);
}

/* A cursors file with the journal's line: read beside the file cursors, and harmless to an agent
 * that no longer follows the journal. */
static void test_state_journal_line(void **state)
{
    (void)state;
    char path[] = "/tmp/sgjstateXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "sgcluster-cursors 1\n1 2 30 00000000000000aa /var/log/mail.log\n"
                       "journal s=0123;i=5;b=4567;m=1f;t=5f;x=89ab\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct detect_source *src = detect_source_new("/var/log/mail.log", NULL);
    assert_non_null(src);
    assert_int_equal(detect_state_load(path, &src, 1, NULL), 0);
    struct detect_cursor c;
    assert_int_equal(detect_source_get_cursor(src, &c), 0);
    assert_int_equal(c.offset, 30);
    assert_int_equal(c.head_hash, 0xaa);
    /* Saved again without a journal: the file's cursor stays, no journal line is written. */
    assert_int_equal(detect_state_save(path, &src, 1, NULL), 0);
    FILE *f = fopen(path, "r");
    char buf[512] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    assert_non_null(strstr(buf, " 30 00000000000000aa /var/log/mail.log\n"));
    assert_null(strstr(buf, "journal"));
    detect_source_destroy(&src);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trust_by_journald_fields_only),
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_line_rebuilt),
        cmocka_unit_test(test_rules_read_rebuilt_lines),
        cmocka_unit_test(test_config_keys),
        cmocka_unit_test(test_state_journal_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
