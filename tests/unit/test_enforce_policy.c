/* test_enforce_policy.c: the policy service's pure parts: framing with limits, parsing, the exact
 * action lines, action classes and which request counts for quotas. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enforce/policy.h"

static const char full_req[] =
    "request=smtpd_access_policy\n"
    "protocol_state=END-OF-MESSAGE\n"
    "protocol_name=ESMTP\n"
    "helo_name=client.example\n"
    "queue_id=8045F2AB23\n"
    "sender=alice@example.org\n"
    "recipient=\n"
    "recipient_count=7\n"
    "client_address=192.0.2.10\n"
    "client_name=unknown\n"
    "reverse_client_name=host.example\n"
    "instance=123.456.7\n"
    "sasl_method=plain\n"
    "sasl_username=alice\n"
    "sasl_sender=\n"
    "size=12345\n"
    "ccert_subject=\n"
    "stress=\n"
    "policy_context=submission\n"
    "server_address=10.3.2.1\n"
    "\n";

/* Frames then parses one request held in a private writable copy. */
static int frame_and_parse(const char *text, size_t len, struct policy_request *req,
                           enum policy_err *err, char **copy)
{
    *copy = malloc(len + 1);
    memcpy(*copy, text, len);
    struct policy_frame f = {0};
    size_t end = 0;
    int r = policy_frame_scan(&f, *copy, len, 2048, 16384, 64, &end, err);
    if (r != 1)
        return r == 0 ? -2 : -1;
    return policy_request_parse(*copy, end, 64, req, err);
}

static void test_parse_full_request(void **state)
{
    (void)state;
    struct policy_request req;
    enum policy_err err;
    char *copy;
    assert_int_equal(frame_and_parse(full_req, strlen(full_req), &req, &err, &copy), 0);
    assert_string_equal(req.request, "smtpd_access_policy");
    assert_string_equal(req.protocol_state, "END-OF-MESSAGE");
    assert_string_equal(req.protocol_name, "ESMTP");
    assert_string_equal(req.client_address, "192.0.2.10");
    assert_string_equal(req.client_name, "unknown");
    assert_string_equal(req.reverse_client_name, "host.example");
    assert_string_equal(req.helo_name, "client.example");
    assert_string_equal(req.sasl_method, "plain");
    assert_string_equal(req.sasl_username, "alice");
    assert_string_equal(req.sender, "alice@example.org");
    assert_string_equal(req.recipient, "");
    assert_string_equal(req.queue_id, "8045F2AB23");
    assert_string_equal(req.instance, "123.456.7");
    assert_string_equal(req.policy_context, "submission");
    assert_string_equal(req.server_address, "10.3.2.1");
    assert_int_equal(req.recipient_count, 7);
    assert_int_equal(req.size, 12345);
    assert_int_equal(req.nattrs, 20);
    assert_string_equal(policy_request_get(&req, "ccert_subject"), "");
    assert_null(policy_request_get(&req, "etrn_domain"));
    free(copy);
}

static void test_parse_absent_and_repeated(void **state)
{
    (void)state;
    const char *t = "request=smtpd_access_policy\nsasl_username=a\nsasl_username=b\nx-custom=1\n\n";
    struct policy_request req;
    enum policy_err err;
    char *copy;
    assert_int_equal(frame_and_parse(t, strlen(t), &req, &err, &copy), 0);
    assert_string_equal(req.sasl_username, "b");              /* last wins */
    assert_string_equal(req.client_address, "");              /* absent reads as "" */
    assert_int_equal(req.recipient_count, 0);
    assert_string_equal(policy_request_get(&req, "x-custom"), "1");
    free(copy);
}

static void test_parse_crlf(void **state)
{
    (void)state;
    const char *t = "request=smtpd_access_policy\r\nclient_address=::1\r\n\r\n";
    struct policy_request req;
    enum policy_err err;
    char *copy;
    assert_int_equal(frame_and_parse(t, strlen(t), &req, &err, &copy), 0);
    assert_string_equal(req.client_address, "::1");
    free(copy);
}

static void expect_parse_error(const char *t, size_t len, enum policy_err want)
{
    struct policy_request req;
    enum policy_err err = POLICY_ERR_NONE;
    char *copy;
    assert_int_equal(frame_and_parse(t, len, &req, &err, &copy), -1);
    assert_int_equal(err, want);
    free(copy);
}

static void test_parse_malformed(void **state)
{
    (void)state;
    const char *no_eq = "request=smtpd_access_policy\nthis line has no equals\n\n";
    expect_parse_error(no_eq, strlen(no_eq), POLICY_ERR_MALFORMED);
    const char *empty_name = "request=smtpd_access_policy\n=value\n\n";
    expect_parse_error(empty_name, strlen(empty_name), POLICY_ERR_MALFORMED);
    const char *no_request = "client_address=1.2.3.4\n\n";
    expect_parse_error(no_request, strlen(no_request), POLICY_ERR_MALFORMED);
    const char *empty_request = "request=\nclient_address=1.2.3.4\n\n";
    expect_parse_error(empty_request, strlen(empty_request), POLICY_ERR_MALFORMED);
    const char *bad_count = "request=smtpd_access_policy\nrecipient_count=12x\n\n";
    expect_parse_error(bad_count, strlen(bad_count), POLICY_ERR_MALFORMED);
    const char *neg_count = "request=smtpd_access_policy\nrecipient_count=-1\n\n";
    expect_parse_error(neg_count, strlen(neg_count), POLICY_ERR_MALFORMED);
    const char *big_count = "request=smtpd_access_policy\nrecipient_count=4294967296\n\n";
    expect_parse_error(big_count, strlen(big_count), POLICY_ERR_MALFORMED);
    const char *big_size = "request=smtpd_access_policy\nsize=18446744073709551616\n\n";
    expect_parse_error(big_size, strlen(big_size), POLICY_ERR_MALFORMED);
    const char nul[] = "request=smtpd_access_policy\nsender=a\0b\n\n";
    expect_parse_error(nul, sizeof nul - 1, POLICY_ERR_MALFORMED);
    /* A lone empty line is no request. */
    expect_parse_error("\n", 1, POLICY_ERR_MALFORMED);
}

static void test_parse_number_edges(void **state)
{
    (void)state;
    const char *t = "request=smtpd_access_policy\nrecipient_count=4294967295\nsize=18446744073709551615\n\n";
    struct policy_request req;
    enum policy_err err;
    char *copy;
    assert_int_equal(frame_and_parse(t, strlen(t), &req, &err, &copy), 0);
    assert_int_equal(req.recipient_count, 4294967295u);
    assert_true(req.size == UINT64_MAX);
    free(copy);
}

static void test_parse_unterminated(void **state)
{
    (void)state;
    /* parse() on data that frame_scan would not pass: must fail, never read past len. */
    char buf[] = "request=smtpd_access_policy\nsender=x";
    struct policy_request req;
    enum policy_err err;
    assert_int_equal(policy_request_parse(buf, strlen(buf), 64, &req, &err), -1);
    assert_int_equal(err, POLICY_ERR_MALFORMED);
}

static void test_frame_incremental(void **state)
{
    (void)state;
    /* Two pipelined requests arriving one byte at a time: ends found at the same places. */
    char two[sizeof full_req * 2];
    size_t n1 = strlen(full_req);
    memcpy(two, full_req, n1);
    memcpy(two + n1, full_req, n1);
    struct policy_frame f = {0};
    size_t end = 0, start = 0, found = 0;
    enum policy_err err;
    for (size_t len = 1; len <= 2 * n1; len++) {
        int r = policy_frame_scan(&f, two + start, len - start, 2048, 16384, 64, &end, &err);
        assert_true(r >= 0);
        if (r == 1) {
            assert_int_equal(end, n1);
            start += end;
            memset(&f, 0, sizeof f);
            found++;
        }
    }
    assert_int_equal(found, 2);
    assert_int_equal(start, 2 * n1);
}

static void test_frame_limits(void **state)
{
    (void)state;
    enum policy_err err;
    size_t end;
    char line[64];
    /* Exactly max_line bytes is fine, one more is refused even before the newline arrives. */
    memset(line, 'a', sizeof line);
    memcpy(line, "request=", 8);
    struct policy_frame f = {0};
    assert_int_equal(policy_frame_scan(&f, line, 32, 32, 1024, 8, &end, &err), 0);
    memset(&f, 0, sizeof f);
    assert_int_equal(policy_frame_scan(&f, line, 33, 32, 1024, 8, &end, &err), -1);
    assert_int_equal(err, POLICY_ERR_LINE_TOO_LONG);

    /* Too many attributes. */
    const char *many = "a=1\nb=2\nc=3\nd=4\n\n";
    memset(&f, 0, sizeof f);
    assert_int_equal(policy_frame_scan(&f, many, strlen(many), 32, 1024, 4, &end, &err), 1);
    memset(&f, 0, sizeof f);
    assert_int_equal(policy_frame_scan(&f, many, strlen(many), 32, 1024, 3, &end, &err), -1);
    assert_int_equal(err, POLICY_ERR_TOO_MANY_ATTRS);

    /* Request size: the terminator counts; partial data past the cap is refused at once. */
    size_t n = strlen(many);
    memset(&f, 0, sizeof f);
    assert_int_equal(policy_frame_scan(&f, many, n, 32, n, 8, &end, &err), 1);
    memset(&f, 0, sizeof f);
    assert_int_equal(policy_frame_scan(&f, many, n, 32, n - 1, 8, &end, &err), -1);
    assert_int_equal(err, POLICY_ERR_TOO_BIG);
    memset(&f, 0, sizeof f);
    assert_int_equal(policy_frame_scan(&f, many, n - 2, 32, n - 4, 8, &end, &err), -1);
    assert_int_equal(err, POLICY_ERR_TOO_BIG);

    /* A stray empty line first. */
    memset(&f, 0, sizeof f);
    assert_int_equal(policy_frame_scan(&f, "\nrequest=x\n\n", 12, 32, 1024, 8, &end, &err), -1);
    assert_int_equal(err, POLICY_ERR_MALFORMED);
    assert_string_equal(policy_err_str(POLICY_ERR_TOO_BIG), "request too big");
}

static void test_action_format(void **state)
{
    (void)state;
    char out[POLICY_ACTION_MAX];
    struct policy_action_cfg cfg = {.hold_action = POLICY_HOLD_REJECT, .hold_text = "Account on hold",
                                    .throttle_text = "Slow down"};
    struct policy_verdict pass = {0};
    assert_int_equal(policy_action_format(out, sizeof out, &pass, &cfg), 0);
    assert_string_equal(out, "DUNNO");
    assert_int_equal(policy_action_format(out, sizeof out, NULL, NULL), 0);
    assert_string_equal(out, "DUNNO");

    struct policy_verdict thr = {.throttled = true, .reason = "user alice: 101 messages in 1h, limit 100"};
    assert_int_equal(policy_action_format(out, sizeof out, &thr, &cfg), 0);
    assert_string_equal(out, "DEFER_IF_PERMIT 4.7.1 Slow down (user alice: 101 messages in 1h, limit 100)");

    struct policy_verdict held = {.held = true, .throttled = true};
    assert_int_equal(policy_action_format(out, sizeof out, &held, &cfg), 0);
    assert_string_equal(out, "REJECT 5.7.1 Account on hold");
    cfg.hold_action = POLICY_HOLD_HOLD;
    assert_int_equal(policy_action_format(out, sizeof out, &held, &cfg), 0);
    assert_string_equal(out, "HOLD Account on hold");

    /* Defaults when the config gives no text. */
    assert_int_equal(policy_action_format(out, sizeof out, &held, NULL), 0);
    assert_string_equal(out, "REJECT 5.7.1 Sending from this account is suspended; contact your provider");
    struct policy_verdict thr2 = {.throttled = true};
    assert_int_equal(policy_action_format(out, sizeof out, &thr2, NULL), 0);
    assert_string_equal(out, "DEFER_IF_PERMIT 4.7.1 Sending rate limit exceeded, try again later");

    /* A line break in any text would split the reply: it becomes a space. */
    struct policy_action_cfg evil = {.throttle_text = "a\nb\r\nc"};
    struct policy_verdict thr3 = {.throttled = true, .reason = "x\n\ny"};
    assert_int_equal(policy_action_format(out, sizeof out, &thr3, &evil), 0);
    assert_string_equal(out, "DEFER_IF_PERMIT 4.7.1 a b  c (x  y)");
}

static void test_action_format_truncates(void **state)
{
    (void)state;
    char out[64];
    char longtext[300];
    memset(longtext, 'z', sizeof longtext - 1);
    longtext[sizeof longtext - 1] = '\0';
    struct policy_verdict thr = {.throttled = true, .reason = longtext};
    assert_int_equal(policy_action_format(out, sizeof out, &thr, NULL), 0);
    assert_int_equal(strlen(out), sizeof out - 1);
    assert_int_equal(out[sizeof out - 2], ')');
    assert_memory_equal(out, "DEFER_IF_PERMIT 4.7.1 ", 22);
    char small[63];
    strcpy(small, "untouched");
    assert_int_equal(policy_action_format(small, sizeof small, &thr, NULL), -1);
    assert_string_equal(small, "untouched");
}

static void test_action_classify(void **state)
{
    (void)state;
    assert_int_equal(policy_action_classify("DUNNO"), POLICY_CLASS_DUNNO);
    assert_int_equal(policy_action_classify("ok"), POLICY_CLASS_DUNNO);
    assert_int_equal(policy_action_classify("DEFER_IF_PERMIT 4.7.1 x"), POLICY_CLASS_DEFER);
    assert_int_equal(policy_action_classify("defer try later"), POLICY_CLASS_DEFER);
    assert_int_equal(policy_action_classify("450 4.7.1 no"), POLICY_CLASS_DEFER);
    assert_int_equal(policy_action_classify("REJECT 5.7.1 no"), POLICY_CLASS_REJECT);
    assert_int_equal(policy_action_classify("554 5.7.1 no"), POLICY_CLASS_REJECT);
    assert_int_equal(policy_action_classify("HOLD held"), POLICY_CLASS_HOLD);
    assert_int_equal(policy_action_classify("PREPEND X-A: b"), POLICY_CLASS_OTHER);
    assert_int_equal(policy_action_classify("REJECTED"), POLICY_CLASS_OTHER);
    assert_int_equal(policy_action_classify(""), POLICY_CLASS_OTHER);
    assert_int_equal(policy_action_classify(NULL), POLICY_CLASS_OTHER);
}

static void test_counts_once_per_message(void **state)
{
    (void)state;
    struct policy_request req;
    memset(&req, 0, sizeof req);
    req.request = "smtpd_access_policy";
    req.protocol_state = "RCPT";
    uint32_t n = 99;
    assert_false(policy_request_counts(&req, POLICY_COUNT_END_OF_MESSAGE, &n));
    assert_int_equal(n, 99);
    req.protocol_state = "END-OF-MESSAGE";
    req.recipient_count = 5;
    assert_true(policy_request_counts(&req, POLICY_COUNT_END_OF_MESSAGE, &n));
    assert_int_equal(n, 5);
    assert_false(policy_request_counts(&req, POLICY_COUNT_DATA, &n));
    req.protocol_state = "DATA";
    req.recipient_count = 0;           /* Postfix < 2.3: still one message */
    assert_true(policy_request_counts(&req, POLICY_COUNT_DATA, &n));
    assert_int_equal(n, 1);
    req.request = "junk";
    assert_false(policy_request_counts(&req, POLICY_COUNT_DATA, &n));
    assert_false(policy_request_counts(NULL, POLICY_COUNT_DATA, &n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_full_request),
        cmocka_unit_test(test_parse_absent_and_repeated),
        cmocka_unit_test(test_parse_crlf),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test(test_parse_number_edges),
        cmocka_unit_test(test_parse_unterminated),
        cmocka_unit_test(test_frame_incremental),
        cmocka_unit_test(test_frame_limits),
        cmocka_unit_test(test_action_format),
        cmocka_unit_test(test_action_format_truncates),
        cmocka_unit_test(test_action_classify),
        cmocka_unit_test(test_counts_once_per_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
