/* test_detect_source.c: log sources on real files in a temporary directory: a file that appears late,
 * first sight at the end, partial lines, rotation by rename-and-create and by copytruncate (no line
 * lost or repeated), restart resume from the saved cursor (also across a rotation while stopped),
 * oversized lines, the inotify descriptor waking a poll, and a bounded look (turn_bytes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/util.h"
#include "detect/detect.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct lines {
    char buf[8192];
    size_t len;
    int n;
};

static void on_line(const char *line, size_t len, void *arg)
{
    struct lines *l = arg;
    assert_true(l->len + len + 2 < sizeof l->buf);
    memcpy(l->buf + l->len, line, len);
    l->len += len;
    l->buf[l->len++] = '|';
    l->buf[l->len] = '\0';
    l->n++;
}

static char dir[64];
static char logp[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/sgdetect-srcXXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(logp, sizeof logp, "%s/mail.log", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void append(const char *path, const char *text)
{
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* cp(1) or mv(1) from a to b, as logrotate does. */
static void run2(const char *prog, const char *a, const char *b)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s '%s' '%s'", prog, a, b);
    assert_int_equal(system(cmd), 0);
}

static struct lines pump(struct detect_source *s)
{
    struct lines l;
    memset(&l, 0, sizeof l);
    assert_true(detect_source_check(s, on_line, &l) >= 0);
    return l;
}

static void test_late_file_and_first_sight(void **state)
{
    (void)state;
    /* Missing at start: waited for, then read from its first line. */
    struct detect_source *s = detect_source_new(logp, NULL);
    assert_non_null(s);
    assert_true(detect_source_fd(s) >= 0);
    assert_int_equal(pump(s).n, 0);
    append(logp, "one\ntwo\n");
    struct lines l = pump(s);
    assert_string_equal(l.buf, "one|two|");
    detect_source_destroy(&s);
    detect_source_destroy(&s);   /* safe twice */
    /* Seen for the first time while it exists: starts at its end, unless from_start. */
    s = detect_source_new(logp, NULL);
    assert_int_equal(pump(s).n, 0);
    append(logp, "three\n");
    assert_string_equal(pump(s).buf, "three|");
    detect_source_destroy(&s);
    struct detect_source_opts o = {.from_start = true};
    s = detect_source_new(logp, &o);
    assert_string_equal(pump(s).buf, "one|two|three|");
    /* A partial line waits for its newline. */
    append(logp, "par");
    assert_int_equal(pump(s).n, 0);
    append(logp, "tial\n");
    assert_string_equal(pump(s).buf, "partial|");
    detect_source_destroy(&s);
}

static void test_inotify_wakes_poll(void **state)
{
    (void)state;
    append(logp, "old\n");
    struct detect_source *s = detect_source_new(logp, NULL);
    assert_int_equal(pump(s).n, 0);   /* opens the file and sets the watches */
    append(logp, "new\n");
    struct pollfd pfd = {.fd = detect_source_fd(s), .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 2000), 1);
    struct lines l;
    memset(&l, 0, sizeof l);
    assert_int_equal(detect_source_read(s, on_line, &l), 1);
    assert_string_equal(l.buf, "new|");
    detect_source_destroy(&s);
}

static void test_rotate_rename(void **state)
{
    (void)state;
    char old[160];
    snprintf(old, sizeof old, "%s.1", logp);
    append(logp, "a\n");
    struct detect_source_opts o = {.from_start = true};
    struct detect_source *s = detect_source_new(logp, &o);
    assert_string_equal(pump(s).buf, "a|");
    append(logp, "b\n");                    /* not read before the rotation */
    assert_int_equal(rename(logp, old), 0);
    append(old, "c\n");                     /* the daemon still writes to its open file */
    append(logp, "d\ne\n");                 /* then reopens: a new file */
    struct lines l = pump(s);
    assert_string_equal(l.buf, "b|c|d|e|");
    append(logp, "f\n");
    assert_string_equal(pump(s).buf, "f|");
    /* The daemon has not reopened its log yet: its writes to the renamed file still arrive. */
    append(old, "late\n");
    assert_string_equal(pump(s).buf, "late|");
    struct detect_source_counters c;
    detect_source_counters(s, &c);
    assert_int_equal(c.rotations, 1);
    /* Renamed away and not yet recreated: the old file is still followed. */
    run2("mv", logp, old);
    append(old, "g\n");
    assert_string_equal(pump(s).buf, "g|");
    append(logp, "h\n");
    assert_string_equal(pump(s).buf, "h|");
    detect_source_destroy(&s);
}

static void test_copytruncate(void **state)
{
    (void)state;
    char copy[160];
    snprintf(copy, sizeof copy, "%s.1", logp);
    append(logp, "l1\nl2\n");
    struct detect_source_opts o = {.from_start = true};
    struct detect_source *s = detect_source_new(logp, &o);
    assert_string_equal(pump(s).buf, "l1|l2|");
    append(logp, "l3\nl4\n");               /* written, not read yet, when logrotate copies */
    run2("cp", logp, copy);
    assert_int_equal(truncate(logp, 0), 0);
    append(logp, "l5\n");
    struct lines l = pump(s);
    assert_string_equal(l.buf, "l3|l4|l5|");
    /* Truncated and refilled past our offset before we look: the first line tells. */
    append(logp, "l6\n");
    assert_string_equal(pump(s).buf, "l6|");
    run2("cp", logp, copy);
    assert_int_equal(truncate(logp, 0), 0);
    append(logp, "a much longer first line than before\nsecond\n");
    assert_string_equal(pump(s).buf, "a much longer first line than before|second|");
    struct detect_source_counters c;
    detect_source_counters(s, &c);
    assert_int_equal(c.truncations, 2);
    detect_source_destroy(&s);
}

static void test_restart_resume(void **state)
{
    (void)state;
    char st[160], old[160];
    snprintf(st, sizeof st, "%s/cursors", dir);
    snprintf(old, sizeof old, "%s.1", logp);
    append(logp, "r1\nr2\n");
    struct detect_source_opts o = {.from_start = true};
    struct detect_source *s = detect_source_new(logp, &o);
    assert_string_equal(pump(s).buf, "r1|r2|");
    append(logp, "r3\npartial");
    assert_string_equal(pump(s).buf, "r3|");
    assert_int_equal(detect_state_save(st, &s, 1, NULL), 0);
    detect_source_destroy(&s);
    /* Restart: resumes at the saved cursor, the partial line included once complete. */
    append(logp, " line\nr4\n");
    s = detect_source_new(logp, NULL);
    assert_int_equal(detect_state_load(st, &s, 1, NULL), 0);
    assert_string_equal(pump(s).buf, "partial line|r4|");
    assert_int_equal(detect_state_save(st, &s, 1, NULL), 0);
    detect_source_destroy(&s);
    /* Rotated while stopped: the rest of the old file (found by its first line), then the new file. */
    append(logp, "r5\n");
    assert_int_equal(rename(logp, old), 0);
    append(logp, "n1\n");
    s = detect_source_new(logp, NULL);
    assert_int_equal(detect_state_load(st, &s, 1, NULL), 0);
    assert_string_equal(pump(s).buf, "r5|n1|");
    detect_source_destroy(&s);
    /* A missing state file means nothing to resume; a garbled one is an error. */
    s = detect_source_new(logp, NULL);
    char nost[200];
    snprintf(nost, sizeof nost, "%s/none", dir);
    assert_int_equal(detect_state_load(nost, &s, 1, NULL), 0);
    append(st, "garbage line\n");
    assert_int_equal(detect_state_load(st, &s, 1, NULL), -1);
    detect_source_destroy(&s);
}

static void test_oversized_line(void **state)
{
    (void)state;
    struct detect_source_opts o = {.from_start = true, .max_line = 64};
    char big[300];
    memset(big, 'x', sizeof big - 2);
    big[sizeof big - 2] = '\n';
    big[sizeof big - 1] = '\0';
    append(logp, "short\n");
    append(logp, big);
    append(logp, "after\n");
    struct detect_source *s = detect_source_new(logp, &o);
    assert_string_equal(pump(s).buf, "short|after|");
    struct detect_source_counters c;
    detect_source_counters(s, &c);
    assert_int_equal(c.oversized, 1);
    assert_int_equal(c.lines, 2);
    /* An oversized line still being written is skipped once it ends. */
    append(logp, big);
    big[sizeof big - 2] = 'y';
    append(logp, big);   /* no newline yet */
    assert_int_equal(pump(s).n, 0);
    append(logp, "\nlast\n");
    assert_string_equal(pump(s).buf, "last|");
    detect_source_counters(s, &c);
    assert_int_equal(c.oversized, 3);
    detect_source_destroy(&s);
}

/* A bounded source (opts.turn_bytes) never reads more than its turn in one look, says it is behind,
 * and delivers every line exactly once, in order, over the looks that follow; an unbounded one
 * reads all there is at once. */
struct seq {
    int next, bad, n;
};

static void on_seq(const char *line, size_t len, void *arg)
{
    struct seq *q = arg;
    char buf[32];
    if (len >= sizeof buf) { q->bad++; return; }
    memcpy(buf, line, len);
    buf[len] = '\0';
    if (atoi(buf + 5) != q->next) q->bad++;
    q->next++;
    q->n++;
}

static void test_turn_bytes_bounded(void **state)
{
    (void)state;
    FILE *f = fopen(logp, "w");
    assert_non_null(f);
    for (int i = 0; i < 20000; i++) fprintf(f, "line %06d\n", i);   /* 12 bytes a line, 240 KB */
    fclose(f);
    struct detect_source_opts o = {.from_start = true, .turn_bytes = 16384};
    struct detect_source *s = detect_source_new(logp, &o);
    struct seq q = {0};
    assert_true(detect_source_check(s, on_seq, &q) >= 0);
    assert_true(q.n > 0 && q.n <= 16384 / 12 + 1);   /* one turn, not the whole file */
    assert_true(detect_source_behind(s));
    int looks = 1;
    while (detect_source_behind(s) && looks < 1000) {
        int before = q.n;
        assert_true(detect_source_check(s, on_seq, &q) >= 0);
        assert_true(q.n - before <= 16384 / 12 + 1);
        looks++;
    }
    assert_false(detect_source_behind(s));
    assert_int_equal(q.n, 20000);
    assert_int_equal(q.bad, 0);
    assert_true(looks >= 240000 / 16384);
    /* A line cut at the turn's edge is kept and completed, not lost or split. */
    append(logp, "line 020000\n");
    assert_true(detect_source_check(s, on_seq, &q) >= 0);
    assert_int_equal(q.n, 20001);
    assert_int_equal(q.bad, 0);
    detect_source_destroy(&s);

    /* Unbounded: one look reads it all. */
    struct detect_source_opts u = {.from_start = true};
    s = detect_source_new(logp, &u);
    struct seq all = {0};
    assert_true(detect_source_check(s, on_seq, &all) >= 0);
    assert_int_equal(all.n, 20001);
    assert_false(detect_source_behind(s));
    detect_source_destroy(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_late_file_and_first_sight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inotify_wakes_poll, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotate_rename, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copytruncate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_turn_bytes_bounded, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
