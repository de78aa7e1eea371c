/* test_gossip_endpoint.c: gossip endpoints: what binds and peers may name, and which are loopback. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "gossip/endpoint.h"

static void test_parse(void **state)
{
    (void)state;
    struct gossip_endpoint e;
    char err[128];
    assert_int_equal(gossip_endpoint_parse("tcp://192.0.2.1:7946", false, &e, err, sizeof err), 0);
    assert_string_equal(e.host, "192.0.2.1");
    assert_int_equal(e.port, 7946);
    assert_int_equal(gossip_endpoint_parse("tcp://[2001:db8::1]:7947", false, &e, err, sizeof err), 0);
    assert_string_equal(e.host, "2001:db8::1");
    assert_int_equal(gossip_endpoint_parse("tcp://mx2.example.net:7946", false, &e, err, sizeof err), 0);
    assert_int_equal(gossip_endpoint_parse("tcp://*:*", true, &e, err, sizeof err), 0);
    assert_int_equal(e.port, 0);
    static const char *const bad[] = {
        "192.0.2.1:7946", "udp://192.0.2.1:1", "tcp://192.0.2.1", "tcp://192.0.2.1:0", "tcp://192.0.2.1:65536",
        "tcp://192.0.2.1:79x", "tcp://:7946", "tcp://2001:db8::1:7946", "tcp://[2001:db8::zz]:1", "tcp://[::1]7946",
        "tcp://a b:1", "tcp://*:7946", "tcp://127.0.0.1:*", NULL,
    };
    for (int i = 0; bad[i]; i++) {
        err[0] = 0;
        assert_int_equal(gossip_endpoint_parse(bad[i], false, &e, err, sizeof err), -1);
        assert_true(err[0] != 0);
    }
    assert_int_equal(gossip_endpoint_parse(NULL, true, &e, NULL, 0), -1);
}

static void test_loopback(void **state)
{
    (void)state;
    static const struct { const char *ep; bool lo; } cases[] = {
        {"tcp://127.0.0.1:1", true}, {"tcp://127.3.4.5:1", true}, {"tcp://[::1]:1", true},
        {"tcp://localhost:1", true}, {"tcp://128.0.0.1:1", false}, {"tcp://10.0.0.1:1", false},
        {"tcp://[::2]:1", false}, {"tcp://*:1", false}, {"tcp://mx1:1", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct gossip_endpoint e;
        assert_int_equal(gossip_endpoint_parse(cases[i].ep, true, &e, NULL, 0), 0);
        assert_int_equal(gossip_endpoint_loopback(&e), cases[i].lo);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_loopback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
