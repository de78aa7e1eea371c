/* join_sendmail.c: sendmail names the client of a refused recipient only in the queue id's from= line:
 * "QID: <rcpt>... No such user here" is remembered, and the from= line of that queue id (with
 * relay=[ip]) becomes the event. A message with no refused recipient is not a probe. */
#include "detect/join.h"
#include "detect/rules_int.h"

enum { NOUSER, FROM };

static const struct detect_join_role roles[] = {
    [NOUSER] = {"sendmail-nouser", DETECT_G_QID},           /* remembers the queue id, no event */
    [FROM] = {"sendmail-from", DETECT_G_IP | DETECT_G_QID},  /* an event only after NOUSER */
};

/* Queue id -> a = 1 once a recipient was refused, 2 once reported. */
static void *state_new(void) { return detect_join_new(4096, 24 * 60 * 60 * 1000); }

static bool apply(void *st, struct detect_join *addrs, int role, const struct detect_match *m, struct sg_event *ev,
                  bool *also_fail)
{
    (void)addrs;
    (void)ev;
    (void)also_fail;
    struct detect_join *qids = st;
    const char *s;
    size_t n;
    if (!detect_match_group(m, m->rule->g_qid, &s, &n)) return false;
    uint64_t key = detect_join_key('m', m->host, m->host_len, s, n, "", 0);
    if (role == NOUSER) {
        detect_join_get(qids, key, m->now)->a = 1;
        return false;   /* judged with the queue id's from= line, which names the client */
    }
    struct detect_join_entry *e = detect_join_find(qids, key, m->now);
    if (!e || e->a != 1) return false;
    e->a = 2;
    return true;
}

const struct detect_join_ops detect_join_sendmail = {
    .family = "sendmail",
    .roles = roles,
    .nroles = sizeof roles / sizeof roles[0],
    .state_new = state_new,
    .state_free = detect_join_destroy,
    .apply = apply,
};
