/* test_enforce_throttle.c: sending limits: spec parsing and its errors, window and token-bucket
 * maths, tiers, reply texts, the override map and its reload, resets, and slot sums that converge
 * whatever order the slots arrive in. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "enforce/throttle.h"

#define MIN 60000LL
#define HOUR (60 * MIN)
#define T0 (1700000000000LL - 1700000000000LL % HOUR)   /* an hour boundary */

static struct throttle_limit parse_ok(const char *name, const char *spec)
{
    struct throttle_limit l;
    char err[256];
    int r = throttle_limit_parse(name, spec, &l, err, sizeof err);
    if (r != 0) fail_msg("%s: %s", spec, err);
    return l;
}

static void test_parse_window(void **state)
{
    (void)state;
    struct throttle_limit l = parse_ok("user_hour", "key=sasl_username measure=recipients window=1h max=500 "
                                                    "service=submission warn=80% defer=100% hold=300%");
    assert_false(l.bucket);
    assert_int_equal(l.key, THROTTLE_KEY_USER);
    assert_int_equal(l.measure, THROTTLE_RECIPIENTS);
    assert_int_equal(l.service, THROTTLE_SVC_SUBMISSION);
    assert_int_equal(l.window_ms, HOUR);
    assert_int_equal(l.max, 500);
    assert_int_equal(l.pct[THROTTLE_WARN], 80);
    assert_int_equal(l.pct[THROTTLE_DEFER], 100);
    assert_int_equal(l.pct[THROTTLE_HOLD], 300);
    assert_int_equal(l.pct[THROTTLE_REJECT], 0);
    assert_int_equal(throttle_limit_horizon_ms(&l), HOUR);
}

static void test_parse_bucket_and_defaults(void **state)
{
    (void)state;
    struct throttle_limit l = parse_ok("user_min", "key=sasl_username measure=messages rate=30/1m burst=60 "
                                                   "service=any defer=100%");
    assert_true(l.bucket);
    assert_int_equal(l.rate, 30);
    assert_int_equal(l.per_ms, MIN);
    assert_int_equal(l.max, 60);
    /* defaults: messages, any, defer at 100%, burst = the rate's count */
    l = parse_ok("ip", "key=client_address rate=10/m prefix=24/64");
    assert_int_equal(l.measure, THROTTLE_MESSAGES);
    assert_int_equal(l.service, THROTTLE_SVC_ANY);
    assert_int_equal(l.pct[THROTTLE_DEFER], 100);
    assert_int_equal(l.max, 10);
    assert_int_equal(l.prefix4, 24);
    assert_int_equal(l.prefix6, 64);
}

static void test_format_roundtrip(void **state)
{
    (void)state;
    const char *specs[] = {
        "key=sasl_username measure=recipients window=1h max=500 service=submission warn=80% defer=100% hold=300%",
        "key=sasl_username measure=messages rate=30/1m burst=60 service=any defer=100%",
        "key=client_address measure=bytes window=1d max=100000000 service=smtp prefix=24/64 reject=100%",
        "key=sender_domain measure=messages window=90s max=7 service=any warn=50% defer=100% text=\"%{count} of %{max}, wait\"",
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        struct throttle_limit a = parse_ok("x", specs[i]), b;
        char buf[THROTTLE_SPEC_MAX], err[256];
        assert_int_equal(throttle_limit_format(&a, buf, sizeof buf), 0);
        assert_string_equal(buf, specs[i]);   /* the specs above are canonical */
        assert_int_equal(throttle_limit_parse("x", buf, &b, err, sizeof err), 0);
        assert_memory_equal(&a, &b, sizeof a);
    }
}

static void test_parse_errors(void **state)
{
    (void)state;
    static const struct {
        const char *spec, *msg;
    } bad[] = {
        {"measure=messages window=1h max=5", "key= is missing"},
        {"key=nobody window=1h max=5", "key: expected"},
        {"key=sender window=1h", "window= needs max"},
        {"key=sender window=1h max=5 rate=1/m", "either window"},
        {"key=sender", "either window"},
        {"key=sender rate=1/m max=5", "max= belongs to a window"},
        {"key=sender window=1h max=5 burst=3", "burst= belongs to a bucket"},
        {"key=sender window=1h max=0", "positive count"},
        {"key=sender window=8d max=5", "window: expected a duration"},
        {"key=sender window=1h max=5 defer=100", "percentage"},
        {"key=sender window=1h max=5 defer=200% hold=100%", "tiers must rise"},
        {"key=sender window=1h max=5 prefix=24", "prefix= needs key=client_address"},
        {"key=sender window=1h max=5 colour=red", "unknown setting 'colour'"},
        {"key=sender window=1h max=5 max=6", "given twice"},
        {"key=sender window=1h max=5 text=\"open", "NAME=VALUE"},
        {"key=sender rate=1/1d burst=100 reject=1000%", "longer than 7d"},
        {"key=sender rate=x/1m", "rate: expected"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct throttle_limit l;
        char err[256] = "";
        assert_int_equal(throttle_limit_parse("n", bad[i].spec, &l, err, sizeof err), -1);
        if (!strstr(err, bad[i].msg)) fail_msg("'%s': got '%s', want '%s'", bad[i].spec, err, bad[i].msg);
    }
    struct throttle_limit l;
    char err[256];
    assert_int_equal(throttle_limit_parse("bad name", "key=sender window=1h max=5", &l, err, sizeof err), -1);
    assert_int_equal(throttle_limit_parse("", "key=sender window=1h max=5", &l, err, sizeof err), -1);
}

static uint64_t used_of(const struct throttle_limit *l, const struct throttle_cell *c, size_t n, int64_t now)
{
    struct throttle_slots s = {.slot_ms = 10000, .n = n, .c = c};
    return throttle_used(l, &s, 0, now);
}

static void test_window_maths(void **state)
{
    (void)state;
    struct throttle_limit l = parse_ok("w", "key=sasl_username window=1m max=10");
    struct throttle_cell c[] = {{T0 - 60000, 100}, {T0, 3}, {T0 + 10000, 4}, {T0 + 50000, 2}, {T0 + 60000, 1}};
    /* at T0+55s the window covers T0 .. T0+50s: 3 + 4 + 2 */
    assert_int_equal(used_of(&l, c, 5, T0 + 55000), 9);
    /* a minute later the first two slots left */
    assert_int_equal(used_of(&l, c, 5, T0 + 65000), 4 + 2 + 1);
    assert_int_equal(throttle_tier_of(&l, 9, 9, 1), THROTTLE_NONE);    /* the 10th is allowed */
    assert_int_equal(throttle_tier_of(&l, 10, 10, 1), THROTTLE_DEFER);   /* the 11th is not */
    assert_int_equal(throttle_tier_of(&l, 10, 10, 0), THROTTLE_DEFER);   /* "one more?" at the limit */
    assert_int_equal(throttle_tier_of(&l, 5, 5, 6), THROTTLE_DEFER);    /* 6 recipients at once */
    assert_int_equal(throttle_tier_of(&l, 5, 500, 1), THROTTLE_NONE);   /* refused tries do not defer */

    /* the running-sum shortcut (throttle_check's) sums exactly what the loop sums */
    srand(99);
    for (int round = 0; round < 200; round++) {
        struct throttle_cell r[50];
        uint64_t cum[50], sum = 0;
        size_t n = 0;
        for (int k = 0; k < 50; k++)
            if (rand() % 2) {
                r[n] = (struct throttle_cell){T0 + k * 10000LL, (uint64_t)(rand() % 5)};
                sum += r[n].n;
                cum[n++] = sum;
            }
        int64_t now = T0 + (rand() % 60) * 10000LL + rand() % 10000, reset = rand() % 3 ? 0 : T0 + (rand() % 50) * 10000LL;
        struct throttle_slots slow = {.slot_ms = 10000, .n = n, .c = r}, fast = slow;
        fast.cum = cum;
        assert_int_equal(throttle_used(&l, &fast, reset, now), throttle_used(&l, &slow, reset, now));
    }
}

static void test_bucket_maths(void **state)
{
    (void)state;
    /* 6 per minute = one per 10 s, burst 12, hold when the debt reaches 200% */
    struct throttle_limit l = parse_ok("b", "key=sasl_username rate=6/1m burst=12 defer=100% hold=200%");
    assert_int_equal(throttle_limit_debt_max(&l), 24);
    /* 12 at once empties the bucket */
    struct throttle_cell c1[] = {{T0, 12}};
    assert_int_equal(used_of(&l, c1, 1, T0), 12);
    assert_int_equal(throttle_tier_of(&l, 12, 12, 1), THROTTLE_DEFER);
    /* 30 s later three tokens came back */
    assert_int_equal(used_of(&l, c1, 1, T0 + 30000), 9);
    assert_int_equal(throttle_tier_of(&l, 9, 9, 1), THROTTLE_NONE);
    /* two minutes later it is full again: refill stops at the burst */
    assert_int_equal(used_of(&l, c1, 1, T0 + 120000), 0);
    /* 100 attempts: the debt stops at 24 (the hold tier), and refills from there */
    struct throttle_cell c2[] = {{T0, 100}};
    assert_int_equal(used_of(&l, c2, 1, T0), 24);
    assert_int_equal(throttle_tier_of(&l, 12, 24, 1), THROTTLE_HOLD);
    assert_int_equal(throttle_tier_of(&l, 24, 12, 1), THROTTLE_DEFER);   /* hold looks at the tries */
    assert_int_equal(used_of(&l, c2, 1, T0 + 60000), 18);
    /* a steady 1 per 10 s never runs the bucket dry; 2 per 10 s does after 12 slots */
    struct throttle_cell steady[40], fast[40];
    for (int i = 0; i < 40; i++) {
        steady[i] = (struct throttle_cell){T0 + i * 10000LL, 1};
        fast[i] = (struct throttle_cell){T0 + i * 10000LL, 2};
    }
    assert_true(used_of(&l, steady, 40, T0 + 399999) <= 1);
    assert_int_equal(used_of(&l, fast, 12, T0 + 110000), 13 < 24 ? 13 : 24);
    assert_int_equal(used_of(&l, fast, 40, T0 + 399999), 24);
}

static void test_reset_ignores_earlier_slots(void **state)
{
    (void)state;
    struct throttle_limit w = parse_ok("w", "key=sasl_username window=1h max=10");
    struct throttle_limit b = parse_ok("b", "key=sasl_username rate=10/1h burst=10");
    struct throttle_cell c[] = {{T0, 10}, {T0 + 20000, 2}};
    struct throttle_slots s = {.slot_ms = 10000, .n = 2, .c = c};
    assert_int_equal(throttle_used(&w, &s, 0, T0 + 30000), 12);
    assert_int_equal(throttle_used(&w, &s, T0 + 10000, T0 + 30000), 2);
    assert_int_equal(throttle_used(&b, &s, T0 + 10000, T0 + 20000), 2);
}

static struct throttle_input user_msg(const char *user, uint64_t rcpts)
{
    return (struct throttle_input){.user = user, .sender = "Bob@Example.ORG", .client = "192.0.2.77",
                                   .service = THROTTLE_SVC_SUBMISSION, .amount = {1, rcpts, 1000}};
}

static void test_tiers_and_text(void **state)
{
    (void)state;
    struct throttle_config c;
    throttle_config_init(&c);
    char err[256];
    struct throttle_limit l = parse_ok("user_hour", "key=sasl_username measure=messages window=1h max=10 "
                                                    "warn=50% defer=100% hold=150% reject=200%");
    assert_int_equal(throttle_config_add(&c, &l, err, sizeof err), 0);
    assert_int_equal(throttle_config_add(&c, &l, err, sizeof err), -1);   /* twice */
    throttle_sim_t *sim = throttle_sim_new(10000);
    struct throttle_input in = user_msg("alice", 1);
    enum throttle_tier seen[25];
    struct throttle_decision d;
    for (int i = 0; i < 25; i++) seen[i] = throttle_sim_feed(sim, &c, T0 + i * 1000, &in, true, &d);
    assert_int_equal(seen[4], THROTTLE_NONE);     /* 5th: 5/10 is not over 50% */
    assert_int_equal(seen[5], THROTTLE_WARN);     /* 6th */
    assert_int_equal(seen[9], THROTTLE_WARN);     /* 10th */
    assert_int_equal(seen[10], THROTTLE_DEFER);   /* 11th */
    assert_int_equal(seen[15], THROTTLE_HOLD);    /* 16th */
    assert_int_equal(seen[20], THROTTLE_REJECT);  /* 21st */
    char act[512];
    assert_int_equal(d.hits[d.worst].amount, 1);
    assert_int_equal(d.hits[d.worst].tried, 24);
    assert_int_equal(throttle_action(&d.hits[d.worst], act, sizeof act), 0);
    assert_string_equal(act, "REJECT 5.7.1 Sending limit user_hour reached: 24 of 10 messages per 1h, try again later");
    d.hits[d.worst].tier = THROTTLE_DEFER;
    snprintf(d.hits[d.worst].eff.text, sizeof d.hits[0].eff.text, "%s", "%{key}: %{count}/%{max}\nper %{window}");
    assert_int_equal(throttle_action(&d.hits[d.worst], act, sizeof act), 0);
    assert_string_equal(act, "DEFER_IF_PERMIT 4.7.1 user:alice: 10/10 per 1h");   /* let through */
    d.hits[d.worst].tier = THROTTLE_HOLD;
    assert_int_equal(throttle_action(&d.hits[d.worst], act, sizeof act), 0);
    assert_int_equal(strncmp(act, "HOLD user:alice", 15), 0);
    d.hits[d.worst].tier = THROTTLE_WARN;
    assert_int_equal(throttle_action(&d.hits[d.worst], act, sizeof act), 0);
    assert_string_equal(act, "DUNNO");
    /* a '%' that starts no placeholder, and an unknown one, are text */
    d.hits[d.worst].tier = THROTTLE_DEFER;
    snprintf(d.hits[d.worst].eff.text, sizeof d.hits[0].eff.text, "%s", "100% of %{max}%, %{nope}%%{limit} %");
    assert_int_equal(throttle_action(&d.hits[d.worst], act, sizeof act), 0);
    assert_string_equal(act, "DEFER_IF_PERMIT 4.7.1 100% of 10%, %{nope}%user_hour %");
    /* another user is untouched */
    struct throttle_input bob = user_msg("bob", 1);
    assert_int_equal(throttle_sim_feed(sim, &c, T0 + 30000, &bob, true, NULL), THROTTLE_NONE);
    /* an hour later alice's window is empty again */
    assert_int_equal(throttle_sim_feed(sim, &c, T0 + HOUR + 30000, &in, true, NULL), THROTTLE_NONE);
    throttle_sim_destroy(&sim);
    throttle_config_release(&c);
}

static void test_keys_services_and_subjects(void **state)
{
    (void)state;
    struct throttle_config c;
    throttle_config_init(&c);
    char err[256];
    struct throttle_limit ls[] = {
        parse_ok("sub", "key=sender window=1h max=2 service=submission"),
        parse_ok("mx", "key=sender_domain window=1h max=3 service=smtp"),
        parse_ok("net", "key=client_address window=1h max=4 prefix=24/64"),
    };
    for (size_t i = 0; i < 3; i++) assert_int_equal(throttle_config_add(&c, &ls[i], err, sizeof err), 0);
    char subj[256];
    struct throttle_input in = user_msg("alice", 1);
    assert_int_equal(throttle_subject(&ls[0], &in, subj, sizeof subj), 0);
    assert_string_equal(subj, "from:bob@example.org");
    assert_int_equal(throttle_subject(&ls[1], &in, subj, sizeof subj), 0);
    assert_string_equal(subj, "dom:example.org");
    assert_int_equal(throttle_subject(&ls[2], &in, subj, sizeof subj), 0);
    assert_string_equal(subj, "net:192.0.2.0/24");
    in.client = "2001:db8:1:2:3::9";
    assert_int_equal(throttle_subject(&ls[2], &in, subj, sizeof subj), 0);
    assert_string_equal(subj, "net:2001:db8:1:2::/64");
    in.client = "unknown";
    assert_int_equal(throttle_subject(&ls[2], &in, subj, sizeof subj), -1);
    in.sender = "";
    assert_int_equal(throttle_subject(&ls[0], &in, subj, sizeof subj), -1);
    assert_int_equal(throttle_subject(&ls[1], &in, subj, sizeof subj), -1);

    /* submission traffic counts against "sub" only, port 25 against "mx"; "net" sees both */
    throttle_sim_t *sim = throttle_sim_new(10000);
    struct throttle_input sub = user_msg("alice", 1), mx = user_msg("", 1);
    mx.service = THROTTLE_SVC_SMTP;
    struct throttle_decision d;
    assert_int_equal(throttle_sim_feed(sim, &c, T0, &sub, true, &d), THROTTLE_NONE);
    assert_int_equal(throttle_sim_feed(sim, &c, T0, &sub, true, &d), THROTTLE_NONE);
    assert_int_equal(throttle_sim_feed(sim, &c, T0, &sub, true, &d), THROTTLE_DEFER);
    assert_string_equal(c.limits[d.hits[d.worst].limit].name, "sub");
    /* the refused third was not let through: the /24 has 2 of 4 */
    assert_int_equal(throttle_sim_feed(sim, &c, T0, &mx, true, &d), THROTTLE_NONE);
    assert_int_equal(throttle_sim_feed(sim, &c, T0, &mx, true, &d), THROTTLE_NONE);
    assert_int_equal(throttle_sim_feed(sim, &c, T0, &mx, true, &d), THROTTLE_DEFER);
    assert_string_equal(c.limits[d.hits[d.worst].limit].name, "net");
    mx.client = "198.51.100.1";
    assert_int_equal(throttle_sim_feed(sim, &c, T0, &mx, true, &d), THROTTLE_NONE);    /* domain: its 3rd */
    assert_int_equal(throttle_sim_feed(sim, &c, T0, &mx, true, &d), THROTTLE_DEFER);
    assert_string_equal(c.limits[d.hits[d.worst].limit].name, "mx");
    throttle_sim_destroy(&sim);
    throttle_config_release(&c);
}

static char *write_map(const char *text)
{
    static char path[] = "/tmp/test_throttle_mapXXXXXX";
    strcpy(path, "/tmp/test_throttle_mapXXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_map_overrides_and_reload(void **state)
{
    (void)state;
    char err[512];
    char *path = write_map("# overrides\n"
                           "user:big      user_hour=100 user_min=x2\n"
                           "user:carol\tclass=bulk\n"
                           "class:bulk    user_hour=x3\n"
                           "user:ops      allow\n"
                           "net:192.0.2.0/24 user_hour=off   # a partner\n");
    throttle_map_t *m = throttle_map_load(path, err, sizeof err);
    if (!m) fail_msg("%s", err);
    assert_int_equal(throttle_map_size(m), 5);
    struct throttle_limit w = parse_ok("user_hour", "key=sasl_username window=1h max=10");
    struct throttle_limit b = parse_ok("user_min", "key=sasl_username rate=30/1m burst=60");
    struct throttle_limit out;
    assert_true(throttle_limit_apply(&w, throttle_map_find(m, "user:big", "user_hour"), &out));
    assert_int_equal(out.max, 100);
    assert_true(throttle_limit_apply(&b, throttle_map_find(m, "user:big", "user_min"), &out));
    assert_int_equal(out.max, 120);
    assert_int_equal(out.rate, 60);
    assert_true(throttle_limit_apply(&w, throttle_map_find(m, "user:carol", "user_hour"), &out));
    assert_int_equal(out.max, 30);   /* by class */
    assert_null(throttle_map_find(m, "user:carol", "user_min"));
    assert_false(throttle_limit_apply(&w, throttle_map_find(m, "net:192.0.2.0/24", "user_hour"), &out));
    assert_true(throttle_map_allowed(m, "user:ops"));
    assert_false(throttle_map_allowed(m, "user:big"));
    assert_null(throttle_map_find(m, "user:nobody", "user_hour"));
    throttle_map_destroy(&m);
    throttle_map_destroy(&m);   /* safe twice */
    unlink(path);

    /* errors name the line; the caller keeps its old map */
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"user:a user_hour=\n", ":1: user_hour=: expected"},
        {"\nbogus user_hour=3\n", ":2: 'bogus' is not a subject"},
        {"user:a\n", "has no setting"},
        {"user:a frob\n", "expected allow"},
        {"ip:10.0.0.1/8 allow\n", "is not a subject"},
        {"user:a user_hour=x0\n", "expected a count"},
        {"user:\x01 allow\n", "control characters"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        path = write_map(bad[i].text);
        err[0] = '\0';
        assert_null(throttle_map_load(path, err, sizeof err));
        if (!strstr(err, bad[i].msg)) fail_msg("'%s': got '%s'", bad[i].text, err);
        unlink(path);
    }
    assert_null(throttle_map_load("/nonexistent/map", err, sizeof err));
}

static void test_override_and_allow_in_check(void **state)
{
    (void)state;
    struct throttle_config c;
    throttle_config_init(&c);
    char err[256];
    struct throttle_limit l = parse_ok("user_hour", "key=sasl_username window=1h max=2");
    assert_int_equal(throttle_config_add(&c, &l, err, sizeof err), 0);
    char *path = write_map("user:big user_hour=5\n");
    throttle_map_t *m = throttle_map_load(path, err, sizeof err);
    unlink(path);
    assert_non_null(m);
    throttle_map_destroy(&c.map);
    c.map = m;
    assert_int_equal(throttle_map_allow(c.map, "user:ops"), 0);
    assert_int_equal(throttle_map_allow(c.map, "nonsense"), -1);
    throttle_sim_t *sim = throttle_sim_new(10000);
    struct throttle_input big = user_msg("big", 1), small = user_msg("small", 1), ops = user_msg("ops", 1);
    int deferred_big = -1, deferred_small = -1;
    for (int i = 0; i < 10; i++) {
        if (throttle_sim_feed(sim, &c, T0, &big, true, NULL) == THROTTLE_DEFER && deferred_big < 0) deferred_big = i;
        if (throttle_sim_feed(sim, &c, T0, &small, true, NULL) == THROTTLE_DEFER && deferred_small < 0) deferred_small = i;
        assert_int_equal(throttle_sim_feed(sim, &c, T0, &ops, true, NULL), THROTTLE_NONE);
    }
    assert_int_equal(deferred_small, 2);
    assert_int_equal(deferred_big, 5);
    /* usage as `sgcluster quota` shows it, and a reset */
    struct throttle_store st = throttle_sim_store(sim);
    uint64_t used, tried, cap;
    enum throttle_tier next;
    assert_int_equal(throttle_usage(&c, 0, "user:small", T0, &st, &used, &tried, &cap, &next), 0);
    assert_int_equal(used, 2);
    assert_int_equal(tried, 10);
    assert_int_equal(cap, 2);
    assert_int_equal(next, THROTTLE_DEFER);
    assert_int_equal(throttle_usage(&c, 0, "ip:192.0.2.1", T0, &st, &used, &tried, &cap, &next), -1);
    assert_int_equal(throttle_usage(&c, 0, "user:ops", T0, &st, &used, &tried, &cap, &next), -1);
    assert_int_equal(throttle_reset("user:small", T0 + 1000, &st), 0);
    assert_int_equal(throttle_usage(&c, 0, "user:small", T0 + 10000, &st, &used, &tried, &cap, &next), 0);
    assert_int_equal(used, 0);
    assert_int_equal(tried, 0);
    assert_int_equal(throttle_sim_feed(sim, &c, T0 + 10000, &small, true, NULL), THROTTLE_NONE);
    assert_int_equal(throttle_usage(&c, 0, "user:big", T0 + 10000, &st, &used, &tried, &cap, &next), 0);
    assert_int_equal(used, 5);
    assert_int_equal(tried, 10);
    assert_int_equal(cap, 5);
    throttle_sim_destroy(&sim);
    throttle_config_release(&c);
}

struct delivery {
    int o, s;
    uint64_t v;
};

/* Replicas receive the same (origin, slot) counts in different orders and with duplicates: as
 * long as each keeps the max per (origin, slot) (gossip's merge) their sums and decisions agree. */
static void test_slot_sums_converge(void **state)
{
    (void)state;
    enum { ORIGINS = 3, SLOTS = 40, REPLICAS = 4 };
    struct throttle_limit b = parse_ok("b", "key=sasl_username rate=60/1h burst=20 defer=100% hold=200%");
    struct throttle_limit w = parse_ok("w", "key=sasl_username window=5m max=15");
    uint64_t truth[ORIGINS][SLOTS];
    srand(1234);
    for (int o = 0; o < ORIGINS; o++)
        for (int s = 0; s < SLOTS; s++) truth[o][s] = (uint64_t)(rand() % 3);
    uint64_t results[REPLICAS][2];
    for (int r = 0; r < REPLICAS; r++) {
        uint64_t seen[ORIGINS][SLOTS] = {{0}};
        /* every (origin, slot) once with its final value, and as many stale, smaller copies, shuffled */
        struct delivery msgs[2 * ORIGINS * SLOTS];
        int nm = 0;
        for (int o = 0; o < ORIGINS; o++)
            for (int sl = 0; sl < SLOTS; sl++) {
                msgs[nm++] = (struct delivery){o, sl, truth[o][sl]};
                msgs[nm++] = (struct delivery){o, sl, truth[o][sl] / 2};
            }
        for (int k = nm - 1; k > 0; k--) {
            int j = rand() % (k + 1);
            struct delivery t = msgs[k];
            msgs[k] = msgs[j];
            msgs[j] = t;
        }
        for (int k = 0; k < nm; k++)
            if (msgs[k].v > seen[msgs[k].o][msgs[k].s]) seen[msgs[k].o][msgs[k].s] = msgs[k].v;
        struct throttle_cell c[SLOTS];
        size_t n = 0;
        for (int s = 0; s < SLOTS; s++) {
            uint64_t sum = 0;
            for (int o = 0; o < ORIGINS; o++) sum += seen[o][s];
            if (sum) c[n++] = (struct throttle_cell){T0 + s * 10000LL, sum};
        }
        results[r][0] = used_of(&b, c, n, T0 + SLOTS * 10000LL);
        results[r][1] = used_of(&w, c, n, T0 + SLOTS * 10000LL);
    }
    for (int r = 1; r < REPLICAS; r++) {
        assert_int_equal(results[r][0], results[0][0]);
        assert_int_equal(results[r][1], results[0][1]);
    }
    assert_true(results[0][0] > 0);   /* not vacuous: the bucket is in debt */
    assert_true(results[0][1] > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_window),
        cmocka_unit_test(test_parse_bucket_and_defaults),
        cmocka_unit_test(test_format_roundtrip),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_window_maths),
        cmocka_unit_test(test_bucket_maths),
        cmocka_unit_test(test_reset_ignores_earlier_slots),
        cmocka_unit_test(test_tiers_and_text),
        cmocka_unit_test(test_keys_services_and_subjects),
        cmocka_unit_test(test_map_overrides_and_reload),
        cmocka_unit_test(test_override_and_allow_in_check),
        cmocka_unit_test(test_slot_sums_converge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
