/* group.c - process groups: the groups and their memberships, the
 * requests of local callers, and the replica sent to swarm_groups; see
 * group.h for the contract, group_int.h for the state and README.md
 * (Internals) for the protocol.
 *
 * What it is not: the peer protocol (group_peer.c), the decoding of local
 * messages (group_msg.c), the pid tables (group_pids.c) or the chunk store
 * (chunks.c).
 *
 * Why chunks with stable ids. swarm_groups mirrors every chunk as one ETS
 * object keyed {GroupBin, K}, and members/1 reads a group's chunks one after
 * the other (one ets:select). A member never moves to another chunk (a join
 * fills a chunk with room, a leave moves the chunk's last member into the
 * hole, within the chunk), so every change rewrites exactly one chunk, and a
 * reader, even though it reads several objects one after the other, sees
 * every member that stays in the group exactly once.
 * The cost: chunks emptied by leaves stay partly filled until joins fill
 * them again.
 *
 * Why the home decides. The home (BEAM node of the pid) is where the pid is
 * monitored, so it is the only node that knows whether a membership is still
 * valid. Making it the origin of every change of its pids' memberships gives
 * every peer those changes in one order (one FIFO connection), makes each
 * home's sync authoritative for its pids, and needs no owner or stamp: two
 * changes of one membership never come from two nodes.
 *
 * Failure modes, stated plainly. (1) A join or leave for a pid whose home's
 * C node is not connected (it is restarting, or the pid's node does not run
 * swarm) is refused with `home_unreachable`; nothing is queued. (2) While a
 * connection is down, peers keep the memberships they had of that home's
 * pids; the home's sync on reconnection corrects them. (3) Memberships of a
 * node that went down disappear everywhere when each node hears of it (its
 * agent's monitor fires), not at one instant; from then on, until the node
 * is reported up again, nothing its C node still sends is applied, so no
 * late op brings them back. */
#include <stdlib.h>
#include <string.h>

#include "group_int.h"
#include "log.h"

#define PARK_MS 30000u

/* ---- groups ------------------------------------------------------------ */

typedef struct {
    const char *name;
    size_t len;
} gkey_t;

static int group_eq(const void *item, const void *key) {
    const group_t *g = item;
    const gkey_t *k = key;
    return g->nlen == k->len && memcmp(g->name, k->name, k->len) == 0;
}

static uint64_t group_hash(const char *name, size_t len) { return sw_hash_bytes(name, len, 0x67727073); }

static group_t *group_find(const sw_group_t *g, const char *name, size_t len, uint64_t h) {
    gkey_t k = {name, len};
    return sw_htab_find(&g->gnames, h, &k, group_eq);
}

static int push_u32(uint32_t **v, uint32_t *n, uint32_t *cap, uint32_t x) {
    if (*n == *cap) {
        uint32_t c = *cap ? *cap * 2 : 16;
        uint32_t *nv = realloc(*v, (size_t)c * sizeof *nv);
        if (!nv) return -1;
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = x;
    return 0;
}

group_t *sw__group_get(sw_group_t *g, const char *name, size_t len, int create) {
    uint64_t h = group_hash(name, len);
    group_t *gr = group_find(g, name, len, h);
    if (gr || !create) return gr;
    uint32_t gid;
    if (g->nfree) {
        gid = g->freegids[--g->nfree];
    } else {
        if (g->ngids == g->capgids) {
            uint32_t cap = g->capgids ? g->capgids * 2 : 16;
            group_t **nb = realloc(g->byid, (size_t)cap * sizeof *nb);
            if (!nb) return NULL;
            g->byid = nb;
            g->capgids = cap;
        }
        gid = g->ngids++;
        g->byid[gid] = NULL;
    }
    gr = calloc(1, sizeof *gr + len);
    if (!gr || sw_htab_insert(&g->gnames, h, gr) != 0) {
        free(gr);
        push_u32(&g->freegids, &g->nfree, &g->capfree, gid);
        return NULL;
    }
    gr->hash = h;
    gr->gid = gid;
    gr->nlen = (uint32_t)len;
    memcpy(gr->name, name, len);
    g->byid[gid] = gr;
    g->st.groups++;
    return gr;
}

/* Frees a group nobody refers to any more: no member, no parked
 * membership, nothing left to send. */
static void group_maybe_free(sw_group_t *g, group_t *gr) {
    if (gr->ch.count || gr->parked || gr->queued) return;
    sw_htab_remove(&g->gnames, gr->hash, gr);
    g->byid[gr->gid] = NULL;
    /* If the gid cannot be recycled it is simply never reused. */
    push_u32(&g->freegids, &g->nfree, &g->capfree, gr->gid);
    sw_chunks_close(&gr->ch); /* no chunk left: count == 0 */
    free(gr);
    g->st.groups--;
}


/* Notes that chunk k of the group must be sent to swarm_groups. */
static void dirty(sw_group_t *g, group_t *gr, uint32_t k) {
    if (sw_chunks_mark(&gr->ch, k) != 0) return;
    if (!gr->queued) {
        if (push_u32(&g->dq, &g->ndq, &g->capdq, gr->gid) != 0) {
            SW_ERROR("out_of_memory", "what=group_queue");
            return;
        }
        gr->queued = 1;
    }
}

void sw__dirty_everything(sw_group_t *g) {
    for (uint32_t gid = 0; gid < g->ngids; gid++) {
        group_t *gr = g->byid[gid];
        if (!gr) continue;
        for (uint32_t k = 0; k < gr->ch.nids; k++)
            if (gr->ch.v[k]) dirty(g, gr, k);
    }
}

/* ---- memberships ------------------------------------------------------- */

/* Adds live record r to the group. 0, or -1 on out of memory. */
static int mem_add(sw_group_t *g, group_t *gr, uint32_t r) {
    uint32_t pos = sw_chunks_add(&gr->ch, r);
    if (pos == SW_CHUNKS_NONE) return -1;
    if (sw__rec_push(&g->live.recs[r], gr->gid, pos) != 0) {
        sw_chunks_del(&gr->ch, pos);
        return -1;
    }
    dirty(g, gr, pos >> SW_CHUNK_BITS);
    g->memberships++;
    return 0;
}

void sw__mem_del(sw_group_t *g, group_t *gr, uint32_t r, uint32_t j) {
    prec_t *p = &g->live.recs[r];
    uint32_t pos = sw__mems(p)[j].pos & ~MARK;
    uint32_t moved = sw_chunks_del(&gr->ch, pos);
    if (moved != SW_CHUNKS_NONE) {
        prec_t *q = &g->live.recs[moved];
        mem_t *qm = &sw__mems(q)[sw__rec_find(q, gr->gid)];
        qm->pos = (qm->pos & MARK) | pos;
    }
    dirty(g, gr, pos >> SW_CHUNK_BITS);
    sw__rec_drop(p, j);
    g->memberships--;
}

/* {mon, Pid} for swarm_groups: monitor this local pid. Sent once per
 * local record (when it is created, and again to a new swarm_groups after
 * its hello), so swarm_groups needs no table of its monitors. */
void sw__mon_op(sw_group_t *g, const pkey_t *k) {
    ei_x_buff *x = &g->mons.body;
    ei_x_encode_tuple_header(x, 2);
    sw_proto_encode(x, SW_MSG_MON);
    sw__group_enc_pid(x, g, k);
    g->mons.count++;
}

void sw__reply_raw_via(sw_group_t *g, uint32_t ccbeam, const erlang_pid *caller, const char *ref,
                       size_t rlen, const char *res, size_t reslen) {
    if (!caller) return;
    ei_x_buff *x = sw_proto_reply_begin(&g->peers, &g->atoms, g->self_beam, ccbeam, &g->replies,
                                        "group_reply_dropped");
    if (!x) {
        g->st.unreachable++;
        return;
    }
    ei_x_encode_pid(x, caller);
    ei_x_append_buf(x, ref, (int)rlen);
    ei_x_append_buf(x, res, (int)reslen);
}

void sw__reply_via(sw_group_t *g, uint32_t ccbeam, const erlang_pid *caller, const char *ref,
                   size_t rlen, enum sw_msg result) {
    size_t len;
    const char *res = sw_proto_bytes(result, &len);
    sw__reply_raw_via(g, ccbeam, caller, ref, rlen, res, len);
}

/* A reply to a local caller. */
static void agent_reply(sw_group_t *g, const erlang_pid *caller, const char *ref, size_t rlen,
                        enum sw_msg result) {
    sw__reply_via(g, g->self_beam, caller, ref, rlen, result);
}

/* A local pid's record lives from its first join until swarm_groups reports
 * it dead (or a new swarm_groups says hello): a local pid that left every
 * group keeps its record, with no memberships, because it stays monitored;
 * so a rejoin needs no second monitor, and swarm_groups keeps no table of
 * its monitors (a monitor there costs 64 bytes, a table entry more). */
int sw__member_add(sw_group_t *g, const char *name, size_t len, const pkey_t *k, int home) {
    group_t *gr = sw__group_get(g, name, len, 1);
    if (!gr) return -1;
    uint32_t r = sw__ptab_find(&g->live, k);
    if (r != NONE && sw__rec_find(&g->live.recs[r], gr->gid) >= 0) return 0;
    int fresh = r == NONE;
    if (fresh && (r = sw__ptab_add(&g->live, k)) == NONE) {
        group_maybe_free(g, gr);
        return -1;
    }
    if (mem_add(g, gr, r) != 0) {
        if (fresh) sw__ptab_del(&g->live, r);
        group_maybe_free(g, gr);
        SW_ERROR("out_of_memory", "what=membership");
        return -1;
    }
    if (home) {
        sw__broadcast(g, SW_MSG_JOIN, gr, k);
        if (fresh) sw__mon_op(g, k);
    }
    return 1;
}

/* A local pid's record stays (see sw__member_add). */
int sw__member_del(sw_group_t *g, group_t *gr, const pkey_t *k, int home) {
    uint32_t r = sw__ptab_find(&g->live, k);
    if (r == NONE) return 0;
    int j = sw__rec_find(&g->live.recs[r], gr->gid);
    if (j < 0) return 0;
    if (home) sw__broadcast(g, SW_MSG_LEAVE, gr, k);
    sw__mem_del(g, gr, r, (uint32_t)j);
    if (g->live.recs[r].n == 0 && sw__key_beam(g, k) != g->self_beam) sw__ptab_del(&g->live, r);
    return 1;
}

void sw__rec_clear(sw_group_t *g, uint32_t r) {
    prec_t *p;
    while ((p = &g->live.recs[r])->n > 0) {
        uint32_t j = p->n - 1;
        sw__mem_del(g, g->byid[sw__mems(p)[j].gid], r, j);
    }
    sw__ptab_del(&g->live, r);
}

/* ---- parked memberships ------------------------------------------------ */

void sw__park_rec(sw_group_t *g, uint32_t r) {
    ptab_t *pt = &g->park[0];
    pkey_t k = g->live.recs[r].k;
    uint32_t pr = sw__ptab_find(pt, &k);
    if (pr == NONE && (pr = sw__ptab_add(pt, &k)) == NONE) return;
    prec_t *p = &g->live.recs[r];
    prec_t *q = &pt->recs[pr];
    for (uint32_t j = 0; j < p->n; j++) {
        uint32_t gid = sw__mems(p)[j].gid;
        if (sw__rec_find(q, gid) >= 0 || sw__rec_push(q, gid, 0) != 0) continue;
        g->byid[gid]->parked++;
    }
    if (q->n == 0) sw__ptab_del(pt, pr);
}

/* Forgets a park generation, releasing the groups it kept. */
static void park_drop(sw_group_t *g, ptab_t *pt) {
    for (uint32_t r = 0; r < pt->nrecs; r++) {
        prec_t *p = &pt->recs[r];
        if (p->k.nc == NONE) continue;
        for (uint32_t j = 0; j < p->n; j++) {
            group_t *gr = g->byid[sw__mems(p)[j].gid];
            gr->parked--;
            group_maybe_free(g, gr);
        }
    }
    sw__ptab_close(pt);
}

/* ---- requests ---------------------------------------------------------- */

void sw__join_home(sw_group_t *g, uint32_t ccbeam, const erlang_pid *caller, const char *ref,
                   size_t rlen, const char *name, size_t len, const pkey_t *k) {
    int r = sw__member_add(g, name, len, k, 1);
    sw__reply_via(g, ccbeam, caller, ref, rlen, r < 0 ? SW_MSG_OUT_OF_MEMORY : SW_MSG_OK);
}

void sw__leave_home(sw_group_t *g, uint32_t ccbeam, const erlang_pid *caller, const char *ref,
                    size_t rlen, const char *name, size_t len, const pkey_t *k) {
    group_t *gr = sw__group_get(g, name, len, 0);
    if (gr) sw__member_del(g, gr, k, 1);
    sw__reply_via(g, ccbeam, caller, ref, rlen, SW_MSG_OK);
}

/* Sends {join_req | leave_req, GroupBin, Pid, Caller, Ref} to the home, or
 * answers home_unreachable. */
static void request_remote(sw_group_t *g, enum sw_msg op, const erlang_pid *caller,
                           const char *ref, size_t rlen, const char *name, size_t len,
                           const erlang_pid *pid, uint32_t home) {
    sw_outbox_t *o = sw__peer_box(g, home);
    if (!o) {
        agent_reply(g, caller, ref, rlen, SW_MSG_HOME_UNREACHABLE);
        return;
    }
    ei_x_buff *x = &o->body;
    ei_x_encode_tuple_header(x, 5);
    sw_proto_encode(x, op);
    ei_x_encode_binary(x, name, (int)len);
    ei_x_encode_pid(x, pid);
    ei_x_encode_pid(x, caller);
    ei_x_append_buf(x, ref, (int)rlen);
    o->count++;
}

/* A local caller's join (join = 1) or leave: done here if pid is ours,
 * else asked of pid's home. */
static void join_or_leave(sw_group_t *g, int join, const erlang_pid *caller, const char *ref,
                          size_t rlen, const char *group, size_t glen, const erlang_pid *pid) {
    pkey_t k;
    if (sw__group_key(g, pid, &k) != 0) {
        agent_reply(g, caller, ref, rlen, SW_MSG_OUT_OF_MEMORY);
        return;
    }
    uint32_t home = sw__key_beam(g, &k);
    if (home != g->self_beam)
        request_remote(g, join ? SW_MSG_JOIN_REQ : SW_MSG_LEAVE_REQ, caller, ref, rlen, group, glen, pid, home);
    else if (join)
        sw__join_home(g, g->self_beam, caller, ref, rlen, group, glen, &k);
    else
        sw__leave_home(g, g->self_beam, caller, ref, rlen, group, glen, &k);
}

void sw_group_join(sw_group_t *g, const erlang_pid *caller, const char *ref, size_t rlen,
                   const char *group, size_t glen, const erlang_pid *pid) {
    join_or_leave(g, 1, caller, ref, rlen, group, glen, pid);
}

void sw_group_leave(sw_group_t *g, const erlang_pid *caller, const char *ref, size_t rlen,
                    const char *group, size_t glen, const erlang_pid *pid) {
    join_or_leave(g, 0, caller, ref, rlen, group, glen, pid);
}

void sw_group_pid_down(sw_group_t *g, const erlang_pid *pid) {
    pkey_t k;
    if (sw__group_key(g, pid, &k) != 0 || sw__key_beam(g, &k) != g->self_beam) return;
    uint32_t r = sw__ptab_find(&g->live, &k);
    if (r == NONE) return;
    if (g->live.recs[r].n > 0) sw__broadcast_down(g, &k);
    sw__rec_clear(g, r);
}

/* Appends the groups of k in table t to *gids. */
static void collect_gids(ptab_t *t, const pkey_t *k, uint32_t **gids, uint32_t *n, uint32_t *cap) {
    uint32_t r = sw__ptab_find(t, k);
    if (r == NONE) return;
    prec_t *p = &t->recs[r];
    for (uint32_t j = 0; j < p->n; j++) push_u32(gids, n, cap, sw__mems(p)[j].gid);
}

int sw_group_transfer(sw_group_t *g, const erlang_pid *old_pid, const erlang_pid *new_pid) {
    pkey_t ok, nk;
    if (sw__group_key(g, old_pid, &ok) != 0 || sw__group_key(g, new_pid, &nk) != 0) return -1;
    uint32_t home = sw__key_beam(g, &nk);
    if (home != g->self_beam) {
        sw_outbox_t *o = sw__peer_box(g, home);
        if (!o) return -1;
        ei_x_buff *x = &o->body;
        ei_x_encode_tuple_header(x, 3);
        sw_proto_encode(x, SW_MSG_TRANSFER);
        ei_x_encode_pid(x, old_pid);
        ei_x_encode_pid(x, new_pid);
        o->count++;
        return 0;
    }
    /* Copy the gids first: joining may move the records they live in. */
    uint32_t *gids = NULL, n = 0, cap = 0;
    collect_gids(&g->live, &ok, &gids, &n, &cap);
    collect_gids(&g->park[0], &ok, &gids, &n, &cap);
    collect_gids(&g->park[1], &ok, &gids, &n, &cap);
    int added = 0;
    for (uint32_t i = 0; i < n; i++) {
        group_t *gr = g->byid[gids[i]];
        if (gr && sw__member_add(g, gr->name, gr->nlen, &nk, 1) == 1) added++;
    }
    free(gids);
    return added;
}

/* ---- lifecycle, time, output ------------------------------------------- */

sw_group_t *sw_group_new(const char *beam) {
    sw_group_t *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    sw_atoms_init(&g->atoms);
    sw_htab_init(&g->ncs.tab);
    sw_htab_init(&g->gnames);
    sw__ptab_init(&g->live);
    sw__ptab_init(&g->park[0]);
    sw__ptab_init(&g->park[1]);
    sw_outbox_init(&g->mons);
    sw_outbox_init(&g->replies);
    ei_x_new(&g->scratch);
    g->self_beam = sw_atoms_intern(&g->atoms, beam);
    if (g->self_beam == NONE) {
        sw_group_free(g);
        return NULL;
    }
    return g;
}

void sw_group_free(sw_group_t *g) {
    if (!g) return;
    for (uint32_t gid = 0; gid < g->ngids; gid++) {
        group_t *gr = g->byid[gid];
        if (!gr) continue;
        sw_chunks_close(&gr->ch);
        free(gr);
    }
    free(g->byid);
    free(g->freegids);
    free(g->dq);
    sw_htab_close(&g->gnames);
    sw__ptab_close(&g->live);
    sw__ptab_close(&g->park[0]);
    sw__ptab_close(&g->park[1]);
    sw_peers_close(&g->peers);
    sw_outbox_free(&g->mons);
    sw_outbox_free(&g->replies);
    ei_x_free(&g->scratch);
    sw__ncs_close(&g->ncs);
    sw_atoms_close(&g->atoms);
    free(g);
}

void sw_group_tick(sw_group_t *g, uint64_t now_ms) {
    if (!g) return;
    g->now = now_ms;
    sw_proto_sync_tick(&g->sync, &g->peers, now_ms, "groups_sync_timeout");
    if (now_ms - g->park_rotated >= PARK_MS) {
        g->park_rotated = now_ms;
        park_drop(g, &g->park[1]);
        g->park[1] = g->park[0];
        sw__ptab_init(&g->park[0]);
    }
}

/* One changed chunk, {GroupBin, K, PidTuple} (an empty tuple: chunk K is
 * gone), for sw_chunks_drain. */
typedef struct {
    const sw_group_t *g;
    const group_t *gr;
    ei_x_buff *x;
} emit_ctx_t;

static void emit_chunk(void *ud, uint32_t k, const sw_chunk_t *c) {
    const emit_ctx_t *e = ud;
    ei_x_buff *x = e->x;
    ei_x_encode_tuple_header(x, 3);
    ei_x_encode_binary(x, e->gr->name, (int)e->gr->nlen);
    ei_x_encode_ulong(x, k);
    ei_x_encode_tuple_header(x, c ? (long)c->n : 0);
    for (uint32_t m = 0; c && m < c->n; m++) sw__group_enc_pid(x, e->g, &e->g->live.recs[c->mem[m]].k);
}

/* The changed chunks, [{GroupBin, K, PidTuple}]; clears dq. */
static void emit_chunks(sw_group_t *g, ei_x_buff *x) {
    long total = 0;
    for (uint32_t i = 0; i < g->ndq; i++) total += sw_chunks_nmarked(&g->byid[g->dq[i]]->ch);
    if (total) ei_x_encode_list_header(x, total);
    for (uint32_t i = 0; i < g->ndq; i++) {
        group_t *gr = g->byid[g->dq[i]];
        emit_ctx_t e = {g, gr, x};
        sw_chunks_drain(&gr->ch, emit_chunk, &e);
        gr->queued = 0;
        group_maybe_free(g, gr);
    }
    g->ndq = 0;
    ei_x_encode_empty_list(x);
}

/* Hands a peer's message to the emit callback of sw_group_flush. */
typedef struct {
    sw_group_emit_cb emit;
    void *ud;
} send_ctx_t;

static void send_peer(void *ud, const char *cnode, const char *buf, size_t len) {
    const send_ctx_t *s = ud;
    s->emit(s->ud, cnode, NULL, buf, len);
}

void sw_group_flush(sw_group_t *g, sw_group_emit_cb emit, void *ud) {
    if (!g) return;
    ei_x_buff *x = &g->scratch;
    send_ctx_t sc = {emit, ud};
    sw_proto_flush_peers(&g->peers, &g->atoms, x, SW_MSG_GOPS, send_peer, &sc);
    if (!g->sync.begun) return;
    if (g->ndq || g->mons.count || g->replies.count) {
        sw_proto_msg_begin(x, SW_MSG_GBATCH, 5);
        emit_chunks(g, x);
        sw_outbox_emit(x, &g->mons);
        sw_outbox_emit(x, &g->replies);
        sw_outbox_reset(&g->mons);
        sw_outbox_reset(&g->replies);
        emit(ud, NULL, &g->proc, x->buff, (size_t)x->index);
        sw_outbox_release(&g->mons);
        sw_outbox_release(&g->replies);
    }
    sw_buf_release(x);
    if (sw_proto_sync_done(&g->sync)) {
        sw_proto_msg_begin(x, SW_MSG_GSYNCED, 2);
        emit(ud, NULL, &g->proc, x->buff, (size_t)x->index);
    }
}

int sw_group_pending(const sw_group_t *g) {
    if (!g) return 0;
    if (sw_peers_pending(&g->peers)) return 1;
    return g->sync.begun &&
           (g->ndq || g->mons.count || g->replies.count || sw_proto_sync_news(&g->sync));
}

int sw_group_synced(const sw_group_t *g) { return g->sync.synced; }

void sw_group_stats(const sw_group_t *g, sw_group_stats_t *out) {
    *out = g->st;
    out->memberships = g->memberships;
    out->pids = g->live.live;
    out->parked = g->park[0].live + g->park[1].live;
    uint64_t b = sizeof *g + sw__ptab_bytes(&g->live) + sw__ptab_bytes(&g->park[0]) +
                 sw__ptab_bytes(&g->park[1]);
    b += (uint64_t)g->gnames.cap * sizeof(sw_htab_slot_t) + (uint64_t)g->capgids * sizeof(group_t *);
    for (uint32_t gid = 0; gid < g->ngids; gid++) {
        const group_t *gr = g->byid[gid];
        if (gr) b += sizeof *gr + gr->nlen + sw_chunks_bytes(&gr->ch);
    }
    out->state_bytes = b;
}

/* ---- inspection -------------------------------------------------------- */

int sw_group_is_member(const sw_group_t *g, const char *group, size_t glen, const erlang_pid *pid) {
    const group_t *gr = group_find(g, group, glen, group_hash(group, glen));
    uint32_t b = sw_atoms_find(&g->atoms, pid->node);
    if (!gr || b == NONE) return 0;
    /* Look the incarnation up without interning (g is const here). */
    const nc_t *nc = sw__ncs_find(&g->ncs, b, pid->creation);
    if (!nc) return 0;
    pkey_t k = {nc->idx, pid->num, pid->serial};
    uint32_t r = sw__ptab_find(&g->live, &k);
    if (r == NONE) return 0;
    return sw__rec_find(&g->live.recs[r], gr->gid) >= 0;
}

/* The pid of live record r. */
static void rec_pid(const sw_group_t *g, uint32_t r, erlang_pid *out) {
    const pkey_t *k = &g->live.recs[r].k;
    const nc_t *nc = g->ncs.byidx[k->nc];
    sw_pid_t p = {nc->beam, k->num, k->serial, nc->creation};
    memset(out, 0, sizeof *out);
    sw_pid_expand(&g->atoms, &p, out);
}

size_t sw_group_members(const sw_group_t *g, const char *group, size_t glen, erlang_pid *out,
                        size_t max) {
    const group_t *gr = group_find(g, group, glen, group_hash(group, glen));
    if (!gr) return 0;
    size_t n = 0;
    SW_CHUNKS_FOREACH(&gr->ch, r, if (n < max) rec_pid(g, r, &out[n]); n++);
    return n;
}

size_t sw_group_count(const sw_group_t *g, const char *group, size_t glen) {
    const group_t *gr = group_find(g, group, glen, group_hash(group, glen));
    return gr ? gr->ch.count : 0;
}
