/* parser.c: one raw log line in, 0..N events out: header, program filter, literal prefilter, regex, joins.
 *
 * Cost per line is kept flat: the header is read by hand, the set of rules that can apply to a program
 * is cached, one pass over the line finds every rule literal, and only the rules whose program and
 * literal both match run their (JIT-compiled) pattern, first match wins. Nothing is allocated per line. */
#include "detect/header.h"
#include "detect/join.h"
#include "detect/rules_int.h"

#include "agent/util.h"

#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define PROG_CACHE 256  /* indexed by the top 8 bits of the hash, 4 slots probed */

struct prog_cache_entry {
    uint64_t hash;
    uint64_t mask[DETECT_MASK_WORDS];
    const char *service;               /* what the program name says about the service, or NULL */
    bool tag_rules;                    /* some rule in mask matches from the tag on */
};

struct detect_parser {
    const struct detect_rules *rules;
    struct detect_clock clock;
    size_t max_line;
    uint32_t max_attempts, max_rcpt;
    int64_t now;                       /* log clock: last line time seen, for the joins' ttl */
    pcre2_match_data *md;
    struct detect_stats st;
    uint64_t *hits;
    struct prog_cache_entry cache[PROG_CACHE];
    struct detect_join sessions;       /* Dovecot session id -> auth lines (a), login attempts (b) */
    struct detect_join addrs;          /* address -> Dovecot auth lines (a), Postfix SASL failures (b) */
    struct detect_join smtpd;          /* Postfix smtpd pid+address -> SASL failures seen (a) */
    struct detect_join qids;           /* Postfix queue id -> submitting user and address; a=2 once sent */
    struct detect_join sshd;           /* sshd pid -> address; b = a failure waiting for the address */
};

struct detect_parser *detect_parser_new(const struct detect_rules *rules, const struct detect_parser_opts *opts)
{
    if (!rules || !rules->compiled) return NULL;
    struct detect_parser *p = sg_xcalloc(1, sizeof *p);
    p->rules = rules;
    detect_clock_init(&p->clock, opts ? opts->ref_ms : 0);
    p->max_line = (opts && opts->max_line) ? opts->max_line : 8192;
    p->max_attempts = (opts && opts->max_attempts) ? opts->max_attempts : DETECT_DEFAULT_MAX_ATTEMPTS;
    p->max_rcpt = (opts && opts->max_rcpt) ? opts->max_rcpt : DETECT_DEFAULT_MAX_RCPT;
    p->md = pcre2_match_data_create(rules->max_groups, NULL);
    if (!p->md) sg_oom();
    p->hits = sg_xcalloc(rules->n ? rules->n : 1, sizeof *p->hits);
    detect_join_init(&p->sessions, 4096, 10 * 60 * 1000);
    detect_join_init(&p->addrs, 4096, 30 * 1000);
    detect_join_init(&p->smtpd, 4096, 60 * 60 * 1000);
    detect_join_init(&p->qids, 8192, 24 * 60 * 60 * 1000);
    detect_join_init(&p->sshd, 2048, 10 * 60 * 1000);
    return p;
}

void detect_parser_destroy(struct detect_parser **pp)
{
    if (!pp || !*pp) return;
    struct detect_parser *p = *pp;
    pcre2_match_data_free(p->md);
    free(p->hits);
    detect_join_free(&p->sessions);
    detect_join_free(&p->addrs);
    detect_join_free(&p->smtpd);
    detect_join_free(&p->qids);
    detect_join_free(&p->sshd);
    free(p);
    *pp = NULL;
}

void detect_parser_note_oversized(struct detect_parser *p)
{
    p->st.lines++;
    p->st.oversized++;
}

void detect_parser_stats(const struct detect_parser *p, struct detect_stats *out)
{
    *out = p->st;
}

uint64_t detect_parser_rule_hits(const struct detect_parser *p, size_t i)
{
    return i < p->rules->n ? p->hits[i] : 0;
}

/* True when s is valid UTF-8 without NUL bytes. ASCII is checked eight bytes at a time. */
static bool clean_text(const unsigned char *s, size_t n)
{
    size_t i = 0;
#ifdef __SSE2__
    /* Sixteen bytes per step: a set high bit (non-ASCII) or a zero byte sends us to the exact loop. */
    const __m128i zero = _mm_setzero_si128();
    while (i + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        if (_mm_movemask_epi8(_mm_or_si128(v, _mm_cmpeq_epi8(v, zero)))) break;
        i += 16;
    }
#endif
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            /* no high bit and no zero byte in the word: skip it whole */
            if (!(w & 0x8080808080808080ULL) && !((w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL)) {
                i += 8;
                continue;
            }
        }
        unsigned char c = s[i];
        if (c == 0) return false;
        if (c < 0x80) { i++; continue; }
        size_t need = (c >= 0xc2 && c <= 0xdf) ? 1 : (c >= 0xe0 && c <= 0xef) ? 2 : (c >= 0xf0 && c <= 0xf4) ? 3 : 9;
        if (need == 9 || need > n - i - 1) return false;
        for (size_t k = 1; k <= need; k++)
            if ((s[i + k] & 0xc0) != 0x80) return false;
        if (c == 0xe0 && s[i + 1] < 0xa0) return false;   /* overlong */
        if (c == 0xed && s[i + 1] > 0x9f) return false;   /* surrogates */
        if (c == 0xf0 && s[i + 1] < 0x90) return false;
        if (c == 0xf4 && s[i + 1] > 0x8f) return false;
        i += need + 1;
    }
    return true;
}

/* Hash of a program name, eight bytes at a time (it runs on every line). */
static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;
    return h | 1;
}

/* Maps what a tag or a capture says to a service name; NULL when it names none. */
static const char *service_of(const char *s, size_t n)
{
    static const struct { const char *word; const char *service; } map[] = {
        {"submission", "submission"}, {"smtps", "submission"}, {"sieve", "sieve"}, {"imap", "imap"},
        {"pop3", "pop3"},             {"pop", "pop3"},         {"ssh", "ssh"},     {"smtp", "smtp"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (memmem(s, n, map[i].word, strlen(map[i].word))) return map[i].service;
    return NULL;
}

/* The rules whose program filter accepts this program, and the service its name implies, cached by
 * program name (a log has a handful of programs, so this is a hit for nearly every line). */
static const struct prog_cache_entry *prog_lookup(struct detect_parser *p, const char *prog, size_t n)
{
    uint64_t h = hash_bytes(prog, n);
    size_t at = (size_t)(h >> 56);
    struct prog_cache_entry *c = NULL;
    for (size_t i = 0; i < 4; i++) {
        struct prog_cache_entry *e = &p->cache[(at + i) & (PROG_CACHE - 1)];
        if (e->hash == h) return e;
        if (!c && !e->hash) c = e;
    }
    if (!c) c = &p->cache[at];   /* all four taken: a log with this many programs recomputes sometimes */
    c->hash = h;
    memset(c->mask, 0, sizeof c->mask);
    c->tag_rules = false;
    for (size_t i = 0; i < p->rules->n; i++) {
        const struct detect_rule *r = &p->rules->v[i];
        if (r->enabled && detect_rule_prog_match(r, prog, n)) {
            c->mask[i >> 6] |= 1ULL << (i & 63);
            c->tag_rules |= r->subject_tag;
        }
    }
    c->service = service_of(prog, n);
    return c;
}

static void copy_trunc(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap) n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* Captured group g of the last match, or false when unset. */
static bool cap(const struct detect_parser *p, const char *subj, int g, const char **s, size_t *n)
{
    if (g < 0) return false;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(p->md);
    if (ov[2 * g] == PCRE2_UNSET) return false;
    *s = subj + ov[2 * g];
    *n = ov[2 * g + 1] - ov[2 * g];
    return true;
}

/* A captured decimal number, saturating at UINT32_MAX (the caps below then apply); dflt when unset. */
static uint32_t cap_uint(const struct detect_parser *p, const char *subj, int g, uint32_t dflt)
{
    const char *s;
    size_t n;
    if (!cap(p, subj, g, &s, &n) || !n) return dflt;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return dflt;
        if (v <= UINT32_MAX) v = v * 10 + (uint64_t)(s[i] - '0');
    }
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* v, or the cap when v is above it (the line is counted under *capped). */
static uint32_t capped(uint32_t v, uint32_t max, uint64_t *capped_lines)
{
    if (v <= max) return v;
    (*capped_lines)++;
    return max;
}

static void remember_addr(struct detect_join_entry *e, const struct sg_event *ev)
{
    e->family = ev->family;
    memcpy(e->addr, ev->addr, 16);
    memcpy(e->ip, ev->ip, sizeof e->ip);
}

static void recall_addr(struct sg_event *ev, const struct detect_join_entry *e)
{
    ev->family = e->family;
    memcpy(ev->addr, e->addr, 16);
    memcpy(ev->ip, e->ip, sizeof ev->ip);
}

/* Applies the rule's join role. Returns false when the line gives no event after all. *also_fail is
 * set when the line is, besides its own event, a failure (an accepted login after another user's).
 * The address join ('a') pairs Dovecot's auth process with Postfix's SASL warning for one attempt.
 * They are often written to different files in different formats (Dovecot's own log_path names no
 * host, Postfix's syslog line does), so the host is not part of that key: an agent reads the logs
 * of its own node only. */
static bool apply_role(struct detect_parser *p, const struct detect_rule *r, const struct detect_header *h,
                       const char *subj, struct sg_event *ev, bool *also_fail)
{
    const char *s = "", *pid = h->pid ? h->pid : "";
    size_t n = 0, hl = h->host_len;
    const char *host = h->host ? h->host : "";
    int64_t now = p->now;
    struct detect_join_entry *e, *f;
    switch (r->role) {
    case DETECT_ROLE_NONE:
        return true;
    case DETECT_ROLE_DOVECOT_AUTH:
        if (cap(p, subj, r->g_session, &s, &n) && n) {
            e = detect_join_get(&p->sessions, detect_join_key('s', host, hl, s, n, "", 0), now);
            e->a++;
            ev->dup = e->a <= e->b;   /* the login line already counted this attempt */
        } else {
            e = detect_join_get(&p->addrs, detect_join_key('a', "", 0, ev->ip, strlen(ev->ip), "", 0), now);
            if (e->b > 0) { e->b--; ev->dup = true; }   /* Postfix already reported this SASL attempt */
            else e->a++;
        }
        return true;
    case DETECT_ROLE_DOVECOT_LOGIN: {
        uint32_t total = ev->count, covered = 0;
        if (cap(p, subj, r->g_session, &s, &n) && n) {
            e = detect_join_get(&p->sessions, detect_join_key('s', host, hl, s, n, "", 0), now);
            covered = e->a > 0 ? ((uint32_t)e->a < total ? (uint32_t)e->a : total) : 0;
            if ((int32_t)total > e->b) e->b = (int32_t)total;
        }
        if (covered < total && (f = detect_join_find(&p->addrs, detect_join_key('a', "", 0, ev->ip, strlen(ev->ip), "", 0), now)) && f->a > 0) {
            uint32_t take = total - covered < (uint32_t)f->a ? total - covered : (uint32_t)f->a;
            f->a -= (int32_t)take;
            covered += take;
        }
        if (covered >= total) ev->dup = true;
        else ev->count = total - covered;
        return true;
    }
    case DETECT_ROLE_SMTP_SASL:
        e = detect_join_get(&p->addrs, detect_join_key('a', "", 0, ev->ip, strlen(ev->ip), "", 0), now);
        if (e->a > 0) { e->a--; ev->dup = true; }   /* Dovecot's auth line already counted it */
        else e->b++;
        f = detect_join_get(&p->smtpd, detect_join_key('p', host, hl, pid, h->pid_len, ev->ip, strlen(ev->ip)), now);
        f->a++;
        return true;
    case DETECT_ROLE_SMTP_DISCONNECT: {
        uint32_t ok = cap_uint(p, subj, r->g_ok, 0), total = ev->count;
        if (total <= ok) return false;   /* every AUTH succeeded */
        uint32_t fails = total - ok, seen = 0;
        e = detect_join_find(&p->smtpd, detect_join_key('p', host, hl, pid, h->pid_len, ev->ip, strlen(ev->ip)), now);
        if (e) {
            seen = (uint32_t)e->a;
            detect_join_drop(&p->smtpd, e);
        }
        if (seen >= fails) { ev->dup = true; ev->count = fails; }
        else ev->count = fails - seen;
        return true;
    }
    case DETECT_ROLE_SUBMISSION:
        if (!cap(p, subj, r->g_qid, &s, &n)) return true;
        e = detect_join_get(&p->qids, detect_join_key('q', host, hl, s, n, "", 0), now);
        if (e->a == 0) {
            e->a = 1;
            remember_addr(e, ev);
            memcpy(e->user, ev->user, sizeof e->user);
            memcpy(e->service, ev->service, sizeof e->service);
        }
        return true;
    case DETECT_ROLE_QMGR:
        if (!cap(p, subj, r->g_qid, &s, &n)) return false;
        e = detect_join_find(&p->qids, detect_join_key('q', host, hl, s, n, "", 0), now);
        if (!e || e->a != 1) return false;   /* not an authenticated submission, or already counted */
        e->a = 2;
        recall_addr(ev, e);
        memcpy(ev->user, e->user, sizeof ev->user);
        memcpy(ev->service, e->service, sizeof ev->service);
        ev->nrcpt = capped(cap_uint(p, subj, r->g_nrcpt, 1), p->max_rcpt, &p->st.capped_rcpt);
        ev->count = 1;
        return true;
    case DETECT_ROLE_SSHD_CONNECT:
        if (!h->pid_len || !ev->family) return true;
        e = detect_join_get(&p->sshd, detect_join_key('h', host, hl, pid, h->pid_len, "", 0), now);
        remember_addr(e, ev);
        return true;
    case DETECT_ROLE_SSHD_PID:
        if (!h->pid_len) return false;
        e = detect_join_get(&p->sshd, detect_join_key('h', host, hl, pid, h->pid_len, "", 0), now);
        if (e->family) { recall_addr(ev, e); return true; }
        e->b = 1;   /* the address comes with the disconnect line */
        return false;
    case DETECT_ROLE_SSHD_CLOSED:
        if (h->pid_len && (e = detect_join_find(&p->sshd, detect_join_key('h', host, hl, pid, h->pid_len, "", 0), now)) &&
            e->b > 0) {
            e->b = 0;
            ev->kind = SG_EV_AUTH_FAIL;
            return true;
        }
        ev->kind = SG_EV_CONN;
        return true;
    case DETECT_ROLE_SM_NOUSER:
        if (cap(p, subj, r->g_qid, &s, &n)) detect_join_get(&p->qids, detect_join_key('m', host, hl, s, n, "", 0), now)->a = 1;
        return false;   /* judged with the queue id's from= line, which names the client */
    case DETECT_ROLE_SM_FROM:
        if (!cap(p, subj, r->g_qid, &s, &n)) return false;
        e = detect_join_find(&p->qids, detect_join_key('m', host, hl, s, n, "", 0), now);
        if (!e || e->a != 1) return false;   /* a message with no refused recipient: not a probe */
        e->a = 2;
        return true;
    case DETECT_ROLE_SSHD_PAM:
        /* The user is user= when PAM names it, else ruser=; the first one failed is kept. */
        if (!h->pid_len) return true;
        e = detect_join_get(&p->sshd, detect_join_key('h', host, hl, pid, h->pid_len, "", 0), now);
        if (ev->family && !e->family) remember_addr(e, ev);
        if (!e->a) {
            e->a = 1;
            if (ev->user[0]) memcpy(e->user, ev->user, sizeof e->user);
            else if (cap(p, subj, r->g_ruser, &s, &n)) copy_trunc(e->user, sizeof e->user, s, n);
        }
        return true;
    case DETECT_ROLE_SSHD_ACCEPTED:
        /* Names tried and failed in the connection, then a login as another one: the failures were
         * guesses (fail2ban counts this line as a failure too). */
        if (h->pid_len && (e = detect_join_find(&p->sshd, detect_join_key('h', host, hl, pid, h->pid_len, "", 0), now)) &&
            e->a && strcmp(e->user, ev->user))
            *also_fail = true;
        return true;
    }
    return true;
}

/* qmgr lines start with the queue id; only those of authenticated submissions matter, so the table is
 * asked before the pattern runs. */
static bool qid_known(struct detect_parser *p, const struct detect_header *h)
{
    const char *c = memchr(h->msg, ':', h->msg_len);
    if (!c) return false;
    return detect_join_find(&p->qids, detect_join_key('q', h->host ? h->host : "", h->host_len, h->msg,
                                                       (size_t)(c - h->msg), "", 0), p->now) != NULL;
}

/* Builds the event for a match of rule r; returns 1 when it was delivered. */
static int emit(struct detect_parser *p, size_t ri, const struct detect_header *h, const char *prog_service,
                const char *subj, detect_event_fn fn, void *arg)
{
    const struct detect_rule *r = &p->rules->v[ri];
    struct sg_event ev;
    const char *s;
    size_t n;
    ev.time_ms = h->time_ms;
    copy_trunc(ev.host, sizeof ev.host, h->host ? h->host : "", h->host_len);
    const char *svc = NULL;
    if (cap(p, subj, r->g_service, &s, &n)) svc = service_of(s, n);
    if (!svc && r->service_from_tag) svc = prog_service;
    copy_trunc(ev.service, sizeof ev.service, svc ? svc : r->service, strlen(svc ? svc : r->service));
    ev.kind = r->kind;
    ev.family = 0;
    memset(ev.addr, 0, sizeof ev.addr);
    ev.ip[0] = '\0';
    if (cap(p, subj, r->g_ip, &s, &n) && detect_ip_parse(s, n, &ev.family, ev.addr, ev.ip)) ev.family = 0;
    ev.user[0] = '\0';
    if (cap(p, subj, r->g_user, &s, &n)) copy_trunc(ev.user, sizeof ev.user, s, n);
    memcpy(ev.rule, r->id, sizeof ev.rule);
    ev.count = capped(cap_uint(p, subj, r->g_count, 1), p->max_attempts, &p->st.capped_attempts);
    if (ev.count == 0) ev.count = 1;
    ev.nrcpt = 0;
    ev.dup = false;
    bool also_fail = false;
    if (!apply_role(p, r, h, subj, &ev, &also_fail)) return 0;
    if (r->always_dup) ev.dup = true;
    p->st.events++;
    if (ev.dup) p->st.dups++;
    if (fn) fn(&ev, arg);
    if (!also_fail) return 1;
    ev.kind = SG_EV_AUTH_FAIL;
    ev.count = 1;
    ev.dup = false;
    p->st.events++;
    if (fn) fn(&ev, arg);
    return 2;
}

int detect_parser_line(struct detect_parser *p, const char *line, size_t len, detect_event_fn fn, void *arg)
{
    p->st.lines++;
    if (len > p->max_line) {
        p->st.oversized++;
        return 0;
    }
    if (!clean_text((const unsigned char *)line, len)) p->st.invalid++;
    if (!p->clock.ref_ms && (p->st.lines & 1023) == 1) p->clock.now_ms = sg_now_ms();   /* year inference */
    struct detect_header h;
    detect_header_parse(&p->clock, line, len, &h);
    if (h.bad_time) p->st.bad_time++;
    if (h.time_ms) p->now = h.time_ms;
    else if (!p->now) p->now = sg_now_ms();
    const struct prog_cache_entry *pc = h.prog_len ? prog_lookup(p, h.prog, h.prog_len) : NULL;
    const uint64_t *pm = pc ? pc->mask : p->rules->any_prog;
    uint64_t any = 0;
    for (int w = 0; w < DETECT_MASK_WORDS; w++) any |= pm[w];
    if (!any) return 0;
    /* Only rules that match from the tag need the tag scanned; their literal must be in the message
     * part anyway for every shipped rule, but an operator's may not. */
    const char *scan = (h.tag && pc && pc->tag_rules) ? h.tag : h.msg;
    size_t scan_len = (size_t)(line + len - scan);
    uint64_t lm[DETECT_MASK_WORDS];
    detect_lit_scan(&p->rules->lits, scan, scan_len, lm);
    for (int w = 0; w < DETECT_MASK_WORDS; w++) {
        uint64_t cand = pm[w] & lm[w];
        while (cand) {
            size_t ri = (size_t)w * 64 + (size_t)__builtin_ctzll(cand);
            cand &= cand - 1;
            const struct detect_rule *r = &p->rules->v[ri];
            if (r->role == DETECT_ROLE_QMGR && !qid_known(p, &h)) continue;   /* most queue ids: no regex */
            const char *subj = (r->subject_tag && h.tag) ? h.tag : h.msg;
            size_t sn = (size_t)(line + len - subj);
            int rc = r->jit ? pcre2_jit_match(r->re, (PCRE2_SPTR)subj, sn, 0, 0, p->md, NULL)
                            : pcre2_match(r->re, (PCRE2_SPTR)subj, sn, 0, 0, p->md, NULL);
            if (rc <= 0) continue;   /* no match, or a match limit hit: either way not this rule */
            p->hits[ri]++;
            int got = emit(p, ri, &h, pc ? pc->service : NULL, subj, fn, arg);   /* events: 0, 1 or 2 */
            if (got) p->st.matched++;
            return got;
        }
    }
    return 0;
}
