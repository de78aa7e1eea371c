/* snapshot.c: the incremental snapshot: the state encoded a slice at a time in placement order into
 * path.tmp (head, entries, trailer: gossip/snapfile.h), then fsync'd and renamed into place (see
 * snapshot.h for why a state that changes between slices still gives a valid snapshot). */
#include "gossip/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/util.h"
#include "gossip/snapfile.h"
#include "gossip/state_int.h"

enum { KIND_COUNTERS, KIND_SKETCHES, KIND_BANS, KIND_DONE };

/* One entry of a slice, sorted as gossip_state_save sorts: by placement (gossip_table_place), then key. */
struct item {
    uint64_t place;
    const char *key;
    const void *e;
};

struct gossip_snapshot {
    size_t slice_keys;
    int fd;                  /* of path.tmp while a save runs, else -1 */
    char *path;
    int kind;                /* table being written */
    uint64_t cursor;         /* every entry of that table with a smaller placement is written */
    off_t written, flushed;  /* bytes in path.tmp; of which writeback was started */
    uint64_t slices;
    int64_t started_ms;
    struct gossip_writer w;
    struct gossip_snapfile sum;  /* head, entries and trailer (snapfile.h), kept as the slices are written */
    void **v;                /* the slice's entries */
    size_t vcap;
    struct item *items;
    size_t icap;
    struct gossip_snapshot_stats st;
};

struct gossip_snapshot *gossip_snapshot_new(size_t slice_keys)
{
    struct gossip_snapshot *s = sg_xcalloc(1, sizeof *s);
    s->slice_keys = slice_keys ? slice_keys : GOSSIP_SNAPSHOT_SLICE_KEYS;
    s->fd = -1;
    gossip_writer_init(&s->w);
    return s;
}

void gossip_snapshot_destroy(struct gossip_snapshot **ps)
{
    if (!ps || !*ps) return;
    struct gossip_snapshot *s = *ps;
    gossip_snapshot_abort(s);
    gossip_writer_fini(&s->w);
    free(s->v);
    free(s->items);
    free(s->path);
    free(s);
    *ps = NULL;
}

bool gossip_snapshot_running(const struct gossip_snapshot *s) { return s->fd >= 0; }

void gossip_snapshot_get_stats(const struct gossip_snapshot *s, struct gossip_snapshot_stats *out) { *out = s->st; }

static void tmp_of(const char *path, char *tmp, size_t size) { snprintf(tmp, size, "%s.tmp", path); }

/* Ends a save that did not make it: path.tmp removed, the previous file untouched. */
static void drop(struct gossip_snapshot *s)
{
    if (s->fd < 0) return;
    close(s->fd);
    s->fd = -1;
    char tmp[4096];
    tmp_of(s->path, tmp, sizeof tmp);
    unlink(tmp);
}

void gossip_snapshot_abort(struct gossip_snapshot *s)
{
    if (s->fd < 0) return;
    drop(s);
    s->st.aborted++;
}

int gossip_snapshot_restore(struct gossip_snapshot *s, struct gossip_state *st, const char *path, int64_t now_ms)
{
    if (gossip_state_load(st, path, now_ms) == 0) return 0;
    s->st.unreadable++;
    char bad[4096];
    int n = snprintf(bad, sizeof bad, "%s.bad", path);
    if (n > 0 && (size_t)n < sizeof bad && rename(path, bad) == 0)
        sg_log(SG_LOG_ERR, "gossip: unreadable snapshot kept as %s (the state starts from the peers)", bad);
    else
        sg_log(SG_LOG_ERR, "gossip: unreadable snapshot %s could not be set aside: %s", path, strerror(errno));
    return -1;
}

int gossip_snapshot_start(struct gossip_snapshot *s, const char *path)
{
    if (s->fd >= 0) {
        s->st.skipped++;
        return 1;
    }
    char tmp[4096];
    if (strlen(path) + 5 > sizeof tmp) {
        s->st.failed++;
        sg_log(SG_LOG_ERR, "gossip: snapshot %s: path too long", path);
        return -1;
    }
    tmp_of(path, tmp, sizeof tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        s->st.failed++;
        sg_log(SG_LOG_ERR, "gossip: cannot write snapshot %s: %s", tmp, strerror(errno));
        return -1;
    }
    free(s->path);
    s->path = sg_xstrdup(path);
    s->fd = fd;
    s->kind = KIND_COUNTERS;
    s->cursor = 0;
    s->written = s->flushed = 0;
    s->slices = 0;
    s->started_ms = sg_mono_ms();
    s->st.started++;
    return 0;
}

static int cmp_item(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    if (x->place != y->place) return x->place < y->place ? -1 : 1;
    return strcmp(x->key, y->key);
}

static const struct gossip_table *table_of(const struct gossip_state *st, int kind)
{
    return kind == KIND_COUNTERS ? &st->counters : kind == KIND_SKETCHES ? &st->sketches : &st->bans;
}

/* Encodes the next range of the current table (about want entries) into s->w. Returns entries. */
static size_t encode_range(struct gossip_snapshot *s, const struct gossip_state *st, size_t want)
{
    const struct gossip_table *t = table_of(st, s->kind);
    uint64_t next;
    bool last;
    size_t n = gossip_table_range(t, s->cursor, want, &s->v, &s->vcap, &next, &last);
    if (n > s->icap) {
        s->icap = s->vcap;
        s->items = sg_xrealloc(s->items, s->icap * sizeof *s->items);
    }
    for (size_t i = 0; i < n; i++)
        s->items[i] = (struct item){gossip_table_place(t, ((const struct gossip_entry_head *)s->v[i])->hash),
                                    t->keyof(s->v[i]), s->v[i]};
    if (n > 1) qsort(s->items, n, sizeof *s->items, cmp_item);
    for (size_t i = 0; i < n; i++) {
        if (s->kind == KIND_COUNTERS) gossip_state_pack_ckey(s->items[i].e, &s->w, false);
        else if (s->kind == KIND_SKETCHES) gossip_state_pack_skey(s->items[i].e, &s->w, false);
        else gossip_writer_ban(&s->w, &((const struct gossip_bkey *)s->items[i].e)->rec);
    }
    if (last) {
        s->kind++;
        s->cursor = 0;
    } else {
        s->cursor = next;
    }
    return n;
}

static int fail(struct gossip_snapshot *s, const char *what)
{
    int e = errno;
    sg_log(SG_LOG_ERR, "gossip: cannot write snapshot %s: %s: %s", s->path, what, strerror(e));
    drop(s);
    s->st.failed++;
    errno = e;
    return -1;
}

/* The last step: fsync, close, rename. Returns 1, or -1 (counted, logged, path.tmp removed). */
static int commit(struct gossip_snapshot *s)
{
    if (fsync(s->fd) != 0) return fail(s, "fsync");
    int fd = s->fd;
    s->fd = -1;
    if (close(fd) != 0 || gossip_state_save_commit(s->path) != 0) {
        char tmp[4096];
        tmp_of(s->path, tmp, sizeof tmp);
        unlink(tmp);
        s->st.failed++;
        sg_log(SG_LOG_ERR, "gossip: cannot put snapshot %s in place: %s", s->path, strerror(errno));
        return -1;
    }
    s->st.saved++;
    s->st.last_slices = s->slices;
    s->st.last_save_ms = sg_mono_ms() - s->started_ms;
    return 1;
}

/* A slice encodes and writes, or (once everything is written) commits: the fsync, the one call
 * that waits for the disk, never adds to a slice's encoding. */
int gossip_snapshot_step(struct gossip_snapshot *s, const struct gossip_state *st)
{
    if (s->fd < 0) return 0;
    int64_t t0 = sg_mono_ns();
    s->slices++;
    int rc = 0;
    if (s->kind == KIND_DONE) {
        rc = commit(s);
    } else {
        gossip_writer_reset(&s->w);
        if (s->slices == 1) {
            uint8_t head[GOSSIP_SNAPFILE_HEAD_LEN];
            gossip_snapfile_begin(&s->sum, head);
            msgpack_sbuffer_write(&s->w.buf, (const char *)head, sizeof head);
        }
        size_t body0 = s->w.buf.size, done = 0;
        while (s->kind != KIND_DONE && done < s->slice_keys) done += encode_range(s, st, s->slice_keys - done) + 1;
        gossip_snapfile_body(&s->sum, s->w.buf.data + body0, s->w.buf.size - body0, s->w.entries);
        if (s->kind == KIND_DONE) {
            uint8_t trailer[GOSSIP_SNAPFILE_TRAILER_LEN];
            gossip_snapfile_end(&s->sum, trailer);
            msgpack_sbuffer_write(&s->w.buf, (const char *)trailer, sizeof trailer);
        }
        if (gossip_snapfile_write(s->fd, s->w.buf.data, s->w.buf.size) < 0) return fail(s, "write");
        s->written += (off_t)s->w.buf.size;
        /* Start the writeback of each megabyte without waiting for it, so that the final fsync finds
         * little left to do (best effort: the fsync is what makes the file durable). */
        if (s->written - s->flushed >= (off_t)1 << 20 || s->kind == KIND_DONE) {
            (void)sync_file_range(s->fd, s->flushed, s->written - s->flushed, SYNC_FILE_RANGE_WRITE);
            s->flushed = s->written;
        }
    }
    int64_t us = (sg_mono_ns() - t0) / 1000;
    if (us > s->st.max_slice_us) s->st.max_slice_us = us;
    return rc;
}

int gossip_snapshot_finish(struct gossip_snapshot *s, const struct gossip_state *st)
{
    int r = 0;
    while (s->fd >= 0 && (r = gossip_snapshot_step(s, st)) == 0) {}
    return r;
}
