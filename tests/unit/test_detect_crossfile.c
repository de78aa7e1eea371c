/* test_detect_crossfile.c: one SMTP AUTH failure through Dovecot SASL counts once even when
 * Dovecot writes its own log file (no host) and Postfix logs through syslog (with a host), as on
 * the test mail nodes: real lines captured from those daemons. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "detect/detect.h"

struct tally { int counted, dups; };

static void on_event(const struct sg_event *ev, void *arg)
{
    struct tally *t = arg;
    if (ev->kind != SG_EV_AUTH_FAIL) return;
    if (ev->dup) t->dups++;
    else t->counted += (int)ev->count;
}

static void feed(struct detect_parser *p, const char *line, struct tally *t)
{
    detect_parser_line(p, line, strlen(line), on_event, t);
}

static void test_sasl_failure_counts_once_across_files(void **state)
{
    (void)state;
    const char *dirs[] = {"detect/rules.d", NULL};
    char err[256];
    struct detect_rules *r = detect_rules_new(dirs, err, sizeof err);
    assert_non_null(r);
    struct detect_parser *p = detect_parser_new(r, NULL);
    struct tally t = {0};
    /* The follower delivers a few Dovecot lines, then the Postfix lines of the same attempts. */
    feed(p, "Nov 28 05:33:08 auth: Info: passwd-file(carol,10.77.0.100): Password mismatch", &t);
    feed(p, "Nov 28 05:33:08 auth: Info: passwd-file(carol,10.77.0.100): Password mismatch", &t);
    feed(p, "Nov 28 05:33:08 node1 postfix/submission/smtpd[1706]: warning: unknown[10.77.0.100]: SASL LOGIN "
            "authentication failed: (reason unavailable), sasl_username=carol", &t);
    feed(p, "Nov 28 05:33:08 node1 postfix/submission/smtpd[1706]: disconnect from unknown[10.77.0.100] ehlo=1 "
            "auth=0/1 quit=1 commands=2/3", &t);
    feed(p, "Nov 28 05:33:09 node1 postfix/submission/smtpd[1706]: warning: unknown[10.77.0.100]: SASL LOGIN "
            "authentication failed: (reason unavailable), sasl_username=carol", &t);
    feed(p, "Nov 28 05:33:09 node1 postfix/submission/smtpd[1706]: disconnect from unknown[10.77.0.100] ehlo=1 "
            "auth=0/1 quit=1 commands=2/3", &t);
    assert_int_equal(t.counted, 2);   /* two attempts */
    assert_int_equal(t.dups, 4);      /* each reported again by Postfix's warning and disconnect line */
    detect_parser_destroy(&p);
    detect_rules_destroy(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sasl_failure_counts_once_across_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
