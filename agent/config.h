/* config.h: the agent's configuration (INI, parsed with libinih): node, peers, logs, enforcement,
 * policy service and scenarios. Errors are collected as "file:line: message", never fatal mid-parse. */
#ifndef SG_AGENT_CONFIG_H
#define SG_AGENT_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "enforce/throttle.h"
#include "gossip/state.h"

#define CONFIG_MAX_LIST 64

struct strlist {
    char **v;
    size_t n;
};

struct config_peer {
    char *name;
    char *pub_endpoint;    /* e.g. tcp://10.0.0.2:7946, where its PUB socket is bound */
    char *sync_endpoint;   /* its ROUTER socket */
    struct strlist addrs;  /* its addresses: never banned */
    char *site;            /* its site (NULL: ours); see docs/transport.md, "Sites and relays" */
    bool relay;            /* it relays other sites' frames into its site */
    int line;
};

enum scenario_subject { SUBJ_IP, SUBJ_PREFIX, SUBJ_USER };
enum scenario_action { SACT_BAN, SACT_THROTTLE, SACT_HOLD };
enum scenario_measure { MEAS_COUNT, MEAS_RCPT, MEAS_DISTINCT_USERS, MEAS_DISTINCT_IPS };

struct config_scenario {
    char *id;
    struct strlist events;        /* event kind names: auth_fail, auth_ok, relay_denied, rejected, conn, sent */
    struct strlist services;      /* empty = any service */
    enum scenario_subject subject;
    enum scenario_measure measure;
    int64_t window_s;
    int64_t threshold;
    enum scenario_action action;
    int64_t duration_s;
    int64_t max_duration_s;       /* repeat offenders double up to this */
    /* Shared-address weakening: when the address also has successful logins of at least
     * nat_ok_users other users in the window, and the failures target fewer than
     * nat_spread_users distinct users, the threshold is multiplied by nat_factor. */
    int64_t nat_factor;
    int64_t nat_ok_users;
    int64_t nat_spread_users;
    char *file;
    int line;
};

struct config {
    char *path;
    /* [node] */
    char *node_name;
    struct strlist node_addrs;
    char *gossip_bind;
    char *sync_bind;
    char *key_dir;          /* NAME.key / NAME.pub of this node */
    char *peer_key_dir;     /* peers' *.pub (default: key_dir) */
    char *state_dir;
    char *control_socket;
    bool curve;             /* CURVE on the gossip sockets (default yes) */
    char *site;             /* this node's site (NULL: one site, full mesh) */
    bool relay;             /* this node relays the other sites' frames into its site */
    bool allow_plaintext;   /* curve = no allowed on non-loopback endpoints (default no) */
    int64_t bucket_s;
    int64_t max_skew_ms;
    int64_t snapshot_s;
    /* [detect] */
    char *rules_dir;
    struct strlist extra_rules;
    struct strlist logs;
    bool journal;                    /* also follow the systemd journal */
    struct strlist journal_units;    /* its trusted writers: units and users (detect/journal.h) */
    struct strlist journal_users;
    bool from_start;
    char *scenario_dir;
    int64_t max_attempts;   /* attempts one log line can stand for (detect_parser_opts) */
    int64_t max_rcpt;       /* recipients one message can have */
    /* [enforce] */
    char *backend;          /* "nft" or "dryrun" */
    int ports[32];
    size_t nports;
    bool reject;
    struct strlist allowlist;
    int min_prefix4, min_prefix6;
    int prefix4, prefix6;   /* prefix length of "prefix" subjects */
    int64_t prefix_ban_after; /* banned addresses in one prefix that make a prefix ban (0 = never) */
    /* [policy] */
    char *policy_listen;    /* TCP, only when set */
    char *policy_socket;    /* NULL: "socket = none" */
    bool policy_socket_set; /* set in the file (else the default, skipped when its directory is missing) */
    char *policy_user;      /* the only user besides root the unix socket serves */
    char *hold_action;      /* REJECT or HOLD */
    struct strlist user_allowlist;
    int64_t quota_window_s;          /* cluster-wide sending quotas, counted from policy requests */
    int64_t quota_user_messages;     /* 0 = no quota */
    int64_t quota_user_recipients;
    int64_t quota_ip_messages;
    /* [throttle]: sending limits (enforce/throttle.h); the quota_* keys above become limits too */
    struct throttle_config *throttle;   /* never NULL; its map is filled by the builder */
    char *throttle_map;                 /* override map file, NULL for none */
    struct strlist throttle_allow;      /* subjects never throttled by a limit */
    /* [authpolicy]: Dovecot's auth_policy_server_url service */
    bool authpolicy_enabled;
    char *authpolicy_listen;         /* "IP:port" (loopback) */
    char *authpolicy_key_file;       /* the API key Dovecot sends as X-API-Key */
    int64_t authpolicy_tarpit_s;     /* tarpit of a user under a distributed attack (0 = allow) */
    bool authpolicy_held_reject;     /* an after-auth check of a held account gets -1 */
    bool authpolicy_log_auth_lines;  /* read the log lines Dovecot's reports also carry (rules marked
                                      * `reported = yes`), counting an attempt seen twice once; no:
                                      * those rules are off and the reports alone count */
    /* [metrics]: the Prometheus endpoint (docs/metrics.md) */
    bool metrics_enabled;
    char *metrics_listen;            /* "IP:port" */
    bool metrics_allow_remote;       /* a listen address that is not loopback is allowed */
    /* [precision]: evidence of legitimacy and known-good addresses (agent/evidence.h) */
    struct strlist customer_networks;   /* prefixes never banned as a prefix */
    int64_t evidence_window_s;          /* window of the good-user evidence of addresses and prefixes */
    int64_t prefix_good_users;          /* good users that keep a prefix from prefix bans; 0 = off */
    int64_t known_good_s;               /* how long a login makes an address known-good for its user */
    int64_t known_good_weight;          /* events a known-good address's failures for U count, once per window */
    int64_t attack_addresses;           /* failing addresses in attack_window that put a user under attack; 0 = off */
    int64_t attack_window_s;
    int64_t attack_ban_s;               /* first ban of an address failing for an account under attack */
    /* [limits]: bounds on every replicated record (the minimum prefix is [enforce]'s) */
    struct gossip_record_limits limits;
    size_t max_keys;                    /* [limits] max_keys: keys per state table (counters, sketches,
                                         * ban records); read at start only; 0: the state's default */
    /* peers and scenarios */
    struct config_peer *peers;
    size_t npeers;
    struct config_scenario *scenarios;
    size_t nscenarios;
    /* errors, each "file:line: message" */
    struct strlist errors;
    int *key_lines;                /* per config_keys[] entry: the main file's line that set it, 0 if none */
};

/* The metrics endpoint's default address: loopback, beside the auth-policy service's 9413. */
#define METRICS_LISTEN_DEFAULT "127.0.0.1:9414"

/* Default shared_address_factor of every scenario: an address with good users needs this many times
 * the evidence (0 good users: the plain threshold). */
#define SCENARIO_SHARED_FACTOR_DEFAULT 5
/* The defaults of [precision], one constant each. */
#define PRECISION_EVIDENCE_WINDOW_S 3600
#define PRECISION_PREFIX_GOOD_USERS 3
#define PRECISION_KNOWN_GOOD_S (30LL * 86400)
#define PRECISION_KNOWN_GOOD_WEIGHT 1
#define PRECISION_ATTACK_ADDRESSES 20
#define PRECISION_ATTACK_WINDOW_S 3600
#define PRECISION_ATTACK_BAN_S 3600
/* Sets the [precision] defaults (config_load does; tests building a config by hand call it). */
void config_precision_default(struct config *cfg);

/* Parses FILE and the scenario files it names (scenario_dir/\*.conf). Returns a config even when
 * it has errors: check cfg->errors.n. Returns NULL only when FILE cannot be opened (errors
 * printed to the out-param *err_out as one message, caller frees). Caller owns the result. */
struct config *config_load(const char *file, char **err_out);
void config_destroy(struct config **cfg);

/* Validation beyond syntax (files exist, keys load, rules compile) is done by the agent's -n;
 * this adds an error in the config's list: "file:line: message", or "file: message" for line 0. */
void config_error(struct config *cfg, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The line of the main file where [section] name was set (section as in agent/config_keys.h), or 0
 * when it was not set there: later checks (agent_build.c) report errors at the line they concern. */
int config_key_line(const struct config *cfg, const char *section, const char *name);

/* The gossip settings as the transport needs them (config_check.c); config_load runs it. */
void config_check_gossip(struct config *cfg);

/* Parses one scenario file (or section stream) into cfg->scenarios; used by config_load and tests. */
int config_load_scenarios(struct config *cfg, const char *file);

void strlist_push(struct strlist *l, const char *s);
void strlist_free(struct strlist *l);
/* Splits "a, b ,c" into the list (empty items skipped). */
void strlist_split(struct strlist *l, const char *csv);
/* Splits at commas and blanks alike ("a b, c"): for names that hold neither. */
void strlist_split_words(struct strlist *l, const char *s);

const char *scenario_action_name(enum scenario_action a);

#endif
