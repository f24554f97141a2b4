/* peers.h - the peer C nodes of a state machine and their outboxes, shared by
 * tracker.c and group.c.
 *
 * What it is: a list of records, one per C node a state machine has heard
 * of (its BEAM node, the state of its connection, the flags of the initial
 * sync, and an outbox of encoded ops for it), and the outbox itself: an ei
 * buffer of list elements without the list header, plus their count, that
 * the owner wraps into one message when it flushes. Names are atom indexes
 * of the owner's table (atoms.h).
 *
 * What it is not: a protocol. What the ops mean, when a peer counts as up,
 * and what the owner sends are the owner's; this module keeps the records,
 * decodes the op list of one peer message (handing each op to the owner),
 * and holds the steps both owners take alike (hello, the initial sync,
 * the flush envelope, replies through a peer: see "skeleton" below). Records live in one array: a pointer to one is valid until the
 * next sw_peers_get that adds a record. A handful of peers is the expected
 * size (lookups are linear). */
#ifndef SW_PEERS_H
#define SW_PEERS_H

#include <ei.h>
#include <stddef.h>
#include <stdint.h>

#include "atoms.h"
#include "swarm_proto.h"

/* Encoded ops for one destination. */
typedef struct {
    ei_x_buff body; /* encoded elements, without the list header */
    uint32_t count; /* elements in body */
} sw_outbox_t;

/* One known C node. */
typedef struct {
    uint32_t cnode;    /* atom of the C node name */
    uint32_t beam;     /* atom of its BEAM node, SW_ATOM_NONE until known */
    uint8_t conn_up;   /* distribution connection established */
    uint8_t agent_up;  /* its BEAM node runs swarm (the agent said peer_up) */
    uint8_t synced;    /* its sync arrived on the current connection */
    uint8_t sync_sent; /* our sync went out on the current connection (if the
                        * owner keeps track of it) */
    uint8_t awaited;   /* counts for our initial sync */
    uint8_t down;      /* its BEAM node went down (peer_down) and has not come
                        * back (peer_up): its C node is not listened to */
    uint8_t host;      /* a C host ({hello, Node, host}): its BEAM node and C
                        * node are one node (beam == cnode); never a ring
                        * member, never awaited by the initial sync, and what
                        * its pids hold goes with its connection */
    uint8_t leaving;   /* it left the placement ({leaving, yes} on the
                        * current connection) */
    uint8_t refused;   /* its C node dialled us while it was down here and
                        * was hung up on: at peer_up we dial it back,
                        * whichever name is smaller (it would redial only at
                        * its next tick, up to REDIAL_MS later) */
    sw_outbox_t out;
} sw_peer_t;

/* The list. Zeroed memory is an empty list. */
typedef struct {
    sw_peer_t *v;
    uint32_t n, cap;
} sw_peers_t;

/* ---- outboxes ------------------------------------------------------------ */

/* Empties x; a buffer that grew past 1 MiB (a big sync) is given back. */
void sw_buf_release(ei_x_buff *x);

/* Initialises an empty outbox (ei_x_new). */
void sw_outbox_init(sw_outbox_t *o);
/* Frees its buffer. */
void sw_outbox_free(sw_outbox_t *o);
/* Empties it, keeping the buffer's memory. */
void sw_outbox_reset(sw_outbox_t *o);
/* Empties it, as sw_buf_release. */
void sw_outbox_release(sw_outbox_t *o);
/* Appends the elements of o to x as one list term (an empty list when o is
 * empty). o is unchanged. */
void sw_outbox_emit(ei_x_buff *x, const sw_outbox_t *o);

/* ---- the peer list ------------------------------------------------------- */

/* Frees every record's outbox and the array; the list is empty afterwards. */
void sw_peers_close(sw_peers_t *ps);

/* The record of C node cnode, or NULL. */
sw_peer_t *sw_peers_by_cnode(sw_peers_t *ps, uint32_t cnode);
/* The record whose BEAM node is beam, or NULL. */
sw_peer_t *sw_peers_by_beam(sw_peers_t *ps, uint32_t beam);
/* The record of C node cnode, added (all flags 0, BEAM node unknown, empty
 * outbox) if absent; NULL on out of memory. Adding may move every record. */
sw_peer_t *sw_peers_get(sw_peers_t *ps, uint32_t cnode);

/* The agent says BEAM node beam runs swarm with C node cnode: interns both
 * names and marks that C node's record (added if needed) up and no longer
 * down. Returns the record, or NULL when beam is self_beam or out of
 * memory. */
sw_peer_t *sw_peers_up(sw_peers_t *ps, sw_atoms_t *at, uint32_t self_beam, const char *beam,
                       const char *cnode);

/* The agent says BEAM node beam went down (or stopped swarm): its record,
 * if any, is marked down and its agent not up. Returns the record, or NULL
 * if no record has that BEAM node. (Its awaited flag is the caller's: see
 * sw_peer_unawait.) */
sw_peer_t *sw_peers_down(sw_peers_t *ps, uint32_t beam);

/* Record from names BEAM node beam (its {hello, Beam} op). If that node was
 * first known under another C node record (the agent's peer_up before this
 * connection), that record's agent_up and awaited move to from and it
 * forgets the node. */
void sw_peers_set_beam(sw_peers_t *ps, sw_peer_t *from, uint32_t beam);

/* Clears p's awaited flag (its sync came, or it will never come). Returns 1
 * if it was set (the owner then checks whether its initial sync is
 * complete), else 0. */
int sw_peer_unawait(sw_peer_t *p);

/* 1 if some record is awaited (the initial sync is not complete), else 0. */
int sw_peers_awaiting(const sw_peers_t *ps);
/* 1 if some record's outbox holds something, else 0. */
int sw_peers_pending(const sw_peers_t *ps);

/* Removes record p (a pointer from this list) and frees its outbox: for a
 * connection that went down from a node the agent does not know as a
 * swarm node, so that every node that ever connected costs nothing once
 * it left. Moves the last record into p's place. */
void sw_peers_remove(sw_peers_t *ps, sw_peer_t *p);

/* The BEAM node a C node may speak for: cnode less its SW_CNODE_PREFIX
 * ("a@h" for "swarm_a@h"), or NULL when cnode does not carry the prefix
 * (then it is not a swarm C node). Points into cnode. */
const char *sw_peer_implied_beam(const char *cnode);

/* 1 if beam is the BEAM node that connection cnode may speak for
 * (sw_peer_implied_beam), else 0: a {hello, Beam} naming any other node is
 * an impersonation and is refused. */
int sw_peer_hello_ok(const char *cnode, const char *beam);

/* 1 if the op list at buf[index] (a validated term) opens with
 * {hello, Beam} and sw_peer_hello_ok(cnode, Beam), 2 if it opens with
 * {hello, Node, host} and Node is cnode itself (a C host, which speaks for
 * its own node only), else 0: how a connection from a node not known yet
 * proves it is a swarm C node or a C host (anything else it sends is
 * dropped, and it is sent nothing). */
int sw_peer_ops_open_with_hello(const char *cnode, const char *buf, int index);

/* The record for an op list (buf[index], a validated term) that arrived on
 * the live connection of C node cnode. An existing record is returned as
 * it is, unless it is not up yet (the agent reported its node while the
 * connection was already there) and the list opens with a valid hello:
 * then *greet is set. A node without a record gets one (its names interned
 * in at) only if the list opens with a valid hello (see
 * sw_peer_ops_open_with_hello; a host's hello naming the BEAM node of a
 * swarm node's record is not), and *greet is set;
 * otherwise NULL: a stranger, that leaves nothing behind. When *greet is
 * set the owner marks the record up and greets it before applying the
 * list. NULL also when out of memory. */
sw_peer_t *sw_peers_for_ops(sw_peers_t *ps, sw_atoms_t *at, const char *cnode, const char *buf,
                            int index, int *greet);

/* The connection to p went down: if the agent never reported p's node (it
 * came by its hello alone), p is removed (sw_peers_remove); a node it
 * reported, up or down, is kept: its down flag must outlive the
 * connection. Returns 1 if p was removed (p is then invalid). */
int sw_peers_forget(sw_peers_t *ps, sw_peer_t *p);

/* 1 if the agent's list of peers [{Beam, CNode}] at buf[index] (a
 * validated term) names BEAM node beam, else 0. */
int sw_peer_list_names(const char *buf, int index, const char *beam);

/* Queues {hello, Beam} (Beam: atom self_beam of at) to p, or, when host is
 * set (the sender is a C host, whose node is self_beam),
 * {hello, Beam, host}. */
void sw_peer_hello(sw_peer_t *p, const sw_atoms_t *at, uint32_t self_beam, int host);

/* Checks the hello op {hello, Beam} (host 0) or {hello, Beam, host} (host
 * 1) that peer p sent, for an owner whose own BEAM node is self_beam, and
 * on success names p's BEAM node (sw_peers_set_beam) and marks p a host
 * or not. A plain hello must name the node p's connection name implies
 * (sw_peer_hello_ok); a host's must name p's own C node, and not a node
 * another record knows as a swarm BEAM node. Returns 0, or -1 when refused
 * (then nothing changes). */
int sw_peer_hello_apply(sw_peers_t *ps, sw_atoms_t *at, uint32_t self_beam, sw_peer_t *p,
                        const char *beam, int host);

/* Decodes the rest of a hello op whose tuple header (arity) and tag were
 * read: Beam into beam (MAXATOMLEN_UTF8 bytes) and, for arity 3, the atom
 * `host` (*host set). Returns 0, or -1 when malformed. */
int sw_peer_hello_dec(const char *buf, int *index, int arity, char *beam, int *host);

/* Applies one op of a peer: called with buf at the op, it moves *index past
 * it and returns 0, or returns -1 (any *index) if the op is malformed or
 * refused. */
typedef int (*sw_peer_op_cb)(void *ud, sw_peer_t *from, const char *buf, int *index);

/* Applies the op list at buf[*index] (the third element of a peer's
 * {'$sw1', Tag, [Op]}; a validated term) from peer `from`, op by op through
 * apply. An op that apply refuses is counted in *bad_ops, logged (warning
 * `event`, from=cnode) and skipped; the next one is read from where it
 * ends. Returns the number of ops skipped (0 for an empty list), or 1
 * when there is no list (counted in *bad_ops if there is a term of another
 * type); when an op cannot even be skipped, the rest of the list is given
 * up and counted in the result. */
int sw_peer_ops(sw_peer_t *from, const char *cnode, const char *buf, int *index, sw_peer_op_cb apply,
                void *ud, uint64_t *bad_ops, const char *event);

/* sw_peer_ops with the owner's atom table at guarded meanwhile
 * (sw_atoms_guard): what a peer sends cannot intern node names at will. */
int sw_peer_ops_guarded(sw_peer_t *from, sw_atoms_t *at, const char *cnode, const char *buf,
                        int *index, sw_peer_op_cb apply, void *ud, uint64_t *bad_ops,
                        const char *event);

/* ---- the peer protocol's skeleton ---------------------------------------
 *
 * What the tracker and groups do alike with their peers: on a connection,
 * {hello, Beam} and then a sync of the sender's home state; a flush that
 * sends each peer's outbox as one message {'$sw1', Tag, [Op]}; a reply to
 * a caller through the C node of the caller's BEAM node; and the initial
 * sync with the local owner process (the agent, swarm_groups), which waits
 * for the sync of every peer the owner knows to run swarm. What the ops,
 * the sync and the messages hold stays the owner's. */

/* How long the initial sync waits for peers' syncs. */
#define SW_SYNC_TIMEOUT_MS 10000u
/* How many listed C hosts an initial sync waits for, at most. */
#define SW_SYNC_MAX_HOSTS 32u

/* The initial sync. It begins at each hello of the local owner process and
 * completes once no peer is awaited (sw_proto_sync_await marks them): each
 * awaited peer sent its sync or went down, or SW_SYNC_TIMEOUT_MS passed.
 * The owner process is then told once. With need_one set (a C host, which
 * starts knowing no peer), it also needs the sync of at least one peer
 * whose BEAM node is reported up (got_one): until one came, neither an
 * empty wait nor the timeout completes it. Zeroed memory: not begun. */
typedef struct {
    uint8_t begun;       /* the owner process said hello (at least once) */
    uint8_t synced;      /* the sync since its last hello is complete */
    uint8_t synced_sent; /* and the owner process was told */
    uint8_t need_one;    /* a host: complete only once got_one */
    uint8_t got_one;     /* a reported peer's sync arrived since the hello */
    uint64_t hello_at;   /* when its last hello came (ms) */
    /* C hosts a swarm peer listed ({hosts, [Node]}, before its sync) that
     * have not synced here yet: the initial sync waits for them too, as
     * for awaited peers. A C node restarted while a host stays up would
     * otherwise complete before the host redials it, and its owner process
     * would drop the host's names and memberships until then. Kept across
     * sw_proto_sync_begin (the list may come before the hello); emptied
     * when the sync completes or times out. Beyond SW_SYNC_MAX_HOSTS
     * hosts, the others are not waited for. */
    uint32_t nhosts;
    uint32_t hosts[SW_SYNC_MAX_HOSTS];
} sw_proto_sync_t;

/* The owner process said hello at time now (ms): a new sync begins (not
 * complete, not told). */
void sw_proto_sync_begin(sw_proto_sync_t *s, uint64_t now);

/* Every peer whose BEAM node the agent reported up and whose sync has not
 * come on its current connection is awaited (a host peer never is). */
void sw_proto_sync_await(sw_peers_t *ps);

/* Queues {hosts, [Node]} to p if p is a swarm C node (not a host, and its
 * name carries SW_CNODE_PREFIX): the C hosts connected here (records
 * marked host, connected, their node known), whose syncs p's initial sync
 * then waits for (sw_proto_sync_hosts). A peer op of the tracker and of
 * the groups, which a swarm C node queues after its hello and before its
 * sync. Nothing is queued when there is no such host. */
void sw_peer_hosts(sw_peer_t *p, const sw_peers_t *ps, const sw_atoms_t *at);

/* The rest of a {hosts, [Node]} op whose tuple header (arity) and tag were
 * read, from a swarm peer (the caller refuses it from a host, and a host
 * refuses it): checks the whole list first (arity 2, a proper list of
 * atoms; else -1 and nothing changes), then, unless the sync s completed,
 * adds each listed node (interned in at; skipped when at refuses it, when
 * it is self_beam or the BEAM node of a swarm peer's record, or when it is
 * a host whose sync came on its live connection) to s's hosts, up to
 * SW_SYNC_MAX_HOSTS. Moves *index past the op and returns 0. */
int sw_proto_sync_hosts(sw_proto_sync_t *s, sw_peers_t *ps, sw_atoms_t *at, uint32_t self_beam,
                        const char *buf, int *index, int arity);

/* Completes the sync if it began, no peer is awaited and no listed host
 * (s->hosts) is still waited for. */
void sw_proto_sync_check(sw_proto_sync_t *s, const sw_peers_t *ps);

/* The sync of peer p arrived: p is synced and no longer awaited (nor
 * waited for as a listed host), and, for a host's sync, if p's BEAM node
 * is reported up, got_one is set. */
void sw_proto_sync_peer_synced(sw_proto_sync_t *s, const sw_peers_t *ps, sw_peer_t *p);

/* The BEAM node of peer p went down: its sync will not come. */
void sw_proto_sync_peer_gone(sw_proto_sync_t *s, const sw_peers_t *ps, sw_peer_t *p);

/* Time is now (ms): a sync that began SW_SYNC_TIMEOUT_MS ago or more and is
 * not complete stops waiting (no peer stays awaited, no listed host waited
 * for; warning `event` logged) and completes. */
void sw_proto_sync_tick(sw_proto_sync_t *s, sw_peers_t *ps, uint64_t now, const char *event);

/* A host's sync (need_one), begun and not complete: p's BEAM node was
 * just reported up. If p's sync came already, it counts (got_one);
 * otherwise p is awaited, and when no other peer was, the timeout counts
 * from now (the host began knowing no peer). Nothing otherwise. */
void sw_proto_sync_host_await(sw_proto_sync_t *s, sw_peers_t *ps, sw_peer_t *p, uint64_t now);

/* 1 if the sync is complete and the owner process was not told yet. */
int sw_proto_sync_news(const sw_proto_sync_t *s);
/* As sw_proto_sync_news, and if 1, the owner process counts as told. */
int sw_proto_sync_done(sw_proto_sync_t *s);

/* The connection to p's C node is up (or p just proved itself a swarm
 * peer): p is connected, not synced, its sync not sent, and its outbox
 * emptied (sw_outbox_release). The owner then greets it: sw_peer_hello
 * first, its sync after. */
void sw_peer_conn_open(sw_peer_t *p);

/* The connection to p's C node is gone: p is not connected, not synced,
 * its sync not sent, and its outbox emptied (sw_outbox_release). */
void sw_peer_conn_close(sw_peer_t *p);

/* Starts x afresh as the message {'$sw1', tag, ...} of the given arity
 * (version byte, tuple header, the two atoms; tag: SW_MSG_*); the owner
 * appends the remaining arity - 2 elements. */
void sw_proto_msg_begin(ei_x_buff *x, enum sw_msg tag, int arity);

/* Sends a message to C node cnode (borrowed): buf/len is the whole term
 * with its version byte, borrowed for the call. */
typedef void (*sw_proto_send_cb)(void *ud, const char *cnode, const char *buf, size_t len);

/* For every peer whose outbox holds ops: encodes {'$sw1', tag, [Op]} into x
 * (tag: SW_MSG_*; x: scratch, overwritten) and, if the peer is connected,
 * hands it to send (ops queued to a peer that is not connected are
 * dropped); then empties the outbox (sw_outbox_release). */
void sw_proto_flush_peers(sw_peers_t *ps, const sw_atoms_t *at, ei_x_buff *x, enum sw_msg tag,
                          sw_proto_send_cb send, void *ud);

/* Opens a reply to a caller on BEAM node ccbeam, queued after everything
 * already queued to that node (its replica shows a change before the
 * caller learns of it). On this node (ccbeam == self_beam) it is
 * {Caller, Ref, Result} in outbox local (for the owner process); on
 * another, {reply, Caller, Ref, Result} in the outbox of that node's C
 * node. The op is counted; the caller encodes Caller, Ref and Result into
 * the buffer returned. NULL when that C node is not connected: nothing is
 * queued, and warning `event` is logged (to=ccbeam). */
ei_x_buff *sw_proto_reply_begin(sw_peers_t *ps, const sw_atoms_t *at, uint32_t self_beam,
                                uint32_t ccbeam, sw_outbox_t *local, const char *event);

#endif
