/* state_sync.c: moving state between nodes: merging decoded bodies, collecting deltas, partition
 * digests and exports for anti-entropy sync, the canonical encoding and snapshots. */
#include "gossip/state_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/util.h"
#include "gossip/snapfile.h"

static size_t gcd(size_t a, size_t b)
{
    while (b) {
        size_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Index of the k-th entry to merge out of n: a scattered order. A body in hash order (a snapshot, or
 * an export in table order) merged in that order into a table that is still growing piles the keys
 * onto one run of slots, each insert probing the whole run: quadratic (300,000 keys: 34 s of CPU
 * instead of 0.4 s). Multiplying by a stride prime to n visits each index once. */
size_t gossip_state_merge_index(size_t k, size_t n)
{
    /* The stride is about n times the golden ratio's fraction, made prime to n: consecutive entries
     * land far apart whatever n is. A fixed prime did not: 1,000,003 is 3 modulo a million, which
     * merged a snapshot of a million keys almost in file order (46 s of CPU instead of 1.5 s). The
     * last stride is kept: a merge asks for the same n once per entry. */
    static _Thread_local size_t last_n, last_stride;
    if (n < 1024) return k;
    if (n != last_n) {
        size_t st = (size_t)((double)n * 0.6180339887498949) | 1;
        while (gcd(st, n) != 1) st += 2;
        last_n = n;
        last_stride = st;
    }
    return (size_t)((uint64_t)k * last_stride % n);
}

int gossip_state_merge(struct gossip_state *st, const struct gossip_body *b, uint64_t sender, unsigned flags,
                       int64_t now_ms, struct gossip_merge_result *res)
{
    return gossip_state_merge_marked(st, b, sender, flags, now_ms, res, NULL);
}

int gossip_state_merge_marked(struct gossip_state *st, const struct gossip_body *b, uint64_t sender, unsigned flags,
                              int64_t now_ms, struct gossip_merge_result *res, uint8_t *marks)
{
    struct gossip_merge_result local;
    if (!res) res = &local;
    memset(res, 0, sizeof *res);
    res->changed_marks = marks;
    int r;
    /* Bans first: they matter most, and their hlc is observed before anything else is stamped. A large
     * body's signatures are checked first, on threads (state_verify.c); the merge takes their verdicts. */
    uint8_t *sig = gossip_state_verify_bans(st, b, sender, flags, now_ms);
    for (size_t i = 0; i < b->n_bans; i++) {
        size_t j = gossip_state_merge_index(i, b->n_bans);
        enum gossip_sig v = sig ? (enum gossip_sig)sig[j] : GOSSIP_SIG_UNKNOWN;
        bool vouched = gossip_state_ban_vouched(&b->bans[j], sender, flags);
        if (vouched) {
            v = GOSSIP_SIG_OK;
            res->bans_vouched++;
        }
        r = gossip_state_merge_ban(st, &b->bans[j], flags, now_ms, v, vouched && (flags & GOSSIP_MERGE_SENDER_DIRECT),
                                   res);
        if (r > 0) res->changed++;
        else if (r == 0) res->ignored++;
    }
    free(sig);
    for (size_t i = 0; i < b->n_slots; i++) {
        size_t j = gossip_state_merge_index(i, b->n_slots);
        r = gossip_state_merge_slot(st, &b->slots[j], sender, flags, now_ms, res);
        if (r > 0) res->changed++;
        else if (r == 0) res->ignored++;
        if (marks) marks[j] = r > 0;
    }
    for (size_t i = 0; i < b->n_sketches; i++) {
        size_t j = gossip_state_merge_index(i, b->n_sketches);
        r = gossip_state_merge_sketch(st, &b->sketches[j], now_ms, res);
        if (r > 0) res->changed++;
        else if (r == 0) res->ignored++;
        if (marks) marks[b->n_slots + j] = r > 0;
    }
    res->rejected = res->rej_ban_sig + res->rej_future + res->rej_expired + res->rej_foreign + res->rej_cap +
                    res->rej_record;
    return 0;
}

void gossip_state_pack_ckey(const struct gossip_wkey *k, struct gossip_writer *w, bool dirty_only)
{
    for (uint32_t i = 0; i < k->n; i++) {
        const struct gossip_cell *c = &k->cells[i];
        if (!dirty_only || c->dirty) gossip_writer_slot(w, k->key, c->bucket, c->origin, c->epoch, c->count);
    }
}

void gossip_state_pack_skey(const struct gossip_wkey *k, struct gossip_writer *w, bool dirty_only)
{
    for (uint32_t i = 0; i < k->n; i++) {
        const struct gossip_skbucket *b = &k->b[i];
        if (!dirty_only) gossip_writer_sketch(w, k->key, b->bucket, b->sk);
        else if (b->dirty && b->full) gossip_writer_sketch(w, k->key, b->bucket, b->sk);
        else if (b->dirty) gossip_writer_sketch_hashes(w, k->key, b->bucket, b->pend, b->npend);
    }
}

enum entry_kind { EK_COUNTER, EK_SKETCH, EK_BAN };

/* Packs an entry (its dirty parts for deltas, all of it for exports). */
static void pack_entry(enum entry_kind kind, const void *e, struct gossip_writer *w, bool dirty_only)
{
    if (kind == EK_COUNTER) gossip_state_pack_ckey(e, w, dirty_only);
    else if (kind == EK_SKETCH) gossip_state_pack_skey(e, w, dirty_only);
    else gossip_writer_ban(w, &((const struct gossip_bkey *)e)->rec);
}

static void clear_dirty(enum entry_kind kind, void *e)
{
    if (kind == EK_COUNTER) {
        struct gossip_wkey *k = e;
        for (uint32_t i = 0; i < k->n; i++) k->cells[i].dirty = 0;
    } else if (kind == EK_SKETCH) {
        struct gossip_wkey *k = e;
        for (uint32_t i = 0; i < k->n; i++) {
            k->b[i].dirty = k->b[i].full = false;
            k->b[i].npend = 0;
        }
    }
}

/* Appends queued entries while they fit. An entry that overflows is rolled back (the sbuffer is a
 * plain byte array, so truncating its size undoes the packing) unless it is alone in the writer. */
static bool take_list(struct gossip_dirty *d, enum entry_kind kind, struct gossip_writer *w, size_t max_bytes,
                      size_t *taken)
{
    size_t i = d->head;
    bool full = false;
    for (; i < d->n; i++) {
        struct gossip_entry_head *h = d->v[i];
        if (!h) continue;
        size_t size0 = w->buf.size, entries0 = w->entries;
        pack_entry(kind, h, w, true);
        if (w->buf.size > max_bytes && entries0 > 0) {
            w->buf.size = size0;
            w->entries = entries0;
            full = true;
            break;
        }
        *taken += w->entries - entries0;
        clear_dirty(kind, h);
        h->dirty_pos = 0;
        d->live--;
    }
    d->taken += i - d->head;
    d->head = i;
    if (d->head == d->n) {
        d->head = d->n = 0;
    } else if (d->head > d->n / 2) {
        /* Cut off what was taken, renumbering the rest from the front: moving the whole queue at
         * every frame made a long queue (a million pending counters) quadratic. */
        size_t keep = 0;
        for (size_t j = d->head; j < d->n; j++) {
            struct gossip_entry_head *h = d->v[j];
            if (!h) continue;
            d->v[keep++] = h;
            h->dirty_pos = (uint32_t)keep;
        }
        d->taken += (d->n - d->head) - keep;   /* the removed entries' slots are passed too */
        d->head = 0;
        d->n = keep;
    }
    return full;
}

/* Bans first, then counters and sketches by turns: a frame filled by one list has the other start the
 * next. With counters always first, a node reading its logs faster than it flushed them (test 78 at a
 * million addresses) sent no sketch for minutes, and its `sent` (transport.h) stood still. */
size_t gossip_state_take_delta(struct gossip_state *st, struct gossip_writer *w, size_t max_bytes)
{
    size_t taken = 0;
    if (take_list(&st->dirty_b, EK_BAN, w, max_bytes, &taken)) return taken;
    bool s1 = st->sketches_first;
    if (take_list(s1 ? &st->dirty_s : &st->dirty_c, s1 ? EK_SKETCH : EK_COUNTER, w, max_bytes, &taken)) {
        st->sketches_first = !s1;
        return taken;
    }
    take_list(s1 ? &st->dirty_c : &st->dirty_s, s1 ? EK_COUNTER : EK_SKETCH, w, max_bytes, &taken);
    return taken;
}

size_t gossip_state_pending(const struct gossip_state *st)
{
    return st->dirty_b.live + st->dirty_c.live + st->dirty_s.live;
}

void gossip_state_pending_mark(const struct gossip_state *st, struct gossip_pending_mark *m)
{
    m->q[0] = st->dirty_b.added;
    m->q[1] = st->dirty_c.added;
    m->q[2] = st->dirty_s.added;
}

/* A list's slots are passed in order, and a slot is passed once its entry went out or was removed:
 * the queue is past the mark when the slots passed reach the slots appended by then, or when nothing
 * is left in it. */
static bool list_past(const struct gossip_dirty *d, uint64_t added)
{
    return d->live == 0 || d->taken >= added;
}

bool gossip_state_pending_sent(const struct gossip_state *st, const struct gossip_pending_mark *m)
{
    return list_past(&st->dirty_b, m->q[0]) && list_past(&st->dirty_c, m->q[1]) && list_past(&st->dirty_s, m->q[2]);
}

unsigned gossip_state_partition(const char *key)
{
    return (unsigned)(gossip_table_hash(key) % GOSSIP_PARTITIONS);
}

static const struct gossip_table *table_of(const struct gossip_state *st, enum entry_kind kind)
{
    return kind == EK_COUNTER ? &st->counters : kind == EK_SKETCH ? &st->sketches : &st->bans;
}

/* Packs part j of an entry (a cell, a sketch bucket, or the one ban record). Returns false past the end.
 * Only our own counter cells go out: a receiver takes a slot from its origin alone (the frame's
 * signature is the slot's only proof), so relaying other origins' cells would be refused anyway. */
static bool pack_part(const struct gossip_state *st, enum entry_kind kind, const struct gossip_entry_head *h,
                      uint32_t j, struct gossip_writer *w)
{
    if (kind == EK_BAN) {
        if (j > 0) return false;
        gossip_writer_ban(w, &((const struct gossip_bkey *)h)->rec);
        return true;
    }
    const struct gossip_wkey *k = (const struct gossip_wkey *)h;
    if (j >= k->n) return false;
    if (kind == EK_COUNTER) {
        const struct gossip_cell *c = &k->cells[j];
        if (c->origin == st->self->origin) gossip_writer_slot(w, k->key, c->bucket, c->origin, c->epoch, c->count);
    } else {
        gossip_writer_sketch(w, k->key, k->b[j].bucket, k->b[j].sk);
    }
    return true;
}

/* Cursor: entry kind (2 bits) | table slot (40 bits) | part within the entry (22 bits), so that even
 * a key with GOSSIP_STATE_MAX_CELLS long slots is split across frames rather than overflowing one. */
#define CUR_PART_BITS 22
#define CUR_SLOT_BITS 40

/* The table slot visited at step i. Not the slots in order: when tables placed keys by their public
 * hash, a receiver inserting keys in slot order while its own table grew piled them onto one run of
 * slots, each insert probing the whole run (quadratic: 1.1M keys took 64 s of CPU to merge instead
 * of a few). Each table now places under its own secret key, so slot order is unrelated to the
 * receiver's; the scattering stays, cheap, for a receiver that still places by the public hash
 * (an older sgagent). Multiplying by an odd constant modulo the power-of-two capacity visits every
 * slot once. */
#define EXPORT_STRIDE 0x9e3779b97f4a7c15ULL
static size_t export_slot(const struct gossip_table *t, size_t i)
{
    if (t->cap & (t->cap - 1)) return i;   /* not a power of two (the table always is): in order */
    return (size_t)(((uint64_t)i * EXPORT_STRIDE) & (t->cap - 1));
}

int gossip_state_export_leaves(const struct gossip_state *st, const uint8_t leaves[GOSSIP_SYNC_LEAVES / 8],
                               uint64_t *cursor, struct gossip_writer *w, size_t max_bytes)
{
    int kind = (int)(*cursor >> 62);
    size_t i = (size_t)((*cursor >> CUR_PART_BITS) & ((1ULL << CUR_SLOT_BITS) - 1));
    uint32_t j = (uint32_t)(*cursor & ((1ULL << CUR_PART_BITS) - 1));
    for (; kind <= EK_BAN; kind++, i = 0) {
        const struct gossip_table *t = table_of(st, kind);
        for (; i < t->cap; i++, j = 0) {
            const struct gossip_entry_head *h = t->slots[export_slot(t, i)];
            if (!h) continue;
            unsigned l = (unsigned)(h->hash % GOSSIP_SYNC_LEAVES);
            if (!(leaves[l / 8] >> (l % 8) & 1)) continue;
            for (;; j++) {
                size_t size0 = w->buf.size, entries0 = w->entries;
                if (!pack_part(st, kind, h, j, w)) break;
                if (w->buf.size > max_bytes && entries0 > 0) {
                    w->buf.size = size0;
                    w->entries = entries0;
                    *cursor = (uint64_t)kind << 62 | (uint64_t)i << CUR_PART_BITS | j;
                    return 1;
                }
            }
        }
    }
    *cursor = (uint64_t)3 << 62;   /* kind 3: nothing left */
    return 0;
}

/* A partition is the set of its leaves. */
int gossip_state_export(const struct gossip_state *st, uint64_t part_mask, uint64_t *cursor,
                        struct gossip_writer *w, size_t max_bytes)
{
    uint8_t leaves[GOSSIP_SYNC_LEAVES / 8];
    for (unsigned l = 0; l < GOSSIP_SYNC_LEAVES; l += 8) {
        uint8_t b = 0;
        for (unsigned k = 0; k < 8; k++) b |= (uint8_t)((part_mask >> ((l + k) % GOSSIP_PARTITIONS) & 1) << k);
        leaves[l / 8] = b;
    }
    return gossip_state_export_leaves(st, leaves, cursor, w, max_bytes);
}

/* Canonical order: by key hash, then by key (the hash is deterministic on every node, and sorting
 * on an integer kept beside the pointer avoids chasing a pointer and a string per comparison). */
struct sort_item {
    uint64_t hash;
    const struct gossip_entry_head *e;
    const char *key;
};

static int cmp_item(const void *a, const void *b)
{
    const struct sort_item *x = a, *y = b;
    if (x->hash != y->hash) return x->hash < y->hash ? -1 : 1;
    return strcmp(x->key, y->key);
}

/* placed: in each table's placement order instead (gossip_table_place, secret to this process), the
 * order the incremental snapshot walks: a save is the same bytes as a snapshot in slices. */
static void encode_into(const struct gossip_state *st, bool placed, struct gossip_writer *w)
{
    for (int kind = EK_COUNTER; kind <= EK_BAN; kind++) {
        const struct gossip_table *t = table_of(st, kind);
        struct sort_item *v = sg_xmalloc((t->n ? t->n : 1) * sizeof *v);
        size_t n = 0;
        for (size_t i = 0; i < t->cap; i++) {
            const struct gossip_entry_head *h = t->slots[i];
            if (h) v[n++] = (struct sort_item){placed ? gossip_table_place(t, h->hash) : h->hash, h, t->keyof(h)};
        }
        if (n > 1) qsort(v, n, sizeof *v, cmp_item);
        for (size_t i = 0; i < n; i++) pack_entry(kind, v[i].e, w, false);
        free(v);
    }
}

int gossip_state_encode(const struct gossip_state *st, uint8_t **out, size_t *len)
{
    struct gossip_writer w;
    gossip_writer_init(&w);
    encode_into(st, false, &w);
    /* Hand the sbuffer's bytes over; an empty state still gets a valid (empty) buffer. */
    *len = w.buf.size;
    *out = w.buf.data ? (uint8_t *)w.buf.data : sg_xmalloc(1);
    return 0;
}

/* path.tmp for path, in tmp[size]. -1 when it does not fit. */
static int tmp_path(const char *path, char *tmp, size_t size)
{
    int n = snprintf(tmp, size, "%s.tmp", path);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

int gossip_state_save_tmp(const struct gossip_state *st, const char *path)
{
    char tmp[4096];
    if (tmp_path(path, tmp, sizeof tmp) < 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    struct gossip_writer w;
    gossip_writer_init(&w);
    encode_into(st, true, &w);
    struct gossip_snapfile f;
    uint8_t head[GOSSIP_SNAPFILE_HEAD_LEN], trailer[GOSSIP_SNAPFILE_TRAILER_LEN];
    gossip_snapfile_begin(&f, head);
    gossip_snapfile_body(&f, w.buf.data, w.buf.size, w.entries);
    gossip_snapfile_end(&f, trailer);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = -1;
    if (fd < 0) goto fail;
    if (gossip_snapfile_write(fd, head, sizeof head) || gossip_snapfile_write(fd, w.buf.data, w.buf.size) ||
        gossip_snapfile_write(fd, trailer, sizeof trailer))
        goto fail;
    if (fsync(fd) != 0) goto fail;
    if (close(fd) != 0) { fd = -1; goto fail; }
    fd = -1;
    rc = 0;
fail:
    if (rc != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        unlink(tmp);
        errno = e;
    }
    gossip_writer_fini(&w);
    return rc;
}

int gossip_state_save_commit(const char *path)
{
    char tmp[4096];
    if (tmp_path(path, tmp, sizeof tmp) < 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    /* The rename is durable only once the directory is synced too. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    int dfd = open(slash ? (dir[0] ? dir : "/") : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

int gossip_state_save(const struct gossip_state *st, const char *path)
{
    if (gossip_state_save_tmp(st, path) == 0 && gossip_state_save_commit(path) == 0) return 0;
    sg_log(SG_LOG_ERR, "gossip: cannot write snapshot %s: %s", path, strerror(errno));
    return -1;
}

int gossip_state_load(struct gossip_state *st, const char *path, int64_t now_ms)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sg_log(SG_LOG_ERR, "gossip: cannot open snapshot %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || sb.st_size < 0) {
        close(fd);
        return -1;
    }
    size_t len = (size_t)sb.st_size, off = 0;
    uint8_t *buf = sg_xmalloc(len ? len : 1);
    while (off < len) {
        ssize_t n = read(fd, buf + off, len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        off += (size_t)n;
    }
    close(fd);
    /* Nothing is merged unless the whole file is there: a part of a state restored as if whole
     * would be lost at the next save. */
    const uint8_t *body = NULL;
    size_t body_len = 0;
    uint64_t want = 0;
    const char *why = "read short";
    int format = off == len ? gossip_snapfile_open(buf, len, &body, &body_len, &want, &why) : -1;
    struct gossip_body *b = NULL;
    if (format > 0) {
        enum gossip_wire_err e = gossip_body_decode(body, body_len, SIZE_MAX, &b);
        if (e != GOSSIP_WIRE_OK) {
            why = gossip_wire_strerror(e);
            format = -1;
        } else if (format == 2 && gossip_body_entries(b) != want) {
            why = "entries differ from the trailer's count";
            format = -1;
        }
    }
    free(buf);
    if (format < 0 || !b) {
        gossip_body_destroy(&b);
        sg_log(SG_LOG_ERR, "gossip: snapshot %s unreadable: %s", path, why);
        return -1;
    }
    if (format == 1)
        sg_log(SG_LOG_WARN, "gossip: snapshot %s has no trailer (written by an older sgagent): loaded unchecked, "
                            "the next save adds one", path);
    struct gossip_merge_result res;
    gossip_state_merge(st, b, st->self->origin, GOSSIP_MERGE_RESTORE, now_ms, &res);
    gossip_body_destroy(&b);
    sg_log(SG_LOG_INFO, "gossip: snapshot %s: %zu entries restored, %zu dropped", path, res.changed, res.rejected);
    return 0;
}
