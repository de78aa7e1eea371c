/* portblock.h: a block of loopback TCP ports reserved for the life of the process, for tests whose
 * processes must know each other's ports before they bind (a peer list), so that binding port 0 and
 * reading it back cannot serve. The protocol is the one of tests/integration/lib/ports.sh, which
 * describes it: PORTBLOCK_SIZE ports outside the kernel's ephemeral range, blocks aligned at
 * PORTBLOCK_SIZE, taken while an flock on /tmp/sgcluster-ports/BASE.lock is held, passed over when
 * one of their ports is in use. Header-only (static functions) for the test programs including it. */
#ifndef SG_TESTS_PORTBLOCK_H
#define SG_TESTS_PORTBLOCK_H

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define PORTBLOCK_SIZE 64
#define PORTBLOCK_DIR "/tmp/sgcluster-ports"

/* 1 if a port of [base, base + PORTBLOCK_SIZE) appears in /proc/net/tcp or tcp6, any state. */
static int portblock_used(int base)
{
    static const char *const files[] = { "/proc/net/tcp", "/proc/net/tcp6" };
    for (size_t i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "r");
        if (!f)
            continue;
        char line[512];
        int used = 0;
        while (!used && fgets(line, sizeof line, f)) {
            unsigned port;
            /* "  0: 0100007F:1F90 ..." (IPv6: 32 hex digits before the colon) */
            if (sscanf(line, " %*u: %*[0-9A-Fa-f]:%x", &port) == 1)
                used = (int)port >= base && (int)port < base + PORTBLOCK_SIZE;
        }
        fclose(f);
        if (used)
            return 1;
    }
    return 0;
}

/* Reserves a block; returns its first port, or -1. The lock's descriptor stays open until exit. */
static int portblock_take(void)
{
    int lo = 32768, hi = 60999, first, last;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%d %d", &lo, &hi) != 2)
            lo = 32768, hi = 60999;
        fclose(f);
    }
    if (lo - 10048 >= PORTBLOCK_SIZE * 16)
        first = 10048, last = lo - PORTBLOCK_SIZE;
    else
        first = (hi / PORTBLOCK_SIZE + 1) * PORTBLOCK_SIZE, last = 65536 - PORTBLOCK_SIZE;
    uint32_t nblocks = (uint32_t)(last / PORTBLOCK_SIZE - first / PORTBLOCK_SIZE + 1);
    (void)mkdir(PORTBLOCK_DIR, 01777);
    (void)chmod(PORTBLOCK_DIR, 01777);
    for (int attempt = 0; attempt < 100; attempt++) {
        int base = (first / PORTBLOCK_SIZE + (int)randombytes_uniform(nblocks)) * PORTBLOCK_SIZE;
        char path[64];
        snprintf(path, sizeof path, PORTBLOCK_DIR "/%d.lock", base);
        int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            continue;
        if (flock(fd, LOCK_EX | LOCK_NB) == 0 && !portblock_used(base))
            return base;   /* fd stays open: the block is ours until the process ends */
        close(fd);
    }
    return -1;
}

#endif
