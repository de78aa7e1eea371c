/* test_common_key.c: the one module of state key formats (common/key.c) and of clean text
 * (common/text.c): every form parses back to what was formatted, every malformed or mistyped key
 * is refused, address spans are counted as the budgets need, and unclean text is refused and escaped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "common/key.h"
#include "common/text.h"

static void roundtrip_key(const char *text, enum sg_record_kind kind, enum sg_subject_type type, const char *value)
{
    struct sg_key k;
    char buf[SG_KEY_MAX + 1];
    assert_int_equal(sg_key_parse(text, &k), 0);
    assert_int_equal(k.kind, kind);
    assert_int_equal(k.subj.type, type);
    assert_string_equal(k.subj.value, value);
    assert_int_equal(sg_key_format(k.kind, &k.subj, buf, sizeof buf), 0);
    assert_string_equal(buf, text);
}

static void test_record_keys_roundtrip(void **state)
{
    (void)state;
    roundtrip_key("ip:203.0.113.7", SG_REC_BLOCK, SG_SUBJ_IP, "203.0.113.7");
    roundtrip_key("ip:2001:db8::1", SG_REC_BLOCK, SG_SUBJ_IP, "2001:db8::1");
    roundtrip_key("net:203.0.113.0/24", SG_REC_BLOCK, SG_SUBJ_NET, "203.0.113.0/24");
    roundtrip_key("net:2001:db8::/48", SG_REC_BLOCK, SG_SUBJ_NET, "2001:db8::/48");
    roundtrip_key("user:alice@example.jp", SG_REC_HOLD, SG_SUBJ_USER, "alice@example.jp");
    roundtrip_key("throttle:ip:198.51.100.1", SG_REC_THROTTLE, SG_SUBJ_IP, "198.51.100.1");
    roundtrip_key("throttle:user:bob", SG_REC_THROTTLE, SG_SUBJ_USER, "bob");
    roundtrip_key("offense:net:192.0.2.0/24", SG_REC_OFFENSE, SG_SUBJ_NET, "192.0.2.0/24");
    roundtrip_key("offense:user:\xe5\xb1\xb1\xe7\x94\xb0", SG_REC_OFFENSE, SG_SUBJ_USER, "\xe5\xb1\xb1\xe7\x94\xb0");
    roundtrip_key("allow:ip:203.0.113.7", SG_REC_ALLOW, SG_SUBJ_IP, "203.0.113.7");
    roundtrip_key("allow:net:2001:db8::/48", SG_REC_ALLOW, SG_SUBJ_NET, "2001:db8::/48");
    roundtrip_key("throttle:from:bob@example.org", SG_REC_THROTTLE, SG_SUBJ_SENDER, "bob@example.org");
    roundtrip_key("throttle:dom:example.org", SG_REC_THROTTLE, SG_SUBJ_DOMAIN, "example.org");
    struct sg_key k;
    assert_int_equal(sg_key_parse("net:203.0.113.0/24", &k), 0);
    assert_int_equal(k.subj.family, AF_INET);
    assert_int_equal(k.subj.len, 24);
    assert_int_equal(sg_key_parse("ip:2001:db8::1", &k), 0);
    assert_int_equal(k.subj.family, AF_INET6);
    assert_int_equal(k.subj.len, 128);
}

static void test_bad_keys_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "ip:", "ip:203.0.113", "ip:203.0.113.7/24", "ip:example.org", "net:203.0.113.1/24",
        "net:203.0.113.0/33", "net:2001:db8::/129", "net:203.0.113.0/x", "net:203.0.113.0/-1", "user:",
        "user:a\nb", "user:a\x1b[2Jb", "user:\xff", "user:\xc2\x9b", "throttle:", "throttle:bogus",
        "offense:offense:ip:1.2.3.4", "bogus:1.2.3.4", "IP:1.2.3.4", "auth-ip|ip:1.2.3.4",
        "allow:", "allow:user:alice", "allow:allow:ip:1.2.3.4", "allow:1.2.3.4", "allow:net:203.0.113.1/24",
    };
    struct sg_key k;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (sg_key_parse(bad[i], &k) == 0) fail_msg("accepted bad key '%s'", bad[i]);
    /* Too long: 256 bytes of key. */
    char longkey[300];
    memset(longkey, 'a', sizeof longkey);
    memcpy(longkey, "user:", 5);
    longkey[SG_KEY_MAX + 1] = '\0';
    assert_int_equal(sg_key_parse(longkey, &k), -1);
}

static void test_kinds_take_their_subjects(void **state)
{
    (void)state;
    struct sg_subject ip, net, user;
    char buf[SG_KEY_MAX + 1];
    assert_int_equal(sg_subject_set(&ip, SG_SUBJ_IP, "192.0.2.1"), 0);
    assert_int_equal(sg_subject_set(&net, SG_SUBJ_NET, "192.0.2.0/24"), 0);
    assert_int_equal(sg_subject_set(&user, SG_SUBJ_USER, "carol"), 0);
    assert_int_equal(sg_key_format(SG_REC_BLOCK, &user, buf, sizeof buf), -1);
    assert_int_equal(sg_key_format(SG_REC_HOLD, &ip, buf, sizeof buf), -1);
    assert_int_equal(sg_key_format(SG_REC_HOLD, &net, buf, sizeof buf), -1);
    assert_int_equal(sg_key_format(SG_REC_BLOCK, &net, buf, sizeof buf), 0);
    assert_string_equal(buf, "net:192.0.2.0/24");
    assert_int_equal(sg_key_format(SG_REC_THROTTLE, &user, buf, sizeof buf), 0);
    assert_string_equal(buf, "throttle:user:carol");
    /* An allow exempts addresses and prefixes; an account is exempted by [policy] user_allowlist. */
    assert_int_equal(sg_key_format(SG_REC_ALLOW, &user, buf, sizeof buf), -1);
    assert_int_equal(sg_key_format(SG_REC_ALLOW, &net, buf, sizeof buf), 0);
    assert_string_equal(buf, "allow:net:192.0.2.0/24");
    /* A buffer too small is an error, not a truncated key. */
    char tiny[8];
    assert_int_equal(sg_key_format(SG_REC_OFFENSE, &ip, tiny, sizeof tiny), -1);
    /* A prefix with host bits set is not a prefix; without a length it is a whole address. */
    assert_int_equal(sg_subject_set(&net, SG_SUBJ_NET, "192.0.2.1/24"), -1);
    assert_int_equal(sg_subject_set(&net, SG_SUBJ_NET, "192.0.2.1"), 0);
    assert_int_equal(net.len, 32);
}

static void test_evidence_keys(void **state)
{
    (void)state;
    struct sg_subject s, back;
    char buf[SG_KEY_MAX + 1];
    size_t scope;
    assert_int_equal(sg_subject_set(&s, SG_SUBJ_IP, "203.0.113.7"), 0);
    assert_int_equal(sg_evidence_format("auth-ip", &s, buf, sizeof buf), 0);
    assert_string_equal(buf, "auth-ip|ip:203.0.113.7");
    assert_int_equal(sg_evidence_parse(buf, &scope, &back), 0);
    assert_int_equal(scope, 7);
    assert_string_equal(back.value, "203.0.113.7");
    /* A user may hold '|': only the first one splits. */
    assert_int_equal(sg_subject_set(&s, SG_SUBJ_USER, "a|b"), 0);
    assert_int_equal(sg_evidence_format("quota-msg", &s, buf, sizeof buf), 0);
    assert_int_equal(sg_evidence_parse(buf, &scope, &back), 0);
    assert_string_equal(back.value, "a|b");
    assert_int_equal(sg_evidence_format("", &s, buf, sizeof buf), -1);
    assert_int_equal(sg_evidence_format("a:b", &s, buf, sizeof buf), -1);
    assert_int_equal(sg_evidence_format("a|b", &s, buf, sizeof buf), -1);
    assert_true(sg_scope_ok(SG_SCOPE_OKUSERS, false));
    assert_false(sg_scope_ok(SG_SCOPE_OKUSERS, true));
    assert_false(sg_scope_ok(SG_SCOPE_QUOTA_RCPT, true));
    assert_true(sg_scope_ok("auth-ip", true));
    assert_true(sg_scope_ok("thr-msg-sub", false));
    assert_false(sg_scope_ok("thr-msg-sub", true));   /* a scenario may not count into a limit */
    struct sg_subject x;
    assert_int_equal(sg_subject_set(&x, SG_SUBJ_SENDER, "no-at-sign"), -1);
    assert_int_equal(sg_subject_set(&x, SG_SUBJ_DOMAIN, "a@b"), -1);
    assert_int_equal(sg_subject_parse("from:a@b", &x), 0);
    assert_int_equal(sg_subject_span(&x), 0);
    assert_int_equal(sg_key_parse("from:a@b", &(struct sg_key){0}), -1);   /* no block or hold form */
    assert_false(sg_scope_ok("auth\nip", true));
    assert_false(sg_scope_ok("auth\x7fip", false));
    assert_true(sg_scope_ok("auth-\xc3\xa9", false));                  /* clean UTF-8 */
    assert_false(sg_scope_ok("auth-\xc3", false));                      /* cut UTF-8 */
    assert_false(sg_scope_ok("auth-\xc2\x85", false));                 /* a C1 control */
    assert_true(sg_scope_ok("123456789012345678901234567890123456789012345678901234567890123", false));
    assert_false(sg_scope_ok("1234567890123456789012345678901234567890123456789012345678901234", false));
    assert_false(sg_scope_ok(NULL, false));
    char k[64];
    assert_int_equal(sg_evidence_format_text("s", "user:x", k, sizeof k), 0);
    assert_string_equal(k, "s|user:x");
    assert_int_equal(sg_evidence_format_text("s", "user:", k, sizeof k), -1);   /* prefix, no value */
    assert_int_equal(sg_evidence_format_text("s", "use", k, sizeof k), -1);
    assert_int_equal(sg_evidence_format_text("s", "users:x", k, sizeof k), -1);
    assert_int_equal(sg_evidence_format_text("s:t", "user:x", k, sizeof k), -1);
    assert_int_equal(sg_evidence_parse("garbage", &scope, &back), -1);
    assert_int_equal(sg_evidence_parse("|ip:1.2.3.4", &scope, &back), -1);
    assert_int_equal(sg_evidence_parse("x|ip:nope", &scope, &back), -1);
}

static void test_spans(void **state)
{
    (void)state;
    struct sg_subject s;
    assert_int_equal(sg_subject_set(&s, SG_SUBJ_IP, "192.0.2.1"), 0);
    assert_int_equal(sg_subject_span(&s), 1);
    assert_int_equal(sg_subject_set(&s, SG_SUBJ_NET, "192.0.2.0/24"), 0);
    assert_int_equal(sg_subject_span(&s), 256);
    assert_int_equal(sg_subject_set(&s, SG_SUBJ_NET, "10.0.0.0/8"), 0);
    assert_int_equal(sg_subject_span(&s), 1u << 24);
    assert_int_equal(sg_subject_set(&s, SG_SUBJ_NET, "2001:db8::/48"), 0);
    assert_int_equal(sg_subject_span(&s), 65536);
    assert_int_equal(sg_subject_set(&s, SG_SUBJ_NET, "2001:db8::/64"), 0);
    assert_int_equal(sg_subject_span(&s), 1);
    assert_int_equal(sg_subject_set(&s, SG_SUBJ_IP, "2001:db8::1"), 0);
    assert_int_equal(sg_subject_span(&s), 1);
    assert_int_equal(sg_subject_set(&s, SG_SUBJ_NET, "::/0"), 0);
    assert_true(sg_subject_span(&s) == UINT64_MAX);
    assert_int_equal(sg_subject_set(&s, SG_SUBJ_USER, "dave"), 0);
    assert_int_equal(sg_subject_span(&s), 0);
}

static void test_text_clean_and_escape(void **state)
{
    (void)state;
    static const char *const clean[] = {"", "plain ascii", "caf\xc3\xa9", "\xe5\xb1\xb1", "\xf0\x9f\x93\xa7", "\xc2\xa0"};
    static const char *const unclean[] = {"a\nb", "\x1b[31m", "bell\x07", "del\x7f", "\xc2\x9b", "\xc2\x80",
                                          "\xff", "\xc3\x28", "\xe0\x80\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                                          "\xc0\xaf", "cut \xe5\xb1"};
    for (size_t i = 0; i < sizeof clean / sizeof clean[0]; i++)
        if (!sg_text_clean(clean[i], strlen(clean[i]))) fail_msg("refused clean text %zu", i);
    for (size_t i = 0; i < sizeof unclean / sizeof unclean[0]; i++)
        if (sg_text_clean(unclean[i], strlen(unclean[i]))) fail_msg("accepted unclean text %zu", i);
    char out[64];
    assert_string_equal(sg_text_escape("a\nb\x1b[2J", out, sizeof out), "a\\x0ab\\x1b[2J");
    assert_string_equal(sg_text_escape("back\\slash", out, sizeof out), "back\\\\slash");
    assert_string_equal(sg_text_escape("caf\xc3\xa9 \xff", out, sizeof out), "caf\xc3\xa9 \\xff");
    assert_string_equal(sg_text_escape("\xc2\x9b", out, sizeof out), "\\xc2\\x9b");
    /* Cut at a whole character or escape, never in the middle of one. */
    assert_string_equal(sg_text_escape("abc\x01", out, 6), "abc");
    assert_string_equal(sg_text_escape("\xe5\xb1\xb1\xe5\xb1\xb1", out, 5), "\xe5\xb1\xb1");
    for (size_t i = 0; i < sizeof unclean / sizeof unclean[0]; i++) {
        sg_text_escape(unclean[i], out, sizeof out);
        if (!sg_text_clean(out, strlen(out))) fail_msg("escaped text %zu is not clean", i);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_keys_roundtrip),
        cmocka_unit_test(test_bad_keys_refused),
        cmocka_unit_test(test_kinds_take_their_subjects),
        cmocka_unit_test(test_evidence_keys),
        cmocka_unit_test(test_spans),
        cmocka_unit_test(test_text_clean_and_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
