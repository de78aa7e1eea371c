/* bench_meshnode.c: a test node for the cluster transport (a state, a transport and a zloop in one
 * process, writing random deltas and reporting its digest and counters to a status file), plus the
 * attackers the integration test needs: a sender with an unknown key and a frame replayer.
 * The figures of `make bench` come from bench_gossip_mesh, which starts 16 of these.
 *
 *   bench_meshnode keygen DIR N              keys node0..node<N-1> in DIR/keys, a stranger in DIR/stranger
 *   bench_meshnode node --dir DIR --index I --nodes N --base-port P [--count C --rate R --loss PERMILLE
 *                  --clock-offset MS --curve --sync-ms MS --duration MS --name NAME --epoch E --with-skew
 *                  --sync-base-port Q --bg-rate R --window-ms MS]
 *   bench_meshnode inject --dir DIR --target-port Q        frames signed by the stranger's key
 *   bench_meshnode replay --source-port P --target-port Q  replays a captured DELTA, then tampers with it
 * Ports: node i binds PUB on P+2i and ROUTER on P+2i+1; with --sync-base-port Q, PUB on P+i and ROUTER
 * on Q+i (64 nodes need two blocks of ports). SIGUSR1 makes a node write one more burst.
 * Bench load: --bg-rate R writes R counter deltas per second on random address keys from --start-at
 * for --window-ms; the status file then holds that window's traffic and CPU time (win_* lines).
 * With --go-signal, nothing is written before the first SIGUSR1 (the bench sends it once every node
 * reports that it heard all its peers: peers_heard). */
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/util.h"
#include "gossip/keyring.h"
#include "gossip/state.h"
#include "gossip/transport.h"
#include "gossip/wire.h"

#define WINDOW_MS 3600000
#define FLOOD_MAX 1000000

struct opts {
    const char *dir, *name;
    int index, nodes, base_port;
    int rate, count;                  /* writes per second, writes per burst */
    int64_t clock_offset_ms;
    uint32_t epoch;
    bool curve;
    int sync_ms, duration_ms, status_ms;
    int64_t start_at_ms;              /* unix ms when the first burst starts (0: now) */
    bool lat;                         /* bench: keys carry their write time */
    int flood;                        /* bench: write this many deltas as fast as the loop allows */
    unsigned loss;                    /* per mille of PUB frames discarded on arrival */
    bool with_skew;                   /* the "skew" node (index N) is a configured peer too */
    const char *snapshot;             /* restored at start, saved with each status, as the agent does */
    int sync_base_port;               /* 0: ROUTER ports interleaved with the PUB ones */
    int bg_rate;                      /* bench: background counter deltas per second */
    int window_ms;                    /* bench: the measured window, from start_at */
    bool no_digest;                   /* bench: the status file leaves the state digest out */
    bool go_signal;                   /* bench: write nothing before the first SIGUSR1 */
};

/* Traffic and CPU at a point in time, for the measured window. */
struct win_mark {
    int64_t mono_ms, cpu_ns;
    uint64_t frames_in, bytes_in, bytes_wire_out;
};

struct node {
    struct opts o;
    char name[GOSSIP_NAME_MAX + 1];
    zloop_t *loop;
    struct gossip_identity *id;
    struct gossip_keyring *kr;
    struct gossip_state *st;
    struct gossip_transport *t;
    uint64_t written, burst_left;
    bool go;                          /* a SIGUSR1 came (--go-signal) */
    FILE *lat;                        /* bench: "writer seq latency_us" per merged lat| key */
    uint64_t flood_seen;              /* distinct flood keys merged (syncs bring some again) */
    uint8_t *flood_bits;
    int64_t flood_first_us, flood_last_us, flood_start_us, flood_write_us;
    uint64_t bg_written, lat_merged;  /* lat_merged: distinct timed deltas of others merged */
    uint8_t *lat_bits;                /* (writer, seq) seen, for lat_merged */
    int64_t bg_start_ms;
    struct win_mark win0, win1;       /* mono_ms 0: not reached */
};

/* SIGUSR1 is blocked and polled from the write timer: a handler would interrupt zmq_poll, and zloop
 * ends on EINTR. */
static bool burst_requested(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    struct timespec zero = { 0, 0 };
    return sigtimedwait(&set, NULL, &zero) == SIGUSR1;
}

static int64_t node_now(const struct node *n)
{
    return sg_now_ms() + n->o.clock_offset_ms;
}

static int64_t mono_us(void)
{
    return sg_mono_ns() / 1000;
}

/* One random write: mostly counters, some distinct items, some bans and unbans on a shared key set
 * (so that writers race on the same ban keys and last-writer-wins is exercised across nodes). */
static void write_one(struct node *n)
{
    char key[128];
    int64_t now = node_now(n);
    uint32_t r = randombytes_uniform(100);
    if (n->o.lat) {
        snprintf(key, sizeof key, "lat|%d|%" PRIu64 "|%" PRId64, n->o.index, n->written, mono_us());
        gossip_state_counter_add(n->st, key, 1, now);
    } else if (r < 75) {
        snprintf(key, sizeof key, "k|%s|%u", n->name, randombytes_uniform(500));
        gossip_state_counter_add(n->st, key, 1 + randombytes_uniform(5), now);
    } else if (r < 88) {
        uint32_t item = randombytes_uniform(1000);
        snprintf(key, sizeof key, "d|%u", randombytes_uniform(20));
        gossip_state_distinct_add(n->st, key, &item, sizeof item, now);
    } else {
        snprintf(key, sizeof key, "ip:10.0.%u.%u", randombytes_uniform(4), randombytes_uniform(16));
        struct gossip_ban_spec spec = {
            .key = key,
            .action = r < 96 ? GOSSIP_BAN_ACTION_BAN : GOSSIP_BAN_ACTION_UNBAN,
            .kind = GOSSIP_BAN_KIND_BLOCK,
            .expires_at = now + WINDOW_MS,
            .level = 1,
            .reason = "bench",
            .scenario = "mesh",
        };
        gossip_state_ban_put(n->st, &spec, now, NULL);
    }
    /* a probe key per writer, so a test can ask whether anything of a given node arrived */
    snprintf(key, sizeof key, "probe|%s", n->name);
    gossip_state_counter_add(n->st, key, 1, now);
    n->written++;
}

static int on_write(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    struct node *n = arg;
    if (burst_requested()) {
        n->burst_left += (uint64_t)n->o.count;
        n->go = true;
    }
    if (n->o.start_at_ms && sg_now_ms() < n->o.start_at_ms)
        return 0;
    int per_tick = n->o.rate >= 100 ? n->o.rate / 100 : 1;
    for (int i = 0; i < per_tick && n->burst_left > 0; i++, n->burst_left--)
        write_one(n);
    gossip_transport_notify(n->t);
    return 0;
}

static int64_t cpu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Bytes this node put on the wire: what it published goes once to each of the n-1 subscribers
 * (the transport counts it once), what it sent to one peer's ROUTER once. */
static void win_mark(const struct node *n, struct win_mark *m)
{
    struct gossip_transport_totals tot;
    gossip_transport_totals(n->t, &tot);
    uint64_t direct = 0;
    size_t np = gossip_transport_peer_count(n->t);
    for (size_t i = 0; i < np; i++) {
        struct gossip_peer_stats ps;
        gossip_transport_peer_stats(n->t, i, &ps);
        direct += ps.bytes_out;
    }
    *m = (struct win_mark){ .mono_ms = sg_mono_ms(), .cpu_ns = cpu_now_ns(), .frames_in = tot.frames_in,
                            .bytes_in = tot.bytes_in, .bytes_wire_out = (tot.bytes_out - direct) * np + direct };
}

/* Background load: bg_rate counter deltas per second on random address keys, caught up on each 10 ms
 * tick (a late tick writes more), so the offered rate holds while the loop is busy. */
static int on_bg(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    struct node *n = arg;
    if ((n->o.start_at_ms && sg_now_ms() < n->o.start_at_ms) || (n->o.go_signal && !n->go))
        return 0;
    if (!n->win0.mono_ms) {
        win_mark(n, &n->win0);
        n->bg_start_ms = n->win0.mono_ms;
    }
    int64_t el = sg_mono_ms() - n->bg_start_ms;
    if (n->win1.mono_ms || el >= n->o.window_ms) {
        if (!n->win1.mono_ms)
            win_mark(n, &n->win1);
        return 0;
    }
    uint64_t due = (uint64_t)((int64_t)n->o.bg_rate * el / 1000);
    char key[64];
    int64_t now = node_now(n);
    for (int i = 0; i < 20000 && n->bg_written < due; i++, n->bg_written++) {
        uint32_t a = randombytes_uniform(1u << 20);
        snprintf(key, sizeof key, "auth-ip|ip:10.%u.%u.%u", a >> 16, (a >> 8) & 255, a & 255);
        gossip_state_counter_add(n->st, key, 1, now);
    }
    gossip_transport_notify(n->t);
    return 0;
}

/* Flood: 1000 writes per 1 ms tick, so the loop still serves its sockets in between. */
static int on_flood(zloop_t *loop, int timer_id, void *arg)
{
    struct node *n = arg;
    if (n->o.start_at_ms && sg_now_ms() < n->o.start_at_ms)
        return 0;
    char key[64];
    int64_t now = node_now(n);
    if (!n->flood_start_us)
        n->flood_start_us = mono_us();
    for (int i = 0; i < 1000 && n->written < (uint64_t)n->o.flood; i++) {
        snprintf(key, sizeof key, "flood|%d|%" PRIu64, n->o.index, n->written++);
        gossip_state_counter_add(n->st, key, 1, now);
    }
    gossip_transport_notify(n->t);
    if (n->written >= (uint64_t)n->o.flood) {
        n->flood_write_us = mono_us();
        zloop_timer_end(loop, timer_id);
    }
    return 0;
}

static void on_merged(const struct gossip_body *b, const struct gossip_merge_result *res, uint64_t sender, void *arg)
{
    (void)res;
    (void)sender;
    struct node *n = arg;
    int64_t now = mono_us();
    for (size_t i = 0; i < b->n_slots; i++) {
        const char *k = b->slots[i].key;
        int writer;
        uint64_t seq;
        int64_t at;
        if (n->lat && sscanf(k, "lat|%d|%" SCNu64 "|%" SCNd64, &writer, &seq, &at) == 3) {
            fprintf(n->lat, "%d %" PRIu64 " %" PRId64 "\n", writer, seq, now - at);
            if (writer >= 0 && writer < n->o.nodes && seq < (uint64_t)n->o.count) {
                size_t bit = (size_t)writer * (size_t)n->o.count + seq;
                if (!(n->lat_bits[bit / 8] >> (bit % 8) & 1))
                    n->lat_merged++;
                n->lat_bits[bit / 8] |= (uint8_t)(1u << (bit % 8));
            }
        } else if (sscanf(k, "flood|%d|%" SCNu64, &writer, &seq) == 2 && seq < FLOOD_MAX &&
                 !(n->flood_bits[seq / 8] >> (seq % 8) & 1)) {
            n->flood_bits[seq / 8] |= (uint8_t)(1u << (seq % 8));
            if (n->flood_seen++ == 0)
                n->flood_first_us = now;
            n->flood_last_us = now;
        }
    }
}

/* The status file: "name value" lines, then the transport's JSON, written atomically. */
static int on_status(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    struct node *n = arg;
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s.status", n->o.dir, n->name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    /* Only a node's own counter cells come back from its peers (they take a slot from its origin
     * alone): what it wrote in an earlier epoch it keeps through its snapshot, like the agent. */
    if (n->o.snapshot)
        gossip_state_save(n->st, n->o.snapshot);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return 0;
    uint8_t *enc;
    size_t len;
    uint8_t h[16];
    char hex[33];
    if (n->o.no_digest) {
        snprintf(hex, sizeof hex, "skipped");   /* bench: encoding the whole state would weigh on the figures */
    } else if (gossip_state_encode(n->st, &enc, &len) == 0) {
        crypto_generichash(h, sizeof h, enc, len, NULL, 0);
        free(enc);
        sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    } else {
        snprintf(hex, sizeof hex, "error");
    }
    struct gossip_transport_totals tot;
    gossip_transport_totals(n->t, &tot);
    uint64_t seen = 0, repaired = 0;
    for (size_t i = 0; i < gossip_transport_peer_count(n->t); i++) {
        struct gossip_peer_stats ps;
        gossip_transport_peer_stats(n->t, i, &ps);
        seen += ps.gaps_seen;
        repaired += ps.gaps_repaired;
    }
    int64_t now = node_now(n);
    fprintf(f, "name %s\nwritten %" PRIu64 "\npending %" PRIu64 "\nsynced %d\ndigest %s\n", n->name, n->written,
            n->burst_left, tot.synced ? 1 : 0, hex);
    fprintf(f, "probe_skew %" PRIu64 "\nprobe_stranger %" PRIu64 "\ngaps_seen %" PRIu64 "\ngaps_repaired %" PRIu64 "\n",
            gossip_state_counter_total(n->st, "probe|skew", WINDOW_MS, now),
            gossip_state_counter_total(n->st, "probe|stranger", WINDOW_MS, now), seen, repaired);
    for (int r = 0; r < GOSSIP_DROP_MAX; r++)
        fprintf(f, "drop_%s %" PRIu64 "\n", gossip_drop_reason_name(r), tot.drops[r]);
    fprintf(f, "flood_seen %" PRIu64 "\nflood_first_us %" PRId64 "\nflood_last_us %" PRId64 "\n", n->flood_seen,
            n->flood_first_us, n->flood_last_us);
    fprintf(f, "flood_start_us %" PRId64 "\nflood_write_us %" PRId64 "\n", n->flood_start_us, n->flood_write_us);
    size_t heard = 0;   /* peers heard from at least once: our SUB is connected to them */
    for (size_t i = 0; i < gossip_transport_peer_count(n->t); i++) {
        struct gossip_peer_stats ps;
        heard += gossip_transport_peer_stats(n->t, i, &ps) == 0 && ps.last_msg_age_ms >= 0;
    }
    fprintf(f, "lat_merged %" PRIu64 "\npeers_heard %zu\n", n->lat_merged, heard);
    if (n->win0.mono_ms && n->win1.mono_ms)
        fprintf(f, "win_ms %" PRId64 "\nwin_cpu_us %" PRId64 "\nwin_frames_in %" PRIu64 "\nwin_bytes_in %" PRIu64
                   "\nwin_bytes_out %" PRIu64 "\nbg_written %" PRIu64 "\n",
                n->win1.mono_ms - n->win0.mono_ms, (n->win1.cpu_ns - n->win0.cpu_ns) / 1000,
                n->win1.frames_in - n->win0.frames_in, n->win1.bytes_in - n->win0.bytes_in,
                n->win1.bytes_wire_out - n->win0.bytes_wire_out, n->bg_written);
    fputs("json ", f);
    gossip_transport_stats_json(n->t, f);
    if (fclose(f) == 0)
        rename(tmp, path);
    return 0;
}

static int on_end(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    (void)arg;
    return -1;
}

static int pub_port(const struct opts *o, int i)
{
    return o->sync_base_port ? o->base_port + i : o->base_port + 2 * i;
}

static int sync_port(const struct opts *o, int i)
{
    return o->sync_base_port ? o->sync_base_port + i : o->base_port + 2 * i + 1;
}

static int run_node(struct opts *o)
{
    struct node n = { .o = *o };
    int rc = 1;
    snprintf(n.name, sizeof n.name, "%s", o->name ? o->name : "");
    if (!o->name)
        snprintf(n.name, sizeof n.name, "node%d", o->index);
    char keys[4096], ep_pub[64], ep_sync[64];
    snprintf(keys, sizeof keys, "%s/keys", o->dir);
    n.id = gossip_identity_load(keys, n.name);
    n.kr = gossip_keyring_new();
    if (!n.id || gossip_keyring_load_dir(n.kr, keys) < 0)
        goto out;
    struct gossip_state_config sc;
    gossip_state_config_default(&sc);
    n.st = gossip_state_new(&sc, n.id, n.kr, o->epoch ? o->epoch : (uint32_t)(sg_now_ms() / 1000));
    if (o->snapshot && access(o->snapshot, F_OK) == 0)
        gossip_state_load(n.st, o->snapshot, sg_now_ms());
    n.loop = zloop_new();
    size_t total = (size_t)o->nodes + 1;
    struct gossip_transport_peer *peers = sg_xcalloc(total, sizeof *peers);
    char (*names)[16] = sg_xcalloc(total, 16), (*pubs)[64] = sg_xcalloc(total, 64), (*syncs)[64] = sg_xcalloc(total, 64);
    size_t np = 0;
    for (int i = 0; i < o->nodes + (o->with_skew ? 1 : 0); i++) {
        if (i == o->index)
            continue;
        if (i == o->nodes)
            snprintf(names[np], 16, "skew");
        else
            snprintf(names[np], 16, "node%d", i);
        snprintf(pubs[np], 64, "tcp://127.0.0.1:%d", pub_port(o, i));
        snprintf(syncs[np], 64, "tcp://127.0.0.1:%d", sync_port(o, i));
        peers[np] = (struct gossip_transport_peer){ names[np], pubs[np], syncs[np], NULL, false };
        np++;
    }
    snprintf(ep_pub, sizeof ep_pub, "tcp://127.0.0.1:%d", pub_port(o, o->index));
    snprintf(ep_sync, sizeof ep_sync, "tcp://127.0.0.1:%d", sync_port(o, o->index));
    struct gossip_transport_config tc;
    gossip_transport_config_default(&tc);
    tc.self = n.id;
    tc.pub_bind = ep_pub;
    tc.sync_bind = ep_sync;
    tc.peers = peers;
    tc.n_peers = np;
    tc.curve = o->curve;
    tc.sync_interval_ms = o->sync_ms;
    tc.clock_offset_ms = o->clock_offset_ms;
    tc.test_loss_permille = o->loss;
    n.t = gossip_transport_new(n.loop, n.st, n.kr, &tc);
    if (!n.t)
        goto out_peers;
    gossip_transport_set_merge_cb(n.t, on_merged, &n);
    if (o->lat) {
        char p[4200];
        snprintf(p, sizeof p, "%s/%s.lat", o->dir, n.name);
        n.lat = fopen(p, "w");
    }
    n.burst_left = o->go_signal ? 0 : (uint64_t)o->count;
    n.flood_bits = sg_xcalloc(FLOOD_MAX / 8, 1);
    n.lat_bits = sg_xcalloc((size_t)o->nodes * (size_t)(o->count > 0 ? o->count : 1) / 8 + 1, 1);
    if (o->flood > FLOOD_MAX)
        n.o.flood = FLOOD_MAX;
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    zloop_timer(n.loop, o->rate >= 100 ? 10 : (size_t)(1000 / (o->rate > 0 ? o->rate : 1)), 0, on_write, &n);
    if (o->flood)
        zloop_timer(n.loop, 1, 0, on_flood, &n);
    if (o->window_ms)
        zloop_timer(n.loop, 10, 0, on_bg, &n);
    zloop_timer(n.loop, (size_t)o->status_ms, 0, on_status, &n);
    if (o->duration_ms)
        zloop_timer(n.loop, (size_t)o->duration_ms, 1, on_end, &n);
    zloop_start(n.loop);
    on_status(n.loop, 0, &n);
    rc = 0;
out_peers:
    free(peers), free(names), free(pubs), free(syncs);
out:
    if (n.lat)
        fclose(n.lat);
    free(n.flood_bits);
    free(n.lat_bits);
    gossip_transport_destroy(&n.t);
    zloop_destroy(&n.loop);
    gossip_state_destroy(&n.st);
    gossip_keyring_destroy(&n.kr);
    gossip_identity_destroy(&n.id);
    return rc;
}

static int keygen(const char *dir, int nodes)
{
    char d[4096], name[32];
    snprintf(d, sizeof d, "%s/keys", dir);
    if (mkdir(d, 0700) < 0 && errno != EEXIST)
        return 1;
    for (int i = 0; i < nodes; i++) {
        snprintf(name, sizeof name, "node%d", i);
        if (gossip_identity_generate(d, name) < 0)
            return 1;
    }
    if (gossip_identity_generate(d, "skew") < 0)   /* known key, clock far ahead */
        return 1;
    snprintf(d, sizeof d, "%s/stranger", dir);     /* a key nobody has */
    if (mkdir(d, 0700) < 0 && errno != EEXIST)
        return 1;
    return gossip_identity_generate(d, "stranger") < 0;
}

/* Sends frames to a node's ROUTER through a DEALER, and waits for them to leave. */
static int send_frames(int port, uint8_t **frames, size_t *lens, size_t n)
{
    zsock_t *d = zsock_new(ZMQ_DEALER);
    if (!d)
        return 1;
    zsock_set_linger(d, 2000);
    zsock_set_immediate(d, 1);
    zsock_connect(d, "tcp://127.0.0.1:%d", port);
    int sent = 0;
    for (int tries = 0; tries < 50 && sent == 0; tries++) {
        if (zmq_send(zsock_resolve(d), frames[0], lens[0], ZMQ_DONTWAIT) >= 0)
            sent = 1;
        else
            zclock_sleep(100);
    }
    for (size_t i = 1; sent && i < n; i++)
        zmq_send(zsock_resolve(d), frames[i], lens[i], 0);
    zsock_destroy(&d);   /* waits (linger) until the frames have left */
    return sent ? 0 : 1;
}

/* A well-formed, correctly signed SYNC_DATA and DELTA from a key that is in nobody's keyring. */
static int inject(const struct opts *o, int port)
{
    char d[4096];
    snprintf(d, sizeof d, "%s/stranger", o->dir);
    struct gossip_identity *id = gossip_identity_load(d, "stranger");
    if (!id)
        return 1;
    struct gossip_writer w;
    gossip_writer_init(&w);
    int64_t now = sg_now_ms();
    gossip_writer_slot(&w, "probe|stranger", now - now % 10000, id->origin, 1, 1000);
    uint8_t *frames[2];
    size_t lens[2];
    for (int i = 0; i < 2; i++) {
        struct gossip_frame_header h = { .type = i ? GOSSIP_FRAME_DELTA : GOSSIP_FRAME_SYNC_DATA,
                                         .origin = id->origin, .epoch = 1, .seq = 1,
                                         .hlc = (uint64_t)now << 16 };
        gossip_wire_frame_encode(&h, (const uint8_t *)w.buf.data, w.buf.size, id, &frames[i], &lens[i]);
    }
    int rc = send_frames(port, frames, lens, 2);
    free(frames[0]), free(frames[1]);
    gossip_writer_fini(&w);
    gossip_identity_destroy(&id);
    return rc;
}

/* Captures one DELTA from a node's PUB, then sends it to another node three times (replays), a copy
 * with one body byte flipped (bad signature) and 100 bytes of noise (malformed). */
static int replay(int src_port, int dst_port)
{
    zsock_t *sub = zsock_new_sub(NULL, "");
    if (!sub)
        return 1;
    zsock_connect(sub, "tcp://127.0.0.1:%d", src_port);
    zsock_set_rcvtimeo(sub, 200);
    uint8_t *cap = NULL;
    size_t cap_len = 0;
    int64_t end = sg_mono_ms() + 15000;
    while (!cap && sg_mono_ms() < end) {
        zframe_t *f = zframe_recv(sub);
        if (f && zframe_size(f) > GOSSIP_WIRE_OVERHEAD && zframe_data(f)[0] == GOSSIP_FRAME_DELTA) {
            cap_len = zframe_size(f);
            cap = sg_xmalloc(cap_len);
            memcpy(cap, zframe_data(f), cap_len);
        }
        zframe_destroy(&f);
    }
    zsock_destroy(&sub);
    if (!cap) {
        fprintf(stderr, "replay: no DELTA frame seen on port %d\n", src_port);
        return 1;
    }
    /* Whether the target got the original first or not, at least 2 of the 3 copies are replays. */
    uint8_t *bad = sg_xmalloc(cap_len), noise[100];
    memcpy(bad, cap, cap_len);
    bad[GOSSIP_WIRE_HEADER_LEN] ^= 0x01;
    randombytes_buf(noise, sizeof noise);
    uint8_t *frames[] = { cap, cap, cap, bad, noise };
    size_t lens[] = { cap_len, cap_len, cap_len, cap_len, sizeof noise };
    int rc = send_frames(dst_port, frames, lens, 5);
    free(cap), free(bad);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        puts("bench_meshnode: test node of the cluster transport; the figures come from bench_gossip_mesh");
        return 0;
    }
    if (sodium_init() < 0)
        return 1;
    const char *mode = argv[1];
    if (strcmp(mode, "keygen") == 0)
        return argc == 4 ? keygen(argv[2], atoi(argv[3])) : 2;
    struct opts o = { .rate = 100, .sync_ms = 2000, .status_ms = 200, .index = -1 };
    bool bench = false;
    int src_port = 0, dst_port = 0;
    static const struct option lo[] = {
        { "dir", 1, 0, 'd' }, { "index", 1, 0, 'i' }, { "nodes", 1, 0, 'n' }, { "base-port", 1, 0, 'p' },
        { "rate", 1, 0, 'r' }, { "count", 1, 0, 'c' }, { "clock-offset", 1, 0, 'k' }, { "epoch", 1, 0, 'e' },
        { "curve", 0, 0, 'C' }, { "sync-ms", 1, 0, 's' }, { "duration", 1, 0, 'D' }, { "name", 1, 0, 'N' },
        { "start-at", 1, 0, 'S' }, { "lat", 0, 0, 'L' }, { "flood", 1, 0, 'F' }, { "source-port", 1, 0, 'P' },
        { "target-port", 1, 0, 'T' }, { "loss", 1, 0, 'l' },
        { "with-skew", 0, 0, 'W' }, { "snapshot", 1, 0, 'Z' }, { "sync-base-port", 1, 0, 'Q' },
        { "bg-rate", 1, 0, 'B' }, { "window-ms", 1, 0, 'M' }, { "go-signal", 0, 0, 'G' }, { 0, 0, 0, 0 },
    };
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'd': o.dir = optarg; break;
        case 'i': o.index = atoi(optarg); break;
        case 'n': o.nodes = atoi(optarg); break;
        case 'p': o.base_port = atoi(optarg); break;
        case 'r': o.rate = atoi(optarg); break;
        case 'c': o.count = atoi(optarg); break;
        case 'k': o.clock_offset_ms = atoll(optarg); break;
        case 'e': o.epoch = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'C': o.curve = true; break;
        case 's': o.sync_ms = atoi(optarg); break;
        case 'D': o.duration_ms = atoi(optarg); break;
        case 'N': o.name = optarg; break;
        case 'S': o.start_at_ms = atoll(optarg); break;
        case 'L': o.lat = bench = true; break;
        case 'F': o.flood = atoi(optarg), bench = true; break;
        case 'P': src_port = atoi(optarg); break;
        case 'T': dst_port = atoi(optarg); break;
        case 'l': o.loss = (unsigned)atoi(optarg); break;
        case 'Z': o.snapshot = optarg; break;
        case 'W': o.with_skew = true; break;
        case 'Q': o.sync_base_port = atoi(optarg); break;
        case 'B': o.bg_rate = atoi(optarg); break;
        case 'M': o.window_ms = atoi(optarg), bench = true; break;
        case 'G': o.go_signal = true; break;
        default: return 2;
        }
    }
    if (bench) {
        o.status_ms = 1000;   /* the status file encodes the whole state: not while measuring */
        o.no_digest = true;
    }
    if (strcmp(mode, "node") == 0) {
        if (!o.dir || o.index < 0 || o.nodes < 1 || o.base_port <= 0 || o.rate <= 0 || o.sync_ms <= 0) {
            fprintf(stderr, "node: --dir, --index, --nodes, --base-port are required\n");
            return 2;
        }
        return run_node(&o);
    }
    if (strcmp(mode, "inject") == 0)
        return o.dir && dst_port ? inject(&o, dst_port) : 2;
    if (strcmp(mode, "replay") == 0)
        return src_port && dst_port ? replay(src_port, dst_port) : 2;
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}
