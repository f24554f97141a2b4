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

#endif
