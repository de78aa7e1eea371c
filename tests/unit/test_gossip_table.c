/* test_gossip_table.c: the state's hash table: gets, puts and deletes against a plain list, and
 * gossip_table_range, which the incremental snapshot walks: across resizes and deletes between
 * calls, each entry present throughout is returned exactly once, ranges in increasing hash order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/table.h"

struct ent {
    uint64_t hash;
    char key[24];
    int seen;
    bool in;
};

static const char *keyof(const void *e) { return ((const struct ent *)e)->key; }
static uint64_t hashof(const void *e) { return ((const struct ent *)e)->hash; }

enum { N = 20000 };

static struct ent *make(void)
{
    struct ent *v = calloc(N, sizeof *v);
    for (int i = 0; i < N; i++) {
        snprintf(v[i].key, sizeof v[i].key, "k%d", i);
        v[i].hash = gossip_table_hash(v[i].key);
    }
    return v;
}

static void test_get_put_del(void **state)
{
    (void)state;
    struct ent *v = make();
    struct gossip_table t;
    gossip_table_init(&t, keyof, hashof);
    for (int i = 0; i < N; i++) gossip_table_put(&t, &v[i]);
    for (int i = 0; i < N; i += 3) assert_int_not_equal(gossip_table_del(&t, &v[i]), (size_t)-1);
    for (int i = 0; i < N; i++) {
        void *got = gossip_table_get(&t, v[i].key, v[i].hash);
        if (i % 3 == 0) assert_null(got);
        else assert_ptr_equal(got, &v[i]);
    }
    assert_int_equal(gossip_table_del(&t, &v[0]), (size_t)-1);
    gossip_table_fini(&t);
    free(v);
}

/* Ranges of about 50 entries; between calls a third of the entries are deleted and the rest put
 * in, which doubles the table twice. Entries present throughout are all seen once; none twice;
 * every range's hashes lie above the previous range's. */
static void test_range_once_in_hash_order(void **state)
{
    (void)state;
    struct ent *v = make();
    struct gossip_table t;
    gossip_table_init(&t, keyof, hashof);
    for (int i = 0; i < N / 4; i++) {
        gossip_table_put(&t, &v[i]);
        v[i].in = true;
    }
    void **got = NULL;
    size_t cap = 0, calls = 0;
    uint64_t from = 0, next, floor = 0;
    bool last = false;
    int added = N / 4, deleted = 0;
    while (!last) {
        size_t n = gossip_table_range(&t, from, 50, &got, &cap, &next, &last);
        calls++;
        for (size_t i = 0; i < n; i++) {
            struct ent *e = got[i];
            e->seen++;
            assert_true(e->hash >= floor);
            assert_true(last || e->hash < next);
        }
        floor = last ? floor : next;
        from = next;
        for (int k = 0; k < 40 && added < N; k++, added++) {
            gossip_table_put(&t, &v[added]);
            v[added].in = true;
        }
        if (calls % 2 == 0 && deleted < N / 4) {
            gossip_table_del(&t, &v[deleted]);
            v[deleted].in = false;
            deleted += 3;
        }
    }
    assert_true(calls > 20);
    int throughout = 0, twice = 0;
    for (int i = 0; i < N; i++) {
        if (v[i].seen > 1) twice++;
        /* Put before the walk and never deleted. */
        if (i < N / 4 && v[i].in) {
            assert_int_equal(v[i].seen, 1);
            throughout++;
        }
    }
    assert_int_equal(twice, 0);
    assert_true(throughout > N / 8);
    assert_true(t.cap > (size_t)N / 4 * 4 / 3 * 2);   /* it did resize during the walk */
    free(got);
    gossip_table_fini(&t);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_put_del),
        cmocka_unit_test(test_range_once_in_hash_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
