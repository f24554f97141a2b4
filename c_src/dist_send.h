/* dist_send.h - the sending half of the distribution layer of a swarm C
 * node: a message term, wrapped in its control term, queued on the
 * connection to the node of its destination.
 *
 * What it is: the distribution protocol's control codes (SW_DOP_*) and the
 * two sends the node makes, SEND to a pid and REG_SEND to a registered
 * name. It holds the network layer it sends through and the node's own pid
 * (the sender REG_SEND names).
 * What it is not: the decoding of received frames (dist.c), the
 * connections and their write queues (node.h), or any message format of
 * the swarm protocol: the message term comes encoded. */
#ifndef SW_DIST_SEND_H
#define SW_DIST_SEND_H

#include <ei.h>
#include <stddef.h>

#include "node.h"

/* Distribution control message types (erts "Distribution Protocol"). */
enum {
    SW_DOP_LINK = 1,
    SW_DOP_SEND = 2,
    SW_DOP_EXIT = 3,
    SW_DOP_UNLINK = 4,
    SW_DOP_REG_SEND = 6,
    SW_DOP_GROUP_LEADER = 7,
    SW_DOP_EXIT2 = 8,
    SW_DOP_SEND_TT = 12,
    SW_DOP_EXIT_TT = 13,
    SW_DOP_REG_SEND_TT = 16,
    SW_DOP_EXIT2_TT = 18,
    SW_DOP_MONITOR_P = 19,
    SW_DOP_DEMONITOR_P = 20,
    SW_DOP_MONITOR_P_EXIT = 21,
    SW_DOP_SEND_SENDER = 22,
    SW_DOP_SEND_SENDER_TT = 23,
    SW_DOP_PAYLOAD_EXIT = 24,
    SW_DOP_PAYLOAD_EXIT_TT = 25,
    SW_DOP_PAYLOAD_EXIT2 = 26,
    SW_DOP_PAYLOAD_EXIT2_TT = 27,
    SW_DOP_PAYLOAD_MONITOR_P_EXIT = 28,
    SW_DOP_SPAWN_REQUEST = 29,
    SW_DOP_SPAWN_REQUEST_TT = 30,
    SW_DOP_SPAWN_REPLY = 31,
    SW_DOP_SPAWN_REPLY_TT = 32,
    SW_DOP_ALIAS_SEND = 33,
    SW_DOP_ALIAS_SEND_TT = 34,
    SW_DOP_UNLINK_ID = 35,
    SW_DOP_UNLINK_ID_ACK = 36,
};

/* The port transport's delivery of a message (len bytes, with its 131
 * version byte; borrowed until return) to a process `to` of the BEAM node
 * at the other end of the control channel. Returns 0 or < 0, as a send. */
typedef int (*sw_dist_local_fn)(void *ud, const erlang_pid *to, const char *msg, size_t len);

typedef struct {
    sw_node_t *node; /* borrowed; NULL before the node exists and once it
                        is being freed: every send then fails */
    sw_dist_local_fn local; /* set for a node without distribution (the
                               port transport): every send to a pid goes
                               through it, and a send to a registered name
                               of another node fails (there is none) */
    void *local_ud;
    erlang_pid self; /* this node's server, the sender of REG_SEND */
    ei_x_buff ctrl;  /* scratch for control terms */
} sw_dist_out_t;

/* Caller-owned storage: init (node NULL, self zeroed) and close. init
 * returns 0, or -1 when out of memory (nothing to close then). */
int sw_dist_out_init(sw_dist_out_t *o);
void sw_dist_out_close(sw_dist_out_t *o);

/* Sends msg (len bytes, with its 131 version byte) to pid `to` over the
 * connection to to's node, if one is up, or through o->local when set. Returns 0, or < 0 when there is no
 * node or no connection, or the connection refused the frame
 * (sw_conn_send). Borrowed arguments; msg is copied before return. */
int sw_dist_send_pid(sw_dist_out_t *o, const erlang_pid *to, const char *msg, size_t len);

/* Sends msg to the process registered as `to` on node `cnode`, from
 * o->self. Same results as sw_dist_send_pid. */
int sw_dist_send_reg(sw_dist_out_t *o, const char *cnode, const char *to, const char *msg,
                     size_t len);

#endif
