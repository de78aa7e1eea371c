/* agent.h: the sgagent daemon: one zloop wiring log followers, the scenario engine, the replicated
 * state and its transport, enforcement, the policy service, the control socket and signals. */
#ifndef SG_AGENT_AGENT_H
#define SG_AGENT_AGENT_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/authpolicy.h"
#include "agent/config.h"
#include "agent/control.h"
#include "agent/scenario.h"
#include "agent/seen.h"
#include "common/hist.h"
#include "detect/detect.h"
#include "detect/journal.h"
#include "enforce/enforce.h"
#include "enforce/policy.h"
#include "enforce/throttle.h"
#include "gossip/keyring.h"
#include "gossip/snapshot.h"
#include "gossip/state.h"

struct gossip_transport;
struct authpolicy_http;
struct agent_metrics;
struct tally;
struct attempt_once;

#define AGENT_KERNEL_PENDING_MAX 4096   /* bans timed from decision to kernel per commit; more go untimed */

struct agent_counters {
    uint64_t records_remote;      /* ban records learned from peers */
    uint64_t enforce_refused;     /* bans the guard refused at enforcement */
    uint64_t reloads, reload_errors;
    uint64_t snapshots, snapshot_errors;
    uint64_t throttle[THROTTLE_TIER_COUNT];   /* sending-limit hits by tier (warn, defer, hold, reject) */
};

struct agent {
    struct config *cfg;
    char *cfg_path;
    zloop_t *loop;
    int64_t started_ms, started_mono_ms;
    bool reconciled;              /* the full kernel reconcile ran (after the first sync) */
    bool rec_stepping;            /* the reconcile's step timer is armed */
    uint32_t epoch;
    /* detection */
    struct detect_rules *rules;
    struct detect_parser *parser;
    struct detect_source **src;
    size_t nsrc;
    struct detect_journal *journal;   /* NULL unless [detect] journal = yes */
    bool src_behind_armed;            /* a source is behind its log: its catch-up timer is armed */
    /* state and cluster */
    struct gossip_identity *id;
    struct gossip_keyring *kr;
    struct gossip_state *st;
    struct gossip_snapshot *snap;     /* the incremental snapshot, written in slices */
    int64_t snap_started_ns;          /* when the running one began */
    bool snap_stepping;               /* its step timer is armed */
    struct gossip_transport *tr;
    struct scenario_engine *eng;
    /* keys touched by merges, evaluated in slices, and deferred crossings (agent_gossip.c) */
    int eval_timer;                   /* the armed 1 ms slice timer's id (zloop's ids start at 1), or 0 */
    int deadline_timer;               /* ... of the timer of the first deferred crossing's deadline */
    int64_t eval_slice_end_us;        /* monotonic, when the last slice ended */
    uint64_t *live;                   /* this node's origin and its live peers', for the decider */
    int64_t *live_seen;               /* ... and what each said it has caught up with (its `seen`) */
    size_t nlive;
    int64_t live_mono_ms;             /* when live was last built */
    struct seen_ring seen;            /* the input horizon over time, behind `seen` (agent/seen.h) */
    /* enforcement */
    struct enforce *enf;
    policy_server_t *policy;
    struct authpolicy *authpolicy;            /* NULL unless [authpolicy] enabled = yes */
    struct authpolicy_http *authpolicy_http;
    struct attempt_once *once;                /* log and reports joined (agent/attempt_once.h) */
    struct control *ctl;
    struct agent_metrics *metrics;            /* NULL unless [metrics] enabled = yes */
    /* counted for the metrics (they survive a reload) */
    struct tally *events;                     /* events by kind and service */
    struct tally *decisions;                  /* decided here, by scenario and action */
    struct sg_hist snapshot_latency;          /* one snapshot (state and cursors) */
    struct sg_hist kernel_latency;            /* a block record's decision (its stamp) to its kernel commit */
    int64_t kernel_pending[AGENT_KERNEL_PENDING_MAX];   /* decision times (wall ms) of the bans queued */
    size_t nkernel_pending;
    zhashx_t *throttle_notes;     /* "limit|subject|tier" -> period last logged (agent_throttle.c) */
    /* loop health */
    int sigfd;
    int64_t tick_expected_ms;
    int64_t loop_lag_ms, loop_lag_max_ms;
    int64_t watchdog_ms;
    bool stopping;
    struct enforce_prefix *allows;    /* the active allow records, as the guard holds them */
    size_t nallows;
    int64_t allow_next_expiry_ms;     /* earliest expiry of an active allow (0: none) */
    struct agent_counters n;
};

/* Builds everything from the configuration and restores the snapshot. NULL on failure (logged). */
struct agent *agent_new(const char *cfg_path);
/* Runs the loop until SIGTERM/SIGINT; returns the exit code. */
int agent_run(struct agent *a);
/* Writes the final snapshot and releases everything. */
void agent_destroy(struct agent **pa);

/* Checks a configuration completely (keys, rules, logs' directories, peers) without starting:
 * prints every error as file:line: message, or "configuration OK". Returns 0 or 1. */
int agent_check_config(const char *cfg_path);

/* The next boot epoch (agent_epoch.c): max(last + 1, now_s), where last is the epoch stored in
 * state_dir/epoch; the new one is stored (fsync'd, atomic) before it is returned in *out. -1 when
 * it cannot be stored (logged): the agent must not start with an epoch it may repeat. */
int agent_epoch_next(const char *state_dir, uint32_t now_s, uint32_t *out);

/* Control commands (agent_control.c). */
int agent_control(int argc, char **argv, bool json, FILE *out, void *arg);

/* Active records by kind, and the rest (agent_status.c): what `status` and the metrics count. */
struct agent_ban_census {
    size_t block, throttle, hold, allow, tombstones, memory;
};
void agent_ban_census(struct agent *a, int64_t now, struct agent_ban_census *out);

/* Decisions taken here (the sum of a->decisions; agent_status.c). */
uint64_t agent_decisions(const struct agent *a);

/* The metrics endpoint (agent_metrics.c): started when [metrics] enabled = yes. */
int agent_metrics_start(struct agent *a);
void agent_metrics_stop(struct agent *a);
/* Where it listens: a JSON member (",\"metrics\":{...}") or one text line (nothing when disabled). */
void agent_metrics_status(struct agent *a, bool json, FILE *out);
/* Writes every metric in the Prometheus text format (agent_metrics.c, agent_metrics_cluster.c). */
void agent_metrics_write(struct agent *a, FILE *out);
void agent_metrics_write_cluster(struct agent *a, FILE *out);

/* Busiest counter keys (agent_top.c). */
int agent_top(struct agent *a, int argc, char **argv, bool json, FILE *out);
/* Every counter slot and sketch of the state, all origins (agent_top.c); NULL on an internal error.
 * The caller destroys it (gossip_body_destroy). */
struct gossip_body *agent_state_dump(struct agent *a);

/* `status` (agent_status.c): this node, its logs, peers and health; with --scenarios one block per
 * scenario (agent_scenarios.c), --short for the counts only. */
int agent_status(struct agent *a, int argc, char **argv, bool json, FILE *out);
int agent_status_scenarios(struct agent *a, bool short_form, bool json, FILE *out);
/* Times for tables: "2026-12-06T22:40:01Z" and "3h05m". */
void agent_fmt_time(int64_t ms, char *buf, size_t size);
void agent_fmt_dur(int64_t s, char *buf, size_t size);
/* Kind of a record as the tables name it: block, throttle, hold, offense, allow. */
const char *agent_kind_name(uint8_t kind);

/* Cluster-wide allows (agent_allow.c): the active allow records become the enforcement guard's
 * replicated entries; bans they now cover leave the kernel, bans an ended allow covered come back.
 * Called when an allow record is stored, when one expires, and after a reload. */
void agent_allow_sync(struct agent *a);
/* Writes an unban tombstone for every active block ban that allow overlaps (the allow's own key
 * named in their reason). Returns how many. */
size_t agent_allow_lift(struct agent *a, const struct enforce_prefix *allow, const char *allow_key);

/* Counts one event and feeds it to the scenario engine (log lines and auth-policy reports alike). */
void agent_event(struct agent *a, const struct sg_event *ev);

/* Dovecot's auth-policy service (agent_authpolicy.c): started when [authpolicy] enabled = yes. */
int agent_authpolicy_start(struct agent *a);
void agent_authpolicy_stop(struct agent *a);
/* Its counters: a JSON member (",\"authpolicy\":{...}") or one text line (nothing when disabled). */
void agent_authpolicy_status(struct agent *a, bool json, FILE *out);

/* The policy service's settings from cfg (agent_policy.c): the unix socket, serving only
 * [policy] user and root, and TCP when configured. The default socket is left out (pc->unix_path
 * NULL, the reason in err) when its directory does not exist; a socket set in the file must have
 * its directory, and the user must exist: else -1 with the reason in err[size]. cfg must outlive
 * pc. Used by start and by -n, so that they agree. */
int agent_policy_config(const struct config *cfg, struct policy_config *pc, char *err, size_t size);
/* Submission or port 25 for the sending limits (agent_policy.c): policy_context, server_port,
 * then whether the client authenticated. */
enum throttle_service agent_policy_service(const struct policy_request *req);
/* Policy decisions (agent_policy.c). */
int agent_policy_decide(const struct policy_request *req, char *action, size_t size, void *arg);

/* Gossip wiring (agent_gossip.c). */
/* Starts the transport with the configured peers that have a key; its first DELTA seq follows
 * last_seq (a restart within the same epoch continues the sequence). */
int agent_gossip_start(struct agent *a, uint64_t last_seq);
void agent_gossip_stop(struct agent *a);
void agent_gossip_notify(struct agent *a);
/* Arms the evaluation timers for what the scenario engine holds (keys queued, a deferred crossing's
 * deadline); call after anything that may have queued or deferred a key. */
void agent_gossip_eval_arm(struct agent *a);
/* True once the state was completed by a sync with a peer, or when there are no peers. */
bool agent_gossip_synced(struct agent *a);
/* Peers as JSON array (for status and peers) and whether every peer is alive. */
void agent_gossip_peers_json(struct agent *a, FILE *out, bool *all_alive, size_t *alive);
void agent_gossip_peers_table(struct agent *a, FILE *out);
/* Transport totals (frames, bytes, syncs, drops by reason) as one JSON object. */
void agent_gossip_totals_json(struct agent *a, FILE *out);

#endif
