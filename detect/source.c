/* source.c: follows one log file with inotify across rotation (rename-and-create and copytruncate),
 * late creation and restarts, delivering each complete line exactly once.
 *
 * The cursor is the start of the first line not yet delivered. On rotation by rename the old file is
 * drained through the descriptor still open on it before the new file is read from its start, and it
 * stays open, drained at every look, until it has been quiet for a few seconds: a daemon keeps writing
 * to its old file until it reopens its log. On
 * copytruncate (same inode, smaller, or a different first line) the lines written between our last read
 * and the truncation live only in the copy: it is found beside the file by the hash of its first line
 * and read from the cursor on. The same search resumes a file that was rotated while we were stopped. */
#include "detect/detect.h"

#include "agent/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEAD_BYTES 256
#define READ_CHUNK 65536
#define OLD_GRACE_MS 5000   /* a renamed-away file is followed until quiet this long */

/* One open file being read: the bytes of an incomplete last line wait in buf. */
struct reader {
    int fd;                          /* -1 when closed */
    off_t consumed;                  /* file offset of the first line not yet delivered */
    off_t read_off;                  /* file offset of the end of buf */
    char *buf;
    size_t len;
    bool skipping;                   /* dropping the rest of an oversized line */
};

struct detect_source {
    char *path, *dir, *base;
    int ifd, wd_dir, wd_file, wd_old;
    struct reader cur;               /* the file now at path */
    struct reader old;               /* the file renamed away, followed until it stays quiet */
    int64_t old_quiet_since;         /* monotonic ms of the old file's last growth */
    dev_t dev;                       /* identity and first-line hash of cur */
    ino_t ino;
    uint64_t head_hash;
    bool pending;                    /* a saved cursor waits to be applied at the next open */
    struct detect_cursor saved;
    bool opened_once;                /* some file has been open under this path since we started */
    bool was_missing;                /* the path did not exist when we first looked: it is all new */
    bool from_start;
    size_t max_line, cap;
    size_t turn_bytes;               /* opts.turn_bytes: what one look reads at most (0: no bound) */
    size_t turn_left;                /* what this look may still read */
    bool behind;                     /* the last look stopped at turn_bytes with more to read */
    struct detect_source_counters cnt;
};

static uint64_t fnv_head(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h ? h : 1;
}

/* Hash of the first line (up to HEAD_BYTES); 0 while the file has no complete first line yet. */
static uint64_t head_hash(int fd)
{
    char b[HEAD_BYTES];
    ssize_t n = pread(fd, b, sizeof b, 0);
    if (n <= 0) return 0;
    char *nl = memchr(b, '\n', (size_t)n);
    if (!nl && n < (ssize_t)sizeof b) return 0;
    return fnv_head(b, nl ? (size_t)(nl - b) : (size_t)n);
}

static void reader_reset(struct reader *r, off_t off)
{
    r->len = 0;
    r->skipping = false;
    r->consumed = off;
    r->read_off = off;
}

static void reader_close(struct reader *r)
{
    if (r->fd >= 0) close(r->fd);
    r->fd = -1;
    reader_reset(r, 0);
}

static const char *file_kind(mode_t m)
{
    return S_ISFIFO(m) ? "a FIFO" : S_ISDIR(m) ? "a directory" : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a file";
}

int detect_source_check_path(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        if (errno == ENOENT) return 0;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISREG(st.st_mode)) return 0;
    snprintf(err, errlen, "%s: not a regular file (%s): a log must be a file", path, file_kind(st.st_mode));
    return -1;
}

/* Opens path for reading if it is a regular file, else returns -1 (errno ENOENT when absent). A FIFO
 * without a writer would block open() and a device would be read forever: a non-file is refused by
 * stat before any open, and the open itself is non-blocking and checked again with fstat, since the
 * path can change between the two. *st is the open file's. */
static int open_regular(const char *path, struct stat *st)
{
    if (stat(path, st) < 0) return -1;
    if (!S_ISREG(st->st_mode)) { errno = EINVAL; return -1; }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return -1;
    int fl = fcntl(fd, F_GETFL);
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) || fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    return fd;
}

struct detect_source *detect_source_new(const char *path, const struct detect_source_opts *opts)
{
    int ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ifd < 0) return NULL;
    struct detect_source *s = sg_xcalloc(1, sizeof *s);
    s->path = sg_xstrdup(path);
    char *d = sg_xstrdup(path), *b = sg_xstrdup(path);
    s->dir = sg_xstrdup(dirname(d));
    s->base = sg_xstrdup(basename(b));
    free(d);
    free(b);
    s->ifd = ifd;
    s->wd_dir = s->wd_file = s->wd_old = -1;
    s->from_start = opts && opts->from_start;
    s->max_line = (opts && opts->max_line) ? opts->max_line : 8192;
    s->cap = s->max_line + 1 > READ_CHUNK ? s->max_line + 1 : READ_CHUNK;
    s->turn_bytes = opts ? opts->turn_bytes : 0;
    s->cur.fd = s->old.fd = -1;
    s->cur.buf = sg_xmalloc(s->cap);
    s->old.buf = sg_xmalloc(s->cap);
    return s;
}

void detect_source_destroy(struct detect_source **p)
{
    if (!p || !*p) return;
    struct detect_source *s = *p;
    reader_close(&s->cur);
    reader_close(&s->old);
    close(s->ifd);
    free(s->path);
    free(s->dir);
    free(s->base);
    free(s->cur.buf);
    free(s->old.buf);
    free(s);
    *p = NULL;
}

const char *detect_source_path(const struct detect_source *s) { return s->path; }
int detect_source_fd(const struct detect_source *s) { return s->ifd; }

int detect_source_get_cursor(const struct detect_source *s, struct detect_cursor *out)
{
    if (s->cur.fd < 0) {
        if (!s->pending) return -1;
        *out = s->saved;   /* not reopened yet: what was loaded is still the truth */
        return 0;
    }
    out->dev = s->dev;
    out->ino = s->ino;
    out->offset = s->cur.consumed;
    out->head_hash = s->head_hash;
    return 0;
}

void detect_source_set_cursor(struct detect_source *s, const struct detect_cursor *c)
{
    s->saved = *c;
    s->pending = true;
}

void detect_source_counters(const struct detect_source *s, struct detect_source_counters *out)
{
    *out = s->cnt;
    out->open = s->cur.fd >= 0;
}

/* Delivers the complete lines in r's buffer and keeps the tail. */
static int deliver(struct detect_source *s, struct reader *r, detect_line_fn fn, void *arg)
{
    int lines = 0;
    size_t start = 0;
    for (;;) {
        char *nl = memchr(r->buf + start, '\n', r->len - start);
        if (!nl) break;
        size_t n = (size_t)(nl - (r->buf + start));
        if (r->skipping) {
            r->skipping = false;   /* end of an oversized line: counted when it began */
        } else if (n > s->max_line) {
            s->cnt.oversized++;
        } else {
            if (fn) fn(r->buf + start, n, arg);
            lines++;
            s->cnt.lines++;
        }
        start += n + 1;
    }
    if (lines) s->cnt.last_line_ms = sg_now_ms();
    r->consumed += (off_t)start;
    memmove(r->buf, r->buf + start, r->len - start);
    r->len -= start;
    if (r->len >= s->max_line) {   /* no newline within max_line bytes: drop it and skip to the next one */
        if (!r->skipping) s->cnt.oversized++;
        r->skipping = true;
        r->consumed += (off_t)r->len;
        r->len = 0;
    }
    return lines;
}

/* Reads r's file from read_off to its end, delivering lines; a bounded drain stops once the look's
 * turn_bytes are spent (the reader's state is whole between chunks: read_off, the kept partial
 * line) and marks the source behind, so that the caller looks again soon. */
static int drain_to(struct detect_source *s, struct reader *r, detect_line_fn fn, void *arg, bool bounded)
{
    int lines = 0;
    for (;;) {
        if (bounded && s->turn_bytes && s->turn_left == 0) {
            struct stat st;
            if (fstat(r->fd, &st) == 0 && st.st_size > r->read_off) s->behind = true;
            break;
        }
        size_t want = s->cap - r->len;
        if (bounded && s->turn_bytes && want > s->turn_left) want = s->turn_left;
        ssize_t n = pread(r->fd, r->buf + r->len, want, r->read_off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        r->len += (size_t)n;
        r->read_off += n;
        s->cnt.bytes += (uint64_t)n;
        if (s->turn_left >= (size_t)n) s->turn_left -= (size_t)n;
        else s->turn_left = 0;
        lines += deliver(s, r, fn, arg);
    }
    return lines;
}

static int drain(struct detect_source *s, struct reader *r, detect_line_fn fn, void *arg)
{
    return drain_to(s, r, fn, arg, true);
}

static void watch_dir(struct detect_source *s)
{
    if (s->wd_dir < 0)
        s->wd_dir = inotify_add_watch(s->ifd, s->dir, IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR);
}

/* Looks beside the file for a rotated copy ("mail.log.1", "mail.log-20261128") whose first line hashes
 * to hash and which holds at least off bytes, and delivers its lines from off on (through the spare
 * reader, which is free whenever this runs: at open, and at a truncation). */
static int read_rotated_copy(struct detect_source *s, uint64_t hash, off_t off, dev_t skip_dev, ino_t skip_ino,
                             detect_line_fn fn, void *arg)
{
    if (!hash) return 0;
    DIR *d = opendir(s->dir);
    if (!d) return 0;
    size_t bl = strlen(s->base);
    int lines = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, s->base, bl) || (de->d_name[bl] != '.' && de->d_name[bl] != '-')) continue;
        size_t nl = strlen(de->d_name);
        if (nl > 3 && (!strcmp(de->d_name + nl - 3, ".gz") || !strcmp(de->d_name + nl - 3, ".xz"))) continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", s->dir, de->d_name);
        struct stat st;
        int fd = open_regular(p, &st);   /* anyone able to write here could leave a FIFO named mail.log.1 */
        if (fd < 0) continue;
        if (!(st.st_dev == skip_dev && st.st_ino == skip_ino) &&
            st.st_size >= off && head_hash(fd) == hash) {
            struct reader r = {.fd = fd, .buf = s->old.buf};
            reader_reset(&r, off);
            lines = drain(s, &r, fn, arg);
            close(fd);
            break;
        }
        close(fd);
    }
    closedir(d);
    return lines;
}

/* Opens the file now at path as cur; decides where to start (saved cursor, end at first sight, else 0). */
static int open_current(struct detect_source *s, detect_line_fn fn, void *arg)
{
    struct stat st;
    int fd = open_regular(s->path, &st);
    if (fd < 0 && errno == ENOENT) {   /* not there (yet): waited for, not an error */
        if (!s->opened_once) s->was_missing = true;
        return 0;
    }
    if (fd < 0) {   /* not a regular file (any more), or unreadable */
        s->cnt.reopen_errors++;
        return 0;
    }
    int lines = 0;
    uint64_t h = head_hash(fd);
    off_t start;
    if (s->pending) {
        s->pending = false;
        bool same = s->saved.dev == st.st_dev && s->saved.ino == st.st_ino;
        bool same_head = !s->saved.head_hash || s->saved.head_hash == h;
        if (same && same_head && st.st_size >= s->saved.offset) {
            start = s->saved.offset;
        } else {
            /* Rotated (or truncated) while we were stopped: finish the old file from its copy first. */
            if (s->old.fd < 0)
                lines += read_rotated_copy(s, s->saved.head_hash, s->saved.offset, st.st_dev, st.st_ino, fn, arg);
            start = 0;
        }
    } else if (!s->opened_once && !s->was_missing) {
        start = s->from_start ? 0 : st.st_size;
    } else {
        start = 0;   /* created after we started: every line of it is new */
    }
    reader_close(&s->cur);
    s->cur.fd = fd;
    reader_reset(&s->cur, start);
    s->opened_once = true;
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->head_hash = h;
    if (s->wd_file >= 0) inotify_rm_watch(s->ifd, s->wd_file);
    s->wd_file = inotify_add_watch(s->ifd, s->path, IN_MODIFY);
    return lines;
}

/* The renamed-away file: drained at every look, closed once quiet for OLD_GRACE_MS. */
static int follow_old(struct detect_source *s, detect_line_fn fn, void *arg)
{
    if (s->old.fd < 0) return 0;
    off_t before = s->old.read_off;
    int lines = drain(s, &s->old, fn, arg);
    int64_t now = sg_mono_ms();
    if (s->old.read_off != before) {
        s->old_quiet_since = now;
    } else if (now - s->old_quiet_since >= OLD_GRACE_MS) {
        reader_close(&s->old);
        if (s->wd_old >= 0) inotify_rm_watch(s->ifd, s->wd_old);
        s->wd_old = -1;
    }
    return lines;
}

/* Truncation is checked before reading, so that bytes written after a truncation are never read as
 * the continuation of the old content; a rename is checked after, so that the old file is drained. */
static int pump(struct detect_source *s, detect_line_fn fn, void *arg)
{
    s->turn_left = s->turn_bytes;
    s->behind = false;
    int lines = follow_old(s, fn, arg);
    watch_dir(s);
    if (s->cur.fd < 0) {
        lines += open_current(s, fn, arg);
        if (s->cur.fd < 0) return lines;
    }
    struct stat now, cur;
    if (fstat(s->cur.fd, &cur) < 0) return lines;
    uint64_t h = s->head_hash ? head_hash(s->cur.fd) : 0;
    if (cur.st_size < s->cur.read_off || (s->head_hash && h != s->head_hash)) {
        /* copytruncate: what we had not read yet was copied away before the truncation. */
        s->cnt.truncations++;
        if (s->old.fd < 0) lines += read_rotated_copy(s, s->head_hash, s->cur.consumed, s->dev, s->ino, fn, arg);
        s->head_hash = head_hash(s->cur.fd);
        reader_reset(&s->cur, 0);
    }
    lines += drain(s, &s->cur, fn, arg);
    if (!s->head_hash) s->head_hash = head_hash(s->cur.fd);   /* the first line was not complete at open */
    if (stat(s->path, &now) < 0) return lines;   /* renamed away, new file not there yet: keep reading it */
    if (now.st_dev != s->dev || now.st_ino != s->ino) {
        /* Rename-and-create: the current file becomes the old one (a previous old one is finished
         * first), followed until quiet; the new file is read from its start. */
        s->cnt.rotations++;
        if (s->old.fd >= 0) {
            lines += drain_to(s, &s->old, fn, arg, false);   /* finished whole: it is closed next */
            reader_close(&s->old);
        }
        if (s->wd_old >= 0) inotify_rm_watch(s->ifd, s->wd_old);
        s->wd_old = s->wd_file;   /* the watch follows the inode: writes to the old file still wake us */
        s->wd_file = -1;
        struct reader t = s->old;
        s->old = s->cur;
        s->cur = t;
        s->cur.fd = -1;
        s->old_quiet_since = sg_mono_ms();
        lines += drain(s, &s->old, fn, arg);
        lines += open_current(s, fn, arg);
        if (s->cur.fd >= 0) lines += drain(s, &s->cur, fn, arg);
    }
    return lines;
}

int detect_source_read(struct detect_source *s, detect_line_fn fn, void *arg)
{
    char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {   /* the events only say "look again"; pump() finds out what changed */
        ssize_t n = read(s->ifd, ev, sizeof ev);
        if (n <= 0) break;
    }
    return pump(s, fn, arg);
}

int detect_source_check(struct detect_source *s, detect_line_fn fn, void *arg)
{
    return pump(s, fn, arg);
}

bool detect_source_behind(const struct detect_source *s) { return s->behind; }
