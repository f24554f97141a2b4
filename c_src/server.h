/* server.h - one running C node: the loop, the network layer (node.c), the
 * registry (tracker.c), the groups (group.c) and the control channel to
 * the BEAM node that started it (stdin/stdout, 4-byte length-prefixed
 * external terms, control.c).
 *
 * What it is: the owner of all state of a process running as a swarm
 * sidecar (main.c runs exactly one), and the glue between its parts: it
 * creates them in order, gives the node's frames to the dispatcher
 * (dist.c), drains the registry's and the groups' outboxes once per loop
 * iteration through dist_send.c, and stops everything when the control
 * channel closes. For a BEAM node without distribution (the port
 * transport, chosen by the configuration) it starts no network layer: the
 * control channel carries every message between the BEAM node and the
 * server, both ways.
 * What it is not: it holds no registry logic and decodes no distribution
 * message. */
#ifndef SW_SERVER_H
#define SW_SERVER_H

/* Runs a sidecar C node: reads its configuration from the control channel
 * (in_fd), starts the node, reports {'$sw1', ready, NodeName} (or
 * {'$sw1', error, Reason}) on out_fd, serves until in_fd reaches EOF or
 * SIGTERM, then closes everything (in_fd and out_fd included). Under the
 * port transport the frames on in_fd after the configuration are the
 * BEAM node's messages to the server, and the server's messages to the
 * BEAM node's processes leave on out_fd as {'$sw1', deliver, Pid, Msg}.
 * Returns the process exit code (0 on a clean stop; 2 after a bad
 * configuration or a broken control channel). */
int sw_server_run(int in_fd, int out_fd);

#endif
