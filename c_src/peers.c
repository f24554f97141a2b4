/* peers.c - peer records and outboxes; see peers.h. */
#include "peers.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proto.h"
#include "swarm_proto.h"
#include "term.h"

/* ---- outboxes ------------------------------------------------------------ */

void sw_buf_release(ei_x_buff *x) {
    if (x->buffsz > (1 << 20)) {
        ei_x_free(x);
        ei_x_new(x);
    }
    x->index = 0;
}

void sw_outbox_init(sw_outbox_t *o) {
    ei_x_new(&o->body);
    o->count = 0;
}

void sw_outbox_free(sw_outbox_t *o) {
    if (o->body.buff) ei_x_free(&o->body);
    o->count = 0;
}

void sw_outbox_reset(sw_outbox_t *o) {
    o->body.index = 0;
    o->count = 0;
}

void sw_outbox_release(sw_outbox_t *o) {
    sw_buf_release(&o->body);
    o->count = 0;
}

void sw_outbox_emit(ei_x_buff *x, const sw_outbox_t *o) {
    if (o->count) {
        ei_x_encode_list_header(x, o->count);
        ei_x_append_buf(x, o->body.buff, o->body.index);
    }
    ei_x_encode_empty_list(x);
}

/* ---- the peer list ------------------------------------------------------- */

void sw_peers_close(sw_peers_t *ps) {
    for (uint32_t i = 0; i < ps->n; i++) sw_outbox_free(&ps->v[i].out);
    free(ps->v);
    ps->v = NULL;
    ps->n = ps->cap = 0;
}

sw_peer_t *sw_peers_by_cnode(sw_peers_t *ps, uint32_t cnode) {
    for (uint32_t i = 0; i < ps->n; i++)
        if (ps->v[i].cnode == cnode) return &ps->v[i];
    return NULL;
}

sw_peer_t *sw_peers_by_beam(sw_peers_t *ps, uint32_t beam) {
    for (uint32_t i = 0; i < ps->n; i++)
        if (ps->v[i].beam == beam) return &ps->v[i];
    return NULL;
}

sw_peer_t *sw_peers_get(sw_peers_t *ps, uint32_t cnode) {
    sw_peer_t *p = sw_peers_by_cnode(ps, cnode);
    if (p) return p;
    if (ps->n == ps->cap) {
        uint32_t cap = ps->cap ? ps->cap * 2 : 8;
        sw_peer_t *nv = realloc(ps->v, (size_t)cap * sizeof *nv);
        if (!nv) return NULL;
        ps->v = nv;
        ps->cap = cap;
    }
    p = &ps->v[ps->n++];
    memset(p, 0, sizeof *p);
    p->cnode = cnode;
    p->beam = SW_ATOM_NONE;
    sw_outbox_init(&p->out);
    return p;
}

sw_peer_t *sw_peers_up(sw_peers_t *ps, sw_atoms_t *at, uint32_t self_beam, const char *beam,
                       const char *cnode) {
    uint32_t b = sw_atoms_intern(at, beam), c = sw_atoms_intern(at, cnode);
    if (b == SW_ATOM_NONE || c == SW_ATOM_NONE || b == self_beam) return NULL;
    sw_peer_t *p = sw_peers_get(ps, c);
    if (!p) return NULL;
    p->beam = b;
    p->agent_up = 1;
    p->down = 0;
    return p;
}

sw_peer_t *sw_peers_down(sw_peers_t *ps, uint32_t beam) {
    sw_peer_t *p = sw_peers_by_beam(ps, beam);
    if (p) {
        p->agent_up = 0;
        p->down = 1;
    }
    return p;
}

void sw_peers_set_beam(sw_peers_t *ps, sw_peer_t *from, uint32_t beam) {
    sw_peer_t *other = sw_peers_by_beam(ps, beam);
    if (other && other != from) {
        from->agent_up |= other->agent_up;
        from->awaited |= other->awaited;
        other->beam = SW_ATOM_NONE;
        other->agent_up = 0;
        other->awaited = 0;
    }
    from->beam = beam;
}

int sw_peer_unawait(sw_peer_t *p) {
    if (!p->awaited) return 0;
    p->awaited = 0;
    return 1;
}

int sw_peers_awaiting(const sw_peers_t *ps) {
    for (uint32_t i = 0; i < ps->n; i++)
        if (ps->v[i].awaited) return 1;
    return 0;
}

int sw_peers_pending(const sw_peers_t *ps) {
    for (uint32_t i = 0; i < ps->n; i++)
        if (ps->v[i].out.count) return 1;
    return 0;
}

void sw_peers_remove(sw_peers_t *ps, sw_peer_t *p) {
    sw_outbox_free(&p->out);
    sw_peer_t *last = &ps->v[ps->n - 1];
    if (p != last) *p = *last;
    ps->n--;
    if (ps->n == 0) {
        free(ps->v);
        ps->v = NULL;
        ps->cap = 0;
    }
}

const char *sw_peer_implied_beam(const char *cnode) {
    size_t pl = sizeof SW_CNODE_PREFIX - 1;
    return strncmp(cnode, SW_CNODE_PREFIX, pl) == 0 ? cnode + pl : NULL;
}

int sw_peer_hello_ok(const char *cnode, const char *beam) {
    const char *b = sw_peer_implied_beam(cnode);
    return b && strcmp(b, beam) == 0;
}

int sw_peer_hello_dec(const char *buf, int *index, int arity, char *beam, int *host) {
    *host = arity == 3;
    if ((arity != 2 && arity != 3) || ei_decode_atom(buf, index, beam) != 0) return -1;
    if (*host && sw_proto_decode(buf, index) != SW_MSG_HOST) return -1;
    return 0;
}

int sw_peer_ops_open_with_hello(const char *cnode, const char *buf, int index) {
    int n, arity, host;
    char beam[MAXATOMLEN_UTF8];
    if (ei_decode_list_header(buf, &index, &n) != 0 || n < 1 ||
        ei_decode_tuple_header(buf, &index, &arity) != 0 ||
        sw_proto_decode(buf, &index) != SW_MSG_HELLO ||
        sw_peer_hello_dec(buf, &index, arity, beam, &host) != 0)
        return 0;
    if (host) return strcmp(cnode, beam) == 0 ? 2 : 0;
    return sw_peer_hello_ok(cnode, beam);
}

int sw_peer_hello_apply(sw_peers_t *ps, sw_atoms_t *at, uint32_t self_beam, sw_peer_t *p,
                        const char *beam, int host) {
    /* A C node speaks only for the BEAM node its own name implies, a C
     * host only for its own node: a hello naming another node would let
     * any cookie holder replace that node's names with its sync. */
    const char *cnode = sw_atoms_str(at, p->cnode);
    if (host ? strcmp(cnode, beam) != 0 : !sw_peer_hello_ok(cnode, beam)) return -1;
    uint32_t b = sw_atoms_intern(at, beam);
    if (b == SW_ATOM_NONE || b == self_beam) return -1;
    if (host) {
        /* Nor may a host take the name of a swarm node's BEAM node. */
        const sw_peer_t *other = sw_peers_by_beam(ps, b);
        if (other && other != p && !other->host) return -1;
    }
    /* (A record that knew the BEAM node first, by peer_up before the
     * connection, is merged into this one.) */
    sw_peers_set_beam(ps, p, b);
    p->host = (uint8_t)host;
    return 0;
}

sw_peer_t *sw_peers_for_ops(sw_peers_t *ps, sw_atoms_t *at, const char *cnode, const char *buf,
                            int index, int *greet) {
    *greet = 0;
    uint32_t c = sw_atoms_find(at, cnode);
    sw_peer_t *p = c == SW_ATOM_NONE ? NULL : sw_peers_by_cnode(ps, c);
    if (p && (p->conn_up || p->down)) return p;
    int kind = sw_peer_ops_open_with_hello(cnode, buf, index);
    if (!kind) return p;
    if (kind == 2 && c != SW_ATOM_NONE) {
        /* A host may not take the name of a swarm node's BEAM node. */
        const sw_peer_t *other = sw_peers_by_beam(ps, c);
        if (other && other != p && !other->host) return p;
    }
    if (!p) {
        /* (A host's BEAM node is its C node: interning cnode lets its
         * hello's node in past the guard.) */
        c = sw_atoms_intern(at, cnode);
        const char *beam = sw_peer_implied_beam(cnode);
        if (c == SW_ATOM_NONE || (beam && sw_atoms_intern(at, beam) == SW_ATOM_NONE)) return NULL;
        p = sw_peers_get(ps, c);
        if (!p) return NULL;
    }
    *greet = 1;
    return p;
}

int sw_peers_forget(sw_peers_t *ps, sw_peer_t *p) {
    if (p->agent_up || p->down || p->awaited) return 0;
    sw_peers_remove(ps, p);
    return 1;
}

int sw_peer_list_names(const char *buf, int index, const char *beam) {
    int n, tup;
    if (ei_decode_list_header(buf, &index, &n) != 0) return 0;
    for (int k = 0; k < n; k++) {
        char b[MAXATOMLEN_UTF8], c[MAXATOMLEN_UTF8];
        if (ei_decode_tuple_header(buf, &index, &tup) != 0 || ei_decode_atom(buf, &index, b) != 0 ||
            ei_decode_atom(buf, &index, c) != 0)
            return 0;
        if (strcmp(b, beam) == 0) return 1;
    }
    return 0;
}

void sw_peer_hello(sw_peer_t *p, const sw_atoms_t *at, uint32_t self_beam, int host) {
    ei_x_buff *x = &p->out.body;
    ei_x_encode_tuple_header(x, host ? 3 : 2);
    sw_proto_encode(x, SW_MSG_HELLO);
    sw_atoms_enc(x, at, self_beam);
    if (host) sw_proto_encode(x, SW_MSG_HOST);
    p->out.count++;
}

int sw_peer_ops(sw_peer_t *from, const char *cnode, const char *buf, int *index, sw_peer_op_cb apply,
                void *ud, uint64_t *bad_ops, const char *event) {
    int type, size, n, bad = 0;
    if (ei_get_type(buf, index, &type, &size) != 0) return 1;
    if (type == ERL_NIL_EXT) return 0;
    if (ei_decode_list_header(buf, index, &n) != 0) {
        (*bad_ops)++;
        return 1;
    }
    for (int i = 0; i < n; i++) {
        int start = *index;
        if (apply(ud, from, buf, index) != 0) {
            bad++;
            (*bad_ops)++;
            SW_WARN(event, "from=%s", cnode);
            /* Resynchronise on the next list element. */
            *index = start;
            if (sw_term_skip(buf, index) != 0) return bad + (n - i);
        }
    }
    return bad;
}

int sw_peer_ops_guarded(sw_peer_t *from, sw_atoms_t *at, const char *cnode, const char *buf,
                        int *index, sw_peer_op_cb apply, void *ud, uint64_t *bad_ops,
                        const char *event) {
    sw_atoms_guard(at, 1);
    int r = sw_peer_ops(from, cnode, buf, index, apply, ud, bad_ops, event);
    sw_atoms_guard(at, 0);
    return r;
}

/* ---- the peer protocol's skeleton ---------------------------------------- */

void sw_proto_sync_begin(sw_proto_sync_t *s, uint64_t now) {
    s->begun = 1;
    s->synced = 0;
    s->synced_sent = 0;
    s->got_one = 0;
    s->hello_at = now;
}

void sw_proto_sync_await(sw_peers_t *ps) {
    for (uint32_t i = 0; i < ps->n; i++) {
        sw_peer_t *p = &ps->v[i];
        if (p->agent_up && !p->host && !p->synced) p->awaited = 1;
    }
}

void sw_peer_hosts(sw_peer_t *p, const sw_peers_t *ps, const sw_atoms_t *at) {
    /* (A host greeted before its hello is not marked yet: its name says.) */
    if (p->host || !sw_peer_implied_beam(sw_atoms_str(at, p->cnode))) return;
    long n = 0;
    for (uint32_t i = 0; i < ps->n; i++) {
        const sw_peer_t *q = &ps->v[i];
        n += q->host && q->conn_up && q->beam != SW_ATOM_NONE;
    }
    if (!n) return;
    ei_x_buff *x = &p->out.body;
    ei_x_encode_tuple_header(x, 2);
    sw_proto_encode(x, SW_MSG_HOSTS);
    ei_x_encode_list_header(x, n);
    for (uint32_t i = 0; i < ps->n; i++) {
        const sw_peer_t *q = &ps->v[i];
        if (q->host && q->conn_up && q->beam != SW_ATOM_NONE) sw_atoms_enc(x, at, q->beam);
    }
    ei_x_encode_empty_list(x);
    p->out.count++;
}

static int sync_hosts_has(const sw_proto_sync_t *s, uint32_t b) {
    for (uint32_t i = 0; i < s->nhosts; i++)
        if (s->hosts[i] == b) return 1;
    return 0;
}

int sw_proto_sync_hosts(sw_proto_sync_t *s, sw_peers_t *ps, sw_atoms_t *at, uint32_t self_beam,
                        const char *buf, int *index, int arity) {
    int n, type, size;
    char node[MAXATOMLEN_UTF8];
    if (arity != 2 || ei_get_type(buf, index, &type, &size) != 0) return -1;
    if (type == ERL_NIL_EXT) return ei_decode_list_header(buf, index, &n);
    /* Checked whole before anything is applied. */
    int start = *index;
    if (ei_decode_list_header(buf, index, &n) != 0) return -1;
    for (int k = 0; k < n; k++)
        if (ei_decode_atom(buf, index, node) != 0) return -1;
    if (ei_decode_list_header(buf, index, &size) != 0 || size != 0) return -1;
    if (s->synced) return 0;
    int i = start;
    ei_decode_list_header(buf, &i, &n);
    for (int k = 0; k < n && s->nhosts < SW_SYNC_MAX_HOSTS; k++) {
        ei_decode_atom(buf, &i, node);
        uint32_t b = sw_atoms_intern(at, node);
        if (b == SW_ATOM_NONE || b == self_beam || sync_hosts_has(s, b)) continue;
        /* (A peer's list naming a swarm node's BEAM node is wrong; a host
         * synced on its live connection is not waited for again.) */
        const sw_peer_t *q = sw_peers_by_beam(ps, b);
        if (q && (!q->host || (q->conn_up && q->synced))) continue;
        s->hosts[s->nhosts++] = b;
    }
    return 0;
}

void sw_proto_sync_check(sw_proto_sync_t *s, const sw_peers_t *ps) {
    if (s->synced || !s->begun || (s->need_one && !s->got_one) || s->nhosts || sw_peers_awaiting(ps))
        return;
    s->synced = 1;
}

void sw_proto_sync_peer_synced(sw_proto_sync_t *s, const sw_peers_t *ps, sw_peer_t *p) {
    p->synced = 1;
    if (p->host && p->beam != SW_ATOM_NONE)
        for (uint32_t i = 0; i < s->nhosts; i++)
            if (s->hosts[i] == p->beam) {
                s->hosts[i] = s->hosts[--s->nhosts];
                sw_proto_sync_check(s, ps);
                break;
            }
    if (s->need_one && p->agent_up && !p->host && !s->got_one) {
        s->got_one = 1;
        sw_peer_unawait(p);
        sw_proto_sync_check(s, ps);
    } else if (sw_peer_unawait(p)) {
        sw_proto_sync_check(s, ps);
    }
}

void sw_proto_sync_peer_gone(sw_proto_sync_t *s, const sw_peers_t *ps, sw_peer_t *p) {
    if (sw_peer_unawait(p)) sw_proto_sync_check(s, ps);
}

void sw_proto_sync_tick(sw_proto_sync_t *s, sw_peers_t *ps, uint64_t now, const char *event) {
    if (!s->begun || s->synced || now - s->hello_at < SW_SYNC_TIMEOUT_MS) return;
    if (s->need_one && !s->got_one) return;
    SW_WARN(event, "waited_ms=%u hosts=%u", SW_SYNC_TIMEOUT_MS, s->nhosts);
    for (uint32_t i = 0; i < ps->n; i++) ps->v[i].awaited = 0;
    s->nhosts = 0;
    sw_proto_sync_check(s, ps);
}

void sw_proto_sync_host_await(sw_proto_sync_t *s, sw_peers_t *ps, sw_peer_t *p, uint64_t now) {
    if (!s->need_one || !s->begun || s->synced || p->host) return;
    if (p->synced) {
        s->got_one = 1;
        sw_proto_sync_check(s, ps);
        return;
    }
    if (!sw_peers_awaiting(ps)) s->hello_at = now;
    p->awaited = 1;
}

int sw_proto_sync_news(const sw_proto_sync_t *s) { return s->synced && !s->synced_sent; }

int sw_proto_sync_done(sw_proto_sync_t *s) {
    if (!sw_proto_sync_news(s)) return 0;
    s->synced_sent = 1;
    return 1;
}

void sw_peer_conn_open(sw_peer_t *p) {
    p->conn_up = 1;
    p->synced = 0;
    p->sync_sent = 0;
    sw_outbox_release(&p->out);
}

void sw_peer_conn_close(sw_peer_t *p) {
    p->conn_up = 0;
    p->synced = 0;
    p->sync_sent = 0;
    p->leaving = 0; /* a new connection tells it again */
    sw_outbox_release(&p->out);
}

void sw_proto_msg_begin(ei_x_buff *x, enum sw_msg tag, int arity) {
    x->index = 0;
    ei_x_encode_version(x);
    ei_x_encode_tuple_header(x, arity);
    sw_proto_encode_tag(x);
    sw_proto_encode(x, tag);
}

void sw_proto_flush_peers(sw_peers_t *ps, const sw_atoms_t *at, ei_x_buff *x, enum sw_msg tag,
                          sw_proto_send_cb send, void *ud) {
    for (uint32_t i = 0; i < ps->n; i++) {
        sw_peer_t *p = &ps->v[i];
        if (!p->out.count) continue;
        sw_proto_msg_begin(x, tag, 3);
        sw_outbox_emit(x, &p->out);
        sw_outbox_release(&p->out);
        if (p->conn_up) send(ud, sw_atoms_str(at, p->cnode), x->buff, (size_t)x->index);
    }
}

ei_x_buff *sw_proto_reply_begin(sw_peers_t *ps, const sw_atoms_t *at, uint32_t self_beam,
                                uint32_t ccbeam, sw_outbox_t *local, const char *event) {
    if (ccbeam == self_beam) {
        ei_x_encode_tuple_header(&local->body, 3);
        local->count++;
        return &local->body;
    }
    sw_peer_t *p = sw_peers_by_beam(ps, ccbeam);
    if (!p || !p->conn_up) {
        SW_WARN(event, "to=%s reason=no_connection", sw_atoms_str(at, ccbeam));
        return NULL;
    }
    ei_x_buff *x = &p->out.body;
    ei_x_encode_tuple_header(x, 4);
    sw_proto_encode(x, SW_MSG_REPLY);
    p->out.count++;
    return x;
}
