/* join_postfix.c: Postfix's smtpd and qmgr lines joined per session and per queue id.
 * - A SASL failure warning is one attempt, unless Dovecot's auth process already reported it (the
 *   shared addrs table, see join_dovecot.c); smtpd's pid and the address remember how many it saw.
 * - "disconnect from ... auth=A/B" stands for the B-A failures its session did not report line by line.
 * - "QID: client=..., sasl_username=U" (an authenticated submission) remembers the queue id, and qmgr's
 *   "QID: from=<S>, size=N, nrcpt=K" for it becomes one `sent` event with U, the address, the service
 *   of the smtpd line's tag (submission or smtp), S, N and K.
 * - "QID: client=..." without SASL (port 25) remembers the queue id the same way with no user: qmgr's
 *   line becomes one `received` event. */
#include "detect/header.h"
#include "detect/join.h"
#include "detect/rules_int.h"

#include "agent/util.h"

#include <stdlib.h>
#include <string.h>

enum { SASL, DISCONNECT, SUBMISSION, QMGR, QUEUED };

static const struct detect_join_role roles[] = {
    [SASL] = {"smtp-sasl", DETECT_G_IP},                                  /* the same attempt as a session-less auth line */
    [DISCONNECT] = {"smtp-disconnect", DETECT_G_IP | DETECT_G_OK | DETECT_G_COUNT},   /* B-A failures, most already seen */
    [SUBMISSION] = {"submission", DETECT_G_IP | DETECT_G_QID | DETECT_G_USER},        /* auth_ok, remembers the queue id */
    /* one event per queue id; the sender and size groups are optional (an operator's older rule
     * without them still loads: its events name no sender and no size) */
    [QMGR] = {"qmgr", DETECT_G_QID | DETECT_G_NRCPT},
    [QUEUED] = {"queued", DETECT_G_IP | DETECT_G_QID},                    /* no event, remembers the queue id */
};

struct postfix {
    struct detect_join smtpd;   /* smtpd pid + address -> SASL failures seen (a) */
    /* queue id -> user, address and service until qmgr's line counts it (then dropped). Messages
     * without SASL (port 25: anyone's) have a table of their own, so a flood of inbound transactions
     * cannot push an authenticated submission out before its qmgr line. */
    struct detect_join qids;    /* authenticated submissions */
    struct detect_join rcvd;    /* the others (user "") */
};

static void *state_new(void)
{
    struct postfix *pf = sg_xcalloc(1, sizeof *pf);
    detect_join_init(&pf->smtpd, 4096, 60 * 60 * 1000);
    detect_join_init(&pf->qids, 8192, 24 * 60 * 60 * 1000);
    detect_join_init(&pf->rcvd, 8192, 24 * 60 * 60 * 1000);
    return pf;
}

static void state_free(void *st)
{
    struct postfix *pf = st;
    detect_join_free(&pf->smtpd);
    detect_join_free(&pf->qids);
    detect_join_free(&pf->rcvd);
    free(pf);
}

static uint64_t smtpd_key(const struct detect_match *m, const struct sg_event *ev)
{
    return detect_join_key('p', m->host, m->host_len, m->pid, m->pid_len, ev->ip, strlen(ev->ip));
}

static uint64_t qid_key(const struct detect_match *m, const char *qid, size_t n)
{
    return detect_join_key('q', m->host, m->host_len, qid, n, "", 0);
}

/* The remembered message of a queue id, from either table, or NULL. */
static struct detect_join_entry *qid_find(struct postfix *pf, uint64_t key, int64_t now, struct detect_join **in)
{
    struct detect_join_entry *e = detect_join_find(&pf->qids, key, now);
    *in = &pf->qids;
    if (!e) {
        e = detect_join_find(&pf->rcvd, key, now);
        *in = &pf->rcvd;
    }
    return e;
}

/* qmgr lines start with the queue id; only those of messages smtpd logged matter, so the tables are
 * asked before the pattern runs. */
static bool prefilter(void *st, int role, const struct detect_match *m)
{
    struct postfix *pf = st;
    if (role != QMGR) return true;
    const char *c = memchr(m->h->msg, ':', m->h->msg_len);
    struct detect_join *in;
    return c && qid_find(pf, qid_key(m, m->h->msg, (size_t)(c - m->h->msg)), m->now, &in) != NULL;
}

static bool apply(void *st, struct detect_join *addrs, int role, const struct detect_match *m, struct sg_event *ev,
                  bool *also_fail)
{
    (void)also_fail;
    struct postfix *pf = st;
    const char *s;
    size_t n;
    struct detect_join_entry *e;
    switch (role) {
    case SASL:
        e = detect_join_get(addrs, detect_join_addr_key(ev), m->now);
        if (e->a > 0) { e->a--; ev->dup = true; }   /* Dovecot's auth line already counted it */
        else e->b++;
        detect_join_get(&pf->smtpd, smtpd_key(m, ev), m->now)->a++;
        return true;
    case DISCONNECT: {
        uint32_t ok = detect_match_uint(m, m->rule->g_ok, 0), total = ev->count;
        if (total <= ok) return false;   /* every AUTH succeeded */
        uint32_t fails = total - ok, seen = 0;
        if ((e = detect_join_find(&pf->smtpd, smtpd_key(m, ev), m->now))) {
            seen = (uint32_t)e->a;
            detect_join_drop(&pf->smtpd, e);
        }
        if (seen >= fails) { ev->dup = true; ev->count = fails; }
        else ev->count = fails - seen;
        return true;
    }
    case SUBMISSION:
    case QUEUED: {
        if (!detect_match_group(m, m->rule->g_qid, &s, &n)) return role == SUBMISSION;
        /* smtpd logs client= once per queue file: this line is a new message even when Postfix reuses
         * the id (short ids) of one remembered earlier and never counted (an abandoned transaction) */
        uint64_t key = qid_key(m, s, n);
        struct detect_join *in;
        while ((e = qid_find(pf, key, m->now, &in))) detect_join_drop(in, e);
        e = detect_join_get(role == SUBMISSION ? &pf->qids : &pf->rcvd, key, m->now);
        e->a = 1;
        detect_join_remember_addr(e, ev);
        memcpy(e->user, ev->user, sizeof e->user);
        memcpy(e->service, ev->service, sizeof e->service);
        return role == SUBMISSION;   /* an auth_ok; a message without SASL is told at qmgr */
    }
    case QMGR: {
        if (!detect_match_group(m, m->rule->g_qid, &s, &n)) return false;
        struct detect_join *in;
        e = qid_find(pf, qid_key(m, s, n), m->now, &in);
        if (!e) return false;   /* not a message smtpd logged, or already counted (a re-activation) */
        ev->kind = e->user[0] ? SG_EV_SENT : SG_EV_RECEIVED;
        detect_join_recall_addr(ev, e);
        memcpy(ev->user, e->user, sizeof ev->user);
        memcpy(ev->service, e->service, sizeof ev->service);
        detect_join_drop(in, e);   /* counted once; its slot is free for the next message */
        ev->nrcpt = detect_match_uint(m, m->rule->g_nrcpt, 1);
        ev->count = 1;
        return true;
    }
    }
    return true;
}

const struct detect_join_ops detect_join_postfix = {
    .family = "postfix",
    .roles = roles,
    .nroles = sizeof roles / sizeof roles[0],
    .state_new = state_new,
    .state_free = state_free,
    .prefilter = prefilter,
    .apply = apply,
};
