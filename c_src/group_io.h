/* group_io.h - the I/O side of group.c inside a running C node.
 *
 * What it is: the few lines that connect the pure group state machine
 * (group.c) to the server: its outboxes go out through the server's
 * connections (peer C nodes by registered name, the local swarm_groups
 * process by pid). server.c calls it next to the tracker's flush.
 * What it is not: it holds no state and no group logic. */
#ifndef SW_GROUP_IO_H
#define SW_GROUP_IO_H

#include "server.h"

/* Drains s->groups' outboxes if anything is pending (no-op before the node
 * started). Send failures (no connection) are logged and dropped: the
 * protocol recovers through the sync on the next connection. */
void sw_group_io_flush(sw_server_t *s);

/* The tracker's env->restarted (ud: the server): an MFA process whose node
 * went down was started again here as new_pid; it joins every group
 * old_pid was in (sw_group_transfer). Both borrowed for the call. */
void sw_group_io_restarted(void *ud, const erlang_pid *old_pid, const erlang_pid *new_pid);

#endif
