/* state_verify.c: the ban signature checks of a large body (a sync's SYNC_DATA, a snapshot) made on
 * worker threads before the body is merged. Ed25519 checks are most of a catch-up's CPU (about 40 us
 * a record, 10 s for the 250,000 records an author may hold); the merge itself stays on the caller's
 * thread and uses the verdicts instead of checking again.
 *
 * Which records need a check is decided first, on the caller's thread, against the map as it stands
 * (gossip_state_ban_needs_check: the merge's own rules). Records of the body that change the map
 * before a later one is merged (the same key twice, an eviction, a callback that writes) can make
 * that guess wrong either way: a record checked for nothing costs a check, and one the merge needs
 * but has no verdict for is checked there (GOSSIP_SIG_UNKNOWN). A verdict depends on the record and
 * the keys only, so it is the same whenever it is reached.
 *
 * Threads are started per body rather than kept in a pool: on the 2-core test VM a create and join
 * costs about 54 us against 14 us for waking a pooled worker, and a SYNC_DATA frame (256 KiB) carries
 * about 1,800 records (70 ms of checks), so the difference is 0.1% of the work, while threads that
 * exist only inside a merge need no lifetime, no shutdown and are never there when the agent forks. */
#include "gossip/state_int.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "agent/util.h"

/* Fewer records to check than this (a DELTA's few) are checked by the merge itself: no pass over the
 * body to find them, no thread. About 2.5 ms of checks, against tens of us to start a thread. */
#define VERIFY_PARALLEL_MIN 64
/* Threads checking at once, the caller's included: the online CPUs, at most this. */
#define VERIFY_THREADS_MAX 8
/* Records a thread claims at a time: few enough that a thread the scheduler leaves behind on a loaded
 * machine holds back little, many enough that the shared counter is not contended. */
#define VERIFY_CHUNK 16

struct verify_job {
    const struct gossip_state *st;   /* read only, by every thread */
    const struct gossip_ban *bans;
    const size_t *todo;              /* indices in bans of the records to check */
    size_t n;
    atomic_size_t next;              /* first index in todo not claimed yet */
    uint8_t *sig;                    /* out: sig[todo[i]], each written by the one thread that claimed i */
};

static void *verify_run(void *arg)
{
    struct verify_job *j = arg;
    for (;;) {
        size_t from = atomic_fetch_add_explicit(&j->next, VERIFY_CHUNK, memory_order_relaxed);
        if (from >= j->n) return NULL;
        size_t to = j->n - from < VERIFY_CHUNK ? j->n : from + VERIFY_CHUNK;
        for (size_t i = from; i < to; i++) {
            size_t r = j->todo[i];
            j->sig[r] = gossip_state_ban_authentic(j->st, &j->bans[r]) ? GOSSIP_SIG_OK : GOSSIP_SIG_BAD;
        }
    }
}

static size_t verify_threads(size_t records)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t n = cpus < 1 ? 1 : cpus > VERIFY_THREADS_MAX ? VERIFY_THREADS_MAX : (size_t)cpus;
    size_t chunks = (records + VERIFY_CHUNK - 1) / VERIFY_CHUNK;
    return n < chunks ? n : chunks;
}

uint8_t *gossip_state_verify_bans(const struct gossip_state *st, const struct gossip_body *b, uint64_t sender,
                                  unsigned flags, int64_t now_ms)
{
    if (b->n_bans < VERIFY_PARALLEL_MIN) return NULL;
    size_t *todo = sg_xmalloc(b->n_bans * sizeof *todo), n = 0;
    for (size_t i = 0; i < b->n_bans; i++)
        if (!gossip_state_ban_vouched(&b->bans[i], sender, flags) &&
            gossip_state_ban_needs_check(st, &b->bans[i], flags, now_ms))
            todo[n++] = i;
    uint8_t *sig = NULL;
    if (n >= VERIFY_PARALLEL_MIN) {
        sig = sg_xcalloc(b->n_bans, 1);   /* GOSSIP_SIG_UNKNOWN */
        struct verify_job job = { .st = st, .bans = b->bans, .todo = todo, .n = n, .sig = sig };
        atomic_init(&job.next, 0);
        /* Workers take no signals: the agent's handlers and signalfd expect the loop's thread. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pthread_t th[VERIFY_THREADS_MAX];
        size_t started = 0, want = verify_threads(n) - 1;
        while (started < want && pthread_create(&th[started], NULL, verify_run, &job) == 0) started++;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        verify_run(&job);   /* the caller checks too, and alone if no thread could start */
        for (size_t t = 0; t < started; t++) pthread_join(th[t], NULL);
    }
    free(todo);
    return sig;
}
