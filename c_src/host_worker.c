/* host_worker.c - the workers of a C host: their table, their pids, and
 * what the distribution protocol asks of a process.
 *
 * What it is: the pid -> worker table (pids {HostNode, Num, Serial,
 * Creation} minted from a 28-bit counter), the worker API of swarm.h, and
 * the handling of every frame addressed to a worker's pid: messages
 * (SEND and its variants: '$gen_call' to the call callback with a from
 * handle, '$gen_cast' to cast, a reply to one of the worker's own calls to
 * its waiting call, anything else to info), monitors (MONITOR_P recorded,
 * DEMONITOR_P dropped, a monitor of a dead pid or of a registered name
 * answered noproc at once), links (LINK, UNLINK, UNLINK_ID answered with
 * UNLINK_ID_ACK; a link to a dead pid answered with EXIT noproc) and exit
 * signals (EXIT from a linked process, EXIT2 from exit/2, with and without
 * payload), and the stop of a worker: terminate, names and groups removed
 * cluster-wide, monitors and links told, its calls ended, its memory freed
 * at the next check of the loop.
 * What it is not: the connections (host.c), the calls a worker makes
 * (host_call.c), names and groups (host_reg.c).
 *
 * Memory: a worker is a 56-byte record plus its slot in the table (16 bytes
 * at a load of at most 3/4); monitors and links are allocated only when
 * used.
 *
 * Bad input: every frame is validated before ei reads it; a malformed
 * control or message, or one for a pid with no live worker, is counted in
 * stats.dropped and dropped (a monitor or link of a dead pid is answered,
 * as the BEAM does). */
#include <stdlib.h>
#include <string.h>

#include "host_int.h"
#include "log.h"
#include "term.h"

/* ---- the table ----------------------------------------------------------- */

static uint64_t id_hash(uint32_t id) { return sw_hash_u64(id); }

static int id_eq(const void *item, const void *key) {
    return ((const swarm_worker_t *)item)->id == *(const uint32_t *)key;
}

static swarm_worker_t *find_id(swarm_host_t *h, uint32_t id) {
    return sw_htab_find(&h->workers, id_hash(id), &id, id_eq);
}

static uint32_t pid_id(const erlang_pid *p) {
    return (p->num & 0x7fffu) | (p->serial & 0x1fffu) << 15;
}

void sw__worker_pid(const swarm_worker_t *w, erlang_pid *out) {
    const swarm_host_t *h = w->h;
    memset(out, 0, sizeof *out);
    memcpy(out->node, h->name, strlen(h->name) + 1);
    out->num = w->id & 0x7fffu;
    out->serial = w->id >> 15;
    out->creation = h->node ? sw_node_creation(h->node) : 0;
}

void sw__worker_enc_pid(const swarm_worker_t *w, ei_x_buff *x) {
    erlang_pid p;
    sw__worker_pid(w, &p);
    ei_x_encode_pid(x, &p);
}

/* The worker a pid names: this node, this incarnation, a live worker. */
swarm_worker_t *sw__host_worker_find(swarm_host_t *h, const erlang_pid *pid) {
    if (strcmp(pid->node, h->name) != 0) return NULL;
    if (pid->creation != (h->node ? sw_node_creation(h->node) : 0)) return NULL;
    if (pid->num > 0x7fffu || pid->serial > 0x1fffu) return NULL;
    uint32_t id = pid_id(pid);
    if (id == 0) return NULL;
    swarm_worker_t *w = find_id(h, id);
    return w && !(w->flags & SW_W_STOPPING) ? w : NULL;
}

/* ---- the API ------------------------------------------------------------- */

swarm_worker_t *swarm_worker_new(swarm_host_t *h, const swarm_worker_cbs_t *cbs, void *data) {
    if (!h || !cbs || h->stopping) return NULL;
    if (h->workers.count >= (1u << SW_HOST_PID_BITS) - 2) return NULL;
    swarm_worker_t *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    /* The next free number: numbers are reused only after 2^28 workers,
     * and then only those no live worker holds. */
    uint32_t id = h->next_id;
    do {
        id = (id + 1) & ((1u << SW_HOST_PID_BITS) - 1);
    } while (id == 0 || find_id(h, id));
    w->h = h;
    w->cbs = cbs;
    w->data = data;
    w->id = id;
    if (sw_htab_insert(&h->workers, id_hash(id), w) != 0) {
        free(w);
        return NULL;
    }
    h->next_id = id;
    h->st.workers++;
    return w;
}

/* Made afresh each time: a worker created before the host was published
 * gets the node's creation once it is known. */
void swarm_worker_pid(const swarm_worker_t *w, erlang_pid *out) { sw__worker_pid(w, out); }

swarm_host_t *swarm_worker_host(const swarm_worker_t *w) { return w->h; }
void *swarm_worker_data(const swarm_worker_t *w) { return w->data; }
void swarm_worker_set_data(swarm_worker_t *w, void *data) { w->data = data; }

void swarm_worker_trap_exit(swarm_worker_t *w, int on) {
    if (on) w->flags |= SW_W_TRAP;
    else w->flags &= (uint8_t)~SW_W_TRAP;
}

/* ---- side tables --------------------------------------------------------- */

sw_wside_t *sw__worker_side(swarm_worker_t *w) {
    if (!w->side) w->side = calloc(1, sizeof *w->side);
    return w->side;
}

static int rel_add(swarm_worker_t *w, int kind, const char *pid, size_t plen, const char *ref,
                   size_t rlen) {
    sw_wside_t *s = sw__worker_side(w);
    if (!s || plen > UINT16_MAX || rlen > UINT16_MAX) return -1;
    if (s->n == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 2;
        sw_rel_t **nr = realloc(s->rels, cap * sizeof *nr);
        if (!nr) return -1;
        s->rels = nr;
        s->cap = cap;
    }
    sw_rel_t *r = malloc(sizeof *r + plen + rlen);
    if (!r) return -1;
    r->kind = (uint8_t)kind;
    r->plen = (uint16_t)plen;
    r->rlen = (uint16_t)rlen;
    memcpy(r->bytes, pid, plen);
    if (rlen) memcpy(r->bytes + plen, ref, rlen);
    s->rels[s->n++] = r;
    if (kind == SW_REL_MON) w->h->st.monitors++;
    else w->h->st.links++;
    return 0;
}

static void rel_del_at(swarm_worker_t *w, uint32_t i) {
    sw_wside_t *s = w->side;
    if (s->rels[i]->kind == SW_REL_MON) w->h->st.monitors--;
    else w->h->st.links--;
    free(s->rels[i]);
    s->rels[i] = s->rels[--s->n];
}

static int pid_eq(const erlang_pid *a, const erlang_pid *b) {
    return a->num == b->num && a->serial == b->serial && a->creation == b->creation &&
           strcmp(a->node, b->node) == 0;
}

/* The index of the relation of this kind with pid (and, for a monitor, with
 * these Ref bytes), or -1. */
static long rel_find(const swarm_worker_t *w, int kind, const erlang_pid *pid, const char *ref,
                     size_t rlen) {
    const sw_wside_t *s = w->side;
    if (!s) return -1;
    for (uint32_t i = 0; i < s->n; i++) {
        const sw_rel_t *r = s->rels[i];
        if (r->kind != kind) continue;
        if (ref && (r->rlen != rlen || memcmp(r->bytes + r->plen, ref, rlen) != 0)) continue;
        erlang_pid p;
        int idx = 0;
        if (ei_decode_pid(r->bytes, &idx, &p) == 0 && pid_eq(&p, pid)) return (long)i;
    }
    return -1;
}

/* ---- controls sent ------------------------------------------------------- */

static void ctrl_send(swarm_host_t *h, const erlang_pid *to) {
    sw__host_route(h, to->node, h->ctrl.buff, (size_t)h->ctrl.index, NULL, 0);
}

void sw__enc_atom_ext(ei_x_buff *x, const char *atom) {
    x->index = 0;
    ei_x_encode_version(x);
    ei_x_encode_atom(x, atom);
}

/* {21, Proc, Watcher, Ref, Reason}: Proc (raw) is down, or never was. */
static void send_monitor_exit(swarm_host_t *h, const char *proc, size_t plen,
                              const erlang_pid *watcher, const char *ref, size_t rlen,
                              const char *reason, size_t len) {
    ei_x_buff *x = sw__host_ctrl(h, 5, SW_DOP_MONITOR_P_EXIT);
    ei_x_append_buf(x, proc, (int)plen);
    ei_x_encode_pid(x, watcher);
    ei_x_append_buf(x, ref, (int)rlen);
    ei_x_append_buf(x, reason, (int)len);
    ctrl_send(h, watcher);
}

/* {3, From, To, Reason}: the exit signal of a link. */
static void send_link_exit(swarm_host_t *h, const char *from, size_t flen, const erlang_pid *to,
                           const char *reason, size_t len) {
    ei_x_buff *x = sw__host_ctrl(h, 4, SW_DOP_EXIT);
    ei_x_append_buf(x, from, (int)flen);
    ei_x_encode_pid(x, to);
    ei_x_append_buf(x, reason, (int)len);
    ctrl_send(h, to);
}

static const char noproc_raw[] = {(char)ERL_SMALL_ATOM_UTF8_EXT, 6, 'n', 'o', 'p', 'r', 'o', 'c'};

/* ---- stopping ------------------------------------------------------------ */

static void worker_stop(swarm_worker_t *w, const char *reason, size_t len) {
    swarm_host_t *h = w->h;
    w->flags |= SW_W_STOPPING;
    if (w->cbs->terminate) w->cbs->terminate(w, reason, len);
    sw_htab_remove(&h->workers, id_hash(w->id), w);
    h->st.workers--;
    erlang_pid self;
    sw__worker_pid(w, &self);
    if (h->tracker) sw_tracker_pid_down(h->tracker, &self);
    if (h->groups) sw_group_pid_down(h->groups, &self);
    sw__calls_worker_stopped(w);
    sw__reg_worker_stopped(h, w);
    /* Monitors and links are told the reason; the worker's own pid goes
     * first in each control, encoded once. */
    ei_x_buff me;
    if (w->side && w->side->n && ei_x_new(&me) == 0) {
        ei_x_encode_pid(&me, &self);
        sw_wside_t *s = w->side;
        while (s->n) {
            sw_rel_t *r = s->rels[s->n - 1];
            erlang_pid other;
            int idx = 0;
            if (ei_decode_pid(r->bytes, &idx, &other) == 0) {
                if (r->kind == SW_REL_MON)
                    send_monitor_exit(h, me.buff, (size_t)me.index, &other, r->bytes + r->plen,
                                      r->rlen, reason + 1, len - 1);
                else
                    send_link_exit(h, me.buff, (size_t)me.index, &other, reason + 1, len - 1);
            }
            rel_del_at(w, s->n - 1);
        }
        ei_x_free(&me);
    }
    w->next_free = h->free_list;
    h->free_list = w;
    sw__host_wake(h);
}

int swarm_worker_stop(swarm_worker_t *w, const char *reason, size_t len) {
    if (!w) return SWARM_EINVAL;
    if (w->flags & SW_W_STOPPING) return SWARM_ESTOPPED;
    if (reason && (len < 2 || sw_term_validate_ext(reason, len) != 0)) return SWARM_EBADTERM;
    if (reason) {
        worker_stop(w, reason, len);
        return SWARM_OK;
    }
    ei_x_buff x;
    if (ei_x_new(&x) != 0) return SWARM_ENOMEM;
    sw__enc_atom_ext(&x, "normal");
    worker_stop(w, x.buff, (size_t)x.index);
    ei_x_free(&x);
    return SWARM_OK;
}

void sw__host_workers_stop(swarm_host_t *h) {
    ei_x_buff x;
    if (ei_x_new(&x) != 0) return;
    sw__enc_atom_ext(&x, "shutdown");
    for (size_t i = 0; i < h->workers.cap; i++) {
        swarm_worker_t *w = sw_htab_at(&h->workers, i);
        if (w) worker_stop(w, x.buff, (size_t)x.index);
    }
    ei_x_free(&x);
}

static void worker_free(swarm_worker_t *w) {
    if (w->side) {
        for (uint32_t i = 0; i < w->side->n; i++) free(w->side->rels[i]);
        free(w->side->rels);
        free(w->side);
    }
    free(w);
}

void sw__host_workers_reap(swarm_host_t *h) {
    while (h->free_list) {
        swarm_worker_t *w = h->free_list;
        h->free_list = w->next_free;
        worker_free(w);
    }
}

void sw__host_workers_close(swarm_host_t *h) {
    for (size_t i = 0; i < h->workers.cap; i++) {
        swarm_worker_t *w = sw_htab_at(&h->workers, i);
        if (w) worker_free(w);
    }
    sw_htab_close(&h->workers);
    sw__host_workers_reap(h);
}

/* ---- messages ------------------------------------------------------------ */

/* Hands callback cb the term at buf[idx..end) with a 131 byte in front (a
 * copy: the callback may send, and its input must not move). */
typedef struct {
    char small[256];
    char *p;
    size_t len;
} ext_t;

static int ext_make(ext_t *e, const char *raw, size_t len) {
    e->p = len + 1 <= sizeof e->small ? e->small : malloc(len + 1);
    if (!e->p) return -1;
    e->p[0] = (char)131;
    memcpy(e->p + 1, raw, len);
    e->len = len + 1;
    return 0;
}

static void ext_done(ext_t *e) {
    if (e->p != e->small) free(e->p);
}

/* A message (msg: with 131, validated) for worker w. */
static void deliver(swarm_worker_t *w, const char *msg, size_t len) {
    swarm_host_t *h = w->h;
    h->st.msgs_in++;
    if (w->side && w->side->calls && sw__call_reply(w, msg, len)) return;
    int idx = 1, arity, type, size;
    char atom[MAXATOMLEN_UTF8];
    ext_t e;
    if (ei_get_type(msg, &idx, &type, &size) == 0 &&
        (type == ERL_SMALL_TUPLE_EXT || type == ERL_LARGE_TUPLE_EXT) &&
        ei_decode_tuple_header(msg, &idx, &arity) == 0 && (arity == 2 || arity == 3) &&
        ei_get_type(msg, &idx, &type, &size) == 0 &&
        (type == ERL_ATOM_EXT || type == ERL_SMALL_ATOM_EXT || type == ERL_ATOM_UTF8_EXT ||
         type == ERL_SMALL_ATOM_UTF8_EXT) &&
        ei_decode_atom(msg, &idx, atom) == 0) {
        if (arity == 3 && strcmp(atom, "$gen_call") == 0) {
            /* {'$gen_call', {Pid, Tag}, Msg} */
            erlang_pid caller;
            const char *tag;
            size_t tlen;
            int fa;
            if (ei_decode_tuple_header(msg, &idx, &fa) == 0 && fa == 2 &&
                ei_decode_pid(msg, &idx, &caller) == 0 && sw_term_dec_raw(msg, &idx, &tag, &tlen) == 0) {
                h->st.calls_in++;
                if (!w->cbs->call) {
                    h->st.dropped++;
                    return;
                }
                swarm_from_t *from = sw__from_new(h, &caller, tag, tlen);
                if (!from || ext_make(&e, msg + idx, len - (size_t)idx) != 0) {
                    if (from) swarm_from_free(from);
                    h->st.dropped++;
                    return;
                }
                w->cbs->call(w, from, e.p, e.len);
                ext_done(&e);
                return;
            }
        } else if (arity == 2 && strcmp(atom, "$gen_cast") == 0) {
            if (!w->cbs->cast) return;
            if (ext_make(&e, msg + idx, len - (size_t)idx) != 0) {
                h->st.dropped++;
                return;
            }
            w->cbs->cast(w, e.p, e.len);
            ext_done(&e);
            return;
        }
    }
    if (w->cbs->info) w->cbs->info(w, msg, len);
}

/* {'EXIT', From, Reason} to a worker that traps exits. */
static void deliver_exit(swarm_worker_t *w, const char *from, size_t flen, const char *reason,
                         size_t rlen) {
    ei_x_buff x;
    if (ei_x_new_with_version(&x) != 0) return;
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "EXIT");
    ei_x_append_buf(&x, from, (int)flen);
    ei_x_append_buf(&x, reason, (int)rlen);
    deliver(w, x.buff, (size_t)x.index);
    ei_x_free(&x);
}

static int is_atom(const char *raw, size_t len, const char *name) {
    int idx = 0, type, size;
    char atom[MAXATOMLEN_UTF8];
    if (ei_get_type(raw, &idx, &type, &size) != 0) return 0;
    if (type != ERL_ATOM_EXT && type != ERL_SMALL_ATOM_EXT && type != ERL_ATOM_UTF8_EXT &&
        type != ERL_SMALL_ATOM_UTF8_EXT)
        return 0;
    return ei_decode_atom(raw, &idx, atom) == 0 && (size_t)idx == len && strcmp(atom, name) == 0;
}

/* An exit signal (reason raw, no 131) from `from` to w; link != 0: a link's
 * EXIT, else exit/2's EXIT2. */
static void exit_signal(swarm_worker_t *w, const char *from, size_t flen, const erlang_pid *frompid,
                        const char *reason, size_t rlen, int link) {
    if (link) {
        long i = rel_find(w, SW_REL_LINK, frompid, NULL, 0);
        if (i < 0) return; /* not linked (any more): no signal */
        rel_del_at(w, (uint32_t)i);
    } else if (is_atom(reason, rlen, "kill")) {
        ei_x_buff x;
        if (ei_x_new(&x) != 0) return;
        sw__enc_atom_ext(&x, "killed");
        worker_stop(w, x.buff, (size_t)x.index);
        ei_x_free(&x);
        return;
    }
    if (w->flags & SW_W_TRAP) {
        deliver_exit(w, from, flen, reason, rlen);
        return;
    }
    if (is_atom(reason, rlen, "normal")) return;
    ext_t e;
    if (ext_make(&e, reason, rlen) != 0) return;
    worker_stop(w, e.p, e.len);
    ext_done(&e);
}

/* The index of a relation of w with a process of node (kind 0: any), or
 * -1; *p gets its pid. */
static long rel_on_node(const swarm_worker_t *w, int kind, const char *node, erlang_pid *p) {
    for (uint32_t i = 0; w->side && i < w->side->n; i++) {
        const sw_rel_t *r = w->side->rels[i];
        int idx = 0;
        if ((!kind || r->kind == kind) && ei_decode_pid(r->bytes, &idx, p) == 0 &&
            strcmp(p->node, node) == 0)
            return (long)i;
    }
    return -1;
}

/* The connection to node went down: monitors held by its processes are
 * gone, and a link to one of them is an exit signal `noconnection`, as on
 * a BEAM node. The workers concerned are listed first: an exit signal
 * runs callbacks, which may create workers (the table must not change
 * while it is walked). */
void sw__host_workers_node_down(swarm_host_t *h, const char *node) {
    static const char noconn_raw[] = {(char)ERL_SMALL_ATOM_UTF8_EXT, 12, 'n', 'o', 'c', 'o', 'n', 'n',
                                      'e', 'c', 't', 'i', 'o', 'n'};
    uint32_t *ids = NULL;
    size_t n = 0, cap = 0;
    erlang_pid p;
    for (size_t i = 0; i < h->workers.cap; i++) {
        swarm_worker_t *w = sw_htab_at(&h->workers, i);
        if (!w || !w->side) continue;
        long k;
        while ((k = rel_on_node(w, SW_REL_MON, node, &p)) >= 0) rel_del_at(w, (uint32_t)k);
        if (rel_on_node(w, SW_REL_LINK, node, &p) < 0) continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            uint32_t *ni = realloc(ids, nc * sizeof *ni);
            if (!ni) break;
            ids = ni;
            cap = nc;
        }
        ids[n++] = w->id;
    }
    ei_x_buff from;
    if (n && ei_x_new(&from) == 0) {
        for (size_t i = 0; i < n; i++) {
            swarm_worker_t *w;
            long k;
            while ((w = find_id(h, ids[i])) && !(w->flags & SW_W_STOPPING) &&
                   (k = rel_on_node(w, SW_REL_LINK, node, &p)) >= 0) {
                from.index = 0;
                ei_x_encode_pid(&from, &p);
                exit_signal(w, from.buff, (size_t)from.index, &p, noconn_raw, sizeof noconn_raw, 1);
            }
        }
        ei_x_free(&from);
    }
    free(ids);
}

/* ---- frames -------------------------------------------------------------- */

/* The raw bytes of the term at *idx, and the pid it decodes to. */
static int dec_pid_raw(const char *buf, int *idx, erlang_pid *p, const char **raw, size_t *rlen) {
    int at = *idx;
    if (ei_decode_pid(buf, idx, p) != 0) return -1;
    *raw = buf + at;
    *rlen = (size_t)(*idx - at);
    return 0;
}

/* The arity of the control tuple of op, Op included, or -1 for an op that
 * is not checked here (not a worker's, or ignored whatever it holds). The
 * decoders below read element after element without a bound: a tuple
 * shorter than its op's would let them read past the control term. */
static int ctrl_arity(long op) {
    switch (op) {
    case SW_DOP_SEND:
    case SW_DOP_SEND_SENDER:
    case SW_DOP_LINK:
    case SW_DOP_UNLINK:
    case SW_DOP_PAYLOAD_EXIT:
    case SW_DOP_PAYLOAD_EXIT2:
        return 3;
    case SW_DOP_SEND_TT:
    case SW_DOP_SEND_SENDER_TT:
    case SW_DOP_REG_SEND:
    case SW_DOP_UNLINK_ID:
    case SW_DOP_EXIT:
    case SW_DOP_EXIT2:
    case SW_DOP_PAYLOAD_EXIT_TT:
    case SW_DOP_PAYLOAD_EXIT2_TT:
    case SW_DOP_MONITOR_P:
    case SW_DOP_DEMONITOR_P:
    case SW_DOP_PAYLOAD_MONITOR_P_EXIT:
        return 4;
    case SW_DOP_REG_SEND_TT:
    case SW_DOP_EXIT_TT:
    case SW_DOP_EXIT2_TT:
    case SW_DOP_MONITOR_P_EXIT:
        return 5;
    default:
        return -1;
    }
}

int sw__host_worker_frame(swarm_host_t *h, const char *from, const char *buf, size_t len) {
    int idx = 0, version, arity, mi;
    long op;
    erlang_pid fp, tp;
    const char *fraw, *traw, *ref, *reason;
    size_t flen, tlen, rlen, reasonlen;
    swarm_worker_t *w;
    char toname[MAXATOMLEN_UTF8];

    if (sw_dist_frame_check(buf, len, &mi) != 0 || ei_decode_version(buf, &idx, &version) != 0 ||
        ei_decode_tuple_header(buf, &idx, &arity) != 0 || arity < 1 ||
        ei_decode_long(buf, &idx, &op) != 0 || (ctrl_arity(op) >= 0 && arity != ctrl_arity(op)))
        goto dropped;
    if (op != SW_DOP_SEND && op != SW_DOP_REG_SEND) SW_DEBUG("control", "from=%s op=%ld", from, op);
    const char *msg = (size_t)mi < len ? buf + mi : NULL;
    size_t mlen = (size_t)mi < len ? len - (size_t)mi : 0;

    switch (op) {
    case SW_DOP_SEND:
    case SW_DOP_SEND_TT:
    case SW_DOP_SEND_SENDER:
    case SW_DOP_SEND_SENDER_TT:
        /* {2, '', To} {12, '', To, Token} {22, From, To} {23, From, To, Token} */
        if (sw_term_skip(buf, &idx) != 0 || ei_decode_pid(buf, &idx, &tp) != 0 || !msg) goto dropped;
        if (strcmp(tp.node, h->name) == 0 && pid_id(&tp) == 0 && tp.num == 0) return 0;
        if (!(w = sw__host_worker_find(h, &tp))) goto dropped;
        deliver(w, msg, mlen);
        return 1;
    case SW_DOP_REG_SEND:
    case SW_DOP_REG_SEND_TT:
        /* {6, From, '', ToName}: only the names the dispatcher takes (the
         * swarm server's, net_kernel's, swarm_agent's). */
        if (ei_decode_pid(buf, &idx, &fp) != 0 || sw_term_skip(buf, &idx) != 0 ||
            ei_decode_atom(buf, &idx, toname) != 0)
            goto dropped;
        if (sw_dist_takes_name(toname)) return 0;
        goto dropped;
    case SW_DOP_LINK:
        /* {1, From, To} */
        if (dec_pid_raw(buf, &idx, &fp, &fraw, &flen) != 0 ||
            dec_pid_raw(buf, &idx, &tp, &traw, &tlen) != 0)
            goto dropped;
        if (!(w = sw__host_worker_find(h, &tp))) {
            send_link_exit(h, traw, tlen, &fp, noproc_raw, sizeof noproc_raw);
            return 1;
        }
        if (rel_find(w, SW_REL_LINK, &fp, NULL, 0) < 0 && rel_add(w, SW_REL_LINK, fraw, flen, NULL, 0) != 0)
            goto dropped;
        return 1;
    case SW_DOP_UNLINK:
    case SW_DOP_UNLINK_ID: {
        /* {4, From, To} {35, Id, From, To} */
        const char *idraw = NULL;
        size_t idlen = 0;
        if (op == SW_DOP_UNLINK_ID && sw_term_dec_raw(buf, &idx, &idraw, &idlen) != 0)
            goto dropped;
        if (dec_pid_raw(buf, &idx, &fp, &fraw, &flen) != 0 ||
            dec_pid_raw(buf, &idx, &tp, &traw, &tlen) != 0)
            goto dropped;
        if ((w = sw__host_worker_find(h, &tp))) {
            long i = rel_find(w, SW_REL_LINK, &fp, NULL, 0);
            if (i >= 0) rel_del_at(w, (uint32_t)i);
        }
        if (op == SW_DOP_UNLINK_ID) {
            /* {36, Id, From, To}: from us (To) back to the unlinker. */
            ei_x_buff *x = sw__host_ctrl(h, 4, SW_DOP_UNLINK_ID_ACK);
            ei_x_append_buf(x, idraw, (int)idlen);
            ei_x_append_buf(x, traw, (int)tlen);
            ei_x_append_buf(x, fraw, (int)flen);
            ctrl_send(h, &fp);
        }
        return 1;
    }
    case SW_DOP_UNLINK_ID_ACK:
    case SW_DOP_GROUP_LEADER:
        return 1;
    case SW_DOP_EXIT:
    case SW_DOP_EXIT_TT:
    case SW_DOP_EXIT2:
    case SW_DOP_EXIT2_TT:
    case SW_DOP_PAYLOAD_EXIT:
    case SW_DOP_PAYLOAD_EXIT_TT:
    case SW_DOP_PAYLOAD_EXIT2:
    case SW_DOP_PAYLOAD_EXIT2_TT: {
        /* {3, From, To, Reason} {13, From, To, Token, Reason}, the same for
         * EXIT2 (8, 18); the PAYLOAD_ forms carry Reason as the message. */
        int tt = op == SW_DOP_EXIT_TT || op == SW_DOP_EXIT2_TT || op == SW_DOP_PAYLOAD_EXIT_TT ||
                 op == SW_DOP_PAYLOAD_EXIT2_TT;
        int payload = op >= SW_DOP_PAYLOAD_EXIT;
        int link = op == SW_DOP_EXIT || op == SW_DOP_EXIT_TT || op == SW_DOP_PAYLOAD_EXIT ||
                   op == SW_DOP_PAYLOAD_EXIT_TT;
        if (dec_pid_raw(buf, &idx, &fp, &fraw, &flen) != 0 || dec_pid_raw(buf, &idx, &tp, &traw, &tlen) != 0 ||
            (tt && sw_term_skip(buf, &idx) != 0))
            goto dropped;
        if (payload) {
            if (!msg) goto dropped;
            reason = msg + 1;
            reasonlen = mlen - 1;
        } else if (sw_term_dec_raw(buf, &idx, &reason, &reasonlen) != 0) {
            goto dropped;
        }
        if (!(w = sw__host_worker_find(h, &tp))) goto dropped;
        exit_signal(w, fraw, flen, &fp, reason, reasonlen, link);
        return 1;
    }
    case SW_DOP_MONITOR_P:
    case SW_DOP_DEMONITOR_P: {
        /* {19, FromPid, ToProc, Ref} {20, FromPid, ToProc, Ref}; ToProc is a
         * pid or, for a monitor by name, an atom. */
        const char *proc;
        size_t plen;
        int type, size;
        if (ei_decode_pid(buf, &idx, &fp) != 0) goto dropped;
        int at = idx;
        if (ei_get_type(buf, &idx, &type, &size) != 0 || sw_term_dec_raw(buf, &idx, &proc, &plen) != 0 ||
            sw_term_dec_raw(buf, &idx, &ref, &rlen) != 0)
            goto dropped;
        w = NULL;
        if (type == ERL_PID_EXT || type == ERL_NEW_PID_EXT) {
            int pi = at;
            if (ei_decode_pid(buf, &pi, &tp) != 0) goto dropped;
            w = sw__host_worker_find(h, &tp);
        }
        if (op == SW_DOP_DEMONITOR_P) {
            long i = w ? rel_find(w, SW_REL_MON, &fp, ref, rlen) : -1;
            if (i >= 0) rel_del_at(w, (uint32_t)i);
            return 1;
        }
        if (!w) {
            send_monitor_exit(h, proc, plen, &fp, ref, rlen, noproc_raw, sizeof noproc_raw);
            return 1;
        }
        ei_x_buff *x = &h->msg;
        x->index = 0;
        ei_x_encode_pid(x, &fp);
        if (rel_add(w, SW_REL_MON, x->buff, (size_t)x->index, ref, rlen) != 0) goto dropped;
        return 1;
    }
    case SW_DOP_MONITOR_P_EXIT:
    case SW_DOP_PAYLOAD_MONITOR_P_EXIT:
        /* {21, FromProc, ToPid, Ref, Reason} {28, FromProc, ToPid, Ref} */
        if (sw_term_skip(buf, &idx) != 0 || ei_decode_pid(buf, &idx, &tp) != 0 ||
            sw_term_dec_raw(buf, &idx, &ref, &rlen) != 0)
            goto dropped;
        if (op == SW_DOP_PAYLOAD_MONITOR_P_EXIT) {
            if (!msg) goto dropped;
            reason = msg + 1;
            reasonlen = mlen - 1;
        } else if (sw_term_dec_raw(buf, &idx, &reason, &reasonlen) != 0) {
            goto dropped;
        }
        if (!(w = sw__host_worker_find(h, &tp)) || !sw__call_down(w, ref, rlen, reason, reasonlen))
            goto dropped;
        return 1;
    default:
        return 0;
    }

dropped:
    h->st.dropped++;
    SW_DEBUG("worker_msg_dropped", "from=%s len=%zu", from, len);
    return 1;
}
