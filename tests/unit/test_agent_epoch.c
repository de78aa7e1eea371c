/* test_agent_epoch.c: the boot epoch is stored and only grows: the same second twice, a clock behind
 * the stored epoch, an unreadable file, a directory it cannot write to. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/sgepochXXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char p[128];
    snprintf(p, sizeof p, "%s/epoch", dir);
    unlink(p);
    return rmdir(dir);
}

static uint32_t stored(void)
{
    char p[128];
    snprintf(p, sizeof p, "%s/epoch", dir);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    unsigned v = 0;
    assert_int_equal(fscanf(f, "%u", &v), 1);
    fclose(f);
    return v;
}

static void store(const char *text)
{
    char p[128];
    snprintf(p, sizeof p, "%s/epoch", dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_grows(void **state)
{
    (void)state;
    uint32_t e;
    assert_int_equal(agent_epoch_next(dir, 1000, &e), 0);   /* first start: the clock */
    assert_int_equal(e, 1000);
    assert_int_equal(stored(), 1000);
    assert_int_equal(agent_epoch_next(dir, 1000, &e), 0);   /* again within the same second */
    assert_int_equal(e, 1001);
    assert_int_equal(agent_epoch_next(dir, 1000, &e), 0);   /* and again */
    assert_int_equal(e, 1002);
    assert_int_equal(agent_epoch_next(dir, 900, &e), 0);    /* the clock stepped back */
    assert_int_equal(e, 1003);
    assert_int_equal(stored(), 1003);
    assert_int_equal(agent_epoch_next(dir, 5000, &e), 0);   /* the clock is ahead again: it wins */
    assert_int_equal(e, 5000);
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s/epoch.tmp", dir);
    assert_int_equal(access(tmp, F_OK), -1);                /* renamed, nothing left behind */
}

static void test_bad_file(void **state)
{
    (void)state;
    uint32_t e;
    store("garbage\n");
    assert_int_equal(agent_epoch_next(dir, 2000, &e), 0);   /* unreadable: from the clock */
    assert_int_equal(e, 2000);
    store("4294967294\n");                                  /* the last epoch there can be */
    assert_int_equal(agent_epoch_next(dir, 2000, &e), -1);
}

static void test_unwritable(void **state)
{
    (void)state;
    uint32_t e = 7;
    char missing[128];
    snprintf(missing, sizeof missing, "%s/no/such/dir", dir);
    assert_int_equal(agent_epoch_next(missing, 3000, &e), -1);   /* not started with an epoch it may repeat */
    assert_int_equal(e, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_grows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unwritable, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
