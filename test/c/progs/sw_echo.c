/* sw_echo.c - a test C node: joins a cluster through the network layer
 * (node.h) and echoes messages, so that Common Test can check the layer
 * against real BEAM nodes (test/node_SUITE.erl).
 *
 * What it is: a test program, not part of the product. Usage:
 *     sw_echo <alive> <host>
 * The cookie is the first line of stdin (never on the command line, where ps
 * would show it). Prints "ready <alive@host>" on stdout once published in
 * epmd; exits when stdin reaches EOF. Optional environment: SW_TICK_MS,
 * SW_TIMEOUT_MS, SW_HS_TIMEOUT_MS (node timings, milliseconds).
 *
 * Messages understood (SEND to any of our pids, or REG_SEND to any name but
 * net_kernel), each a 2-tuple {From, Term}:
 *   Term = '$sw_stats'             -> From ! {sw_stats, [{Key, Value}...]}
 *                                     (node counters, conns = up peers)
 *   Term = {'$sw_relay', Node, T}  -> connect to Node (another C node) if
 *        needed and send {P, T} to its registered name sw_echo, P a fresh
 *        pid of ours; Node echoes T to P and we pass it on as
 *        From ! {sw_relayed, Node, T}. On failure From ! {sw_relay_failed,
 *        Node, ErrorName}.
 *   anything else                  -> From ! Term (the echo)
 * And net_kernel's {'$gen_call', {From, Tag}, {is_auth, _}} is answered
 * {Tag, yes}, so that net_adm:ping/1 says pong.
 *
 * What it is not: a model for dist.c; decoding here is minimal and only as
 * strict as the tests need.
 */
#include <ei.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "log.h"
#include "node.h"

#define RELAY_PID_BASE 1000u

typedef struct pending_s {
    struct pending_s *next;
    char node[SW_MAXNODELEN + 1];
    ei_x_buff ctrl, msg;
    int has_notify;
    erlang_pid notify; /* told {sw_relay_failed, Node, Err} on failure */
} pending_t;

typedef struct {
    uv_loop_t loop;
    uv_pipe_t in_pipe;
    uv_tty_t in_tty;
    uv_stream_t *in;
    char line[1100];
    size_t linelen;
    int have_cookie;
    sw_node_t *node;
    sw_conn_t **up;       /* connections up */
    size_t nup, upcap;
    pending_t *pending;
    erlang_pid *relays;   /* requester of relay i */
    size_t nrelays, relaycap;
    int exit_code;
} app_t;

static void fail_pending_for(app_t *a, const char *node, const char *err);

/* ---- sending -------------------------------------------------------------- */

static void pid_of_ours(app_t *a, unsigned num, erlang_pid *p) {
    memset(p, 0, sizeof *p);
    snprintf(p->node, sizeof p->node, "%s", sw_node_name(a->node));
    p->num = num;
    p->serial = 0;
    p->creation = sw_node_creation(a->node);
}

/* Sends (or queues until the node is up) ctrl+msg to node; takes the
 * buffers. */
static void send_to_node(app_t *a, const char *node, ei_x_buff *ctrl, ei_x_buff *msg,
                         const erlang_pid *notify) {
    sw_conn_t *c = sw_node_find(a->node, node);
    if (c) {
        if (sw_conn_send(c, ctrl->buff, (size_t)ctrl->index, msg->buff, (size_t)msg->index) < 0)
            fprintf(stderr, "sw_echo: send to %s failed\n", node);
        ei_x_free(ctrl);
        ei_x_free(msg);
        return;
    }
    pending_t *p = calloc(1, sizeof *p);
    if (!p) abort();
    snprintf(p->node, sizeof p->node, "%s", node);
    p->ctrl = *ctrl;
    p->msg = *msg;
    if (notify) {
        p->has_notify = 1;
        p->notify = *notify;
    }
    p->next = a->pending;
    a->pending = p;
    int r = sw_node_connect(a->node, node);
    if (r < 0) fail_pending_for(a, node, uv_err_name(r));
}

/* SEND {2, '', To} with message bytes term (131 included). */
static void send_pid(app_t *a, const erlang_pid *to, ei_x_buff *msg) {
    ei_x_buff ctrl;
    ei_x_new_with_version(&ctrl);
    ei_x_encode_tuple_header(&ctrl, 3);
    ei_x_encode_long(&ctrl, 2);
    ei_x_encode_atom(&ctrl, "");
    ei_x_encode_pid(&ctrl, to);
    send_to_node(a, to->node, &ctrl, msg, NULL);
}

static void fail_pending_for(app_t *a, const char *node, const char *err) {
    pending_t **pp = &a->pending;
    while (*pp) {
        pending_t *p = *pp;
        if (strcmp(p->node, node) != 0) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        if (p->has_notify) {
            ei_x_buff m;
            ei_x_new_with_version(&m);
            ei_x_encode_tuple_header(&m, 3);
            ei_x_encode_atom(&m, "sw_relay_failed");
            ei_x_encode_atom(&m, node);
            ei_x_encode_atom(&m, err);
            send_pid(a, &p->notify, &m);
        }
        ei_x_free(&p->ctrl);
        ei_x_free(&p->msg);
        free(p);
    }
}

/* ---- node callbacks -------------------------------------------------------- */

static void on_started(sw_node_t *n, int err, void *ud) {
    app_t *a = ud;
    if (err < 0) {
        fprintf(stderr, "sw_echo: cannot publish: %s\n", uv_err_name(err));
        a->exit_code = 2;
        uv_stop(&a->loop);
        return;
    }
    sw_log_set_node(sw_node_name(n));
    printf("ready %s\n", sw_node_name(n));
    fflush(stdout);
}

static void on_up(sw_node_t *n, sw_conn_t *c, void *ud) {
    app_t *a = ud;
    if (a->nup == a->upcap) {
        a->upcap = a->upcap ? a->upcap * 2 : 8;
        a->up = realloc(a->up, a->upcap * sizeof *a->up);
        if (!a->up) abort();
    }
    a->up[a->nup++] = c;
    /* Flush what waited for this peer, oldest first. */
    pending_t *mine = NULL, **pp = &a->pending;
    while (*pp) {
        pending_t *p = *pp;
        if (strcmp(p->node, sw_conn_peer(c)) == 0) {
            *pp = p->next;
            p->next = mine;
            mine = p;
        } else {
            pp = &p->next;
        }
    }
    while (mine) {
        pending_t *p = mine;
        mine = p->next;
        sw_conn_send(c, p->ctrl.buff, (size_t)p->ctrl.index, p->msg.buff, (size_t)p->msg.index);
        ei_x_free(&p->ctrl);
        ei_x_free(&p->msg);
        free(p);
    }
}

static void on_down(sw_node_t *n, sw_conn_t *c, sw_down_reason_t why, void *ud) {
    app_t *a = ud;
    for (size_t i = 0; i < a->nup; i++) {
        if (a->up[i] == c) {
            a->up[i] = a->up[--a->nup];
            break;
        }
    }
}

static void on_connect_failed(sw_node_t *n, const char *name, int err, void *ud) {
    fail_pending_for(ud, name, uv_err_name(err));
}

static void reply_stats(app_t *a, const erlang_pid *to) {
    sw_node_stats_t s;
    sw_node_stats(a->node, &s);
    ei_x_buff m;
    ei_x_new_with_version(&m);
    ei_x_encode_tuple_header(&m, 2);
    ei_x_encode_atom(&m, "sw_stats");
    struct {
        const char *k;
        uint64_t v;
    } kv[] = {
        {"frames_in", s.frames_in},         {"frames_out", s.frames_out},
        {"ticks_in", s.ticks_in},           {"ticks_out", s.ticks_out},
        {"bytes_in", s.bytes_in},           {"bytes_out", s.bytes_out},
        {"handshake_ok", s.handshake_ok},   {"handshake_failed", s.handshake_failed},
        {"auth_failed", s.auth_failed},     {"bad_frames", s.bad_frames},
        {"conns_dropped", s.conns_dropped}, {"simultaneous", s.simultaneous},
        {"creation", sw_node_creation(a->node)},
    };
    size_t nkv = sizeof kv / sizeof kv[0];
    ei_x_encode_list_header(&m, (long)nkv + 1);
    for (size_t i = 0; i < nkv; i++) {
        ei_x_encode_tuple_header(&m, 2);
        ei_x_encode_atom(&m, kv[i].k);
        ei_x_encode_ulonglong(&m, kv[i].v);
    }
    ei_x_encode_tuple_header(&m, 2);
    ei_x_encode_atom(&m, "conns");
    if (a->nup) {
        ei_x_encode_list_header(&m, (long)a->nup);
        for (size_t i = 0; i < a->nup; i++) ei_x_encode_atom(&m, sw_conn_peer(a->up[i]));
    }
    ei_x_encode_empty_list(&m);
    ei_x_encode_empty_list(&m);
    send_pid(a, to, &m);
}

static void relay(app_t *a, const erlang_pid *from, const char *node, const char *t, int tlen) {
    if (a->nrelays == a->relaycap) {
        a->relaycap = a->relaycap ? a->relaycap * 2 : 16;
        a->relays = realloc(a->relays, a->relaycap * sizeof *a->relays);
        if (!a->relays) abort();
    }
    erlang_pid me;
    pid_of_ours(a, RELAY_PID_BASE + (unsigned)a->nrelays, &me);
    a->relays[a->nrelays++] = *from;
    ei_x_buff ctrl, msg;
    ei_x_new_with_version(&ctrl);
    ei_x_encode_tuple_header(&ctrl, 4);
    ei_x_encode_long(&ctrl, 6);
    ei_x_encode_pid(&ctrl, &me);
    ei_x_encode_atom(&ctrl, "");
    ei_x_encode_atom(&ctrl, "sw_echo");
    ei_x_new_with_version(&msg);
    ei_x_encode_tuple_header(&msg, 2);
    ei_x_encode_pid(&msg, &me);
    ei_x_append_buf(&msg, t, tlen);
    send_to_node(a, node, &ctrl, &msg, from);
}

/* {'$gen_call', {From, Tag}, {is_auth, _}} to net_kernel. */
static void net_kernel(app_t *a, const char *m, int i) {
    int arity, tag_start, tag_end;
    char atom[MAXATOMLEN];
    erlang_pid from;
    if (ei_decode_tuple_header(m, &i, &arity) || arity != 3 || ei_decode_atom(m, &i, atom) ||
        strcmp(atom, "$gen_call") != 0 || ei_decode_tuple_header(m, &i, &arity) || arity != 2 ||
        ei_decode_pid(m, &i, &from))
        return;
    tag_start = i;
    if (ei_skip_term(m, &i)) return;
    tag_end = i;
    if (ei_decode_tuple_header(m, &i, &arity) || arity != 2 || ei_decode_atom(m, &i, atom) ||
        strcmp(atom, "is_auth") != 0)
        return;
    ei_x_buff r;
    ei_x_new_with_version(&r);
    ei_x_encode_tuple_header(&r, 2);
    ei_x_append_buf(&r, m + tag_start, tag_end - tag_start); /* tag verbatim */
    ei_x_encode_atom(&r, "yes");
    send_pid(a, &from, &r);
}

/* {From, Term} to one of our names or pids. */
static void echo(app_t *a, const char *m, int i, int len) {
    int arity, start, ti;
    erlang_pid from;
    if (ei_decode_tuple_header(m, &i, &arity) || arity != 2 || ei_decode_pid(m, &i, &from)) {
        fprintf(stderr, "sw_echo: message is not {Pid, Term}\n");
        return;
    }
    start = i;
    ti = i;
    char atom[MAXATOMLEN];
    if (ei_decode_atom(m, &ti, atom) == 0 && strcmp(atom, "$sw_stats") == 0) {
        reply_stats(a, &from);
        return;
    }
    ti = i;
    int ar;
    char node[MAXATOMLEN];
    if (ei_decode_tuple_header(m, &ti, &ar) == 0 && ar == 3 && ei_decode_atom(m, &ti, atom) == 0 &&
        strcmp(atom, "$sw_relay") == 0 && ei_decode_atom(m, &ti, node) == 0) {
        int tstart = ti;
        if (ei_skip_term(m, &ti) == 0) relay(a, &from, node, m + tstart, ti - tstart);
        return;
    }
    ei_x_buff r;
    ei_x_new_with_version(&r);
    ei_x_append_buf(&r, m + start, len - start);
    send_pid(a, &from, &r);
}

static void relayed(app_t *a, sw_conn_t *c, unsigned id, const char *m, int i, int len) {
    if (id >= a->nrelays) return;
    ei_x_buff r;
    ei_x_new_with_version(&r);
    ei_x_encode_tuple_header(&r, 3);
    ei_x_encode_atom(&r, "sw_relayed");
    ei_x_encode_atom(&r, sw_conn_peer(c));
    ei_x_append_buf(&r, m + i, len - i);
    send_pid(a, &a->relays[id], &r);
}

static void on_frame(sw_node_t *n, sw_conn_t *c, const char *buf, size_t len, void *ud) {
    app_t *a = ud;
    int i = 0, ver, arity;
    long op;
    if (ei_decode_version(buf, &i, &ver) || ei_decode_tuple_header(buf, &i, &arity) ||
        ei_decode_long(buf, &i, &op))
        goto bad;
    erlang_pid to;
    char toname[MAXATOMLEN];
    int is_reg;
    if (op == 2 && arity == 3) { /* SEND {2, Cookie, ToPid} */
        if (ei_skip_term(buf, &i) || ei_decode_pid(buf, &i, &to)) goto bad;
        is_reg = 0;
    } else if (op == 6 && arity == 4) { /* REG_SEND {6, From, Cookie, ToName} */
        if (ei_skip_term(buf, &i) || ei_skip_term(buf, &i) || ei_decode_atom(buf, &i, toname))
            goto bad;
        is_reg = 1;
    } else {
        return; /* links, exits, monitors...: not for an echo */
    }
    if ((size_t)i >= len || ei_decode_version(buf, &i, &ver)) goto bad;
    if (is_reg && strcmp(toname, "net_kernel") == 0) net_kernel(a, buf, i);
    else if (!is_reg && to.num >= RELAY_PID_BASE) relayed(a, c, to.num - RELAY_PID_BASE, buf, i, (int)len);
    else echo(a, buf, i, (int)len);
    return;
bad:
    fprintf(stderr, "sw_echo: undecodable frame from %s\n", sw_conn_peer(c));
}

/* ---- stdin ---------------------------------------------------------------- */

static void on_node_freed(sw_node_t *n, void *ud) {
    app_t *a = ud;
    a->node = NULL;
}

static void on_in_closed(uv_handle_t *h) {}

static void stop(app_t *a) {
    if (a->node) sw_node_free(a->node, on_node_freed);
    uv_close((uv_handle_t *)a->in, on_in_closed);
}

static void start_node(app_t *a, const char *alive, const char *host, const char *cookie) {
    sw_node_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.alive = alive;
    cfg.host = host;
    cfg.cookie = cookie;
    const char *e;
    if ((e = getenv("SW_TICK_MS"))) cfg.tick_ms = (unsigned)atoi(e);
    if ((e = getenv("SW_TIMEOUT_MS"))) cfg.timeout_ms = (unsigned)atoi(e);
    if ((e = getenv("SW_HS_TIMEOUT_MS"))) cfg.handshake_timeout_ms = (unsigned)atoi(e);
    static const sw_node_cbs_t cbs = {.on_started = on_started, .on_up = on_up, .on_frame = on_frame,
                                      .on_down = on_down, .on_connect_failed = on_connect_failed};
    a->node = sw_node_new(&a->loop, &cfg, &cbs, a);
    int r = a->node ? sw_node_start(a->node) : UV_EINVAL;
    if (r < 0) {
        fprintf(stderr, "sw_echo: cannot start: %s\n", uv_err_name(r));
        a->exit_code = 2;
        stop(a);
    }
}

static const char *g_alive, *g_host;

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    static char b[4096];
    buf->base = b;
    buf->len = sizeof b;
}

static void on_stdin(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    app_t *a = s->data;
    if (nread < 0) {
        uv_read_stop(s);
        stop(a);
        return;
    }
    for (ssize_t k = 0; k < nread && !a->have_cookie; k++) {
        char ch = buf->base[k];
        if (ch == '\n') {
            a->line[a->linelen] = '\0';
            if (a->linelen && a->line[a->linelen - 1] == '\r') a->line[--a->linelen] = '\0';
            a->have_cookie = 1;
            start_node(a, g_alive, g_host, a->line);
            memset(a->line, 0, sizeof a->line);
        } else if (a->linelen < sizeof a->line - 1) {
            a->line[a->linelen++] = ch;
        }
    }
    /* Further input is ignored; only its end matters. */
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: sw_echo <alive> <host>   (cookie on stdin's first line)\n");
        return 64;
    }
    g_alive = argv[1];
    g_host = argv[2];
    sw_log_init_from_env();
    ei_init();
    static app_t a;
    uv_loop_init(&a.loop);
    int r;
    uv_handle_type t = uv_guess_handle(0);
    if (t == UV_TTY) {
        r = uv_tty_init(&a.loop, &a.in_tty, 0, 1);
        a.in = (uv_stream_t *)&a.in_tty;
    } else {
        r = uv_pipe_init(&a.loop, &a.in_pipe, 0);
        if (r == 0) r = uv_pipe_open(&a.in_pipe, 0);
        a.in = (uv_stream_t *)&a.in_pipe;
    }
    if (r == 0) {
        a.in->data = &a;
        r = uv_read_start(a.in, on_alloc, on_stdin);
    }
    if (r < 0) {
        fprintf(stderr, "sw_echo: cannot read stdin: %s\n", uv_err_name(r));
        return 2;
    }
    uv_run(&a.loop, UV_RUN_DEFAULT);
    if (a.exit_code) {
        /* Stopped early (publication failed): release and drain. */
        if (a.node) sw_node_free(a.node, on_node_freed);
        if (!uv_is_closing((uv_handle_t *)a.in)) uv_close((uv_handle_t *)a.in, on_in_closed);
        uv_run(&a.loop, UV_RUN_DEFAULT);
    }
    while (a.pending) {
        pending_t *p = a.pending;
        a.pending = p->next;
        ei_x_free(&p->ctrl);
        ei_x_free(&p->msg);
        free(p);
    }
    free(a.up);
    free(a.relays);
    if (uv_loop_close(&a.loop) != 0) {
        fprintf(stderr, "sw_echo: loop not empty at exit\n");
        return 3;
    }
    return a.exit_code;
}
