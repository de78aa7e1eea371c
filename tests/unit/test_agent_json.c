/* test_agent_json.c: JSON strings for the CLI and control socket: whatever a peer or a log line put
 * in a key or reason, the output is valid JSON and holds no control character (C0, DEL or C1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/json.h"

static char *to_json(const char *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    json_str(f, s);
    fclose(f);
    return buf;
}

static void expect(const char *in, const char *want)
{
    char *got = to_json(in);
    assert_string_equal(got, want);
    free(got);
}

static void test_escapes(void **state)
{
    (void)state;
    expect("plain", "\"plain\"");
    expect(NULL, "null");
    expect("q\"b\\", "\"q\\\"b\\\\\"");
    expect("a\nb\r\t", "\"a\\nb\\r\\t\"");
    expect("\x1b[2J\x07\x7f", "\"\\u001b[2J\\u0007\\u007f\"");
    expect("csi \xc2\x9b" "31m", "\"csi \\u009b31m\"");
    expect("nbsp \xc2\xa0 caf\xc3\xa9", "\"nbsp \xc2\xa0 caf\xc3\xa9\"");
    expect("bad \xff\xc3\x28", "\"bad \\u00ff\\u00c3(\"");
}

/* Refusals and errors under --json: one object, the message without its newline, escaped. */
static void test_error_object(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    json_error(f, 1, "refused: \"x\" is protected\n");
    json_errorf(f, 2, "bad duration '%s'", "9q");
    json_error(f, 1, NULL);
    fclose(f);
    assert_string_equal(buf, "{\"error\":\"refused: \\\"x\\\" is protected\",\"code\":1}\n"
                             "{\"error\":\"bad duration '9q'\",\"code\":2}\n"
                             "{\"error\":\"\",\"code\":1}\n");
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_error_object),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
