/* policy.h: the Postfix policy-delegation server (check_policy_service) run on the agent's zloop,
 * its request parser, and the pure helpers that turn a verdict into an action line. */
#ifndef SG_ENFORCE_POLICY_H
#define SG_ENFORCE_POLICY_H

#include <czmq.h>

#include "common/hist.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- limits and configuration ---------------------------------------------------------- */

#define POLICY_ATTRS_MAX 128            /* hard ceiling for policy_config.max_attrs */
/* Where the agent listens unless told otherwise: inside Postfix's queue directory (smtpd's
 * chroot), so that main.cf says check_policy_service unix:sgcluster/policy. The directory
 * belongs to the agent's user with group postfix, mode 0750: other local users cannot reach
 * the socket, and those who could are refused unless they are POLICY_USER_DEFAULT or root. */
#define POLICY_SOCKET_DEFAULT "/var/spool/postfix/sgcluster/policy"
#define POLICY_USER_DEFAULT "postfix"
#define POLICY_ACTION_MAX 512           /* action text written by decide(), including the NUL */

enum policy_overflow {
    POLICY_OVERFLOW_DROP_IDLE = 0,      /* at max_conns, make room: close a connection that never
                                           completed a request, else one whose request stalled,
                                           else the least recently active idle one (refuse if
                                           there is none) */
    POLICY_OVERFLOW_REFUSE,             /* at max_conns, close every new connection at once */
};

struct policy_config {
    const char *unix_path;              /* unix socket to listen on, NULL for none; a stale socket
                                           file there is replaced, anything else is an error */
    unsigned unix_mode;                 /* permissions of the socket file (default 0666: the
                                           directory and peer_uid decide who may ask) */
    long peer_uid;                      /* unix clients: only this uid and root are served, the
                                           rest closed at accept and counted (SO_PEERCRED);
                                           -1 (default) serves any uid the socket lets in */
    const char *tcp_addr;               /* "127.0.0.1:10040", "[::1]:10040", port 0 = any free
                                           port (see policy_server_tcp_port); NULL for none */
    bool allow_remote;                  /* tcp_addr may be a non-loopback address (default no) */
    size_t max_line;                    /* longest attribute line in bytes (default 2048) */
    size_t max_request;                 /* longest request in bytes (default 16384) */
    size_t max_attrs;                   /* most attributes per request (default 64, <= ATTRS_MAX) */
    size_t max_conns;                   /* open client connections at most (default 512) */
    size_t max_conns_per_source;        /* TCP: open connections per non-loopback source address
                                           (default 32; loopback sources all look alike) */
    enum policy_overflow overflow;      /* what happens at max_conns (default DROP_IDLE, which
                                           drops first a connection that never completed a
                                           request, then one whose request stalled for 1 s) */
    int64_t idle_timeout_ms;            /* close a connection idle between requests this long
                                           (default 600000: above Postfix's 300 s max_idle) */
    int64_t request_timeout_ms;         /* a started request must be complete within this, and a
                                           new connection must send its first request within it
                                           (default 10000): bounds slow-drip and half-open
                                           clients (Postfix connects when it has a request) */
};

/* Fills cfg with the defaults above (no listener: set unix_path and/or tcp_addr). */
void policy_config_defaults(struct policy_config *cfg);

/* ---- one parsed request ---------------------------------------------------------------- */

/* An attribute as NUL-terminated views into the connection's buffer: valid only during decide(). */
struct policy_attr {
    const char *name;
    const char *value;
};

/* The attributes Postfix sends (SMTPD_POLICY_README). Every field is a view, never NULL:
 * "" when the attribute was absent or empty. When an attribute repeats, the last value wins. */
struct policy_request {
    const char *request;                /* "smtpd_access_policy" (required) */
    const char *protocol_state;         /* CONNECT EHLO HELO MAIL RCPT DATA END-OF-MESSAGE VRFY ETRN */
    const char *protocol_name;          /* SMTP, ESMTP */
    const char *client_address;
    const char *client_name;
    const char *reverse_client_name;
    const char *helo_name;
    const char *sasl_method;
    const char *sasl_username;
    const char *sasl_sender;
    const char *sender;
    const char *recipient;
    const char *queue_id;
    const char *instance;               /* same value for every request about one message */
    const char *policy_context;
    const char *server_address;
    const char *stress;
    uint32_t recipient_count;           /* non-zero only at DATA and END-OF-MESSAGE */
    uint64_t size;                      /* bytes; the real size at END-OF-MESSAGE */
    size_t nattrs;                      /* every attribute received, known or not, in order */
    struct policy_attr attrs[POLICY_ATTRS_MAX];
};

/* Value of attribute `name` (last occurrence), or NULL when it was not sent. */
const char *policy_request_get(const struct policy_request *req, const char *name);

/* ---- framing and parsing (pure, used by the server and the fuzz target) ---------------- */

enum policy_err {
    POLICY_ERR_NONE = 0,
    POLICY_ERR_MALFORMED,               /* no '=', empty name, NUL byte, bad number, no request= */
    POLICY_ERR_LINE_TOO_LONG,           /* a line longer than max_line */
    POLICY_ERR_TOO_BIG,                 /* a request longer than max_request */
    POLICY_ERR_TOO_MANY_ATTRS,          /* more than max_attrs lines */
};
const char *policy_err_str(enum policy_err err);

/* Incremental framing state of one connection; zero it for a new request. */
struct policy_frame {
    size_t scan;                        /* bytes of the buffer already examined */
    size_t line_start;                  /* offset where the current line starts */
    size_t lines;                       /* non-empty lines seen in this request */
};

/* Examines buf[f->scan .. len) for the empty line that ends a request, checking the limits as
 * bytes arrive (so an oversized request is refused before it is complete). Returns 1 when a
 * request is complete (*end = bytes it takes, terminating empty line included), 0 when more
 * bytes are needed, -1 on a limit or syntax error (*err set). "\r\n" is accepted for "\n". */
int policy_frame_scan(struct policy_frame *f, const char *buf, size_t len, size_t max_line,
                      size_t max_request, size_t max_attrs, size_t *end, enum policy_err *err);

/* Parses the complete request buf[0 .. len) (as framed above) in place: '=' and line ends are
 * overwritten with NULs and *out points into buf. Returns 0, or -1 with *err set. */
int policy_request_parse(char *buf, size_t len, size_t max_attrs, struct policy_request *out,
                         enum policy_err *err);

/* ---- decisions (pure) ------------------------------------------------------------------ */

enum policy_hold_action {
    POLICY_HOLD_REJECT = 0,             /* held users get "REJECT 5.7.1 <text>" */
    POLICY_HOLD_HOLD,                   /* held users' mail goes to Postfix's hold queue */
};

struct policy_action_cfg {
    enum policy_hold_action hold_action;
    const char *hold_text;              /* NULL: "Sending from this account is suspended; contact
                                           your provider" */
    const char *throttle_text;          /* NULL: "Sending rate limit exceeded, try again later" */
};

/* What the caller decided for one request. held wins over throttled. */
struct policy_verdict {
    bool held;
    bool throttled;
    const char *reason;                 /* optional detail appended as "<text> (<reason>)" */
};

/* Writes the exact action (without "action=") into out[size]: "DUNNO",
 * "DEFER_IF_PERMIT 4.7.1 <text>", "REJECT 5.7.1 <text>" or "HOLD <text>". Control characters in
 * the texts become spaces; a text too long is cut. Returns 0, or -1 if size < 64 (out untouched). */
int policy_action_format(char *out, size_t size, const struct policy_verdict *v,
                         const struct policy_action_cfg *cfg);

enum policy_action_class {
    POLICY_CLASS_DUNNO = 0,             /* DUNNO, OK, PERMIT, 2xx */
    POLICY_CLASS_DEFER,                 /* DEFER*, DEFER_IF_*, 4xx */
    POLICY_CLASS_REJECT,                /* REJECT, 5xx */
    POLICY_CLASS_HOLD,                  /* HOLD */
    POLICY_CLASS_OTHER,                 /* anything else (WARN, FILTER, PREPEND, ...) */
    POLICY_CLASS_COUNT
};
enum policy_action_class policy_action_classify(const char *action);
/* "dunno", "defer", "reject", "hold", "other"; "?" for an unknown value. */
const char *policy_action_class_name(enum policy_action_class c);

/* Which request counts once per message for quotas. Postfix asks at RCPT with recipient_count=0,
 * so counting there would count recipients, not messages; at DATA and END-OF-MESSAGE it sends the
 * number of accepted recipients. END-OF-MESSAGE (smtpd_end_of_data_restrictions) is the default:
 * the message is complete and only a message that really reached the queue is counted. */
enum policy_count_stage {
    POLICY_COUNT_END_OF_MESSAGE = 0,
    POLICY_COUNT_DATA,
};

/* True when req is the one request of its message that quotas count; then *rcpts (out) is its
 * recipient count (at least 1). False for every other stage and for non-smtpd requests. */
bool policy_request_counts(const struct policy_request *req, enum policy_count_stage stage,
                           uint32_t *rcpts);

/* ---- the server ------------------------------------------------------------------------ */

/* Called once per complete request, on the loop's thread; it must not block (every other client
 * waits meanwhile): it reads the agent's in-memory state and nothing else. Writes the action text without the
 * "action=" prefix (e.g. via policy_action_format) into action[size] (size == POLICY_ACTION_MAX)
 * and returns 0. Returning -1 means "trouble": as the protocol asks, the server sends no answer
 * and closes the connection, and Postfix applies its default_action. An action containing a
 * line break is treated as -1. */
typedef int (policy_decide_fn)(const struct policy_request *req, char *action, size_t size,
                               void *arg);

/* Counters for `sgcluster status` and metrics. All monotonic except conns_open. */
struct policy_stats {
    uint64_t requests;                  /* complete, well-formed requests handed to decide() */
    uint64_t answers[POLICY_CLASS_COUNT];
    uint64_t decide_errors;             /* decide() returned -1 or a bad action */
    uint64_t malformed;                 /* POLICY_ERR_MALFORMED */
    uint64_t oversized;                 /* line too long, request too big, too many attributes */
    uint64_t timeouts;                  /* idle or request timeout closes */
    uint64_t conns_accepted;
    uint64_t conns_refused;             /* closed at accept because of max_conns */
    uint64_t conns_refused_peer;        /* unix clients of another uid than peer_uid or root */
    uint64_t conns_refused_source;      /* TCP clients over max_conns_per_source */
    uint64_t conns_dropped;             /* idle connections closed to make room */
    uint64_t accept_errors;             /* accept() failures (EMFILE...) */
    uint64_t io_errors;                 /* read/write failures other than a peer's close */
    uint64_t conns_open;
    struct sg_hist latency;             /* time in decide(), per request handed to it */
};

typedef struct policy_server policy_server_t;

/* Listens on cfg's unix socket and/or TCP address and registers with loop (not owned; it must
 * outlive the server). cfg is copied. Returns NULL (and logs why) on a bad config or a bind
 * failure. decide is called with arg for each request. */
policy_server_t *policy_server_new(zloop_t *loop, const struct policy_config *cfg,
                                   policy_decide_fn *decide, void *arg);

/* Closes every connection and listener, removes the unix socket file; safe twice, NULLs *sp.
 * Not from inside decide(): the server is still using the request then. Call it from a loop
 * handler or once the loop has stopped (or before destroying a loop that never ran): zloop
 * drops a cancelled timer only at the end of a loop round. */
void policy_server_destroy(policy_server_t **sp);

/* Copies the counters into *out. */
void policy_server_stats(const policy_server_t *s, struct policy_stats *out);

/* The bound TCP port (useful with port 0), or -1 when there is no TCP listener. */
int policy_server_tcp_port(const policy_server_t *s);

#endif
