/* dist.h - decoding and dispatch of distribution messages received by a
 * swarm C node.
 *
 * What it is: the one place that turns a frame body (control term plus
 * message term) into an action: net_kernel's is_auth call is answered, swarm
 * protocol messages ({'$sw1', ...}) go to the tracker, everything else is
 * logged and counted. Every decode goes through ei's cursor and branches to a
 * single bad-message path; network data never reaches an assert.
 * What it is not: it keeps no state of its own (counters live in the
 * server). */
#ifndef SW_DIST_H
#define SW_DIST_H

#include <stddef.h>

#include "server.h"

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

/* Handles one frame body from connection peer `from` (buf at the control
 * term's 131 byte, len bytes). Never fails: bad input is counted in s->st and
 * logged. */
void sw_dist_handle(sw_server_t *s, const char *from, const char *buf, size_t len);

#endif
