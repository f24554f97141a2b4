/* host_call.c - what flows out of a C host's workers: replies to calls,
 * sends, casts, calls (GenServer.call from C), and work off the loop.
 *
 * What it is: from handles (the caller pid and the call's Tag, kept
 * verbatim so that a reply {Tag, Reply} completes both `[alias | Mref]`
 * and plain-ref tags), swarm_send / send_name / cast, swarm_call /
 * call_pid, swarm_work (libuv's thread pool) and swarm_after (one-shot
 * timers), and the ends of the calls in flight.
 *
 * A call is what gen_server:call does: the callee is monitored from the
 * calling worker's pid with a fresh reference Ref of this node, then sent
 * {'$gen_call', {WPid, Ref}, Msg}. It ends with the first of: a message
 * {Ref, Reply} to WPid (SWARM_OK; the monitor is dropped), a
 * MONITOR_P_EXIT for Ref (noproc: SWARM_ENOTFOUND, noconnection:
 * SWARM_ENOTCONN, another reason: SWARM_EEXIT), the loss of the
 * connection to the callee's node (SWARM_ENOTCONN), its timer
 * (SWARM_ETIMEDOUT; the monitor is dropped) or the stop of the worker or
 * the host (SWARM_ESTOPPED). Its done callback runs from the loop's check
 * handle, never from inside the function that ended it. A callee on this
 * host is reached through the host's local queue like any other process,
 * so a worker calling a worker of its own host does not deadlock.
 * What it is not: the decoding of what arrives for a worker
 * (host_worker.c), names (host_reg.c). */
#include <stdlib.h>
#include <string.h>

#include "host_int.h"
#include "log.h"
#include "term.h"

struct sw_hcall_s {
    sw_hcall_t *next; /* on the done list */
    swarm_host_t *h;
    swarm_worker_t *w;
    uint64_t id;
    swarm_call_cb done;
    void *ud;
    uv_timer_t timer;
    int timer_on;
    int monitored;   /* the MONITOR_P went out and has not fired */
    int status;
    char *reply;     /* with 131, for SWARM_OK and SWARM_EEXIT */
    size_t rlen;
    size_t reflen;
    char ref[64];    /* the Ref, encoded (no 131) */
    erlang_pid to;
};

enum { SW_JOB_WORK = 1, SW_JOB_AFTER = 2 };

struct sw_hjob_s {
    sw_hjob_t *prev, *next;
    swarm_host_t *h;
    int kind;
    union {
        uv_work_t work;
        uv_timer_t timer;
    } u;
    void (*work)(void *ud);
    void (*work_done)(swarm_host_t *h, int status, void *ud);
    void (*after)(swarm_host_t *h, void *ud);
    void *ud;
};

/* ---- from handles -------------------------------------------------------- */

swarm_from_t *sw__from_new(swarm_host_t *h, const erlang_pid *caller, const char *tag,
                           size_t tlen) {
    swarm_from_t *f = malloc(sizeof *f + tlen);
    if (!f) return NULL;
    f->h = h;
    f->caller = *caller;
    f->tlen = tlen;
    memcpy(f->tag, tag, tlen);
    f->prev = NULL;
    f->next = h->froms;
    if (h->froms) h->froms->prev = f;
    h->froms = f;
    return f;
}

const erlang_pid *swarm_from_pid(const swarm_from_t *from) { return &from->caller; }

void swarm_from_free(swarm_from_t *from) {
    if (!from) return;
    swarm_host_t *h = from->h;
    if (from->prev) from->prev->next = from->next;
    else h->froms = from->next;
    if (from->next) from->next->prev = from->prev;
    free(from);
}

/* SEND {2, '', To} of msg (with 131). */
static int send_msg(swarm_host_t *h, const erlang_pid *to, const char *msg, size_t len) {
    ei_x_buff *x = sw__host_ctrl(h, 3, SW_DOP_SEND);
    ei_x_encode_atom(x, "");
    ei_x_encode_pid(x, to);
    int r = sw__host_route(h, to->node, x->buff, (size_t)x->index, msg, len);
    if (r == SWARM_ENOTCONN && h->node && !h->stopping) sw_node_connect(h->node, to->node);
    return r;
}

int swarm_reply(swarm_from_t *from, const char *reply, size_t len) {
    if (!from || !reply) return SWARM_EINVAL;
    swarm_host_t *h = from->h;
    if (len < 2 || sw_term_validate_ext(reply, len) != 0) return SWARM_EBADTERM;
    if (h->stopping) {
        swarm_from_free(from);
        return SWARM_ESTOPPED;
    }
    /* {Tag, Reply} to the caller. */
    ei_x_buff *x = &h->msg;
    x->index = 0;
    ei_x_encode_version(x);
    ei_x_encode_tuple_header(x, 2);
    ei_x_append_buf(x, from->tag, (int)from->tlen);
    ei_x_append_buf(x, reply + 1, (int)(len - 1));
    int r = send_msg(h, &from->caller, x->buff, (size_t)x->index);
    swarm_from_free(from);
    return r;
}

/* ---- sends --------------------------------------------------------------- */

int swarm_send(swarm_host_t *h, swarm_worker_t *from, const erlang_pid *to, const char *msg,
               size_t len) {
    if (!h || !to || !msg) return SWARM_EINVAL;
    if (h->stopping || (from && (from->flags & SW_W_STOPPING))) return SWARM_ESTOPPED;
    if (len < 2 || sw_term_validate_ext(msg, len) != 0) return SWARM_EBADTERM;
    return send_msg(h, to, msg, len);
}

/* The pid registered under name (any encoding, with 131). */
static int whereis(swarm_host_t *h, const char *name, size_t nlen, erlang_pid *pid) {
    if (!name) return SWARM_EINVAL;
    return swarm_whereis(h, name, nlen, pid);
}

int swarm_send_name(swarm_host_t *h, swarm_worker_t *from, const char *name, size_t nlen,
                    const char *msg, size_t len) {
    if (!h) return SWARM_EINVAL;
    erlang_pid to;
    int r = whereis(h, name, nlen, &to);
    return r == SWARM_OK ? swarm_send(h, from, &to, msg, len) : r;
}

int swarm_cast(swarm_host_t *h, const char *name, size_t nlen, const char *msg, size_t len) {
    if (!h || !msg) return SWARM_EINVAL;
    if (h->stopping) return SWARM_ESTOPPED;
    if (len < 2 || sw_term_validate_ext(msg, len) != 0) return SWARM_EBADTERM;
    erlang_pid to;
    int r = whereis(h, name, nlen, &to);
    if (r != SWARM_OK) return r;
    ei_x_buff *x = &h->msg;
    x->index = 0;
    ei_x_encode_version(x);
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "$gen_cast");
    ei_x_append_buf(x, msg + 1, (int)(len - 1));
    return send_msg(h, &to, x->buff, (size_t)x->index);
}

/* ---- calls --------------------------------------------------------------- */

static uint64_t call_hash(uint64_t id) { return sw_hash_u64(id); }

static int call_eq(const void *item, const void *key) {
    return ((const sw_hcall_t *)item)->id == *(const uint64_t *)key;
}

static void call_timer_closed(uv_handle_t *hd) {
    sw_hcall_t *c = hd->data;
    swarm_host_t *h = c->h;
    free(c->reply);
    free(c);
    sw__host_unref(h);
}

/* MONITOR_P {19, WPid, To, Ref} or DEMONITOR_P {20, WPid, To, Ref} of c's
 * callee. */
static int monitor_ctrl(sw_hcall_t *c, long op) {
    ei_x_buff *x = sw__host_ctrl(c->h, 4, op);
    sw__worker_enc_pid(c->w, x);
    ei_x_encode_pid(x, &c->to);
    ei_x_append_buf(x, c->ref, (int)c->reflen);
    return sw__host_route(c->h, c->to.node, x->buff, (size_t)x->index, NULL, 0);
}

/* Ends call c with status; reply/len (no 131) is copied. Its done runs
 * from the check handle. */
static void call_end(sw_hcall_t *c, int status, const char *raw, size_t len) {
    swarm_host_t *h = c->h;
    sw_htab_remove(&h->calls_tab, call_hash(c->id), c);
    h->st.calls_out--;
    if (c->w->side) c->w->side->calls--;
    if (c->timer_on) uv_timer_stop(&c->timer);
    if (c->monitored && status != SWARM_ENOTCONN) monitor_ctrl(c, SW_DOP_DEMONITOR_P);
    c->monitored = 0;
    c->status = status;
    if (raw && (c->reply = malloc(len + 1))) {
        c->reply[0] = (char)131;
        memcpy(c->reply + 1, raw, len);
        c->rlen = len + 1;
    }
    c->next = NULL;
    if (h->calls_tail) h->calls_tail->next = c;
    else h->calls_done = c;
    h->calls_tail = c;
    sw__host_wake(h);
}

size_t sw__calls_run_done(swarm_host_t *h) {
    size_t n = 0;
    while (h->calls_done) {
        sw_hcall_t *c = h->calls_done;
        h->calls_done = c->next;
        if (!h->calls_done) h->calls_tail = NULL;
        if (c->done) c->done(c->w, c->status, c->reply, c->rlen, c->ud);
        uv_close((uv_handle_t *)&c->timer, call_timer_closed);
        n++;
    }
    return n;
}

static void on_call_timeout(uv_timer_t *t) {
    sw_hcall_t *c = t->data;
    call_end(c, SWARM_ETIMEDOUT, NULL, 0);
}

/* The Ref term at *idx if it is one of this host's (node, creation): its
 * number, else 0. */
static uint64_t our_ref(swarm_host_t *h, const char *buf, int *idx) {
    erlang_ref r;
    if (ei_decode_ref(buf, idx, &r) != 0 || r.len < 2) return 0;
    if (strcmp(r.node, h->name) != 0 || (h->node && r.creation != sw_node_creation(h->node)))
        return 0;
    return (uint64_t)r.n[0] | (uint64_t)r.n[1] << 18;
}

/* ei_get_type reports every reference encoding as ERL_NEW_REFERENCE_EXT. */
static int is_ref(int type) {
    return type == ERL_NEW_REFERENCE_EXT || type == ERL_NEWER_REFERENCE_EXT ||
           type == ERL_REFERENCE_EXT;
}

static sw_hcall_t *call_of(swarm_worker_t *w, uint64_t id) {
    if (!id) return NULL;
    sw_hcall_t *c = sw_htab_find(&w->h->calls_tab, call_hash(id), &id, call_eq);
    return c && c->w == w ? c : NULL;
}

int sw__call_reply(swarm_worker_t *w, const char *msg, size_t len) {
    int idx = 1, arity, type, size;
    if (ei_get_type(msg, &idx, &type, &size) != 0 || type != ERL_SMALL_TUPLE_EXT ||
        ei_decode_tuple_header(msg, &idx, &arity) != 0 || arity != 2 ||
        ei_get_type(msg, &idx, &type, &size) != 0 || !is_ref(type))
        return 0;
    sw_hcall_t *c = call_of(w, our_ref(w->h, msg, &idx));
    if (!c) return 0;
    call_end(c, SWARM_OK, msg + idx, len - (size_t)idx);
    return 1;
}

static int is_atom_raw(const char *raw, size_t len, const char *name) {
    int idx = 0;
    char atom[MAXATOMLEN_UTF8];
    return ei_decode_atom(raw, &idx, atom) == 0 && (size_t)idx == len && strcmp(atom, name) == 0;
}

int sw__call_down(swarm_worker_t *w, const char *ref, size_t rlen, const char *reason,
                  size_t len) {
    int idx = 0, type, size;
    if (ei_get_type(ref, &idx, &type, &size) != 0 || !is_ref(type)) return 0;
    sw_hcall_t *c = call_of(w, our_ref(w->h, ref, &idx));
    if (!c) return 0;
    c->monitored = 0;
    if (is_atom_raw(reason, len, "noproc")) call_end(c, SWARM_ENOTFOUND, NULL, 0);
    else if (is_atom_raw(reason, len, "noconnection")) call_end(c, SWARM_ENOTCONN, NULL, 0);
    else call_end(c, SWARM_EEXIT, reason, len);
    return 1;
}

/* Every call of one worker (w), or to one node (node), or all. */
static void calls_end_where(swarm_host_t *h, const swarm_worker_t *w, const char *node,
                            int status) {
    for (size_t i = 0; i < h->calls_tab.cap; i++) {
        sw_hcall_t *c = sw_htab_at(&h->calls_tab, i);
        if (c && (!w || c->w == w) && (!node || strcmp(c->to.node, node) == 0))
            call_end(c, status, NULL, 0);
    }
}

void sw__calls_worker_stopped(swarm_worker_t *w) {
    if (w->side && w->side->calls) calls_end_where(w->h, w, NULL, SWARM_ESTOPPED);
}

void sw__calls_node_down(swarm_host_t *h, const char *node) {
    calls_end_where(h, NULL, node, SWARM_ENOTCONN);
}

/* A call record, in the table, its timer started. */
static sw_hcall_t *call_new(swarm_worker_t *w, unsigned timeout_ms, swarm_call_cb done,
                            void *ud) {
    swarm_host_t *h = w->h;
    sw_wside_t *s = sw__worker_side(w);
    sw_hcall_t *c = s ? calloc(1, sizeof *c) : NULL;
    if (!c) return NULL;
    c->h = h;
    c->w = w;
    c->done = done;
    c->ud = ud;
    ei_x_buff *x = &h->ctrl;
    x->index = 0;
    sw__host_ref(h, x, &c->id);
    if ((size_t)x->index > sizeof c->ref || sw_htab_insert(&h->calls_tab, call_hash(c->id), c) != 0) {
        free(c);
        return NULL;
    }
    memcpy(c->ref, x->buff, (size_t)x->index);
    c->reflen = (size_t)x->index;
    uv_timer_init(h->loop, &c->timer);
    c->timer.data = c;
    h->handles++;
    uv_timer_start(&c->timer, on_call_timeout, timeout_ms ? timeout_ms : 5000, 0);
    c->timer_on = 1;
    h->st.calls_out++;
    s->calls++;
    return c;
}

static int call_check(swarm_worker_t *w, const char *msg, size_t len) {
    if (!w || !msg) return SWARM_EINVAL;
    if (w->h->stopping || (w->flags & SW_W_STOPPING)) return SWARM_ESTOPPED;
    if (len < 2 || sw_term_validate_ext(msg, len) != 0) return SWARM_EBADTERM;
    return SWARM_OK;
}

int swarm_call_pid(swarm_worker_t *w, const erlang_pid *to, const char *msg, size_t len,
                   unsigned timeout_ms, swarm_call_cb done, void *ud) {
    int r = call_check(w, msg, len);
    if (r != SWARM_OK) return r;
    if (!to) return SWARM_EINVAL;
    swarm_host_t *h = w->h;
    sw_hcall_t *c = call_new(w, timeout_ms, done, ud);
    if (!c) return SWARM_ENOMEM;
    c->to = *to;
    r = monitor_ctrl(c, SW_DOP_MONITOR_P);
    if (r != SWARM_OK) {
        if (r == SWARM_ENOTCONN && h->node) sw_node_connect(h->node, to->node);
        call_end(c, r, NULL, 0);
        return SWARM_OK;
    }
    c->monitored = 1;
    /* {'$gen_call', {WPid, Ref}, Msg} */
    ei_x_buff *x = &h->msg;
    x->index = 0;
    ei_x_encode_version(x);
    ei_x_encode_tuple_header(x, 3);
    ei_x_encode_atom(x, "$gen_call");
    ei_x_encode_tuple_header(x, 2);
    sw__worker_enc_pid(w, x);
    ei_x_append_buf(x, c->ref, (int)c->reflen);
    ei_x_append_buf(x, msg + 1, (int)(len - 1));
    r = send_msg(h, to, x->buff, (size_t)x->index);
    if (r != SWARM_OK) call_end(c, r, NULL, 0);
    return SWARM_OK;
}

int swarm_call(swarm_worker_t *w, const char *name, size_t nlen, const char *msg, size_t len,
               unsigned timeout_ms, swarm_call_cb done, void *ud) {
    int r = call_check(w, msg, len);
    if (r != SWARM_OK) return r;
    if (!name) return SWARM_EINVAL;
    erlang_pid to;
    r = swarm_whereis(w->h, name, nlen, &to);
    if (r == SWARM_OK) return swarm_call_pid(w, &to, msg, len, timeout_ms, done, ud);
    if (r != SWARM_ENOTFOUND) return r;
    sw_hcall_t *c = call_new(w, timeout_ms, done, ud);
    if (!c) return SWARM_ENOMEM;
    call_end(c, SWARM_ENOTFOUND, NULL, 0);
    return SWARM_OK;
}

/* ---- work off the loop, timers ------------------------------------------ */

static void job_link(swarm_host_t *h, sw_hjob_t *j) {
    j->h = h;
    j->prev = NULL;
    j->next = h->jobs;
    if (h->jobs) h->jobs->prev = j;
    h->jobs = j;
    h->handles++;
}

static void job_free(sw_hjob_t *j) {
    swarm_host_t *h = j->h;
    if (j->prev) j->prev->next = j->next;
    else h->jobs = j->next;
    if (j->next) j->next->prev = j->prev;
    free(j);
    sw__host_unref(h);
}

static void on_work(uv_work_t *req) {
    sw_hjob_t *j = req->data;
    j->work(j->ud);
}

static void on_work_done(uv_work_t *req, int status) {
    sw_hjob_t *j = req->data;
    if (j->work_done) j->work_done(j->h, status == UV_ECANCELED ? SWARM_ESTOPPED : SWARM_OK, j->ud);
    job_free(j);
}

int swarm_work(swarm_host_t *h, void (*work)(void *ud),
               void (*done)(swarm_host_t *h, int status, void *ud), void *ud) {
    if (!h || !work) return SWARM_EINVAL;
    if (h->stopping) return SWARM_ESTOPPED;
    sw_hjob_t *j = calloc(1, sizeof *j);
    if (!j) return SWARM_ENOMEM;
    *j = (sw_hjob_t){.kind = SW_JOB_WORK, .work = work, .work_done = done, .ud = ud};
    j->u.work.data = j;
    if (uv_queue_work(h->loop, &j->u.work, on_work, on_work_done) != 0) {
        free(j);
        return SWARM_ENOMEM;
    }
    job_link(h, j);
    return SWARM_OK;
}

static void on_after_closed(uv_handle_t *hd) { job_free(hd->data); }

static void on_after(uv_timer_t *t) {
    sw_hjob_t *j = t->data;
    if (!j->h->stopping && j->after) j->after(j->h, j->ud);
    uv_close((uv_handle_t *)t, on_after_closed);
}

int swarm_after(swarm_host_t *h, unsigned ms, void (*cb)(swarm_host_t *h, void *ud), void *ud) {
    if (!h || !cb) return SWARM_EINVAL;
    if (h->stopping) return SWARM_ESTOPPED;
    sw_hjob_t *j = calloc(1, sizeof *j);
    if (!j) return SWARM_ENOMEM;
    *j = (sw_hjob_t){.kind = SW_JOB_AFTER, .after = cb, .ud = ud};
    uv_timer_init(h->loop, &j->u.timer);
    j->u.timer.data = j;
    uv_timer_start(&j->u.timer, on_after, ms, 0);
    job_link(h, j);
    return SWARM_OK;
}

void sw__calls_stop(swarm_host_t *h) {
    calls_end_where(h, NULL, NULL, SWARM_ESTOPPED);
    for (sw_hjob_t *j = h->jobs; j; j = j->next) {
        if (j->kind == SW_JOB_WORK) {
            /* A cancelled item still completes (UV_ECANCELED); a running one
             * completes when its work returns. */
            uv_cancel((uv_req_t *)&j->u.work);
        } else if (!uv_is_closing((uv_handle_t *)&j->u.timer)) {
            uv_close((uv_handle_t *)&j->u.timer, on_after_closed);
        }
    }
}
