/* detect.h: the detection engine's public interface: rule sets, the line parser, and log file sources. */
#ifndef SG_DETECT_H
#define SG_DETECT_H

#include "detect/event.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- rules ---------------------------------------------------------------------------------------
 * A rule set is read from the shipped directory (detect/rules.d, installed as /etc/sgcluster/rules.d)
 * and then from operator directories in order; a rule whose id already exists replaces it (or removes
 * it, with `enabled = no`). Every *.conf file is read, in name order. Errors are "file:line: message". */
struct detect_rules;

/* dirs: NULL-terminated list, first the shipped directory, then operator directories. A directory that
 * does not exist is an error only for the first one. On failure returns NULL and writes the first error
 * into err (errlen bytes; err may be NULL). The returned set is owned by the caller. */
struct detect_rules *detect_rules_new(const char *const *dirs, char *err, size_t errlen);
/* Loads one file on top of a set (used by detect_rules_new and by tests). Returns 0 or -1 (err set). */
int detect_rules_load_file(struct detect_rules *r, const char *path, char *err, size_t errlen);
/* Compiles the patterns (PCRE2 with JIT) and the literal prefilter. detect_rules_new calls it; a set
 * built with detect_rules_load_file must be compiled before a parser uses it. Returns 0 or -1. */
int detect_rules_compile(struct detect_rules *r, char *err, size_t errlen);
void detect_rules_destroy(struct detect_rules **p);
/* Turns off the rules marked `reported = yes` (their attempts reach the agent as Dovecot auth-policy
 * reports instead) and compiles the set again. Returns how many were turned off, or -1 (err set). */
int detect_rules_drop_reported(struct detect_rules *r, char *err, size_t errlen);
size_t detect_rules_count(const struct detect_rules *r);
/* Id of rule i (0 <= i < count), or NULL. The string belongs to the set. */
const char *detect_rules_id(const struct detect_rules *r, size_t i);

/* ---- parser --------------------------------------------------------------------------------------
 * Takes raw lines (no trailing newline), yields 0..N events each. Holds the state that joins and
 * de-duplicates lines (Dovecot auth/login lines of one session, Postfix SASL warnings against Dovecot
 * auth lines, Postfix sasl_username + qmgr nrcpt by queue id, sshd per-pid context), all bounded.
 * Not thread-safe; one parser per thread. It does not allocate per line. */
struct detect_parser;

/* What one line may claim, by default. Any local user can write to syslog, so a forged line must not
 * stand for more than the daemons can really log:
 * - attempts ("auth failed, N attempts", "auth=A/B", sendmail's "count=N"): Dovecot's login process
 *   drops a client that has not logged in after 180 s (MASTER_LOGIN_TIMEOUT_SECS) and delays every
 *   failure by auth_failure_delay (2 s), so one connection logs at most 90; Postfix's smtpd drops a
 *   client after smtpd_hard_error_limit (20) errors and every failed AUTH is one; sendmail logs its
 *   AUTH count once, when it reaches the number of offered mechanisms + 1. 100 covers them all.
 * - recipients of one message (qmgr "nrcpt="): Postfix's smtpd_recipient_limit, 1000 by default. */
#define DETECT_DEFAULT_MAX_ATTEMPTS 100
#define DETECT_DEFAULT_MAX_RCPT 1000

struct detect_parser_opts {
    int64_t ref_ms;       /* "now" for year inference of BSD timestamps; 0 = the wall clock */
    size_t max_line;      /* longer lines are counted as oversized and skipped; 0 = 8192 */
    uint32_t max_attempts;   /* attempts one line can stand for; 0 = DETECT_DEFAULT_MAX_ATTEMPTS */
    uint32_t max_rcpt;       /* recipients one message can have; 0 = DETECT_DEFAULT_MAX_RCPT */
};

/* rules must outlive the parser (not owned). opts may be NULL. */
struct detect_parser *detect_parser_new(const struct detect_rules *rules, const struct detect_parser_opts *opts);
void detect_parser_destroy(struct detect_parser **p);

typedef void (*detect_event_fn)(const struct sg_event *ev, void *arg);
/* Parses one line; calls fn for each event (ev is only valid during the call). The first rule whose
 * program, literal and pattern match decides; a line gives 0, 1 or (an sshd login after another
 * user's failures: auth_ok then auth_fail) 2 events. Returns the number delivered. Garbled input
 * (NUL bytes, invalid UTF-8, oversize) is counted, never fatal. Times without a zone (BSD syslog,
 * Exim) are local time (TZ). */
int detect_parser_line(struct detect_parser *p, const char *line, size_t len, detect_event_fn fn, void *arg);
/* Counts a line that was too long to be read whole (the reader dropped it). */
void detect_parser_note_oversized(struct detect_parser *p);

struct detect_stats {
    uint64_t lines;       /* lines given to detect_parser_line (+ noted oversized ones) */
    uint64_t matched;     /* lines that gave at least one event */
    uint64_t events;      /* events delivered, dups included */
    uint64_t dups;        /* events marked dup */
    uint64_t oversized;   /* lines longer than max_line */
    uint64_t invalid;     /* lines with NUL bytes or invalid UTF-8 (still parsed: attackers choose user names) */
    uint64_t bad_time;    /* lines whose timestamp could not be read (events get time_ms = 0) */
    uint64_t capped_attempts;   /* lines that claimed more attempts than max_attempts (counted as the cap) */
    uint64_t capped_rcpt;       /* messages that claimed more recipients than max_rcpt (counted as the cap) */
    uint64_t capped_size;       /* messages that claimed more than SG_EV_SIZE_MAX bytes (counted as that) */
    uint64_t long_senders;      /* envelope senders longer than SG_EV_SENDER_MAX - 1 bytes (their end kept) */
};
/* Writes the counters into *out. */
void detect_parser_stats(const struct detect_parser *p, struct detect_stats *out);
/* Lines matched by rule i of the parser's rule set. */
uint64_t detect_parser_rule_hits(const struct detect_parser *p, size_t i);

/* ---- log file sources ----------------------------------------------------------------------------
 * One source follows one path with inotify: it survives rotation by rename-and-create and by
 * copytruncate without losing or repeating a line, waits for a file that does not exist yet, and keeps
 * a cursor (device, inode, offset, hash of the first line) that can be saved and restored.
 * Use from a czmq zloop: poll detect_source_fd() for input and call detect_source_read(); call
 * detect_source_check() from a timer (about every second). */
struct detect_source;

struct detect_source_opts {
    bool from_start;      /* a file seen for the first time is read from its start (default: its end) */
    size_t max_line;      /* longer lines are dropped and counted; 0 = 8192 */
    size_t turn_bytes;    /* one read or check reads at most about this much (0: all there is), so that
                           * a burst of log (a flood an attacker can cause) never holds the caller's
                           * loop; detect_source_behind() then says to look again soon */
};

/* Complete lines only, without the newline; line is valid only during the call. */
typedef void (*detect_line_fn)(const char *line, size_t len, void *arg);

/* Checks that path can be followed: 0 when it is a regular file or does not exist yet (it is waited
 * for); -1 with "PATH: not a regular file (a FIFO)" (or a directory, a device, a socket, or stat's
 * error) in err otherwise. A source never opens anything but a regular file, and never blocks on an
 * open: this check is what refuses such a path at `sgagent -n` and at start. */
int detect_source_check_path(const char *path, char *err, size_t errlen);

/* Returns NULL only when inotify cannot be set up. The file need not exist. opts may be NULL. */
struct detect_source *detect_source_new(const char *path, const struct detect_source_opts *opts);
void detect_source_destroy(struct detect_source **p);
const char *detect_source_path(const struct detect_source *s);
/* The inotify descriptor to poll for input (ZMQ_POLLIN). Owned by the source. */
int detect_source_fd(const struct detect_source *s);
/* Drains inotify and delivers every complete line now available. Returns lines delivered, or -1. */
int detect_source_read(struct detect_source *s, detect_line_fn fn, void *arg);
/* Periodic check: opens a file that appeared, follows a rename or a truncation (reading what is left of
 * the old file first; a renamed-away file is followed until quiet for 5 s). Also reads new lines.
 * Returns lines delivered, or -1. */
int detect_source_check(struct detect_source *s, detect_line_fn fn, void *arg);
/* True when the last read or check stopped at opts.turn_bytes with more of the file left: call
 * detect_source_check() again soon (nothing else would wake the caller for what is already written). */
bool detect_source_behind(const struct detect_source *s);

struct detect_cursor {
    dev_t dev;
    ino_t ino;
    off_t offset;         /* bytes consumed: the start of the first line not yet delivered */
    uint64_t head_hash;   /* FNV-1a of the file's first line (up to 256 bytes), 0 when unknown */
};
/* The current cursor; returns -1 when no file is open. */
int detect_source_get_cursor(const struct detect_source *s, struct detect_cursor *out);
/* Sets where to resume; applied when the file is next opened (call before the first read/check).
 * If the file's identity or first line differ, the file is read from its start (it is a new file). */
void detect_source_set_cursor(struct detect_source *s, const struct detect_cursor *c);

struct detect_source_counters {
    uint64_t lines, bytes, oversized, rotations, truncations;
    uint64_t reopen_errors;   /* the path could not be opened, or is no longer a regular file */
    int64_t last_line_ms;     /* wall clock (unix ms) when a line was last delivered; 0: none yet */
    bool open;                /* a file is open under the path now (false while it does not exist) */
};
void detect_source_counters(const struct detect_source *s, struct detect_source_counters *out);

struct detect_journal;   /* the journal source, journal.h */

/* Saves the cursors of n sources, and the journal's (journal may be NULL), into one state file
 * (atomically: temp file + rename). Returns 0 or -1. */
int detect_state_save(const char *state_path, struct detect_source *const *src, size_t n, struct detect_journal *journal);
/* Loads cursors from a state file and gives each source the one saved for its path, and the journal
 * (may be NULL) its cursor. A missing file is not an error (returns 0: nothing to resume). Returns -1
 * on a malformed file. */
int detect_state_load(const char *state_path, struct detect_source *const *src, size_t n, struct detect_journal *journal);

#endif
