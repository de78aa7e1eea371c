/* test_gossip_keyring.c: key files (generate, refuse to overwrite, refuse a readable secret),
 * loading a peers directory, origin ids, signatures, and `sgcluster keygen`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gossip/keyring.h"

int cli_keygen(int argc, char **argv);

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_gossip_keyring.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    return rmdir(dir);
}

static void path_of(char *out, size_t n, const char *name, const char *ext)
{
    snprintf(out, n, "%s/%s.%s", dir, name, ext);
}

static void test_generate_and_load(void **state)
{
    (void)state;
    char kp[256], pp[256];
    assert_int_equal(gossip_identity_generate(dir, "mx1"), 0);
    path_of(kp, sizeof kp, "mx1", "key");
    path_of(pp, sizeof pp, "mx1", "pub");
    struct stat st;
    assert_int_equal(stat(kp, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(pp, &st), 0);
    /* Refuses to overwrite, and leaves the files alone. */
    errno = 0;
    assert_int_equal(gossip_identity_generate(dir, "mx1"), -1);
    assert_int_equal(errno, EEXIST);
    struct gossip_identity *id = gossip_identity_load(dir, "mx1");
    assert_non_null(id);
    assert_string_equal(id->name, "mx1");
    uint64_t o = 0;
    for (int i = 0; i < 8; i++) o = o << 8 | id->pk[i];
    assert_true(id->origin == o && o == gossip_origin_of(id->pk));
    /* The .pub file is one base64 line. */
    FILE *f = fopen(pp, "r");
    char line[128];
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_int_equal(strlen(line), 45);   /* 44 base64 characters and a newline */
    /* Signatures. */
    uint8_t sig[GOSSIP_SIG_LEN];
    gossip_sign(id, (const uint8_t *)"hello", 5, sig);
    assert_true(gossip_verify(id->pk, (const uint8_t *)"hello", 5, sig));
    assert_false(gossip_verify(id->pk, (const uint8_t *)"hellO", 5, sig));
    gossip_identity_destroy(&id);
    gossip_identity_destroy(&id);
    /* A secret readable by others is refused. */
    chmod(kp, 0640);
    assert_null(gossip_identity_load(dir, "mx1"));
    chmod(kp, 0600);
    /* A .pub that does not match the secret is refused. */
    assert_int_equal(gossip_identity_generate(dir, "mx2"), 0);
    char pp2[256], kp2[256];
    path_of(pp2, sizeof pp2, "mx2", "pub");
    path_of(kp2, sizeof kp2, "mx2", "key");
    unlink(pp2);
    assert_int_equal(link(pp, pp2), 0);
    assert_null(gossip_identity_load(dir, "mx2"));
    unlink(pp2);
    unlink(kp2);
    /* Bad names. */
    assert_int_equal(gossip_identity_generate(dir, "../evil"), -1);
    assert_int_equal(gossip_identity_generate(dir, ""), -1);
    assert_null(gossip_identity_load(dir, "no-such-node"));
}

static void test_keyring_dir(void **state)
{
    (void)state;
    assert_int_equal(gossip_identity_generate(dir, "mx2"), 0);
    assert_int_equal(gossip_identity_generate(dir, "mx3"), 0);
    struct gossip_keyring *kr = gossip_keyring_new();
    assert_int_equal(gossip_keyring_load_dir(kr, dir), 3);   /* mx1 from the test before, mx2, mx3 */
    assert_int_equal(gossip_keyring_count(kr), 3);
    struct gossip_identity *id = gossip_identity_load(dir, "mx3");
    const struct gossip_peer_key *k = gossip_keyring_find(kr, id->origin);
    assert_non_null(k);
    assert_string_equal(k->name, "mx3");
    assert_memory_equal(k->pk, id->pk, GOSSIP_PK_LEN);
    assert_ptr_equal(gossip_keyring_find_name(kr, "mx3"), k);
    assert_null(gossip_keyring_find(kr, id->origin ^ 1));
    assert_null(gossip_keyring_at(kr, 3));
    /* Loading again adds nothing; the same key under another name is refused. */
    assert_int_equal(gossip_keyring_load_dir(kr, dir), 0);
    assert_int_equal(gossip_keyring_add_identity(kr, id), 0);
    assert_int_equal(gossip_keyring_add(kr, "other", id->pk), -1);
    /* Pointers handed out stay valid while the keyring grows. */
    for (int i = 0; i < 40; i++) {
        uint8_t seed[32];
        memset(seed, i + 1, sizeof seed);
        char name[16];
        snprintf(name, sizeof name, "n%d", i);
        struct gossip_identity *x = gossip_identity_from_seed(name, seed);
        assert_int_equal(gossip_keyring_add_identity(kr, x), 0);
        gossip_identity_destroy(&x);
    }
    assert_string_equal(k->name, "mx3");
    gossip_identity_destroy(&id);
    /* A pasted key with blanks and a CRLF line end is fine. */
    char pasted[256], line[128];
    path_of(pasted, sizeof pasted, "mx3", "pub");
    FILE *in = fopen(pasted, "r");
    assert_non_null(fgets(line, sizeof line, in));
    fclose(in);
    line[strcspn(line, "\n")] = 0;
    struct gossip_keyring *kr2 = gossip_keyring_new();
    char sub[128];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(pasted, sizeof pasted, "%s/pasted.pub", sub);
    FILE *o = fopen(pasted, "w");
    fprintf(o, "  %s \r\n", line);
    fclose(o);
    assert_int_equal(gossip_keyring_load_dir(kr2, sub), 1);
    assert_memory_equal(gossip_keyring_find_name(kr2, "pasted")->pk, k->pk, GOSSIP_PK_LEN);
    gossip_keyring_destroy(&kr2);
    unlink(pasted);
    rmdir(sub);
    /* A malformed .pub makes the load fail (and says so). */
    char bad[256];
    path_of(bad, sizeof bad, "broken", "pub");
    FILE *f = fopen(bad, "w");
    fputs("not base64 at all\n", f);
    fclose(f);
    assert_int_equal(gossip_keyring_load_dir(kr, dir), -1);
    unlink(bad);
    assert_int_equal(gossip_keyring_load_dir(kr, "/nonexistent-dir"), -1);
    gossip_keyring_destroy(&kr);
    gossip_keyring_destroy(&kr);
}

/* A holder of the keyring (the state, a transport) sees the other keyring's keys after a swap. */
static void test_keyring_swap(void **state)
{
    (void)state;
    uint8_t seed[32];
    struct gossip_identity *id[3];
    for (int i = 0; i < 3; i++) {
        char name[16];
        memset(seed, 0x10 + i, sizeof seed);
        snprintf(name, sizeof name, "k%d", i);
        id[i] = gossip_identity_from_seed(name, seed);
    }
    struct gossip_keyring *held = gossip_keyring_new(), *fresh = gossip_keyring_new();
    const struct gossip_keyring *holder = held;
    gossip_keyring_add_identity(held, id[0]);
    gossip_keyring_add_identity(held, id[1]);
    gossip_keyring_add_identity(fresh, id[0]);
    gossip_keyring_add_identity(fresh, id[2]);
    gossip_keyring_swap(held, fresh);
    assert_ptr_equal(holder, held);
    assert_non_null(gossip_keyring_find(holder, id[2]->origin));
    assert_null(gossip_keyring_find(holder, id[1]->origin));
    assert_non_null(gossip_keyring_find(fresh, id[1]->origin));
    assert_int_equal(gossip_keyring_count(holder), 2);
    gossip_keyring_destroy(&fresh);
    assert_non_null(gossip_keyring_find_name(holder, "k2"));
    gossip_keyring_destroy(&held);
    for (int i = 0; i < 3; i++) gossip_identity_destroy(&id[i]);
}

static void test_cli_keygen(void **state)
{
    (void)state;
    char *ok[] = {"keygen", "--node", "edge-1", dir, NULL};
    assert_int_equal(cli_keygen(4, ok), 0);
    char kp[256];
    path_of(kp, sizeof kp, "edge-1", "key");
    struct stat st;
    assert_int_equal(stat(kp, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(cli_keygen(4, ok), 1);                      /* exists: refused */
    char *eq[] = {"keygen", "--node=edge-2", dir, NULL};
    assert_int_equal(cli_keygen(3, eq), 0);
    char *noname[] = {"keygen", dir, NULL};
    assert_int_equal(cli_keygen(2, noname), 2);
    char *nodir[] = {"keygen", "--node", "x", "/nonexistent-dir", NULL};
    assert_int_equal(cli_keygen(4, nodir), 1);
    char *badname[] = {"keygen", "--node", "a/b", dir, NULL};
    assert_int_equal(cli_keygen(4, badname), 1);
    char *extra[] = {"keygen", "--node", "x", dir, dir, NULL};
    assert_int_equal(cli_keygen(5, extra), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_and_load),
        cmocka_unit_test(test_keyring_dir),
        cmocka_unit_test(test_keyring_swap),
        cmocka_unit_test(test_cli_keygen),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
