/* test_util.c: duration parsing and allocation helpers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include <stdlib.h>

#include "agent/util.h"

static void test_duration_units(void **state)
{
    (void)state;
    int64_t v = -1;
    assert_int_equal(sg_parse_duration("90", &v), 0); assert_int_equal(v, 90);
    assert_int_equal(sg_parse_duration("90s", &v), 0); assert_int_equal(v, 90);
    assert_int_equal(sg_parse_duration("15m", &v), 0); assert_int_equal(v, 900);
    assert_int_equal(sg_parse_duration("2h", &v), 0); assert_int_equal(v, 7200);
    assert_int_equal(sg_parse_duration("7d", &v), 0); assert_int_equal(v, 604800);
}

static void test_duration_rejects(void **state)
{
    (void)state;
    int64_t v = 42;
    const char *bad[] = {"", "h", "-5", "5x", "5hh", "99999999999999999999", "1 h", NULL};
    for (int i = 0; bad[i]; i++) assert_int_equal(sg_parse_duration(bad[i], &v), -1);
    assert_int_equal(sg_parse_duration(NULL, &v), -1);
    assert_int_equal(v, 42); /* untouched on failure */
}

static void test_strndup(void **state)
{
    (void)state;
    char *s = sg_xstrndup("abcdef", 3);
    assert_string_equal(s, "abc");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_units),
        cmocka_unit_test(test_duration_rejects),
        cmocka_unit_test(test_strndup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
