/* tracker.h - the replicated name registry: the state machine of one C node.
 *
 * What it is: a pure core. Events go in (a local caller's request, a batch of
 * operations from a peer C node, a peer going up or down, a local process
 * dying); state changes, and the effects come out as encoded messages queued
 * in outboxes (one per peer C node, one for the local agent) that the I/O
 * layer drains with sw_tracker_flush(), plus connect/disconnect requests made
 * through the env callbacks. No sockets, no libuv, no clock of its own (time
 * comes in through sw_tracker_tick()).
 *
 * What it is not: it does not parse distribution frames (dist.c does) and it
 * does not decide ring placement itself (ring.c does).
 *
 * Implemented by tracker.c (decisions, local requests, replication ops,
 * sync, life cycle), tracker_members.c (peers, connections, ring, quorum,
 * the agent's hello), tracker_mfa.c (register_name/4,5 starts, restarts,
 * handoffs), tracker_leave.c (leaving the placement, moves on demand,
 * restarts after an exit, quorum loss) and tracker_wire.c (the messages),
 * sharing tracker_int.h; the
 * entries live in an sw_store_t (store.h).
 *
 * The protocol and its guarantees are described in README.md, Internals. In
 * short: every name has an owner (the ring picks it among the connected
 * nodes) that serialises registrations of that name, and a home (the node of
 * its pid) that holds the authoritative entry, monitors the pid and
 * originates every add and delete of it. Peers apply adds/deletes in the FIFO
 * order of their connection to the home; conflicting entries (created while
 * views differed) are resolved everywhere the same way: the larger stamp
 * {Lamport counter, origin node name} wins, and the loser's home deletes the
 * loser.
 */
#ifndef SW_TRACKER_H
#define SW_TRACKER_H

#include <ei.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sw_tracker_s sw_tracker_t;

/* Requests the tracker makes of the layer around it. All may be NULL. */
typedef struct {
    /* Open a distribution connection to this C node (name borrowed). */
    void (*connect)(void *ud, const char *cnode);
    /* Close the connection to this C node, if any. */
    void (*disconnect)(void *ud, const char *cnode);
    /* 1 if a distribution connection to this C node is up (name borrowed);
     * may be NULL (then 0). Asked when the agent reports a node whose C
     * node connected before the report: it is greeted then. */
    int (*connected)(void *ud, const char *cnode);
    /* An MFA name whose node went down was started again here: old_pid (on
     * the dead node) is now new_pid (local). For groups to carry the
     * memberships over. Both borrowed for the call. */
    void (*restarted)(void *ud, const erlang_pid *old_pid, const erlang_pid *new_pid);
    /* A host only (sw_tracker_set_host): a C node listed BEAM node `beam`
     * with C node `cnode` in its {members, ...} op (both borrowed). beam !=
     * cnode: a swarm node; the runtime connects to that BEAM node and, once
     * connected, calls sw_tracker_peer_up (and sw_group_peer_up) for it,
     * and sw_tracker_peer_down (sw_group_peer_down) when that connection
     * drops, as an agent does. beam == cnode: another C host; the tracker
     * has made it a peer already (and dials it if its name orders after
     * ours); the runtime passes it to sw_group_peer_up(g, beam, cnode) so
     * the groups greet its connection too. Called for every listed node
     * but this one, on every members op (a node may come again). */
    void (*members)(void *ud, const char *beam, const char *cnode);
} sw_tracker_env_t;

/* Where sw_tracker_flush() sends an outbox. */
typedef enum { SW_DEST_PEER = 0, SW_DEST_AGENT } sw_dest_t;

/* Called by sw_tracker_flush() once per non-empty outbox: buf/len is a whole
 * message term (with its 131 version byte), borrowed for the call. For
 * SW_DEST_PEER, cnode names the peer C node; for SW_DEST_AGENT it is NULL. */
typedef void (*sw_tracker_emit_cb)(void *ud, sw_dest_t dest, const char *cnode,
                                   const char *buf, size_t len);

/* How long (ms) an owner keeps a reservation whose claim its home does not
 * answer (why: see CLAIM_TIMEOUT_MS in tracker_int.h). */
#define SW_CLAIM_TIMEOUT_MS 30000u

/* Counters, readable with sw_tracker_stats(). */
typedef struct {
    uint64_t names;          /* committed entries */
    uint64_t reserved;       /* pending reservations (this node is owner) */
    uint64_t pids;           /* distinct pids with names */
    uint64_t bad_ops;        /* malformed or unknown ops received */
    uint64_t conflicts;      /* conflicts settled here (two pids for one name) */
    uint64_t opt_commits;    /* optimistic register_name/2 committed here */
    uint64_t opt_refused;    /* ... refused here (the name was known taken) */
    uint64_t expired;        /* reservations that timed out */
    uint64_t members;        /* ring members: this node + connected, live peers */
    uint64_t told_to_die;    /* local register_name/4,5 processes that lost a
                              * conflict and were sent {swarm, die} */
    uint64_t handoffs;       /* local processes asked {swarm, begin_handoff} */
    uint64_t handoffs_failed; /* handoffs of local processes whose start failed at
                                 the new owner (the process keeps its name) */
    uint64_t stranger_ops;   /* op lists from a connection that is not a known
                              * peer and did not open with a valid hello */
    uint64_t atoms_refused;  /* node names from peers not interned (see
                              * sw_atoms_guard): their ops were refused */
    uint64_t unreg_waits;    /* unregisters left unanswered: the home was not
                              * connected (the caller resends) */
    uint64_t agent_resyncs;  /* agent hellos after a loss of the link to the
                              * BEAM node: the whole registry streamed again */
    uint64_t quorum_stops;   /* local register_name/4,5 processes sent
                              * {swarm, die} because the node fell below its
                              * quorum */
    uint64_t restarts;       /* register_name/4,5 processes started again
                              * after they exited (sw_tracker_pid_exit) */
    uint64_t restarts_given_up; /* ... not started again: the name's restart
                                 * intensity was reached */
} sw_tracker_stats_t;

/* Creates a tracker for the BEAM node `beam` whose C node is `cnode`.
 * env and ud are borrowed for the tracker's life. NULL on out of memory. */
sw_tracker_t *sw_tracker_new(const char *beam, const char *cnode,
                             const sw_tracker_env_t *env, void *ud);
/* Frees the tracker and everything it holds. */
void sw_tracker_free(sw_tracker_t *t);

/* ---- C hosts ----------------------------------------------------------
 *
 * A C host (include/swarm.h) runs this same tracker without a BEAM node:
 * its node is both its "BEAM node" and its C node (sw_tracker_new(node,
 * node, ...)), and its workers' pids live on it, so it is the home of
 * their entries (it commits them at a claim, broadcasts their adds and
 * dels, answers claims for them) exactly as a C node is for its BEAM
 * node's pids. It is not a ring member: names are placed on the ring of
 * the swarm nodes it is connected to. Its peers are those swarm nodes
 * (reported with sw_tracker_peer_up by the runtime, once it is connected
 * to their BEAM nodes) and the other C hosts the swarm nodes list. */

/* Makes t a host's tracker; call right after sw_tracker_new, before
 * anything else. Then: the ring leaves this node out (with no member at
 * all, a register request is answered {error, no_node_available} rather
 * than decided here; register_name/4,5 likewise); the hello op on every
 * connection is {hello, Self, host}; every known swarm node is dialled
 * whatever the name order (swarm nodes never dial hosts), another host
 * only when our name orders first; register requests from peers are
 * refused (bad_ops: nobody should take a host for an owner); a
 * {members, ...} op from a swarm node is applied (see env->members); the
 * initial sync completes only once at least one swarm node's sync came
 * (sw_tracker_synced). */
void sw_tracker_set_host(sw_tracker_t *t);

/* A host's equivalent of the agent's hello, with no names and no peers:
 * the initial sync begins, and what would go to the agent (SW_DEST_AGENT:
 * batches, synced, links, ring, in the formats of an agent's) is for self,
 * which the runtime consumes itself. Call once, after sw_tracker_set_host. */
void sw_tracker_host_begin(sw_tracker_t *t, const erlang_pid *self);

/* A host's: the agent of swarm node `beam` says that node's C node
 * (re)started ({'$sw1', agent_cnode_up, Beam} to swarm_agent on this
 * host): a known swarm node's C node that is not connected is dialled now
 * rather than at the next redial (up to REDIAL_MS later), so that the new
 * C node's initial sync, which waits for this host's, completes sooner.
 * Nothing for an unknown node, a connected one, or on a C node. */
void sw_tracker_redial(sw_tracker_t *t, const char *beam);

/* Number of ring members: for a host, the connected swarm nodes whose BEAM
 * node is reported up (a host registers only when this is > 0); for a C
 * node, this node and those. */
size_t sw_tracker_members(sw_tracker_t *t);

/* ---- events from the local agent (decoded by dist.c) ------------------- */

/* The agent (re)connected: agent is its pid. buf at *index points at two list
 * terms: [{NameBin, Pid}], the names of live local processes (after a
 * restart of this C node: what the agent's replica holds for them), then
 * [{BeamNode, CNode}], the BEAM nodes the agent knows to run swarm. The
 * tracker adopts the names as its own (home) entries with fresh stamps,
 * queues them to the agent, marks the peers up (dialling those it should),
 * and greets every connected peer with its sync. The agent gets
 * {'$sw1', synced} once every listed peer has sent its sync or gone.
 * Returns 0, or < 0 if a list is malformed (then nothing changes). */
int sw_tracker_hello(sw_tracker_t *t, const erlang_pid *agent, const char *buf, int *index);

/* The agent saw BEAM node `beam` start running swarm, with C node `cnode`.
 * The tracker connects to it if its name orders after ours (the smaller name
 * dials, so two C nodes never dial each other at once). */
void sw_tracker_peer_up(sw_tracker_t *t, const char *beam, const char *cnode);

/* BEAM node `beam` went down (or stopped swarm): every entry whose pid lives
 * there is removed, here and in the agent's replica, and the connection to
 * its C node is closed. */
void sw_tracker_peer_down(sw_tracker_t *t, const char *beam);

/* A local process that had names died: its names are removed cluster-wide
 * (sw_tracker_pid_exit with crashed 0). */
void sw_tracker_pid_down(sw_tracker_t *t, const erlang_pid *pid);

/* A local process that had names died; crashed != 0 when its exit reason
 * was not normal, shutdown or {shutdown, _}. Its register_name/2 names are
 * removed cluster-wide. Each of its register_name/4,5 names is started
 * again (the name keeps the dead pid until the new one commits) on the
 * name's owner when:
 *   - this node is leaving with SW_LEAVE_STOP (whatever the reason: its
 *     processes are being stopped with it) and another member is there;
 *   - or the restart policy asks for it (SW_RESTART_PERMANENT; or
 *     SW_RESTART_TRANSIENT and crashed), the node is at its quorum, and
 *     the name was restarted here fewer than `intensity` times within the
 *     last `period_ms` (sw_tracker_set_restart; beyond, it is removed and
 *     counted in restarts_given_up).
 * Otherwise they are removed as well. */
void sw_tracker_pid_exit(sw_tracker_t *t, const erlang_pid *pid, int crashed);

/* What happens to a register_name/4,5 process that exits (see
 * sw_tracker_pid_exit), as a supervisor's child restart types. */
typedef enum {
    SW_RESTART_TEMPORARY = 0, /* never started again (the default, as Swarm) */
    SW_RESTART_TRANSIENT,     /* started again when it crashed */
    SW_RESTART_PERMANENT      /* started again whenever it exits */
} sw_restart_t;

/* Restart settings: the policy, and at most `intensity` restarts of one
 * name within `period_ms` on this node (intensity is capped at
 * SW_RESTART_MAX_INTENSITY: that many times are kept per name). Any time. */
#define SW_RESTART_MAX_INTENSITY 1000u
void sw_tracker_set_restart(sw_tracker_t *t, sw_restart_t policy, unsigned intensity,
                            unsigned period_ms);

/* Optimistic registration (register_name/2, the `registration' setting):
 * on (1), a local caller decides alone: it wrote its replica row and got
 * yes before this C node hears of it (sw_tracker_register_opt); conflicts
 * are settled afterwards as after a partition (larger stamp wins), and a
 * register_name/2 loser whose home is here is sent {swarm, die}, as
 * register_name/4,5 losers are. Off (0, the default): exact, one yes per
 * name through the name's owner. Any time. */
void sw_tracker_set_optimistic(sw_tracker_t *t, int on);

/* {'$sw1', reg_opt, NameBin, Pid} from a caller of our BEAM node, which
 * wrote {Name, Pid} into its replica and returned yes. Pid of our BEAM
 * node only (other pids take the exact path; anything else is ignored).
 * The name free here (or only reserved): committed under a fresh stamp and
 * broadcast. Held by another pid (the caller's replica did not show it
 * yet): the holder keeps it; the caller's row is dropped ({drop, ...} to
 * the agent) and Pid is sent {swarm, die}. Held by Pid already: nothing. */
void sw_tracker_register_opt(sw_tracker_t *t, const char *name, size_t nlen,
                             const erlang_pid *pid);

/* {'$sw1', resolve_state, NameBin, Winner, StateBin}: the state of a
 * conflict's loser for Winner, a pid of this node: cast to it
 * ({swarm, resolve_conflict, State}) if it stays, or to the process that
 * takes its name by a handoff under way or done (see tracker_resolve.c).
 * Anything else (Winner gone, another node's pid) is dropped. */
void sw_tracker_resolve_state(sw_tracker_t *t, const char *name, size_t nlen,
                              const erlang_pid *winner, const char *state, size_t slen);

/* Leaving the placement. */
typedef enum {
    SW_LEAVE_NONE = 0, /* in the placement (sw_tracker_leave: come back) */
    SW_LEAVE_HANDOFF,  /* out of it; processes moved, the node stays up */
    SW_LEAVE_STOP      /* out of it because the node stops */
} sw_leave_t;

/* The agent asks this node to leave the placement (SW_LEAVE_HANDOFF,
 * SW_LEAVE_STOP) or to come back into it (SW_LEAVE_NONE). Peers are told
 * ({leaving, yes | no} now and after every hello), so no node places a
 * name here while this node is out, and this node's ring leaves itself
 * out. Leaving: every local register_name/4,5 process whose owner is now
 * another connected node is asked {swarm, begin_handoff} and moved as on
 * a ring change; with SW_LEAVE_STOP the register_name/2 names of local
 * processes are removed at once. When the moves have settled (each moved,
 * answered `ignore` or failed; at once when there is none), the caller
 * (caller/ref/rlen, borrowed; caller NULL: nobody) gets
 * {Ref, {ok, Remaining}}, Remaining being the number of local
 * register_name/4,5 processes that stay here; coming back answers
 * {Ref, ok} at once (and the peers' ring growth moves names back here). */
void sw_tracker_leave(sw_tracker_t *t, sw_leave_t mode, const erlang_pid *caller,
                      const char *ref, size_t rlen);

/* Swarm.Tracker.handoff(Name, State) from caller: the local register_name/4,5
 * process of name/nlen is started again, with state/statelen
 * (term_to_binary(State), opaque here) for {swarm, end_handoff, State}, on
 * the name's owner among the other members; the old process is sent
 * {swarm, die} once the new one has the name. Replies {Ref, ok} once the
 * move is under way, {Ref, {error, not_found}} when no local
 * register_name/4,5 process has that name, {Ref, {error,
 * no_node_available}} when no other member is connected. */
void sw_tracker_move(sw_tracker_t *t, const erlang_pid *caller, const char *ref, size_t rlen,
                     const char *name, size_t nlen, const char *state, size_t statelen);

/* ---- requests from local callers --------------------------------------- */

/* register_name(Name, Pid) from caller (reply {Ref, yes | no} through the
 * agent). name/nlen: term_to_binary(Name) bytes (with 131), validated by the
 * caller of this function; ref/rlen: the encoded Ref term (without 131).
 * Both borrowed. retry != 0: the caller sends the same request again
 * because a link dropped while it waited (its first request, or the reply,
 * may have been lost): a name already committed to that very pid answers
 * yes, and one reserved for that pid (the first request still pending,
 * which will be answered) answers nothing. */
void sw_tracker_register(sw_tracker_t *t, const erlang_pid *caller, const char *ref, size_t rlen,
                         const char *name, size_t nlen, const erlang_pid *pid, int retry);

/* register_name(Name, M, F, A) (whereis = 0) or whereis_or_register_name
 * (whereis = 1) from caller. mfa/mfalen: term_to_binary({M, F, A}), opaque
 * here. The name's owner reserves the name and has its agent run the MFA;
 * the reply {Ref, Result} is {ok, Pid}, {error, {already_registered, Pid}},
 * {error, no_node_available} (below the quorum) or the MFA's own error. */
void sw_tracker_register_mfa(sw_tracker_t *t, const erlang_pid *caller, const char *ref,
                             size_t rlen, const char *name, size_t nlen, const char *mfa,
                             size_t mfalen, int whereis);

/* Guards (on != 0) the tracker's table of node names while input from
 * outside the cluster's known nodes is handled (a direct request from
 * another BEAM node's caller), or lifts the guard: see sw_atoms_guard. */
void sw_tracker_guard_atoms(sw_tracker_t *t, int on);

/* 1 if this node takes a register_name/2,4 request for name/nlen that a
 * caller on BEAM node beam sent straight here: beam runs swarm, its C node
 * is connected (the reply goes through it, after the entry) and this node
 * owns the name. Otherwise the caller is told to ask its own C node. Pass
 * the request on to sw_tracker_register only when this is 1. */
int sw_tracker_takes_direct(sw_tracker_t *t, const char *beam, const char *name, size_t nlen);

/* A process's answer to {swarm, begin_handoff}, which the agent asked on
 * the tracker's agent op {handoff, NameBin, Pid} (sent when the ring gained
 * a member and now places that register_name/4,5 process elsewhere). */
typedef enum {
    SW_HANDOFF_RESTART, /* `restart` (and no answer): start anew on the owner */
    SW_HANDOFF_RESUME,  /* {resume, State}: same, then {swarm, end_handoff, State} */
    SW_HANDOFF_IGNORE   /* `ignore`: stay */
} sw_handoff_t;

/* The answer for name/nlen and its local pid; state/statelen is
 * term_to_binary(State) for SW_HANDOFF_RESUME (opaque here), else NULL.
 * Ignored when the entry is gone or holds another pid by now. */
void sw_tracker_handoff_result(sw_tracker_t *t, const char *name, size_t nlen,
                               const erlang_pid *pid, sw_handoff_t how, const char *state,
                               size_t statelen);

/* The agent's answer to {start, Id, MFA}: pid is the started process (NULL
 * if the start failed), res/reslen the encoded result term (without 131),
 * passed to the waiting callers on failure. Unknown ids are logged. */
void sw_tracker_started(sw_tracker_t *t, uint64_t id, const erlang_pid *pid, const char *res,
                        size_t reslen);

/* Placement settings: quorum (StaticQuorumRing size, 0 for the plain ring)
 * and SW_RING_* flags for the ring. Call before the agent's hello. */
void sw_tracker_set_ring(sw_tracker_t *t, unsigned quorum, unsigned ring_flags);

/* unregister_name(Name) from caller (reply {Ref, ok}). */
void sw_tracker_unregister(sw_tracker_t *t, const erlang_pid *caller, const char *ref, size_t rlen,
                           const char *name, size_t nlen);

/* ---- events from peer C nodes ------------------------------------------ */

/* The connection to C node `cnode` is up: queue our sync to it. */
void sw_tracker_conn_up(sw_tracker_t *t, const char *cnode);
/* The connection to C node `cnode` went down. Its entries stay (its BEAM node
 * may still be up; only sw_tracker_peer_down removes them), except for a C
 * host: its node is gone from here with its connection, so every entry of
 * its pids is removed at once (dels to the agent) and, on a C node, its
 * record forgotten. */
void sw_tracker_conn_down(sw_tracker_t *t, const char *cnode);
/* A list of ops from C node `cnode`, at buf at *index (the third element of
 * {'$sw1', ops, [Op]}). Malformed ops are counted and skipped; returns the
 * number of ops skipped. */
int sw_tracker_peer_ops(sw_tracker_t *t, const char *cnode, const char *buf, int *index);

/* ---- time and output --------------------------------------------------- */

/* Advances time: expires reservations older than the claim timeout, and
 * re-dials peers we should be connected to. Call about once a second. */
void sw_tracker_tick(sw_tracker_t *t, uint64_t now_ms);

/* Hands every non-empty outbox to emit, then empties them. */
void sw_tracker_flush(sw_tracker_t *t, sw_tracker_emit_cb emit, void *ud);

/* 1 when at least one outbox holds something. */
int sw_tracker_pending(const sw_tracker_t *t);

/* 1 once the initial sync is complete: every peer known at hello has sent its
 * sync or gone away (then the agent was sent {'$sw1', synced}). */
int sw_tracker_synced(const sw_tracker_t *t);

/* 1 while a handoff that failed at its new owner waits to be tried again
 * (at a later tick; at most a few times, see tracker_int.h): the tracker
 * is not idle yet even if no message is in flight. */
int sw_tracker_retry_pending(const sw_tracker_t *t);

void sw_tracker_stats(const sw_tracker_t *t, sw_tracker_stats_t *out);

/* Looks a name up (name/nlen with 131). Returns 1 and fills *pid_out if the
 * name is registered (committed), 0 otherwise. For tests and diagnostics. */
int sw_tracker_lookup(sw_tracker_t *t, const char *name, size_t nlen, erlang_pid *pid_out);

#endif
