/* server.h - one running C node: the loop, the network layer (node.c), the
 * registry (tracker.c) and the control channel to the BEAM node that started
 * it (stdin/stdout, 4-byte length-prefixed external terms).
 *
 * What it is: the glue and the owner of all state of a process running as a
 * swarm sidecar (main.c creates exactly one). dist.c decodes distribution
 * messages and hands them to the tracker; this module wires callbacks, drains
 * the tracker's outboxes once per loop iteration, and stops when the control
 * channel closes.
 * What it is not: it holds no registry logic. */
#ifndef SW_SERVER_H
#define SW_SERVER_H

#include <ei.h>
#include <stdint.h>
#include <uv.h>

#include "node.h"
#include "tracker.h"
#include "group.h" /* process groups (issue 4) */

typedef struct {
    uint64_t msgs_in;       /* messages to the swarm server */
    uint64_t unknown_msgs;  /* messages that are not ours or malformed */
    uint64_t bad_ctrl;      /* undecodable control terms */
    uint64_t ignored_ctrl;  /* link/exit/monitor controls we do not act on */
    uint64_t redirects;     /* direct register requests sent back to the caller's own C node */
    uint64_t is_auth;       /* net_kernel is_auth calls answered */
} sw_server_stats_t;

typedef struct sw_server_s {
    uv_loop_t *loop;
    sw_node_t *node;
    sw_tracker_t *tracker;
    sw_group_t *groups; /* process groups: group.c, flushed by group_io.c */
    char beam[SW_MAXNODELEN + 1];  /* our BEAM node, "a@host" */
    char cnode[SW_MAXNODELEN + 1]; /* our own name, "swarm_a@host" */
    erlang_pid self;               /* pid of the swarm server, as peers see it */
    erlang_pid agent;              /* the agent's pid, once it said hello */
    int have_agent;

    uv_pipe_t in;       /* control channel from the BEAM (stdin) */
    char *inbuf;
    size_t inlen, incap;
    int out_fd;         /* control channel to the BEAM (stdout) */
    uv_check_t flush;   /* drains outboxes after each round of I/O */
    uv_timer_t tick;    /* drives sw_tracker_tick */
    uv_signal_t sigterm;
    int stopping;
    int exit_code;

    ei_x_buff ctrl;     /* scratch for control terms */
    ei_x_buff msg;      /* scratch for message terms */
    sw_server_stats_t st;
    sw_tracker_env_t env;
} sw_server_t;

/* Runs a sidecar C node: reads its configuration from the control channel
 * (in_fd), starts the node, reports {'$sw1', ready, NodeName} (or
 * {'$sw1', error, Reason}) on out_fd, serves until in_fd reaches EOF or
 * SIGTERM, then closes everything. Returns the process exit code (0 on a
 * clean stop). */
int sw_server_run(int in_fd, int out_fd);

/* Sends msg (with 131) to pid over the connection to pid's node, if one is
 * up. Returns 0, or < 0 when there is no connection. Borrowed arguments. */
int sw_server_send_pid(sw_server_t *s, const erlang_pid *to, const char *msg, size_t len);

/* Sends msg (with 131) to the registered name `to` on C node `cnode`. */
int sw_server_send_reg(sw_server_t *s, const char *cnode, const char *to, const char *msg,
                       size_t len);

#endif
