/* group.h - process groups replicated between C nodes: the state machine of
 * one C node.
 *
 * What it is: a pure core, like tracker.c. Events go in (a local caller's
 * join or leave, a batch of group ops from a peer C node, a peer going up or
 * down, a local member dying, the local swarm_groups process saying hello);
 * state changes, and the effects come out as encoded messages queued in
 * outboxes (one per peer C node, one for the local swarm_groups process)
 * that the I/O layer drains with sw_group_flush(). No sockets, no libuv, no
 * clock of its own (time comes in through sw_group_tick()).
 *
 * What it is not: it does not dial or close connections (the tracker does;
 * group ops ride the same distribution connections in their own envelope
 * {'$sw1', gops, [Op]}), it does not parse distribution frames (dist.c does)
 * and it never answers members/1 (the BEAM reads its ETS replica).
 *
 * The model. Every membership (Group, Pid) has a home: the BEAM node of Pid.
 * The home's C node alone adds and removes memberships of its pids and
 * broadcasts each change to every connected peer, which applies them in the
 * FIFO order of that connection. A connection that comes up carries, from
 * each side, {hello, Beam} and then a sync of the sender's home memberships,
 * authoritative for its pids (the receiver drops what the sync does not
 * list). A BEAM node that goes down takes every membership of its pids with
 * it, on every node, without any message from it. The protocol and its
 * guarantees are described in README.md, Internals.
 *
 * Where it is implemented: group.c (groups, memberships, requests, the
 * replica), group_peer.c (the peer protocol), group_msg.c (local
 * messages), group_pids.c (pid tables), chunks.c (the chunks below); their
 * shared state is in group_int.h.
 *
 * The replica the BEAM reads. The members of a group are kept here in
 * chunks of up to SW_GROUP_CHUNK (16), each with a stable id K; a member
 * stays in its chunk until it leaves (a join fills a chunk with room, a
 * leave moves the chunk's last member into the hole). After each round of
 * changes the swarm_groups process receives the chunks that changed,
 * {GroupBin, K, PidTuple} (an empty tuple: chunk K is gone), and stores
 * each as one ETS object (see
 * swarm_groups.erl). Every join or leave rewrites exactly one chunk, so a
 * reader that reads a group's chunks one after the other still sees each
 * member that stays in the group exactly once.
 *
 * Memory: a pid in groups costs one 24-byte record plus a 4-byte index slot
 * (more memberships of one pid cost 8 bytes each); each membership costs a
 * 4-byte slot in a chunk; a group costs its name once. */
#ifndef SW_GROUP_H
#define SW_GROUP_H

#include <ei.h>
#include <stddef.h>
#include <stdint.h>

/* Members per chunk sent to the BEAM (see above). Every join or leave
 * sends its whole chunk to every node's BEAM, which decodes each pid in it:
 * with 64, a join into a large group cost about 20% more CPU cluster-wide
 * (bench/peers_bench.erl, 8 callers: 99 against 79 us per join; 8 per chunk
 * measured as 16, 4 worse), and members/1 of a 10k group and the memory per
 * membership (+5%) hardly change. */
#define SW_GROUP_CHUNK 16

typedef struct sw_group_s sw_group_t;

/* Called by sw_group_flush() once per message: buf/len is a whole message
 * term (with its 131 version byte), borrowed for the call. Exactly one of
 * cnode (send to the registered name "swarm" on that peer C node) and to
 * (send to that pid: the local swarm_groups process) is non-NULL. */
typedef void (*sw_group_emit_cb)(void *ud, const char *cnode, const erlang_pid *to,
                                 const char *buf, size_t len);

/* Counters and sizes, readable with sw_group_stats(). */
typedef struct {
    uint64_t groups;      /* groups with members (or pending removal) */
    uint64_t memberships; /* (group, pid) pairs */
    uint64_t pids;        /* distinct pids with memberships, and local pids still
                             monitored that left every group */
    uint64_t parked;      /* pids of downed nodes kept for sw_group_transfer */
    uint64_t bad_ops;     /* malformed or misrouted ops from peers */
    uint64_t bad_msgs;    /* malformed messages from the local BEAM */
    uint64_t unreachable; /* requests or replies refused: home not connected */
    uint64_t state_bytes; /* heap bytes held by the state (approximate) */
} sw_group_stats_t;

/* Creates the group state of the BEAM node `beam` (name copied). NULL on out
 * of memory. */
sw_group_t *sw_group_new(const char *beam);
/* Frees the state and everything it holds. NULL is allowed. */
void sw_group_free(sw_group_t *g);

/* Tells the state how to ask whether a distribution connection to a C node
 * is up (fn returns 1 if so; cnode borrowed). Used when the agent reports a
 * node whose C node connected before the report: it is greeted then.
 * Without it (the default), such a node is greeted by its own hello. */
void sw_group_set_connected(sw_group_t *g, int (*fn)(void *ud, const char *cnode), void *ud);

/* ---- C hosts ----------------------------------------------------------
 *
 * A C host (include/swarm.h) runs this same state without a BEAM node: its
 * node is its "BEAM node" (sw_group_new(node)), the home of its workers'
 * memberships (joined and left with sw_group_join/leave, a dead worker's
 * with sw_group_pid_down). See tracker.h, "C hosts". */

/* Makes g a host's group state; call right after sw_group_new. The hello op
 * on every connection is then {hello, Self, host}, and the initial sync
 * completes only once at least one swarm node's sync came. */
void sw_group_set_host(sw_group_t *g);

/* A host's equivalent of swarm_groups' ghello with no memberships: the
 * initial sync begins, connected peers get our sync; what would go to
 * swarm_groups (gbatch, gsynced) is for self, which the runtime may drop.
 * Call once, after sw_group_set_host. */
void sw_group_host_begin(sw_group_t *g, const erlang_pid *self);

/* The members of group (GroupBin bytes with 131) in this replica: fills
 * out[0..min(total, max)) and returns the total count (members/1). */
size_t sw_group_members(const sw_group_t *g, const char *group, size_t glen, erlang_pid *out,
                        size_t max);

/* ---- events from the local BEAM node (decoded by dist.c) --------------- */

/* A message {'$sw1', Tag, ...} from the local BEAM node whose tag starts
 * with 'g'. tag is Tag's entry in the protocol table (SW_MSG_*,
 * include/swarm_proto.h), -1 for an atom not in it; arity the tuple's
 * arity, and buf at *index points at the third element. Handles:
 *   gjoin  / gleave: {'$sw1', gjoin, Caller, Ref, GroupBin, Pid}
 *       join or leave; {Ref, ok | home_unreachable} reaches Caller through
 *       swarm_groups once this node's replica shows the change;
 *   gdown:     {'$sw1', gdown, Pid}: a local member died;
 *   ghello:    {'$sw1', ghello, Proc, [{GroupBin, [Pid]}], Holder}:
 *       swarm_groups (pid Proc) started or the C node restarted; the list
 *       holds the memberships of live local pids its replica has; Holder is
 *       its new (monitor-less) holder. They are adopted, the whole replica
 *       is sent again (every chunk; {hello, Holder}, then a monitor request
 *       for every local member), peers get our sync, and {'$sw1', gsynced}
 *       follows once every peer known to run swarm has sent its sync;
 *   gtransfer: {'$sw1', gtransfer, OldPid, NewPid}: see sw_group_transfer;
 *   gstats:    {'$sw1', gstats, Caller, Ref}: {Ref, [{Key, Int}]}.
 * Returns 0, or -1 if the message is malformed or unknown (nothing changes;
 * counted in bad_msgs). */
int sw_group_local(sw_group_t *g, int tag, int arity, const char *buf, int *index);

/* The agent's hello {'$sw1', hello, Agent, Names, Peers}: buf at index
 * points at Names (already validated by sw_tracker_hello). The peers listed
 * are marked up, as by sw_group_peer_up. */
void sw_group_agent_hello(sw_group_t *g, const char *buf, int index);

/* BEAM node `beam` runs swarm, with C node `cnode` (names borrowed). On a
 * host (sw_group_set_host), beam == cnode names another C host (see the
 * tracker's env->members): a host peer, greeted when its connection is
 * up. */
void sw_group_peer_up(sw_group_t *g, const char *beam, const char *cnode);

/* BEAM node `beam` went down: every membership of a pid on it is removed
 * (and reported to swarm_groups). The removed memberships are kept aside,
 * per pid, for 30 to 60 s, so that sw_group_transfer can give them to a
 * process restarted elsewhere. */
void sw_group_peer_down(sw_group_t *g, const char *beam);

/* ---- requests (also reachable through sw_group_local) ------------------ */

/* join (leave) Group for pid on behalf of caller. group/glen: the GroupBin
 * bytes (with 131), validated by the caller of this function; ref/rlen: the
 * encoded Ref term (without 131). All borrowed. If pid lives on this BEAM
 * node the change is made here and broadcast; otherwise the request goes to
 * the home's C node, which replies after its broadcast. Idempotent. The
 * reply is `home_unreachable` when the home's C node is not connected. */
void sw_group_join(sw_group_t *g, const erlang_pid *caller, const char *ref, size_t rlen,
                   const char *group, size_t glen, const erlang_pid *pid);
void sw_group_leave(sw_group_t *g, const erlang_pid *caller, const char *ref, size_t rlen,
                    const char *group, size_t glen, const erlang_pid *pid);

/* A local pid died: it leaves all its groups, cluster-wide. Ignored for a
 * pid of another node. */
void sw_group_pid_down(sw_group_t *g, const erlang_pid *pid);

/* The rejoin hook for processes that swarm restarts or moves: new_pid joins
 * every group old_pid is in, or was in when its node went down (within the
 * parking window of sw_group_peer_down). Call it on any C node: if new_pid
 * lives elsewhere, the request is forwarded to its home (over gops). Returns
 * the number of groups joined here (0 when forwarded or when old_pid had no
 * groups), or -1 if new_pid's home is not connected. old_pid keeps its own
 * memberships while it lives. */
int sw_group_transfer(sw_group_t *g, const erlang_pid *old_pid, const erlang_pid *new_pid);

/* ---- events from peer C nodes ------------------------------------------ */

/* The connection to C node `cnode` is up: queue {hello, OurBeam}, and our
 * sync once swarm_groups has said hello. */
void sw_group_conn_up(sw_group_t *g, const char *cnode);
/* The connection went down. Memberships of that node's pids stay: its BEAM
 * node may be up (only sw_group_peer_down removes them). A C host's go at
 * once (its node is gone from here with its connection), kept aside as at
 * sw_group_peer_down, and on a C node its record is forgotten. */
void sw_group_conn_down(sw_group_t *g, const char *cnode);
/* The op list of {'$sw1', gops, [Op]} from C node `cnode`, at buf[*index].
 * Malformed ops, and ops about pids whose home is not the sender, are
 * counted (bad_ops) and skipped. Returns the number of ops skipped. */
int sw_group_peer_ops(sw_group_t *g, const char *cnode, const char *buf, int *index);

/* ---- time and output --------------------------------------------------- */

/* Advances time: ends the wait for peers' syncs after 10 s, and forgets
 * parked memberships older than the parking window. */
void sw_group_tick(sw_group_t *g, uint64_t now_ms);

/* Hands every pending message to emit: each peer's {'$sw1', gops, [Op]},
 * then swarm_groups' {'$sw1', gbatch, Chunks, Monitors, Replies}
 * (Chunks = [{GroupBin, K, PidTuple}], Monitors = [{hello, Holder} |
 * {mon, Pid}]: monitor this local pid, asked once per pid (a pid stays
 * monitored, and known here, until it dies, even after it left every
 * group); {hello, Holder} heads the requests made after a ghello naming
 * that holder, which replace all earlier ones,
 * Replies = [{Caller, Ref, Result}]) and
 * {'$sw1', gsynced}; then empties the outboxes. Nothing goes to
 * swarm_groups before its hello. */
void sw_group_flush(sw_group_t *g, sw_group_emit_cb emit, void *ud);

/* 1 when sw_group_flush would emit something. */
int sw_group_pending(const sw_group_t *g);

/* 1 once the initial sync after swarm_groups' hello is complete. */
int sw_group_synced(const sw_group_t *g);

/* Fills *out (state_bytes is computed: O(pids + groups)). */
void sw_group_stats(const sw_group_t *g, sw_group_stats_t *out);

/* ---- inspection (tests, diagnostics) ----------------------------------- */

/* 1 if pid is a member of the group (GroupBin bytes with 131), else 0. */
int sw_group_is_member(const sw_group_t *g, const char *group, size_t glen,
                       const erlang_pid *pid);
/* Number of members of the group. */
size_t sw_group_count(const sw_group_t *g, const char *group, size_t glen);

#endif
