/* group_msg.c - the messages of the local BEAM node to the process groups:
 * decoding {'$sw1', g..., ...} (sw_group_local) and carrying out the two
 * that are not plain requests, swarm_groups' hello and the stats query;
 * and the lists of memberships [{GroupBin, [Pid]}] that both that hello and
 * a peer's sync carry. See group.h for the contract.
 *
 * What it is not: the tracker's local messages (dist.c, beside it), or
 * the requests themselves (group.c). */
#include <string.h>

#include "group_int.h"
#include "log.h"
#include "swarm_proto.h"
#include "term.h"

/* ---- lists of memberships ---------------------------------------------- */

int sw__check_glist(const char *buf, int *index, const char *beam) {
    int type, size, n, tup, m;
    if (ei_get_type(buf, index, &type, &size) != 0) return -1;
    if (type == ERL_NIL_EXT) return sw_term_skip(buf, index);
    if (ei_decode_list_header(buf, index, &n) != 0) return -1;
    for (int i = 0; i < n; i++) {
        const char *name;
        size_t len;
        if (ei_decode_tuple_header(buf, index, &tup) != 0 || tup != 2 ||
            sw_term_dec_ext_bin(buf, index, SW_MAX_NAME_BYTES, &name, &len) != 0)
            return -1;
        if (ei_get_type(buf, index, &type, &size) != 0) return -1;
        if (type == ERL_NIL_EXT) {
            if (sw_term_skip(buf, index) != 0) return -1;
            continue;
        }
        if (ei_decode_list_header(buf, index, &m) != 0) return -1;
        for (int j = 0; j < m; j++) {
            erlang_pid ep;
            if (ei_decode_pid(buf, index, &ep) != 0) return -1;
            if (beam && strcmp(ep.node, beam) != 0) return -1;
        }
        if (ei_get_type(buf, index, &type, &size) != 0 || type != ERL_NIL_EXT) return -1;
        sw_term_skip(buf, index);
    }
    if (ei_get_type(buf, index, &type, &size) != 0 || type != ERL_NIL_EXT) return -1;
    return sw_term_skip(buf, index);
}

void sw__walk_glist(sw_group_t *g, const char *buf, int *index, sw__glist_cb fn) {
    int n, tup, m;
    if (ei_decode_list_header(buf, index, &n) != 0) return;
    for (int i = 0; i < n; i++) {
        const char *name;
        size_t len;
        ei_decode_tuple_header(buf, index, &tup);
        sw_term_dec_ext_bin(buf, index, SW_MAX_NAME_BYTES, &name, &len);
        ei_decode_list_header(buf, index, &m);
        for (int j = 0; j < m; j++) {
            pkey_t k;
            if (sw__group_dec_pid(g, buf, index, &k) == 0) fn(g, name, len, &k);
        }
        if (m > 0) sw_term_skip(buf, index); /* the pid list's tail */
    }
    if (n > 0) sw_term_skip(buf, index);
}

/* ---- swarm_groups' hello ----------------------------------------------- */

static void adopt_item(sw_group_t *g, const char *name, size_t len, const pkey_t *k) {
    if (sw__key_beam(g, k) == g->self_beam) sw__member_add(g, name, len, k, 1);
}

static int ghello(sw_group_t *g, const erlang_pid *proc, const char *buf, int *index) {
    int start = *index;
    erlang_pid holder;
    if (sw__check_glist(buf, index, NULL) != 0 || ei_decode_pid(buf, index, &holder) != 0) return -1;
    /* Only a C node that never met swarm_groups adopts its list (it was
     * restarted: the list is all it can know). A later hello (swarm_groups
     * restarted, or their link dropped and came back) finds this state the
     * truth: the list may still show a membership whose leave was lost. */
    int adopt = !g->sync.begun;
    g->proc = *proc;
    sw_proto_sync_begin(&g->sync, g->now);
    int i = start;
    if (adopt) sw__walk_glist(g, buf, &i, adopt_item);
    /* The whole replica again: every chunk, and one monitor request per
     * local member to this swarm_groups, which monitors nothing yet (a new
     * one monitors from a new process): older requests are dropped, and
     * local pids that left every group are forgotten (nobody monitors
     * them any more). */
    sw_outbox_reset(&g->mons);
    /* First in the list, {hello, Holder}: the monitor requests that follow
     * are for that holder; swarm_groups drops those before it (made for an
     * earlier holder, or for an earlier hello). */
    ei_x_encode_tuple_header(&g->mons.body, 2);
    sw_proto_encode(&g->mons.body, SW_MSG_HELLO);
    ei_x_encode_pid(&g->mons.body, &holder);
    g->mons.count++;
    sw__dirty_everything(g);
    for (uint32_t r = 0; r < g->live.nrecs; r++) {
        prec_t *p = &g->live.recs[r];
        if (p->k.nc == NONE || sw__key_beam(g, &p->k) != g->self_beam) continue;
        if (p->n == 0) sw__ptab_del(&g->live, r);
        else sw__mon_op(g, &p->k);
    }
    for (uint32_t k = 0; k < g->peers.n; k++) {
        sw_peer_t *p = &g->peers.v[k];
        if (p->conn_up && !p->sync_sent) sw__send_sync(g, p);
    }
    sw_proto_sync_await(&g->peers);
    sw_proto_sync_check(&g->sync, &g->peers);
    SW_DEBUG("groups_hello", "groups=%llu memberships=%llu", (unsigned long long)g->st.groups,
            (unsigned long long)g->memberships);
    return 0;
}

/* ---- the stats query --------------------------------------------------- */

static void reply_stats(sw_group_t *g, const erlang_pid *caller, const char *ref, size_t rlen) {
    sw_group_stats_t st;
    sw_group_stats(g, &st);
    const sw_counter_t kv[] = {
        {"groups", st.groups},           {"memberships", st.memberships},
        {"pids", st.pids},               {"parked", st.parked},
        {"bad_ops", st.bad_ops},         {"bad_msgs", st.bad_msgs},
        {"unreachable", st.unreachable}, {"state_bytes", st.state_bytes},
        {"synced", (uint64_t)g->sync.synced},
    };
    size_t n = sizeof kv / sizeof kv[0];
    ei_x_buff *x = &g->replies.body;
    ei_x_encode_tuple_header(x, 3);
    ei_x_encode_pid(x, caller);
    ei_x_append_buf(x, ref, (int)rlen);
    sw_term_enc_counters(x, kv, n);
    g->replies.count++;
}

/* ---- decoding ---------------------------------------------------------- */

int sw_group_local(sw_group_t *g, int tag, int arity, const char *buf, int *index) {
    erlang_pid caller, pid, pid2;
    const char *ref, *name;
    size_t rlen, len;
    switch (tag) {
    case SW_MSG_GJOIN:
    case SW_MSG_GLEAVE:
        if (arity != 6 || ei_decode_pid(buf, index, &caller) != 0 || sw_term_dec_raw(buf, index, &ref, &rlen) != 0 ||
            sw_term_dec_ext_bin(buf, index, SW_MAX_NAME_BYTES, &name, &len) != 0 || ei_decode_pid(buf, index, &pid) != 0)
            goto bad;
        if (tag == SW_MSG_GJOIN) sw_group_join(g, &caller, ref, rlen, name, len, &pid);
        else sw_group_leave(g, &caller, ref, rlen, name, len, &pid);
        break;
    case SW_MSG_GDOWN:
        if (arity != 3 || ei_decode_pid(buf, index, &pid) != 0) goto bad;
        sw_group_pid_down(g, &pid);
        break;
    case SW_MSG_GHELLO:
        if (arity != 5 || ei_decode_pid(buf, index, &pid) != 0 || ghello(g, &pid, buf, index) != 0)
            goto bad;
        break;
    case SW_MSG_GTRANSFER:
        if (arity != 4 || ei_decode_pid(buf, index, &pid) != 0 || ei_decode_pid(buf, index, &pid2) != 0)
            goto bad;
        sw_group_transfer(g, &pid, &pid2);
        break;
    case SW_MSG_GSTATS:
        if (arity != 4 || ei_decode_pid(buf, index, &caller) != 0 || sw_term_dec_raw(buf, index, &ref, &rlen) != 0)
            goto bad;
        reply_stats(g, &caller, ref, rlen);
        break;
    default:
        goto bad;
    }
    return 0;
bad:
    g->st.bad_msgs++;
    return -1;
}
