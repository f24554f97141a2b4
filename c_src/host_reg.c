/* host_reg.c - names and groups of a C host's workers.
 *
 * What it is: swarm_register / unregister / whereis and swarm_join /
 * leave / members / publish, on the host's own tracker and group state
 * (tracker.h and group.h in host mode), and the consumption of what the
 * tracker would send an agent: the batches' replies to this host's
 * registrations, `synced` (readiness), `links` (resend), and the ops that
 * concern its workers ({die, Pid}: a name lost in a conflict).
 *
 * A registration is a local caller of the tracker: caller = the host's own
 * process, Ref = the request's number, pid = the worker's. The tracker
 * asks the name's owner on the ring (a swarm C node) and answers
 * {Caller, Ref, yes | no} in its agent batch. Requests wait, queued, until
 * the host has a ring member (and its initial sync is done), and end after
 * register_timeout_ms: SWARM_ENOTCONN when no member is connected then,
 * else SWARM_ETIMEDOUT. When the tracker reports `links` (a connection
 * went down or came up, so a request or its answer may be lost), every
 * request in flight is sent again with retry = 1: a name already committed
 * to that very pid answers yes, and a `yes` from any copy counts, as for
 * the BEAM callers (README, "Callers answered").
 * What it is not: the registry (tracker.c decides), the workers
 * (host_worker.c), the connections (host.c). */
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "host_int.h"
#include "log.h"
#include "proto.h"
#include "swarm_proto.h"
#include "term.h"

enum { REG_WAITING = 0, REG_SENT, REG_DONE };

struct sw_hreg_s {
    sw_hreg_t *next;
    swarm_worker_t *w;    /* NULL once the worker stopped */
    uint64_t id;
    uint64_t deadline;    /* loop time (ms) */
    int state, status;
    erlang_pid *holder;   /* SWARM_ETAKEN: who has the name (an erlang_pid is
                           * about 1 KB: made only then) */
    swarm_register_cb done;
    void *ud;
    size_t nlen;
    char name[];          /* canonical, with 131 */
};

static uint64_t reg_hash(uint64_t id) { return sw_hash_u64(id); }

static int reg_eq(const void *item, const void *key) {
    return ((const sw_hreg_t *)item)->id == *(const uint64_t *)key;
}

/* ---- names ---------------------------------------------------------------- */

int sw__canon(const swarm_host_t *h, const char *name, size_t len, ei_x_buff *x) {
    if (!name) return SWARM_EINVAL;
    x->index = 0;
    switch (sw_canon_term(name, len, h->utf8_atoms, x)) {
    case SW_CANON_OK: return SWARM_OK;
    case SW_CANON_ENOMEM: return SWARM_ENOMEM;
    default: return SWARM_EBADTERM;
    }
}

int swarm_whereis(swarm_host_t *h, const char *name, size_t len, erlang_pid *pid) {
    if (!h || !name) return SWARM_EINVAL;
    int r = sw__canon(h, name, len, &h->msg);
    if (r != SWARM_OK) return r;
    erlang_pid tmp;
    if (!h->tracker || !sw_tracker_lookup(h->tracker, h->msg.buff, (size_t)h->msg.index, pid ? pid : &tmp))
        return SWARM_ENOTFOUND;
    return SWARM_OK;
}

/* 1 if the replica gives the canonical name to worker w. */
static int holds(swarm_host_t *h, const swarm_worker_t *w, const char *name, size_t len) {
    erlang_pid holder, wpid;
    if (!sw_tracker_lookup(h->tracker, name, len, &holder)) return 0;
    sw__worker_pid(w, &wpid);
    return holder.num == wpid.num && holder.serial == wpid.serial &&
           holder.creation == wpid.creation && strcmp(holder.node, wpid.node) == 0;
}

/* Sends registration r to the tracker (retry: a copy after a link change). */
static void reg_send(swarm_host_t *h, sw_hreg_t *r, int retry) {
    erlang_pid self, wpid;
    ei_x_buff *x = &h->ctrl;
    x->index = 0;
    ei_x_encode_ulonglong(x, r->id);
    sw__host_self(h, &self);
    sw__worker_pid(r->w, &wpid);
    r->state = REG_SENT;
    sw_tracker_register(h->tracker, &self, x->buff, (size_t)x->index, r->name, r->nlen, &wpid, retry);
}

static void reg_finish(sw_hreg_t *r, int status) {
    r->state = REG_DONE;
    r->status = status;
}

int swarm_register(swarm_worker_t *w, const char *name, size_t len, swarm_register_cb done,
                   void *ud) {
    if (!w || !name) return SWARM_EINVAL;
    swarm_host_t *h = w->h;
    if (h->stopping || (w->flags & SW_W_STOPPING)) return SWARM_ESTOPPED;
    int rc = sw__canon(h, name, len, &h->msg);
    if (rc != SWARM_OK) return rc;
    if (holds(h, w, h->msg.buff, (size_t)h->msg.index)) return SWARM_ESTATE;
    sw_hreg_t *r = calloc(1, sizeof *r + (size_t)h->msg.index);
    if (!r) return SWARM_ENOMEM;
    r->w = w;
    r->id = ++h->next_ref;
    r->done = done;
    r->ud = ud;
    r->nlen = (size_t)h->msg.index;
    memcpy(r->name, h->msg.buff, r->nlen);
    r->deadline = uv_now(h->loop) + h->register_timeout_ms;
    if (sw_htab_insert(&h->regs_tab, reg_hash(r->id), r) != 0) {
        free(r);
        return SWARM_ENOMEM;
    }
    /* Appended: requests go out in the order they were made. */
    *h->regs_tail = r;
    h->regs_tail = &r->next;
    sw__host_wake(h);
    return SWARM_OK;
}

int swarm_unregister(swarm_worker_t *w, const char *name, size_t len) {
    if (!w || !name) return SWARM_EINVAL;
    swarm_host_t *h = w->h;
    if (h->stopping || (w->flags & SW_W_STOPPING)) return SWARM_ESTOPPED;
    int rc = sw__canon(h, name, len, &h->msg);
    if (rc != SWARM_OK) return rc;
    if (!holds(h, w, h->msg.buff, (size_t)h->msg.index)) return SWARM_ENOTFOUND;
    erlang_pid self;
    sw__host_self(h, &self);
    ei_x_buff *x = &h->ctrl;
    x->index = 0;
    ei_x_encode_ulonglong(x, ++h->next_ref);
    sw_tracker_unregister(h->tracker, &self, x->buff, (size_t)x->index, h->msg.buff,
                          (size_t)h->msg.index);
    sw__host_wake(h);
    return SWARM_OK;
}

/* ---- the tracker's agent output ------------------------------------------ */

/* One reply {Caller, Ref, Result} of a batch. */
static void on_reply(swarm_host_t *h, const char *buf, int *idx) {
    int arity, at;
    erlang_pid caller;
    unsigned long long id;
    if (ei_decode_tuple_header(buf, idx, &arity) != 0 || arity != 3 ||
        ei_decode_pid(buf, idx, &caller) != 0)
        return;
    at = *idx;
    if (ei_decode_ulonglong(buf, idx, &id) != 0) {
        *idx = at;
        sw_term_skip(buf, idx);
        sw_term_skip(buf, idx);
        return;
    }
    at = *idx;
    int res = sw_proto_decode(buf, idx);
    if (res == -2) {
        *idx = at;
        sw_term_skip(buf, idx);
    }
    sw_hreg_t *r = sw_htab_find(&h->regs_tab, reg_hash(id), &id, reg_eq);
    if (r && r->state == REG_SENT) {
        if (res == SW_MSG_YES) {
            reg_finish(r, SWARM_OK);
        } else if (res == SW_MSG_NO) {
            if ((r->holder = malloc(sizeof *r->holder)) &&
                !sw_tracker_lookup(h->tracker, r->name, r->nlen, r->holder)) {
                free(r->holder);
                r->holder = NULL;
            }
            reg_finish(r, SWARM_ETAKEN);
        } else {
            /* No member to decide (they all went away meanwhile): wait for
             * one, within the deadline. */
            r->state = REG_WAITING;
        }
    }
}

/* One op of a batch. {add, NameBin, Pid} and {del, NameBin, Pid} of a pid
 * of this host count its names (the replica itself is the tracker's);
 * {die, Pid} to a worker of ours (it lost its name in a conflict) is passed
 * on as the message {swarm, die}, as the agent does. */
static void on_op(swarm_host_t *h, const char *buf, int *idx) {
    int arity, at = *idx, op;
    erlang_pid pid;
    if (ei_decode_tuple_header(buf, idx, &arity) != 0) goto skip;
    op = sw_proto_decode(buf, idx);
    if (arity == 3 && (op == SW_MSG_ADD || op == SW_MSG_DEL)) {
        if (sw_term_skip(buf, idx) != 0 || ei_decode_pid(buf, idx, &pid) != 0) goto skip;
        if (strcmp(pid.node, h->name) == 0) {
            if (op == SW_MSG_ADD) h->st.local_names++;
            else if (h->st.local_names > 0) h->st.local_names--;
        }
        return;
    }
    if (arity == 2 && op == SW_MSG_DIE && ei_decode_pid(buf, idx, &pid) == 0) {
        if (sw__host_worker_find(h, &pid)) {
            ei_x_buff *x = &h->msg;
            x->index = 0;
            ei_x_encode_version(x);
            ei_x_encode_tuple_header(x, 2);
            ei_x_encode_atom(x, "swarm");
            ei_x_encode_atom(x, "die");
            swarm_send(h, NULL, &pid, x->buff, (size_t)x->index);
        }
        return;
    }
skip:
    *idx = at;
    sw_term_skip(buf, idx);
}

void sw__reg_agent_msg(swarm_host_t *h, const char *buf, size_t len) {
    int idx = 0, version, arity, n;
    if (ei_decode_version(buf, &idx, &version) != 0 || ei_decode_tuple_header(buf, &idx, &arity) != 0 ||
        arity < 2 || sw_proto_decode(buf, &idx) == -2)
        return;
    int tag = sw_proto_decode(buf, &idx);
    switch (tag) {
    case SW_MSG_BATCH:
        if (arity != 4 || ei_decode_list_header(buf, &idx, &n) != 0) return;
        for (int i = 0; i < n; i++) on_op(h, buf, &idx);
        if (n > 0 && ei_decode_list_header(buf, &idx, &n) != 0) return;
        if (ei_decode_list_header(buf, &idx, &n) != 0) return;
        for (int i = 0; i < n; i++) on_reply(h, buf, &idx);
        break;
    case SW_MSG_SYNCED:
        h->synced_seen = 1;
        break;
    case SW_MSG_LINKS:
        for (sw_hreg_t *r = h->regs; r; r = r->next)
            if (r->state == REG_SENT && r->w) reg_send(h, r, 1);
        break;
    default:
        break; /* ring: placement is the swarm nodes' business */
    }
    (void)len;
}

/* ---- progress ------------------------------------------------------------- */

void sw__reg_poll(swarm_host_t *h) {
    if (!h->regs) return;
    uint64_t now = uv_now(h->loop);
    int members = h->tracker && h->ready && sw_tracker_members(h->tracker) > 0;
    sw_hreg_t *done = NULL, **tail = &done;
    sw_hreg_t **pp = &h->regs;
    while (*pp) {
        sw_hreg_t *r = *pp;
        if (r->state == REG_WAITING && members && !h->stopping) reg_send(h, r, 0);
        if (r->state != REG_DONE && now >= r->deadline)
            reg_finish(r, members ? SWARM_ETIMEDOUT : SWARM_ENOTCONN);
        if (r->state == REG_DONE) {
            *pp = r->next;
            r->next = NULL;
            *tail = r;
            tail = &r->next;
        } else {
            pp = &r->next;
        }
    }
    h->regs_tail = pp;
    /* Callbacks last: they may register again (onto h->regs). */
    while (done) {
        sw_hreg_t *r = done;
        done = r->next;
        if (r->done)
            r->done(r->w, r->status, r->status == SWARM_ETAKEN ? r->holder : NULL, r->ud);
        sw_htab_remove(&h->regs_tab, reg_hash(r->id), r);
        free(r->holder);
        free(r);
    }
}

void sw__reg_worker_stopped(swarm_host_t *h, swarm_worker_t *w) {
    for (sw_hreg_t *r = h->regs; r; r = r->next) {
        if (r->w != w) continue;
        r->w = NULL;
        if (r->state != REG_DONE) reg_finish(r, SWARM_ESTOPPED);
    }
}

void sw__reg_stop(swarm_host_t *h) {
    for (sw_hreg_t *r = h->regs; r; r = r->next)
        if (r->state != REG_DONE) reg_finish(r, SWARM_ESTOPPED);
    sw__reg_poll(h);
}

/* ---- groups --------------------------------------------------------------- */

/* The join or leave of the canonical group in h->msg by w. */
static void group_do(swarm_host_t *h, swarm_worker_t *w, int join) {
    erlang_pid self, wpid;
    sw__host_self(h, &self);
    sw__worker_pid(w, &wpid);
    ei_x_buff *x = &h->ctrl;
    x->index = 0;
    ei_x_encode_ulonglong(x, ++h->next_ref);
    if (join)
        sw_group_join(h->groups, &self, x->buff, (size_t)x->index, h->msg.buff, (size_t)h->msg.index, &wpid);
    else
        sw_group_leave(h->groups, &self, x->buff, (size_t)x->index, h->msg.buff, (size_t)h->msg.index, &wpid);
    sw__host_wake(h);
}

static int group_op(swarm_worker_t *w, const char *group, size_t len, int join) {
    if (!w || !group) return SWARM_EINVAL;
    swarm_host_t *h = w->h;
    if (h->stopping || (w->flags & SW_W_STOPPING)) return SWARM_ESTOPPED;
    int rc = sw__canon(h, group, len, &h->msg);
    if (rc != SWARM_OK) return rc;
    if (!h->published) {
        /* The worker's pid has no creation until epmd gives the node one:
         * a membership made now would name a pid nobody can reach. */
        sw_hgop_t *g = malloc(sizeof *g + (size_t)h->msg.index);
        if (!g) return SWARM_ENOMEM;
        g->next = NULL;
        g->id = w->id;
        g->join = (uint8_t)join;
        g->len = (size_t)h->msg.index;
        memcpy(g->group, h->msg.buff, g->len);
        if (h->early_tail) h->early_tail->next = g;
        else h->early = g;
        h->early_tail = g;
        return SWARM_OK;
    }
    group_do(h, w, join);
    return SWARM_OK;
}

void sw__reg_published(swarm_host_t *h) {
    sw_hgop_t *g = h->early;
    h->early = h->early_tail = NULL;
    while (g) {
        sw_hgop_t *next = g->next;
        erlang_pid p;
        sw__host_self(h, &p);
        p.num = g->id & 0x7fff;
        p.serial = g->id >> 15;
        swarm_worker_t *w = sw__host_worker_find(h, &p);
        if (w && !(w->flags & SW_W_STOPPING)) {
            h->msg.index = 0;
            ei_x_append_buf(&h->msg, g->group, (int)g->len);
            group_do(h, w, g->join);
        }
        free(g);
        g = next;
    }
}

void sw__reg_free(swarm_host_t *h) {
    while (h->early) {
        sw_hgop_t *g = h->early;
        h->early = g->next;
        free(g);
    }
    h->early_tail = NULL;
}

int swarm_join(swarm_worker_t *w, const char *group, size_t len) { return group_op(w, group, len, 1); }
int swarm_leave(swarm_worker_t *w, const char *group, size_t len) { return group_op(w, group, len, 0); }

int swarm_members(swarm_host_t *h, const char *group, size_t len, erlang_pid *out, size_t max) {
    if (!h || !group || (max && !out)) return SWARM_EINVAL;
    int rc = sw__canon(h, group, len, &h->msg);
    if (rc != SWARM_OK) return rc;
    size_t n = sw_group_members(h->groups, h->msg.buff, (size_t)h->msg.index, out, max);
    return n > INT32_MAX ? INT32_MAX : (int)n;
}

int swarm_publish(swarm_host_t *h, const char *group, size_t len, const char *msg, size_t mlen) {
    if (!h || !msg) return SWARM_EINVAL;
    if (h->stopping) return SWARM_ESTOPPED;
    if (mlen < 2 || sw_term_validate_ext(msg, mlen) != 0) return SWARM_EBADTERM;
    int n = swarm_members(h, group, len, NULL, 0);
    if (n <= 0) return n;
    erlang_pid *pids = malloc((size_t)n * sizeof *pids);
    if (!pids) return SWARM_ENOMEM;
    int got = swarm_members(h, group, len, pids, (size_t)n);
    if (got > n) got = n;
    int sent = 0;
    for (int i = 0; i < got; i++)
        if (swarm_send(h, NULL, &pids[i], msg, mlen) == SWARM_OK) sent++;
    free(pids);
    return sent;
}
