/* fuzz_parse_line.c: libFuzzer target for the line parser with the shipped rules. The input is split
 * into lines (so one input can build up join state: sessions, queue ids, sshd pids), each line also
 * goes through the address normaliser. Nothing may crash, hang or read out of bounds. */
#include "agent/util.h"
#include "detect/detect.h"
#include "tests/support/shipped_rules.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct detect_rules *rules;
static struct detect_parser *parser;

static void sink(const struct sg_event *ev, void *arg)
{
    size_t *n = arg;
    /* Touch what a consumer would read: strings must be terminated, kinds named. */
    *n += strlen(ev->host) + strlen(ev->service) + strlen(ev->ip) + strlen(ev->user) + strlen(ev->rule) +
          strlen(detect_kind_name(ev->kind));
    if (ev->count == 0) abort();
    /* No line stands for more than the caps (the parser below runs with the defaults). */
    if (ev->count > DETECT_DEFAULT_MAX_ATTEMPTS || ev->nrcpt > DETECT_DEFAULT_MAX_RCPT) abort();
}

static void init(void)
{
    char err[512];
    rules = sg_test_shipped_rules(err, sizeof err);
    if (!rules) {
        fprintf(stderr, "fuzz_parse_line: rules: %s\n", err);
        abort();
    }
    struct detect_parser_opts o = {.ref_ms = 1795867200000LL, .max_line = 4096};
    parser = detect_parser_new(rules, &o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!parser) init();
    /* An exactly-sized copy per line, so that a read past the end of a line is caught. */
    size_t start = 0, seen = 0;
    while (start <= size) {
        const uint8_t *nl = memchr(data + start, '\n', size - start);
        size_t len = nl ? (size_t)(nl - (data + start)) : size - start;
        char *line = sg_xmalloc(len ? len : 1);
        memcpy(line, data + start, len);
        detect_parser_line(parser, line, len, sink, &seen);
        int fam;
        uint8_t a[16];
        char t[SG_EV_IP_MAX];
        if (len < 80) detect_ip_parse(line, len, &fam, a, t);
        free(line);
        if (!nl) break;
        start += len + 1;
    }
    return 0;
}
