/* server.h - one running C node: the loop, the network layer (node.c), the
 * registry (tracker.c), the groups (group.c) and the control channel to
 * the BEAM node that started it (stdin/stdout, 4-byte length-prefixed
 * external terms).
 *
 * What it is: the owner of all state of a process running as a swarm
 * sidecar (main.c runs exactly one), and the glue between its parts: it
 * creates them in order, gives the node's frames to the dispatcher
 * (dist.c), drains the registry's and the groups' outboxes once per loop
 * iteration through dist_send.c, and stops everything when the control
 * channel closes.
 * What it is not: it holds no registry logic and decodes no distribution
 * message. */
#ifndef SW_SERVER_H
#define SW_SERVER_H

/* Runs a sidecar C node: reads its configuration from the control channel
 * (in_fd), starts the node, reports {'$sw1', ready, NodeName} (or
 * {'$sw1', error, Reason}) on out_fd, serves until in_fd reaches EOF or
 * SIGTERM, then closes everything. Returns the process exit code (0 on a
 * clean stop). */
int sw_server_run(int in_fd, int out_fd);

#endif
