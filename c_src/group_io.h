/* group_io.h - the I/O side of group.c inside a running C node.
 *
 * What it is: the few lines that connect the pure group state machine
 * (group.c) to the network: its outboxes go out through dist_send.h (peer
 * C nodes by registered name, the local swarm_groups process by pid), and
 * a restarted MFA process takes its old memberships along. The server
 * calls it next to the tracker's flush.
 * What it is not: it holds no state and no group logic. */
#ifndef SW_GROUP_IO_H
#define SW_GROUP_IO_H

#include <ei.h>

#include "dist_send.h"
#include "group.h"

/* Drains g's outboxes through out if anything is pending (no-op when g is
 * NULL: before the node started). Send failures (no connection) are logged
 * and dropped: the protocol recovers through the sync on the next
 * connection. */
void sw_group_io_flush(sw_group_t *g, sw_dist_out_t *out);

/* An MFA process whose node went down was started again here as new_pid
 * (the tracker's env->restarted): it joins every group old_pid was in
 * (sw_group_transfer). No-op when g is NULL. Both pids borrowed for the
 * call. */
void sw_group_io_restarted(sw_group_t *g, const erlang_pid *old_pid, const erlang_pid *new_pid);

#endif
