/* key.h: the one format of replicated state keys. Every folder that names a subject or a record
 * builds and reads its key here, and nowhere else.
 *
 * Subject (what evidence and decisions are about):
 *   "ip:203.0.113.7"            one address          "net:203.0.113.0/24"   a prefix
 *   "user:alice@example.org"    an account
 *   "from:bob@example.org"      an envelope sender   "dom:example.org"      a sender domain
 * Record key (the ban map; the record's kind must match it):
 *   block      "ip:X" | "net:P"          dropped in the kernel
 *   throttle   "throttle:" SUBJECT       4xx from the policy service
 *   hold       "user:U"                  the account may not send
 *   offense    "offense:" SUBJECT        repeat-offender memory, never enforced
 *   allow      "allow:ip:X" | "allow:net:P"   an operator's exemption: no node bans what it covers
 * Evidence key (counters and sketches): "SCOPE|SUBJECT", SCOPE a scenario id or one of the
 *   built-in scopes below (which no scenario may be named).
 * Every part is clean text (common/text.h): no control characters, valid UTF-8. Addresses must
 * parse (inet_pton), and a prefix has no host bits set. */
#ifndef SG_COMMON_KEY_H
#define SG_COMMON_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SG_KEY_MAX 255            /* bytes of a whole key, no NUL inside */

/* The one default minimum prefix: nothing wider is ever banned, whoever asks (config, guard, merge).
 * Detection subjects are /32 and /24, /128 and /64; anything wider is a mistake or a hostile peer. */
#define SG_MIN_PREFIX4_DEFAULT 24
#define SG_MIN_PREFIX6_DEFAULT 48

enum sg_subject_type { SG_SUBJ_IP = 1, SG_SUBJ_NET = 2, SG_SUBJ_USER = 3, SG_SUBJ_SENDER = 4, SG_SUBJ_DOMAIN = 5 };
#define SG_SUBJ_LAST SG_SUBJ_DOMAIN

/* What a record does. The gossip record kinds (gossip/wire.h) are these values. */
enum sg_record_kind { SG_REC_BLOCK = 1, SG_REC_THROTTLE = 2, SG_REC_HOLD = 3, SG_REC_OFFENSE = 4, SG_REC_ALLOW = 5 };
#define SG_REC_KIND_MAX 5

struct sg_subject {
    enum sg_subject_type type;
    uint8_t family;               /* AF_INET or AF_INET6 for ip and net, 0 for the others */
    uint8_t len;                  /* prefix length; 32 or 128 for one address */
    char value[SG_KEY_MAX + 1];   /* the text after "ip:", "net:" or "user:" */
};

struct sg_key {
    enum sg_record_kind kind;
    struct sg_subject subj;
};

/* Sets *out from a type and its value ("203.0.113.7", "203.0.113.0/24", "alice", "bob@example.org",
 * "example.org"). -1 when the value does not fit the type (not an address, host bits set, empty or
 * unclean text, a sender without '@', a domain with one) or is too long. */
int sg_subject_set(struct sg_subject *out, enum sg_subject_type type, const char *value);
/* Parses "ip:X", "net:P", "user:U", "from:S" or "dom:D" into *out. Returns 0, or -1. */
int sg_subject_parse(const char *text, struct sg_subject *out);
/* Writes the subject's text into buf. Returns 0, or -1 when it does not fit size or SG_KEY_MAX. */
int sg_subject_format(const struct sg_subject *s, char *buf, size_t size);
/* How much address space the subject covers: 1 for an address, 2^(32-len) for an IPv4 prefix,
 * and for IPv6 the number of /64s it covers (at least 1; a /48 is 65536). 0 for the other types. */
uint64_t sg_subject_span(const struct sg_subject *s);

/* Parses a record key. Returns 0, or -1 for anything that is not one of the five forms above. */
int sg_key_parse(const char *text, struct sg_key *out);
/* Writes the key of kind for subject s into buf. -1 when the kind does not take that subject
 * (block, allow: ip or net; hold: user; throttle, offense: any) or the key does not fit. */
int sg_key_format(enum sg_record_kind kind, const struct sg_subject *s, char *buf, size_t size);

/* Built-in evidence scopes: distinct users that logged in / failed from an address, addresses
 * banned inside a prefix, and the policy service's sending quotas. */
#define SG_SCOPE_OKUSERS "okusers"
#define SG_SCOPE_FAILUSERS "failusers"
#define SG_SCOPE_BANNED "banned"
#define SG_SCOPE_QUOTA_MSG "quota-msg"
#define SG_SCOPE_QUOTA_RCPT "quota-rcpt"
/* Sending limits of the policy service (enforce/throttle.h): "thr-MEASURE-SERVICE|SUBJECT" counts
 * what a subject sent, "thr-reset|SUBJECT" marks the buckets in which an operator reset it. No
 * scenario may be named with this prefix. */
#define SG_SCOPE_THROTTLE "thr-"
#define SG_SCOPE_THROTTLE_RESET "thr-reset"
/* Precision (agent/evidence.h): addresses a user logged in from ("goodaddrs|user:U", long-lived:
 * day buckets kept for days) and users whose failures from an address were stale-client ones
 * ("stale|ip:X"), and addresses failing for a user ("failaddrs|user:U"). */
#define SG_SCOPE_GOODADDRS "goodaddrs"
#define SG_SCOPE_STALE "stale"
#define SG_SCOPE_FAILADDRS "failaddrs"   /* "failaddrs|user:U": addresses failing for U */
#define SG_SCOPE_PWFAIL "pwfail"         /* "pwfail|ip:X": (user, tried password hash) pairs failing from X */
/* True for the sending limits' counter keys (scope starting SG_SCOPE_THROTTLE), which the state
 * keeps as long as the longest limit needs. */
bool sg_evidence_throttle(const char *key);
/* True for evidence keys the state keeps in long-lived buckets (scope SG_SCOPE_GOODADDRS). */
bool sg_evidence_long_lived(const char *key);
/* True when scope can start evidence keys: clean text without ':' or '|', 1 to 63 bytes. With
 * scenario set, also not a built-in scope (a scenario of that name would count into it). */
bool sg_scope_ok(const char *scope, bool scenario);
/* Writes "SCOPE|SUBJECT" into buf. -1 when scope is empty, holds '|' or ':', or it does not fit. */
int sg_evidence_format(const char *scope, const struct sg_subject *s, char *buf, size_t size);
/* The same from a subject already formatted by sg_subject_format (checked only for a known type
 * prefix and the length): for hot paths that format one subject into many keys. */
int sg_evidence_format_text(const char *scope, const char *subject, char *buf, size_t size);
/* Splits an evidence key: *scope_len bytes of scope at the start of text, and the subject. */
int sg_evidence_parse(const char *text, size_t *scope_len, struct sg_subject *out);

#endif
