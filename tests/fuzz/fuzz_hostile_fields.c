/* fuzz_hostile_fields.c: libFuzzer target for attacker-chosen fields. The first input byte picks a
 * real-format line of one rule family (tests/fuzz/hostile_lines.h), the rest is what the attacker
 * writes into its user name / HELO / sender / SASL name fields. Oracle: every event of the line names
 * the real client's address or no address at all; an event naming any other address aborts. */
#include "tests/fuzz/hostile_lines.h"
#include "tests/support/shipped_rules.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static struct detect_rules *rules;
static struct detect_parser *parser;

static void init(void)
{
    char err[512];
    rules = sg_test_shipped_rules(err, sizeof err);
    if (!rules) {
        fprintf(stderr, "fuzz_hostile_fields: rules: %s\n", err);
        abort();
    }
    struct detect_parser_opts o = {.ref_ms = 1795867200000LL, .max_line = 8192};
    parser = detect_parser_new(rules, &o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!parser) init();
    if (size < 1) return 0;
    const struct hostile_tmpl *t = &hostile_tmpls[data[0] % HOSTILE_NTMPL];
    static char buf[16384];
    struct hostile_seen s;
    /* One parser for every input, as for one log: join state (pids, sessions, queue ids) carries over. */
    if (!hostile_feed(parser, t, (const char *)data + 1, size - 1, buf, sizeof buf, &s)) return 0;
    if (s.other) {
        fprintf(stderr, "fuzz_hostile_fields: %s rule %s took %s, not %s, from:\n  %s\n", t->family, s.bad_rule,
                s.bad_ip, t->want, buf);
        abort();
    }
    return 0;
}
