/* journal.h: the systemd journal as a log source (libsystemd's sd-journal), beside the file sources of
 * detect.h. It follows the local journal and hands the rules the same line a syslog file would hold.
 *
 * Trust: an entry counts only when journald itself says a mail daemon wrote it: its _SYSTEMD_UNIT is one
 * of the configured units and its _UID one of the configured users. journald sets those fields from the
 * sender's credentials and cgroup; a client cannot set a field that starts with '_'. SYSLOG_IDENTIFIER,
 * SYSLOG_PID and the message are the sender's choice: any local user writes `logger -t postfix/smtpd`.
 * The user check keeps out processes a daemon runs for its users inside its own unit (a Postfix
 * .forward pipe runs as the recipient, in postfix@-.service).
 *
 * A line from anyone else is ignored; it is counted as untrusted (a forgery) when its identifier
 * claims a trusted daemon: its family (the identifier up to the first '/': "postfix/smtpd" ->
 * "postfix") is the name of a trusted unit (up to '@' or '.': "postfix@-.service" -> "postfix") or
 * one a trusted writer has used. Lines of daemons nobody asked for (sshd in ssh.service) are not. */
#ifndef SG_DETECT_JOURNAL_H
#define SG_DETECT_JOURNAL_H

#include "detect/detect.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The units and users trusted by default: Debian's Postfix (the master runs in postfix@-.service) and
 * Dovecot, and the users their logging processes run as. */
#define DETECT_JOURNAL_UNITS_DEFAULT "postfix@-.service dovecot.service"
#define DETECT_JOURNAL_USERS_DEFAULT "root postfix dovecot dovenull"
#define DETECT_JOURNAL_MAX_UIDS 32
#define DETECT_JOURNAL_MAX_FAMILIES 32
#define DETECT_JOURNAL_FAMILY_MAX 32

/* ---- one entry: pure, no journal needed (unit-tested) ---------------------------------------------- */

/* The fields of one entry that matter, each without its "NAME=" and not NUL-terminated (NULL when the
 * entry lacks it). */
struct detect_journal_fields {
    const char *unit, *ident, *pid, *uid, *host, *comm, *msg;
    size_t unit_len, ident_len, pid_len, uid_len, host_len, comm_len, msg_len;
    uint64_t realtime_us;         /* the journal's own receive time (not the sender's SYSLOG_TIMESTAMP) */
};

struct detect_journal_trust {
    const char *const *units;     /* unit names, exact */
    size_t nunits;
    uid_t uids[DETECT_JOURNAL_MAX_UIDS];
    size_t nuids;
    char families[DETECT_JOURNAL_MAX_FAMILIES][DETECT_JOURNAL_FAMILY_MAX];   /* identifiers' families */
    size_t nfamilies;
};

/* Fills t's families from its unit names (call once units are set). */
void detect_journal_trust_init(struct detect_journal_trust *t);
/* True when the entry was written by a trusted unit running as a trusted user (trusted fields only). */
bool detect_journal_trusted(const struct detect_journal_trust *t, const struct detect_journal_fields *f);
/* Remembers the family of a trusted entry's identifier (bounded; later ones are dropped when full). */
void detect_journal_learn(struct detect_journal_trust *t, const struct detect_journal_fields *f);
/* The trusted daemon family an untrusted entry's identifier claims (a forgery), or NULL. The string
 * belongs to t. */
const char *detect_journal_claims(const struct detect_journal_trust *t, const struct detect_journal_fields *f);

/* Writes the line the rules expect, "2026-12-06T19:44:53.123456+00:00 HOST IDENT[PID]: MESSAGE", into
 * buf (size bytes) and returns its length, without a NUL. The time is the journal's realtime in UTC, the
 * pid journald's _PID; IDENT falls back to _COMM. Returns 0 when the line would not fit (oversized) or
 * the entry has no message. A newline in the message ends it (the rest is not part of this line). */
size_t detect_journal_line(const struct detect_journal_fields *f, char *buf, size_t size);

/* ---- the source ----------------------------------------------------------------------------------- */
struct detect_journal;

struct detect_journal_opts {
    const char *const *units;     /* trusted units (at least one) */
    size_t nunits;
    const char *const *users;     /* trusted user names; a name unknown here is skipped (logged) */
    size_t nusers;
    bool from_start;              /* without a saved cursor: from the oldest entry (default: new ones only) */
    size_t max_line;              /* longer lines are dropped and counted; 0 = 8192 */
};

/* Opens the local journal (system and user files this process may read). NULL (err set) when the
 * journal cannot be opened or no trusted user exists. */
struct detect_journal *detect_journal_new(const struct detect_journal_opts *opts, char *err, size_t errlen);
void detect_journal_destroy(struct detect_journal **p);
/* The descriptor to poll for input (ZMQ_POLLIN). Owned by the source. */
int detect_journal_fd(const struct detect_journal *j);
/* Processes the journal's wake-up and delivers the lines of trusted entries written since the last
 * read (at most a bounded number per call: the periodic call continues). Returns lines delivered or -1. */
int detect_journal_read(struct detect_journal *j, detect_line_fn fn, void *arg);

/* The cursor of the last entry read, or the one set and not yet reached; NULL when there is none.
 * The string belongs to the source and stays valid until the next call on it. */
const char *detect_journal_get_cursor(struct detect_journal *j);
/* Resumes after the entry with this cursor (that entry itself is skipped when it still exists). Call
 * before the first read. Returns 0, or -1 when the cursor is malformed (the source keeps its place). */
int detect_journal_set_cursor(struct detect_journal *j, const char *cursor);

struct detect_journal_counters {
    uint64_t entries;             /* entries looked at */
    uint64_t lines;               /* lines delivered (trusted) */
    uint64_t untrusted;           /* entries that claim a trusted daemon but were not written by one */
    uint64_t oversized;           /* trusted entries whose line was too long */
    uint64_t errors;              /* entries that could not be read */
};
void detect_journal_counters(const struct detect_journal *j, struct detect_journal_counters *out);

#endif
