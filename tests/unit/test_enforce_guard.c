/* test_enforce_guard.c: prefix parsing and printing, containment, and the never-ban rules. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include <sys/socket.h>

#include "enforce/enforce.h"

static struct enforce_prefix P(const char *s)
{
    struct enforce_prefix p;
    assert_int_equal(enforce_prefix_parse(s, &p), 0);
    return p;
}

static void test_parse_format(void **state)
{
    (void)state;
    char buf[ENFORCE_PREFIX_STRLEN];
    struct {
        const char *in, *out;
        int family, len;
    } ok[] = {
        {"203.0.113.7", "203.0.113.7", AF_INET, 32},
        {"203.0.113.7/32", "203.0.113.7", AF_INET, 32},
        {"203.0.113.77/24", "203.0.113.0/24", AF_INET, 24},   /* host bits cleared */
        {"10.1.2.3/15", "10.0.0.0/15", AF_INET, 15},
        {"2001:db8::1", "2001:db8::1", AF_INET6, 128},
        {"2001:db8:0:0:1::/64", "2001:db8::/64", AF_INET6, 64},
        {"2001:db8:ffff::/33", "2001:db8:8000::/33", AF_INET6, 33},
        {"::ffff:192.0.2.9", "192.0.2.9", AF_INET, 32},      /* mapped: the kernel sees IPv4 */
        {"::ffff:192.0.2.0/120", "192.0.2.0/24", AF_INET, 24},
        {"0.0.0.0/0", "0.0.0.0/0", AF_INET, 0},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct enforce_prefix p = P(ok[i].in);
        assert_int_equal(p.family, ok[i].family);
        assert_int_equal(p.len, ok[i].len);
        assert_string_equal(enforce_prefix_format(&p, buf, sizeof buf), ok[i].out);
        struct enforce_prefix q = P(buf);                       /* printing round-trips */
        assert_int_equal(enforce_prefix_cmp(&p, &q), 0);
    }
}

static void test_parse_rejects(void **state)
{
    (void)state;
    struct enforce_prefix p;
    const char *bad[] = {"", "1.2.3", "1.2.3.4/33", "1.2.3.4/", "1.2.3.4/-1", "1.2.3.4/2x", "2001:db8::/129",
                         "hello", "1.2.3.4 ", " 1.2.3.4", "1.2.3.4/0024", "::1/1000",
                         "1111:2222:3333:4444:5555:6666:7777:8888:9999/64", NULL};
    for (int i = 0; bad[i]; i++) assert_int_equal(enforce_prefix_parse(bad[i], &p), -1);
    assert_int_equal(enforce_prefix_parse(NULL, &p), -1);
    char longs[200];
    memset(longs, '1', sizeof longs - 1);
    longs[sizeof longs - 1] = '\0';
    assert_int_equal(enforce_prefix_parse(longs, &p), -1);
}

static void test_contains_and_order(void **state)
{
    (void)state;
    struct enforce_prefix net = P("10.1.2.0/24"), in = P("10.1.2.200"), out = P("10.1.3.1"), v6 = P("::a01:200");
    assert_true(enforce_prefix_contains(&net, &in));
    assert_false(enforce_prefix_contains(&in, &net));
    assert_false(enforce_prefix_contains(&net, &out));
    assert_false(enforce_prefix_contains(&net, &v6));
    assert_true(enforce_prefix_contains(&net, &net));
    struct enforce_prefix odd = P("10.1.2.0/23"), edge = P("10.1.3.255");
    assert_true(enforce_prefix_contains(&odd, &edge));
    /* A prefix sorts before everything it covers, and before the next block. */
    assert_true(enforce_prefix_cmp(&net, &in) < 0);
    struct enforce_prefix base = P("10.1.2.0");
    assert_true(enforce_prefix_cmp(&net, &base) < 0);
    assert_true(enforce_prefix_cmp(&in, &out) < 0);
    assert_true(enforce_prefix_cmp(&out, &v6) < 0);   /* IPv4 before IPv6 */
}

static void test_guard_rules(void **state)
{
    (void)state;
    struct enforce_guard *g = enforce_guard_new();
    char buf[128];
    assert_int_equal(enforce_guard_allow(g, "192.0.2.0/24"), 0);
    assert_int_equal(enforce_guard_allow(g, "2001:db8:1::/48"), 0);
    assert_int_equal(enforce_guard_add_node(g, "198.51.100.10"), 0);
    assert_int_equal(enforce_guard_add_node(g, "2001:db8:2::10"), 0);
    assert_int_equal(enforce_guard_allow(g, "not-a-net"), -1);
    assert_int_equal(enforce_guard_add_node(g, "198.51.100.0/24"), -1);   /* a node is one address */

    struct {
        const char *ban;
        const char *reason;   /* NULL: allowed; else a substring of the reason */
    } cases[] = {
        {"203.0.113.7", NULL},
        {"203.0.113.0/24", NULL},
        {"2001:db8:9::/64", NULL},
        {"127.0.0.1", "loopback"},
        {"127.9.9.9", "loopback"},
        {"::1", "loopback"},
        {"0.0.0.0", "unspecified"},
        {"192.0.2.55", "allowlisted 192.0.2.0/24"},
        {"192.0.2.0/24", "allowlisted"},
        {"2001:db8:1:5::/64", "allowlisted 2001:db8:1::/48"},
        {"198.51.100.10", "own node address 198.51.100.10"},
        {"198.51.100.0/24", "own node address"},          /* a prefix that swallows a node */
        {"198.51.100.11", NULL},
        {"2001:db8:2::/64", "own node address"},
        {"10.0.0.0/16", "shorter than the minimum /24"},
        {"2001:db8:9::/40", "shorter than the minimum /48"},
        {"::ffff:127.0.0.1", "loopback"},                 /* mapped forms are caught too */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct enforce_prefix p = P(cases[i].ban);
        const char *r = enforce_guard_check(g, &p, buf, sizeof buf);
        if (!cases[i].reason) {
            assert_null(r);
        } else {
            assert_non_null(r);
            assert_non_null(strstr(r, cases[i].reason));
            assert_non_null(enforce_guard_check(g, &p, NULL, 0));   /* static reason without a buffer */
        }
    }
    assert_int_equal(enforce_guard_set_min_prefix(g, 16, 32), 0);
    struct enforce_prefix wide = P("10.0.0.0/16");
    assert_null(enforce_guard_check(g, &wide, buf, sizeof buf));
    assert_int_equal(enforce_guard_set_min_prefix(g, 33, 32), -1);
    assert_int_equal(enforce_guard_set_min_prefix(g, 8, 129), -1);
    enforce_guard_destroy(&g);
    assert_null(g);
    enforce_guard_destroy(&g);   /* safe twice */
}

/* Replicated allows (`sgcluster allow`): refused like the allowlist, with their own reason, and
 * replaced as a whole, leaving the configured rules in place. */
static void test_shared_allows(void **state)
{
    (void)state;
    struct enforce_guard *g = enforce_guard_new();
    assert_int_equal(enforce_guard_allow(g, "192.0.2.0/24"), 0);
    struct enforce_prefix p7 = P("203.0.113.7"), p24 = P("203.0.113.0/24"), other = P("198.51.100.1");
    char why[128];
    assert_null(enforce_guard_check(g, &p7, why, sizeof why));
    struct enforce_prefix shared[] = {P("203.0.113.7"), P("2001:db8:1::/48")};
    enforce_guard_set_shared(g, shared, 2);
    assert_non_null(enforce_guard_check(g, &p7, why, sizeof why));
    assert_string_equal(why, "allowed cluster-wide 203.0.113.7");
    assert_non_null(enforce_guard_check(g, &p24, why, sizeof why));   /* a ban swallowing it */
    struct enforce_prefix v6 = P("2001:db8:1:2::/64");
    assert_non_null(enforce_guard_check(g, &v6, NULL, 0));
    assert_null(enforce_guard_check(g, &other, NULL, 0));
    /* Replaced: the old entries go, the configured allowlist stays. */
    enforce_guard_set_shared(g, &shared[1], 1);
    assert_null(enforce_guard_check(g, &p7, NULL, 0));
    struct enforce_prefix cfgd = P("192.0.2.9");
    assert_non_null(enforce_guard_check(g, &cfgd, why, sizeof why));
    assert_string_equal(why, "allowlisted 192.0.2.0/24");
    enforce_guard_set_shared(g, NULL, 0);
    assert_null(enforce_guard_check(g, &v6, NULL, 0));
    enforce_guard_destroy(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_format),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_contains_and_order),
        cmocka_unit_test(test_guard_rules),
        cmocka_unit_test(test_shared_allows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
