/* dist.h - decoding and dispatch of the distribution messages a swarm C
 * node receives.
 *
 * What it is: the one place that turns a frame body (control term plus
 * message term) into an action. Both terms are validated first; the
 * control is decoded; a message to the swarm server ({'$sw1', Tag, ...})
 * has its tag looked up in the protocol table (proto.h) and goes, by that
 * entry, to the registry's decoders (tracker_msg.h), to the groups
 * (sw_group_local, sw_group_peer_ops), to the registry's peer ops
 * (sw_tracker_peer_ops), or is answered here (ping, stats); net_kernel's
 * is_auth is answered; everything else is logged and counted. Every decode
 * goes through ei's cursor and branches to a single bad-message path;
 * network data never reaches an assert.
 * What it is not: the registry or the groups (it only calls them), the
 * network layer (replies leave through dist_send.h), or the owner of any of
 * them: the server wires them in and keeps them alive. */
#ifndef SW_DIST_H
#define SW_DIST_H

#include <ei.h>
#include <stddef.h>
#include <stdint.h>

#include "dist_send.h"
#include "group.h"
#include "tracker.h"

typedef struct {
    uint64_t msgs_in;       /* messages to the swarm server */
    uint64_t unknown_msgs;  /* messages that are not ours or malformed */
    uint64_t bad_ctrl;      /* undecodable control terms */
    uint64_t ignored_ctrl;  /* link/exit/monitor controls we do not act on */
    uint64_t redirects;     /* direct register requests sent back to the caller's own C node */
    uint64_t is_auth;       /* net_kernel is_auth calls answered */
} sw_dist_stats_t;

typedef struct {
    sw_dist_out_t *out;    /* borrowed: replies leave through it */
    sw_tracker_t *tracker; /* borrowed */
    sw_group_t *groups;    /* borrowed */
    const char *beam;      /* our BEAM node, "a@host"; borrowed */
    erlang_pid agent;      /* the agent's pid, once it said hello */
    int have_agent;
    ei_x_buff msg;         /* scratch for replies */
    sw_dist_stats_t st;
} sw_dist_t;

/* Caller-owned storage: init with the parts it dispatches to (all
 * borrowed for d's life), close when done. init returns 0, or -1 when out
 * of memory (nothing to close then). */
int sw_dist_init(sw_dist_t *d, sw_dist_out_t *out, sw_tracker_t *t, sw_group_t *g,
                 const char *beam);
void sw_dist_close(sw_dist_t *d);

/* Proves a frame body (buf at the control term's 131 byte, len bytes)
 * fit for ei's decoders: the control term, and the message term if any
 * follows it, are complete, end exactly at len and nest at most
 * SW_TERM_MAX_DEPTH levels. Returns 0 with *msg_at the offset of the
 * message's 131 byte (len when there is none), -1 when the control term
 * is bad, -2 when the message term is. Reads nothing past len. */
int sw_dist_frame_check(const char *buf, size_t len, int *msg_at);

/* Handles one frame body from connection peer `from` (buf at the control
 * term's 131 byte, len bytes): sw_dist_frame_check, then
 * sw_dist_handle_checked. Never fails: bad input is counted in d->st and
 * logged. */
void sw_dist_handle(sw_dist_t *d, const char *from, const char *buf, size_t len);

/* Handles one message to the swarm server from our own BEAM node that
 * came without distribution (the port transport: buf is the message term,
 * its 131 byte first, len bytes), as a REG_SEND to `swarm` from d->beam
 * would be. The term is validated first. Never fails: bad input is
 * counted in d->st (unknown_msgs) and logged. */
void sw_dist_handle_local(sw_dist_t *d, const char *buf, size_t len);

/* Whether sw_dist_handle takes REG_SENDs to the registered name `name`
 * (the swarm server, net_kernel, swarm_agent); it drops those to any
 * other name. A C host's worker dispatch asks it before passing a frame
 * on, so that the two never disagree. */
int sw_dist_takes_name(const char *name);

/* sw_dist_handle for a body sw_dist_frame_check accepted (a caller that
 * looked at the frame first, as a C host does for its workers' pids, does
 * not prove it twice). */
void sw_dist_handle_checked(sw_dist_t *d, const char *from, const char *buf, size_t len);

#endif
