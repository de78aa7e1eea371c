/* transport_live.c: the live transports of this process, so zloop callbacks find theirs by number.
 *
 * zloop does not always remove a timer at once: zloop_timer_end() on a loop that has not run yet,
 * or from inside a timer handler, only queues the id, and the queue is processed after the next
 * round of timers, so an ended timer may fire once more. Likewise a reader ended from a timer
 * handler can still be called in the same turn. A callback therefore holds a serial number, not a
 * pointer, and does nothing when its transport is gone. */
#include "gossip/transport_int.h"

#include <pthread.h>

#define TP_MAX_LIVE 64

static struct {
    uintptr_t serial;
    struct gossip_transport *t;
} g_live[TP_MAX_LIVE];
static uintptr_t g_serial;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

void *tp_live_add(struct gossip_transport *t)
{
    void *handle = NULL;
    pthread_mutex_lock(&g_mu);
    for (size_t i = 0; i < TP_MAX_LIVE; i++)
        if (!g_live[i].t) {
            g_live[i].serial = ++g_serial;
            g_live[i].t = t;
            handle = (void *)g_live[i].serial;
            break;
        }
    pthread_mutex_unlock(&g_mu);
    return handle;
}

struct gossip_transport *tp_live(void *handle)
{
    struct gossip_transport *t = NULL;
    pthread_mutex_lock(&g_mu);
    for (size_t i = 0; i < TP_MAX_LIVE && !t; i++)
        if (g_live[i].t && g_live[i].serial == (uintptr_t)handle)
            t = g_live[i].t;
    pthread_mutex_unlock(&g_mu);
    return t;
}

void tp_live_remove(struct gossip_transport *t)
{
    pthread_mutex_lock(&g_mu);
    for (size_t i = 0; i < TP_MAX_LIVE; i++)
        if (g_live[i].t == t)
            g_live[i].t = NULL;
    pthread_mutex_unlock(&g_mu);
}
