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

#define PROG_NAME_CACHED 48 /* longer program names are not cached: no daemon's is near this */

struct prog_cache_entry {
    uint64_t hash;
    uint8_t len;
    char name[PROG_NAME_CACHED];       /* compared, not just hashed: the tag is whatever a local
                                        * process gave syslog, and the hash is not keyed */
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
    struct prog_cache_entry uncached;  /* a program name too long for the cache */
    struct detect_join addrs;          /* shared by the join families: see detect_join_ops.apply */
    void *joins[DETECT_JOIN_FAMILIES]; /* each family's tables, for the families the rules use */
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
    detect_join_init(&p->addrs, 4096, 30 * 1000);
    for (size_t i = 0; i < rules->n; i++) {
        const struct detect_rule *r = &rules->v[i];
        if (r->enabled && r->join && !p->joins[r->join_family]) p->joins[r->join_family] = r->join->state_new();
    }
    return p;
}

void detect_parser_destroy(struct detect_parser **pp)
{
    if (!pp || !*pp) return;
    struct detect_parser *p = *pp;
    pcre2_match_data_free(p->md);
    free(p->hits);
    detect_join_free(&p->addrs);
    for (int f = 0; f < DETECT_JOIN_FAMILIES; f++)
        if (p->joins[f]) detect_join_families[f]->state_free(p->joins[f]);
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
    if (n > PROG_NAME_CACHED) {
        c = &p->uncached;        /* computed for this line only */
    } else {
        for (size_t i = 0; i < 4; i++) {
            struct prog_cache_entry *e = &p->cache[(at + i) & (PROG_CACHE - 1)];
            if (e->hash == h && e->len == n && !memcmp(e->name, prog, n)) return e;
            if (!c && !e->len) c = e;
        }
        if (!c) c = &p->cache[at];   /* all four taken: a log with this many programs recomputes sometimes */
        memcpy(c->name, prog, n);
        c->len = (uint8_t)n;
    }
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

/* v, or the cap when v is above it (the line is counted under *capped_lines). */
static uint32_t capped(uint32_t v, uint32_t max, uint64_t *capped_lines)
{
    if (v <= max) return v;
    (*capped_lines)++;
    return max;
}

/* The match of rule r on subj (in p->md) as the join handlers see it. */
static void match_init(struct detect_match *m, const struct detect_parser *p, const struct detect_rule *r,
                       const struct detect_header *h, const char *subj)
{
    m->h = h;
    m->host = h->host ? h->host : "";
    m->host_len = h->host_len;
    m->pid = h->pid ? h->pid : "";
    m->pid_len = h->pid_len;
    m->now = p->now;
    m->rule = r;
    m->subj = subj;
    m->md = p->md;
}

/* Builds the event for a match of rule r; returns 1 when it was delivered. */
static int emit(struct detect_parser *p, const struct detect_match *m, const char *prog_service, detect_event_fn fn,
                void *arg)
{
    const struct detect_rule *r = m->rule;
    struct sg_event ev;
    const char *s;
    size_t n;
    ev.time_ms = m->h->time_ms;
    detect_copy_trunc(ev.host, sizeof ev.host, m->host, m->host_len);
    const char *svc = NULL;
    if (detect_match_group(m, r->g_service, &s, &n)) svc = service_of(s, n);
    if (!svc && r->service_from_tag) svc = prog_service;
    detect_copy_trunc(ev.service, sizeof ev.service, svc ? svc : r->service, strlen(svc ? svc : r->service));
    ev.kind = r->kind;
    ev.family = 0;
    memset(ev.addr, 0, sizeof ev.addr);
    ev.ip[0] = '\0';
    if (detect_match_group(m, r->g_ip, &s, &n) && detect_ip_parse(s, n, &ev.family, ev.addr, ev.ip)) ev.family = 0;
    ev.user[0] = '\0';
    if (detect_match_group(m, r->g_user, &s, &n)) detect_copy_trunc(ev.user, sizeof ev.user, s, n);
    memcpy(ev.rule, r->id, sizeof ev.rule);
    /* Kept only as lowercase hex digits: anything else in that place is not Dovecot's hash. */
    ev.pwhash[0] = '\0';
    if (detect_match_group(m, r->g_pwhash, &s, &n)) detect_pwhash_copy(ev.pwhash, s, n);
    ev.session[0] = '\0';
    if (detect_match_group(m, r->g_session, &s, &n)) detect_session_copy(ev.session, s, n);
    ev.reported = r->reported;
    /* What the line claims is capped before any join sees it (a session cannot be owed 100000). */
    ev.count = capped(detect_match_uint(m, r->g_count, 1), p->max_attempts, &p->st.capped_attempts);
    if (ev.count == 0) ev.count = 1;
    ev.nrcpt = 0;
    ev.size = 0;
    if (r->g_size >= 0 && (ev.size = detect_match_u64(m, r->g_size, 0)) > SG_EV_SIZE_MAX) {
        ev.size = SG_EV_SIZE_MAX;
        p->st.capped_size++;
    }
    ev.sender[0] = '\0';
    if (detect_match_group(m, r->g_sender, &s, &n) && !detect_sender_copy(ev.sender, s, n)) p->st.long_senders++;
    ev.dup = false;
    bool also_fail = false;
    if (r->join && !r->join->apply(p->joins[r->join_family], &p->addrs, r->role, m, &ev, &also_fail)) return 0;
    ev.nrcpt = capped(ev.nrcpt, p->max_rcpt, &p->st.capped_rcpt);
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
            const char *subj = (r->subject_tag && h.tag) ? h.tag : h.msg;
            struct detect_match m;
            match_init(&m, p, r, &h, subj);
            if (r->join && r->join->prefilter && !r->join->prefilter(p->joins[r->join_family], r->role, &m)) continue;
            size_t sn = (size_t)(line + len - subj);
            int rc = r->jit ? pcre2_jit_match(r->re, (PCRE2_SPTR)subj, sn, 0, 0, p->md, NULL)
                            : pcre2_match(r->re, (PCRE2_SPTR)subj, sn, 0, 0, p->md, NULL);
            if (rc <= 0) continue;   /* no match, or a match limit hit: either way not this rule */
            p->hits[ri]++;
            int got = emit(p, &m, pc ? pc->service : NULL, fn, arg);   /* events: 0, 1 or 2 */
            if (got) p->st.matched++;
            return got;
        }
    }
    return 0;
}
