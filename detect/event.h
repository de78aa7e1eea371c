/* event.h: what detection hands to the rest of the agent: one sg_event per piece of evidence in a log line. */
#ifndef SG_DETECT_EVENT_H
#define SG_DETECT_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Kinds of evidence. The numbering is stable (it may be persisted or sent); add new kinds at the end. */
enum sg_event_kind {
    SG_EV_AUTH_FAIL = 0,   /* a failed login or SASL attempt (SMTP AUTH, IMAP, POP3, sieve, ssh) */
    SG_EV_AUTH_OK,         /* a successful login, or an authenticated Postfix submission (sasl_username=) */
    SG_EV_RELAY_DENIED,    /* a relay attempt refused by the MTA */
    SG_EV_REJECTED,        /* other refusals: RBL, unknown recipient, HELO, protocol abuse */
    SG_EV_CONN,            /* a connection seen (no judgement) */
    SG_EV_SENT,            /* an authenticated submission queued: user, ip, sender, size and nrcpt */
    SG_EV_RECEIVED,        /* a message of a client that did not authenticate queued (port 25 mostly): ip,
                            * service, sender, size and nrcpt, no user */
    SG_EV__COUNT
};

#define SG_EV_HOST_MAX    64   /* syslog host name, truncated */
#define SG_EV_SERVICE_MAX 16   /* "smtp", "submission", "imap", "pop3", "sieve", "ssh", ... */
#define SG_EV_IP_MAX      46   /* INET6_ADDRSTRLEN */
#define SG_EV_USER_MAX    128  /* SASL or login name, truncated */
#define SG_EV_RULE_MAX    48   /* rule id */
#define SG_EV_PWHASH_MAX  41   /* hex of a (truncated) hash of a tried password: Dovecot's log or auth policy */
#define SG_EV_PWHASH_MIN  4    /* fewer hex digits are too few values: distinct guesses would look repeated */
#define SG_EV_SESSION_MAX 64   /* a login session id (Dovecot's session=<...>: 16 or 32 base64 characters) */
#define SG_EV_SENDER_MAX  256  /* envelope sender; a longer one keeps its last 255 bytes (detect_sender_copy) */
#define SG_EV_SIZE_MAX    ((uint64_t)1 << 40)   /* message size in bytes; a larger claim is counted as this */

struct sg_event {
    int64_t time_ms;               /* from the line, UTC ms; 0 when the line has no time (caller uses now) */
    char host[SG_EV_HOST_MAX];     /* syslog host; "" when the line has none */
    char service[SG_EV_SERVICE_MAX];
    enum sg_event_kind kind;
    int family;                    /* AF_INET, AF_INET6, or 0 when the line names no usable address */
    uint8_t addr[16];              /* network order; AF_INET uses addr[0..3], the rest is zero.
                                    * IPv4-mapped IPv6 (::ffff:a.b.c.d) is reported as AF_INET. */
    char ip[SG_EV_IP_MAX];         /* the same address as canonical text (inet_ntop); "" when family is 0 */
    char user[SG_EV_USER_MAX];     /* "" when the line names no user */
    char rule[SG_EV_RULE_MAX];     /* id of the rule that matched */
    char pwhash[SG_EV_PWHASH_MAX]; /* lowercase hex of the tried password's hash (Dovecot's
                                    * auth_verbose_passwords = sha1:N, or an auth-policy report's pwhash),
                                    * "" when the line has none (detect_pwhash_copy) */
    char session[SG_EV_SESSION_MAX]; /* the daemon's login session id, "" when none (detect_session_copy) */
    uint32_t count;                /* attempts this line stands for (>= 1); "3 attempts" gives 3 */
    uint32_t nrcpt;                /* recipients, for SG_EV_SENT and SG_EV_RECEIVED; 0 otherwise */
    uint64_t size;                 /* message size in bytes (qmgr's size=), 0 when the line has none */
    char sender[SG_EV_SENDER_MAX]; /* envelope sender as logged, "" for none or the null sender (bounces) */
    bool dup;                      /* the attempts were already reported by another line: counters skip it */
    bool reported;                 /* from a rule marked `reported = yes`: Dovecot's auth-policy reports
                                    * carry the same attempts (agent/attempt_once.h joins the two) */
};

/* "auth_fail", "auth_ok", "relay_denied", "rejected", "conn", "sent", "received"; "?" for an unknown value. */
const char *detect_kind_name(enum sg_event_kind k);
/* Parses a kind name. Returns 0 and sets *out, or -1 when the name is unknown. */
int detect_kind_parse(const char *name, enum sg_event_kind *out);
/* True for the kinds that are abuse signals: auth_fail, relay_denied, rejected. */
bool detect_kind_is_abuse(enum sg_event_kind k);

/* Copies s (n bytes) into dst (SG_EV_PWHASH_MAX bytes) when it is a password hash as Dovecot writes
 * it: SG_EV_PWHASH_MIN to 128 lowercase hex digits (sha512 untruncated), of which the first 40 are
 * kept. Anything else is not a hash (a misconfigured attribute could even be the password): dst
 * becomes "" and false is returned. */
bool detect_pwhash_copy(char *dst, const char *s, size_t n);
/* Copies s (n bytes) into dst (SG_EV_SESSION_MAX bytes) when it is a session id: 1 to 63 bytes of
 * [A-Za-z0-9+/=_.-] (Dovecot's are base64). Else dst becomes "" and false is returned. */
bool detect_session_copy(char *dst, const char *s, size_t n);
/* Copies the envelope sender s (n bytes) into dst (SG_EV_SENDER_MAX bytes). A longer one keeps its
 * LAST SG_EV_SENDER_MAX - 1 bytes: the domain, which sending limits key on, is at the end, and a
 * sender that long is no sending-limit subject anyway (common/key.h: SG_KEY_MAX). Returns false when
 * it was cut (the caller counts it). */
bool detect_sender_copy(char *dst, const char *s, size_t n);

/* Normalises an address as written in a log line ("1.2.3.4", "::ffff:1.2.3.4", "[2001:db8::1]",
 * "192.030.0.6" with decimal leading zeros, "fe80::1%eth0") into family, 16 bytes and canonical text.
 * len is the length of s (no NUL needed). Returns 0, or -1 when s is not an address (then nothing is set).
 * text must hold SG_EV_IP_MAX bytes and may be NULL. */
int detect_ip_parse(const char *s, size_t len, int *family, uint8_t addr[16], char *text);

#endif
