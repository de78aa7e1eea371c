/* authpolicy.h: Dovecot's authentication policy protocol (auth_policy_server_url), without the
 * transport: checks one HTTP request (method, command, API key, JSON body), calls the decision or the
 * report, and writes the answer {"status": S, "msg": "..."} (-1 reject, 0 allow, N > 0 tarpit N s).
 * Every bad request gets a 4xx and one counter per reason, never a crash. Not thread-safe. */
#ifndef SG_AGENT_AUTHPOLICY_H
#define SG_AGENT_AUTHPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "detect/event.h"

#define AUTHPOLICY_MAX_BODY 16384     /* bytes of a request body; Dovecot's are a few hundred */
#define AUTHPOLICY_CONN_TIMEOUT_S 3   /* idle seconds before a connection is closed: Dovecot's requests
                                       * take milliseconds, and a trickling client holds a slot */
#define AUTHPOLICY_FIELD_MAX 256      /* bytes of one string field (login, remote, ...) */
#define AUTHPOLICY_KEY_HEADER "X-API-Key"
/* Configuration defaults ([authpolicy] in sgagent.conf). */
#define AUTHPOLICY_LISTEN_DEFAULT "127.0.0.1:9413"   /* outside the ephemeral range */
#define AUTHPOLICY_KEY_FILE_DEFAULT "/etc/sgcluster/authpolicy.key"
#define AUTHPOLICY_TARPIT_DEFAULT_S 10
#define AUTHPOLICY_TARPIT_MAX_S 60                   /* Dovecot waits; longer only ties up its auth workers */

/* Why a request was refused; each has a counter. */
enum authpolicy_bad {
    AP_BAD_METHOD = 0,   /* not POST: 405 */
    AP_BAD_KEY,          /* no or wrong API key: 401 */
    AP_BAD_SIZE,         /* body over AUTHPOLICY_MAX_BODY: 413 */
    AP_BAD_JSON,         /* not one JSON object: 400 */
    AP_BAD_FIELD,        /* a known field missing or of the wrong type, or unclean text: 400 */
    AP_BAD_COMMAND,      /* command= not allow or report: 400 */
    AP_BAD__COUNT
};
/* "method", "key", "size", "json", "field", "command". */
const char *authpolicy_bad_name(enum authpolicy_bad b);

enum authpolicy_cmd { AP_CMD_ALLOW, AP_CMD_REPORT };

/* One checked request: strings are clean text (no control bytes, valid UTF-8), "" when absent. */
struct authpolicy_request {
    enum authpolicy_cmd cmd;
    char login[AUTHPOLICY_FIELD_MAX];
    char remote[AUTHPOLICY_FIELD_MAX];
    char protocol[AUTHPOLICY_FIELD_MAX];
    char pwhash[AUTHPOLICY_FIELD_MAX];
    char device_id[AUTHPOLICY_FIELD_MAX];
    char session_id[AUTHPOLICY_FIELD_MAX];
    char fail_type[AUTHPOLICY_FIELD_MAX];
    bool has_success;    /* "success" was sent: an after-auth allow, or a report */
    bool success, policy_reject, tls;
};

struct authpolicy_ops {
    /* An allow request: returns the status (-1, 0 or seconds of tarpit); *msg may be set. */
    int (*allow)(const struct authpolicy_request *r, const char **msg, void *arg);
    /* A report: the attempt's outcome (counted like a log event). */
    void (*report)(const struct authpolicy_request *r, void *arg);
    void *arg;
};

struct authpolicy_stats {
    uint64_t requests;            /* every request handled, good or bad */
    uint64_t allow, report;       /* good ones by command */
    uint64_t rejected, tarpitted; /* allow answers below 0 and above 0 */
    uint64_t pwhash;              /* reports with a usable pwhash (distinct wrong passwords) */
    uint64_t pwhash_ignored;      /* reports whose pwhash was not SG_EV_PWHASH_MIN..128 lowercase hex
                                   * digits: counted without it (a misconfigured attribute, e.g. %w) */
    uint64_t bad[AP_BAD__COUNT];
};

struct authpolicy;

#define AUTHPOLICY_KEY_MIN 16         /* characters of an API key */
#define AUTHPOLICY_KEY_MAX 256
/* Reads the API key: the first line of path, AUTHPOLICY_KEY_MIN to AUTHPOLICY_KEY_MAX characters
 * (a longer line is refused, never cut; checked at -n, start and SIGHUP). Returns 0,
 * or -1 with the reason in err. key holds AUTHPOLICY_KEY_MAX + 1 bytes. */
int authpolicy_key_load(const char *path, char *key, char *err, size_t errsize);

/* api_key: the shared secret Dovecot sends in X-API-Key (copied); NULL or "" refuses every request. */
struct authpolicy *authpolicy_new(const char *api_key, const struct authpolicy_ops *ops);
void authpolicy_destroy(struct authpolicy **pap);

/* Handles one whole request. method and command (the query's command=, NULL when absent) and key
 * (the X-API-Key header, NULL when absent) as received; body of len bytes (need not be
 * NUL-terminated); oversize: the body was announced longer than AUTHPOLICY_MAX_BODY (unread). Writes the
 * JSON answer into out and returns the HTTP status code (200, or the 4xx of the refusal). */
int authpolicy_handle(struct authpolicy *ap, const char *method, const char *command, const char *key,
                      const char *body, size_t len, bool oversize, char *out, size_t size);

void authpolicy_stats(const struct authpolicy *ap, struct authpolicy_stats *out);

/* The event a report stands for, as a log line's would be: auth_ok or auth_fail, user = login
 * (truncated like a log line's), address = remote, service from protocol (imap, pop3, smtp,
 * submission, sieve, else "auth"), rule "authpolicy", the password hash and session id when they
 * pass detect_pwhash_copy and detect_session_copy, count 1. Writes *ev. */
void authpolicy_report_event(const struct authpolicy_request *r, struct sg_event *ev);

#endif
