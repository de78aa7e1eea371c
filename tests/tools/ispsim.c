/* ispsim.c: an ISP's IMAP traffic, as Dovecot logs it (its own login and failure line formats), for
 * `sgcluster replay`: a benign population mixed with attacks, deterministic for a seed.
 *
 *   tool_ispsim [--hours H] [--seed N] [--truth FILE] > mail.log
 *
 * Benign: customers in three dynamic pools (one customer per address, 100.64.1-3.0/24) and a CGNAT
 * pool (four per address, 100.64.4.0/24), mail clients polling every 5-15 minutes; 5% changed their
 * password: a stale phone at home fails about every minute while their laptop logs in with the new
 * one; 2% of logins start with a typo; 10% also roam on a mobile pool (a new 100.80.x.y each hour).
 * Attacks: brute force from single addresses (every 10 s), a botnet spraying users (each address
 * every 2 minutes, a different user), many addresses on one account (two tries each), and infected
 * customers inside a dynamic pool (every 15 s). Attackers start in the second hour.
 *
 * The truth file has one line per address: "ADDR good CUSTOMERS" or "ADDR attack CLASS". */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum kind { K_POLL, K_STALE, K_ROAM, K_BRUTE, K_SPRAY, K_ACCOUNT, K_INFECTED };
static const char *const class_name[] = {"", "", "", "brute-force", "spray", "one-account", "infected-in-pool"};

struct actor {
    enum kind kind;
    char ip[40];
    char user[48];
    int64_t next, period, left;   /* left: attempts still to make (-1: no limit) */
};

static uint64_t rng = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static int64_t between(int64_t lo, int64_t hi) { return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1)); }

static struct actor *actors;
static size_t nactors, cap;
static FILE *truth;

static struct actor *add(enum kind k, const char *ip, const char *user, int64_t first, int64_t period, int64_t left)
{
    if (nactors == cap) {
        cap = cap ? cap * 2 : 1024;
        actors = realloc(actors, cap * sizeof *actors);
        if (!actors) exit(1);
    }
    struct actor *a = &actors[nactors++];
    memset(a, 0, sizeof *a);
    a->kind = k;
    snprintf(a->ip, sizeof a->ip, "%s", ip);
    snprintf(a->user, sizeof a->user, "%s", user);
    a->next = first;
    a->period = period;
    a->left = left;
    if (truth && k >= K_BRUTE) fprintf(truth, "%s attack %s\n", ip, class_name[k]);
    return a;
}

static void line(int64_t t, bool ok, const char *user, const char *ip)
{
    static unsigned session;
    char when[32];
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(when, sizeof when, "%b %e %H:%M:%S", &tm);
    if (ok)
        printf("%s mx1 dovecot: imap-login: Login: user=<%s>, method=PLAIN, rip=%s, lip=192.0.2.1, mpid=%u, TLS, "
               "session=<s%08x>\n", when, user, ip, 1000 + session % 30000, session);
    else
        printf("%s mx1 dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<%s>, method=PLAIN, "
               "rip=%s, lip=192.0.2.1, TLS, session=<s%08x>\n", when, user, ip, session);
    session++;
}

int main(int argc, char **argv)
{
    int64_t hours = 6;
    const char *truth_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--hours") && i + 1 < argc) hours = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) rng ^= strtoull(argv[++i], NULL, 10) * 0x9E3779B97F4A7C15ULL;
        else if (!strcmp(argv[i], "--truth") && i + 1 < argc) truth_path = argv[++i];
        else { fprintf(stderr, "usage: tool_ispsim [--hours H] [--seed N] [--truth FILE] > mail.log\n"); return 2; }
    }
    if (hours < 2 || hours > 72) { fprintf(stderr, "ispsim: --hours from 2 to 72\n"); return 2; }
    if (truth_path && !(truth = fopen(truth_path, "w"))) { perror(truth_path); return 1; }
    /* Two days ago at midnight UTC: the replay reads syslog times without a year as the nearest one. */
    int64_t t0 = ((int64_t)time(NULL) / 86400 - 2) * 86400, end = t0 + hours * 3600;
    char ip[40], user[48];
    int cust = 0;
    for (int pool = 1; pool <= 4; pool++) {
        int per = pool == 4 ? 4 : 1;
        for (int host = 10; host < 250; host++) {
            snprintf(ip, sizeof ip, "100.64.%d.%d", pool, host);
            if (pool == 1 && host >= 200 && host < 203) {   /* infected customers' own addresses */
                add(K_INFECTED, ip, "", t0 + 3600 + between(0, 1800), 15, -1);
                continue;
            }
            if (truth) fprintf(truth, "%s good", ip);
            for (int k = 0; k < per; k++, cust++) {
                snprintf(user, sizeof user, "c%05d@example.jp", cust);
                if (truth) fprintf(truth, " %s", user);
                add(K_POLL, ip, user, t0 + between(0, 900), between(300, 900), -1);
                if (rnd() % 100 < 5) add(K_STALE, ip, user, t0 + between(1800, 3 * 3600), between(50, 90), -1);
                if (rnd() % 100 < 10) add(K_ROAM, "", user, t0 + between(0, 3600), 3600, -1);
            }
            if (truth) fputc('\n', truth);
        }
    }
    for (int i = 1; i <= 5; i++) {
        snprintf(ip, sizeof ip, "198.51.100.%d", i);
        add(K_BRUTE, ip, "", t0 + 3600 + between(0, 3600), 10, -1);
    }
    for (int i = 1; i <= 60; i++) {
        snprintf(ip, sizeof ip, "203.0.%d.%d", 100 + i % 20, 1 + i);
        add(K_SPRAY, ip, "", t0 + 3600 + between(0, 600), 120, -1);
    }
    for (int i = 1; i <= 120; i++) {
        snprintf(ip, sizeof ip, "45.%d.%d.%d", 10 + i % 90, (i * 37) % 250, 1 + (i * 11) % 250);
        add(K_ACCOUNT, ip, "c00007@example.jp", t0 + 3600 + between(0, 3 * 3600), 1800, 2);
    }
    for (int64_t t = t0; t < end; t++) {
        for (size_t i = 0; i < nactors; i++) {
            struct actor *a = &actors[i];
            if (a->next != t || a->left == 0) continue;
            a->next = t + a->period;
            if (a->left > 0) a->left--;
            switch (a->kind) {
            case K_POLL:
                if (rnd() % 100 < 2) line(t, false, a->user, a->ip);   /* a typo, then the right password */
                line(t, true, a->user, a->ip);
                break;
            case K_STALE: line(t, false, a->user, a->ip); break;
            case K_ROAM:
                snprintf(a->ip, sizeof a->ip, "100.80.%d.%d", (int)between(0, 255), (int)between(1, 254));
                if (truth) fprintf(truth, "%s good %s\n", a->ip, a->user);
                line(t, true, a->user, a->ip);
                break;
            case K_BRUTE:
            case K_SPRAY:
            case K_INFECTED:
                snprintf(user, sizeof user, "c%05d@example.jp", (int)between(0, cust - 1));
                line(t, false, a->kind == K_BRUTE ? "admin@example.jp" : user, a->ip);
                break;
            case K_ACCOUNT: line(t, false, a->user, a->ip); break;
            }
        }
    }
    if (truth) fclose(truth);
    free(actors);
    return 0;
}
