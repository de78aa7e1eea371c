/* test_agent_authpolicy.c: Dovecot's auth-policy requests: a table of bad requests each gets its
 * 4xx and its own counter and never reaches the decision; good ones reach it with their fields and
 * get the decision's status back as {"status": S, "msg": "..."}. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/authpolicy.h"

#define KEY "0123456789abcdef-secret"

struct fake {
    int status;              /* what allow answers */
    int allows, reports;
    struct authpolicy_request last;
};

static int fake_allow(const struct authpolicy_request *r, const char **msg, void *arg)
{
    struct fake *f = arg;
    f->allows++;
    f->last = *r;
    *msg = "fake";
    return f->status;
}

static void fake_report(const struct authpolicy_request *r, void *arg)
{
    struct fake *f = arg;
    f->reports++;
    f->last = *r;
}

static struct authpolicy *make(struct fake *f)
{
    memset(f, 0, sizeof *f);
    struct authpolicy_ops ops = {.allow = fake_allow, .report = fake_report, .arg = f};
    struct authpolicy *ap = authpolicy_new(KEY, &ops);
    assert_non_null(ap);
    return ap;
}

/* The status in an answer; fails the test when the answer is not {"status": int, "msg": str}. */
static int status_of(const char *out)
{
    json_error_t e;
    json_t *o = json_loads(out, 0, &e);
    assert_non_null(o);
    assert_true(json_is_integer(json_object_get(o, "status")));
    assert_true(json_is_string(json_object_get(o, "msg")));
    int s = (int)json_integer_value(json_object_get(o, "status"));
    json_decref(o);
    return s;
}

#define GOOD "{\"login\":\"alice@example.org\",\"pwhash\":\"ab12\",\"remote\":\"203.0.113.7\",\"device_id\":\"\"," \
             "\"protocol\":\"imap\",\"session_id\":\"s1\",\"fail_type\":\"\"}"

static void test_bad_requests(void **state)
{
    (void)state;
    static char big[AUTHPOLICY_MAX_BODY + 2];
    memset(big, ' ', sizeof big - 1);
    big[0] = '{';
    big[sizeof big - 2] = '}';
    char deep[3000];
    memset(deep, '[', sizeof deep - 1);
    deep[sizeof deep - 1] = '\0';
    const struct {
        const char *method, *command, *key, *body;
        size_t len;       /* 0: strlen(body) */
        bool oversize;
        int http;
        enum authpolicy_bad why;
    } cases[] = {
        {"GET", "allow", KEY, GOOD, 0, false, 405, AP_BAD_METHOD},
        {"PUT", "allow", KEY, GOOD, 0, false, 405, AP_BAD_METHOD},
        {"POST", "allow", NULL, GOOD, 0, false, 401, AP_BAD_KEY},
        {"POST", "allow", "wrong", GOOD, 0, false, 401, AP_BAD_KEY},
        {"POST", "allow", KEY "x", GOOD, 0, false, 401, AP_BAD_KEY},
        {"POST", "allow", "", GOOD, 0, false, 401, AP_BAD_KEY},
        {"POST", "allow", KEY, big, sizeof big - 1, false, 413, AP_BAD_SIZE},
        {"POST", "allow", KEY, "{}", 0, true, 413, AP_BAD_SIZE},
        {"POST", NULL, KEY, GOOD, 0, false, 400, AP_BAD_COMMAND},
        {"POST", "delete", KEY, GOOD, 0, false, 400, AP_BAD_COMMAND},
        {"POST", "Allow", KEY, GOOD, 0, false, 400, AP_BAD_COMMAND},
        {"POST", "allow", KEY, "", 0, false, 400, AP_BAD_JSON},
        {"POST", "allow", KEY, "{\"login\":", 0, false, 400, AP_BAD_JSON},
        {"POST", "allow", KEY, "[1,2]", 0, false, 400, AP_BAD_JSON},
        {"POST", "allow", KEY, "\"login\"", 0, false, 400, AP_BAD_JSON},
        {"POST", "allow", KEY, "{} {}", 0, false, 400, AP_BAD_JSON},
        {"POST", "allow", KEY, deep, 0, false, 400, AP_BAD_JSON},
        {"POST", "allow", KEY, "{\"login\":\"a\",\"login\":\"b\",\"remote\":\"\",\"protocol\":\"imap\"}", 0, false, 400, AP_BAD_JSON},
        {"POST", "allow", KEY, "{\"remote\":\"1.2.3.4\",\"protocol\":\"imap\"}", 0, false, 400, AP_BAD_FIELD},
        {"POST", "allow", KEY, "{\"login\":5,\"remote\":\"1.2.3.4\",\"protocol\":\"imap\"}", 0, false, 400, AP_BAD_FIELD},
        {"POST", "allow", KEY, "{\"login\":\"a\",\"remote\":null,\"protocol\":\"imap\"}", 0, false, 400, AP_BAD_FIELD},
        {"POST", "allow", KEY, "{\"login\":\"a\",\"remote\":\"\",\"protocol\":\"imap\",\"success\":\"yes\"}", 0, false, 400, AP_BAD_FIELD},
        /* jansson refuses an escaped NUL itself (no JSON_ALLOW_NUL) */
        {"POST", "allow", KEY, "{\"login\":\"a\\u0000b\",\"remote\":\"\",\"protocol\":\"imap\"}", 0, false, 400, AP_BAD_JSON},
        {"POST", "allow", KEY, "{\"login\":\"a\\nb\",\"remote\":\"\",\"protocol\":\"imap\"}", 0, false, 400, AP_BAD_FIELD},
        {"POST", "report", KEY, GOOD, 0, false, 400, AP_BAD_FIELD},   /* a report without success */
    };
    struct fake f;
    struct authpolicy *ap = make(&f);
    uint64_t want[AP_BAD__COUNT] = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[512];
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].body);
        int http = authpolicy_handle(ap, cases[i].method, cases[i].command, cases[i].key, cases[i].body, len,
                                     cases[i].oversize, out, sizeof out);
        if (http != cases[i].http) fail_msg("case %zu: HTTP %d, expected %d", i, http, cases[i].http);
        assert_int_equal(status_of(out), -1);
        want[cases[i].why]++;
        struct authpolicy_stats s;
        authpolicy_stats(ap, &s);
        for (int b = 0; b < AP_BAD__COUNT; b++)
            if (s.bad[b] != want[b]) fail_msg("case %zu: counter %s is %lu, expected %lu", i,
                                              authpolicy_bad_name((enum authpolicy_bad)b),
                                              (unsigned long)s.bad[b], (unsigned long)want[b]);
    }
    assert_int_equal(f.allows + f.reports, 0);   /* nothing bad reached a decision */
    authpolicy_destroy(&ap);
    assert_null(ap);
}

static void test_allow_and_report(void **state)
{
    (void)state;
    struct fake f;
    struct authpolicy *ap = make(&f);
    char out[512];
    const int statuses[] = {0, -1, 7, -5};
    const int expect[] = {0, -1, 7, -1};
    for (size_t i = 0; i < 4; i++) {
        f.status = statuses[i];
        assert_int_equal(authpolicy_handle(ap, "POST", "allow", KEY, GOOD, strlen(GOOD), false, out, sizeof out), 200);
        assert_int_equal(status_of(out), expect[i]);
    }
    assert_int_equal(f.allows, 4);
    assert_string_equal(f.last.login, "alice@example.org");
    assert_string_equal(f.last.remote, "203.0.113.7");
    assert_string_equal(f.last.protocol, "imap");
    assert_string_equal(f.last.pwhash, "ab12");
    assert_false(f.last.has_success);
    /* After the password check, with an extra attribute of any type (ignored). */
    const char *after = "{\"login\":\"bob\",\"remote\":\"2001:db8::1\",\"protocol\":\"pop3\",\"success\":true,"
                        "\"policy_reject\":false,\"tls\":true,\"extra\":{\"x\":[1,2]}}";
    f.status = 0;
    assert_int_equal(authpolicy_handle(ap, "POST", "allow", KEY, after, strlen(after), false, out, sizeof out), 200);
    assert_true(f.last.has_success && f.last.success && f.last.tls && !f.last.policy_reject);
    const char *rep = "{\"login\":\"bob\",\"remote\":\"198.51.100.2\",\"protocol\":\"smtp\",\"success\":false}";
    assert_int_equal(authpolicy_handle(ap, "POST", "report", KEY, rep, strlen(rep), false, out, sizeof out), 200);
    assert_int_equal(status_of(out), 0);
    assert_int_equal(f.reports, 1);
    assert_true(f.last.has_success && !f.last.success);
    assert_string_equal(f.last.remote, "198.51.100.2");
    struct authpolicy_stats s;
    authpolicy_stats(ap, &s);
    assert_int_equal(s.allow, 5);
    assert_int_equal(s.report, 1);
    assert_int_equal(s.rejected, 2);
    assert_int_equal(s.tarpitted, 1);
    authpolicy_destroy(&ap);
}

/* A report becomes the event a log line would give, with Dovecot's pwhash and session id; a pwhash
 * that is not a hash (too short, not hex, a password by mistake) is left out and counted. */
static void test_report_event(void **state)
{
    (void)state;
    struct fake f;
    struct authpolicy *ap = make(&f);
    char out[512];
    const char *rep = "{\"login\":\"Alice@example.org\",\"pwhash\":\"0a1b\",\"remote\":\"::ffff:203.0.113.7\","
                      "\"protocol\":\"managesieve\",\"session_id\":\"u0Bvr/xhepIKTQBl\",\"success\":false}";
    assert_int_equal(authpolicy_handle(ap, "POST", "report", KEY, rep, strlen(rep), false, out, sizeof out), 200);
    struct sg_event ev;
    authpolicy_report_event(&f.last, &ev);
    assert_int_equal(ev.kind, SG_EV_AUTH_FAIL);
    assert_string_equal(ev.ip, "203.0.113.7");
    assert_string_equal(ev.user, "Alice@example.org");
    assert_string_equal(ev.service, "sieve");
    assert_string_equal(ev.rule, "authpolicy");
    assert_string_equal(ev.pwhash, "0a1b");
    assert_string_equal(ev.session, "u0Bvr/xhepIKTQBl");
    assert_int_equal(ev.count, 1);
    assert_false(ev.dup || ev.reported);
    const char *bad[] = {"0a1", "0A1B", "zz12", "hunter2-password", "0a1b 0a1b",
                         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                         "0123456789abcdef0123456789abcdef0123456789abcdef0"};   /* 129 digits */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"login\":\"a\",\"pwhash\":\"%s\",\"remote\":\"192.0.2.1\",\"protocol\":\"imap\","
                 "\"session_id\":\"bad session<>\",\"success\":true}", bad[i]);
        assert_int_equal(authpolicy_handle(ap, "POST", "report", KEY, body, strlen(body), false, out, sizeof out), 200);
        assert_string_equal(f.last.pwhash, "");
        authpolicy_report_event(&f.last, &ev);
        assert_int_equal(ev.kind, SG_EV_AUTH_OK);
        assert_string_equal(ev.pwhash, "");
        assert_string_equal(ev.session, "");
    }
    /* sha512 untruncated: 128 digits, the first 40 kept */
    char body[512], h[129];
    for (int i = 0; i < 128; i++) h[i] = "0123456789abcdef"[i % 16];
    h[128] = '\0';
    snprintf(body, sizeof body, "{\"login\":\"a\",\"pwhash\":\"%s\",\"remote\":\"\",\"protocol\":\"pop3\",\"success\":false}", h);
    assert_int_equal(authpolicy_handle(ap, "POST", "report", KEY, body, strlen(body), false, out, sizeof out), 200);
    authpolicy_report_event(&f.last, &ev);
    assert_int_equal(strlen(ev.pwhash), SG_EV_PWHASH_MAX - 1);
    assert_int_equal(ev.family, 0);
    struct authpolicy_stats s;
    authpolicy_stats(ap, &s);
    assert_int_equal(s.report, 2 + sizeof bad / sizeof bad[0]);
    assert_int_equal(s.pwhash, 2);
    assert_int_equal(s.pwhash_ignored, sizeof bad / sizeof bad[0]);
    authpolicy_destroy(&ap);
}

/* Without a key configured, nothing is answered (not even with an empty header). */
static void test_no_key_refuses_all(void **state)
{
    (void)state;
    struct authpolicy_ops ops = {0};
    struct authpolicy *ap = authpolicy_new(NULL, &ops);
    char out[512];
    assert_int_equal(authpolicy_handle(ap, "POST", "allow", "", GOOD, strlen(GOOD), false, out, sizeof out), 401);
    assert_int_equal(authpolicy_handle(ap, "POST", "allow", NULL, GOOD, strlen(GOOD), false, out, sizeof out), 401);
    authpolicy_destroy(&ap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_allow_and_report),
        cmocka_unit_test(test_no_key_refuses_all),
        cmocka_unit_test(test_report_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
