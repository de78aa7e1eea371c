/* join.h (internal to detect/): bounded tables that join lines of one session or one queue id, and the
 * per-daemon join handlers behind struct detect_join_ops. The table (detect_join_*) also joins log
 * events with Dovecot's auth-policy reports in agent/attempt_once.c. */
#ifndef SG_DETECT_JOIN_H
#define SG_DETECT_JOIN_H

#include "detect/event.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One remembered session, address, queue id or pid. What a and b count depends on the table. */
struct detect_join_entry {
    int32_t a, b;
    int family;
    uint8_t addr[16];
    char ip[SG_EV_IP_MAX];
    char user[SG_EV_USER_MAX];
    char service[SG_EV_SERVICE_MAX];
};

/* Open addressing with a short probe window; when the window is full the oldest entry goes, so memory
 * is fixed at creation and an attacker flooding sessions only shortens how long entries live. */
struct detect_join {
    uint64_t *keys;                 /* probed apart from the payload: one cache line per lookup */
    int64_t *t;                     /* last touch, ms of log time */
    struct detect_join_entry *v;
    size_t mask;
    int64_t ttl_ms;
    uint64_t evictions;
};

void detect_join_init(struct detect_join *j, size_t slots_pow2, int64_t ttl_ms);
void detect_join_free(struct detect_join *j);
/* A table of its own (the state of a family that needs one), and its release (takes a detect_join *). */
struct detect_join *detect_join_new(size_t slots_pow2, int64_t ttl_ms);
void detect_join_destroy(void *j);
/* The live entry for key, or NULL (absent or older than the ttl). */
struct detect_join_entry *detect_join_find(struct detect_join *j, uint64_t key, int64_t now);
/* The live entry for key, created zeroed when absent. Never NULL. */
struct detect_join_entry *detect_join_get(struct detect_join *j, uint64_t key, int64_t now);
void detect_join_drop(struct detect_join *j, struct detect_join_entry *e);

/* FNV-1a over several byte strings, each followed by a separator; never 0. */
uint64_t detect_join_key(char domain, const char *a, size_t an, const char *b, size_t bn, const char *c, size_t cn);

/* The key of an address in the shared addrs table (see detect_join_ops.apply). Dovecot's auth line and
 * Postfix's SASL warning for one attempt are often written to different files in different formats
 * (Dovecot's own log_path names no host, Postfix's syslog line does), so the host is not part of the
 * key: an agent reads the logs of its own node only. */
uint64_t detect_join_addr_key(const struct sg_event *ev);
/* Copies an event's address into a join entry, and back. */
void detect_join_remember_addr(struct detect_join_entry *e, const struct sg_event *ev);
void detect_join_recall_addr(struct sg_event *ev, const struct detect_join_entry *e);

/* ---- join handlers, one per daemon family (join_<family>.c) ----------------------------------------
 * A rule may name a role ("role = smtp-sasl"): its match is then joined with other lines of the same
 * session, queue id or process before it becomes an event (or none). Each daemon family keeps its own
 * tables; a new daemon is a new file and an entry in detect_join_families (join.c). */
struct detect_rule;
struct detect_header;

/* One matched line, as a handler sees it. */
struct detect_match {
    const struct detect_header *h;
    const char *host, *pid;            /* syslog host and the tag's pid: "" when absent, never NULL */
    size_t host_len, pid_len;
    int64_t now;                       /* the log clock (time of the latest line), for the tables' ttl */
    const struct detect_rule *rule;
    const char *subj;                  /* what the pattern ran on, and its match data */
    void *md;                          /* pcre2_match_data */
};
/* Group g as a decimal number, saturating at UINT64_MAX; dflt when absent or not a number. */
uint64_t detect_match_u64(const struct detect_match *m, int g, uint64_t dflt);
/* Group g as a decimal number, saturating at UINT32_MAX; dflt when absent or not a number.
 * (detect_match_group() and detect_copy_trunc(), run several times per matched line, are inline in
 * rules_int.h.) */
uint32_t detect_match_uint(const struct detect_match *m, int g, uint32_t dflt);

/* Named groups a role needs in its rule's pattern (checked when rules are compiled). */
enum {
    DETECT_G_IP = 1, DETECT_G_QID = 2, DETECT_G_NRCPT = 4, DETECT_G_USER = 8, DETECT_G_OK = 16, DETECT_G_COUNT = 32,
};
struct detect_join_role {
    const char *name;                  /* as written in rule files */
    unsigned needs;                    /* DETECT_G_* bits */
};

struct detect_join_ops {
    const char *family;
    const struct detect_join_role *roles;   /* a rule's role is an index into this */
    size_t nroles;
    /* The family's tables, fixed in size at creation (NULL never returned: allocation aborts). */
    void *(*state_new)(void);
    void (*state_free)(void *st);
    /* Optional: false when this line cannot give an event for the role, asked before the pattern runs
     * (a cheap table lookup instead of a regex on the many lines that do not matter). */
    bool (*prefilter)(void *st, int role, const struct detect_match *m);
    /* Joins the event of a match: may change its count, kind, address or mark it dup. Returns false when
     * the line gives no event after all; sets *also_fail when it is also a failure (a second event).
     * addrs is shared by the families that pair lines across daemons (Dovecot's auth process and
     * Postfix's SASL warnings for one attempt): address -> Dovecot auth lines (a), Postfix SASL
     * failures (b). */
    bool (*apply)(void *st, struct detect_join *addrs, int role, const struct detect_match *m, struct sg_event *ev,
                  bool *also_fail);
};

extern const struct detect_join_ops detect_join_dovecot, detect_join_postfix, detect_join_sshd, detect_join_sendmail;
/* Every family, NULL-terminated; the parser keeps one state per entry. */
extern const struct detect_join_ops *const detect_join_families[];
#define DETECT_JOIN_FAMILIES 4
/* Finds a role by name: sets *family (index into detect_join_families) and *role. Returns 0 or -1. */
int detect_join_role_find(const char *name, int *family, int *role);

#endif
