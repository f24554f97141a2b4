/* tracker_msg.h - decoding of the messages the registry of a swarm C node
 * gets from its own BEAM node (the agent, its helpers, local callers), and
 * of the register requests that callers on other BEAM nodes send straight
 * to the name's owner (direct_to_owner).
 *
 * What it is: for each such {'$sw1', Tag, ...}, once the dispatcher
 * (dist.c) has found its tag in the protocol table, the decoding with ei's
 * cursor and the one call of tracker.h it stands for. What the rest of the
 * node must learn of (a redirect to answer, the agent's hello, a BEAM peer
 * up or down, which the groups want too) goes out through the callbacks of
 * sw_tracker_msg_env_t. Pure: no I/O, no state.
 * What it is not: the dispatch of frames (dist.c), the registry itself
 * (tracker.c), the ops between C nodes (sw_tracker_peer_ops). */
#ifndef SW_TRACKER_MSG_H
#define SW_TRACKER_MSG_H

#include <ei.h>
#include <stddef.h>

#include "tracker.h"

typedef struct {
    void *ud;
    /* A caller on BEAM node `from` (not ours) asked this node for a name
     * it does not own: the caller is to get {Ref, redirect} (ref: rlen
     * bytes, an encoded term) and ask its own C node. */
    void (*redirect)(void *ud, const erlang_pid *caller, const char *ref, size_t rlen);
    /* The tracker took the agent's hello {'$sw1', hello, Agent, Names,
     * Peers}: agent is its pid, buf at names_index its Names (validated by
     * sw_tracker_hello). */
    void (*agent_hello)(void *ud, const erlang_pid *agent, const char *buf, int names_index);
    /* The tracker took {'$sw1', peer_up, BeamNode, CNode}. */
    void (*peer_up)(void *ud, const char *beam, const char *cnode);
    /* The tracker took {'$sw1', peer_down, BeamNode}. */
    void (*peer_down)(void *ud, const char *beam);
} sw_tracker_msg_env_t;

/* Whether message m (SW_MSG_*, include/swarm_proto.h) from our own BEAM
 * node is one for sw_tracker_msg_local: reg, reg_mfa, unreg, started,
 * handoff, pid_down, peer_up, peer_down, hello. */
int sw_tracker_msg_is_local(int m);

/* Message m of arity `arity` (envelope and tag included) from our own BEAM
 * node; buf holds the whole message, validated (sw_term_validate_depth, as
 * dist.c does for every message), and buf at *index is the element after
 * the tag; *index advances
 * past what was decoded. Every callback of env is called, if at all, after
 * the tracker's call. Returns 0, or -1 if the message is malformed or m is
 * not a local registry message (the tracker then was not called, except
 * for the entries of a started list before a malformed one, which were
 * applied). env and buf are borrowed for the call. */
int sw_tracker_msg_local(sw_tracker_t *t, const sw_tracker_msg_env_t *env, int m, int arity,
                         const char *buf, int *index);

/* reg or reg_mfa (m) from a caller on BEAM node `from`, not ours, which
 * takes this node for the name's owner: decided here if it is
 * (sw_tracker_takes_direct), else env->redirect. The caller must be a
 * process of `from`, and the node names it brings are not interned at will
 * (sw_tracker_guard_atoms). Same results as sw_tracker_msg_local. */
int sw_tracker_msg_direct(sw_tracker_t *t, const sw_tracker_msg_env_t *env, const char *from,
                          int m, int arity, const char *buf, int *index);

#endif
