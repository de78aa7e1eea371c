/* keyring.c: Ed25519 key files (base64, one line) and the in-memory keyring of peers' public keys. */
#include "gossip/keyring.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/util.h"

/* Keys are allocated one by one so that pointers handed out stay valid while the ring grows. */
struct gossip_keyring {
    struct gossip_peer_key **keys;
    size_t n, cap;
};

uint64_t gossip_origin_of(const uint8_t pk[GOSSIP_PK_LEN])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | pk[i];
    return v;
}

static int sodium_ready(void)
{
    /* sodium_init is idempotent and thread-safe; <0 means no usable random source. */
    if (sodium_init() < 0) { sg_log(SG_LOG_ERR, "gossip: libsodium failed to initialise"); return -1; }
    return 0;
}

static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > GOSSIP_NAME_MAX || name[0] == '.') return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

/* Writes one base64 line to a new file (O_EXCL: never overwrites). */
static int write_b64_file(const char *path, const uint8_t *bin, size_t len, mode_t mode)
{
    char b64[128];
    sodium_bin2base64(b64, sizeof b64, bin, len, sodium_base64_VARIANT_ORIGINAL);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) return -1;
    size_t n = strlen(b64);
    b64[n++] = '\n';
    int rc = (write(fd, b64, n) == (ssize_t)n && fsync(fd) == 0) ? 0 : -1;
    if (close(fd) != 0) rc = -1;
    sodium_memzero(b64, sizeof b64);
    return rc;
}

/* Reads one base64 line holding exactly want bytes. private: refuse group/other-accessible files. */
static int read_b64_file(const char *path, uint8_t *bin, size_t want, bool private_file)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { sg_log(SG_LOG_ERR, "gossip: cannot open %s: %s", path, strerror(errno)); return -1; }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        sg_log(SG_LOG_ERR, "gossip: %s is not a regular file", path);
        close(fd);
        return -1;
    }
    if (private_file && (st.st_mode & 077)) {
        sg_log(SG_LOG_ERR, "gossip: refusing %s: secret key readable by group or others (mode %03o; chmod 600)", path,
               (unsigned)(st.st_mode & 0777));
        close(fd);
        return -1;
    }
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) { sg_log(SG_LOG_ERR, "gossip: %s is empty or unreadable", path); return -1; }
    buf[n] = 0;
    size_t len = strcspn(buf, "\r\n");
    size_t got = 0;
    /* Blanks around or inside the line (a hand-edited or pasted key) are skipped. */
    int rc = sodium_base642bin(bin, want, buf, len, " \t", &got, NULL, sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(buf, sizeof buf);
    if (rc != 0 || got != want) {
        sg_log(SG_LOG_ERR, "gossip: %s: expected one base64 line of %zu bytes", path, want);
        return -1;
    }
    return 0;
}

int gossip_identity_generate(const char *dir, const char *name)
{
    if (sodium_ready() != 0) return -1;
    if (!name_ok(name)) { errno = EINVAL; return -1; }
    char kpath[4096], ppath[4096];
    snprintf(kpath, sizeof kpath, "%s/%s.key", dir, name);
    snprintf(ppath, sizeof ppath, "%s/%s.pub", dir, name);
    if (access(kpath, F_OK) == 0 || access(ppath, F_OK) == 0) { errno = EEXIST; return -1; }
    uint8_t seed[32], pk[GOSSIP_PK_LEN], sk[GOSSIP_SK_LEN];
    randombytes_buf(seed, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
    int rc = -1;
    if (write_b64_file(kpath, seed, sizeof seed, 0600) != 0) goto done;
    if (write_b64_file(ppath, pk, sizeof pk, 0644) != 0) {
        int e = errno;
        unlink(kpath);   /* a lone secret key is worse than none */
        errno = e;
        goto done;
    }
    rc = 0;
done:
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(sk, sizeof sk);
    return rc;
}

struct gossip_identity *gossip_identity_from_seed(const char *name, const uint8_t seed[32])
{
    if (sodium_ready() != 0 || strlen(name) > GOSSIP_NAME_MAX) return NULL;
    struct gossip_identity *id = sg_xcalloc(1, sizeof *id);
    snprintf(id->name, sizeof id->name, "%s", name);
    crypto_sign_seed_keypair(id->pk, id->sk, seed);
    id->origin = gossip_origin_of(id->pk);
    return id;
}

struct gossip_identity *gossip_identity_load(const char *dir, const char *name)
{
    if (!name_ok(name)) { sg_log(SG_LOG_ERR, "gossip: bad node name '%s'", name); return NULL; }
    char path[4096];
    uint8_t seed[32], pk[GOSSIP_PK_LEN];
    snprintf(path, sizeof path, "%s/%s.key", dir, name);
    if (read_b64_file(path, seed, sizeof seed, true) != 0) return NULL;
    struct gossip_identity *id = gossip_identity_from_seed(name, seed);
    sodium_memzero(seed, sizeof seed);
    if (!id) return NULL;
    snprintf(path, sizeof path, "%s/%s.pub", dir, name);
    if (access(path, F_OK) == 0) {
        if (read_b64_file(path, pk, sizeof pk, false) != 0 || memcmp(pk, id->pk, sizeof pk) != 0) {
            sg_log(SG_LOG_ERR, "gossip: %s does not match %s/%s.key", path, dir, name);
            gossip_identity_destroy(&id);
            return NULL;
        }
    }
    return id;
}

void gossip_identity_destroy(struct gossip_identity **pid)
{
    if (!pid || !*pid) return;
    sodium_memzero(*pid, sizeof **pid);
    free(*pid);
    *pid = NULL;
}

void gossip_sign(const struct gossip_identity *id, const uint8_t *msg, size_t len, uint8_t sig[GOSSIP_SIG_LEN])
{
    crypto_sign_detached(sig, NULL, msg, len, id->sk);
}

bool gossip_verify(const uint8_t pk[GOSSIP_PK_LEN], const uint8_t *msg, size_t len, const uint8_t sig[GOSSIP_SIG_LEN])
{
    return crypto_sign_verify_detached(sig, msg, len, pk) == 0;
}

struct gossip_keyring *gossip_keyring_new(void)
{
    if (sodium_ready() != 0) return NULL;
    return sg_xcalloc(1, sizeof(struct gossip_keyring));
}

void gossip_keyring_destroy(struct gossip_keyring **pkr)
{
    if (!pkr || !*pkr) return;
    for (size_t i = 0; i < (*pkr)->n; i++) free((*pkr)->keys[i]);
    free((*pkr)->keys);
    free(*pkr);
    *pkr = NULL;
}

int gossip_keyring_add(struct gossip_keyring *kr, const char *name, const uint8_t pk[GOSSIP_PK_LEN])
{
    if (!name_ok(name)) return -1;
    uint64_t origin = gossip_origin_of(pk);
    for (size_t i = 0; i < kr->n; i++) {
        struct gossip_peer_key *k = kr->keys[i];
        bool same_key = memcmp(k->pk, pk, GOSSIP_PK_LEN) == 0;
        if (same_key && !strcmp(k->name, name)) return 0;
        if (k->origin == origin || !strcmp(k->name, name)) {
            sg_log(SG_LOG_ERR, "gossip: key '%s' clashes with '%s' (same %s)", name, k->name,
                   k->origin == origin ? "origin id" : "name");
            return -1;
        }
    }
    if (kr->n == kr->cap) {
        kr->cap = kr->cap ? kr->cap * 2 : 8;
        kr->keys = sg_xrealloc(kr->keys, kr->cap * sizeof *kr->keys);
    }
    struct gossip_peer_key *k = sg_xcalloc(1, sizeof *k);
    kr->keys[kr->n++] = k;
    snprintf(k->name, sizeof k->name, "%s", name);
    memcpy(k->pk, pk, GOSSIP_PK_LEN);
    k->origin = origin;
    return 0;
}

int gossip_keyring_add_identity(struct gossip_keyring *kr, const struct gossip_identity *id)
{
    return gossip_keyring_add(kr, id->name, id->pk);
}

int gossip_keyring_load_dir(struct gossip_keyring *kr, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) { sg_log(SG_LOG_ERR, "gossip: cannot read key directory %s: %s", dir, strerror(errno)); return -1; }
    int added = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n <= 4 || strcmp(e->d_name + n - 4, ".pub") != 0 || e->d_name[0] == '.') continue;
        char name[GOSSIP_NAME_MAX + 1];
        if (n - 4 > GOSSIP_NAME_MAX) { rc = -1; continue; }
        memcpy(name, e->d_name, n - 4);
        name[n - 4] = 0;
        char path[4096];
        uint8_t pk[GOSSIP_PK_LEN];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t before = kr->n;
        if (read_b64_file(path, pk, sizeof pk, false) != 0 || gossip_keyring_add(kr, name, pk) != 0) {
            rc = -1;
            continue;
        }
        if (kr->n > before) added++;
    }
    closedir(d);
    return rc == 0 ? added : -1;
}

void gossip_keyring_swap(struct gossip_keyring *a, struct gossip_keyring *b)
{
    struct gossip_keyring t = *a;
    *a = *b;
    *b = t;
}

const struct gossip_peer_key *gossip_keyring_find(const struct gossip_keyring *kr, uint64_t origin)
{
    /* A cluster has tens of nodes: a linear scan beats a hash table here. */
    for (size_t i = 0; i < kr->n; i++)
        if (kr->keys[i]->origin == origin) return kr->keys[i];
    return NULL;
}

const struct gossip_peer_key *gossip_keyring_find_name(const struct gossip_keyring *kr, const char *name)
{
    for (size_t i = 0; i < kr->n; i++)
        if (!strcmp(kr->keys[i]->name, name)) return kr->keys[i];
    return NULL;
}

size_t gossip_keyring_count(const struct gossip_keyring *kr) { return kr->n; }

const struct gossip_peer_key *gossip_keyring_at(const struct gossip_keyring *kr, size_t i)
{
    return i < kr->n ? kr->keys[i] : NULL;
}
