/* test_detect.c: the line parser with the shipped rules: timestamps of every layout, address
 * normalisation, rule files (errors with file:line, override and removal by id), the joins that count
 * one attempt once, the submission/qmgr join, and garbled or oversized lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/util.h"
#include "detect/detect.h"
#include "tests/support/got_events.h"
#include "tests/support/shipped_rules.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct detect_rules *shipped(void)
{
    char err[512] = "";
    struct detect_rules *r = sg_test_shipped_rules(err, sizeof err);
    if (!r) fail_msg("shipped rules: %s", err);
    return r;
}

/* 2026-11-28T12:00:00Z: the reference "now" for year inference. */
#define REF_MS 1795867200000LL

static int64_t utc_ms(int y, int mo, int d, int h, int mi, int s, int ms)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = s};
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static int setup_utc(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    tzset();
    return 0;
}

static void test_timestamps(void **state)
{
    (void)state;
    struct detect_rules *r = shipped();
    struct detect_parser_opts o = {.ref_ms = REF_MS};
    struct detect_parser *p = detect_parser_new(r, &o);
    const char *tail = "sshd[42]: Failed password for root from 192.0.2.9 port 22 ssh2";
    char line[512];
    struct {
        const char *prefix;
        int64_t want;
        const char *host;
    } cases[] = {
        {"Nov 28 04:31:06 mx1 ", utc_ms(2026, 11, 28, 4, 31, 6, 0), "mx1"},                /* BSD syslog */
        {"Nov  8 04:31:06 mx1 ", utc_ms(2026, 11, 8, 4, 31, 6, 0), "mx1"},                 /* padded day */
        {"Nov 8 04:31:06 mx1 ", utc_ms(2026, 11, 8, 4, 31, 6, 0), "mx1"},                  /* unpadded */
        {"2026-11-28T04:31:06.123456+02:00 mx1 ", utc_ms(2026, 11, 28, 2, 31, 6, 123), "mx1"},   /* RFC 3339 */
        {"2026-11-28T04:31:06Z mx1 ", utc_ms(2026, 11, 28, 4, 31, 6, 0), "mx1"},
        {"2026-11-28 04:31:06 ", utc_ms(2026, 11, 28, 4, 31, 6, 0), ""},                   /* file, local (UTC) */
        {"<38>1 2026-11-28T04:31:06.5-01:00 mx1 ", utc_ms(2026, 11, 28, 5, 31, 6, 500), "mx1"},   /* RFC 5424 */
        {"@4000000069295abe00000000 ", 0, ""},                                               /* TAI64N, below */
        {"mx1 ", 0, "mx1"},                                                                   /* journal style */
        {"Jun 25 23:53:34 <auth.info> mx1 ", utc_ms(2026, 6, 25, 23, 53, 34, 0), "mx1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (!strncmp(cases[i].prefix, "<38>1", 5)) {
            /* RFC 5424 puts "APP PROCID MSGID SD" where syslog puts "prog[pid]:" */
            snprintf(line, sizeof line, "%ssshd 42 - - Failed password for root from 192.0.2.9 port 22 ssh2", cases[i].prefix);
        } else {
            snprintf(line, sizeof line, "%s%s", cases[i].prefix, tail);
        }
        struct got g = parse1(p, line);
        if (g.n != 1) fail_msg("no event for: %s", line);
        if (cases[i].prefix[0] == '@') {
            /* 0x69295abe = 1764317886: TAI is 10 s ahead of UTC. */
            assert_int_equal(g.v[0].time_ms, (0x69295abeLL - 10) * 1000);
        } else if (g.v[0].time_ms != cases[i].want) {
            fail_msg("%s: time %lld, want %lld", line, (long long)g.v[0].time_ms, (long long)cases[i].want);
        }
        assert_string_equal(g.v[0].host, cases[i].host);
        assert_string_equal(g.v[0].ip, "192.0.2.9");
    }
    /* Dovecot's own log_path file: no host, the process is the tag. */
    struct got g = parse1(p, "Nov 28 04:31:06 imap-login: Info: Login: user=<alice>, method=PLAIN, rip=192.0.2.7, lip=192.0.2.1, mpid=9, TLS, session=<abc>");
    assert_int_equal(g.n, 1);
    assert_int_equal(g.v[0].kind, SG_EV_AUTH_OK);
    assert_int_equal(g.v[0].time_ms, utc_ms(2026, 11, 28, 4, 31, 6, 0));
    assert_string_equal(g.v[0].service, "imap");
    assert_string_equal(g.v[0].user, "alice");
    /* A timestamp that looks like one but is not: counted, the event still comes (time 0). */
    g = parse1(p, "Nov 31 25:61:00 mx1 sshd[1]: Invalid user x from 192.0.2.3 port 1");
    assert_int_equal(g.n, 1);
    assert_int_equal(g.v[0].time_ms, 0);
    struct detect_stats st;
    detect_parser_stats(p, &st);
    assert_int_equal(st.bad_time, 1);
    detect_parser_destroy(&p);
    detect_rules_destroy(&r);
}

static void test_new_year(void **state)
{
    (void)state;
    struct detect_rules *r = shipped();
    /* Just after New Year: December lines belong to the year before. */
    struct detect_parser_opts o = {.ref_ms = utc_ms(2027, 1, 1, 0, 5, 0, 0)};
    struct detect_parser *p = detect_parser_new(r, &o);
    struct got g = parse1(p, "Dec 31 23:59:58 mx1 sshd[1]: Invalid user x from 192.0.2.3 port 1");
    assert_int_equal(g.v[0].time_ms, utc_ms(2026, 12, 31, 23, 59, 58, 0));
    g = parse1(p, "Jan  1 00:04:00 mx1 sshd[1]: Invalid user x from 192.0.2.3 port 1");
    assert_int_equal(g.v[0].time_ms, utc_ms(2027, 1, 1, 0, 4, 0, 0));
    detect_parser_destroy(&p);
    /* Just before: a node whose clock runs ahead already writes January. */
    o.ref_ms = utc_ms(2026, 12, 31, 23, 59, 0, 0);
    p = detect_parser_new(r, &o);
    g = parse1(p, "Jan  1 00:00:02 mx1 sshd[1]: Invalid user x from 192.0.2.3 port 1");
    assert_int_equal(g.v[0].time_ms, utc_ms(2027, 1, 1, 0, 0, 2, 0));
    detect_parser_destroy(&p);
    detect_rules_destroy(&r);
}

static void test_ip_parse(void **state)
{
    (void)state;
    struct { const char *in, *out; int fam; } ok[] = {
        {"1.2.3.4", "1.2.3.4", AF_INET},           {"::ffff:1.2.3.4", "1.2.3.4", AF_INET},
        {"[2001:DB8::1]", "2001:db8::1", AF_INET6}, {"192.030.0.6", "192.30.0.6", AF_INET},
        {"fe80::1%eth0", "fe80::1", AF_INET6},      {"2001:db8:0:0:0:0:0:2", "2001:db8::2", AF_INET6},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int fam = 0;
        uint8_t a[16];
        char t[SG_EV_IP_MAX];
        assert_int_equal(detect_ip_parse(ok[i].in, strlen(ok[i].in), &fam, a, t), 0);
        assert_string_equal(t, ok[i].out);
        assert_int_equal(fam, ok[i].fam);
        uint8_t want[16] = {0};
        inet_pton(fam, ok[i].out, want);
        assert_memory_equal(a, want, fam == AF_INET ? 4 : 16);
    }
    const char *bad[] = {"", "example.com", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", "::g", "[1.2.3.4"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int fam = 0;
        uint8_t a[16];
        assert_int_equal(detect_ip_parse(bad[i], strlen(bad[i]), &fam, a, NULL), -1);
    }
}

/* Writes text to dir/name. */
static void write_file(const char *dir, const char *name, const char *text)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_rule_files(void **state)
{
    (void)state;
    char base[] = "/tmp/sgdetect-rulesXXXXXX";
    assert_non_null(mkdtemp(base));
    char d1[4200], d2[4200], err[512];
    snprintf(d1, sizeof d1, "%s/shipped", base);
    snprintf(d2, sizeof d2, "%s/operator", base);
    mkdir(d1, 0700);
    mkdir(d2, 0700);
    write_file(d1, "a.conf", "# test\n[one]\nprogram = app\nliteral = boom\npattern = boom from (?<ip>\\S+)\nkind = rejected\n\n"
                             "[two]\nprogram = app\nliteral = bang\npattern = bang from (?<ip>\\S+)\nkind = auth_fail\n");
    const char *dirs[] = {d1, d2, NULL};
    struct detect_rules *r = detect_rules_new(dirs, err, sizeof err);   /* operator dir empty: fine */
    assert_non_null(r);
    assert_int_equal(detect_rules_count(r), 2);
    detect_rules_destroy(&r);
    /* Override "one" (new kind) and remove "two" from the operator directory. */
    write_file(d2, "local.conf", "[one]\nprogram = app\nliteral = boom\npattern = boom from (?<ip>\\S+)\nkind = relay_denied\n"
                                 "[two]\nenabled = no\n");
    r = detect_rules_new(dirs, err, sizeof err);
    assert_non_null(r);
    struct detect_parser *p = detect_parser_new(r, NULL);
    struct got g = parse1(p, "Nov 28 04:31:06 h app[1]: boom from 192.0.2.1");
    assert_int_equal(g.n, 1);
    assert_int_equal(g.v[0].kind, SG_EV_RELAY_DENIED);
    assert_string_equal(g.v[0].rule, "one");
    g = parse1(p, "Nov 28 04:31:06 h app[1]: bang from 192.0.2.1");
    assert_int_equal(g.n, 0);
    g = parse1(p, "Nov 28 04:31:06 h other[1]: boom from 192.0.2.1");   /* program filter */
    assert_int_equal(g.n, 0);
    detect_parser_destroy(&p);
    detect_rules_destroy(&r);
    /* Errors name the file and line. */
    struct { const char *text, *want; } bad[] = {
        {"[x]\nprogram = app\nliteral = boom\npattern = boom (?<ip>\nkind = rejected\n", "bad.conf:4: rule 'x': pattern error"},
        {"[x]\nliteral = boom\npattern = (?<ip>x)\nkind = nonsense\n", "bad.conf:4: unknown kind 'nonsense'"},
        {"[x]\nliteral = abc\n", "bad.conf:2: each literal must be at least 4 bytes"},
        {"[x]\nliteral = abcd\nkind = conn\n", "bad.conf:1: rule 'x' has no pattern"},
        {"literal = abcd\n", "bad.conf:1: 'literal' outside a [rule] section"},
        {"[x]\nprogram = a\nliteral = abcd\npattern = abcd\n", "bad.conf:4: rule 'x': pattern needs the named group(s) ip"},
        {"[x]\ncolour = red\n", "bad.conf:2: unknown key 'colour'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(d2, "bad.conf", bad[i].text);
        err[0] = '\0';
        r = detect_rules_new(dirs, err, sizeof err);
        assert_null(r);
        if (!strstr(err, bad[i].want)) fail_msg("error '%s' lacks '%s'", err, bad[i].want);
    }
    /* The shipped directory must exist; an operator directory may not. */
    const char *missing[] = {"/nonexistent/rules.d", NULL};
    assert_null(detect_rules_new(missing, err, sizeof err));
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    assert_int_equal(system(cmd), 0);
}

static void test_dovecot_one_attempt_once(void **state)
{
    (void)state;
    struct detect_rules *r = shipped();
    struct detect_parser_opts o = {.ref_ms = REF_MS};
    struct detect_parser *p = detect_parser_new(r, &o);
    /* auth line then login line of the same session: the second is marked dup. */
    struct got a = parse1(p, "Nov 28 04:31:06 mx1 dovecot: auth: passwd-file(alice,192.0.2.10,<SeSs1>): Password mismatch");
    struct got b = parse1(p, "Nov 28 04:31:08 mx1 dovecot: imap-login: Disconnected: Connection closed (auth failed, 1 attempts in 2 secs): user=<alice>, method=PLAIN, rip=192.0.2.10, lip=192.0.2.1, TLS, session=<SeSs1>");
    assert_int_equal(a.n, 1);
    assert_int_equal(b.n, 1);
    assert_false(a.v[0].dup);
    assert_int_equal(a.v[0].kind, SG_EV_AUTH_FAIL);
    assert_string_equal(a.v[0].user, "alice");
    assert_true(b.v[0].dup);
    assert_string_equal(b.v[0].service, "imap");
    /* "3 attempts" with one auth line seen: the login line stands for the 2 not yet counted. */
    a = parse1(p, "Nov 28 04:32:00 mx1 dovecot: auth: passwd-file(bob,192.0.2.11,<SeSs2>): Password mismatch");
    b = parse1(p, "Nov 28 04:32:09 mx1 dovecot: pop3-login: Aborted login (auth failed, 3 attempts in 9 secs): user=<bob>, method=PLAIN, rip=192.0.2.11, lip=192.0.2.1, session=<SeSs2>");
    assert_false(b.v[0].dup);
    assert_int_equal(b.v[0].count, 2);
    assert_string_equal(b.v[0].service, "pop3");
    /* Login line alone: N attempts. A later auth line of that session is then a dup. */
    b = parse1(p, "Nov 28 04:33:00 mx1 dovecot: imap-login: Disconnected (auth failed, 4 attempts in 12 secs): user=<eve>, method=PLAIN, rip=2001:db8::5, lip=192.0.2.1, session=<SeSs3>");
    assert_int_equal(b.v[0].count, 4);
    assert_false(b.v[0].dup);
    assert_string_equal(b.v[0].ip, "2001:db8::5");
    assert_int_equal(b.v[0].family, AF_INET6);
    a = parse1(p, "Nov 28 04:33:01 mx1 dovecot: auth: passwd-file(eve,2001:db8::5,<SeSs3>): unknown user");
    assert_true(a.v[0].dup);
    detect_parser_destroy(&p);
    detect_rules_destroy(&r);
}

/* auth_verbose_passwords = sha1:N: the hash of the tried password is kept, only when it is hex. */
static void test_dovecot_password_hash(void **state)
{
    (void)state;
    struct detect_rules *r = shipped();
    struct detect_parser_opts o = {.ref_ms = REF_MS};
    struct detect_parser *p = detect_parser_new(r, &o);
    struct got a = parse1(p, "Nov 28 04:40:00 mx1 dovecot: auth: passwd-file(alice,192.0.2.20,<Pw1>): Password mismatch (SHA1 of given password: 9d4e1e)");
    assert_int_equal(a.n, 1);
    assert_string_equal(a.v[0].user, "alice");
    assert_string_equal(a.v[0].pwhash, "9d4e1e");
    a = parse1(p, "Nov 28 04:40:01 mx1 dovecot: auth-worker(42): sql(bob,192.0.2.21): unknown user (SHA1 of given password: 011c94ab)");
    assert_string_equal(a.v[0].pwhash, "011c94ab");
    a = parse1(p, "Nov 28 04:40:02 mx1 dovecot: auth: passwd-file(carol,192.0.2.22,<Pw3>): Password mismatch (given password: hunter2)");
    assert_int_equal(a.n, 1);
    assert_string_equal(a.v[0].pwhash, "");
    a = parse1(p, "Nov 28 04:40:03 mx1 dovecot: auth: passwd-file(dan,192.0.2.23,<Pw4>): Password mismatch");
    assert_string_equal(a.v[0].pwhash, "");
    detect_parser_destroy(&p);
    detect_rules_destroy(&r);
}

static void test_smtp_auth_via_dovecot_once(void **state)
{
    (void)state;
    struct detect_rules *r = shipped();
    struct detect_parser_opts o = {.ref_ms = REF_MS};
    struct detect_parser *p = detect_parser_new(r, &o);
    /* Dovecot SASL for Postfix: session-less auth line + Postfix warning are one attempt, either order. */
    struct got a = parse1(p, "Nov 28 05:00:00 mx1 dovecot: auth: passwd-file(carol,198.51.100.7): Password mismatch");
    struct got b = parse1(p, "Nov 28 05:00:02 mx1 postfix/submission/smtpd[77]: warning: unknown[198.51.100.7]: SASL LOGIN authentication failed: UGFzc3dvcmQ6");
    assert_false(a.v[0].dup);
    assert_true(b.v[0].dup);
    assert_string_equal(b.v[0].service, "submission");
    b = parse1(p, "Nov 28 05:00:10 mx1 postfix/smtpd[78]: warning: unknown[198.51.100.8]: SASL PLAIN authentication failed: authentication failure");
    a = parse1(p, "Nov 28 05:00:10 mx1 dovecot: auth: passwd-file(dave,198.51.100.8): unknown user");
    assert_false(b.v[0].dup);
    assert_string_equal(b.v[0].service, "smtp");
    assert_true(a.v[0].dup);
    /* The disconnect summary "auth=0/3" after two reported failures adds the third only. */
    parse1(p, "Nov 28 05:01:00 mx1 postfix/smtpd[90]: warning: unknown[198.51.100.9]: SASL LOGIN authentication failed: UGFzc3dvcmQ6");
    parse1(p, "Nov 28 05:01:01 mx1 postfix/smtpd[90]: warning: unknown[198.51.100.9]: SASL LOGIN authentication failed: UGFzc3dvcmQ6");
    b = parse1(p, "Nov 28 05:01:02 mx1 postfix/smtpd[90]: disconnect from unknown[198.51.100.9] ehlo=1 auth=0/3 quit=1 commands=2/5");
    assert_int_equal(b.n, 1);
    assert_false(b.v[0].dup);
    assert_int_equal(b.v[0].count, 1);
    b = parse1(p, "Nov 28 05:01:09 mx1 postfix/smtpd[91]: disconnect from mail.example.net[198.51.100.10] ehlo=1 auth=1 mail=1 quit=1 commands=4");
    assert_int_equal(b.n, 0);   /* no failed AUTH in that session */
    detect_parser_destroy(&p);
    detect_rules_destroy(&r);
}

/* The program-name hash of detect/parser.c, reproduced: the test forges a tag that collides with it. */
static uint64_t prog_hash(const char *s, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
    for (; n >= 8; s += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;
    return h | 1;
}

/* A tag is whatever a local process gives syslog (logger -t). One whose name hashes like
 * "postfix/submission/smtpd" must not lend that program its cached rules, nor take them away: the
 * cache compares names. The forged name keeps the real one's first and last words and picks its
 * middle word so the hash state after it is the real one's; the first word is searched until that
 * middle word is all tag characters. */
static void test_prog_cache_collision(void **state)
{
    (void)state;
    const char *real = "postfix/submission/smtpd";
    char forged[25];
    memcpy(forged, real, 25);
    uint64_t h0 = 0x9e3779b97f4a7c15ULL ^ 24, w1, w2;
    memcpy(&w1, real, 8);
    memcpy(&w2, real + 8, 8);
    uint64_t h1 = (h0 ^ w1) * 0xff51afd7ed558ccdULL;
    h1 ^= h1 >> 32;
    bool found = false;
    uint64_t seed = 1;
    for (int tries = 0; tries < 10000000 && !found; tries++) {
        unsigned char f1[8];
        for (int i = 0; i < 8; i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            f1[i] = (unsigned char)('a' + (seed >> 59) % 26);
        }
        uint64_t v1, g1;
        memcpy(&v1, f1, 8);
        g1 = (h0 ^ v1) * 0xff51afd7ed558ccdULL;
        g1 ^= g1 >> 32;
        uint64_t v2 = w2 ^ h1 ^ g1;
        unsigned char m[8];
        memcpy(m, &v2, 8);
        found = true;
        for (int i = 0; i < 8 && found; i++)
            found = m[i] > ' ' && m[i] < 0x7f && !strchr("[(<]):=", m[i]);
        if (found) {
            memcpy(forged, f1, 8);
            memcpy(forged + 8, m, 8);
        }
    }
    assert_true(found);
    assert_int_equal(prog_hash(forged, 24), prog_hash(real, 24));
    assert_memory_not_equal(forged, real, 24);

    struct detect_rules *r = shipped();
    struct detect_parser_opts o = {.ref_ms = REF_MS};
    struct detect_parser *p = detect_parser_new(r, &o);
    const char *fail = "warning: unknown[198.51.100.7]: SASL LOGIN authentication failed: UGFzc3dvcmQ6";
    char line[512];
    /* The forged program first: its line is no Postfix line, whatever it says. */
    snprintf(line, sizeof line, "Nov 28 05:00:00 mx1 %s[66]: %s", forged, fail);
    struct got g = parse1(p, line);
    int forged_events = g.n;
    /* Then the real one: still detected, as submission. */
    snprintf(line, sizeof line, "Nov 28 05:00:01 mx1 %s[77]: %s", real, fail);
    g = parse1(p, line);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.v[0].service, "submission");
    /* And the other way round, on a fresh parser: the real program cached first lends nothing. */
    detect_parser_destroy(&p);
    p = detect_parser_new(r, &o);
    snprintf(line, sizeof line, "Nov 28 05:00:01 mx1 %s[77]: %s", real, fail);
    assert_int_equal(parse1(p, line).n, 1);
    snprintf(line, sizeof line, "Nov 28 05:00:02 mx1 %s[66]: %s", forged, fail);
    assert_int_equal(parse1(p, line).n, forged_events);
    assert_int_equal(forged_events, 0);
    detect_parser_destroy(&p);
    detect_rules_destroy(&r);
}

static void test_submission_sent_join(void **state)
{
    (void)state;
    struct detect_rules *r = shipped();
    struct detect_parser_opts o = {.ref_ms = REF_MS};
    struct detect_parser *p = detect_parser_new(r, &o);
    struct got a = parse1(p, "Nov 28 06:00:00 mx1 postfix/submission/smtpd[5]: 4AB12C: client=unknown[203.0.113.5], sasl_method=LOGIN, sasl_username=frank@example.jp");
    assert_int_equal(a.n, 1);
    assert_int_equal(a.v[0].kind, SG_EV_AUTH_OK);
    assert_string_equal(a.v[0].user, "frank@example.jp");
    assert_string_equal(a.v[0].service, "submission");
    struct got b = parse1(p, "Nov 28 06:00:01 mx1 postfix/qmgr[812]: 4AB12C: from=<frank@example.jp>, size=1234, nrcpt=37 (queue active)");
    assert_int_equal(b.n, 1);
    assert_int_equal(b.v[0].kind, SG_EV_SENT);
    assert_int_equal(b.v[0].nrcpt, 37);
    assert_string_equal(b.v[0].user, "frank@example.jp");
    assert_string_equal(b.v[0].ip, "203.0.113.5");
    assert_string_equal(b.v[0].service, "submission");
    assert_string_equal(b.v[0].sender, "frank@example.jp");
    assert_int_equal(b.v[0].size, 1234);
    /* Re-activation of the same queue id is not a second message. */
    b = parse1(p, "Nov 28 06:10:01 mx1 postfix/qmgr[812]: 4AB12C: from=<frank@example.jp>, size=1234, nrcpt=37 (queue active)");
    assert_int_equal(b.n, 0);
    /* A queue id without sasl_username (inbound mail on port 25) gives no event at smtpd and one
     * `received`, with no user, at qmgr. */
    b = parse1(p, "Nov 28 06:00:02 mx1 postfix/smtpd[6]: 5CD34E: client=mail.example.net[198.51.100.1]");
    assert_int_equal(b.n, 0);
    b = parse1(p, "Nov 28 06:00:03 mx1 postfix/qmgr[812]: 5CD34E: from=<news@example.net>, size=99, nrcpt=1 (queue active)");
    assert_int_equal(b.n, 1);
    assert_int_equal(b.v[0].kind, SG_EV_RECEIVED);
    assert_string_equal(b.v[0].user, "");
    assert_string_equal(b.v[0].ip, "198.51.100.1");
    assert_string_equal(b.v[0].service, "smtp");
    assert_string_equal(b.v[0].sender, "news@example.net");
    /* The same queue id on another host is another message. */
    b = parse1(p, "Nov 28 06:00:04 mx2 postfix/qmgr[812]: 4AB12C: from=<x@example.net>, size=99, nrcpt=1 (queue active)");
    assert_int_equal(b.n, 0);
    detect_parser_destroy(&p);
    detect_rules_destroy(&r);
}

/* A queue id Postfix reuses (short ids: inode and microseconds) is a new message at its new client=
 * line: an abandoned submission's user must not be charged with a later port-25 message of that id. */
static void test_qid_reuse_not_charged(void **state)
{
    (void)state;
    struct detect_rules *r = shipped();
    struct detect_parser_opts o = {.ref_ms = REF_MS};
    struct detect_parser *p = detect_parser_new(r, &o);
    parse1(p, "Nov 28 06:00:00 mx1 postfix/submission/smtpd[5]: 7EF01A: client=unknown[203.0.113.5], sasl_method=LOGIN, sasl_username=frank@example.jp");
    /* frank's transaction is abandoned (no qmgr line); the id comes back for an inbound message */
    struct got b = parse1(p, "Nov 28 07:00:00 mx1 postfix/smtpd[6]: 7EF01A: client=unknown[198.51.100.66]");
    assert_int_equal(b.n, 0);
    b = parse1(p, "Nov 28 07:00:01 mx1 postfix/qmgr[812]: 7EF01A: from=<spam@example.net>, size=99, nrcpt=500 (queue active)");
    assert_int_equal(b.n, 1);
    assert_int_equal(b.v[0].kind, SG_EV_RECEIVED);
    assert_string_equal(b.v[0].user, "");
    assert_string_equal(b.v[0].ip, "198.51.100.66");
    /* and the other way round: a port-25 id reused by a submission is that user's */
    parse1(p, "Nov 28 07:10:00 mx1 postfix/smtpd[6]: 8AB02B: client=unknown[198.51.100.67]");
    parse1(p, "Nov 28 07:20:00 mx1 postfix/submission/smtpd[5]: 8AB02B: client=unknown[203.0.113.5], sasl_method=LOGIN, sasl_username=frank@example.jp");
    b = parse1(p, "Nov 28 07:20:01 mx1 postfix/qmgr[812]: 8AB02B: from=<frank@example.jp>, size=99, nrcpt=2 (queue active)");
    assert_int_equal(b.n, 1);
    assert_int_equal(b.v[0].kind, SG_EV_SENT);
    assert_string_equal(b.v[0].user, "frank@example.jp");
    assert_string_equal(b.v[0].ip, "203.0.113.5");
    /* a counted message's id reused: the new message is counted, the old re-activation is not doubled */
    parse1(p, "Nov 28 07:30:00 mx1 postfix/smtpd[6]: 8AB02B: client=unknown[198.51.100.68]");
    b = parse1(p, "Nov 28 07:30:01 mx1 postfix/qmgr[812]: 8AB02B: from=<x@example.net>, size=99, nrcpt=1 (queue active)");
    assert_int_equal(b.n, 1);
    assert_int_equal(b.v[0].kind, SG_EV_RECEIVED);
    assert_string_equal(b.v[0].ip, "198.51.100.68");
    b = parse1(p, "Nov 28 07:40:01 mx1 postfix/qmgr[812]: 8AB02B: from=<x@example.net>, size=99, nrcpt=1 (queue active)");
    assert_int_equal(b.n, 0);
    detect_parser_destroy(&p);
    detect_rules_destroy(&r);
}

/* Port 25 is anyone's: a flood of inbound transactions (RCPT then RSET gives a client= line and no
 * qmgr line) must not push an authenticated submission's queue id out before its qmgr line. */
static void test_port25_flood_keeps_submissions(void **state)
{
    (void)state;
    struct detect_rules *r = shipped();
    struct detect_parser_opts o = {.ref_ms = REF_MS};
    struct detect_parser *p = detect_parser_new(r, &o);
    parse1(p, "Nov 28 06:00:00 mx1 postfix/submission/smtpd[5]: 4AB12C: client=unknown[203.0.113.5], sasl_method=LOGIN, sasl_username=frank@example.jp");
    char line[256];
    for (unsigned i = 0; i < 40000; i++) {
        snprintf(line, sizeof line, "Nov 28 06:01:00 mx1 postfix/smtpd[6]: F%07X: client=unknown[198.51.100.%u]", i, i % 250 + 1);
        parse1(p, line);
    }
    struct got b = parse1(p, "Nov 28 06:02:00 mx1 postfix/qmgr[812]: 4AB12C: from=<frank@example.jp>, size=1234, nrcpt=37 (queue active)");
    assert_int_equal(b.n, 1);
    assert_int_equal(b.v[0].kind, SG_EV_SENT);
    assert_string_equal(b.v[0].user, "frank@example.jp");
    detect_parser_destroy(&p);
    detect_rules_destroy(&r);
}

static void test_sshd_pid_context(void **state)
{
    (void)state;
    struct detect_rules *r = shipped();
    struct detect_parser_opts o = {.ref_ms = REF_MS};
    struct detect_parser *p = detect_parser_new(r, &o);
    /* The address comes first ("Connection from"), the failure line has none. */
    struct got g = parse1(p, "Feb 12 04:09:18 h sshd[26713]: Connection from 115.249.163.77 port 51353 on 127.0.0.1 port 22");
    assert_int_equal(g.v[0].kind, SG_EV_CONN);
    g = parse1(p, "Feb 12 04:09:21 h sshd[26713]: Disconnecting: Too many authentication failures [preauth]");
    assert_int_equal(g.n, 1);
    assert_int_equal(g.v[0].kind, SG_EV_AUTH_FAIL);
    assert_string_equal(g.v[0].ip, "115.249.163.77");
    /* The failure first, the address with the disconnect line. */
    g = parse1(p, "Nov 23 21:50:19 h sshd[8148]: Disconnecting: Too many authentication failures for root [preauth]");
    assert_int_equal(g.n, 0);
    g = parse1(p, "Nov 23 21:50:37 h sshd[8148]: Connection closed by 61.0.0.1 [preauth]");
    assert_int_equal(g.v[0].kind, SG_EV_AUTH_FAIL);
    assert_string_equal(g.v[0].ip, "61.0.0.1");
    g = parse1(p, "Nov 23 21:50:38 h sshd[9999]: Connection closed by 61.0.0.2 [preauth]");
    assert_int_equal(g.v[0].kind, SG_EV_CONN);   /* nothing pending for that pid */
    /* PAM failures for one name, then a login as another in the same connection: also a failure. */
    g = parse1(p, "Mar  7 18:53:22 h sshd[1558]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser=root rhost=192.0.2.114");
    assert_true(g.v[0].dup);
    g = parse1(p, "Mar  7 18:53:24 h sshd[1558]: Accepted password for known from 192.0.2.114 port 52100 ssh2");
    assert_int_equal(g.n, 2);
    assert_int_equal(g.v[0].kind, SG_EV_AUTH_OK);
    assert_int_equal(g.v[1].kind, SG_EV_AUTH_FAIL);
    assert_false(g.v[1].dup);
    g = parse1(p, "Mar  7 18:53:25 h sshd[1556]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.113  user=rda");
    g = parse1(p, "Mar  7 18:53:26 h sshd[1556]: Accepted password for rda from 192.0.2.113 port 52100 ssh2");
    assert_int_equal(g.n, 1);   /* a typo, then the right password: just a login */
    /* A user name built to look like the tail of the line does not move the address. */
    g = parse1(p, "Nov 11 08:04:52 h sshd[2737]: Failed password for invalid user test from 10.10.1.2 port 55555 ssh2 from 127.0.0.1 port 58946 ssh2");
    assert_string_equal(g.v[0].ip, "127.0.0.1");
    detect_parser_destroy(&p);
    detect_rules_destroy(&r);
}

static void test_garbled_lines(void **state)
{
    (void)state;
    struct detect_rules *r = shipped();
    struct detect_parser_opts o = {.ref_ms = REF_MS, .max_line = 512};
    struct detect_parser *p = detect_parser_new(r, &o);
    /* NUL bytes and invalid UTF-8 are counted; the evidence in the line still counts. */
    static const char nul[] = "Nov 28 04:31:06 mx1 sshd[1]: Failed password for ro\0ot from 192.0.2.44 port 1 ssh2";
    struct got g;
    memset(&g, 0, sizeof g);
    detect_parser_line(p, nul, sizeof nul - 1, got_collect, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.v[0].ip, "192.0.2.44");
    g = parse1(p, "Nov 28 04:31:06 mx1 sshd[1]: Invalid user \xff\xfe\xc3\x28 from 192.0.2.45 port 1");
    assert_int_equal(g.n, 1);
    assert_string_equal(g.v[0].user, "\xff\xfe\xc3\x28");
    g = parse1(p, "Nov 28 04:31:06 mx1 sshd[1]: Invalid user caf\xc3\xa9 from 192.0.2.46 port 1");   /* valid UTF-8 */
    assert_int_equal(g.n, 1);
    /* Oversized: counted and skipped, whatever it holds. */
    char big[2048];
    memset(big, 'A', sizeof big);
    memcpy(big, "Nov 28 04:31:06 mx1 sshd[1]: Invalid user x from 192.0.2.47 port 1 ", 68);
    memset(&g, 0, sizeof g);
    assert_int_equal(detect_parser_line(p, big, sizeof big, got_collect, &g), 0);
    /* Empty, spaces only, a bare tag, a truncated timestamp: no event, no crash. */
    const char *odd[] = {"", " ", "Nov", "Nov 28 04:3", "Nov 28 04:31:06", "Nov 28 04:31:06 mx1", "mx1 sshd[1]:",
                         "sshd[: x", "<13>", "<13>1 ", "@40000000", "[sshd]", "2026-13-45T99:99:99Z h sshd[1]: x"};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) assert_int_equal(parse1(p, odd[i]).n, 0);
    struct detect_stats st;
    detect_parser_stats(p, &st);
    assert_int_equal(st.invalid, 2);
    assert_int_equal(st.oversized, 1);
    assert_int_equal(st.lines, 4 + sizeof odd / sizeof odd[0]);
    assert_int_equal(st.events, 3);
    detect_parser_destroy(&p);
    detect_rules_destroy(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_new_year),
        cmocka_unit_test(test_ip_parse),
        cmocka_unit_test(test_rule_files),
        cmocka_unit_test(test_dovecot_one_attempt_once),
        cmocka_unit_test(test_smtp_auth_via_dovecot_once),
        cmocka_unit_test(test_prog_cache_collision),
        cmocka_unit_test(test_submission_sent_join),
        cmocka_unit_test(test_qid_reuse_not_charged),
        cmocka_unit_test(test_port25_flood_keeps_submissions),
        cmocka_unit_test(test_sshd_pid_context),
        cmocka_unit_test(test_garbled_lines),
        cmocka_unit_test(test_dovecot_password_hash),
    };
    return cmocka_run_group_tests(tests, setup_utc, NULL);
}
