/* join_dovecot.c: Dovecot's auth process and login process report the same attempts; each is counted
 * once. The auth line ("passwd-file(u,ip,<session>): Password mismatch") is one attempt; the login
 * process's summary ("(auth failed, N attempts)") stands for the N less those its session's auth lines
 * already counted. An auth line without a session is Dovecot answering Postfix's SASL: it is paired by
 * address with Postfix's own warning (join_postfix.c) through the shared addrs table. */
#include "detect/join.h"
#include "detect/rules_int.h"

enum { AUTH, LOGIN };

static const struct detect_join_role roles[] = {
    [AUTH] = {"dovecot-auth", DETECT_G_IP},     /* auth process failure: one attempt, keyed by session or address */
    [LOGIN] = {"dovecot-login", DETECT_G_IP},   /* login summary "(auth failed, N attempts)": N attempts */
};

/* Session id -> auth lines seen (a), attempts the login line reported (b). */
static void *state_new(void) { return detect_join_new(4096, 10 * 60 * 1000); }

static bool apply(void *st, struct detect_join *addrs, int role, const struct detect_match *m, struct sg_event *ev,
                  bool *also_fail)
{
    (void)also_fail;
    struct detect_join *sessions = st;
    const char *s;
    size_t n;
    struct detect_join_entry *e, *f;
    bool has_session = detect_match_group(m, m->rule->g_session, &s, &n) && n;
    if (role == AUTH) {
        if (has_session) {
            e = detect_join_get(sessions, detect_join_key('s', m->host, m->host_len, s, n, "", 0), m->now);
            e->a++;
            ev->dup = e->a <= e->b;   /* the login line already counted this attempt */
        } else {
            e = detect_join_get(addrs, detect_join_addr_key(ev), m->now);
            if (e->b > 0) { e->b--; ev->dup = true; }   /* Postfix already reported this SASL attempt */
            else e->a++;
        }
        return true;
    }
    uint32_t total = ev->count, covered = 0;
    if (has_session) {
        e = detect_join_get(sessions, detect_join_key('s', m->host, m->host_len, s, n, "", 0), m->now);
        covered = e->a > 0 ? ((uint32_t)e->a < total ? (uint32_t)e->a : total) : 0;
        if ((int32_t)total > e->b) e->b = (int32_t)total;
    }
    if (covered < total && (f = detect_join_find(addrs, detect_join_addr_key(ev), m->now)) && f->a > 0) {
        uint32_t take = total - covered < (uint32_t)f->a ? total - covered : (uint32_t)f->a;
        f->a -= (int32_t)take;
        covered += take;
    }
    if (covered >= total) ev->dup = true;
    else ev->count = total - covered;
    return true;
}

const struct detect_join_ops detect_join_dovecot = {
    .family = "dovecot",
    .roles = roles,
    .nroles = sizeof roles / sizeof roles[0],
    .state_new = state_new,
    .state_free = detect_join_destroy,
    .apply = apply,
};
