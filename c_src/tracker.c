/* tracker.c - the registry state machine: decisions, local requests,
 * replication between homes and peers, syncs, and the tracker's life
 * cycle. See tracker.h for the contract, README.md (Internals) for the
 * protocol, tracker_int.h for how the tracker's files divide the work.
 *
 * What it is: the logic of register_name/2, unregister_name and a pid's
 * death, here and at the name's owner and the pid's home; what a peer's
 * adds, dels, claims and syncs change here. What it is not: the messages'
 * encoding (tracker_wire.c), the view of the cluster and the ring
 * (tracker_members.c), MFA starts and handoffs (tracker_mfa.c), nor the
 * storage of entries (store.c).
 *
 * Why a home and an owner. The owner (ring) serialises decisions so that two
 * concurrent registrations of one name in a connected cluster get exactly one
 * yes. The home (node of the pid) is where the pid is monitored, so it is the
 * only node that can say an entry is still valid; making it the origin of
 * every add and delete of its entries means each peer sees them in order (one
 * FIFO connection), and a home's sync is authoritative for its pids: a peer
 * drops any entry of that home's pids the sync does not list. Homes never
 * move (a pid lives where it lives), so ring changes never move authority.
 *
 * Failure modes, stated plainly. (1) While two nodes disagree about the ring
 * (a node just joined, left or restarted; a restarted owner may also decide
 * before the syncs that hold a name reached it), two owners may both say yes
 * to one name; the two entries then meet at every node and the larger stamp
 * (ties: the larger pid) wins everywhere. A node that sees the conflict tells
 * the loser's home ({lost, ...}), and the home deletes the loser everywhere:
 * without that, the loser would live on at its home and come back with its
 * next sync after the winner is gone, at some nodes only. So the registry
 * still converges, but one of the two callers that got yes loses the name.
 * (2) A claim whose home never answers (its C node died) holds the name
 * reserved for CLAIM_TIMEOUT_MS; its caller gets no reply from us. (3) When
 * only a C node restarts, its BEAM node's entries stay valid on the peers;
 * the restarted node rebuilds its home entries from its agent's replica
 * (with fresh stamps: a home's stamp for its own entry always replaces the
 * peers' copy) and re-syncs, which also removes entries of processes that
 * died while it was down. (4) Once the agent reports a BEAM node down, its
 * C node is not listened to (what it still sends is ignored, a dial from it
 * is hung up) until the agent reports the node up again, so nothing brings
 * its purged names back. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "term.h"
#include "tracker_int.h"

/* ---- order of stamps --------------------------------------------------- */

static int stamp_cmp(const sw_tracker_t *t, const sw_stamp_t *a, const sw_stamp_t *b) {
    if (a->counter != b->counter) return a->counter < b->counter ? -1 : 1;
    if (a->origin == b->origin) return 0;
    return strcmp(sw_atoms_str(&t->atoms, a->origin), sw_atoms_str(&t->atoms, b->origin));
}

/* Orders two entries of one name with equal stamps (a restarted C node's
 * clock starts again from 0, so its stamps can repeat): by pid, so that the
 * order stays total and every node picks the same winner. */
static int pid_cmp(const sw_tracker_t *t, const sw_pid_t *a, const sw_pid_t *b) {
    if (a->node != b->node) return strcmp(sw_atoms_str(&t->atoms, a->node), sw_atoms_str(&t->atoms, b->node));
    if (a->num != b->num) return a->num < b->num ? -1 : 1;
    if (a->serial != b->serial) return a->serial < b->serial ? -1 : 1;
    if (a->creation != b->creation) return a->creation < b->creation ? -1 : 1;
    return 0;
}

/* ---- entries in and out (the agent's replica follows) ------------------ */

void sw_tr_entry_drop(sw_tracker_t *t, sw_entry_t *e, int tell_agent) {
    t->leave_check = 1; /* callers of leave may wait for this entry */
    if (e->reserved == SW_RES_START) sw_tr_start_detach(t, e);
    else if (!e->reserved && tell_agent) sw_tr_agent_op(t, SW_MSG_DEL, e);
    sw_store_drop(&t->store, e);
}

sw_entry_t *sw_tr_entry_commit(sw_tracker_t *t, const char *name, size_t len, uint64_t h,
                               const sw_pid_t *pid, const sw_stamp_t *s, const char *mfa,
                               size_t mfalen) {
    sw_entry_t *e = sw_entry_new(name, len, pid, s, mfa, mfalen);
    if (!e) return NULL;
    if (sw_store_commit(&t->store, e, h) != 0) {
        free(e);
        return NULL;
    }
    sw_tr_agent_op(t, SW_MSG_ADD, e);
    return e;
}

/* Turns a claim reservation into a committed entry. */
static void entry_confirm(sw_tracker_t *t, sw_entry_t *e) {
    sw_store_confirm(&t->store, e);
    sw_tr_agent_op(t, SW_MSG_ADD, e);
}

/* ---- decisions --------------------------------------------------------- */

void sw_tr_commit_or_claim(sw_tracker_t *t, uint32_t ccbeam, const sw_pid_t *caller,
                           const char *ref, size_t rlen, const char *name, size_t nlen,
                           uint64_t h, const sw_pid_t *pid, const sw_stamp_t *s, const char *yes,
                           size_t yeslen, const char *no, size_t nolen, const char *mfa,
                           size_t mfalen, int retry) {
    sw_entry_t *e;
    if (pid->node == t->self_beam) {
        e = sw_tr_entry_commit(t, name, nlen, h, pid, s, mfa, mfalen);
        if (!e) {
            sw_tr_reply_raw_via(t, ccbeam, caller, ref, rlen, no, nolen);
            return;
        }
        sw_tr_broadcast(t, SW_MSG_ADD, e);
        sw_tr_reply_raw_via(t, ccbeam, caller, ref, rlen, yes, yeslen);
        return;
    }
    sw_peer_t *home = sw_peers_by_beam(&t->peers, pid->node);
    if (!home || !home->conn_up) {
        /* A copy sent again must not say `no` while an earlier one may
         * have got the name: it waits for the next link change. */
        if (retry) return;
        SW_WARN("register_refused", "reason=pid_node_not_in_swarm pid_node=%s",
                sw_atoms_str(&t->atoms, pid->node));
        sw_tr_reply_raw_via(t, ccbeam, caller, ref, rlen, no, nolen);
        return;
    }
    e = sw_entry_new(name, nlen, pid, s, mfa, mfalen);
    if (!e || sw_store_reserve(&t->store, e, h, t->now + CLAIM_TIMEOUT_MS) != 0) {
        free(e);
        sw_tr_reply_raw_via(t, ccbeam, caller, ref, rlen, no, nolen);
        return;
    }
    sw_tr_send_claim(t, home, ccbeam, caller, ref, rlen, name, nlen, pid, s, yes, yeslen, no,
                     nolen, mfa, mfalen, retry ? CLAIM_RETRY : CLAIM_NEW);
}

/* A copy of a register request found the name taken here (entry e): asks
 * pid's home (claim mode CLAIM_CONFIRM or CLAIM_CHECK), which alone knows
 * whether an earlier copy won there; no answer while that home is away
 * (the caller sends another copy at the next link change). If this node is
 * pid's home, e is the truth: answered here (for CONFIRM the add went to
 * the caller's node before, on the same connection). */
static void ask_home(sw_tracker_t *t, uint32_t ccbeam, const sw_pid_t *caller, const char *ref,
                     size_t rlen, const char *name, size_t nlen, const sw_pid_t *pid,
                     const sw_entry_t *e, int mode) {
    if (pid->node == t->self_beam) {
        sw_tr_reply_via(t, ccbeam, caller, ref, rlen, mode == CLAIM_CONFIRM ? SW_MSG_YES : SW_MSG_NO);
        return;
    }
    sw_peer_t *home = sw_peers_by_beam(&t->peers, pid->node);
    if (!home || !home->conn_up) return;
    size_t yl, nl;
    const char *yes = sw_proto_bytes(SW_MSG_YES, &yl), *no = sw_proto_bytes(SW_MSG_NO, &nl);
    sw_stamp_t es = sw_entry_stamp(e);
    sw_tr_send_claim(t, home, ccbeam, caller, ref, rlen, name, nlen, pid, &es, yes, yl, no, nl,
                     NULL, 0, mode);
}

void sw_tr_decide(sw_tracker_t *t, uint32_t ccbeam, const sw_pid_t *caller, const char *ref,
                  size_t rlen, const char *name, size_t nlen, const sw_pid_t *pid, int retry) {
    uint64_t h = sw_name_hash(name, nlen);
    sw_entry_t *e = sw_store_find(&t->store, name, nlen, h);
    if (e) {
        int same = memcmp(&e->pid, pid, sizeof *pid) == 0;
        /* Taken for that pid (an earlier copy won: the home confirms, so
         * the yes follows the add to the caller's node), or for another
         * (this view may be stale while an earlier copy won: the home is
         * asked). Reserved for that pid: an earlier copy's claim is on its
         * way to the home, whose reply may have been lost with a link; the
         * question follows the claim on the same connection, so the home
         * answers it from the claim's outcome. */
        if (retry)
            ask_home(t, ccbeam, caller, ref, rlen, name, nlen, pid, e,
                     same && !e->reserved ? CLAIM_CONFIRM : CLAIM_CHECK);
        else sw_tr_reply_via(t, ccbeam, caller, ref, rlen, SW_MSG_NO);
        return;
    }
    sw_stamp_t s = {++t->clock, t->self_beam};
    size_t yl, nl;
    const char *yes = sw_proto_bytes(SW_MSG_YES, &yl), *no = sw_proto_bytes(SW_MSG_NO, &nl);
    sw_tr_commit_or_claim(t, ccbeam, caller, ref, rlen, name, nlen, h, pid, &s, yes, yl, no, nl,
                          NULL, 0, retry);
}

/* ---- local requests: register, unregister, a pid's death --------------- */

void sw_tracker_register(sw_tracker_t *t, const erlang_pid *caller, const char *ref, size_t rlen,
                         const char *name, size_t nlen, const erlang_pid *pid, int retry) {
    sw_pid_t c, p;
    if (sw_pid_compact(&t->atoms, caller, &c) != 0) return;
    if (sw_pid_compact(&t->atoms, pid, &p) != 0) {
        /* A pid of a node this C node has never heard of (refused by the
         * guard on direct requests): not a node of the swarm. */
        sw_tr_reply_via(t, c.node, &c, ref, rlen, SW_MSG_NO);
        return;
    }
    uint32_t owner = sw_tr_owner_of(t, name, nlen);
    if (owner == SW_ATOM_NONE) {
        /* A host connected to no swarm node: nobody may decide (a host
         * deciding alone could say yes to a name a swarm node holds). */
        sw_tr_reply_res(t, c.node, &c, ref, rlen, sw_tr_res_error(t, SW_MSG_NO_NODE_AVAILABLE));
        return;
    }
    if (c.node != t->self_beam) {
        /* A caller on another node sent its request straight here, taking
         * this node for the owner (its ring, from its own C node): decide,
         * with the reply going through the caller's C node (after the
         * entry, when its pid lives there). */
        sw_tr_decide(t, c.node, &c, ref, rlen, name, nlen, &p, retry);
        return;
    }
    if (owner == t->self_beam) {
        sw_tr_decide(t, t->self_beam, &c, ref, rlen, name, nlen, &p, retry);
        return;
    }
    sw_tr_send_reg_req(t, sw_peers_by_beam(&t->peers, owner), name, nlen, &p, &c, ref, rlen, retry);
}

void sw_tracker_set_optimistic(sw_tracker_t *t, int on) { t->optimistic = on != 0; }

void sw_tracker_register_opt(sw_tracker_t *t, const char *name, size_t nlen,
                             const erlang_pid *pid) {
    sw_pid_t p;
    if (sw_pid_compact(&t->atoms, pid, &p) != 0 || p.node != t->self_beam) return;
    uint64_t h = sw_name_hash(name, nlen);
    sw_entry_t *e = sw_store_find(&t->store, name, nlen, h);
    if (e && !e->reserved) {
        if (memcmp(&e->pid, &p, sizeof p) == 0) return;
        /* Known here first: the holder keeps it, the caller's yes loses. */
        t->st.opt_refused++;
        sw_tr_agent_drop(t, name, nlen, &p);
        sw_tr_agent_die(t, &p);
        return;
    }
    /* A pending decision (a claim, an MFA start) gives way to a committed
     * entry, as when a peer's add meets it. */
    if (e) sw_tr_entry_drop(t, e, 0);
    sw_stamp_t s = {++t->clock, t->self_beam};
    e = sw_tr_entry_commit(t, name, nlen, h, &p, &s, NULL, 0);
    if (!e) { /* out of memory: the caller's yes cannot stand */
        sw_tr_agent_drop(t, name, nlen, &p);
        sw_tr_agent_die(t, &p);
        return;
    }
    t->st.opt_commits++;
    sw_tr_broadcast(t, SW_MSG_ADD, e);
}

void sw_tr_unregister_at_home(sw_tracker_t *t, uint32_t ccbeam, const sw_pid_t *caller,
                              const char *ref, size_t rlen, const char *name, size_t nlen) {
    sw_entry_t *e = sw_store_find(&t->store, name, nlen, sw_name_hash(name, nlen));
    if (e && !e->reserved && e->pid.node == t->self_beam) {
        sw_tr_broadcast(t, SW_MSG_DEL, e);
        sw_tr_entry_drop(t, e, 1);
    }
    sw_tr_reply_via(t, ccbeam, caller, ref, rlen, SW_MSG_OK);
}

void sw_tracker_unregister(sw_tracker_t *t, const erlang_pid *caller, const char *ref, size_t rlen,
                           const char *name, size_t nlen) {
    sw_pid_t c;
    if (sw_pid_compact(&t->atoms, caller, &c) != 0) return;
    sw_entry_t *e = sw_store_find(&t->store, name, nlen, sw_name_hash(name, nlen));
    if (!e || e->reserved || e->pid.node == t->self_beam) {
        sw_tr_unregister_at_home(t, t->self_beam, &c, ref, rlen, name, nlen);
        return;
    }
    sw_peer_t *home = sw_peers_by_beam(&t->peers, e->pid.node);
    if (!home || !home->conn_up) {
        /* The home's C node is away (a link blip, a restart): nobody can
         * remove the entry now, and `ok` would be a lie. No answer: the
         * caller sends its request again when a link comes back ({links}
         * to the agent), or exits with a timeout after call_timeout. (A
         * home whose BEAM node goes down takes its names with it.) */
        t->st.unreg_waits++;
        SW_DEBUG("unregister_waits", "reason=home_unreachable home=%s",
                 sw_atoms_str(&t->atoms, e->pid.node));
        return;
    }
    sw_tr_send_unreg_req(t, home, name, nlen, &c, ref, rlen);
}

void sw_tracker_pid_down(sw_tracker_t *t, const erlang_pid *pid) { sw_tracker_pid_exit(t, pid, 0); }

void sw_tr_purge_node(sw_tracker_t *t, uint32_t beam) {
    sw_store_t *s = &t->store;
    for (size_t i = 0; i < sw_store_slots_pids(s); i++) {
        const sw_pidnames_t *pn;
        /* The slot keeps the pid's item until its last entry is gone. */
        while ((pn = sw_store_pid_at(s, i)) != NULL && sw_pidnames_at(pn, 0)->pid.node == beam)
            sw_tr_entry_drop(t, sw_pidnames_at(pn, sw_pidnames_count(pn) - 1), 1);
    }
    for (sw_entry_t *e = sw_store_resv_oldest(s), *next; e; e = next) {
        next = sw_store_resv_next(s, e);
        if (e->pid.node == beam) sw_tr_entry_drop(t, e, 0);
    }
}

/* ---- replication ops from peers ---------------------------------------- */

/* A conflict's one line for users, written by the loser's home (which
 * removes the loser everywhere: once per conflict in the cluster). */
static void log_conflict(sw_tracker_t *t, const sw_entry_t *loser, const sw_pid_t *winner) {
    if (!sw_log_enabled(SW_LOG_INFO)) return;
    char name[256];
    SW_INFO("name_conflict", "winner=<%u.%u> on %s loser=<%u.%u> on %s name=%s", winner->num,
            winner->serial, sw_atoms_str(&t->atoms, winner->node), loser->pid.num,
            loser->pid.serial, sw_atoms_str(&t->atoms, loser->pid.node),
            sw_term_snprint(name, sizeof name, loser->name, loser->nlen));
}

void sw_tr_apply_add(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *pid,
                     const sw_stamp_t *s, const char *mfa, size_t mfalen) {
    sw_tr_clock_see(t, s->counter);
    sw_peer_t *home = sw_peers_by_beam(&t->peers, pid->node);
    if (pid->node != t->self_beam && home && !home->agent_up && home->beam != UINT32_MAX &&
        !home->conn_up) {
        /* Its node is known down: a late add must not resurrect it (nor
         * displace what we hold). */
        return;
    }
    uint64_t h = sw_name_hash(name, nlen);
    sw_entry_t *e = sw_store_find(&t->store, name, nlen, h);
    if (e) {
        if (memcmp(&e->pid, pid, sizeof *pid) == 0) {
            /* The same registration. Only the home originates adds of its
             * pids, in its connection's order, so its stamp is the current
             * one: take it. It differs from ours when the home's C node
             * restarted and re-stamped its entries (keeping ours would make
             * its later del, which carries the new stamp, miss), or when the
             * home had the entry before our reservation's claim reached it
             * (the claim will be refused; the entry stands). */
            e->counter = s->counter;
            e->origin = s->origin;
            if (e->reserved) entry_confirm(t, e);
            return;
        }
        if (e->reserved) {
            /* A reservation is only a pending decision: a committed entry
             * replaces it whatever the stamps. (Kept, it would hide the
             * entry here for good if its claim is then refused.) If the
             * claim still succeeds, its add meets this entry and the stamps
             * decide. */
            sw_tr_entry_drop(t, e, 0);
        } else {
            /* A conflict: two owners said yes while their views differed.
             * The larger stamp wins here, as everywhere. The loser must go
             * at its home too, or it would stay there (and come back here
             * with the home's next sync) after the winner is gone, while the
             * nodes that saw the conflict dropped it: its home removes it and
             * tells everyone (a del). */
            sw_stamp_t es = sw_entry_stamp(e);
            int c = stamp_cmp(t, s, &es);
            if (c == 0) c = pid_cmp(t, pid, &e->pid);
            t->st.conflicts++;
            if (c < 0) {
                /* (A handoff's old pid, still at a home that did not hear
                 * of the end, e.g. after its C node restarted.) */
                sw_tr_send_lost(t, name, nlen, pid, s, &e->pid, sw_tr_handed_is(t, name, nlen, pid, &e->pid));
                return;
            }
            if (e->pid.node == t->self_beam) {
                log_conflict(t, e, pid);
                sw_tr_broadcast(t, SW_MSG_DEL, e);
                sw_tr_loser_told(t, e, pid, 0);
            } else {
                sw_tr_send_lost(t, e->name, e->nlen, &e->pid, &es, pid, 0);
            }
            sw_tr_entry_drop(t, e, 1);
        }
    }
    sw_tr_entry_commit(t, name, nlen, h, pid, s, mfa, mfalen);
}

void sw_tr_apply_del(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *pid,
                     const sw_stamp_t *s) {
    sw_entry_t *e = sw_store_find(&t->store, name, nlen, sw_name_hash(name, nlen));
    sw_stamp_t es = e ? sw_entry_stamp(e) : *s;
    if (e && !e->reserved && memcmp(&e->pid, pid, sizeof *pid) == 0 && stamp_cmp(t, s, &es) == 0)
        sw_tr_entry_drop(t, e, 1);
    else sw_tr_handed_del(t, name, nlen, pid);
}

void sw_tr_apply_lost(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *pid,
                      const sw_stamp_t *s, const sw_pid_t *winner, int handoff) {
    sw_entry_t *e = sw_store_find(&t->store, name, nlen, sw_name_hash(name, nlen));
    sw_stamp_t es = e ? sw_entry_stamp(e) : *s;
    /* A handoff's end names the old pid, which is never registered again
     * under that name: its stamp may differ (this C node restarted and
     * re-stamped its entries since). */
    if (e && !e->reserved && e->pid.node == t->self_beam && memcmp(&e->pid, pid, sizeof *pid) == 0 &&
        (handoff || stamp_cmp(t, s, &es) == 0)) {
        log_conflict(t, e, winner);
        sw_tr_broadcast(t, SW_MSG_DEL, e);
        sw_tr_loser_told(t, e, winner, handoff);
        sw_tr_entry_drop(t, e, 1);
    } else if (handoff && pid->node == t->self_beam) {
        sw_tr_moves_handed(t, name, nlen, pid);
    }
}

/* yes/no: the Result terms to send the caller. */
void sw_tr_apply_claim(sw_tracker_t *t, sw_peer_t *from, const char *name, size_t nlen,
                       const sw_pid_t *pid, const sw_stamp_t *s, uint32_t ccbeam,
                       const sw_pid_t *caller, const char *ref, size_t rlen, const char *yes,
                       size_t yeslen, const char *no, size_t nolen, const char *mfa,
                       size_t mfalen, int mode) {
    sw_tr_clock_see(t, s->counter);
    uint64_t h = sw_name_hash(name, nlen);
    sw_entry_t *e = sw_store_find(&t->store, name, nlen, h);
    int ours = e && !e->reserved && memcmp(&e->pid, pid, sizeof *pid) == 0;
    if (e || pid->node != t->self_beam || mode == CLAIM_CONFIRM || mode == CLAIM_CHECK) {
        /* Taken, not ours to commit, or only a question (see
         * claim_mode_t). A copy whose earlier copy committed here (its
         * reply was lost) is answered yes: the name is that pid's. */
        ours = ours && mode != CLAIM_NEW;
        /* The owner reserved the name for a claim that commits (new or
         * retry): release it. A question reserved nothing. */
        if (mode == CLAIM_NEW || mode == CLAIM_RETRY) sw_tr_send_claim_nack(t, from, name, nlen, s);
        if (ours) sw_tr_reply_raw_via(t, ccbeam, caller, ref, rlen, yes, yeslen);
        else if (mode != CLAIM_CONFIRM) sw_tr_reply_raw_via(t, ccbeam, caller, ref, rlen, no, nolen);
        return;
    }
    e = sw_tr_entry_commit(t, name, nlen, h, pid, s, mfa, mfalen);
    if (!e) {
        sw_tr_reply_raw_via(t, ccbeam, caller, ref, rlen, no, nolen);
        return;
    }
    sw_tr_broadcast(t, SW_MSG_ADD, e);
    sw_tr_reply_raw_via(t, ccbeam, caller, ref, rlen, yes, yeslen);
}

void sw_tr_apply_claim_nack(sw_tracker_t *t, const char *name, size_t nlen, const sw_stamp_t *s) {
    sw_entry_t *e = sw_store_find(&t->store, name, nlen, sw_name_hash(name, nlen));
    sw_stamp_t es = e ? sw_entry_stamp(e) : *s;
    if (e && e->reserved && stamp_cmp(t, s, &es) == 0) sw_tr_entry_drop(t, e, 0);
}

int sw_tracker_peer_ops(sw_tracker_t *t, const char *cnode, const char *buf, int *index) {
    /* A connection the agent has not told us about becomes a peer only by
     * a first hello that names the BEAM node its name implies; any other
     * node (a remote shell, an rpc script) is sent nothing and leaves
     * nothing behind. */
    int greet;
    sw_peer_t *p = sw_peers_for_ops(&t->peers, &t->atoms, cnode, buf, *index, &greet);
    if (!p) {
        t->st.stranger_ops++;
        SW_WARN("ops_from_stranger", "from=%s", cnode);
        return 1;
    }
    if (greet) sw_tr_conn_open(t, p);
    if (!p->conn_up) return 1;
    int skipped = sw_peer_ops_guarded(p, &t->atoms, cnode, buf, index, sw_tr_apply_op, t,
                                      &t->st.bad_ops, "bad_op");
    sw_tr_members_apply_pending(t);
    return skipped;
}

/* ---- sync -------------------------------------------------------------- */

int sw_tr_apply_sync(sw_tracker_t *t, sw_peer_t *from, const char *buf, int *index) {
    int arity, type, size;
    if (ei_get_type(buf, index, &type, &size) != 0) return -1;
    /* First pass: validate. */
    int start = *index;
    if (type == ERL_NIL_EXT) {
        sw_term_skip(buf, index);
    } else {
        if (ei_decode_list_header(buf, index, &arity) != 0) return -1;
        for (int i = 0; i < arity; i++) {
            const char *name;
            long nlen;
            sw_pid_t pid;
            sw_stamp_t s;
            int tup;
            const char *mfa;
            long mfalen;
            if (ei_decode_tuple_header(buf, index, &tup) != 0 || (tup != 4 && tup != 5)) return -1;
            if (sw_tr_dec_namebin(buf, index, &name, &nlen) != 0) return -1;
            if (sw_pid_dec(&t->atoms, buf, index, &pid) != 0 || sw_tr_dec_stamp(t, buf, index, &s) != 0)
                return -1;
            if (tup == 5 && sw_tr_dec_bin(buf, index, &mfa, &mfalen) != 0) return -1;
            if (pid.node != from->beam) return -1;
        }
        if (ei_get_type(buf, index, &type, &size) != 0 || type != ERL_NIL_EXT) return -1;
        sw_term_skip(buf, index);
    }
    /* Drop what we hold for that node's pids and is not in the sync: build
     * the set of listed names in a temporary table. */
    sw_htab_t listed;
    sw_htab_init(&listed);
    int i2 = start;
    int n = 0;
    if (ei_decode_list_header(buf, &i2, &arity) == 0) n = arity;
    else arity = 0;
    sw_entry_t **tmp = n ? malloc((size_t)n * sizeof *tmp) : NULL;
    int ntmp = 0;
    for (int k = 0; k < n; k++) {
        /* (validated by the first pass: these decodes succeed) */
        const char *name = NULL;
        long nlen = 0;
        int tup;
        sw_pid_t pid;
        sw_stamp_t s;
        const char *mfa = NULL;
        long mfalen = 0;
        ei_decode_tuple_header(buf, &i2, &tup);
        sw_tr_dec_namebin(buf, &i2, &name, &nlen);
        sw_pid_dec(&t->atoms, buf, &i2, &pid);
        sw_tr_dec_stamp(t, buf, &i2, &s);
        if (tup == 5) sw_tr_dec_bin(buf, &i2, &mfa, &mfalen);
        if (tmp) {
            sw_entry_t *x = sw_entry_new(name, (size_t)nlen, &pid, &s, mfa, (size_t)mfalen);
            if (x && sw_htab_insert(&listed, sw_entry_hash(x), x) == 0) tmp[ntmp++] = x;
            else free(x);
        }
    }
    const sw_store_t *st = &t->store;
    for (size_t i = 0; i < sw_store_slots_pids(st); i++) {
        const sw_pidnames_t *pn = sw_store_pid_at(st, i);
        if (!pn || sw_pidnames_at(pn, 0)->pid.node != from->beam) continue;
        /* Last entry first: dropping entry k moves the last one (already
         * seen) into k and leaves 0..k-1 in place; the slot keeps the
         * pid's item until its last entry is gone. */
        for (uint32_t k = sw_pidnames_count(pn); k-- > 0;) {
            sw_entry_t *e = sw_pidnames_at(pn, k);
            /* Kept only if the home lists that name for that very pid: an
             * entry of its pids under a name it now lists for another of
             * its pids is stale too (it re-registered the name while our
             * copy's del went missing, e.g. across its C node's restart). */
            sw_namekey_t nk = {e->name, e->nlen};
            sw_entry_t *l = sw_htab_find(&listed, sw_entry_hash(e), &nk, sw_entry_eq);
            if (!l || memcmp(&l->pid, &e->pid, sizeof e->pid) != 0) {
                sw_tr_entry_drop(t, e, 1);
                if (!(pn = sw_store_pid_at(st, i))) break;
            }
        }
    }
    for (int k = 0; k < ntmp; k++) {
        sw_entry_t *x = tmp[k];
        sw_stamp_t xs = sw_entry_stamp(x);
        sw_tr_apply_add(t, x->name, x->nlen, &x->pid, &xs, sw_entry_mfa(x), sw_entry_mfalen(x));
        free(x);
    }
    free(tmp);
    sw_htab_close(&listed);
    /* What it took of ours it said before its sync (sw_tr_handed_greet). */
    sw_tr_moves_synced(t, from->beam, 0);
    sw_proto_sync_peer_synced(&t->sync, &t->peers, from);
    return 0;
}

/* ---- life cycle, time -------------------------------------------------- */

sw_tracker_t *sw_tracker_new(const char *beam, const char *cnode, const sw_tracker_env_t *env,
                             void *ud) {
    sw_tracker_t *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    sw_atoms_init(&t->atoms);
    sw_store_init(&t->store);
    t->env = env;
    t->ud = ud;
    t->self_beam = sw_atoms_intern(&t->atoms, beam);
    t->self_cnode = sw_atoms_intern(&t->atoms, cnode);
    if (t->self_beam == UINT32_MAX || t->self_cnode == UINT32_MAX) {
        sw_tracker_free(t);
        return NULL;
    }
    sw_outbox_init(&t->agent_ops);
    sw_outbox_init(&t->agent_replies);
    ei_x_new(&t->scratch);
    ei_x_new(&t->res);
    ei_x_new(&t->members_in);
    sw_htab_init(&t->starts);
    sw_htab_init(&t->restarts);
    sw_htab_init(&t->handed);
    t->restart_intensity = 3;
    t->restart_period = 5000;
    sw_ring_init(&t->ring, 0);
    /* The first ring (this node alone) is the baseline: any member that
     * comes later is a newcomer (handoff_scan). */
    sw_tr_ring_rebuild(t);
    t->handoff_due = 0;
    t->handoff_backoff = HANDOFF_RETRY_MS;
    return t;
}

void sw_tracker_free(sw_tracker_t *t) {
    if (!t) return;
    sw_store_close(&t->store);
    free(t->ring_was);
    free(t->ring_ever);
    sw_peers_close(&t->peers);
    sw_outbox_free(&t->agent_ops);
    sw_outbox_free(&t->agent_replies);
    if (t->scratch.buff) ei_x_free(&t->scratch);
    if (t->res.buff) ei_x_free(&t->res);
    if (t->members_in.buff) ei_x_free(&t->members_in);
    sw_tr_starts_free(t);
    sw_tr_moves_free(t);
    sw_tr_handed_free(t);
    sw_tr_states_free(t->parked);
    t->parked = NULL;
    sw_tr_restarts_free(t);
    sw_htab_close(&t->restarts);
    sw_tr_orphans_free(t);
    sw_tr_leave_free(t);
    sw_ring_close(&t->ring);
    sw_atoms_close(&t->atoms);
    free(t);
}

void sw_tracker_tick(sw_tracker_t *t, uint64_t now_ms) {
    t->now = now_ms;
    sw_entry_t *e;
    while ((e = sw_store_resv_expired(&t->store, now_ms)) != NULL) {
        t->st.expired++;
        sw_tr_entry_drop(t, e, 0);
    }
    sw_proto_sync_tick(&t->sync, &t->peers, now_ms, "sync_timeout");
    if (now_ms - t->last_redial >= REDIAL_MS) {
        t->last_redial = now_ms;
        for (uint32_t i = 0; i < t->peers.n; i++) sw_tr_dial_if_ours(t, &t->peers.v[i]);
    }
    if (t->ring_dirty) sw_tr_ring_rebuild(t);
    sw_tr_restarts_tick(t);
    sw_tr_handed_tick(t);
    sw_tr_moves_tick(t);
    sw_tr_states_tick(t);
    if (t->norph) sw_tr_orphans_check(t);
    sw_tr_handoff_due(t);
}

void sw_tr_handoff_due(sw_tracker_t *t) {
    if (t->handoff_retry && t->now >= t->handoff_retry_at && !t->handoff_due) {
        t->handoff_retry = 0;
        t->handoff_due = 1;
        t->handoff_only_failed = 1;
        t->handoff_at = t->now;
    }
    if (!t->handoff_due || t->now < t->handoff_at || !t->sync.synced) return;
    t->handoff_due = 0;
    t->handoff_waits_agents = 0;
    t->leave_check = 1;
    int only_failed = t->handoff_only_failed;
    t->handoff_only_failed = 0;
    if (sw_tr_handoff_scan(t, only_failed) > 0) {
        /* Some new owners' agents are not reported up yet: again at a
         * later tick, or as soon as one is (sw_tracker_peer_up). */
        t->handoff_due = 1;
        t->handoff_waits_agents = 1;
        t->handoff_at = t->now + HANDOFF_DELAY_MS;
    }
}

int sw_tracker_synced(const sw_tracker_t *t) { return t->sync.synced; }

int sw_tracker_retry_pending(const sw_tracker_t *t) { return t->handoff_retry; }

void sw_tracker_guard_atoms(sw_tracker_t *t, int on) { sw_atoms_guard(&t->atoms, on); }

void sw_tracker_stats(const sw_tracker_t *t, sw_tracker_stats_t *out) {
    *out = t->st;
    out->names = t->store.committed;
    out->reserved = t->store.reserved;
    out->pids = t->store.pids_n;
    out->atoms_refused = t->atoms.refused;
    out->members = t->host ? 0 : 1;
    for (uint32_t i = 0; i < t->peers.n; i++) {
        const sw_peer_t *p = &t->peers.v[i];
        if (p->conn_up && !p->down && !p->host && p->beam != UINT32_MAX) out->members++;
    }
}

int sw_tracker_lookup(sw_tracker_t *t, const char *name, size_t nlen, erlang_pid *pid_out) {
    sw_entry_t *e = sw_store_find(&t->store, name, nlen, sw_name_hash(name, nlen));
    if (!e || e->reserved) return 0;
    if (pid_out) {
        memset(pid_out, 0, sizeof *pid_out);
        sw_pid_expand(&t->atoms, &e->pid, pid_out);
    }
    return 1;
}
