/* agent_epoch.c: the boot epoch, persisted and monotonic. Peers drop a DELTA whose (epoch, seq) is
 * not newer than what they saw from its origin: an epoch taken from the wall clock alone repeats
 * after a restart within the same second, and goes back when the clock steps back. */
#include "agent/agent.h"
#include "agent/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EPOCH_FILE "epoch"

/* The last epoch written, 0 when there is none (first start) or it is unreadable (logged). */
static uint32_t epoch_read(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno != ENOENT) sg_log(SG_LOG_WARN, "%s: %s; the epoch starts from the clock", path, strerror(errno));
        return 0;
    }
    char buf[32] = "";
    char *end;
    bool ok = fgets(buf, sizeof buf, f) != NULL;
    fclose(f);
    errno = 0;
    unsigned long long v = ok ? strtoull(buf, &end, 10) : 0;
    if (!ok || errno || end == buf || (*end && *end != '\n') || v >= UINT32_MAX) {
        sg_log(SG_LOG_WARN, "%s: not an epoch; the epoch starts from the clock", path);
        return 0;
    }
    return (uint32_t)v;
}

/* Written to a temporary file, fsync'd, renamed over the old one, and the directory fsync'd: after
 * a crash the file holds the old epoch or the new one, never a torn one. */
static int epoch_write(const char *dir, const char *path, uint32_t epoch)
{
    char tmp[4300], text[16];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int n = snprintf(text, sizeof text, "%" PRIu32 "\n", epoch);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) return -1;
    bool ok = write(fd, text, (size_t)n) == n && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) < 0) {
        unlink(tmp);
        return -1;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

int agent_epoch_next(const char *state_dir, uint32_t now_s, uint32_t *out)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", state_dir, EPOCH_FILE);
    uint32_t last = epoch_read(path);
    if (last == UINT32_MAX - 1) {
        sg_log(SG_LOG_ERR, "%s: the epoch cannot grow any more", path);
        return -1;
    }
    uint32_t e = last + 1 > now_s ? last + 1 : now_s;
    if (epoch_write(state_dir, path, e) < 0) {
        sg_log(SG_LOG_ERR, "%s: cannot write the epoch: %s", path, strerror(errno));
        return -1;
    }
    if (last >= now_s) sg_log(SG_LOG_NOTICE, "epoch %" PRIu32 " follows the last one (%" PRIu32 "), not the clock (%" PRIu32 ")", e, last, now_s);
    *out = e;
    return 0;
}
