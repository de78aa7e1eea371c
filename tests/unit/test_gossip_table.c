/* test_gossip_table.c: the state's hash table: gets, puts and deletes against a plain list, and
 * gossip_table_range, which the incremental snapshot walks: across resizes and deletes between
 * calls, each entry present throughout is returned exactly once, ranges in increasing placement
 * order. Keys chosen to collide under the public hash do not pile onto one run of slots, and two
 * tables place the same keys differently. */
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
static unsigned long hashof_calls;   /* gossip_table_get asks for one entry's hash per slot it probes */
static uint64_t hashof(const void *e)
{
    hashof_calls++;
    return ((const struct ent *)e)->hash;
}

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
            uint64_t p = gossip_table_place(&t, e->hash);
            assert_true(p >= floor);
            assert_true(last || p < next);
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

/* The slots gossip_table_get probes for each entry (the entries' hashes it compares), the longest. */
static unsigned long max_probes(const struct gossip_table *t, struct ent *v, int n)
{
    unsigned long most = 0;
    for (int i = 0; i < n; i++) {
        unsigned long before = hashof_calls;
        assert_ptr_equal(gossip_table_get(t, v[i].key, v[i].hash), &v[i]);
        if (hashof_calls - before > most) most = hashof_calls - before;
    }
    return most;
}

/* An attacker who knows the public hash (gossip_table_hash: SipHash under a key in the source) picks
 * user names whose hashes share their top 8 bits: found by trying names, 256 tries a name. Placed by
 * that hash, all 2,000 would fall in 1/256 of the table (16 of 4,096 slots) and a lookup would probe
 * up to 2,000 slots (every insert and lookup of such a key O(n): hash flooding). Placed under the
 * table's secret key they spread like any keys. */
static void test_public_collisions_spread(void **state)
{
    (void)state;
    enum { FLOOD = 2000 };
    struct ent *v = calloc(FLOOD, sizeof *v);
    unsigned tries = 0;
    for (int n = 0; n < FLOOD; tries++) {
        snprintf(v[n].key, sizeof v[n].key, "users|x%u", tries);
        v[n].hash = gossip_table_hash(v[n].key);
        if (v[n].hash >> 56 == 0x5a) n++;
    }
    struct gossip_table t;
    gossip_table_init(&t, keyof, hashof);
    for (int i = 0; i < FLOOD; i++) gossip_table_put(&t, &v[i]);
    assert_int_equal(t.cap, 4096);
    unsigned long most = max_probes(&t, v, FLOOD);
    /* Random placement at load 1/2: the longest probe is a few tens of slots; 2,000 under the old one. */
    print_message("%d keys (%u names tried): longest probe %lu slots of %zu\n", FLOOD, tries, most, t.cap);
    assert_true(most < 100);
    gossip_table_fini(&t);
    free(v);
}

/* The same keys in two tables: their placements differ (each table draws its own key), their public
 * hashes do not. */
static void test_tables_place_differently(void **state)
{
    (void)state;
    struct ent *v = make();
    struct gossip_table a, b;
    gossip_table_init(&a, keyof, hashof);
    gossip_table_init(&b, keyof, hashof);
    for (int i = 0; i < N; i++) {
        gossip_table_put(&a, &v[i]);
        gossip_table_put(&b, &v[i]);
    }
    assert_int_equal(a.cap, b.cap);
    size_t same = 0;
    for (size_t i = 0; i < a.cap; i++)
        if (a.slots[i] && a.slots[i] == b.slots[i]) same++;
    assert_true(same < (size_t)N / 100);   /* by chance: about N / cap, under one */
    for (int i = 0; i < N; i++) assert_int_equal(v[i].hash, gossip_table_hash(v[i].key));
    gossip_table_fini(&a);
    gossip_table_fini(&b);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_put_del),
        cmocka_unit_test(test_range_once_in_hash_order),
        cmocka_unit_test(test_public_collisions_spread),
        cmocka_unit_test(test_tables_place_differently),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
