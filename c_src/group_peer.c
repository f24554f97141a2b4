/* group_peer.c - the process groups' side of the peer protocol: the ops a
 * home broadcasts, the sync of its memberships, the ops applied from peer
 * C nodes, connections going up and down, and BEAM nodes reported up and
 * down by the agent; see group.h for the contract and group_int.h for the
 * state.
 *
 * What it is not: the state of groups and memberships (group.c) or the
 * decoding of local messages (group_msg.c). The steps both this and the
 * tracker take (hello, the initial sync, the flush envelope) are in
 * peers.c. */
#include <stdio.h>
#include <string.h>

#include "group_int.h"
#include "log.h"
#include "swarm_proto.h"
#include "term.h"

/* ---- ops to peers ------------------------------------------------------ */

void sw__broadcast(sw_group_t *g, enum sw_msg op, const group_t *gr, const pkey_t *k) {
    for (uint32_t i = 0; i < g->peers.n; i++) {
        sw_peer_t *p = &g->peers.v[i];
        if (!p->conn_up) continue;
        ei_x_buff *x = &p->out.body;
        ei_x_encode_tuple_header(x, 3);
        sw_proto_encode(x, op);
        ei_x_encode_binary(x, gr->name, (int)gr->nlen);
        sw__group_enc_pid(x, g, k);
        p->out.count++;
    }
}

void sw__broadcast_down(sw_group_t *g, const pkey_t *k) {
    for (uint32_t i = 0; i < g->peers.n; i++) {
        sw_peer_t *p = &g->peers.v[i];
        if (!p->conn_up) continue;
        ei_x_buff *x = &p->out.body;
        ei_x_encode_tuple_header(x, 2);
        sw_proto_encode(x, SW_MSG_DOWN);
        sw__group_enc_pid(x, g, k);
        p->out.count++;
    }
}

sw_outbox_t *sw__peer_box(sw_group_t *g, uint32_t beam) {
    sw_peer_t *p = sw_peers_by_beam(&g->peers, beam);
    if (!p || !p->conn_up) {
        g->st.unreachable++;
        return NULL;
    }
    return &p->out;
}

/* ---- sync -------------------------------------------------------------- */

static int is_local(const sw_group_t *g, uint32_t r) {
    return sw__key_beam(g, &g->live.recs[r].k) == g->self_beam;
}

static long local_members(const sw_group_t *g, const group_t *gr) {
    long n = 0;
    SW_CHUNKS_FOREACH(&gr->ch, r, n += is_local(g, r));
    return n;
}

/* Queues {sync, [{GroupBin, [Pid]}]}: the memberships of our pids. */
void sw__send_sync(sw_group_t *g, sw_peer_t *p) {
    ei_x_buff *x = &p->out.body;
    ei_x_encode_tuple_header(x, 2);
    sw_proto_encode(x, SW_MSG_SYNC);
    long ngroups = 0;
    for (uint32_t gid = 0; gid < g->ngids; gid++)
        if (g->byid[gid] && local_members(g, g->byid[gid])) ngroups++;
    if (ngroups) ei_x_encode_list_header(x, ngroups);
    for (uint32_t gid = 0; gid < g->ngids; gid++) {
        const group_t *gr = g->byid[gid];
        long n = gr ? local_members(g, gr) : 0;
        if (!n) continue;
        ei_x_encode_tuple_header(x, 2);
        ei_x_encode_binary(x, gr->name, (int)gr->nlen);
        ei_x_encode_list_header(x, n);
        SW_CHUNKS_FOREACH(&gr->ch, r, if (is_local(g, r)) sw__group_enc_pid(x, g, &g->live.recs[r].k));
        ei_x_encode_empty_list(x);
    }
    ei_x_encode_empty_list(x);
    p->out.count++;
    p->sync_sent = 1;
}

/* Sync item: add if absent, and mark the membership as listed. */
static void sync_item(sw_group_t *g, const char *name, size_t len, const pkey_t *k) {
    if (sw__member_add(g, name, len, k, 0) < 0) return;
    group_t *gr = sw__group_get(g, name, len, 0);
    uint32_t r = sw__ptab_find(&g->live, k);
    if (!gr || r == NONE) return;
    prec_t *p = &g->live.recs[r];
    sw__mems(p)[sw__rec_find(p, gr->gid)].pos |= MARK;
}

/* A home's sync: authoritative for the pids of its BEAM node. */
static int apply_sync(sw_group_t *g, sw_peer_t *from, const char *buf, int *index) {
    int start = *index;
    if (sw__check_glist(buf, index, sw_atoms_str(&g->atoms, from->beam)) != 0) return -1;
    int i = start;
    sw__walk_glist(g, buf, &i, sync_item);
    /* Drop what we hold for that node's pids and the sync did not list. */
    for (uint32_t r = 0; r < g->live.nrecs; r++) {
        prec_t *p = &g->live.recs[r];
        if (p->k.nc == NONE || sw__key_beam(g, &p->k) != from->beam) continue;
        for (uint32_t j = p->n; j-- > 0;) {
            p = &g->live.recs[r];
            mem_t *m = &sw__mems(p)[j];
            if (m->pos & MARK) m->pos &= ~MARK;
            else sw__mem_del(g, g->byid[m->gid], r, j);
        }
        if (g->live.recs[r].n == 0) sw__ptab_del(&g->live, r);
    }
    sw_proto_sync_peer_synced(&g->sync, &g->peers, from);
    return 0;
}

/* ---- ops from peers ---------------------------------------------------- */

/* One op from peer `from` (an sw_peer_op_cb; ud is the group state). */
static int apply_op(void *ud, sw_peer_t *from, const char *buf, int *index) {
    sw_group_t *g = ud;
    int arity;
    const char *name, *ref;
    size_t len, rlen;
    pkey_t k;
    if (ei_decode_tuple_header(buf, index, &arity) != 0 || arity < 1) return -1;
    int tag = sw_proto_decode(buf, index);
    if (tag == SW_MSG_HELLO) {
        /* {hello, Beam} or a host's {hello, Node, host}: a C node speaks
         * only for the BEAM node its own name implies, a host for itself. */
        char beam[MAXATOMLEN_UTF8];
        int host;
        if (sw_peer_hello_dec(buf, index, arity, beam, &host) != 0) return -1;
        return sw_peer_hello_apply(&g->peers, &g->atoms, g->self_beam, from, beam, host);
    }
    if (from->beam == NONE) return -1; /* everything else needs hello first */
    switch (tag) {
    case SW_MSG_JOIN:
    case SW_MSG_LEAVE:
        if (arity != 3 || sw_term_dec_ext_bin(buf, index, SW_MAX_NAME_BYTES, &name, &len) != 0 ||
            sw__group_dec_pid(g, buf, index, &k) != 0 || sw__key_beam(g, &k) != from->beam)
            return -1;
        if (tag == SW_MSG_JOIN) {
            sw__member_add(g, name, len, &k, 0);
        } else {
            group_t *gr = sw__group_get(g, name, len, 0);
            if (gr) sw__member_del(g, gr, &k, 0);
        }
        break;
    case SW_MSG_DOWN: {
        if (arity != 2 || sw__group_dec_pid(g, buf, index, &k) != 0 || sw__key_beam(g, &k) != from->beam)
            return -1;
        uint32_t r = sw__ptab_find(&g->live, &k);
        if (r != NONE) sw__rec_clear(g, r);
        break;
    }
    case SW_MSG_SYNC:
        if (arity != 2) return -1;
        return apply_sync(g, from, buf, index);
    case SW_MSG_HOSTS:
        if (g->host || from->host) return -1;
        return sw_proto_sync_hosts(&g->sync, &g->peers, &g->atoms, g->self_beam, buf, index, arity);
    case SW_MSG_JOIN_REQ:
    case SW_MSG_LEAVE_REQ: {
        erlang_pid caller;
        if (arity != 5 || sw_term_dec_ext_bin(buf, index, SW_MAX_NAME_BYTES, &name, &len) != 0 ||
            sw__group_dec_pid(g, buf, index, &k) != 0 || ei_decode_pid(buf, index, &caller) != 0 ||
            sw_term_dec_raw(buf, index, &ref, &rlen) != 0)
            return -1;
        if (sw__key_beam(g, &k) != g->self_beam) {
            /* Not ours (the sender's view is wrong): answer, never hang. */
            sw__reply_via(g, from->beam, &caller, ref, rlen, SW_MSG_HOME_UNREACHABLE);
            return -1;
        }
        if (tag == SW_MSG_JOIN_REQ) sw__join_home(g, from->beam, &caller, ref, rlen, name, len, &k);
        else sw__leave_home(g, from->beam, &caller, ref, rlen, name, len, &k);
        break;
    }
    case SW_MSG_REPLY: {
        /* {reply, Caller, Ref, Result}: Result is an atom, passed on as
         * it came. */
        erlang_pid caller;
        int at;
        if (arity != 4 || ei_decode_pid(buf, index, &caller) != 0 || sw_term_dec_raw(buf, index, &ref, &rlen) != 0)
            return -1;
        at = *index;
        if (sw_proto_decode(buf, index) == -2) return -1;
        sw__reply_raw_via(g, g->self_beam, &caller, ref, rlen, buf + at, (size_t)(*index - at));
        break;
    }
    case SW_MSG_TRANSFER: {
        erlang_pid op, np;
        pkey_t nk;
        if (arity != 3 || ei_decode_pid(buf, index, &op) != 0 || ei_decode_pid(buf, index, &np) != 0 ||
            sw__group_key(g, &np, &nk) != 0 || sw__key_beam(g, &nk) != g->self_beam)
            return -1;
        sw_group_transfer(g, &op, &np);
        break;
    }
    default:
        return -1;
    }
    return 0;
}

/* The connection to p's C node is up and p is a swarm peer: greet it. */
static void conn_open(sw_group_t *g, sw_peer_t *p) {
    sw_peer_conn_open(p);
    sw_peer_hello(p, &g->atoms, g->self_beam, g->host);
    /* A swarm C node learns our hosts before our sync (as the tracker's). */
    if (!g->host) sw_peer_hosts(p, &g->peers, &g->atoms);
    /* Before swarm_groups' hello our home memberships are not known yet
     * (after a restart), and an empty sync would make the peer drop them. */
    if (g->sync.begun) sw__send_sync(g, p);
}

int sw_group_peer_ops(sw_group_t *g, const char *cnode, const char *buf, int *index) {
    /* As for the registry: a node the agent did not report becomes a peer
     * only by a first hello naming the BEAM node its name implies;
     * anything else is dropped and costs nothing. */
    int greet;
    sw_peer_t *p = sw_peers_for_ops(&g->peers, &g->atoms, cnode, buf, *index, &greet);
    if (!p) {
        g->st.bad_ops++;
        SW_WARN("gops_from_stranger", "from=%s", cnode);
        return 1;
    }
    if (greet) conn_open(g, p);
    if (!p->conn_up || p->down) return 1;
    return sw_peer_ops_guarded(p, &g->atoms, cnode, buf, index, apply_op, g, &g->st.bad_ops,
                               "bad_group_op");
}

/* ---- membership of the cluster ----------------------------------------- */

void sw_group_set_connected(sw_group_t *g, int (*fn)(void *ud, const char *cnode), void *ud) {
    g->connected = fn;
    g->connected_ud = ud;
}

void sw_group_peer_up(sw_group_t *g, const char *beam, const char *cnode) {
    sw_atoms_refill(&g->atoms);
    uint32_t b = sw_atoms_find(&g->atoms, beam);
    const sw_peer_t *other = b == NONE ? NULL : sw_peers_by_beam(&g->peers, b);
    int host = g->host && strcmp(beam, cnode) == 0;
    if (host && other && !other->host) return; /* a swarm node's BEAM node */
    sw_peer_t *p = sw_peers_up(&g->peers, &g->atoms, g->self_beam, beam, cnode);
    if (!p) return;
    p->host = (uint8_t)host;
    /* A host's initial sync waits for the swarm nodes reported while it
     * is not complete. */
    sw_proto_sync_host_await(&g->sync, &g->peers, p, g->now);
    /* Its C node may have connected while still a stranger: greet it. */
    if (!p->conn_up && g->connected && g->connected(g->connected_ud, cnode)) conn_open(g, p);
}

/* Every membership of a pid on BEAM node b goes, kept aside (parked) for
 * sw_group_transfer. */
static void purge_node(sw_group_t *g, uint32_t b) {
    for (uint32_t r = 0; r < g->live.nrecs; r++) {
        prec_t *q = &g->live.recs[r];
        if (q->k.nc == NONE || sw__key_beam(g, &q->k) != b) continue;
        sw__park_rec(g, r);
        sw__rec_clear(g, r);
    }
}

void sw_group_peer_down(sw_group_t *g, const char *beam) {
    uint32_t b = sw_atoms_find(&g->atoms, beam);
    if (b == NONE || b == g->self_beam) return;
    sw_peer_t *p = sw_peers_down(&g->peers, b);
    if (p) sw_proto_sync_peer_gone(&g->sync, &g->peers, p);
    purge_node(g, b);
}

void sw_group_agent_hello(sw_group_t *g, const char *buf, int index) {
    int n, tup;
    if (sw_term_skip(buf, &index) != 0) return;
    int list = index;
    if (ei_decode_list_header(buf, &index, &n) != 0) return;
    for (int i = 0; i < n; i++) {
        char beam[MAXATOMLEN_UTF8], cnode[MAXATOMLEN_UTF8];
        if (ei_decode_tuple_header(buf, &index, &tup) != 0 || tup != 2 ||
            ei_decode_atom(buf, &index, beam) != 0 || ei_decode_atom(buf, &index, cnode) != 0)
            return;
        sw_group_peer_up(g, beam, cnode);
    }
    /* The list is the agent's whole view: a node it reported before and no
     * longer lists went down while a peer_down was lost in flight (their
     * link dropped; this hello is the resynchronisation). */
    for (uint32_t k = 0; k < g->peers.n; k++) {
        sw_peer_t *p = &g->peers.v[k];
        if (!p->agent_up || p->beam == NONE) continue;
        const char *b = sw_atoms_str(&g->atoms, p->beam);
        if (!sw_peer_list_names(buf, list, b)) {
            char gone[MAXATOMLEN_UTF8];
            snprintf(gone, sizeof gone, "%s", b);
            sw_group_peer_down(g, gone);
        }
    }
}

void sw_group_conn_up(sw_group_t *g, const char *cnode) {
    /* Only a C node the agent reported is greeted at once; any other must
     * say hello first (sw_group_peer_ops). */
    uint32_t c = sw_atoms_find(&g->atoms, cnode);
    sw_peer_t *p = c == NONE ? NULL : sw_peers_by_cnode(&g->peers, c);
    if (!p) return;
    conn_open(g, p);
}

void sw_group_conn_down(sw_group_t *g, const char *cnode) {
    uint32_t c = sw_atoms_find(&g->atoms, cnode);
    sw_peer_t *p = c == NONE ? NULL : sw_peers_by_cnode(&g->peers, c);
    if (!p) return;
    /* A host's node is gone from here with its connection: its pids'
     * memberships go at once, as at a peer_down. */
    if (p->host && p->conn_up && p->beam != NONE) purge_node(g, p->beam);
    sw_peer_conn_close(p);
    sw_peers_forget(&g->peers, p);
}

/* ---- C hosts ----------------------------------------------------------- */

void sw_group_set_host(sw_group_t *g) {
    g->host = 1;
    g->sync.need_one = 1;
}

void sw_group_host_begin(sw_group_t *g, const erlang_pid *self) {
    g->proc = *self;
    sw_proto_sync_begin(&g->sync, g->now);
    for (uint32_t k = 0; k < g->peers.n; k++) {
        sw_peer_t *p = &g->peers.v[k];
        if (p->conn_up && !p->sync_sent) sw__send_sync(g, p);
    }
    sw_proto_sync_await(&g->peers);
    sw_proto_sync_check(&g->sync, &g->peers);
}
