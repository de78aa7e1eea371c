/* bgsave.c: the snapshot child: fork, write path.tmp from the copy-on-write image, _exit; the
 * parent reaps it from a timer and renames the file into place. */
#include "gossip/bgsave.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/util.h"

#define CHILD_NICE 10      /* the child yields the CPU to the loop it was forked from */

struct gossip_bgsave {
    pid_t pid;             /* 0 when no child runs */
    char *path;            /* of the running child's snapshot */
    int64_t started_ms;
    struct gossip_bgsave_stats st;
};

struct gossip_bgsave *gossip_bgsave_new(void)
{
    /* With transparent huge pages, the parent's first write to a page after the fork copies 2 MiB
     * instead of 4 KiB: writes spread over a million keys then cost a second of copying (Redis
     * turns THP off for the same reason). Best effort: the saves work either way. */
    if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0) sg_log(SG_LOG_INFO, "gossip: cannot turn transparent huge pages off: %s", strerror(errno));
    return sg_xcalloc(1, sizeof(struct gossip_bgsave));
}

void gossip_bgsave_destroy(struct gossip_bgsave **pb)
{
    if (!pb || !*pb) return;
    gossip_bgsave_wait(*pb);
    free((*pb)->path);
    free(*pb);
    *pb = NULL;
}

bool gossip_bgsave_running(const struct gossip_bgsave *b) { return b->pid > 0; }

void gossip_bgsave_get_stats(const struct gossip_bgsave *b, struct gossip_bgsave_stats *out) { *out = b->st; }

/* The child: only the write, then _exit (no atexit handler, no stdio flush, no ZeroMQ
 * teardown). Its exit status is 0 or the errno of the failure. */
static void child(const struct gossip_state *st, const char *path)
{
    if (setpriority(PRIO_PROCESS, 0, CHILD_NICE) != 0) { /* not fatal: the save goes on */ }
    int rc = gossip_state_save_tmp(st, path);
    int e = errno;
    _exit(rc == 0 ? 0 : (e > 0 && e < 126 ? e : 125));
}

int gossip_bgsave_start(struct gossip_bgsave *b, const struct gossip_state *st, const char *path)
{
    if (b->pid > 0) {
        b->st.skipped++;
        return 1;
    }
    int64_t t0 = sg_mono_ns();
    pid_t pid = fork();
    if (pid < 0) {
        b->st.failed++;
        sg_log(SG_LOG_ERR, "gossip: snapshot %s: cannot fork: %s", path, strerror(errno));
        return -1;
    }
    if (pid == 0) child(st, path);
    b->st.last_fork_us = (sg_mono_ns() - t0) / 1000;
    b->st.started++;
    b->pid = pid;
    free(b->path);
    b->path = sg_xstrdup(path);
    b->started_ms = sg_mono_ms();
    return 0;
}

/* The child ended with status: put its file in place, or count and log why not. */
static int finish(struct gossip_bgsave *b, int status)
{
    b->pid = 0;
    const char *why = NULL;
    char buf[128];
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        if (gossip_state_save_commit(b->path) == 0) {
            b->st.saved++;
            b->st.last_save_ms = sg_mono_ms() - b->started_ms;
            return 1;
        }
        why = strerror(errno);
    } else if (WIFEXITED(status)) {
        why = strerror(WEXITSTATUS(status));
    } else {
        snprintf(buf, sizeof buf, "writer killed by signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        why = buf;
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", b->path);
    unlink(tmp);
    b->st.failed++;
    sg_log(SG_LOG_ERR, "gossip: cannot write snapshot %s: %s", b->path, why);
    return -1;
}

static int reap(struct gossip_bgsave *b, int flags)
{
    if (b->pid <= 0) return 0;
    int status;
    pid_t r;
    do r = waitpid(b->pid, &status, flags);
    while (r < 0 && errno == EINTR);
    if (r == 0) return 0;
    if (r < 0) {
        /* Reaped elsewhere (SIGCHLD ignored): the file, if complete, is not trusted. */
        status = ECHILD << 8;
    }
    return finish(b, status);
}

int gossip_bgsave_poll(struct gossip_bgsave *b) { return reap(b, WNOHANG); }

int gossip_bgsave_wait(struct gossip_bgsave *b) { return reap(b, 0); }
