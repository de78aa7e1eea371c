/* attempt_once.h: one login attempt that reaches the agent twice, as a log event (a rule marked
 * `reported = yes`) and as a Dovecot auth-policy report, counts once: whichever comes first counts,
 * the second is marked dup (scenario counters skip it; its password hash is still recorded).
 *
 * Joined by (kind, session id, address, user): Dovecot writes its session id into the auth line
 * ("passwd-file(u,ip,<S>)"), the login line ("session=<S>") and the report (session_id); Postfix's
 * SASL lines and their reports have none, and join by address and user. The user is compared in
 * ASCII lower case (Dovecot's default auth_username_format is %Lu). Per key, the attempts one side
 * delivered and the other has not yet are remembered (a log line may stand for N attempts).
 *
 * Bounded: a fixed table of ATTEMPT_ONCE_SLOTS entries (detect/join.h: a short probe window, the
 * oldest entry evicted when it is full, each eviction counted), an entry lives ATTEMPT_ONCE_TTL_MS
 * after its last use and is freed as soon as both sides match. Keys are SipHash digests under a
 * random per-process key, so nobody can aim a collision at another user's entry. An attacker who
 * floods the table only makes entries go early: an evicted attempt is counted twice, never less, and
 * only events with the same session, address and user can ever cancel each other. */
#ifndef SG_AGENT_ATTEMPT_ONCE_H
#define SG_AGENT_ATTEMPT_ONCE_H

#include <stdint.h>

#include "detect/event.h"

#define ATTEMPT_ONCE_SLOTS 8192              /* entries (power of two); about 2 MiB */
#define ATTEMPT_ONCE_TTL_MS (180 * 1000)     /* Dovecot's login timeout: a session's login line comes
                                              * at most this long after its first attempt */

enum attempt_source { ATTEMPT_LOG, ATTEMPT_REPORT };

struct attempt_once_stats {
    uint64_t log, report;     /* events joined from each side (auth_ok/auth_fail with an address) */
    uint64_t once;            /* attempts that came from both sides and were counted once */
    uint64_t evictions;       /* live entries pushed out by a full probe window */
};

struct attempt_once;

/* Never NULL (allocation failure aborts). */
struct attempt_once *attempt_once_new(void);
void attempt_once_destroy(struct attempt_once **p);

/* Joins ev from src at now_ms (the agent's clock) with what the other side delivered: lowers
 * ev->count by the attempts the other side already counted, and sets ev->dup when none is left.
 * Events that are dup already, of other kinds than auth_ok/auth_fail, or without an address pass
 * unchanged. */
void attempt_once_join(struct attempt_once *o, enum attempt_source src, struct sg_event *ev, int64_t now_ms);

void attempt_once_stats(const struct attempt_once *o, struct attempt_once_stats *out);

#endif
