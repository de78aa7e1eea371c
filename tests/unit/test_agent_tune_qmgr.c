/* test_agent_tune_qmgr.c: what `sgcluster tune` learns from Postfix's qmgr lines ("%s: from=<%s>,
 * size=%ld, nrcpt=%d (queue active)", Postfix's opened.c) joined with smtpd's "client=" lines, through
 * the shipped rules: the envelope sender and the size of every message, port 25 told from submission
 * by smtpd's tag, hostile values (a huge size, an overlong sender, a sender holding ">, size=", missing
 * fields, the null sender of bounces) bounded and counted; and the input tune hands the sending limits
 * for such a message, whose subjects are the policy service's own (throttle_subject). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config.h"
#include "agent/tune.h"
#include "detect/detect.h"
#include "enforce/throttle.h"
#include "tests/support/got_events.h"
#include "tests/support/shipped_rules.h"

struct fixture {
    struct detect_rules *rules;
    struct detect_parser *p;
};

static int setup(void **state)
{
    static struct fixture f;
    char err[512] = "";
    f.rules = sg_test_shipped_rules(err, sizeof err);
    if (!f.rules) {
        fprintf(stderr, "rules: %s\n", err);
        return -1;
    }
    struct detect_parser_opts o = {.ref_ms = 1795838400000LL};
    f.p = detect_parser_new(f.rules, &o);
    *state = &f;
    return f.p ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    detect_parser_destroy(&f->p);
    detect_rules_destroy(&f->rules);
    return 0;
}

/* The smtpd line of queue id qid from ip (tag: "postfix/smtpd" or "postfix/submission/smtpd"), with
 * sasl_username=user when user is not NULL, then the qmgr line with rest after "QID: ". */
static struct got message(struct detect_parser *p, const char *tag, const char *qid, const char *ip, const char *user,
                          const char *rest)
{
    char line[4096];
    if (user)
        snprintf(line, sizeof line, "Nov 28 06:00:00 mx1 %s[77]: %s: client=unknown[%s], sasl_method=PLAIN, sasl_username=%s",
                 tag, qid, ip, user);
    else
        snprintf(line, sizeof line, "Nov 28 06:00:00 mx1 %s[77]: %s: client=mail.example.net[%s]", tag, qid, ip);
    struct got g = parse1(p, line);
    assert_int_equal(g.n, user ? 1 : 0);   /* auth_ok for a submission, nothing for port 25 */
    snprintf(line, sizeof line, "Nov 28 06:00:01 mx1 postfix/qmgr[812]: %s: %s", qid, rest);
    return parse1(p, line);
}

static void test_qmgr_sender_size_service(void **state)
{
    struct fixture *f = *state;
    struct got g = message(f->p, "postfix/submission/smtpd", "A1", "192.0.2.7", "alice",
                           "from=<Alice@Example.ORG>, size=4096, nrcpt=3 (queue active)");
    assert_int_equal(g.n, 1);
    assert_int_equal(g.v[0].kind, SG_EV_SENT);
    assert_string_equal(g.v[0].sender, "Alice@Example.ORG");
    assert_int_equal(g.v[0].size, 4096);
    assert_int_equal(g.v[0].nrcpt, 3);
    struct throttle_input in;
    assert_true(tune_limit_input(&g.v[0], &in));
    assert_int_equal(in.service, THROTTLE_SVC_SUBMISSION);
    assert_int_equal(in.amount[THROTTLE_MESSAGES], 1);
    assert_int_equal(in.amount[THROTTLE_RECIPIENTS], 3);
    assert_int_equal(in.amount[THROTTLE_BYTES], 4096);
    /* The subjects are the policy service's: lower-cased sender, its domain. */
    struct throttle_limit l = {.key = THROTTLE_KEY_DOMAIN};
    char s[256];
    assert_int_equal(throttle_subject(&l, &in, s, sizeof s), 0);
    assert_string_equal(s, "dom:example.org");
    l.key = THROTTLE_KEY_SENDER;
    assert_int_equal(throttle_subject(&l, &in, s, sizeof s), 0);
    assert_string_equal(s, "from:alice@example.org");

    /* Port 25: `received`, no user, service smtp; the policy service would say smtp too. */
    g = message(f->p, "postfix/smtpd", "B2", "198.51.100.9", NULL, "from=<news@list.example>, size=900, nrcpt=2 (queue active)");
    assert_int_equal(g.n, 1);
    assert_int_equal(g.v[0].kind, SG_EV_RECEIVED);
    assert_string_equal(g.v[0].user, "");
    assert_string_equal(g.v[0].service, "smtp");
    assert_string_equal(g.v[0].ip, "198.51.100.9");
    assert_true(tune_limit_input(&g.v[0], &in));
    assert_int_equal(in.service, THROTTLE_SVC_SMTP);
    l = (struct throttle_limit){.key = THROTTLE_KEY_CLIENT, .prefix4 = 24, .prefix6 = 64};
    assert_int_equal(throttle_subject(&l, &in, s, sizeof s), 0);
    assert_string_equal(s, "net:198.51.100.0/24");
    l.key = THROTTLE_KEY_USER;
    assert_int_equal(throttle_subject(&l, &in, s, sizeof s), -1);

    /* An authenticated message on postfix/smtpd (port 25 with AUTH) is smtp, as server_port=25 makes it. */
    g = message(f->p, "postfix/smtpd", "C3", "192.0.2.8", "bob", "from=<bob@example.org>, size=10, nrcpt=1 (queue active)");
    assert_int_equal(g.n, 1);
    assert_int_equal(g.v[0].kind, SG_EV_SENT);
    assert_true(tune_limit_input(&g.v[0], &in));
    assert_int_equal(in.service, THROTTLE_SVC_SMTP);
    /* Re-activation of a queue id is not a second message. */
    g = parse1(f->p, "Nov 28 06:10:01 mx1 postfix/qmgr[812]: C3: from=<bob@example.org>, size=10, nrcpt=1 (queue active)");
    assert_int_equal(g.n, 0);
}

static void test_qmgr_hostile(void **state)
{
    struct fixture *f = *state;
    struct detect_stats st0, st1;
    detect_parser_stats(f->p, &st0);
    /* A size no message has: counted as SG_EV_SIZE_MAX, and the line counted. */
    struct got g = message(f->p, "postfix/smtpd", "D4", "198.51.100.10", NULL,
                           "from=<x@example.net>, size=99999999999999999999999999, nrcpt=1 (queue active)");
    assert_int_equal(g.n, 1);
    assert_true(g.v[0].size == SG_EV_SIZE_MAX);
    detect_parser_stats(f->p, &st1);
    assert_int_equal(st1.capped_size - st0.capped_size, 1);

    /* A sender of 600 bytes: its last 255 kept (the domain), counted. The policy service would key
     * no sender limit on it (too long for a subject) and the domain limit on its domain: so does tune. */
    char sender[700], rest[900];
    memset(sender, 'a', 600);
    snprintf(sender + 600, sizeof sender - 600, "@Big.Example");
    snprintf(rest, sizeof rest, "from=<%s>, size=5, nrcpt=1 (queue active)", sender);
    g = message(f->p, "postfix/submission/smtpd", "E5", "192.0.2.9", "carol", rest);
    assert_int_equal(g.n, 1);
    assert_int_equal(strlen(g.v[0].sender), SG_EV_SENDER_MAX - 1);
    assert_string_equal(g.v[0].sender, sender + strlen(sender) - (SG_EV_SENDER_MAX - 1));
    detect_parser_stats(f->p, &st0);
    assert_int_equal(st0.long_senders - st1.long_senders, 1);
    struct throttle_input in, full;
    assert_true(tune_limit_input(&g.v[0], &in));
    full = in;
    full.sender = sender;
    struct throttle_limit l = {.key = THROTTLE_KEY_DOMAIN};
    char s[256], s_full[256];
    assert_int_equal(throttle_subject(&l, &in, s, sizeof s), 0);
    assert_int_equal(throttle_subject(&l, &full, s_full, sizeof s_full), 0);
    assert_string_equal(s, "dom:big.example");
    assert_string_equal(s, s_full);
    l.key = THROTTLE_KEY_SENDER;
    assert_int_equal(throttle_subject(&l, &in, s, sizeof s), -1);
    assert_int_equal(throttle_subject(&l, &full, s_full, sizeof s_full), -1);

    /* The sender is the client's: one holding ">, size=1, nrcpt=1 (" does not choose the size or the
     * recipients, which Postfix wrote after it. */
    g = message(f->p, "postfix/smtpd", "F6", "198.51.100.11", NULL,
                "from=<a>, size=1, nrcpt=1 (b@evil.example>, size=777, nrcpt=9 (queue active)");
    assert_int_equal(g.n, 1);
    assert_string_equal(g.v[0].sender, "a>, size=1, nrcpt=1 (b@evil.example");
    assert_int_equal(g.v[0].size, 777);
    assert_int_equal(g.v[0].nrcpt, 9);

    /* The null sender (bounces): no sender, no domain, the message still counts per client. */
    g = message(f->p, "postfix/smtpd", "G7", "198.51.100.12", NULL, "from=<>, size=2000, nrcpt=1 (queue active)");
    assert_int_equal(g.n, 1);
    assert_string_equal(g.v[0].sender, "");
    assert_true(tune_limit_input(&g.v[0], &in));
    l.key = THROTTLE_KEY_SENDER;
    assert_int_equal(throttle_subject(&l, &in, s, sizeof s), -1);
    l.key = THROTTLE_KEY_DOMAIN;
    assert_int_equal(throttle_subject(&l, &in, s, sizeof s), -1);
    l = (struct throttle_limit){.key = THROTTLE_KEY_CLIENT, .prefix4 = 32, .prefix6 = 128};
    assert_int_equal(throttle_subject(&l, &in, s, sizeof s), 0);
    assert_string_equal(s, "ip:198.51.100.12");

    /* Missing fields: no size, no nrcpt, no closing bracket: no event, and the queue id is still
     * counted once when its whole line comes. */
    static const char *const broken[] = {
        "from=<x@example.net>, nrcpt=1 (queue active)",
        "from=<x@example.net>, size=10 (queue active)",
        "from=<x@example.net, size=10, nrcpt=1 (queue active)",
        "from=<x@example.net>, size=, nrcpt=1 (queue active)",
        "from=<x@example.net>, size=-5, nrcpt=1 (queue active)",
        "from=<x@example.net>, size=10, nrcpt=1 trailing",
    };
    parse1(f->p, "Nov 28 06:00:00 mx1 postfix/smtpd[77]: H8: client=mail.example.net[198.51.100.13]");
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        char line[512];
        snprintf(line, sizeof line, "Nov 28 06:00:01 mx1 postfix/qmgr[812]: H8: %s", broken[i]);
        g = parse1(f->p, line);
        assert_int_equal(g.n, 0);
    }
    g = parse1(f->p, "Nov 28 06:00:02 mx1 postfix/qmgr[812]: H8: from=<x@example.net>, size=10, nrcpt=1 (queue active)");
    assert_int_equal(g.n, 1);
    assert_int_equal(g.v[0].kind, SG_EV_RECEIVED);
    /* A qmgr line for a queue id smtpd never logged gives nothing. */
    g = parse1(f->p, "Nov 28 06:00:02 mx1 postfix/qmgr[812]: ZZ9: from=<x@example.net>, size=10, nrcpt=1 (queue active)");
    assert_int_equal(g.n, 0);
}

/* tune measures sender, domain, bytes and port-25 flows, and limits of every key, measure and
 * service, from such events. */
static void test_tune_sender_limits(void **state)
{
    struct fixture *f = *state;
    struct config cfg = {0};
    cfg.prefix4 = 24;
    cfg.prefix6 = 64;
    struct throttle_config thr;
    throttle_config_init(&thr);
    static const char *const specs[][2] = {
        {"from_h", "key=sender window=1h max=1000"},
        {"dom_bytes", "key=sender_domain measure=bytes window=1d max=1000000000 service=submission"},
        {"p25_net", "key=client_address prefix=24/64 window=1h max=5000 service=smtp"},
        {"sub_only_net", "key=client_address prefix=24/64 window=1h max=5000 service=submission"},
    };
    for (size_t i = 0; i < 4; i++) {
        struct throttle_limit l;
        char err[256];
        assert_int_equal(throttle_limit_parse(specs[i][0], specs[i][1], &l, err, sizeof err), 0);
        assert_int_equal(throttle_config_add(&thr, &l, err, sizeof err), 0);
    }
    struct tune *t = tune_new(&cfg, &thr);
    int64_t now = 1795838400000LL;
    char qid[16];
    for (int i = 0; i < 5; i++) {   /* alice: 5 messages of 1000 bytes on submission */
        snprintf(qid, sizeof qid, "S%d", i);
        struct got g = message(f->p, "postfix/submission/smtpd", qid, "192.0.2.1", "alice",
                               "from=<alice@example.org>, size=1000, nrcpt=1 (queue active)");
        tune_event(t, &g.v[0], now += 1000);
    }
    for (int i = 0; i < 3; i++) {   /* 3 inbound messages from 198.51.100.1 and .2 (one /24) */
        snprintf(qid, sizeof qid, "P%d", i);
        struct got g = message(f->p, "postfix/smtpd", qid, i ? "198.51.100.2" : "198.51.100.1", NULL,
                               "from=<>, size=50, nrcpt=1 (queue active)");
        tune_event(t, &g.v[0], now += 1000);
    }
    struct tune_rule rule = {TUNE_RULE_Q_DEFAULT, TUNE_RULE_MARGIN_DEFAULT, TUNE_RULE_FLOOR_DEFAULT};
    tune_finish(t, &rule);
    assert_int_equal(tune_get(t, TUNE_USER_BYTES_HOUR)->legit.max, 5000);
    assert_int_equal(tune_get(t, TUNE_SENDER_MSG_HOUR)->legit.n, 1);   /* bounces have no sender */
    assert_int_equal(tune_get(t, TUNE_SENDER_MSG_HOUR)->legit.max, 5);
    assert_int_equal(tune_get(t, TUNE_SENDER_BYTES_DAY)->legit.max, 5000);
    assert_int_equal(tune_get(t, TUNE_DOMAIN_MSG_DAY)->legit.max, 5);
    assert_int_equal(tune_get(t, TUNE_PORT25_ADDR_HOUR)->legit.n, 2);
    assert_int_equal(tune_get(t, TUNE_PORT25_ADDR_HOUR)->legit.max, 2);
    assert_int_equal(tune_get(t, TUNE_PORT25_NET_HOUR)->legit.n, 1);
    assert_int_equal(tune_get(t, TUNE_PORT25_NET_HOUR)->legit.max, 3);
    const struct tune_measure *m = tune_get(t, TUNE_FLOW__COUNT);
    assert_int_equal(m->legit.max, 5);             /* from_h: alice's sender */
    assert_int_not_equal(m->prop.verdict, TUNE_NO_DATA);
    m = tune_get(t, TUNE_FLOW__COUNT + 1);
    assert_int_equal(m->legit.max, 5000);          /* dom_bytes: example.org's bytes */
    assert_int_equal(m->prop.threshold, 10001);
    assert_int_equal(m->proposed_limit.max, 10000);
    m = tune_get(t, TUNE_FLOW__COUNT + 2);
    assert_int_equal(m->legit.max, 3);             /* p25_net: the three inbound messages */
    m = tune_get(t, TUNE_FLOW__COUNT + 3);
    assert_int_equal(m->legit.max, 5);             /* sub_only_net: alice's /24 only, not port 25 */
    assert_int_equal(m->legit.n, 1);
    tune_destroy(&t);
    throttle_config_release(&thr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qmgr_sender_size_service),
        cmocka_unit_test(test_qmgr_hostile),
        cmocka_unit_test(test_tune_sender_limits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
