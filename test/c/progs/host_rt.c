/* host_rt.c - a test C host (include/swarm.h) that Common Test drives
 * (test/host_rt_SUITE.erl) through a control worker.
 *
 * What it is: a test program, not part of the product. Usage:
 *     host_rt <alive@host> <beam>...
 * The cookie comes from the environment (SWARM_COOKIE). Once the host is
 * ready and its control worker holds the name {host_rt, ctl}, prints
 * "ready <alive@host>"; stops the host and exits when stdin reaches EOF.
 *
 * The control worker answers GenServer.call({:via, :swarm, {host_rt, ctl}},
 * Cmd):
 *   {new, Name | none}          -> {ok, Pid} | {taken, Holder} | {error, E}
 *                                  (a new echo worker, registered as Name)
 *   {register, Pid, Name}       -> as new, for worker Pid
 *   {trap, Pid, Bool}           -> ok
 *   {call, Pid, Target, Msg, Ms}-> {Status, Reply | none}: worker Pid calls
 *                                  Target (a pid or {name, N}); Status is
 *                                  swarm_strerror's name, lowercase
 *   {join | leave, Pid, Group}  -> ok | {error, E}
 *   {members, Group}            -> [Pid]
 *   {publish, Group, Msg}       -> N
 *   {stop, Pid, Reason}         -> ok | {error, E}
 *   {unregister, Pid, Name}     -> ok | {error, E}
 *   {whereis, Name}             -> Pid | undefined
 *   events                      -> [{Pid, info | cast | terminate, Term}],
 *                                  oldest first, and the list is emptied
 *   stats                       -> [{Key, Int}] (swarm_host_stats)
 *   shutdown                    -> ok, then the host stops and the program
 *                                  exits (status 0 when all went well)
 * Echo workers answer a call Msg with {echo, Msg}; `stop` is answered ok,
 * then the worker stops normally; {stop, Reason} stops it unanswered. */
#include <ei.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swarm.h"
#include "term.h" /* sw_term_enc_counters: the stats reply */

/* A worker's pid, in one of a few rotating buffers (swarm_worker_pid
 * copies it out: a worker keeps no erlang_pid). */
static const erlang_pid *wpid(const swarm_worker_t *w) {
    static erlang_pid bufs[4];
    static unsigned next;
    erlang_pid *p = &bufs[next++ % 4];
    swarm_worker_pid(w, p);
    return p;
}

static swarm_host_t *H;
static swarm_worker_t *CTL;
static ei_x_buff EVENTS; /* the encoded event list elements */
static int NEVENTS;

typedef struct wnode {
    struct wnode *next;
    swarm_worker_t *w;
    erlang_pid pid;
} wnode_t;
static wnode_t *WORKERS; /* the live echo workers */

static void record(swarm_worker_t *w, const char *kind, const char *term, size_t len) {
    ei_x_encode_tuple_header(&EVENTS, 3);
    ei_x_encode_pid(&EVENTS, wpid(w));
    ei_x_encode_atom(&EVENTS, kind);
    ei_x_append_buf(&EVENTS, term + 1, (int)len - 1);
    NEVENTS++;
}

static int is_atom(const char *buf, int idx, const char *a) {
    char s[MAXATOMLEN_UTF8];
    return ei_decode_atom(buf, &idx, s) == 0 && strcmp(s, a) == 0;
}

/* ---- echo workers --------------------------------------------------------- */

static void echo_call(swarm_worker_t *w, swarm_from_t *from, const char *msg, size_t len) {
    ei_x_buff x;
    ei_x_new_with_version(&x);
    int idx = 1, arity;
    if (is_atom(msg, 1, "stop")) {
        ei_x_encode_atom(&x, "ok");
        swarm_reply(from, x.buff, (size_t)x.index);
        swarm_worker_stop(w, NULL, 0);
    } else if (ei_decode_tuple_header(msg, &idx, &arity) == 0 && arity == 2 && is_atom(msg, idx, "stop")) {
        swarm_from_free(from);
        ei_skip_term(msg, &idx);
        x.index = 0;
        ei_x_encode_version(&x);
        ei_x_append_buf(&x, msg + idx, (int)(len - (size_t)idx));
        swarm_worker_stop(w, x.buff, (size_t)x.index);
    } else {
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, "echo");
        ei_x_append_buf(&x, msg + 1, (int)len - 1);
        swarm_reply(from, x.buff, (size_t)x.index);
    }
    ei_x_free(&x);
}

static void echo_cast(swarm_worker_t *w, const char *msg, size_t len) { record(w, "cast", msg, len); }
static void echo_info(swarm_worker_t *w, const char *msg, size_t len) { record(w, "info", msg, len); }
static void echo_term(swarm_worker_t *w, const char *r, size_t len) {
    record(w, "terminate", r, len);
    for (wnode_t **pp = &WORKERS; *pp; pp = &(*pp)->next) {
        if ((*pp)->w == w) {
            wnode_t *n = *pp;
            *pp = n->next;
            free(n);
            break;
        }
    }
}

static const swarm_worker_cbs_t echo_cbs = {echo_call, echo_cast, echo_info, echo_term};

/* ---- control ---------------------------------------------------------------- */

static void reply_atom(swarm_from_t *from, const char *a) {
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_atom(&x, a);
    swarm_reply(from, x.buff, (size_t)x.index);
    ei_x_free(&x);
}

/* "SWARM_ETAKEN: ..." -> etaken */
static void enc_status(ei_x_buff *x, int st) {
    char a[32];
    const char *s = swarm_strerror(st) + 6;
    size_t i = 0;
    for (; s[i] && s[i] != ':' && i < sizeof a - 1; i++) a[i] = (char)(s[i] | 0x20);
    a[i] = 0;
    ei_x_encode_atom(x, a);
}

static void reply_result(swarm_from_t *from, int r) {
    if (r >= 0) {
        reply_atom(from, "ok");
        return;
    }
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "error");
    enc_status(&x, r);
    swarm_reply(from, x.buff, (size_t)x.index);
    ei_x_free(&x);
}

static void on_registered(swarm_worker_t *w, int result, const erlang_pid *holder, void *ud) {
    swarm_from_t *from = ud;
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 2);
    if (result == SWARM_OK) {
        ei_x_encode_atom(&x, "ok");
        ei_x_encode_pid(&x, wpid(w));
    } else if (result == SWARM_ETAKEN && holder) {
        ei_x_encode_atom(&x, "taken");
        ei_x_encode_pid(&x, holder);
    } else {
        ei_x_encode_atom(&x, "error");
        enc_status(&x, result);
    }
    swarm_reply(from, x.buff, (size_t)x.index);
    ei_x_free(&x);
}

static void on_called(swarm_worker_t *w, int status, const char *reply, size_t len, void *ud) {
    swarm_from_t *from = ud;
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 2);
    enc_status(&x, status);
    if (reply) ei_x_append_buf(&x, reply + 1, (int)len - 1);
    else ei_x_encode_atom(&x, "none");
    swarm_reply(from, x.buff, (size_t)x.index);
    ei_x_free(&x);
}

/* The term at buf[*idx], alone, with 131, into x. */
static void term_at(const char *buf, int *idx, ei_x_buff *x) {
    int start = *idx;
    ei_skip_term(buf, idx);
    x->index = 0;
    ei_x_encode_version(x);
    ei_x_append_buf(x, buf + start, *idx - start);
}

static swarm_worker_t *worker_of(const char *buf, int *idx) {
    erlang_pid p;
    if (ei_decode_pid(buf, idx, &p) != 0) return NULL;
    for (wnode_t *n = WORKERS; n; n = n->next)
        if (n->pid.num == p.num && n->pid.serial == p.serial && strcmp(n->pid.node, p.node) == 0)
            return n->w;
    return NULL;
}

static swarm_worker_t *new_worker(void) {
    swarm_worker_t *w = swarm_worker_new(H, &echo_cbs, NULL);
    if (!w) return NULL;
    wnode_t *n = calloc(1, sizeof *n);
    n->w = w;
    n->pid = *wpid(w);
    n->next = WORKERS;
    WORKERS = n;
    return w;
}

static void enc_stats(ei_x_buff *x) {
    swarm_host_stats_t st;
    swarm_host_stats(H, &st);
    const sw_counter_t kv[] = {
        {"workers", st.workers},     {"local_names", st.local_names}, {"names", st.names},
        {"members", st.members},     {"msgs_in", st.msgs_in},         {"calls_in", st.calls_in},
        {"dropped", st.dropped},     {"monitors", st.monitors},       {"links", st.links},
        {"calls_out", st.calls_out}, {"reconnects", st.reconnects}};
    sw_term_enc_counters(x, kv, sizeof kv / sizeof kv[0]);
}

static void shutdown_host(void);

static void ctl_call(swarm_worker_t *w, swarm_from_t *from, const char *msg, size_t len) {
    int idx = 1, arity = 0, type, size;
    char cmd[MAXATOMLEN_UTF8];
    ei_x_buff a, b, out;
    ei_x_new(&a);
    ei_x_new(&b);
    ei_x_new_with_version(&out);
    swarm_worker_t *t;
    ei_get_type(msg, &idx, &type, &size);
    if (type == ERL_ATOM_EXT) {
        ei_decode_atom(msg, &idx, cmd);
    } else {
        ei_decode_tuple_header(msg, &idx, &arity);
        ei_decode_atom(msg, &idx, cmd);
    }
    if (strcmp(cmd, "new") == 0) {
        t = new_worker();
        if (is_atom(msg, idx, "none")) {
            ei_x_encode_tuple_header(&out, 2);
            ei_x_encode_atom(&out, "ok");
            ei_x_encode_pid(&out, wpid(t));
            swarm_reply(from, out.buff, (size_t)out.index);
        } else {
            term_at(msg, &idx, &a);
            int r = swarm_register(t, a.buff, (size_t)a.index, on_registered, from);
            if (r != SWARM_OK) reply_result(from, r);
        }
    } else if (strcmp(cmd, "register") == 0) {
        t = worker_of(msg, &idx);
        term_at(msg, &idx, &a);
        int r = t ? swarm_register(t, a.buff, (size_t)a.index, on_registered, from) : SWARM_ENOTFOUND;
        if (r != SWARM_OK) reply_result(from, r);
    } else if (strcmp(cmd, "trap") == 0) {
        t = worker_of(msg, &idx);
        if (t) swarm_worker_trap_exit(t, is_atom(msg, idx, "true"));
        reply_result(from, t ? SWARM_OK : SWARM_ENOTFOUND);
    } else if (strcmp(cmd, "call") == 0) {
        t = worker_of(msg, &idx);
        erlang_pid to;
        int at = idx, r, ta;
        long ms;
        ei_get_type(msg, &idx, &type, &size);
        if (type == ERL_PID_EXT || type == ERL_NEW_PID_EXT) {
            ei_decode_pid(msg, &idx, &to);
            term_at(msg, &idx, &b);
            ei_decode_long(msg, &idx, &ms);
            r = t ? swarm_call_pid(t, &to, b.buff, (size_t)b.index, (unsigned)ms, on_called, from)
                  : SWARM_ENOTFOUND;
        } else {
            idx = at;
            ei_decode_tuple_header(msg, &idx, &ta);
            ei_skip_term(msg, &idx);
            term_at(msg, &idx, &a);
            term_at(msg, &idx, &b);
            ei_decode_long(msg, &idx, &ms);
            r = t ? swarm_call(t, a.buff, (size_t)a.index, b.buff, (size_t)b.index, (unsigned)ms,
                               on_called, from)
                  : SWARM_ENOTFOUND;
        }
        if (r != SWARM_OK) reply_result(from, r);
    } else if (strcmp(cmd, "join") == 0 || strcmp(cmd, "leave") == 0) {
        t = worker_of(msg, &idx);
        term_at(msg, &idx, &a);
        int r = !t ? SWARM_ENOTFOUND
                : cmd[0] == 'j' ? swarm_join(t, a.buff, (size_t)a.index)
                                : swarm_leave(t, a.buff, (size_t)a.index);
        reply_result(from, r);
    } else if (strcmp(cmd, "members") == 0) {
        term_at(msg, &idx, &a);
        erlang_pid ps[64];
        int n = swarm_members(H, a.buff, (size_t)a.index, ps, 64);
        if (n > 64) n = 64;
        if (n > 0) ei_x_encode_list_header(&out, n);
        for (int i = 0; i < n; i++) ei_x_encode_pid(&out, &ps[i]);
        ei_x_encode_empty_list(&out);
        swarm_reply(from, out.buff, (size_t)out.index);
    } else if (strcmp(cmd, "publish") == 0) {
        term_at(msg, &idx, &a);
        term_at(msg, &idx, &b);
        ei_x_encode_long(&out, swarm_publish(H, a.buff, (size_t)a.index, b.buff, (size_t)b.index));
        swarm_reply(from, out.buff, (size_t)out.index);
    } else if (strcmp(cmd, "stop") == 0) {
        t = worker_of(msg, &idx);
        term_at(msg, &idx, &a);
        reply_result(from, t ? swarm_worker_stop(t, a.buff, (size_t)a.index) : SWARM_ENOTFOUND);
    } else if (strcmp(cmd, "unregister") == 0) {
        t = worker_of(msg, &idx);
        term_at(msg, &idx, &a);
        reply_result(from, t ? swarm_unregister(t, a.buff, (size_t)a.index) : SWARM_ENOTFOUND);
    } else if (strcmp(cmd, "whereis") == 0) {
        term_at(msg, &idx, &a);
        erlang_pid p;
        if (swarm_whereis(H, a.buff, (size_t)a.index, &p) == SWARM_OK) ei_x_encode_pid(&out, &p);
        else ei_x_encode_atom(&out, "undefined");
        swarm_reply(from, out.buff, (size_t)out.index);
    } else if (strcmp(cmd, "events") == 0) {
        if (NEVENTS) {
            ei_x_encode_list_header(&out, NEVENTS);
            ei_x_append_buf(&out, EVENTS.buff, EVENTS.index);
        }
        ei_x_encode_empty_list(&out);
        EVENTS.index = 0;
        NEVENTS = 0;
        swarm_reply(from, out.buff, (size_t)out.index);
    } else if (strcmp(cmd, "shutdown") == 0) {
        reply_atom(from, "ok");
        shutdown_host();
    } else if (strcmp(cmd, "stats") == 0) {
        enc_stats(&out);
        swarm_reply(from, out.buff, (size_t)out.index);
    } else {
        reply_result(from, SWARM_EINVAL);
    }
    ei_x_free(&a);
    ei_x_free(&b);
    ei_x_free(&out);
}

static const swarm_worker_cbs_t ctl_cbs = {ctl_call, NULL, NULL, NULL};

/* ---- life cycle ------------------------------------------------------------- */

static void on_ctl_registered(swarm_worker_t *w, int result, const erlang_pid *holder, void *ud) {
    if (result != SWARM_OK) {
        fprintf(stderr, "host_rt: control name: %s\n", swarm_strerror(result));
        exit(2);
    }
    printf("ready %s\n", swarm_host_node(H));
    fflush(stdout);
}

static void on_ready(swarm_host_t *h, void *ud) {
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "host_rt");
    ei_x_encode_atom(&x, "ctl");
    swarm_register(CTL, x.buff, (size_t)x.index, on_ctl_registered, NULL);
    ei_x_free(&x);
}

static uv_pipe_t IN;
static char INBUF[256];

static void on_alloc(uv_handle_t *hd, size_t hint, uv_buf_t *b) {
    b->base = INBUF;
    b->len = sizeof INBUF;
}

/* Stops the host and stops reading stdin, so that the loop ends. */
static void shutdown_host(void) {
    if (!uv_is_closing((uv_handle_t *)&IN)) uv_close((uv_handle_t *)&IN, NULL);
    swarm_host_stop(H, NULL, NULL);
}

static void on_stdin(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    if (n < 0) shutdown_host();
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: host_rt <alive@host> <beam>...\n");
        return 2;
    }
    swarm_host_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.name = argv[1];
    cfg.connect = (const char *const *)(argv + 2);
    cfg.nconnect = (size_t)(argc - 2);
    cfg.on_ready = on_ready;
    cfg.register_timeout_ms = 10000;
    int err;
    H = swarm_host_new(NULL, &cfg, &err);
    if (!H) {
        fprintf(stderr, "host_rt: %s\n", swarm_strerror(err));
        return 1;
    }
    ei_x_new(&EVENTS);
    CTL = swarm_worker_new(H, &ctl_cbs, NULL);
    uv_pipe_init(swarm_host_loop(H), &IN, 0);
    uv_pipe_open(&IN, 0);
    uv_read_start((uv_stream_t *)&IN, on_alloc, on_stdin);
    if (swarm_host_start(H) != SWARM_OK) return 1;
    int rc = swarm_host_run(H);
    ei_x_free(&EVENTS);
    while (WORKERS) {
        wnode_t *n = WORKERS;
        WORKERS = n->next;
        free(n);
    }
    return rc < 0 ? 1 : 0;
}
