/* agent.c: sgagent's lifecycle: build from the configuration, restore the snapshot, reconcile the
 * kernel, run one zloop (logs, gossip, timers, control socket, policy service, signals), reload on
 * SIGHUP without losing state, snapshot and exit cleanly on SIGTERM. */
#include "agent/agent.h"
#include "agent/agent_build.h"
#include "agent/attempt_once.h"
#include "agent/cli_common.h"
#include "agent/config_limits.h"
#include "agent/notify.h"
#include "agent/tally.h"
#include "agent/util.h"
#include "common/key.h"
#include "common/text.h"
#include "gossip/hlc.h"

#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#define TICK_MS 50
#define HOUSEKEEP_MS 1000
#define RECONCILE_AFTER_MS 30000   /* full reconcile at the latest this long after start, synced or not */
/* Label pairs kept for the metrics: kinds x services the rules name, and scenarios x actions. */
#define EVENT_TALLY_CAP 128
#define DECISION_TALLY_CAP 256
/* Expiry scans 1/EXPIRE_SLICES of each table each tick, at most GOSSIP_EXPIRE_SLICE_MAX slots: a
 * full pass every 5 s (buckets are 10 s) up to 409,600 slots a table (~300,000 keys; tables never
 * shrink, so a table an attack grew keeps the slower pass), slower beyond (50 s at 4M slots),
 * about a millisecond a tick instead of a scan of them all every second. */
#define EXPIRE_SLICES 100
/* A running snapshot writes a slice (GOSSIP_SNAPSHOT_SLICE_KEYS entries, about 2 ms) this often:
 * a million keys in about 5 s on an idle machine, well within the default 30 s period. */
#define SNAPSHOT_STEP_MS 10
/* A log source reads at most this much per look (about 2,000 lines, a few ms of the loop); a source
 * left behind by a burst is looked at again every SOURCE_BEHIND_MS until it has caught up, with the
 * loop's other work (gossip, policy answers, kernel ticks) in between. */
#define SOURCE_TURN_BYTES (256 * 1024)
#define SOURCE_BEHIND_MS 1
/* A full kernel reconcile runs a slice (about 3 ms, enforce_reconcile.c) this often as well as at
 * each tick, so that bans decided meanwhile, which wait for its end, wait about a second at 100k
 * bans rather than the ~9 s of one slice per 50 ms tick; the loop still runs between slices. */
#define RECONCILE_STEP_MS 5

static void path_in_state(const struct agent *a, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", a->cfg->state_dir, name);
}

/* ---- enforcement of replicated records ---------------------------------------------------- */

/* The address or prefix a block record names, copied into k; NULL for the other kinds. */
static const char *record_addr(const struct gossip_ban *b, struct sg_key *k)
{
    if (b->kind != GOSSIP_BAN_KIND_BLOCK || sg_key_parse(b->key, k) < 0 || k->kind != SG_REC_BLOCK) return NULL;
    return k->subj.value;
}

/* Seconds the record has left, rounded up, at least 1 (the kernel timeout of its element). */
static uint32_t record_timeout_s(const struct gossip_ban *b, int64_t now)
{
    int64_t left = (b->expires_at - now + 999) / 1000;
    return (uint32_t)(left > 0 ? left : 1);
}

/* Every stored record (local or remote) passes here: block bans go to the kernel; throttles and
 * holds are read by the policy service on each request. The guard runs again inside enforce. */
static void on_ban_record(const struct gossip_ban *b, void *arg)
{
    struct agent *a = arg;
    int64_t now = sg_now_ms();
    bool remote = b->author != gossip_state_origin(a->st);
    if (remote) a->n.records_remote++;
    if (b->kind == GOSSIP_BAN_KIND_OFFENSE) return;
    if (b->kind == GOSSIP_BAN_KIND_ALLOW) {
        agent_allow_sync(a);
        return;
    }
    struct sg_key k;
    const char *addr = record_addr(b, &k);
    const struct gossip_peer_key *who = gossip_keyring_find(a->kr, b->author);
    const char *author = who ? who->name : "?";
    /* Merge refuses unclean text; printed escaped all the same (a snapshot from an older version). */
    char key[GOSSIP_KEY_MAX * 4 + 1], reason[GOSSIP_REASON_MAX * 4 + 1];
    sg_text_escape(b->key, key, sizeof key);
    sg_text_escape(b->reason, reason, sizeof reason);
    if (b->action == GOSSIP_BAN_ACTION_BAN && b->expires_at > now) {
        if (remote)
            sg_log(SG_LOG_NOTICE, "%s %s for %" PRId64 "s, decided by %s (%s)",
                   b->kind == GOSSIP_BAN_KIND_HOLD ? "hold" : b->kind == GOSSIP_BAN_KIND_THROTTLE ? "throttle" : "ban",
                   key, (b->expires_at - now) / 1000, author, reason);
        if (addr && b->kind == GOSSIP_BAN_KIND_BLOCK && a->enf) {
            if (enforce_ban_text(a->enf, addr, record_timeout_s(b, now)) < 0) a->n.enforce_refused++;
            else if (a->nkernel_pending < AGENT_KERNEL_PENDING_MAX)
                a->kernel_pending[a->nkernel_pending++] = GOSSIP_HLC_MS(b->hlc);   /* timed at the commit */
        }
    } else if (b->action == GOSSIP_BAN_ACTION_UNBAN) {
        sg_log(SG_LOG_NOTICE, "unban %s by %s%s%s", key, author, reason[0] ? ": " : "", reason);
        if (addr && a->enf) enforce_unban_text(a->enf, addr);
    }
}

static void on_decision(const struct decision *d, void *arg)
{
    struct agent *a = arg;
    tally_add(a->decisions, d->scenario, d->action, 1);
    sg_log(SG_LOG_NOTICE, "decision: %s %s for %" PRId64 "s (level %u), decided here on %s: %s", d->action, d->key,
           d->duration_s, d->level, a->cfg->node_name, d->reason);
    agent_gossip_notify(a);
}

struct wanted {
    struct enforce_ban *v;
    size_t n, cap;
    int64_t now;
};

static void collect_wanted(const struct gossip_ban *b, void *arg)
{
    struct wanted *w = arg;
    struct sg_key k;
    const char *addr = record_addr(b, &k);
    if (!addr || b->action != GOSSIP_BAN_ACTION_BAN || b->kind != GOSSIP_BAN_KIND_BLOCK || b->expires_at <= w->now) return;
    struct enforce_ban eb;
    if (enforce_prefix_parse(addr, &eb.prefix) < 0) return;
    eb.timeout_s = record_timeout_s(b, w->now);
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 64;
        w->v = sg_xrealloc(w->v, w->cap * sizeof *w->v);
    }
    w->v[w->n++] = eb;
}

static int on_reconcile_step(zloop_t *loop, int timer_id, void *arg)
{
    struct agent *a = arg;
    if (a->enf && enforce_reconciling(a->enf)) enforce_tick(a->enf);   /* a slice, or the end and a tick's work */
    if (!a->enf || !enforce_reconciling(a->enf)) {
        zloop_timer_end(loop, timer_id);
        a->rec_stepping = false;
    }
    return 0;
}

/* Makes the kernel sets equal to the state's active block bans. Until the state is complete
 * (restored from a snapshot that may be a little old, then synced with a peer), it only adds:
 * an element the kernel holds that the snapshot does not know is most likely a ban learned just
 * before a crash, and it expires by itself anyway. The full reconcile runs once synced. */
static int agent_reconcile(struct agent *a, bool full)
{
    if (!a->enf) return 0;
    struct wanted w = {.now = sg_now_ms()};
    gossip_state_ban_foreach(a->st, collect_wanted, &w);
    int rc = 0;
    if (full) {
        rc = enforce_reconcile_start(a->enf, w.v, w.n);   /* the ticks run the rest in slices */
        a->reconciled = true;
        if (enforce_reconciling(a->enf) && !a->rec_stepping &&
            zloop_timer(a->loop, RECONCILE_STEP_MS, 0, on_reconcile_step, a) >= 0)
            a->rec_stepping = true;   /* else the ticks alone run it */
    } else {
        for (size_t i = 0; i < w.n; i++) enforce_ban(a->enf, &w.v[i].prefix, w.v[i].timeout_s);
        rc = enforce_commit(a->enf);
    }
    sg_log(SG_LOG_INFO, "%s kernel sets with %zu active bans%s", full ? "reconciled" : "restored", w.n,
           rc < 0 ? " (with errors)" : "");
    free(w.v);
    return rc;
}

/* ---- detection ------------------------------------------------------------------------------ */

void agent_event(struct agent *a, const struct sg_event *ev)
{
    /* Services are the rules' and the parser's own names, never text from the line. */
    tally_add(a->events, detect_kind_name(ev->kind), ev->service, 1);
    /* Live events: count at the wall clock (a line's own stamp has no year or zone in BSD syslog). */
    scenario_engine_event(a->eng, ev, sg_now_ms());
    if (gossip_state_pending(a->st)) agent_gossip_notify(a);
    agent_gossip_eval_arm(a);   /* a crossing it left to its decider has a deadline */
}

static void on_event(const struct sg_event *ev, void *arg)
{
    struct agent *a = arg;
    if (!ev->reported || !a->once) {
        agent_event(a, ev);
        return;
    }
    struct sg_event e = *ev;   /* Dovecot may report the same attempt: counted once */
    attempt_once_join(a->once, ATTEMPT_LOG, &e, sg_now_ms());
    agent_event(a, &e);
}

static void on_line(const char *line, size_t len, void *arg)
{
    struct agent *a = arg;
    detect_parser_line(a->parser, line, len, on_event, a);
}

static int on_source_behind(zloop_t *loop, int timer_id, void *arg);

/* A source that stopped at its turn's bytes is looked at again soon: what is already written wakes
 * no poll. One one-shot timer at a time. */
static void sources_catch_up(struct agent *a)
{
    if (a->src_behind_armed) return;
    for (size_t i = 0; i < a->nsrc; i++)
        if (detect_source_behind(a->src[i])) {
            if (zloop_timer(a->loop, SOURCE_BEHIND_MS, 1, on_source_behind, a) >= 0) a->src_behind_armed = true;
            return;
        }
}

static int on_source_behind(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop; (void)timer_id;
    struct agent *a = arg;
    a->src_behind_armed = false;
    for (size_t i = 0; i < a->nsrc; i++)
        if (detect_source_behind(a->src[i])) detect_source_check(a->src[i], on_line, a);
    if (gossip_state_pending(a->st)) agent_gossip_notify(a);
    sources_catch_up(a);
    return 0;
}

static int on_source(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void)loop;
    struct agent *a = arg;
    for (size_t i = 0; i < a->nsrc; i++)
        if (detect_source_fd(a->src[i]) == item->fd) detect_source_read(a->src[i], on_line, a);
    if (a->journal && detect_journal_fd(a->journal) == item->fd) detect_journal_read(a->journal, on_line, a);
    if (gossip_state_pending(a->st)) agent_gossip_notify(a);
    sources_catch_up(a);
    return 0;
}

static void sources_close(struct agent *a)
{
    for (size_t i = 0; i < a->nsrc; i++) {
        zmq_pollitem_t it = {.fd = detect_source_fd(a->src[i]), .events = ZMQ_POLLIN};
        zloop_poller_end(a->loop, &it);
        detect_source_destroy(&a->src[i]);
    }
    free(a->src);
    a->src = NULL;
    a->nsrc = 0;
    if (a->journal) {
        zmq_pollitem_t it = {.fd = detect_journal_fd(a->journal), .events = ZMQ_POLLIN};
        zloop_poller_end(a->loop, &it);
        detect_journal_destroy(&a->journal);
    }
}

static int sources_open(struct agent *a)
{
    struct detect_source_opts so = {.from_start = a->cfg->from_start, .turn_bytes = SOURCE_TURN_BYTES};
    a->src = sg_xcalloc(a->cfg->logs.n ? a->cfg->logs.n : 1, sizeof *a->src);
    for (size_t i = 0; i < a->cfg->logs.n; i++) {
        struct detect_source *s = detect_source_new(a->cfg->logs.v[i], &so);
        if (!s) { sg_log(SG_LOG_ERR, "log %s: cannot follow (inotify)", a->cfg->logs.v[i]); return -1; }
        a->src[a->nsrc++] = s;
    }
    if (a->cfg->journal) {
        char err[256];
        if (!(a->journal = cli_journal_from_config(a->cfg, err, sizeof err))) { sg_log(SG_LOG_ERR, "%s", err); return -1; }
    }
    char cur[4096];
    path_in_state(a, "cursors", cur, sizeof cur);
    if (detect_state_load(cur, a->src, a->nsrc, a->journal) < 0) sg_log(SG_LOG_WARN, "%s: unreadable, logs start at their end", cur);
    for (size_t i = 0; i < a->nsrc; i++) {
        zmq_pollitem_t it = {.fd = detect_source_fd(a->src[i]), .events = ZMQ_POLLIN};
        zloop_poller(a->loop, &it, on_source, a);
        detect_source_check(a->src[i], on_line, a);
    }
    sources_catch_up(a);
    if (a->journal) {
        zmq_pollitem_t it = {.fd = detect_journal_fd(a->journal), .events = ZMQ_POLLIN};
        zloop_poller(a->loop, &it, on_source, a);
        detect_journal_read(a->journal, on_line, a);
    }
    return 0;
}

/* ---- enforcement setup ---------------------------------------------------------------------- */

static int policy_start(struct agent *a)
{
    struct policy_config pc;
    char why[512];
    if (agent_policy_config(a->cfg, &pc, why, sizeof why) < 0) { sg_log(SG_LOG_ERR, "%s", why); return -1; }
    if (why[0]) sg_log(SG_LOG_NOTICE, "%s", why);
    if (!pc.unix_path && !pc.tcp_addr) return 0;
    a->policy = policy_server_new(a->loop, &pc, agent_policy_decide, a);
    if (!a->policy) { sg_log(SG_LOG_ERR, "policy service: cannot listen"); return -1; }
    return 0;
}

/* ---- timers and signals --------------------------------------------------------------------- */

/* The log cursors, a few lines: written when a snapshot of the state is in place, so that they are
 * never older than the state (a restart rereads nothing the state already counted; at worst the
 * events of the last save's few seconds are missing for the keys it had already written). */
static int cursors_save(struct agent *a)
{
    char path[4096];
    path_in_state(a, "cursors", path, sizeof path);
    return detect_state_save(path, a->src, a->nsrc, a->journal);
}

static void snapshot_done(struct agent *a, int rc)
{
    if (rc > 0 && cursors_save(a) < 0) rc = -1;
    if (rc < 0) { a->n.snapshot_errors++; sg_log(SG_LOG_WARN, "snapshot to %s failed: %s", a->cfg->state_dir, strerror(errno)); }
    else a->n.snapshots++;
}

/* Writes the next slice of a running snapshot; the timer ends with the save. */
static int on_snapshot_step(zloop_t *loop, int timer_id, void *arg)
{
    struct agent *a = arg;
    int r = gossip_snapshot_step(a->snap, a->st);
    if (r != 0) {
        snapshot_done(a, r);
        if (r > 0) sg_hist_observe_ns(&a->snapshot_latency, sg_mono_ns() - a->snap_started_ns);
    }
    if (!gossip_snapshot_running(a->snap)) {
        zloop_timer_end(loop, timer_id);
        a->snap_stepping = false;
    }
    return 0;
}

/* The state goes to disk in slices across loop ticks (gossip/snapshot.h) unless sync is asked
 * (reload, exit), which gives a running save up and writes the whole state at once. A save still
 * running when the period comes round makes this one wait a period (counted skipped). */
static int snapshot(struct agent *a, bool sync)
{
    int64_t t0 = sg_mono_ns();
    char path[4096];
    path_in_state(a, "state.snap", path, sizeof path);
    if (sync) {
        gossip_snapshot_abort(a->snap);
        int rc = gossip_state_save(a->st, path) < 0 ? -1 : 1;
        if (rc < 0) cursors_save(a);   /* a reload needs them whatever became of the state's */
        snapshot_done(a, rc);
        sg_hist_observe_ns(&a->snapshot_latency, sg_mono_ns() - t0);
        return rc < 0 ? -1 : 0;
    }
    int r = gossip_snapshot_start(a->snap, path);
    if (r < 0) snapshot_done(a, -1);
    if (r == 0) {
        a->snap_started_ns = t0;
        /* One timer: a save given up for a synchronous one may leave it armed. */
        if (!a->snap_stepping && zloop_timer(a->loop, SNAPSHOT_STEP_MS, 0, on_snapshot_step, a) < 0) {
            gossip_snapshot_abort(a->snap);
            snapshot_done(a, -1);
            return -1;
        }
        a->snap_stepping = true;
    }
    return r < 0 ? -1 : 0;
}

static int on_tick(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop; (void)timer_id;
    struct agent *a = arg;
    int64_t now = sg_mono_ms();
    if (a->tick_expected_ms) {
        a->loop_lag_ms = now - a->tick_expected_ms;
        if (a->loop_lag_ms < 0) a->loop_lag_ms = 0;
        if (a->loop_lag_ms > a->loop_lag_max_ms) a->loop_lag_max_ms = a->loop_lag_ms;
    }
    a->tick_expected_ms = now + TICK_MS;
    /* One kernel transaction per tick, whatever accumulated; the bans a prefix covered go back
     * when it ends, and a slice of the bans is checked against the kernel. */
    if (a->enf) enforce_tick(a->enf);
    /* The bans queued since the last commit are in the kernel now (or were given up, and counted). */
    if (a->nkernel_pending && (!a->enf || !enforce_pending(a->enf))) {
        int64_t wall = sg_now_ms();
        for (size_t i = 0; i < a->nkernel_pending; i++)
            sg_hist_observe(&a->kernel_latency, (double)(wall - a->kernel_pending[i]) / 1000.0);
        a->nkernel_pending = 0;
    }
    gossip_state_expire_slice(a->st, sg_now_ms(), EXPIRE_SLICES);
    return 0;
}

static int on_housekeep(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop; (void)timer_id;
    struct agent *a = arg;
    for (size_t i = 0; i < a->nsrc; i++) detect_source_check(a->src[i], on_line, a);
    sources_catch_up(a);
    if (a->journal) detect_journal_read(a->journal, on_line, a);
    if (a->allow_next_expiry_ms && a->allow_next_expiry_ms <= sg_now_ms()) agent_allow_sync(a);
    if (!a->reconciled && (agent_gossip_synced(a) || sg_mono_ms() - a->started_mono_ms > RECONCILE_AFTER_MS))
        agent_reconcile(a, true);
    /* Changes the enforcer dropped (its queue full while a reconcile ran) go in by the next one. */
    else if (a->reconciled && a->enf && enforce_reconcile_needed(a->enf) && !enforce_reconciling(a->enf))
        agent_reconcile(a, true);
    if (gossip_state_pending(a->st)) agent_gossip_notify(a);
    if (a->watchdog_ms) notify_send("WATCHDOG=1");
    return 0;
}

static int on_snapshot(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop; (void)timer_id;
    snapshot(arg, false);
    return 0;
}

static int agent_reload(struct agent *a);

static int on_signal(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void)loop; (void)item;
    struct agent *a = arg;
    struct signalfd_siginfo si;
    while (read(a->sigfd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGHUP) {
            agent_reload(a);
        } else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
            sg_log(SG_LOG_INFO, "signal %u: stopping", si.ssi_signo);
            a->stopping = true;
            return -1;   /* ends zloop_start */
        }
    }
    return 0;
}

static int signals_setup(struct agent *a)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    a->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (a->sigfd < 0) return -1;
    zmq_pollitem_t it = {.fd = a->sigfd, .events = ZMQ_POLLIN};
    return zloop_poller(a->loop, &it, on_signal, a);
}

/* ---- build, reload, run --------------------------------------------------------------------- */

static int ensure_dir(const char *path, mode_t mode)
{
    if (mkdir(path, mode) == 0 || errno == EEXIST) return 0;
    sg_log(SG_LOG_ERR, "cannot create %s: %s", path, strerror(errno));
    return -1;
}

/* The one builder (agent_build.c), its errors and warnings logged. */
static int build_logged(const char *path, struct agent_parts *parts)
{
    int rc = agent_build(path, NULL, 0, parts);
    for (size_t i = 0; i < parts->errors.n; i++) sg_log(SG_LOG_ERR, "%s", parts->errors.v[i]);
    for (size_t i = 0; i < parts->warnings.n; i++) sg_log(SG_LOG_WARN, "%s", parts->warnings.v[i]);
    return rc;
}

/* Takes the components of parts (which keeps only its lists). */
static void take_parts(struct agent *a, struct agent_parts *parts)
{
    a->cfg = parts->cfg;
    a->rules = parts->rules;
    a->parser = parts->parser;
    a->enf = parts->enf;
    parts->cfg = NULL;
    parts->rules = NULL;
    parts->parser = NULL;
    parts->enf = NULL;
}

struct agent *agent_new(const char *cfg_path)
{
    /* czmq's own SIGINT/SIGTERM handler would make zmq_poll fail with EINTR and end the loop on
     * SIGHUP too: signals are read from a signalfd instead. */
    zsys_handler_set(NULL);
    struct agent *a = sg_xcalloc(1, sizeof *a);
    a->sigfd = -1;
    a->cfg_path = sg_xstrdup(cfg_path);
    a->started_ms = sg_now_ms();
    a->started_mono_ms = sg_mono_ms();
    a->events = tally_new(EVENT_TALLY_CAP);
    a->decisions = tally_new(DECISION_TALLY_CAP);
    struct agent_parts parts;
    if (build_logged(cfg_path, &parts) < 0) {
        agent_parts_release(&parts);
        goto fail;
    }
    take_parts(a, &parts);
    a->id = parts.id;
    a->kr = parts.kr;
    parts.id = NULL;
    parts.kr = NULL;
    agent_parts_release(&parts);
    struct config *cfg = a->cfg;
    if (ensure_dir(cfg->state_dir, 0750) < 0) goto fail;
    /* The control socket's directory, as systemd's RuntimeDirectory makes it (a start by hand). */
    char *ctl_dir = sg_xstrdup(cfg->control_socket);
    int dir_rc = ensure_dir(dirname(ctl_dir), 0750);
    free(ctl_dir);
    if (dir_rc < 0) goto fail;
    if (agent_epoch_next(cfg->state_dir, (uint32_t)(a->started_ms / 1000), &a->epoch) < 0) goto fail;
    struct gossip_state_config sc;
    scenario_state_config(cfg, &sc);
    a->st = gossip_state_new(&sc, a->id, a->kr, a->epoch);
    a->snap = gossip_snapshot_new(0);
    char snap[4096];
    path_in_state(a, "state.snap", snap, sizeof snap);
    if (access(snap, F_OK) == 0) {
        if (gossip_snapshot_restore(a->snap, a->st, snap, sg_now_ms()) < 0) sg_log(SG_LOG_WARN, "%s: unreadable snapshot ignored", snap);
        else sg_log(SG_LOG_INFO, "restored state from %s", snap);
    }
    if (enforce_setup(a->enf) < 0) { sg_log(SG_LOG_ERR, "enforcement backend %s failed to start", cfg->backend); goto fail; }
    gossip_state_set_ban_cb(a->st, on_ban_record, a);
    agent_allow_sync(a);         /* the snapshot's allows, before any ban goes back in */
    agent_reconcile(a, false);
    a->eng = scenario_engine_new(cfg, a->st, enforce_guard(a->enf), on_decision, a);
    scenario_engine_set_enforce(a->eng, a->enf);
    a->loop = zloop_new();
    if (signals_setup(a) < 0) goto fail;
    if (sources_open(a) < 0) goto fail;
    if (agent_gossip_start(a, 0) < 0) goto fail;
    if (policy_start(a) < 0) goto fail;
    if (agent_authpolicy_start(a) < 0) goto fail;
    if (agent_metrics_start(a) < 0) goto fail;
    if (!(a->ctl = control_new(a->loop, cfg->control_socket, agent_control, a))) goto fail;
    zloop_timer(a->loop, TICK_MS, 0, on_tick, a);
    zloop_timer(a->loop, HOUSEKEEP_MS, 0, on_housekeep, a);
    zloop_timer(a->loop, (size_t)cfg->snapshot_s * 1000, 0, on_snapshot, a);
    a->watchdog_ms = notify_watchdog_ms();
    return a;
fail:
    agent_destroy(&a);
    return NULL;
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool authpolicy_changed(const struct config *o, const struct config *n)
{
    return o->authpolicy_enabled != n->authpolicy_enabled || !same_str(o->authpolicy_listen, n->authpolicy_listen) ||
           !same_str(o->authpolicy_key_file, n->authpolicy_key_file);
}

static bool metrics_changed(const struct config *o, const struct config *n)
{
    return o->metrics_enabled != n->metrics_enabled || o->metrics_allow_remote != n->metrics_allow_remote ||
           !same_str(o->metrics_listen, n->metrics_listen);
}

/* SIGHUP: a new configuration and new rules; the state (every counter and ban) is kept. A
 * configuration with errors is refused and the running one stays. */
static int agent_reload(struct agent *a)
{
    notify_send("RELOADING=1");
    struct agent_parts parts;
    int built = build_logged(a->cfg_path, &parts);
    /* The same enforcement config keeps the running front end, and its reconcile: reloads more
     * frequent than a reconcile would otherwise restart it each time, and bans decided meanwhile,
     * which wait for its end, would never reach the kernel. */
    bool reenforce = built == 0 && agent_build_enforce_differs(a->cfg, parts.cfg);
    if (built < 0 || (reenforce && enforce_setup(parts.enf) < 0)) {
        a->n.reload_errors++;
        sg_log(SG_LOG_ERR, "reload refused: configuration has errors; still running the previous one");
        agent_parts_release(&parts);
        notify_send("READY=1");
        return -1;
    }
    /* This node's own key is read at start only: the state's slots and records are signed with it. */
    if (memcmp(parts.id->pk, a->id->pk, GOSSIP_PK_LEN) || strcmp(parts.id->name, a->id->name))
        sg_log(SG_LOG_WARN, "reload: this node's own key or name changed; that takes a restart (still %s)", a->id->name);
    if (parts.cfg->max_keys != a->cfg->max_keys)
        sg_log(SG_LOG_WARN, "reload: [limits] max_keys changed; that takes a restart (still %zu)", a->cfg->max_keys);
    /* Log cursors, so the new followers resume exactly; synchronous, as the reload holds the
     * loop anyway (it rebuilds and reconciles) and the snapshot is then counted when it returns. */
    snapshot(a, true);
    sources_close(a);
    /* A new keyring (a peer added, removed or rotated) or new endpoints: a new transport, which
     * goes on with our sequence numbers so peers do not take its deltas for replays. */
    bool regossip = agent_build_gossip_differs(a->cfg, a->kr, parts.cfg, parts.kr);
    uint64_t last_seq = 0;
    if (regossip && a->tr) {
        struct gossip_transport_totals tt;
        gossip_transport_totals(a->tr, &tt);
        last_seq = tt.last_seq;
    }
    bool reauthpolicy = authpolicy_changed(a->cfg, parts.cfg);
    if (reauthpolicy) agent_authpolicy_stop(a);
    bool remetrics = metrics_changed(a->cfg, parts.cfg);
    if (remetrics) agent_metrics_stop(a);
    if (regossip) agent_gossip_stop(a);
    /* The state and the transport hold the keyring by pointer: its contents are exchanged. */
    gossip_keyring_swap(a->kr, parts.kr);
    struct scenario_engine *old_eng = a->eng;   /* its queued keys and counters go to the new one */
    a->eng = NULL;
    detect_parser_destroy(&a->parser);
    detect_rules_destroy(&a->rules);
    if (reenforce) {
        enforce_destroy(&a->enf);
    } else {
        enforce_destroy(&parts.enf);
        parts.enf = a->enf;
    }
    config_destroy(&a->cfg);
    take_parts(a, &parts);
    agent_parts_release(&parts);
    struct config *cfg = a->cfg;
    struct gossip_record_limits limits;
    config_record_limits(cfg, &limits);
    gossip_state_set_limits(a->st, &limits);
    agent_allow_sync(a);         /* a new guard: the replicated allows again, before the reconcile */
    gossip_state_set_windows(a->st, scenario_engine_max_window_ms(cfg), scenario_throttle_window_ms(cfg));
    /* A new front end, or none under way: a full reconcile (it also repairs hand edits). */
    if (reenforce || !a->enf || !enforce_reconciling(a->enf)) agent_reconcile(a, true);
    a->eng = scenario_engine_new(cfg, a->st, enforce_guard(a->enf), on_decision, a);
    scenario_engine_adopt(a->eng, &old_eng);
    scenario_engine_set_enforce(a->eng, a->enf);
    sources_open(a);
    /* The auth-policy server restarts only when its socket or key changed (tarpit and held_reject
     * are read per request); Dovecot fails open for the moment it is away. */
    if (reauthpolicy && agent_authpolicy_start(a) < 0) {
        a->n.reload_errors++;
        sg_log(SG_LOG_ERR, "reload: the auth-policy service could not start; Dovecot fails open until the next reload");
    }
    if (remetrics && agent_metrics_start(a) < 0) {
        a->n.reload_errors++;
        sg_log(SG_LOG_ERR, "reload: the metrics endpoint could not start; no metrics until the next reload");
    }
    /* The transport keeps running (and its peers' sequence state) unless its settings changed; a
     * socket just closed may hold its port for a moment, so binding is retried briefly. */
    for (int i = 0; regossip && i < 20; i++) {
        if (agent_gossip_start(a, last_seq) == 0) break;
        zclock_sleep(100);
    }
    if (regossip && !a->tr && a->cfg->gossip_bind) {
        a->n.reload_errors++;
        sg_log(SG_LOG_ERR, "reload: gossip transport could not start; this node is cut off until the next reload");
    }
    a->n.reloads++;
    sg_log(SG_LOG_INFO, "reloaded %s: %zu rules, %zu scenarios, %zu logs, %zu peers, %zu keys%s%s", a->cfg_path,
           detect_rules_count(a->rules), cfg->nscenarios, cfg->logs.n, cfg->npeers, gossip_keyring_count(a->kr),
           regossip ? ", transport restarted" : "", reenforce ? ", enforcement restarted" : "");
    notify_send("READY=1");
    return 0;
}

int agent_run(struct agent *a)
{
    sg_log(SG_LOG_INFO, "sgagent %s started: epoch %u, %zu peers, %zu logs%s, %zu scenarios, backend %s", a->cfg->node_name,
           a->epoch, a->cfg->npeers, a->cfg->logs.n, a->journal ? " and the journal" : "", a->cfg->nscenarios, a->cfg->backend);
    notify_send("READY=1");
    zloop_start(a->loop);
    notify_send("STOPPING=1");
    return 0;
}

void agent_destroy(struct agent **pa)
{
    struct agent *a = *pa;
    if (!a) return;
    if (a->st && a->cfg && a->loop && a->snap) snapshot(a, true);
    gossip_snapshot_destroy(&a->snap);
    control_destroy(&a->ctl);
    policy_server_destroy(&a->policy);
    zhashx_destroy(&a->throttle_notes);
    agent_authpolicy_stop(a);
    agent_metrics_stop(a);
    agent_gossip_stop(a);
    seen_ring_fini(&a->seen);   /* kept across a reload: the engine's queue is */
    if (a->loop) sources_close(a);
    scenario_engine_destroy(&a->eng);
    detect_parser_destroy(&a->parser);
    detect_rules_destroy(&a->rules);
    if (a->enf && enforce_pending(a->enf)) enforce_commit(a->enf);
    enforce_destroy(&a->enf);
    gossip_state_destroy(&a->st);
    gossip_keyring_destroy(&a->kr);
    gossip_identity_destroy(&a->id);
    zloop_destroy(&a->loop);
    if (a->sigfd >= 0) close(a->sigfd);
    config_destroy(&a->cfg);
    tally_destroy(&a->events);
    tally_destroy(&a->decisions);
    free(a->allows);
    free(a->cfg_path);
    free(a);
    *pa = NULL;
}
