/* tracker_int.h - what the tracker's files share: PRIVATE to tracker*.c.
 *
 * What it is: the tracker's state (struct sw_tracker_s), the records of MFA
 * starts, and the functions one tracker file calls in another, each with
 * its contract. The public API is tracker.h; the entry store (store.h) is a
 * container of its own. The files:
 *   tracker.c          decisions, local requests, replication ops, sync,
 *                      life cycle (the state machine proper)
 *   tracker_members.c  the view of the cluster: peers, connections, the
 *                      ring and the quorum, the agent's hello
 *   tracker_mfa.c      register_name/4,5 starts, restarts after a node
 *                      went down (and of entries it left to another
 *                      owner), handoffs
 *   tracker_leave.c    leaving the placement, moves on demand, restarts
 *                      after an exit, stops below the quorum, the
 *                      records of moves in flight
 *   tracker_resolve.c  conflict losers' states for winners that move
 *   tracker_wire.c     every message the tracker writes or reads
 * What it is not: an API for anything but those files (no other file
 * includes it). */
#ifndef SW_TRACKER_INT_H
#define SW_TRACKER_INT_H

#include <ei.h>
#include <stddef.h>
#include <stdint.h>

#include "atoms.h"
#include "htab.h"
#include "peers.h"
#include "proto.h"
#include "ring.h"
#include "store.h"
#include "tracker.h"

/* A reservation whose home never answers its claim is given up after this
 * long. Only a last resort: a claim is lost only with its connection
 * (conn_lost drops the reservations at once) and a hung C node is killed by
 * its agent's watchdog (its connections drop too); given up early, a
 * reservation whose home is merely slow (a backlog, valgrind) lets a second
 * claim for the name through, and both callers get yes. */
#define CLAIM_TIMEOUT_MS SW_CLAIM_TIMEOUT_MS
/* How often peers we should be connected to are dialled again. */
#define REDIAL_MS 1000u
/* The handoff scan after a member that had been one before comes back
 * (see sw_tr_ring_rebuild), or after a scan that found new owners whose
 * agents were not reported up yet (then also as soon as one is), waits
 * this much (checked at ticks: they run every 500 ms). */
#define HANDOFF_DELAY_MS 300u
/* After a member that had been one comes back (a partition healed), the
 * handoff scan waits this much: the conflicts it brings are settled first,
 * and each loser's state reaches its winner (resolve_conflict) before the
 * winner is asked to move (checked at ticks). */
#define HEAL_HANDOFF_DELAY_MS 1500u
/* A handoff whose start failed at the new owner (its application not
 * started yet, say: a node joins the ring when swarm starts, before the
 * applications that depend on it) is tried again this much later, the
 * delay doubling with each failed try, at most HANDOFF_RETRIES times (1 +
 * 2 + 4 + 8 + 16 s), counted afresh when the ring gains a member. Only the
 * entries that failed are asked again (`ignore' stays ignored until the
 * ring changes); one that fails every try stays where it runs. */
#define HANDOFF_RETRY_MS 1000u
/* How long the new owner of a handed-off name keeps telling the old home
 * that the handoff ended (sw_tr_handed_greet) if that home never says it
 * heard (its C node restarted, or it stays away). */
#define HANDED_KEEP_MS 60000u
#define HANDOFF_RETRIES 5u

/* A conflict loser's state on its way (tracker_resolve.c). */
typedef struct state_rec_s state_rec_t;

/* The tracker. Besides the entry store:
 *   atoms    interned node names (atoms.h); indexes are local to this
 *            tracker and never go on the wire; a pid is held as an sw_pid_t
 *   peers    one record per known C node: its BEAM node, connection state
 *            and outbox (peers.h) */
struct sw_tracker_s {
    sw_atoms_t atoms;
    uint32_t self_beam, self_cnode;
    const sw_tracker_env_t *env;
    void *ud;

    sw_store_t store;       /* entries: names, pid index, reservations */
    sw_peers_t peers;       /* one record per known C node */

    sw_outbox_t agent_ops, agent_replies;
    erlang_pid agent;
    sw_proto_sync_t sync; /* the agent's hello and the initial sync (peers.h) */
    uint64_t now, last_redial;

    uint64_t clock; /* Lamport counter */
    sw_tracker_stats_t st; /* counters (names, reserved, pids: the store's) */
    ei_x_buff scratch;
    ei_x_buff res;  /* scratch for reply terms */

    sw_ring_t ring;      /* libring ring over the members */
    int ring_dirty;      /* membership changed since the ring was built */
    unsigned ring_flags; /* SW_RING_* */
    uint32_t quorum;     /* StaticQuorumRing size, 0 for the plain ring */
    int quorum_state;    /* QUORUM_*: as last logged */
    sw_htab_t starts;    /* id -> start_t: MFA starts in progress here */
    sw_htab_t handed;    /* name hash -> handed_t: handoffs that ended here
                          * from another home, until that home's del of the
                          * old pid (or HANDED_KEEP_MS) */
    struct move_rec_s **moves; /* handoff_starts sent to a peer, not known to
                                * have ended (stale ones pruned lazily) */
    size_t moves_n, moves_cap;
    uint32_t *ring_was;  /* the members (atoms) of the ring last built */
    size_t ring_seen;    /* ... how many */
    uint32_t *ring_ever; /* every node that was a member here at some time */
    size_t ring_ever_n;  /* ... how many */
    int handoff_due;     /* the ring gained a member: look for handoffs */
    int ring_news;       /* the members changed: tell the agent ({ring, ...}) */
    int links_news;      /* a peer's connection went or came: tell the agent
                          * ({links}), whose waiting callers then resend */
    uint64_t handoff_at; /* ... from this time on (ms, t->now's clock) */
    int handoff_waits_agents; /* the scan due waits for new owners' agents
                                 (a peer_up brings it forward) */
    int handoff_retry;   /* a handoff failed at its new owner: try again ... */
    uint64_t handoff_retry_at; /* ... from this time on */
    uint32_t handoff_backoff;  /* the delay of the next retry (ms) */
    uint32_t handoff_tries;    /* retries since the ring last grew */
    int handoff_only_failed;   /* the scan due is a retry (entries with hfail) */
    int host;            /* a C host's tracker (sw_tracker_set_host) */
    int members_news;    /* the nodes we know changed: host peers get
                          * {members, ...} at the next flush */
    ei_x_buff members_in; /* a host: the list of the last members op ... */
    int members_pending;  /* ... not carried out yet */
    sw_leave_t leaving;   /* out of the placement (sw_tracker_leave) */
    struct waiter_s *leave_waiters; /* callers of leave, until the moves settle */
    int leave_check;      /* something that may settle them happened */
    sw_restart_t restart; /* what happens to an MFA process that exits */
    int optimistic;      /* sw_tracker_set_optimistic */
    state_rec_t *parked; /* losers' states for local processes being asked
                          * {swarm, begin_handoff} (tracker_resolve.c) */
    uint32_t restart_intensity, restart_period; /* ... at most so many restarts
                                                 * of a name within so many ms */
    sw_htab_t restarts;   /* name -> its recent restarts (tracker_leave.c) */
    sw_entry_t **orph;    /* MFA entries of nodes gone down whose owner was
                           * another node then (tracker_mfa.c) ... */
    uint64_t *orph_at;    /* ... when each was kept */
    size_t norph, orph_cap;
};

/* The quorum as the ring's last build saw it (for its log lines). */
#define QUORUM_UNKNOWN 0
#define QUORUM_MET 1
#define QUORUM_SHORT 2

/* A waiter on an MFA start: where its reply goes. */
typedef struct waiter_s waiter_t;
struct waiter_s {
    waiter_t *next;
    uint32_t ccbeam;
    uint8_t mode; /* MODE_REGISTER or MODE_WHEREIS */
    sw_pid_t caller;
    size_t rlen;
    char ref[];
};
#define MODE_REGISTER 0
#define MODE_WHEREIS 1

/* An MFA start in progress (tracker_mfa.c). */
typedef struct {
    uint64_t id;        /* the reservation's stamp counter */
    sw_entry_t *e;      /* the SW_RES_START entry, NULL once it was dropped */
    waiter_t *waiters;  /* oldest first: the first one caused the start */
    sw_pid_t old_pid;   /* restart after a node went down: the dead pid;
                         * handoff: the pid handing off */
    sw_stamp_t old_s;   /* handoff: the stamp of old_pid's entry */
    int restart;
    int handoff;        /* a handoff's start: e is NULL (the name stays the
                         * old pid's until the new one commits) */
    char *mfa;          /* handoff: copy of the MFA */
    size_t mfalen;
    char *state;        /* handoff with {resume, State}: term_to_binary(State) */
    size_t statelen;
    state_rec_t *follows; /* handoff: conflict losers' states for the new
                           * process, cast after its end_handoff */
    uint32_t nlen;
    char name[];        /* copy of the name, for when e is gone */
} start_t;

/* What a claim asks of the home. A copy of a register request sent again
 * (after a link dropped) must not contradict an earlier copy that may have
 * won: an owner that finds the name already taken asks the pid's home,
 * which alone knows for sure, instead of answering from its own view. */
typedef enum {
    CLAIM_NEW = 0, /* commit if free, else `no` */
    CLAIM_RETRY,   /* a copy: the same, and `yes` if the name is the pid's */
    CLAIM_CONFIRM, /* the owner holds the name for this pid: `yes` if the
                    * home does too, else nothing (an orphan copy must not
                    * register the name again after an unregister) */
    CLAIM_CHECK,   /* the owner holds the name for another pid: `yes` if the
                    * home holds it for this one, else `no`; never commits */
} claim_mode_t;

/* Raises the Lamport clock to at least c (a stamp seen from elsewhere). */
static inline void sw_tr_clock_see(sw_tracker_t *t, uint64_t c) {
    if (c > t->clock) t->clock = c;
}

/* ---- tracker.c: the state machine ------------------------------------- */

/* Creates committed entry name -> pid under stamp s (h: sw_name_hash of the
 * name, not in the store) with the MFA bytes (mfalen 0: none) and queues
 * its add to the agent. Returns it, or NULL on out of memory. */
sw_entry_t *sw_tr_entry_commit(sw_tracker_t *t, const char *name, size_t len, uint64_t h,
                               const sw_pid_t *pid, const sw_stamp_t *s, const char *mfa,
                               size_t mfalen);
/* Takes e out of the store and frees it; a committed entry's del is queued
 * to the agent when tell_agent, a start reservation detaches from its
 * start. */
void sw_tr_entry_drop(sw_tracker_t *t, sw_entry_t *e, int tell_agent);
/* The owner commits name -> pid (pid known, name free here): directly if
 * the pid is ours (the add broadcast, yes to the caller), else as a claim
 * reservation and a claim to the pid's home. yes/no are the encoded Result
 * terms for the caller, who gets no if the home is away (nothing at all
 * when retry: a copy waits for the next link change) or on out of memory.
 * ccbeam UINT32_MAX: nobody waits for a reply. */
void sw_tr_commit_or_claim(sw_tracker_t *t, uint32_t ccbeam, const sw_pid_t *caller,
                           const char *ref, size_t rlen, const char *name, size_t nlen,
                           uint64_t h, const sw_pid_t *pid, const sw_stamp_t *s, const char *yes,
                           size_t yeslen, const char *no, size_t nolen, const char *mfa,
                           size_t mfalen, int retry);
/* The owner's decision on register(name, pid) from the caller's BEAM node
 * ccbeam (retry: see sw_tracker_register). */
void sw_tr_decide(sw_tracker_t *t, uint32_t ccbeam, const sw_pid_t *caller, const char *ref,
                  size_t rlen, const char *name, size_t nlen, const sw_pid_t *pid, int retry);
/* The home removes name (if it is one of its committed entries) on request
 * of the caller's node ccbeam, and answers ok. */
void sw_tr_unregister_at_home(sw_tracker_t *t, uint32_t ccbeam, const sw_pid_t *caller,
                              const char *ref, size_t rlen, const char *name, size_t nlen);
/* Drops every entry and claim reservation whose pid lives on BEAM node beam
 * (the agent told of committed ones). */
void sw_tr_purge_node(sw_tracker_t *t, uint32_t beam);
/* The replication ops a peer's op list carries, decoded (tracker_wire.c
 * checked that a home's adds and dels are about its own pids):
 * an add from a home (insert, or settle a conflict); */
void sw_tr_apply_add(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *pid,
                     const sw_stamp_t *s, const char *mfa, size_t mfalen);
/* a del from a home (removes the entry if it has that pid and stamp); */
void sw_tr_apply_del(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *pid,
                     const sw_stamp_t *s);
/* {lost, ...} at the home of an entry that lost a conflict to winner (NULL:
 * unknown), or (handoff 1) was handed off to it: removed everywhere; */
void sw_tr_apply_lost(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *pid,
                      const sw_stamp_t *s, const sw_pid_t *winner, int handoff);
/* an owner's claim at the pid's home (mode: claim_mode_t); */
void sw_tr_apply_claim(sw_tracker_t *t, sw_peer_t *from, const char *name, size_t nlen,
                       const sw_pid_t *pid, const sw_stamp_t *s, uint32_t ccbeam,
                       const sw_pid_t *caller, const char *ref, size_t rlen, const char *yes,
                       size_t yeslen, const char *no, size_t nolen, const char *mfa,
                       size_t mfalen, int mode);
/* the home's refusal of our claim: the reservation with that stamp goes; */
void sw_tr_apply_claim_nack(sw_tracker_t *t, const char *name, size_t nlen, const sw_stamp_t *s);
/* a home's sync, the list at buf[*index]: authoritative for the pids of
 * from's BEAM node. Returns 0, or -1 if malformed (nothing changed). */
int sw_tr_apply_sync(sw_tracker_t *t, sw_peer_t *from, const char *buf, int *index);

/* ---- tracker_members.c: the view of the cluster ------------------------ */

/* Rebuilds the ring from the members (this node and the connected peers
 * whose BEAM node is known and not down); notes news for the agent and a
 * handoff scan when a member joined. */
void sw_tr_ring_rebuild(sw_tracker_t *t);
/* 1 when a quorum is set and the nodes connected here (this one and the
 * peers whose BEAM node is known and up, in the placement or leaving it)
 * are fewer. */
int sw_tr_below_quorum(sw_tracker_t *t);
/* The BEAM node (atom) that owns name on the ring of the members. */
uint32_t sw_tr_owner_of(sw_tracker_t *t, const char *name, size_t len);
/* The same on the ring of the members without this node (this node when
 * it is the only member). */
uint32_t sw_tr_owner_without_self(sw_tracker_t *t, const char *name, size_t len);
/* Asks the I/O layer to dial p if we should be connected and we are the
 * side that dials (the smaller C node name). */
void sw_tr_dial_if_ours(sw_tracker_t *t, sw_peer_t *p);
/* The connection to p's C node is up and p is a swarm peer: greet it
 * (once the agent said hello). */
void sw_tr_conn_open(sw_tracker_t *t, sw_peer_t *p);
/* {hello, BeamNode} (host 0) or {hello, Node, host} (host 1) from p: it
 * names its BEAM node. Returns 0, or -1 when refused (see
 * sw_peer_hello_apply). */
int sw_tr_peer_hello(sw_tracker_t *t, sw_peer_t *p, const char *beam, int host);
/* {members, [{Beam, CNode}]} from p at buf[*index] (after the tag), on a
 * host: checked and kept for sw_tr_members_apply_pending, where each swarm
 * node listed goes to env->members and each other host listed becomes a
 * known host peer (dialled if ours; env->members too); a known host that
 * the list leaves out and that is not connected is no longer dialled.
 * Returns 0, or -1 when malformed or not allowed (on a C node, or from a
 * host). */
int sw_tr_apply_members(sw_tracker_t *t, sw_peer_t *p, const char *buf, int *index);
/* Carries out the last {members, ...} op that sw_tr_apply_members took,
 * if any: call once the op list that held it has been applied. */
void sw_tr_members_apply_pending(sw_tracker_t *t);
/* Queues {members, [{Beam, CNode}]} to every connected host peer: this
 * node, the peers whose BEAM node is reported up, the connected hosts. */
void sw_tr_send_members(sw_tracker_t *t);

/* ---- tracker_mfa.c: starts, restarts, handoffs ------------------------- */

/* The owner's decision on register_name(Name, M, F, A) (mode: MODE_*) from
 * the caller's node ccbeam. */
void sw_tr_decide_mfa(sw_tracker_t *t, uint32_t ccbeam, const sw_pid_t *caller, const char *ref,
                      size_t rlen, const char *name, size_t nlen, const char *mfa, size_t mfalen,
                      int mode);
/* Start reservation e is leaving the store: its start forgets it. */
void sw_tr_start_detach(sw_tracker_t *t, sw_entry_t *e);
/* Frees every start in progress (at sw_tracker_free). */
void sw_tr_starts_free(sw_tracker_t *t);
/* BEAM node beam went down: its entries go, and the MFA entries this node
 * now owns are started again here (unless below the quorum). */
void sw_tr_restart_node(sw_tracker_t *t, uint32_t beam);
/* Runs the handoff scan if one is due (the ring grew, or this node left
 * the placement) and this node's initial sync is done. Called from the
 * tick and before every flush. */
void sw_tr_handoff_due(sw_tracker_t *t);
/* Asks the agent about every local MFA process the ring now places on a
 * connected peer. Returns how many wait for their new owner's agent to be
 * reported up (the caller scans again later). With only_failed, only the
 * entries whose last handoff failed at the new owner (hfail). */
size_t sw_tr_handoff_scan(sw_tracker_t *t, int only_failed);
/* Restarts here the kept entries of nodes gone down (see
 * sw_tr_restart_node) whose owner is now this node (their owner went down
 * too) and whose name is free; forgets those held again, those whose home
 * is back, and those kept too long. After every peer_down, and at ticks. */
void sw_tr_orphans_check(sw_tracker_t *t);
/* Frees them all (at sw_tracker_free). */
void sw_tr_orphans_free(sw_tracker_t *t);
/* {orphan, ...} at the name's owner: an MFA entry of a node that went
 * down (pid's node), which a survivor held and this node may not: started
 * here (a restart) if the name is free, pid's node is down here too and
 * the quorum holds; kept as an entry, for this node's own peer_down to
 * restart, while pid's node is not reported down here but its C node is
 * not connected either. */
void sw_tr_apply_orphan(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *pid,
                        const sw_stamp_t *s, const char *mfa, size_t mfalen);
/* {handoff_start, ...} at the new owner: starts the MFA here. */
void sw_tr_handoff_begin(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *old,
                         const sw_stamp_t *s, const char *mfa, size_t mfalen, const char *state,
                         size_t statelen);
/* {handoff_failed, ...} at old's home: its entry stays old's. */
void sw_tr_handoff_failed_at_home(sw_tracker_t *t, const char *name, size_t nlen,
                                  const sw_pid_t *old);

/* ---- tracker_leave.c: leaving, moves, restarts, quorum loss ------------ */

/* 1 when a quorum is set and this node and the peers its agent reports up
 * are fewer (the agent's view, which a C node restart does not change). */
int sw_tr_short_of_quorum(const sw_tracker_t *t);
/* Below the quorum by the agent's view (once the agent said hello): every
 * local register_name/4,5 process is sent {swarm, die} and its names are
 * removed everywhere. Call after the agent's reports change. */
void sw_tr_quorum_check(sw_tracker_t *t);
/* Answers the callers of leave ({Ref, {ok, Remaining}}) once no local
 * process is being asked or moved and no handoff scan is due. Call before
 * the agent's outbox is flushed. */
void sw_tr_leave_settle(sw_tracker_t *t);
/* Frees the callers of leave still waiting (at sw_tracker_free). */
void sw_tr_leave_free(sw_tracker_t *t);
/* {leaving, yes | no} from p (leaving 1 | 0): p's BEAM node leaves the
 * ring or comes back. Returns 0, or -1 when p is a host or unnamed. */
int sw_tr_apply_leaving(sw_tracker_t *t, sw_peer_t *p, int leaving);
/* Move records (a home's side of a handoff it started to another node):
 * e (local, moving) was sent to the peer whose BEAM node is target with a
 * handoff_start: remembered, so that only the loss of that connection
 * stops marking it as moving. Out of memory: not remembered (the entry
 * then stays marked until its move ends); */
void sw_tr_move_sent(sw_tracker_t *t, const sw_entry_t *e, uint32_t target);
/* the connection to target's C node went: a handoff_start sent there, or
 * its answer, may be lost with it. The local entries being moved there
 * are no longer marked (the next scan may ask them again; a second start
 * at the new owner finds the name taken and is dropped), and those of
 * exited processes are removed (the new process, if it started, commits
 * its own entry). Until target's next sync, whether such a move happened
 * is unsure. Moves to other nodes go on: their answers still come; */
void sw_tr_moves_lost(sw_tracker_t *t, uint32_t target);
/* local entry e loses a conflict to winner: 1 if e's move to winner's
 * node is unsure, and the loser's fate waits for that node to tell
 * (sw_tr_moves_handed: it just dies) or its sync (sw_tr_moves_synced:
 * resolve, its state goes to winner); 0: act now (sw_tr_agent_loser); */
int sw_tr_moves_defer(sw_tracker_t *t, const sw_entry_t *e, const sw_pid_t *winner);
/* {lost, ..., handoff} about (name, pid), whose entry is gone: a deferred
 * loser just dies; */
void sw_tr_moves_handed(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *pid);
/* target's sync was applied (down 0): its unsure moves are settled
 * (deferred losers resolve: no handoff took their names); target is down
 * (down 1): its deferred losers resolve, other unsure moves wait; */
void sw_tr_moves_synced(sw_tracker_t *t, uint32_t target, int down);
/* settles unsure moves older than HANDED_KEEP_MS (from the tick); */
void sw_tr_moves_tick(sw_tracker_t *t);
/* where local entry e (moving) was sent: the target of its move record,
 * else its owner now; */
uint32_t sw_tr_move_target(sw_tracker_t *t, const sw_entry_t *e);
/* frees the move records (at sw_tracker_free). */
void sw_tr_moves_free(sw_tracker_t *t);
/* Handed records (the new owner's side of a handoff from another home):
 * a connection to p comes up: {lost, ..., handoff} again, before the
 * sync, for each handoff from p's node whose end p may not have heard (its
 * connection went meanwhile), so that p's old process just dies rather
 * than meet our new one as a conflict's loser (offering the state the new
 * one has already); */
void sw_tr_handed_greet(sw_tracker_t *t, sw_peer_t *p);
/* a del of (name, pid) from pid's home: that end was heard; */
void sw_tr_handed_del(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *pid);
/* whether old's name was handed off to winner here (recorded); */
int sw_tr_handed_is(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *old,
                    const sw_pid_t *winner);
/* forgets the records older than HANDED_KEEP_MS (from the tick); */
void sw_tr_handed_tick(sw_tracker_t *t);
/* frees them all (at sw_tracker_free). */
void sw_tr_handed_free(sw_tracker_t *t);
/* Forgets restart records older than the restart period (from the tick). */
void sw_tr_restarts_tick(sw_tracker_t *t);
/* Frees every restart record (the table stays usable). */
void sw_tr_restarts_free(sw_tracker_t *t);

/* ---- tracker_wire.c: the messages -------------------------------------- */

/* Counter, Origin: a stamp as two elements of a tuple. */
static inline void sw_tr_enc_stamp(ei_x_buff *x, const sw_tracker_t *t, const sw_stamp_t *s) {
    ei_x_encode_ulonglong(x, s->counter);
    sw_atoms_enc(x, &t->atoms, s->origin);
}

/* To the agent (queued in t->agent_ops):
 * {add|del, Name, Pid[, MFA]} of e (op: SW_MSG_ADD or SW_MSG_DEL); */
void sw_tr_agent_op(sw_tracker_t *t, enum sw_msg op, const sw_entry_t *e);
/* {die, Pid}: a local register_name/4,5 process lost its name; */
void sw_tr_agent_die(sw_tracker_t *t, const sw_pid_t *pid);
/* e's local register_name/4,5 process lost its name to winner (NULL:
 * unknown): {resolve, Pid, Winner}, or {die, Pid} when handed off (e is
 * moving, or handoff 1: the new owner said so); */
void sw_tr_agent_loser(sw_tracker_t *t, const sw_entry_t *e, const sw_pid_t *winner,
                       int handoff);
/* {drop, Name, Pid}: the agent removes the row a caller wrote; */
void sw_tr_agent_drop(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *pid);
/* A local entry lost a conflict to winner: register_name/4,5 ones go to
 * sw_tr_agent_loser, register_name/2 ones are sent {swarm, die} in
 * optimistic mode (and keep running, unnamed, in exact mode); */
void sw_tr_loser_told(sw_tracker_t *t, const sw_entry_t *e, const sw_pid_t *winner, int handoff);
/* {resolve, Pid, Winner, NameBin}: Pid offers its state to winner (its
 * helper sends it to the winner's node: sw_tracker_resolve_state), then
 * dies; */
void sw_tr_agent_resolve(sw_tracker_t *t, const sw_pid_t *pid, const sw_pid_t *winner,
                         const char *name, size_t nlen);
/* {resolve_cast, Pid, StateBin}: the agent casts {swarm, resolve_conflict,
 * State} to local Pid; */
void sw_tr_agent_resolve_cast(sw_tracker_t *t, const sw_pid_t *pid, const char *state,
                              size_t slen);
/* {resolve_follow, NameBin, OldPid, StateBin} to p: the state is for the
 * process that took local OldPid's name by a handoff to p; */
void sw_tr_send_resolve_follow(sw_tracker_t *t, sw_peer_t *p, const char *name, size_t nlen,
                               const sw_pid_t *old, const char *state, size_t slen);
/* {start, Id, MFA}: run the MFA in a fresh process; */
void sw_tr_agent_start(sw_tracker_t *t, uint64_t id, const char *mfa, size_t mfalen);
/* {handoff, Name, Pid}: ask the process of e about a handoff; */
void sw_tr_agent_handoff(sw_tracker_t *t, const sw_entry_t *e);
/* {end_handoff, Pid, State}: cast the new process its handed-off state. */
void sw_tr_agent_end_handoff(sw_tracker_t *t, const sw_pid_t *pid, const char *state,
                             size_t statelen);

/* Result terms, encoded into t->res (valid until the next one):
 * {ok, Pid} or {error, {already_registered, Pid}} (already); a pid whose
 * node is UINT32_MAX is written `undefined`; */
ei_x_buff *sw_tr_res_pid(sw_tracker_t *t, int already, const sw_pid_t *pid);
/* {error, Why} (why: SW_MSG_*). */
ei_x_buff *sw_tr_res_error(sw_tracker_t *t, enum sw_msg why);

/* Sends {Ref, Result} (res/reslen: the encoded Result) to the caller through
 * its BEAM node's C node ccbeam: the agent's replies when that is us, else
 * queued after everything already queued to that peer, so the caller's
 * replica shows the change before the caller learns of it. Dropped (and
 * logged) when that peer is not connected; ccbeam UINT32_MAX: nobody
 * waits. */
void sw_tr_reply_raw_via(sw_tracker_t *t, uint32_t ccbeam, const sw_pid_t *caller,
                         const char *ref, size_t rlen, const char *res, size_t reslen);
/* sw_tr_reply_raw_via with the Result atom `result`. */
void sw_tr_reply_via(sw_tracker_t *t, uint32_t ccbeam, const sw_pid_t *caller, const char *ref,
                     size_t rlen, enum sw_msg result);
/* sw_tr_reply_raw_via with the Result term in r. */
static inline void sw_tr_reply_res(sw_tracker_t *t, uint32_t ccbeam, const sw_pid_t *caller,
                                   const char *ref, size_t rlen, ei_x_buff *r) {
    sw_tr_reply_raw_via(t, ccbeam, caller, ref, rlen, r->buff, (size_t)r->index);
}

/* To peers (queued in their outboxes):
 * {add|del, NameBin, Pid, Counter, Origin[, MFA]} of e to every connected
 * peer; */
void sw_tr_broadcast(sw_tracker_t *t, enum sw_msg op, const sw_entry_t *e);
/* {claim, ...} for name -> pid to its home (mode: claim_mode_t); */
void sw_tr_send_claim(sw_tracker_t *t, sw_peer_t *home, uint32_t ccbeam, const sw_pid_t *caller,
                      const char *ref, size_t rlen, const char *name, size_t nlen,
                      const sw_pid_t *pid, const sw_stamp_t *s, const char *yes, size_t yeslen,
                      const char *no, size_t nolen, const char *mfa, size_t mfalen, int mode);
/* {claim_nack, NameBin, Counter, Origin}: the home refuses claim s; */
void sw_tr_send_claim_nack(sw_tracker_t *t, sw_peer_t *p, const char *name, size_t nlen,
                           const sw_stamp_t *s);
/* {lost, NameBin, Pid, Counter, Origin, Winner} to the home of pid, if
 * connected (else the conflict is seen again at the home's next sync);
 * handoff 1 adds a seventh element, handoff: pid was handed off to winner
 * (its state went with it), not a conflict's loser; */
void sw_tr_send_lost(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *pid,
                     const sw_stamp_t *s, const sw_pid_t *winner, int handoff);
/* {reg_req, NameBin, Pid, Caller, Ref[, retry]} to the owner o; */
void sw_tr_send_reg_req(sw_tracker_t *t, sw_peer_t *o, const char *name, size_t nlen,
                        const sw_pid_t *pid, const sw_pid_t *caller, const char *ref, size_t rlen,
                        int retry);
/* {reg_mfa_req, NameBin, MFA, register | whereis_or_register, Caller, Ref}
 * to the owner o; */
void sw_tr_send_reg_mfa_req(sw_tracker_t *t, sw_peer_t *o, const char *name, size_t nlen,
                            const char *mfa, size_t mfalen, int mode, const sw_pid_t *caller,
                            const char *ref, size_t rlen);
/* {unreg_req, NameBin, Caller, Ref} to the home; */
void sw_tr_send_unreg_req(sw_tracker_t *t, sw_peer_t *home, const char *name, size_t nlen,
                          const sw_pid_t *caller, const char *ref, size_t rlen);
/* {handoff_start, NameBin, Pid, Counter, Origin, MFA, State | none} of e to
 * its new owner p; */
void sw_tr_send_handoff_start(sw_tracker_t *t, sw_peer_t *p, const sw_entry_t *e,
                              const char *state, size_t statelen);
/* {handoff_failed, NameBin, OldPid} to p (old's home); */
void sw_tr_send_handoff_failed(sw_tracker_t *t, sw_peer_t *p, const char *name, size_t nlen,
                               const sw_pid_t *old);
/* {orphan, NameBin, Pid, Counter, Origin, MFABin} of e to p (the name's
 * owner); */
void sw_tr_send_orphan(sw_tracker_t *t, sw_peer_t *p, const sw_entry_t *e);
/* {leaving, yes | no} to p: whether this node is out of the placement; */
void sw_tr_send_leaving(sw_tracker_t *t, sw_peer_t *p);
/* {sync, [{NameBin, Pid, Counter, Origin[, MFA]}]} of our home entries. */
void sw_tr_send_sync(sw_tracker_t *t, sw_peer_t *p);

/* Decoders (0, or -1 when malformed): NameBin at *index without copying
 * (name points into buf; at most SW_MAX_NAME_BYTES); */
int sw_tr_dec_namebin(const char *buf, int *index, const char **name, long *len);
/* Counter, Origin (the origin interned); */
int sw_tr_dec_stamp(sw_tracker_t *t, const char *buf, int *index, sw_stamp_t *s);
/* a binary's bytes without copying (MFA and state blobs: opaque here); */
int sw_tr_dec_bin(const char *buf, int *index, const char **data, long *len);
/* a list of {NameBin, Pid} or {NameBin, Pid, MFA} (names), or of
 * {BeamAtom, CNodeAtom}, checked and skipped (the agent's hello). */
int sw_tr_check_pairs(sw_tracker_t *t, const char *buf, int *index, int names);

/* One op from peer `from`: decodes it and applies it (an sw_peer_op_cb; ud
 * is the tracker). Returns 0, or -1 when malformed or not allowed. */
int sw_tr_apply_op(void *ud, sw_peer_t *from, const char *buf, int *index);

/* ---- tracker_resolve.c: conflict losers' states for moving winners --- */

/* Local pid's begin_handoff answer came (moved_to: the peer it was sent
 * to with a handoff_start, or NULL: it stays): the states parked for it
 * follow it there, or are cast to it. */
void sw_tr_states_answered(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *pid,
                           sw_peer_t *moved_to);
/* Drops parked states older than HANDED_KEEP_MS (no answer came). */
void sw_tr_states_tick(sw_tracker_t *t);
/* {resolve_follow, ...} from old's home: for the new process of old's
 * handoff here (a start in progress), or the name's process here now. */
void sw_tr_apply_resolve_follow(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *old,
                                const char *state, size_t slen);
/* Appends a copy of the state to list (1), or 0 out of memory. */
int sw_tr_state_attach(sw_tracker_t *t, state_rec_t **list, const char *name, size_t nlen,
                       const sw_pid_t *old, const char *state, size_t slen);
/* Has every state of list cast to local pid `to' (resolve_cast ops). */
void sw_tr_states_cast(sw_tracker_t *t, state_rec_t *list, const sw_pid_t *to);
/* Frees a list of states. */
void sw_tr_states_free(state_rec_t *list);
/* (tracker_mfa.c) Attaches the state to the handoff start in progress
 * here for old's name: 1, or 0 when there is none. */
int sw_tr_start_attach_state(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *old,
                             const char *state, size_t slen);

#endif
