/* test_detect_hostile.c: a property test per rule family. Thousands of generated user names, HELOs,
 * senders, SASL names and client texts holding address-like text (rip=IP, [IP], " from IP port N",
 * ip=[IP], ",IP,", relay=, rhost=, quotes, brackets, IPv6, v4-mapped, \r, tabs, and copies of the
 * daemon's own text around the address) are written into real-format lines (tests/fuzz/hostile_lines.h).
 * Every event's address must be the real client's, or the line gives no event; never the planted one.
 * The clean line of every template must give the event with the real address, so the test cannot pass
 * by matching nothing. Prints, per family, how many hostile lines still gave the real event. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/fuzz/hostile_lines.h"
#include "tests/support/shipped_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VALUES_PER_TEMPLATE 3000
#define REF_MS 1795867200000LL

static struct detect_rules *shipped(void)
{
    char err[512] = "";
    struct detect_rules *r = sg_test_shipped_rules(err, sizeof err);
    if (!r) fail_msg("shipped rules: %s", err);
    return r;
}

static struct detect_parser *new_parser(const struct detect_rules *r)
{
    struct detect_parser_opts o = {.ref_ms = REF_MS};
    struct detect_parser *p = detect_parser_new(r, &o);
    assert_non_null(p);
    return p;
}

/* ---- generated values ---------------------------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

/* Addresses the attacker plants; none is the real one (HL_V4 / HL_V6). */
static const char *const planted[] = {
    "198.51.100.66", "2001:db8::66", "::ffff:198.51.100.66", "198.051.100.066", "IPv6:2001:db8::66", "2001:db8:0:0:0:0:0:66",
};

/* Pieces of hostile values; P stands for a planted address. */
static const char *const frags[] = {
    "P", "[P]", "[P]:25", " [P]", "(P)", " from P port 22", " from P port 22 ssh2", " from P port 22 ssh2: ",
    " from P", " from P ", "rip=P", ", rip=P, lip=192.0.2.1", ">, method=PLAIN, rip=P, lip=192.0.2.1, TLS, session=<x>",
    ">, rip=P", "ip=[P]", ", ip=[P]", ",P,", ",P", ",P)", ",P,<AbCd>): unknown user", ",P): Password mismatch",
    ",P,sasl:plain)<x>: Info: sql: Password mismatch", ") [P]:25", ") [P]:25: 535 Incorrect authentication data",
    "H=(x) [P]:25 ", " H=[P]", "\" H=(x) [P]:25 AUTH command used when not advertised", "relay=[P]",
    ", relay=x [P]", ", relay=[P], reject=550 5.7.1 ", " Relaying denied", "rhost=P", " rhost=P user=x", " rhost=P ",
    "host=[P]", " host=x [P]", " - P", " P port 22 [preauth]", " P port 22", " P port 22: Change of username",
    "client=x[P]", "x[P]: SASL LOGIN authentication failed", "unknown[P]", " not allowed because not listed in AllowUsers",
    "Auth: P:1->", "error,relay=P,", ": 3: Auth fail", " [preauth]", "badlogin: [P] x ", "LOGIN FAILED, ip=[P]",
    "<", ">", "\"", "'", "\r", "\t", ")", "(", "user=<", ": ", ", ", " ", "\\", "[", "]", ";", "=", "->", "@", "%",
    "::", "...", " ssh2", " port 1", "(auth failed, 9 attempts in 1 secs): user=<", "Login: user=<", ", session=<",
};

static size_t add(char *v, size_t n, size_t cap, const char *s, size_t sn)
{
    if (n + sn >= cap) sn = cap - 1 - n;
    memcpy(v + n, s, sn);
    return n + sn;
}

/* Appends fragment f with each P replaced by address a. */
static size_t add_frag(char *v, size_t n, size_t cap, const char *f, const char *a)
{
    for (; *f; f++)
        n = *f == 'P' ? add(v, n, cap, a, strlen(a)) : add(v, n, cap, f, 1);
    return n;
}

/* A copy of a piece of the daemon's own line with the planted address in its slot: the strongest lie. */
static size_t add_mirror(char *v, size_t n, size_t cap, const struct hostile_tmpl *t, const char *a)
{
    char line[1024];
    size_t ln = hostile_render(line, sizeof line, t->line, a, "x", 1);
    const char *msg = strstr(line, ": ");
    size_t off = msg ? (size_t)(msg - line) + 2 : 0;
    if (ln <= off) return n;
    size_t from = off + (rnd(2) ? 0 : rnd((uint32_t)(ln - off)));
    size_t to = rnd(2) ? ln : from + rnd((uint32_t)(ln - from) + 1);
    return add(v, n, cap, line + from, to - from);
}

static size_t gen_value(char *v, size_t cap, const struct hostile_tmpl *t)
{
    size_t n = 0;
    const char *a = planted[rnd(sizeof planted / sizeof planted[0])];
    unsigned parts = 1 + rnd(4);
    for (unsigned i = 0; i < parts; i++) {
        switch (rnd(6)) {
        case 0: n = add_mirror(v, n, cap, t, a); break;
        case 1: {   /* a little junk */
            static const char junk[] = "abcxyz019 .-_@:,;<>()[]\"'=/\\\t\r";
            for (unsigned k = rnd(6); k > 0; k--) n = add(v, n, cap, &junk[rnd(sizeof junk - 1)], 1);
            break;
        }
        default: n = add_frag(v, n, cap, frags[rnd(sizeof frags / sizeof frags[0])], a); break;
        }
    }
    v[n] = '\0';
    return n;
}

/* ---- tests --------------------------------------------------------------------------------------- */

/* Lines each old rule fell for (the planted address is 198.51.100.66, the client 203.0.113.7): now the
 * event names the client, or, where the daemon's marker occurs twice, there is no event. */
static void test_lies_the_old_rules_believed(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        bool event;   /* the client's event is expected; else no event */
    } lies[] = {
        {"Dec  6 12:00:00 mx dovecot[42]: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x>, method=PLAIN, rip=198.51.100.66, lip=192.0.2.1, TLS, session=<x>, method=PLAIN, rip=203.0.113.7, lip=192.0.2.1, TLS, session=<AbCdEfGh12+/>",
         true},
        {"Dec  6 12:00:00 mx dovecot[42]: auth: passwd-file(x,198.51.100.66,203.0.113.7,<AbCdEfGh12+/>): unknown user",
         true},
        {"Dec  6 12:00:00 mx dovecot[42]: auth-worker(4242): pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=x rhost=198.51.100.66 user=y rhost=203.0.113.7  user=x rhost=198.51.100.66 user=y",
         false},
        {"Dec  6 12:00:00 mx sshd[4242]: error: maximum authentication attempts exceeded for invalid user a from 198.51.100.66 from 203.0.113.7 port 4242 ssh2 [preauth]",
         true},
        {"Dec  6 12:00:00 mx sshd[4242]: User x from 198.51.100.66 not allowed because y from 203.0.113.7 not allowed because not listed in AllowUsers",
         true},
        {"Dec  6 12:00:00 mx sshd[4242]: Failed publickey for x from 198.51.100.66 port 22 ssh2: y from 203.0.113.7 port 4242 ssh2: RSA SHA256:AbCdEf0123456789",
         false},
        {"Dec  6 12:00:00 mx sshd[4247]: Disconnecting invalid user x 198.51.100.66 port 1: Too many authentication failures y 203.0.113.7 port 4242: Too many authentication failures [preauth]",
         true},
        {"2026-12-06 12:00:00 [4242] dovecot_login authenticator failed for (x) [198.51.100.66]: 535 Incorrect authentication data (set_id=y) [203.0.113.7]:4242: 535 Incorrect authentication data (set_id=y)",
         false},
        {"Dec  6 12:00:00 mx imapd-ssl: LOGIN FAILED, user=x, ip=[198.51.100.66], ip=[203.0.113.7]",
         true},
        {"Dec  6 12:00:00 mx sm-mta[4242]: s1N9aKAw012604: ruleset=check_mail, arg1=<x>, relay=[198.51.100.66], reject=553 5.1.8 <y>, relay=[203.0.113.7], reject=553 5.1.8 <x>, relay=[198.51.100.66], reject=553 5.1.8 <y>... Domain of sender address x does not exist",
         false},
        {"Dec  6 12:00:00 mx imapd[4242]: Login failed user=x auth=y host=[198.51.100.66] auth=y host=[203.0.113.7]",
         true},
    };
    struct detect_rules *r = shipped();
    for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
        struct detect_parser *p = new_parser(r);
        struct hostile_seen s = {.want = HL_V4};
        detect_parser_line(p, lies[i].line, strlen(lies[i].line), hostile_sink, &s);
        if (s.other || (lies[i].event ? s.real < 1 : s.events != 0))
            fail_msg("line %zu: %d event(s), %d with the client's address, %d with %s (rule %s):\n  %s", i, s.events,
                     s.real, s.other, s.bad_ip, s.bad_rule, lies[i].line);
        detect_parser_destroy(&p);
    }
    detect_rules_destroy(&r);
}

/* Every template's clean line gives its event with the real address: the property below is not empty. */
static void test_clean_lines_give_the_real_event(void **state)
{
    (void)state;
    struct detect_rules *r = shipped();
    char buf[2048];
    for (size_t i = 0; i < HOSTILE_NTMPL; i++) {
        const struct hostile_tmpl *t = &hostile_tmpls[i];
        struct detect_parser *p = new_parser(r);
        struct hostile_seen s;
        assert_true(hostile_feed(p, t, "alice", 5, buf, sizeof buf, &s));
        if (s.real < 1 || s.other)
            fail_msg("%s template %zu: clean line gave %d event(s) with the real address, %d other:\n  %s",
                     t->family, i, s.real, s.other, buf);
        detect_parser_destroy(&p);
    }
    detect_rules_destroy(&r);
}

/* One parser per family, fed like one log: the joins (sessions, pids, queue ids) see all its lines. */
struct family_tally {
    const char *name;
    struct detect_parser *p;
    unsigned lines, real, none, bad;
};

static struct family_tally *family_of(struct family_tally *fam, size_t *n, const char *name, const struct detect_rules *r)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(fam[i].name, name)) return &fam[i];
    fam[*n] = (struct family_tally){.name = name, .p = new_parser(r)};
    return &fam[(*n)++];
}

static void test_hostile_fields_never_move_the_address(void **state)
{
    (void)state;
    struct detect_rules *r = shipped();
    char buf[4096], v[600];
    struct family_tally fam[HOSTILE_NTMPL] = {{0}};
    size_t nfam = 0;
    unsigned total = 0, total_bad = 0;
    for (size_t i = 0; i < HOSTILE_NTMPL; i++) {
        const struct hostile_tmpl *t = &hostile_tmpls[i];
        struct family_tally *f = family_of(fam, &nfam, t->family, r);
        unsigned tmpl_bad = 0;
        for (unsigned k = 0; k < VALUES_PER_TEMPLATE; k++) {
            size_t n = gen_value(v, sizeof v, t);
            struct hostile_seen s;
            if (!hostile_feed(f->p, t, v, n, buf, sizeof buf, &s)) continue;
            f->lines++;
            total++;
            if (s.other) {   /* the first one per template is shown; all are counted */
                if (!tmpl_bad++)
                    print_error("%s template %zu: rule %s took the planted address %s from:\n  %s\n", t->family, i,
                                s.bad_rule, s.bad_ip, buf);
                f->bad++;
                total_bad++;
            } else if (s.real) {
                f->real++;
            } else {
                f->none++;
            }
        }
    }
    for (size_t i = 0; i < nfam; i++) {
        print_message("hostile %-12s %6u lines: %6u gave the real event, %6u no event, %u a planted one\n", fam[i].name,
                      fam[i].lines, fam[i].real, fam[i].none, fam[i].bad);
        detect_parser_destroy(&fam[i].p);
    }
    assert_true(total > 50000);
    assert_int_equal(total_bad, 0);
    detect_rules_destroy(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lies_the_old_rules_believed),
        cmocka_unit_test(test_clean_lines_give_the_real_event),
        cmocka_unit_test(test_hostile_fields_never_move_the_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
