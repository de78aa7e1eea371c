/* test_agent_prom.c: the Prometheus exposition writer: names are checked, label values escaped
 * whatever bytes they hold, histograms cumulative with +Inf, _sum and _count; and the tally that
 * keys counters by label pairs stays within its cap whatever it is fed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/prom.h"
#include "agent/tally.h"
#include "common/text.h"

struct out {
    char *buf;
    size_t len;
    FILE *f;
};

static void out_open(struct out *o)
{
    o->buf = NULL;
    o->len = 0;
    o->f = open_memstream(&o->buf, &o->len);
    assert_non_null(o->f);
}

static char *out_close(struct out *o)
{
    fclose(o->f);
    return o->buf;
}

static void test_names(void **state)
{
    (void)state;
    assert_true(prom_metric_name_ok("sgcluster_events_total"));
    assert_true(prom_metric_name_ok("a:b_c9"));
    assert_false(prom_metric_name_ok(""));
    assert_false(prom_metric_name_ok("9lives"));
    assert_false(prom_metric_name_ok("with-dash"));
    assert_false(prom_metric_name_ok("sp ace"));
    assert_false(prom_metric_name_ok(NULL));
    assert_true(prom_label_name_ok("service"));
    assert_false(prom_label_name_ok("a:b"));       /* colons are for metric names only */
    assert_false(prom_label_name_ok("__name__"));  /* reserved */
    assert_false(prom_label_name_ok("0x"));
    /* a bad name writes nothing */
    struct out o;
    out_open(&o);
    assert_int_equal(prom_u64(o.f, "bad-name", 1, PROM_END), -1);
    assert_int_equal(prom_u64(o.f, "good", 1, "bad label", "v", PROM_END), -1);
    assert_int_equal(prom_u64(o.f, "good", 1, "label", PROM_END), -1);   /* a NULL value */
    assert_int_equal(prom_family(o.f, "x y", PROM_COUNTER, "h"), -1);
    char *s = out_close(&o);
    assert_string_equal(s, "");
    free(s);
}

static void expect_escape(const char *in, const char *want)
{
    char buf[256];
    assert_string_equal(prom_escape(in, buf, sizeof buf), want);
}

static void test_escape(void **state)
{
    (void)state;
    expect_escape("imap", "imap");
    expect_escape("a\"b", "a\\\"b");
    expect_escape("back\\slash", "back\\\\slash");
    expect_escape("two\nlines", "two\\nlines");
    expect_escape("tab\tcr\r esc\x1b[2J", "tab?cr? esc?[2J");
    expect_escape("caf\xc3\xa9", "caf\xc3\xa9");           /* clean UTF-8 stays */
    expect_escape("bad \xff\xc3\x28", "bad ?" "?(");          /* invalid bytes, one '?' each */
    expect_escape("c1 \xc2\x9b", "c1 ?");                  /* C1 control (U+009B) */
    /* cut at a character boundary, never inside an escape or a UTF-8 sequence */
    char small[6];
    assert_string_equal(prom_escape("ab\"cd", small, sizeof small), "ab\\\"c");
    assert_string_equal(prom_escape("abcd\xc3\xa9", small, sizeof small), "abcd");
    assert_string_equal(prom_escape("abc\\d", small, 5), "abc");
}

/* Every byte value in a label value gives one line, valid UTF-8, no control character. */
static void test_escape_every_byte(void **state)
{
    (void)state;
    for (int c = 1; c < 256; c++) {
        char in[4] = {'x', (char)c, 'y', 0}, out[32];
        prom_escape(in, out, sizeof out);
        assert_true(sg_text_clean(out, strlen(out)));
        assert_null(strchr(out, '\n'));
        /* a quote is always escaped: the value cannot end early */
        for (const char *p = out; *p; p++)
            if (*p == '"') assert_true(p > out && p[-1] == '\\');
    }
}

static void test_samples(void **state)
{
    (void)state;
    struct out o;
    out_open(&o);
    assert_int_equal(prom_family(o.f, "sgcluster_events_total", PROM_COUNTER, "Events\\n by\nkind."), 0);
    assert_int_equal(prom_u64(o.f, "sgcluster_events_total", 42, "kind", "auth_fail", "service", "im\"ap", PROM_END), 0);
    assert_int_equal(prom_u64(o.f, "sgcluster_events_total", 7, PROM_END), 0);
    assert_int_equal(prom_family(o.f, "sgcluster_lag_seconds", PROM_GAUGE, "Lag."), 0);
    assert_int_equal(prom_f64(o.f, "sgcluster_lag_seconds", 0.25, PROM_END), 0);
    assert_int_equal(prom_f64(o.f, "sgcluster_lag_seconds", -1, "peer", "n2", PROM_END), 0);
    assert_int_equal(prom_one_u64(o.f, "one_total", PROM_COUNTER, "One.", 3), 0);
    assert_int_equal(prom_by(o.f, "by_total", PROM_COUNTER, "By.", "dir", 2, (const char *const[]){"in", "o\"ut"},
                             (const uint64_t[]){1, 2}), 0);
    char *s = out_close(&o);
    assert_string_equal(s, "# HELP sgcluster_events_total Events\\\\n by\\nkind.\n"
                           "# TYPE sgcluster_events_total counter\n"
                           "sgcluster_events_total{kind=\"auth_fail\",service=\"im\\\"ap\"} 42\n"
                           "sgcluster_events_total 7\n"
                           "# HELP sgcluster_lag_seconds Lag.\n"
                           "# TYPE sgcluster_lag_seconds gauge\n"
                           "sgcluster_lag_seconds 0.25\n"
                           "sgcluster_lag_seconds{peer=\"n2\"} -1\n"
                           "# HELP one_total One.\n# TYPE one_total counter\none_total 3\n"
                           "# HELP by_total By.\n# TYPE by_total counter\n"
                           "by_total{dir=\"in\"} 1\nby_total{dir=\"o\\\"ut\"} 2\n");
    free(s);
}

static void test_histogram(void **state)
{
    (void)state;
    struct sg_hist h;
    memset(&h, 0, sizeof h);
    sg_hist_observe(&h, 0.00005);   /* first bucket */
    sg_hist_observe(&h, 0.001);     /* exactly on a bound: le is "less or equal" */
    sg_hist_observe(&h, 0.3);
    sg_hist_observe(&h, 99);        /* only +Inf */
    sg_hist_observe(&h, -1);        /* counted as 0 */
    sg_hist_observe_ns(&h, 2000000); /* 2 ms */
    assert_int_equal(h.count, 6);
    struct out o;
    out_open(&o);
    assert_int_equal(prom_family(o.f, "t_seconds", PROM_HISTOGRAM, "T."), 0);
    assert_int_equal(prom_hist(o.f, "t_seconds", &h, "svc", "a", PROM_END), 0);
    char *s = out_close(&o);
    assert_non_null(strstr(s, "# TYPE t_seconds histogram\n"));
    assert_non_null(strstr(s, "t_seconds_bucket{svc=\"a\",le=\"0.0001\"} 2\n"));
    assert_non_null(strstr(s, "t_seconds_bucket{svc=\"a\",le=\"0.001\"} 3\n"));
    assert_non_null(strstr(s, "t_seconds_bucket{svc=\"a\",le=\"0.0025\"} 4\n"));
    assert_non_null(strstr(s, "t_seconds_bucket{svc=\"a\",le=\"0.25\"} 4\n"));
    assert_non_null(strstr(s, "t_seconds_bucket{svc=\"a\",le=\"0.5\"} 5\n"));
    assert_non_null(strstr(s, "t_seconds_bucket{svc=\"a\",le=\"10\"} 5\n"));
    assert_non_null(strstr(s, "t_seconds_bucket{svc=\"a\",le=\"+Inf\"} 6\n"));
    assert_non_null(strstr(s, "t_seconds_sum{svc=\"a\"} 99.303"));
    assert_non_null(strstr(s, "t_seconds_count{svc=\"a\"} 6\n"));
    /* buckets never decrease, and there are SG_HIST_BUCKETS + 1 of them */
    size_t n = 0;
    unsigned long long last = 0;
    for (const char *p = strstr(s, "_bucket"); p; p = strstr(p + 1, "_bucket")) {
        unsigned long long v = strtoull(strchr(p, '}') + 2, NULL, 10);
        assert_true(v >= last);
        last = v;
        n++;
    }
    assert_int_equal(n, SG_HIST_BUCKETS + 1);
    free(s);
}

static void test_tally_cap(void **state)
{
    (void)state;
    struct tally *t = tally_new(4);
    tally_add(t, "auth_fail", "imap", 1);
    tally_add(t, "auth_fail", "imap", 2);
    tally_add(t, "auth_fail", "smtp", 1);
    tally_add(t, "auth_ok", "imap", 1);
    /* full: every new pair goes to ("other", "other"), and nothing is lost */
    char a[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(a, sizeof a, "k%d", i);
        tally_add(t, a, "svc", 1);
    }
    tally_add(t, "auth_fail", "imap", 1);   /* a known pair still counts as itself */
    assert_int_equal(tally_count(t), 4);
    const char *x, *y;
    uint64_t n;
    assert_int_equal(tally_at(t, 0, &x, &y, &n), 0);
    assert_string_equal(x, "auth_fail");
    assert_string_equal(y, "imap");
    assert_int_equal(n, 4);
    assert_int_equal(tally_at(t, 3, &x, &y, &n), 0);
    assert_string_equal(x, TALLY_OTHER);
    assert_string_equal(y, TALLY_OTHER);
    assert_int_equal(n, 1000);
    assert_int_equal(tally_at(t, 4, &x, &y, &n), -1);
    assert_int_equal(tally_sum(t), 1006);
    /* a long value is cut, and the cut value is one pair */
    struct tally *u = tally_new(8);
    char longv[200];
    memset(longv, 'x', sizeof longv - 1);
    longv[sizeof longv - 1] = 0;
    tally_add(u, longv, "b", 1);
    longv[150] = 'y';   /* differs after the cut */
    tally_add(u, longv, "b", 1);
    assert_int_equal(tally_count(u), 1);
    tally_destroy(&u);
    tally_destroy(&t);
    tally_destroy(&t);   /* safe twice */
    assert_null(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),     cmocka_unit_test(test_escape),    cmocka_unit_test(test_escape_every_byte),
        cmocka_unit_test(test_samples),   cmocka_unit_test(test_histogram), cmocka_unit_test(test_tally_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
