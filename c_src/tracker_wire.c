/* tracker_wire.c - the tracker's messages: every term it writes, and the
 * decoding of what peers send it.
 *
 * What it is: the encoders of the tracker's messages, queued in the
 * outboxes (ops to peer C nodes; ops and replies to the local agent), the
 * envelopes sw_tracker_flush() wraps around them, the decoders of the
 * fields they share, and the decoding of a peer's op list, each op handed
 * to the state machine as plain values (sw_tr_apply_op).
 * What it is not: a place that decides. Which message goes where, and what
 * a received op changes, is tracker.c's (and tracker_mfa.c's) business;
 * the agent's own messages are decoded by dist.c. The protocol is described
 * in README.md, Internals. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "swarm_proto.h"
#include "term.h"
#include "tracker_int.h"

/* ---- to the agent ------------------------------------------------------ */

void sw_tr_agent_op(sw_tracker_t *t, enum sw_msg op, const sw_entry_t *e) {
    ei_x_buff *x = &t->agent_ops.body;
    /* A local register_name/4,5 entry carries its MFA to the agent, which
     * keeps it (swarm_mfa) for the hello of a restarted C node: without
     * it, a re-adopted entry could not be restarted elsewhere nor handed
     * off. {add, Name, Pid, MFABin}; its del: {del, Name, Pid, mfa}. Name
     * is spliced as a term. */
    int mfa = e->has_mfa && e->pid.node == t->self_beam;
    ei_x_encode_tuple_header(x, mfa ? 4 : 3);
    sw_proto_encode(x, op);
    ei_x_append_buf(x, e->name + 1, (int)e->nlen - 1);
    sw_pid_enc(x, &t->atoms, &e->pid);
    if (mfa && op == SW_MSG_ADD) ei_x_encode_binary(x, sw_entry_mfa(e), (int)sw_entry_mfalen(e));
    else if (mfa) sw_proto_encode(x, SW_MSG_MFA);
    t->agent_ops.count++;
}

/* The process lost its name in a conflict (two owners started it while
 * their views of the cluster differed): the agent sends it {swarm, die}, as
 * Swarm asks the copies of a name that live where they do not belong to
 * shut down. */
void sw_tr_agent_die(sw_tracker_t *t, const sw_pid_t *pid) {
    ei_x_buff *x = &t->agent_ops.body;
    ei_x_encode_tuple_header(x, 2);
    sw_proto_encode(x, SW_MSG_DIE);
    sw_pid_enc(x, &t->atoms, pid);
    t->agent_ops.count++;
    t->st.told_to_die++;
}

/* Handed off (e->moving, or handoff: the new owner said so), the loser
 * just dies: its state went with the handoff. Otherwise, as in Swarm when
 * a partition heals, the agent asks it {swarm, begin_handoff} and, on
 * {resume, State}, casts {swarm, resolve_conflict, State} to the winner;
 * then it sends the loser {swarm, die}. */
void sw_tr_agent_loser(sw_tracker_t *t, const sw_entry_t *e, const sw_pid_t *winner,
                       int handoff) {
    if (e->dead) return; /* its process exited: nobody to tell */
    if (e->moving || handoff || !winner) {
        sw_tr_agent_die(t, &e->pid);
        return;
    }
    if (sw_tr_moves_defer(t, e, winner)) return;
    sw_tr_agent_resolve(t, &e->pid, winner, e->name, e->nlen);
}

void sw_tr_loser_told(sw_tracker_t *t, const sw_entry_t *e, const sw_pid_t *winner, int handoff) {
    if (e->has_mfa) sw_tr_agent_loser(t, e, winner, handoff);
    else if (t->optimistic) sw_tr_agent_die(t, &e->pid);
}

void sw_tr_agent_drop(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *pid) {
    ei_x_buff *x = &t->agent_ops.body;
    ei_x_encode_tuple_header(x, 3);
    sw_proto_encode(x, SW_MSG_DROP);
    ei_x_append_buf(x, name + 1, (int)nlen - 1); /* the term, without its version byte */
    sw_pid_enc(x, &t->atoms, pid);
    t->agent_ops.count++;
}

void sw_tr_agent_resolve(sw_tracker_t *t, const sw_pid_t *pid, const sw_pid_t *winner,
                         const char *name, size_t nlen) {
    ei_x_buff *x = &t->agent_ops.body;
    ei_x_encode_tuple_header(x, 4);
    sw_proto_encode(x, SW_MSG_RESOLVE);
    sw_pid_enc(x, &t->atoms, pid);
    sw_pid_enc(x, &t->atoms, winner);
    ei_x_encode_binary(x, name, (int)nlen);
    t->agent_ops.count++;
    t->st.told_to_die++;
}

void sw_tr_agent_resolve_cast(sw_tracker_t *t, const sw_pid_t *pid, const char *state,
                              size_t slen) {
    ei_x_buff *x = &t->agent_ops.body;
    ei_x_encode_tuple_header(x, 3);
    sw_proto_encode(x, SW_MSG_RESOLVE_CAST);
    sw_pid_enc(x, &t->atoms, pid);
    ei_x_encode_binary(x, state, (int)slen);
    t->agent_ops.count++;
}

void sw_tr_send_resolve_follow(sw_tracker_t *t, sw_peer_t *p, const char *name, size_t nlen,
                               const sw_pid_t *old, const char *state, size_t slen) {
    ei_x_buff *x = &p->out.body;
    ei_x_encode_tuple_header(x, 4);
    sw_proto_encode(x, SW_MSG_RESOLVE_FOLLOW);
    ei_x_encode_binary(x, name, (int)nlen);
    sw_pid_enc(x, &t->atoms, old);
    ei_x_encode_binary(x, state, (int)slen);
    p->out.count++;
}

/* The agent answers {'$sw1', started, [{Id, Pid | undefined, Result}]}. */
void sw_tr_agent_start(sw_tracker_t *t, uint64_t id, const char *mfa, size_t mfalen) {
    ei_x_buff *x = &t->agent_ops.body;
    ei_x_encode_tuple_header(x, 3);
    sw_proto_encode(x, SW_MSG_START);
    ei_x_encode_ulonglong(x, id);
    ei_x_encode_binary(x, mfa, (int)mfalen);
    t->agent_ops.count++;
}

void sw_tr_agent_handoff(sw_tracker_t *t, const sw_entry_t *e) {
    ei_x_buff *x = &t->agent_ops.body;
    ei_x_encode_tuple_header(x, 3);
    sw_proto_encode(x, SW_MSG_HANDOFF);
    ei_x_encode_binary(x, e->name, (int)e->nlen);
    sw_pid_enc(x, &t->atoms, &e->pid);
    t->agent_ops.count++;
}

void sw_tr_agent_end_handoff(sw_tracker_t *t, const sw_pid_t *pid, const char *state,
                             size_t statelen) {
    ei_x_buff *x = &t->agent_ops.body;
    ei_x_encode_tuple_header(x, 3);
    sw_proto_encode(x, SW_MSG_END_HANDOFF);
    sw_pid_enc(x, &t->atoms, pid);
    ei_x_encode_binary(x, state, (int)statelen);
    t->agent_ops.count++;
}

/* ---- replies to callers ------------------------------------------------ */

ei_x_buff *sw_tr_res_pid(sw_tracker_t *t, int already, const sw_pid_t *pid) {
    ei_x_buff *x = &t->res;
    x->index = 0;
    ei_x_encode_tuple_header(x, 2);
    if (already) {
        sw_proto_encode(x, SW_MSG_ERROR);
        ei_x_encode_tuple_header(x, 2);
        sw_proto_encode(x, SW_MSG_ALREADY_REGISTERED);
    } else {
        sw_proto_encode(x, SW_MSG_OK);
    }
    if (pid->node == UINT32_MAX) sw_proto_encode(x, SW_MSG_UNDEFINED);
    else sw_pid_enc(x, &t->atoms, pid);
    return x;
}

ei_x_buff *sw_tr_res_error(sw_tracker_t *t, enum sw_msg why) {
    ei_x_buff *x = &t->res;
    x->index = 0;
    ei_x_encode_tuple_header(x, 2);
    sw_proto_encode(x, SW_MSG_ERROR);
    sw_proto_encode(x, why);
    return x;
}

void sw_tr_reply_raw_via(sw_tracker_t *t, uint32_t ccbeam, const sw_pid_t *caller,
                         const char *ref, size_t rlen, const char *res, size_t reslen) {
    if (ccbeam == UINT32_MAX) return; /* nobody waits (a restart) */
    /* {Caller, Ref, Result} to the agent, or {reply, Caller, Ref, Result}
     * that the caller's C node passes on. */
    ei_x_buff *x = sw_proto_reply_begin(&t->peers, &t->atoms, t->self_beam, ccbeam,
                                        &t->agent_replies, "reply_dropped");
    if (!x) return;
    sw_pid_enc(x, &t->atoms, caller);
    ei_x_append_buf(x, ref, (int)rlen);
    ei_x_append_buf(x, res, (int)reslen);
}

void sw_tr_reply_via(sw_tracker_t *t, uint32_t ccbeam, const sw_pid_t *caller, const char *ref,
                     size_t rlen, enum sw_msg result) {
    t->res.index = 0;
    sw_proto_encode(&t->res, result);
    sw_tr_reply_raw_via(t, ccbeam, caller, ref, rlen, t->res.buff, (size_t)t->res.index);
}

/* ---- to peers ---------------------------------------------------------- */

/* {add|del, NameBin, Pid, Counter, Origin} (op: SW_MSG_ADD or SW_MSG_DEL); an add of
 * an MFA entry carries a sixth element, the MFA bytes, so that any node can
 * restart it. */
static void enc_entry_op(sw_tracker_t *t, ei_x_buff *x, enum sw_msg op, const sw_entry_t *e) {
    uint32_t mfalen = sw_entry_mfalen(e);
    int with_mfa = mfalen && op == SW_MSG_ADD;
    sw_stamp_t s = sw_entry_stamp(e);
    ei_x_encode_tuple_header(x, with_mfa ? 6 : 5);
    sw_proto_encode(x, op);
    ei_x_encode_binary(x, e->name, (int)e->nlen);
    sw_pid_enc(x, &t->atoms, &e->pid);
    sw_tr_enc_stamp(x, t, &s);
    if (with_mfa) ei_x_encode_binary(x, sw_entry_mfa(e), (int)mfalen);
}

void sw_tr_broadcast(sw_tracker_t *t, enum sw_msg op, const sw_entry_t *e) {
    for (uint32_t i = 0; i < t->peers.n; i++) {
        sw_peer_t *p = &t->peers.v[i];
        if (!p->conn_up) continue;
        enc_entry_op(t, &p->out.body, op, e);
        p->out.count++;
    }
}

/* The trailing atom of a claim for each claim_mode_t (none for CLAIM_NEW). */
static const enum sw_msg claim_mode_msg[] = {SW_MSG_COUNT, SW_MSG_RETRY, SW_MSG_CONFIRM,
                                             SW_MSG_CHECK};

/* {claim, NameBin, Pid, Counter, Origin, CallerBeam, Caller, Ref, Yes, No,
 * MFABin[, Mode]}. */
void sw_tr_send_claim(sw_tracker_t *t, sw_peer_t *home, uint32_t ccbeam, const sw_pid_t *caller,
                      const char *ref, size_t rlen, const char *name, size_t nlen,
                      const sw_pid_t *pid, const sw_stamp_t *s, const char *yes, size_t yeslen,
                      const char *no, size_t nolen, const char *mfa, size_t mfalen, int mode) {
    ei_x_buff *x = &home->out.body;
    ei_x_encode_tuple_header(x, mode ? 12 : 11);
    sw_proto_encode(x, SW_MSG_CLAIM);
    ei_x_encode_binary(x, name, (int)nlen);
    sw_pid_enc(x, &t->atoms, pid);
    sw_tr_enc_stamp(x, t, s);
    sw_atoms_enc(x, &t->atoms, ccbeam);
    sw_pid_enc(x, &t->atoms, caller);
    ei_x_append_buf(x, ref, (int)rlen);
    ei_x_append_buf(x, yes, (int)yeslen);
    ei_x_append_buf(x, no, (int)nolen);
    ei_x_encode_binary(x, mfa ? mfa : "", (int)mfalen);
    if (mode) sw_proto_encode(x, claim_mode_msg[mode]);
    home->out.count++;
}

void sw_tr_send_claim_nack(sw_tracker_t *t, sw_peer_t *p, const char *name, size_t nlen,
                           const sw_stamp_t *s) {
    ei_x_buff *x = &p->out.body;
    ei_x_encode_tuple_header(x, 4);
    sw_proto_encode(x, SW_MSG_CLAIM_NACK);
    ei_x_encode_binary(x, name, (int)nlen);
    sw_tr_enc_stamp(x, t, s);
    p->out.count++;
}

void sw_tr_send_lost(sw_tracker_t *t, const char *name, size_t nlen, const sw_pid_t *pid,
                     const sw_stamp_t *s, const sw_pid_t *winner, int handoff) {
    sw_peer_t *home = sw_peers_by_beam(&t->peers, pid->node);
    if (!home || !home->conn_up) return;
    ei_x_buff *x = &home->out.body;
    ei_x_encode_tuple_header(x, handoff ? 7 : 6);
    sw_proto_encode(x, SW_MSG_LOST);
    ei_x_encode_binary(x, name, (int)nlen);
    sw_pid_enc(x, &t->atoms, pid);
    sw_tr_enc_stamp(x, t, s);
    sw_pid_enc(x, &t->atoms, winner);
    if (handoff) sw_proto_encode(x, SW_MSG_HANDOFF);
    home->out.count++;
}

void sw_tr_send_reg_req(sw_tracker_t *t, sw_peer_t *o, const char *name, size_t nlen,
                        const sw_pid_t *pid, const sw_pid_t *caller, const char *ref, size_t rlen,
                        int retry) {
    ei_x_buff *x = &o->out.body;
    ei_x_encode_tuple_header(x, retry ? 6 : 5);
    sw_proto_encode(x, SW_MSG_REG_REQ);
    ei_x_encode_binary(x, name, (int)nlen);
    sw_pid_enc(x, &t->atoms, pid);
    sw_pid_enc(x, &t->atoms, caller);
    ei_x_append_buf(x, ref, (int)rlen);
    if (retry) sw_proto_encode(x, SW_MSG_RETRY);
    o->out.count++;
}

void sw_tr_send_reg_mfa_req(sw_tracker_t *t, sw_peer_t *o, const char *name, size_t nlen,
                            const char *mfa, size_t mfalen, int mode, const sw_pid_t *caller,
                            const char *ref, size_t rlen) {
    ei_x_buff *x = &o->out.body;
    ei_x_encode_tuple_header(x, 6);
    sw_proto_encode(x, SW_MSG_REG_MFA_REQ);
    ei_x_encode_binary(x, name, (int)nlen);
    ei_x_encode_binary(x, mfa, (int)mfalen);
    sw_proto_encode(x, mode == MODE_WHEREIS ? SW_MSG_WHEREIS_OR_REGISTER : SW_MSG_REGISTER);
    sw_pid_enc(x, &t->atoms, caller);
    ei_x_append_buf(x, ref, (int)rlen);
    o->out.count++;
}

void sw_tr_send_unreg_req(sw_tracker_t *t, sw_peer_t *home, const char *name, size_t nlen,
                          const sw_pid_t *caller, const char *ref, size_t rlen) {
    ei_x_buff *x = &home->out.body;
    ei_x_encode_tuple_header(x, 4);
    sw_proto_encode(x, SW_MSG_UNREG_REQ);
    ei_x_encode_binary(x, name, (int)nlen);
    sw_pid_enc(x, &t->atoms, caller);
    ei_x_append_buf(x, ref, (int)rlen);
    home->out.count++;
}

void sw_tr_send_handoff_start(sw_tracker_t *t, sw_peer_t *p, const sw_entry_t *e,
                              const char *state, size_t statelen) {
    sw_stamp_t es = sw_entry_stamp(e);
    ei_x_buff *x = &p->out.body;
    ei_x_encode_tuple_header(x, 7);
    sw_proto_encode(x, SW_MSG_HANDOFF_START);
    ei_x_encode_binary(x, e->name, (int)e->nlen);
    sw_pid_enc(x, &t->atoms, &e->pid);
    sw_tr_enc_stamp(x, t, &es);
    ei_x_encode_binary(x, sw_entry_mfa(e), (int)sw_entry_mfalen(e));
    if (state) ei_x_encode_binary(x, state, (int)statelen);
    else sw_proto_encode(x, SW_MSG_NONE);
    p->out.count++;
}

void sw_tr_send_handoff_failed(sw_tracker_t *t, sw_peer_t *p, const char *name, size_t nlen,
                               const sw_pid_t *old) {
    ei_x_buff *x = &p->out.body;
    ei_x_encode_tuple_header(x, 3);
    sw_proto_encode(x, SW_MSG_HANDOFF_FAILED);
    ei_x_encode_binary(x, name, (int)nlen);
    sw_pid_enc(x, &t->atoms, old);
    p->out.count++;
}

void sw_tr_send_orphan(sw_tracker_t *t, sw_peer_t *p, const sw_entry_t *e) {
    ei_x_buff *x = &p->out.body;
    sw_stamp_t s = sw_entry_stamp(e);
    ei_x_encode_tuple_header(x, 6);
    sw_proto_encode(x, SW_MSG_ORPHAN);
    ei_x_encode_binary(x, e->name, (int)e->nlen);
    sw_pid_enc(x, &t->atoms, &e->pid);
    sw_tr_enc_stamp(x, t, &s);
    ei_x_encode_binary(x, sw_entry_mfa(e), (int)sw_entry_mfalen(e));
    p->out.count++;
}

void sw_tr_send_leaving(sw_tracker_t *t, sw_peer_t *p) {
    ei_x_buff *x = &p->out.body;
    ei_x_encode_tuple_header(x, 2);
    sw_proto_encode(x, SW_MSG_LEAVING);
    sw_proto_encode(x, t->leaving ? SW_MSG_YES : SW_MSG_NO);
    p->out.count++;
}

void sw_tr_send_sync(sw_tracker_t *t, sw_peer_t *p) {
    const sw_store_t *s = &t->store;
    ei_x_buff *x = &p->out.body;
    ei_x_encode_tuple_header(x, 2);
    sw_proto_encode(x, SW_MSG_SYNC);
    uint64_t n = 0;
    for (size_t i = 0; i < sw_store_slots_pids(s); i++) {
        const sw_pidnames_t *pn = sw_store_pid_at(s, i);
        if (pn && sw_pidnames_at(pn, 0)->pid.node == t->self_beam) n += sw_pidnames_count(pn);
    }
    if (n) ei_x_encode_list_header(x, (long)n);
    for (size_t i = 0; i < sw_store_slots_pids(s); i++) {
        const sw_pidnames_t *pn = sw_store_pid_at(s, i);
        if (!pn || sw_pidnames_at(pn, 0)->pid.node != t->self_beam) continue;
        for (uint32_t k = 0, cnt = sw_pidnames_count(pn); k < cnt; k++) {
            const sw_entry_t *e = sw_pidnames_at(pn, k);
            uint32_t mfalen = sw_entry_mfalen(e);
            sw_stamp_t es = sw_entry_stamp(e);
            ei_x_encode_tuple_header(x, mfalen ? 5 : 4);
            ei_x_encode_binary(x, e->name, (int)e->nlen);
            sw_pid_enc(x, &t->atoms, &e->pid);
            sw_tr_enc_stamp(x, t, &es);
            if (mfalen) ei_x_encode_binary(x, sw_entry_mfa(e), (int)mfalen);
        }
    }
    ei_x_encode_empty_list(x);
    p->out.count++;
}

/* A node of the members list: a C host is {Node, Node}. */
static void enc_member(ei_x_buff *x, const sw_tracker_t *t, uint32_t beam, uint32_t cnode) {
    ei_x_encode_tuple_header(x, 2);
    sw_atoms_enc(x, &t->atoms, beam);
    sw_atoms_enc(x, &t->atoms, cnode);
}

/* Listed: the peers the agent reports up, and the connected hosts. */
static int member_listed(const sw_peer_t *p) {
    if (p->beam == UINT32_MAX) return 0;
    return p->host ? p->conn_up : p->agent_up && !p->down;
}

void sw_tr_send_members(sw_tracker_t *t) {
    ei_x_buff *x = &t->res;
    x->index = 0;
    long n = 1;
    for (uint32_t i = 0; i < t->peers.n; i++) n += member_listed(&t->peers.v[i]);
    ei_x_encode_tuple_header(x, 2);
    sw_proto_encode(x, SW_MSG_MEMBERS);
    ei_x_encode_list_header(x, n);
    enc_member(x, t, t->self_beam, t->self_cnode);
    for (uint32_t i = 0; i < t->peers.n; i++) {
        const sw_peer_t *p = &t->peers.v[i];
        if (member_listed(p)) enc_member(x, t, p->beam, p->host ? p->beam : p->cnode);
    }
    ei_x_encode_empty_list(x);
    for (uint32_t i = 0; i < t->peers.n; i++) {
        sw_peer_t *p = &t->peers.v[i];
        if (!p->host || !p->conn_up) continue;
        ei_x_append_buf(&p->out.body, x->buff, x->index);
        p->out.count++;
    }
}

/* ---- flush: the envelopes ---------------------------------------------- */

/* Hands a peer's message to the emit callback of sw_tracker_flush. */
typedef struct {
    sw_tracker_emit_cb emit;
    void *ud;
} send_ctx_t;

static void send_peer(void *ud, const char *cnode, const char *buf, size_t len) {
    const send_ctx_t *s = ud;
    s->emit(s->ud, SW_DEST_PEER, cnode, buf, len);
}

void sw_tracker_flush(sw_tracker_t *t, sw_tracker_emit_cb emit, void *ud) {
    ei_x_buff *x = &t->scratch;
    send_ctx_t sc = {emit, ud};
    if (t->members_news && t->sync.begun) {
        /* (Only C nodes tell hosts; before the hello no host is greeted.) */
        t->members_news = 0;
        if (!t->host) sw_tr_send_members(t);
    }
    /* {'$sw1', ops, [Op]} to each peer */
    sw_proto_flush_peers(&t->peers, &t->atoms, x, SW_MSG_OPS, send_peer, &sc);
    if (!t->sync.begun) return;
    if (t->ring_dirty) sw_tr_ring_rebuild(t);
    sw_tr_handoff_due(t);
    sw_tr_leave_settle(t);
    if (t->agent_ops.count || t->agent_replies.count) {
        /* {'$sw1', batch, [Op], [Reply]} */
        sw_proto_msg_begin(x, SW_MSG_BATCH, 4);
        sw_outbox_emit(x, &t->agent_ops);
        sw_outbox_emit(x, &t->agent_replies);
        sw_outbox_reset(&t->agent_ops);
        sw_outbox_reset(&t->agent_replies);
        emit(ud, SW_DEST_AGENT, NULL, x->buff, (size_t)x->index);
    }
    if (t->ring_news) {
        /* {'$sw1', ring, [BeamNode]}: the ring's members, for callers that
         * send register_name/2 straight to the owner's C node. */
        t->ring_news = 0;
        sw_proto_msg_begin(x, SW_MSG_RING, 3);
        ei_x_encode_list_header(x, (long)t->ring_seen);
        for (size_t i = 0; i < t->ring_seen; i++) sw_atoms_enc(x, &t->atoms, t->ring_was[i]);
        ei_x_encode_empty_list(x);
        emit(ud, SW_DEST_AGENT, NULL, x->buff, (size_t)x->index);
    }
    if (sw_proto_sync_done(&t->sync)) {
        sw_proto_msg_begin(x, SW_MSG_SYNCED, 2);
        emit(ud, SW_DEST_AGENT, NULL, x->buff, (size_t)x->index);
    }
    if (t->links_news) {
        /* {'$sw1', links}: a connection to a peer went down or came up.
         * Requests and replies in flight on a lost one are gone, and a
         * request that waits for a home (unregister) may go through now:
         * the agent tells callers still waiting to send theirs again. */
        t->links_news = 0;
        sw_proto_msg_begin(x, SW_MSG_LINKS, 2);
        emit(ud, SW_DEST_AGENT, NULL, x->buff, (size_t)x->index);
    }
}

int sw_tracker_pending(const sw_tracker_t *t) {
    if (sw_peers_pending(&t->peers)) return 1;
    if (t->members_news && t->sync.begun && !t->host)
        for (uint32_t i = 0; i < t->peers.n; i++)
            if (t->peers.v[i].host && t->peers.v[i].conn_up) return 1;
    return t->sync.begun && (t->agent_ops.count || t->agent_replies.count || t->ring_news ||
                             t->links_news || (t->leave_waiters && t->leave_check) || t->ring_dirty ||
                             (t->handoff_due && t->now >= t->handoff_at && t->sync.synced) ||
                             sw_proto_sync_news(&t->sync));
}

/* ---- decoding ---------------------------------------------------------- */

int sw_tr_dec_namebin(const char *buf, int *index, const char **name, long *len) {
    size_t n;
    if (sw_term_dec_ext_bin(buf, index, SW_MAX_NAME_BYTES, name, &n) != 0) return -1;
    *len = (long)n;
    return 0;
}

int sw_tr_dec_stamp(sw_tracker_t *t, const char *buf, int *index, sw_stamp_t *s) {
    unsigned long long c;
    if (ei_decode_ulonglong(buf, index, &c) != 0) return -1;
    uint32_t o = sw_atoms_dec(&t->atoms, buf, index);
    if (o == UINT32_MAX) return -1;
    s->counter = c;
    s->origin = o;
    return 0;
}

int sw_tr_dec_bin(const char *buf, int *index, const char **data, long *len) {
    int type, size;
    if (ei_get_type(buf, index, &type, &size) != 0 || type != ERL_BINARY_EXT) return -1;
    *data = buf + *index + 5;
    *len = size;
    *index += 5 + size;
    return 0;
}

/* The trailing mode of a claim (claim_mode_t), or -1. */
static int dec_claim_mode(const char *buf, int *index) {
    switch (sw_proto_decode(buf, index)) {
    case SW_MSG_RETRY: return CLAIM_RETRY;
    case SW_MSG_CONFIRM: return CLAIM_CONFIRM;
    case SW_MSG_CHECK: return CLAIM_CHECK;
    default: return -1;
    }
}

int sw_tr_check_pairs(sw_tracker_t *t, const char *buf, int *index, int names) {
    int arity, type, size;
    if (ei_get_type(buf, index, &type, &size) != 0) return -1;
    if (type == ERL_NIL_EXT) return sw_term_skip(buf, index);
    if (ei_decode_list_header(buf, index, &arity) != 0) return -1;
    for (int k = 0; k < arity; k++) {
        int tup;
        const char *name;
        long nlen;
        sw_pid_t pid;
        char a1[MAXATOMLEN_UTF8], a2[MAXATOMLEN_UTF8];
        if (ei_decode_tuple_header(buf, index, &tup) != 0 || (tup != 2 && !(names && tup == 3)))
            return -1;
        if (names) {
            const char *mfa;
            long mfalen;
            if (sw_tr_dec_namebin(buf, index, &name, &nlen) != 0 ||
                sw_pid_dec(&t->atoms, buf, index, &pid) != 0 ||
                (tup == 3 && sw_tr_dec_bin(buf, index, &mfa, &mfalen) != 0))
                return -1;
        } else if (ei_decode_atom(buf, index, a1) != 0 || ei_decode_atom(buf, index, a2) != 0) {
            return -1;
        }
    }
    if (ei_get_type(buf, index, &type, &size) != 0 || type != ERL_NIL_EXT) return -1;
    return sw_term_skip(buf, index);
}

/* ---- a peer's ops ------------------------------------------------------ */

int sw_tr_apply_op(void *ud, sw_peer_t *from, const char *buf, int *index) {
    sw_tracker_t *t = ud;
    int arity;
    const char *name, *ref;
    long nlen;
    size_t rlen;
    sw_pid_t pid, caller;
    sw_stamp_t s;
    if (ei_decode_tuple_header(buf, index, &arity) != 0 || arity < 1) return -1;
    int tag = sw_proto_decode(buf, index);
    switch (tag) {
    case SW_MSG_ADD:
    case SW_MSG_DEL: {
        const char *mfa = NULL;
        long mfalen = 0;
        if ((arity != 5 && !(arity == 6 && tag == SW_MSG_ADD)) ||
            sw_tr_dec_namebin(buf, index, &name, &nlen) || sw_pid_dec(&t->atoms, buf, index, &pid) ||
            sw_tr_dec_stamp(t, buf, index, &s) || (arity == 6 && sw_tr_dec_bin(buf, index, &mfa, &mfalen)))
            return -1;
        /* Only a home originates adds and dels of its pids. */
        if (pid.node != from->beam) return -1;
        if (tag == SW_MSG_ADD) sw_tr_apply_add(t, name, (size_t)nlen, &pid, &s, mfa, (size_t)mfalen);
        else sw_tr_apply_del(t, name, (size_t)nlen, &pid, &s);
        break;
    }
    case SW_MSG_LOST: {
        sw_pid_t winner;
        if ((arity != 5 && arity != 6 && arity != 7) ||
            sw_tr_dec_namebin(buf, index, &name, &nlen) ||
            sw_pid_dec(&t->atoms, buf, index, &pid) || sw_tr_dec_stamp(t, buf, index, &s) ||
            (arity >= 6 && sw_pid_dec(&t->atoms, buf, index, &winner)) ||
            (arity == 7 && sw_proto_decode(buf, index) != SW_MSG_HANDOFF))
            return -1;
        sw_tr_apply_lost(t, name, (size_t)nlen, &pid, &s, arity >= 6 ? &winner : NULL, arity == 7);
        break;
    }
    case SW_MSG_RESOLVE_FOLLOW: {
        const char *state;
        long slen;
        if (arity != 4 || sw_tr_dec_namebin(buf, index, &name, &nlen) ||
            sw_pid_dec(&t->atoms, buf, index, &pid) || sw_tr_dec_bin(buf, index, &state, &slen))
            return -1;
        /* Only the old pid's home sends it. */
        if (pid.node != from->beam) return -1;
        sw_tr_apply_resolve_follow(t, name, (size_t)nlen, &pid, state, (size_t)slen);
        break;
    }
    case SW_MSG_HANDOFF_FAILED: {
        if (arity != 3 || sw_tr_dec_namebin(buf, index, &name, &nlen) ||
            sw_pid_dec(&t->atoms, buf, index, &pid))
            return -1;
        /* Only about our own processes. */
        if (pid.node != t->self_beam) return -1;
        sw_tr_handoff_failed_at_home(t, name, (size_t)nlen, &pid);
        break;
    }
    case SW_MSG_HANDOFF_START: {
        const char *mfa, *state = NULL;
        long mfalen, statelen = 0;
        int type, size;
        if (arity != 7 || sw_tr_dec_namebin(buf, index, &name, &nlen) ||
            sw_pid_dec(&t->atoms, buf, index, &pid) || sw_tr_dec_stamp(t, buf, index, &s) ||
            sw_tr_dec_bin(buf, index, &mfa, &mfalen) || ei_get_type(buf, index, &type, &size))
            return -1;
        if (type == ERL_BINARY_EXT) {
            if (sw_tr_dec_bin(buf, index, &state, &statelen)) return -1;
        } else if (sw_term_skip(buf, index) != 0) {
            return -1;
        }
        /* Only a home hands off its own processes; a host starts none. */
        if (pid.node != from->beam || t->host) return -1;
        sw_tr_handoff_begin(t, name, (size_t)nlen, &pid, &s, mfa, (size_t)mfalen, state,
                            (size_t)statelen);
        break;
    }
    case SW_MSG_REG_MFA_REQ: {
        const char *mfa;
        long mfalen;
        int mode;
        if (arity != 6 || sw_tr_dec_namebin(buf, index, &name, &nlen) ||
            sw_tr_dec_bin(buf, index, &mfa, &mfalen) || (mode = sw_proto_decode(buf, index)) == -2 ||
            sw_pid_dec(&t->atoms, buf, index, &caller) || sw_term_dec_raw(buf, index, &ref, &rlen))
            return -1;
        /* A host is nobody's owner. */
        if (from->beam == UINT32_MAX || t->host) return -1;
        sw_tr_decide_mfa(t, from->beam, &caller, ref, rlen, name, (size_t)nlen, mfa, (size_t)mfalen,
                         mode == SW_MSG_WHEREIS_OR_REGISTER ? MODE_WHEREIS : MODE_REGISTER);
        break;
    }
    case SW_MSG_REG_REQ: {
        if ((arity != 5 && arity != 6) || sw_tr_dec_namebin(buf, index, &name, &nlen) ||
            sw_pid_dec(&t->atoms, buf, index, &pid) || sw_pid_dec(&t->atoms, buf, index, &caller) ||
            sw_term_dec_raw(buf, index, &ref, &rlen) ||
            (arity == 6 && dec_claim_mode(buf, index) != CLAIM_RETRY))
            return -1;
        if (from->beam == UINT32_MAX || t->host) return -1;
        sw_tr_decide(t, from->beam, &caller, ref, rlen, name, (size_t)nlen, &pid, arity == 6);
        break;
    }
    case SW_MSG_CLAIM: {
        char cc[MAXATOMLEN_UTF8];
        const char *yes, *no, *mfa;
        size_t yeslen, nolen;
        long mfalen;
        if ((arity != 11 && arity != 12) || sw_tr_dec_namebin(buf, index, &name, &nlen) ||
            sw_pid_dec(&t->atoms, buf, index, &pid) || sw_tr_dec_stamp(t, buf, index, &s) ||
            sw_atom_dec(buf, index, cc) || sw_pid_dec(&t->atoms, buf, index, &caller) ||
            sw_term_dec_raw(buf, index, &ref, &rlen) || sw_term_dec_raw(buf, index, &yes, &yeslen) ||
            sw_term_dec_raw(buf, index, &no, &nolen) || sw_tr_dec_bin(buf, index, &mfa, &mfalen))
            return -1;
        int mode = arity == 12 ? dec_claim_mode(buf, index) : CLAIM_NEW;
        if (mode < 0) return -1;
        uint32_t ccbeam = sw_atoms_intern(&t->atoms, cc);
        if (ccbeam == UINT32_MAX) return -1;
        sw_tr_apply_claim(t, from, name, (size_t)nlen, &pid, &s, ccbeam, &caller, ref, rlen, yes,
                          yeslen, no, nolen, mfa, (size_t)mfalen, mode);
        break;
    }
    case SW_MSG_CLAIM_NACK: {
        if (arity != 4 || sw_tr_dec_namebin(buf, index, &name, &nlen) ||
            sw_tr_dec_stamp(t, buf, index, &s))
            return -1;
        sw_tr_apply_claim_nack(t, name, (size_t)nlen, &s);
        break;
    }
    case SW_MSG_REPLY: {
        const char *res;
        size_t reslen;
        if (arity != 4 || sw_pid_dec(&t->atoms, buf, index, &caller) ||
            sw_term_dec_raw(buf, index, &ref, &rlen) || sw_term_dec_raw(buf, index, &res, &reslen))
            return -1;
        sw_tr_reply_raw_via(t, t->self_beam, &caller, ref, rlen, res, reslen);
        break;
    }
    case SW_MSG_UNREG_REQ: {
        if (arity != 4 || sw_tr_dec_namebin(buf, index, &name, &nlen) ||
            sw_pid_dec(&t->atoms, buf, index, &caller) || sw_term_dec_raw(buf, index, &ref, &rlen))
            return -1;
        if (from->beam == UINT32_MAX) return -1;
        sw_tr_unregister_at_home(t, from->beam, &caller, ref, rlen, name, (size_t)nlen);
        break;
    }
    case SW_MSG_SYNC: {
        if (arity != 2 || from->beam == UINT32_MAX) return -1;
        return sw_tr_apply_sync(t, from, buf, index);
    }
    case SW_MSG_HELLO: {
        /* {hello, BeamNode} (a host's: {hello, Node, host}): first op on
         * every connection, names the peer's BEAM node before anything
         * else needs it. */
        char beam[MAXATOMLEN_UTF8];
        int host;
        if (sw_peer_hello_dec(buf, index, arity, beam, &host) != 0) return -1;
        return sw_tr_peer_hello(t, from, beam, host);
    }
    case SW_MSG_MEMBERS:
        if (arity != 2) return -1;
        return sw_tr_apply_members(t, from, buf, index);
    case SW_MSG_HOSTS:
        /* Only a swarm C node tells another one its hosts. */
        if (t->host || from->host || from->beam == UINT32_MAX) return -1;
        return sw_proto_sync_hosts(&t->sync, &t->peers, &t->atoms, t->self_beam, buf, index, arity);
    case SW_MSG_ORPHAN: {
        const char *mfa;
        long mfalen;
        if (arity != 6 || sw_tr_dec_namebin(buf, index, &name, &nlen) ||
            sw_pid_dec(&t->atoms, buf, index, &pid) || sw_tr_dec_stamp(t, buf, index, &s) ||
            sw_tr_dec_bin(buf, index, &mfa, &mfalen))
            return -1;
        /* About a third node's pid; a host owns nothing. */
        if (pid.node == from->beam || pid.node == t->self_beam || t->host) return -1;
        sw_tr_apply_orphan(t, name, (size_t)nlen, &pid, &s, mfa, (size_t)mfalen);
        break;
    }
    case SW_MSG_LEAVING: {
        /* {leaving, yes | no} */
        int flag;
        if (arity != 2 || (flag = sw_proto_decode(buf, index)) == -2) return -1;
        if (flag != SW_MSG_YES && flag != SW_MSG_NO) return -1;
        return sw_tr_apply_leaving(t, from, flag == SW_MSG_YES);
    }
    default:
        return -1;
    }
    return 0;
}
