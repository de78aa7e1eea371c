/* join_sshd.c: OpenSSH lines of one connection joined by the sshd pid. Some failures name no address
 * (PAM's, "maximum authentication attempts exceeded" in older versions): they take the pid's address
 * from its "Connection from" line, or wait for "Connection closed by IP [preauth]". A login accepted
 * after failures for another user name counts those guesses as a failure too. */
#include "detect/join.h"
#include "detect/rules_int.h"

#include <string.h>

enum { CONNECT, PID, CLOSED, PAM, ACCEPTED };

static const struct detect_join_role roles[] = {
    [CONNECT] = {"sshd-connect", DETECT_G_IP},     /* "Connection from IP": remembers the address of the pid */
    [PID] = {"sshd-pid", 0},                       /* no address: takes the pid's address, or waits for it */
    [CLOSED] = {"sshd-closed", DETECT_G_IP},       /* "Connection closed by IP [preauth]": releases a waiting failure */
    [PAM] = {"sshd-pam", DETECT_G_IP},             /* PAM's failure: remembers the pid's address and user name */
    [ACCEPTED] = {"sshd-accepted", DETECT_G_IP},   /* also a failure when the pid failed for another user */
};

/* sshd pid -> address; a = a user failed (named in user), b = a failure waits for the address. */
static void *state_new(void) { return detect_join_new(2048, 10 * 60 * 1000); }

static bool apply(void *st, struct detect_join *addrs, int role, const struct detect_match *m, struct sg_event *ev,
                  bool *also_fail)
{
    (void)addrs;
    struct detect_join *pids = st;
    const char *s;
    size_t n;
    struct detect_join_entry *e;
    uint64_t key = detect_join_key('h', m->host, m->host_len, m->pid, m->pid_len, "", 0);
    switch (role) {
    case CONNECT:
        if (!m->pid_len || !ev->family) return true;
        detect_join_remember_addr(detect_join_get(pids, key, m->now), ev);
        return true;
    case PID:
        if (!m->pid_len) return false;
        e = detect_join_get(pids, key, m->now);
        if (e->family) { detect_join_recall_addr(ev, e); return true; }
        e->b = 1;   /* the address comes with the disconnect line */
        return false;
    case CLOSED:
        if (m->pid_len && (e = detect_join_find(pids, key, m->now)) && e->b > 0) {
            e->b = 0;
            ev->kind = SG_EV_AUTH_FAIL;
            return true;
        }
        ev->kind = SG_EV_CONN;
        return true;
    case PAM:
        /* The user is user= when PAM names it, else ruser=; the first one failed is kept. */
        if (!m->pid_len) return true;
        e = detect_join_get(pids, key, m->now);
        if (ev->family && !e->family) detect_join_remember_addr(e, ev);
        if (!e->a) {
            e->a = 1;
            if (ev->user[0]) memcpy(e->user, ev->user, sizeof e->user);
            else if (detect_match_group(m, m->rule->g_ruser, &s, &n)) detect_copy_trunc(e->user, sizeof e->user, s, n);
        }
        return true;
    case ACCEPTED:
        /* Names tried and failed in the connection, then a login as another one: the failures were
         * guesses (fail2ban counts this line as a failure too). */
        if (m->pid_len && (e = detect_join_find(pids, key, m->now)) && e->a && strcmp(e->user, ev->user))
            *also_fail = true;
        return true;
    }
    return true;
}

const struct detect_join_ops detect_join_sshd = {
    .family = "sshd",
    .roles = roles,
    .nroles = sizeof roles / sizeof roles[0],
    .state_new = state_new,
    .state_free = detect_join_destroy,
    .apply = apply,
};
