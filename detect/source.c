/* source.c: follows one log file with inotify across rotation (rename-and-create and copytruncate),
 * late creation and restarts, delivering each complete line exactly once.
 *
 * The cursor is the start of the first line not yet delivered. On rotation by rename the old file is
 * drained through the descriptor still open on it before the new file is read from its start. On
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

struct detect_source {
    char *path, *dir, *base;
    int ifd, wd_dir, wd_file;
    int fd;                          /* the file being read, or -1 */
    struct detect_cursor cur;        /* of fd */
    off_t read_off;                  /* file offset of the end of buf */
    bool pending;                    /* a saved cursor waits to be applied at the next open */
    struct detect_cursor saved;
    bool opened_once;                /* some file has been open under this path since we started */
    bool was_missing;                /* the path did not exist when we first looked: it is all new */
    bool from_start;
    bool skipping;                   /* dropping the rest of an oversized line */
    size_t max_line;
    char *buf;
    size_t len, cap;
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
    s->wd_dir = s->wd_file = -1;
    s->fd = -1;
    s->from_start = opts && opts->from_start;
    s->max_line = (opts && opts->max_line) ? opts->max_line : 8192;
    s->cap = s->max_line + 1 > READ_CHUNK ? s->max_line + 1 : READ_CHUNK;
    s->buf = sg_xmalloc(s->cap);
    return s;
}

void detect_source_destroy(struct detect_source **p)
{
    if (!p || !*p) return;
    struct detect_source *s = *p;
    if (s->fd >= 0) close(s->fd);
    close(s->ifd);
    free(s->path);
    free(s->dir);
    free(s->base);
    free(s->buf);
    free(s);
    *p = NULL;
}

const char *detect_source_path(const struct detect_source *s) { return s->path; }
int detect_source_fd(const struct detect_source *s) { return s->ifd; }

int detect_source_get_cursor(const struct detect_source *s, struct detect_cursor *out)
{
    if (s->fd < 0) {
        if (!s->pending) return -1;
        *out = s->saved;   /* not reopened yet: what was loaded is still the truth */
        return 0;
    }
    *out = s->cur;
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
}

/* Delivers the complete lines in buf and keeps the tail. */
static int deliver(struct detect_source *s, detect_line_fn fn, void *arg)
{
    int lines = 0;
    size_t start = 0;
    for (;;) {
        char *nl = memchr(s->buf + start, '\n', s->len - start);
        if (!nl) break;
        size_t n = (size_t)(nl - (s->buf + start));
        if (s->skipping) {
            s->skipping = false;   /* end of an oversized line: counted when it began */
        } else if (n > s->max_line) {
            s->cnt.oversized++;
        } else {
            if (fn) fn(s->buf + start, n, arg);
            lines++;
            s->cnt.lines++;
        }
        start += n + 1;
    }
    s->cur.offset += (off_t)start;
    memmove(s->buf, s->buf + start, s->len - start);
    s->len -= start;
    if (s->len >= s->max_line) {   /* no newline within max_line bytes: drop it and skip to the next one */
        if (!s->skipping) s->cnt.oversized++;
        s->skipping = true;
        s->cur.offset += (off_t)s->len;
        s->len = 0;
    }
    return lines;
}

/* Reads fd from read_off to its end, delivering lines. */
static int drain(struct detect_source *s, int fd, detect_line_fn fn, void *arg)
{
    int lines = 0;
    for (;;) {
        size_t room = s->cap - s->len;
        ssize_t n = pread(fd, s->buf + s->len, room, s->read_off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        s->len += (size_t)n;
        s->read_off += n;
        s->cnt.bytes += (uint64_t)n;
        lines += deliver(s, fn, arg);
    }
    return lines;
}

static void reset_buffer(struct detect_source *s, off_t off)
{
    s->len = 0;
    s->skipping = false;
    s->cur.offset = off;
    s->read_off = off;
}

static void watch_dir(struct detect_source *s)
{
    if (s->wd_dir < 0)
        s->wd_dir = inotify_add_watch(s->ifd, s->dir, IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR);
}

/* Looks beside the file for a rotated copy ("mail.log.1", "mail.log-20261128") whose first line hashes
 * to hash and which holds at least off bytes, and delivers its lines from off on. */
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
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && !(st.st_dev == skip_dev && st.st_ino == skip_ino) &&
            st.st_size >= off && head_hash(fd) == hash) {
            reset_buffer(s, off);
            lines = drain(s, fd, fn, arg);
            close(fd);
            break;
        }
        close(fd);
    }
    closedir(d);
    return lines;
}

/* Opens the file now at path; decides where to start (saved cursor, end for a first sight, else 0). */
static int open_current(struct detect_source *s, detect_line_fn fn, void *arg)
{
    int fd = open(s->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {   /* not there (yet): waited for, not an error */
        if (!s->opened_once) s->was_missing = true;
        return 0;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
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
            lines += read_rotated_copy(s, s->saved.head_hash, s->saved.offset, st.st_dev, st.st_ino, fn, arg);
            start = 0;
        }
    } else if (!s->opened_once && !s->was_missing) {
        start = s->from_start ? 0 : st.st_size;
    } else {
        start = 0;   /* created after we started: every line of it is new */
    }
    if (s->fd >= 0) close(s->fd);
    s->fd = fd;
    s->opened_once = true;
    s->cur.dev = st.st_dev;
    s->cur.ino = st.st_ino;
    s->cur.head_hash = h;
    reset_buffer(s, start);
    if (s->wd_file >= 0) inotify_rm_watch(s->ifd, s->wd_file);
    s->wd_file = inotify_add_watch(s->ifd, s->path, IN_MODIFY);
    return lines;
}

/* Truncation is checked before reading, so that bytes written after a truncation are never read as
 * the continuation of the old content; a rename is checked after, so that the old file is drained. */
static int pump(struct detect_source *s, detect_line_fn fn, void *arg)
{
    int lines = 0;
    watch_dir(s);
    if (s->fd < 0) {
        lines += open_current(s, fn, arg);
        if (s->fd < 0) return lines;
    }
    struct stat now, cur;
    if (fstat(s->fd, &cur) < 0) return lines;
    uint64_t h = s->cur.head_hash ? head_hash(s->fd) : 0;
    if (cur.st_size < s->read_off || (s->cur.head_hash && h != s->cur.head_hash)) {
        /* copytruncate: what we had not read yet was copied away before the truncation. */
        s->cnt.truncations++;
        lines += read_rotated_copy(s, s->cur.head_hash, s->cur.offset, s->cur.dev, s->cur.ino, fn, arg);
        s->cur.head_hash = head_hash(s->fd);
        reset_buffer(s, 0);
    }
    lines += drain(s, s->fd, fn, arg);
    if (!s->cur.head_hash) s->cur.head_hash = head_hash(s->fd);   /* the first line was not complete at open */
    if (stat(s->path, &now) < 0) return lines;   /* renamed away, new file not there yet: keep the old one */
    if (now.st_dev != s->cur.dev || now.st_ino != s->cur.ino) {
        /* Rename-and-create: drain the old file once more for a last write, then the new one. */
        lines += drain(s, s->fd, fn, arg);
        s->cnt.rotations++;
        lines += open_current(s, fn, arg);
        lines += drain(s, s->fd, fn, arg);
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
