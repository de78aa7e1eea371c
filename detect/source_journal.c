/* source_journal.c: follows the local systemd journal with sd-journal and delivers, as syslog-style
 * lines, the entries that journald says a trusted mail daemon wrote; forged ones are counted, not read.
 *
 * The journal is read in order, every entry (a forgery may come from any unit), so the position is
 * always the last entry looked at: saving its cursor and seeking back to it on the next start resumes
 * without loss or repeat. The descriptor sd_journal_get_fd() gives is an inotify one; the reactor polls
 * it and each wake-up is acknowledged with sd_journal_process() before reading on. */
#include "detect/journal.h"

#include "agent/util.h"

#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-journal.h>
#include <time.h>

#define READ_BATCH 20000   /* entries per read; the periodic call goes on from there */
#define UNTRUSTED_LOG_MS 60000   /* forged lines are logged at most this often (they come at the forger's rate) */

struct detect_journal {
    sd_journal *j;
    struct detect_journal_trust trust;
    char **units;
    size_t nunits;
    size_t max_line;
    char *line;                  /* max_line + 1 bytes */
    char *cursor;                /* last cursor handed out, or the one set and not yet reached */
    bool skip_cursor;            /* the next entry is the one at `cursor`: already read before */
    bool moved;                  /* an entry was read since the cursor was last taken */
    int64_t untrusted_logged_ms; /* monotonic time of the last log line about a forged line, 0 = never */
    struct detect_journal_counters cnt;
};

static bool has(const char *s, size_t n, const char *want)
{
    return s && n == strlen(want) && !memcmp(s, want, n);
}

static bool uid_of(const char *s, size_t n, uid_t *out)
{
    if (!s || !n || n > 10) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uid_t)-1) return false;
    *out = (uid_t)v;
    return true;
}

/* Length of a name's family: up to the first of the stop bytes. */
static size_t family_len(const char *s, size_t n, const char *stops)
{
    size_t i = 0;
    while (i < n && !strchr(stops, s[i])) i++;
    return i;
}

static const char *find_family(const struct detect_journal_trust *t, const char *s, size_t n)
{
    for (size_t i = 0; i < t->nfamilies; i++)
        if (has(s, n, t->families[i])) return t->families[i];
    return NULL;
}

static void add_family(struct detect_journal_trust *t, const char *s, size_t n)
{
    if (!n || n >= DETECT_JOURNAL_FAMILY_MAX || t->nfamilies == DETECT_JOURNAL_MAX_FAMILIES || find_family(t, s, n)) return;
    memcpy(t->families[t->nfamilies], s, n);
    t->families[t->nfamilies++][n] = '\0';
}

void detect_journal_trust_init(struct detect_journal_trust *t)
{
    t->nfamilies = 0;
    for (size_t i = 0; i < t->nunits; i++) add_family(t, t->units[i], family_len(t->units[i], strlen(t->units[i]), "@."));
}

void detect_journal_learn(struct detect_journal_trust *t, const struct detect_journal_fields *f)
{
    if (f->ident) add_family(t, f->ident, family_len(f->ident, f->ident_len, "/"));
}

const char *detect_journal_claims(const struct detect_journal_trust *t, const struct detect_journal_fields *f)
{
    return f->ident ? find_family(t, f->ident, family_len(f->ident, f->ident_len, "/")) : NULL;
}

bool detect_journal_trusted(const struct detect_journal_trust *t, const struct detect_journal_fields *f)
{
    bool unit = false;
    for (size_t i = 0; i < t->nunits && !unit; i++) unit = has(f->unit, f->unit_len, t->units[i]);
    uid_t uid;
    if (!unit || !uid_of(f->uid, f->uid_len, &uid)) return false;
    for (size_t i = 0; i < t->nuids; i++)
        if (t->uids[i] == uid) return true;
    return false;
}

/* Appends n bytes at *at if they fit (one byte is kept for the caller's NUL-free bound). */
static bool put(char *buf, size_t size, size_t *at, const char *s, size_t n)
{
    if (n > size - *at) return false;
    memcpy(buf + *at, s, n);
    *at += n;
    return true;
}

size_t detect_journal_line(const struct detect_journal_fields *f, char *buf, size_t size)
{
    if (!f->msg) return 0;
    const char *ident = f->ident_len ? f->ident : f->comm;
    size_t ident_len = f->ident_len ? f->ident_len : f->comm_len;
    time_t secs = (time_t)(f->realtime_us / 1000000);
    struct tm tm;
    if (!gmtime_r(&secs, &tm)) return 0;
    char stamp[64];
    int sn = snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%06u+00:00 ", tm.tm_year + 1900,
                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                      (unsigned)(f->realtime_us % 1000000));
    const char *nl = memchr(f->msg, '\n', f->msg_len);
    size_t msg_len = nl ? (size_t)(nl - f->msg) : f->msg_len;
    size_t at = 0;
    bool ok = put(buf, size, &at, stamp, (size_t)sn) &&
              put(buf, size, &at, f->host_len ? f->host : "localhost", f->host_len ? f->host_len : 9) &&
              put(buf, size, &at, " ", 1);
    if (ok && ident_len) {
        ok = put(buf, size, &at, ident, ident_len);
        if (ok && f->pid_len) ok = put(buf, size, &at, "[", 1) && put(buf, size, &at, f->pid, f->pid_len) &&
                                   put(buf, size, &at, "]", 1);
        ok = ok && put(buf, size, &at, ": ", 2);
    }
    ok = ok && put(buf, size, &at, f->msg, msg_len);
    return ok ? at : 0;
}

/* ---- the source ---------------------------------------------------------------------------------- */

static void field(sd_journal *j, const char *name, const char **s, size_t *n)
{
    const void *d;
    size_t l, nl = strlen(name);
    *s = NULL;
    *n = 0;
    if (sd_journal_get_data(j, name, &d, &l) < 0 || l <= nl || ((const char *)d)[nl] != '=') return;
    *s = (const char *)d + nl + 1;
    *n = l - nl - 1;
}

struct detect_journal *detect_journal_new(const struct detect_journal_opts *o, char *err, size_t errlen)
{
    if (!err) errlen = 0;
    if (!o->nunits) {
        snprintf(err, errlen, "journal: no units to trust");
        return NULL;
    }
    struct detect_journal *s = sg_xcalloc(1, sizeof *s);
    s->units = sg_xcalloc(o->nunits, sizeof *s->units);
    for (size_t i = 0; i < o->nunits; i++) s->units[s->nunits++] = sg_xstrdup(o->units[i]);
    s->trust.units = (const char *const *)s->units;
    s->trust.nunits = s->nunits;
    detect_journal_trust_init(&s->trust);
    for (size_t i = 0; i < o->nusers && s->trust.nuids < DETECT_JOURNAL_MAX_UIDS; i++) {
        struct passwd *pw = getpwnam(o->users[i]);
        if (pw) s->trust.uids[s->trust.nuids++] = pw->pw_uid;
        else sg_log(SG_LOG_INFO, "journal: user %s does not exist here; not trusted", o->users[i]);
    }
    s->max_line = o->max_line ? o->max_line : 8192;
    s->line = sg_xmalloc(s->max_line + 1);
    int r;
    if (!s->trust.nuids) {
        snprintf(err, errlen, "journal: none of the trusted users exists");
        goto fail;
    }
    if ((r = sd_journal_open(&s->j, SD_JOURNAL_LOCAL_ONLY)) < 0) {
        snprintf(err, errlen, "journal: cannot open: %s", strerror(-r));
        goto fail;
    }
    /* Files this process may not read are skipped silently: say so when nothing is readable. */
    if (sd_journal_has_runtime_files(s->j) <= 0 && sd_journal_has_persistent_files(s->j) <= 0)
        sg_log(SG_LOG_WARN, "journal: no journal file readable here (the agent's user needs group adm or systemd-journal)");
    /* Without a cursor: the oldest entry, or after the newest one (the next() after previous() from the
     * tail is the first entry written from now on). */
    if (o->from_start) r = sd_journal_seek_head(s->j);
    else if ((r = sd_journal_seek_tail(s->j)) >= 0 && (r = sd_journal_previous(s->j)) > 0)
        s->moved = true;   /* the newest entry is where a restart resumes, even if nothing follows it */
    if (r < 0 || (r = sd_journal_get_fd(s->j)) < 0) {
        snprintf(err, errlen, "journal: cannot follow: %s", strerror(-r));
        goto fail;
    }
    return s;
fail:
    detect_journal_destroy(&s);
    return NULL;
}

void detect_journal_destroy(struct detect_journal **p)
{
    if (!p || !*p) return;
    struct detect_journal *s = *p;
    if (s->j) sd_journal_close(s->j);
    for (size_t i = 0; i < s->nunits; i++) free(s->units[i]);
    free(s->units);
    free(s->line);
    free(s->cursor);
    free(s);
    *p = NULL;
}

int detect_journal_fd(const struct detect_journal *j)
{
    return sd_journal_get_fd(j->j);
}

void detect_journal_counters(const struct detect_journal *j, struct detect_journal_counters *out)
{
    *out = j->cnt;
}

const char *detect_journal_get_cursor(struct detect_journal *j)
{
    if (j->moved) {
        char *c = NULL;
        if (sd_journal_get_cursor(j->j, &c) >= 0) {
            free(j->cursor);
            j->cursor = c;
            j->moved = false;
        }
    }
    return j->cursor;
}

int detect_journal_set_cursor(struct detect_journal *j, const char *cursor)
{
    if (!*cursor || strchr(cursor, '\n') || sd_journal_seek_cursor(j->j, cursor) < 0) return -1;
    free(j->cursor);
    j->cursor = sg_xstrdup(cursor);
    j->skip_cursor = true;
    j->moved = false;
    return 0;
}

/* Counts a line that claims a trusted daemon's family from an untrusted writer, and says so now and
 * then: only the family (one of ours) and journald's fields are logged, not the forger's text. */
static void untrusted(struct detect_journal *s, const struct detect_journal_fields *f, const char *family)
{
    s->cnt.untrusted++;
    int64_t now = sg_mono_ms();
    if (s->untrusted_logged_ms && now - s->untrusted_logged_ms < UNTRUSTED_LOG_MS) return;
    s->untrusted_logged_ms = now;
    uid_t uid;
    char u[16] = "?";
    if (uid_of(f->uid, f->uid_len, &uid)) snprintf(u, sizeof u, "%u", (unsigned)uid);
    bool unit_ok = f->unit && f->unit_len < 256 && !memchr(f->unit, '\n', f->unit_len);
    sg_log(SG_LOG_WARN, "journal: ignored a line that claims to be %s, written by unit %.*s uid %s "
           "(not a trusted writer); %" PRIu64 " such lines so far",
           family, unit_ok ? (int)f->unit_len : 6, unit_ok ? f->unit : "(none)", u, s->cnt.untrusted);
}

/* One entry at the current position: delivered, counted as untrusted, or passed over. */
static int entry(struct detect_journal *s, detect_line_fn fn, void *arg)
{
    struct detect_journal_fields f = {0};
    s->cnt.entries++;
    if (sd_journal_get_realtime_usec(s->j, &f.realtime_us) < 0) {
        s->cnt.errors++;
        return 0;
    }
    field(s->j, "_SYSTEMD_UNIT", &f.unit, &f.unit_len);
    field(s->j, "_UID", &f.uid, &f.uid_len);
    field(s->j, "SYSLOG_IDENTIFIER", &f.ident, &f.ident_len);
    if (!detect_journal_trusted(&s->trust, &f)) {
        const char *family = detect_journal_claims(&s->trust, &f);
        if (family) untrusted(s, &f, family);
        return 0;
    }
    detect_journal_learn(&s->trust, &f);
    field(s->j, "_COMM", &f.comm, &f.comm_len);
    field(s->j, "_PID", &f.pid, &f.pid_len);
    field(s->j, "_HOSTNAME", &f.host, &f.host_len);
    field(s->j, "MESSAGE", &f.msg, &f.msg_len);
    size_t n = detect_journal_line(&f, s->line, s->max_line);
    if (!n) {
        if (f.msg) s->cnt.oversized++;
        return 0;
    }
    s->cnt.lines++;
    if (fn) fn(s->line, n, arg);
    return 1;
}

int detect_journal_read(struct detect_journal *s, detect_line_fn fn, void *arg)
{
    if (sd_journal_process(s->j) < 0) return -1;
    int lines = 0;
    for (int k = 0; k < READ_BATCH; k++) {
        int r = sd_journal_next(s->j);
        if (r < 0) { s->cnt.errors++; return lines ? lines : -1; }
        if (r == 0) break;
        s->moved = true;
        if (s->skip_cursor) {
            s->skip_cursor = false;
            if (s->cursor && sd_journal_test_cursor(s->j, s->cursor) > 0) continue;   /* read before the restart */
        }
        lines += entry(s, fn, arg);
    }
    return lines;
}
