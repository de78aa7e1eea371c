/* notify.h: systemd readiness and watchdog notifications (the sd_notify datagram protocol, written
 * directly: one sendto() on $NOTIFY_SOCKET does not justify linking libsystemd). */
#ifndef SG_AGENT_NOTIFY_H
#define SG_AGENT_NOTIFY_H

#include <stdint.h>

/* Sends state (e.g. "READY=1", "WATCHDOG=1", "RELOADING=1", "STOPPING=1") when $NOTIFY_SOCKET is
 * set. Returns 1 when sent, 0 when not under systemd, -1 on error. */
int notify_send(const char *state);
/* Watchdog interval the unit asked for ($WATCHDOG_USEC, for this pid), in ms; 0 when none. */
int64_t notify_watchdog_ms(void);

#endif
