/* rules_int.h (internal to detect/): the compiled form of a rule set, shared by rules.c, literal.c, parser.c. */
#ifndef SG_DETECT_RULES_INT_H
#define SG_DETECT_RULES_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include "detect/detect.h"
#include "detect/join.h"

#include <pcre2.h>
#include <string.h>

#define DETECT_MAX_RULES 256
#define DETECT_MASK_WORDS (DETECT_MAX_RULES / 64)
#define DETECT_LIT_BITS 12

struct detect_rule {
    char id[SG_EV_RULE_MAX];
    char *file;                   /* where it was defined, for error messages */
    int line;
    char **progs;                 /* program filter: shell patterns such as postfix-star/smtpd; empty = any */
    size_t n_progs;
    bool untagged;                /* "-" in the filter: also lines without a program tag (Exim's own log) */
    char *literal;                /* must occur in the subject before the regex runs (>= 4 bytes) */
    char *pattern;
    int pattern_line;
    enum sg_event_kind kind;
    char service[SG_EV_SERVICE_MAX];
    bool service_from_tag;        /* "postfix/submission/smtpd" -> submission, "imap-login" -> imap */
    bool subject_tag;             /* match from the program tag on, not only the message */
    bool always_dup;              /* the line always accompanies another that is counted */
    bool reported;                /* Dovecot's auth-policy reports carry the same attempts */
    bool enabled;
    const struct detect_join_ops *join;   /* "role = ...": the daemon family that joins its matches (join.h), or NULL */
    int join_family;              /* index of join in detect_join_families */
    int role;                     /* the family's role */
    pcre2_code *re;
    bool jit;
    int g_ip, g_user, g_count, g_session, g_qid, g_service, g_nrcpt, g_ok, g_ruser, g_pwhash, g_sender, g_size;   /* group numbers or -1 */
};

struct detect_lit {
    uint32_t gram;                /* four bytes of the literal at offset off, as loaded from memory */
    uint16_t next;                /* next entry in the bucket, +1; 0 ends */
    uint16_t rule;
    uint8_t off;
    const char *text;
    size_t len;
};

/* Multi-literal prefilter, one pass over the line. Every literal is at least `stride + 3` bytes long,
 * so looking up only the 4-byte windows at multiples of `stride` cannot miss one: each literal is
 * entered under its windows at offsets 0..stride-1. A byte per hash bucket filters the lookups; only
 * the few windows that hit are compared in full. */
struct detect_litset {
    uint8_t bloom[1u << DETECT_LIT_BITS];
    uint16_t head[1u << DETECT_LIT_BITS];
    struct detect_lit *e;
    size_t n;
    size_t stride;
};

struct detect_rules {
    struct detect_rule *v;
    size_t n, cap;
    struct detect_litset lits;
    uint64_t any_prog[DETECT_MASK_WORDS];   /* rules for lines without a program tag */
    uint32_t max_groups;
    bool compiled;
};

/* Group g of the match (a rule's g_* number, -1 = absent): false when it did not take part. */
static inline bool detect_match_group(const struct detect_match *m, int g, const char **s, size_t *n)
{
    if (g < 0) return false;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer((pcre2_match_data *)m->md);
    if (ov[2 * g] == PCRE2_UNSET) return false;
    *s = m->subj + ov[2 * g];
    *n = ov[2 * g + 1] - ov[2 * g];
    return true;
}

/* Copies s[0..n) into dst (cap bytes), truncated and NUL-terminated. */
static inline void detect_copy_trunc(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap) n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

void detect_lit_build(struct detect_litset *ls, const struct detect_rules *r);
void detect_lit_free(struct detect_litset *ls);
/* Sets bit i of out[] for every rule i whose literal occurs in s[0..n). out is cleared first. */
void detect_lit_scan(const struct detect_litset *ls, const char *s, size_t n, uint64_t out[DETECT_MASK_WORDS]);
/* True when rule r's program filter accepts prog[0..n). */
bool detect_rule_prog_match(const struct detect_rule *r, const char *prog, size_t n);

#endif
