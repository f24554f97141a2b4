/* test_host.c - CUnit suite of a C host without network (host*.c): error
 * names, config checks and the cookie's lookup order, the worker table
 * and its pids, and the handling of hand-built frames for worker pids
 * (calls with their from handles, casts, other messages, monitors, links,
 * exit signals, garbage), calls between workers of one host, and stops
 * (from inside a callback, and of the host). The host is never started:
 * what it sends to a pid of its own node lands in its local queue, which
 * the tests read, or deliver with sw__host_poll. */
#include <CUnit/Basic.h>
#include <ei.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dist_send.h"
#include "host_int.h"
#include "log.h"

/* A worker's pid, in one of a few rotating buffers (swarm_worker_pid
 * copies it out: a worker keeps no erlang_pid). */
static const erlang_pid *wpid(const swarm_worker_t *w) {
    static erlang_pid bufs[4];
    static unsigned next;
    erlang_pid *p = &bufs[next++ % 4];
    swarm_worker_pid(w, p);
    return p;
}

#define HOST "h@127.0.0.1"
#define PEER "a@127.0.0.1"

/* ---- what the callbacks saw ---------------------------------------------- */

typedef struct {
    int calls, casts, infos, terms, done;
    int stop_in_call;      /* the call callback stops its worker */
    int stop_host_in_call; /* the call callback stops the host, with: */
    void (*on_stopped)(swarm_host_t *h, void *ud);
    void *stop_ud;
    int reply_in_call;     /* the call callback replies {echo, Msg} */
    swarm_from_t *from;    /* the last from handle kept */
    char last[512];        /* the last term seen, printed */
    char reason[128];      /* the last terminate reason, printed */
    int call_status;       /* the last swarm_call's status */
    char call_reply[256];
} seen_t;

static seen_t S;

static void print(char *out, size_t cap, const char *buf) {
    char *s = NULL;
    int idx = 1;
    if (ei_s_print_term(&s, buf, &idx) < 0) {
        snprintf(out, cap, "?");
        return;
    }
    snprintf(out, cap, "%s", s);
    free(s);
}

static void enc_atom(ei_x_buff *x, const char *a) {
    x->index = 0;
    ei_x_encode_version(x);
    ei_x_encode_atom(x, a);
}

static void cb_call(swarm_worker_t *w, swarm_from_t *from, const char *msg, size_t len) {
    S.calls++;
    print(S.last, sizeof S.last, msg);
    if (S.reply_in_call) {
        ei_x_buff x;
        ei_x_new_with_version(&x);
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, "echo");
        ei_x_append_buf(&x, msg + 1, (int)len - 1);
        CU_ASSERT(swarm_reply(from, x.buff, (size_t)x.index) == SWARM_OK);
        ei_x_free(&x);
    } else {
        S.from = from;
    }
    if (S.stop_host_in_call) {
        swarm_host_stop(swarm_worker_host(w), S.on_stopped, S.stop_ud);
        /* w stays valid until the callback returns. */
        CU_ASSERT(swarm_worker_data(w) == NULL);
        CU_ASSERT(swarm_worker_stop(w, NULL, 0) == SWARM_ESTOPPED);
    }
    if (S.stop_in_call) {
        CU_ASSERT(swarm_worker_stop(w, NULL, 0) == SWARM_OK);
        CU_ASSERT(swarm_worker_stop(w, NULL, 0) == SWARM_ESTOPPED);
    }
}

static void cb_cast(swarm_worker_t *w, const char *msg, size_t len) {
    S.casts++;
    print(S.last, sizeof S.last, msg);
}

static void cb_info(swarm_worker_t *w, const char *msg, size_t len) {
    S.infos++;
    print(S.last, sizeof S.last, msg);
}

static void cb_term(swarm_worker_t *w, const char *reason, size_t len) {
    S.terms++;
    print(S.reason, sizeof S.reason, reason);
}

static const swarm_worker_cbs_t cbs = {cb_call, cb_cast, cb_info, cb_term};

/* ---- fixture ------------------------------------------------------------- */

typedef struct {
    uv_loop_t loop;
    swarm_host_t *h;
    ei_x_buff x, m;
    int stopped;
} fix_t;

static void fix_init(fix_t *f) {
    memset(f, 0, sizeof *f);
    memset(&S, 0, sizeof S);
    CU_ASSERT_FATAL(uv_loop_init(&f->loop) == 0);
    swarm_host_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.name = HOST;
    cfg.cookie = "cookie";
    int err = 1;
    f->h = swarm_host_new(&f->loop, &cfg, &err);
    CU_ASSERT_FATAL(f->h != NULL);
    CU_ASSERT(err == SWARM_OK);
    ei_x_new(&f->x);
    ei_x_new(&f->m);
}

static void on_stopped(swarm_host_t *h, void *ud) { ((fix_t *)ud)->stopped = 1; }

static void fix_close(fix_t *f) {
    swarm_host_stop(f->h, on_stopped, f);
    for (int i = 0; i < 100 && !f->stopped; i++) uv_run(&f->loop, UV_RUN_ONCE);
    CU_ASSERT(f->stopped);
    CU_ASSERT(uv_loop_close(&f->loop) == 0);
    ei_x_free(&f->x);
    ei_x_free(&f->m);
}

/* A new worker of the fixture's host, and its pid. */
static swarm_worker_t *fix_worker(fix_t *f, erlang_pid *pid) {
    swarm_worker_t *w = swarm_worker_new(f->h, &cbs, NULL);
    CU_ASSERT_FATAL(w != NULL);
    *pid = *wpid(w);
    return w;
}

static erlang_pid pid_on(const char *node, unsigned num, unsigned serial) {
    erlang_pid p;
    memset(&p, 0, sizeof p);
    strcpy(p.node, node);
    p.num = num;
    p.serial = serial;
    p.creation = 0; /* an unstarted host's creation */
    return p;
}

/* A frame {Op, A, B} + message m (m->index 0: none) into f->x. */
static void frame3(fix_t *f, long op, const erlang_pid *a, const erlang_pid *b) {
    ei_x_buff *x = &f->x;
    x->index = 0;
    ei_x_encode_version(x);
    ei_x_encode_tuple_header(x, 3);
    ei_x_encode_long(x, op);
    if (a) ei_x_encode_pid(x, a);
    else ei_x_encode_atom(x, "");
    ei_x_encode_pid(x, b);
    if (f->m.index) ei_x_append_buf(x, f->m.buff, f->m.index);
}

/* The frame in f->x, handled as from the peer. */
static int handle(fix_t *f) { return sw__host_worker_frame(f->h, PEER, f->x.buff, (size_t)f->x.index); }

/* SEND of f->m to pid `to`, handled as from the peer; returns what
 * sw__host_worker_frame returns. */
static int send_to(fix_t *f, const erlang_pid *to) {
    frame3(f, SW_DOP_SEND, NULL, to);
    return handle(f);
}

/* {'$gen_call', {Caller, Tag}, Msg} into f->m; Tag a small integer. */
static void gen_call(fix_t *f, const erlang_pid *caller, long tag, const char *msg) {
    ei_x_buff *m = &f->m;
    m->index = 0;
    ei_x_encode_version(m);
    ei_x_encode_tuple_header(m, 3);
    ei_x_encode_atom(m, "$gen_call");
    ei_x_encode_tuple_header(m, 2);
    ei_x_encode_pid(m, caller);
    ei_x_encode_long(m, tag);
    ei_x_encode_atom(m, msg);
}

/* Pops the first frame of the host's local queue: its op, and its
 * printed control and message (NULL if none). Returns 0, -1 if empty. */
static int pop_local(fix_t *f, long *op, char *ctrl, size_t ccap, char *msg, size_t mcap) {
    sw_lmsg_t *m = f->h->lhead;
    if (!m) return -1;
    f->h->lhead = m->next;
    if (!f->h->lhead) f->h->ltail = NULL;
    int idx = 0, v, a;
    ei_decode_version(m->buf, &idx, &v);
    ei_decode_tuple_header(m->buf, &idx, &a);
    ei_decode_long(m->buf, &idx, op);
    print(ctrl, ccap, m->buf);
    idx = 0;
    ei_skip_term(m->buf + 1, &idx);
    msg[0] = 0;
    if ((size_t)idx + 1 < m->len) print(msg, mcap, m->buf + 1 + idx);
    free(m);
    return 0;
}

/* ---- tests ----------------------------------------------------------------- */

static void test_strerror(void) {
    const int codes[] = {SWARM_OK,      SWARM_EINVAL,  SWARM_ENOMEM,  SWARM_EBADTERM,
                         SWARM_ETAKEN,  SWARM_ENOTFOUND, SWARM_ETIMEDOUT, SWARM_ENOTCONN,
                         SWARM_EEXIT,   SWARM_ESTOPPED, SWARM_ENOCOOKIE, SWARM_ESTATE};
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        const char *s = swarm_strerror(codes[i]);
        CU_ASSERT(strncmp(s, "SWARM_", 6) == 0);
        for (size_t j = 0; j < i; j++) CU_ASSERT(strcmp(s, swarm_strerror(codes[j])) != 0);
    }
    CU_ASSERT(strstr(swarm_strerror(SWARM_ETAKEN), "ETAKEN") != NULL);
    CU_ASSERT(strstr(swarm_strerror(-1000), "unknown") != NULL);
    CU_ASSERT(strstr(swarm_strerror(7), "unknown") != NULL);
}

static void test_config(void) {
    uv_loop_t loop;
    uv_loop_init(&loop);
    swarm_host_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.cookie = "c";
    int err = 0;
    CU_ASSERT(swarm_host_new(&loop, NULL, &err) == NULL && err == SWARM_EINVAL);
    const char *bad[] = {NULL, "", "noat", "a@", "@h", "a@b@c"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cfg.name = bad[i];
        err = 0;
        CU_ASSERT(swarm_host_new(&loop, &cfg, &err) == NULL);
        CU_ASSERT(err == SWARM_EINVAL);
    }
    cfg.name = HOST;
    const char *conn1[] = {"a@127.0.0.1", "bad"};
    cfg.connect = conn1;
    cfg.nconnect = 2;
    CU_ASSERT(swarm_host_new(&loop, &cfg, &err) == NULL && err == SWARM_EINVAL);
    const char *conn2[] = {HOST};
    cfg.connect = conn2;
    cfg.nconnect = 1;
    CU_ASSERT(swarm_host_new(&loop, &cfg, &err) == NULL && err == SWARM_EINVAL);
    cfg.connect = NULL;
    CU_ASSERT(swarm_host_new(&loop, &cfg, &err) == NULL && err == SWARM_EINVAL);
    cfg.nconnect = 0;
    char longc[300];
    memset(longc, 'c', sizeof longc - 1);
    longc[sizeof longc - 1] = 0;
    cfg.cookie = longc;
    CU_ASSERT(swarm_host_new(&loop, &cfg, &err) == NULL && err == SWARM_EINVAL);
    /* A good one, on a loop of its own, freed by a stop and a run. */
    cfg.cookie = "c";
    const char *conn3[] = {"a@127.0.0.1"};
    cfg.connect = conn3;
    cfg.nconnect = 1;
    err = 1;
    swarm_host_t *h = swarm_host_new(NULL, &cfg, &err);
    CU_ASSERT_FATAL(h != NULL);
    CU_ASSERT(err == SWARM_OK);
    CU_ASSERT(strcmp(swarm_host_node(h), HOST) == 0);
    CU_ASSERT(swarm_host_loop(h) != NULL && swarm_host_loop(h) != &loop);
    CU_ASSERT(swarm_host_ready(h) == 0);
    CU_ASSERT(swarm_host_connect(h, "b@127.0.0.1") == SWARM_OK);
    CU_ASSERT(swarm_host_connect(h, "bad") == SWARM_EINVAL);
    CU_ASSERT(swarm_host_connect(h, HOST) == SWARM_EINVAL);
    swarm_host_stop(h, NULL, NULL);
    CU_ASSERT(swarm_host_run(h) == 0);
    uv_loop_close(&loop);
}

static void test_cookie_order(void) {
    char out[256];
    char path[] = "/tmp/sw_test_cookie_XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT(write(fd, "filecookie \n\n", 13) == 13);
    close(fd);
    swarm_host_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.cookie_env = "SW_TEST_HOST_COOKIE";
    cfg.cookie_file = path;
    unsetenv("SW_TEST_HOST_COOKIE");
    /* The file, whitespace stripped. */
    CU_ASSERT(sw__host_cookie(&cfg, out, sizeof out) == SWARM_OK);
    CU_ASSERT(strcmp(out, "filecookie") == 0);
    /* The environment before the file. */
    setenv("SW_TEST_HOST_COOKIE", "envcookie", 1);
    CU_ASSERT(sw__host_cookie(&cfg, out, sizeof out) == SWARM_OK);
    CU_ASSERT(strcmp(out, "envcookie") == 0);
    /* The config before both. */
    cfg.cookie = "cfgcookie";
    CU_ASSERT(sw__host_cookie(&cfg, out, sizeof out) == SWARM_OK);
    CU_ASSERT(strcmp(out, "cfgcookie") == 0);
    /* None at all. */
    cfg.cookie = NULL;
    unsetenv("SW_TEST_HOST_COOKIE");
    unlink(path);
    CU_ASSERT(sw__host_cookie(&cfg, out, sizeof out) == SWARM_ENOCOOKIE);
    /* An empty file is no cookie either. */
    fd = mkstemp(path);
    close(fd);
    CU_ASSERT(sw__host_cookie(&cfg, out, sizeof out) == SWARM_ENOCOOKIE);
    unlink(path);
    /* swarm_host_new reports it. */
    uv_loop_t loop;
    uv_loop_init(&loop);
    cfg.name = HOST;
    int err = 0;
    CU_ASSERT(swarm_host_new(&loop, &cfg, &err) == NULL);
    CU_ASSERT(err == SWARM_ENOCOOKIE);
    uv_loop_close(&loop);
}

static void test_worker_table(void) {
    fix_t f;
    fix_init(&f);
    enum { N = 3000 };
    static swarm_worker_t *ws[N];
    for (int i = 0; i < N; i++) {
        ws[i] = swarm_worker_new(f.h, &cbs, &ws[i]);
        CU_ASSERT_FATAL(ws[i] != NULL);
    }
    swarm_host_stats_t st;
    swarm_host_stats(f.h, &st);
    CU_ASSERT(st.workers == N);
    for (int i = 0; i < N; i++) {
        const erlang_pid *p = wpid(ws[i]);
        CU_ASSERT(strcmp(p->node, HOST) == 0);
        CU_ASSERT(p->num <= 0x7fff && p->serial <= 0x1fff);
        CU_ASSERT(!(p->num == 0 && p->serial == 0)); /* the host's own */
        CU_ASSERT(sw__host_worker_find(f.h, p) == ws[i]);
        CU_ASSERT(swarm_worker_data(ws[i]) == &ws[i]);
        CU_ASSERT(swarm_worker_host(ws[i]) == f.h);
    }
    /* Distinct pids (consecutive numbers here). */
    for (int i = 1; i < N; i++) {
        erlang_pid a, b;
        sw__worker_pid(ws[i - 1], &a);
        sw__worker_pid(ws[i], &b);
        CU_ASSERT(a.num != b.num || a.serial != b.serial);
    }
    /* Another node, another creation, a dead worker: none. */
    erlang_pid p = *wpid(ws[5]);
    strcpy(p.node, PEER);
    CU_ASSERT(sw__host_worker_find(f.h, &p) == NULL);
    p = *wpid(ws[5]);
    p.creation = 7;
    CU_ASSERT(sw__host_worker_find(f.h, &p) == NULL);
    p = *wpid(ws[5]);
    CU_ASSERT(swarm_worker_stop(ws[5], NULL, 0) == SWARM_OK);
    CU_ASSERT(sw__host_worker_find(f.h, &p) == NULL);
    CU_ASSERT(S.terms == 1 && strcmp(S.reason, "normal") == 0);
    swarm_worker_set_data(ws[6], NULL);
    CU_ASSERT(swarm_worker_data(ws[6]) == NULL);
    /* A bad reason is refused and the worker lives. */
    CU_ASSERT(swarm_worker_stop(ws[7], "\x83\x64", 2) == SWARM_EBADTERM);
    CU_ASSERT(sw__host_worker_find(f.h, wpid(ws[7])) == ws[7]);
    swarm_host_stats(f.h, &st);
    CU_ASSERT(st.workers == N - 1);
    sw__host_poll(f.h); /* frees the stopped one */
    fix_close(&f);
    CU_ASSERT(S.terms == N);
    CU_ASSERT(strcmp(S.reason, "shutdown") == 0);
}

static void test_call_cast_info(void) {
    fix_t f;
    fix_init(&f);
    erlang_pid wp;
    fix_worker(&f, &wp);
    erlang_pid caller = pid_on(HOST, 0, 0); /* replies land in the local queue */
    gen_call(&f, &caller, 42, "hello");
    CU_ASSERT(send_to(&f, &wp) == 1);
    CU_ASSERT(S.calls == 1 && strcmp(S.last, "hello") == 0);
    CU_ASSERT_FATAL(S.from != NULL);
    const erlang_pid *fp = swarm_from_pid(S.from);
    CU_ASSERT(strcmp(fp->node, HOST) == 0 && fp->num == 0);
    /* A bad reply keeps the handle; a good one sends {Tag, Reply}. */
    CU_ASSERT(swarm_reply(S.from, "\x83\x68", 2) == SWARM_EBADTERM);
    enc_atom(&f.m, "world");
    CU_ASSERT(swarm_reply(S.from, f.m.buff, (size_t)f.m.index) == SWARM_OK);
    long op;
    char ctrl[256], msg[256];
    CU_ASSERT_FATAL(pop_local(&f, &op, ctrl, sizeof ctrl, msg, sizeof msg) == 0);
    CU_ASSERT(op == SW_DOP_SEND);
    CU_ASSERT(strcmp(msg, "{42, world}") == 0);
    /* A kept handle dropped. */
    gen_call(&f, &caller, 43, "again");
    send_to(&f, &wp);
    CU_ASSERT(S.calls == 2);
    swarm_from_free(S.from);
    CU_ASSERT(f.h->lhead == NULL);
    /* A cast and an info. */
    f.m.index = 0;
    ei_x_encode_version(&f.m);
    ei_x_encode_tuple_header(&f.m, 2);
    ei_x_encode_atom(&f.m, "$gen_cast");
    ei_x_encode_long(&f.m, 7);
    send_to(&f, &wp);
    CU_ASSERT(S.casts == 1 && strcmp(S.last, "7") == 0);
    enc_atom(&f.m, "plain");
    send_to(&f, &wp);
    CU_ASSERT(S.infos == 1 && strcmp(S.last, "plain") == 0);
    /* A '$gen_call' with a malformed From is an info. */
    f.m.index = 0;
    ei_x_encode_version(&f.m);
    ei_x_encode_tuple_header(&f.m, 3);
    ei_x_encode_atom(&f.m, "$gen_call");
    ei_x_encode_atom(&f.m, "nofrom");
    ei_x_encode_atom(&f.m, "x");
    send_to(&f, &wp);
    CU_ASSERT(S.infos == 2 && S.calls == 2);
    swarm_host_stats_t st;
    swarm_host_stats(f.h, &st);
    CU_ASSERT(st.msgs_in == 5 && st.calls_in == 2 && st.dropped == 0);
    /* SEND_SENDER and SEND_TT reach the worker too. */
    enc_atom(&f.m, "sender");
    frame3(&f, SW_DOP_SEND_SENDER, &caller, &wp);
    CU_ASSERT(handle(&f) == 1);
    CU_ASSERT(S.infos == 3 && strcmp(S.last, "sender") == 0);
    fix_close(&f);
}

/* {Op, Watcher, Proc, Ref} (MONITOR_P, DEMONITOR_P) into f->x: Proc is
 * the pid proc, or the atom name when proc is NULL; Ref a small integer. */
static void mon_frame(fix_t *f, long op, const erlang_pid *watcher, const erlang_pid *proc,
                      const char *name, long ref) {
    ei_x_buff *x = &f->x;
    x->index = 0;
    ei_x_encode_version(x);
    ei_x_encode_tuple_header(x, 4);
    ei_x_encode_long(x, op);
    ei_x_encode_pid(x, watcher);
    if (proc) ei_x_encode_pid(x, proc);
    else ei_x_encode_atom(x, name);
    ei_x_encode_long(x, ref);
}

static void test_monitors(void) {
    fix_t f;
    fix_init(&f);
    erlang_pid wp;
    swarm_worker_t *w = fix_worker(&f, &wp);
    erlang_pid watcher = pid_on(HOST, 0, 0);
    erlang_pid dead = pid_on(HOST, 999, 0);
    long op;
    char ctrl[512], msg[256];
    /* {19, Watcher, Dead, Ref} -> {21, Dead, Watcher, Ref, noproc} */
    mon_frame(&f, SW_DOP_MONITOR_P, &watcher, &dead, NULL, 1001);
    CU_ASSERT(handle(&f) == 1);
    CU_ASSERT_FATAL(pop_local(&f, &op, ctrl, sizeof ctrl, msg, sizeof msg) == 0);
    CU_ASSERT(op == SW_DOP_MONITOR_P_EXIT);
    CU_ASSERT(strstr(ctrl, "1001, noproc}") != NULL);
    /* By name: the same answer, with the name. */
    mon_frame(&f, SW_DOP_MONITOR_P, &watcher, NULL, "some_name", 1002);
    CU_ASSERT(handle(&f) == 1);
    CU_ASSERT_FATAL(pop_local(&f, &op, ctrl, sizeof ctrl, msg, sizeof msg) == 0);
    CU_ASSERT(op == SW_DOP_MONITOR_P_EXIT);
    CU_ASSERT(strncmp(ctrl, "{21, some_name, ", 16) == 0 && strstr(ctrl, "1002, noproc}") != NULL);
    /* Two monitors on the live worker, one taken back. */
    for (long ref = 2001; ref <= 2002; ref++) {
        mon_frame(&f, SW_DOP_MONITOR_P, &watcher, &wp, NULL, ref);
        CU_ASSERT(handle(&f) == 1);
    }
    CU_ASSERT(f.h->lhead == NULL);
    swarm_host_stats_t st;
    swarm_host_stats(f.h, &st);
    CU_ASSERT(st.monitors == 2);
    mon_frame(&f, SW_DOP_DEMONITOR_P, &watcher, &wp, NULL, 2001);
    CU_ASSERT(handle(&f) == 1);
    swarm_host_stats(f.h, &st);
    CU_ASSERT(st.monitors == 1);
    /* The stop tells the one left, with the reason. */
    f.m.index = 0;
    ei_x_encode_version(&f.m);
    ei_x_encode_tuple_header(&f.m, 2);
    ei_x_encode_atom(&f.m, "bye");
    ei_x_encode_long(&f.m, 5);
    CU_ASSERT(swarm_worker_stop(w, f.m.buff, (size_t)f.m.index) == SWARM_OK);
    CU_ASSERT_FATAL(pop_local(&f, &op, ctrl, sizeof ctrl, msg, sizeof msg) == 0);
    CU_ASSERT(op == SW_DOP_MONITOR_P_EXIT);
    CU_ASSERT(strstr(ctrl, "2002, {bye, 5}}") != NULL);
    CU_ASSERT(f.h->lhead == NULL);
    swarm_host_stats(f.h, &st);
    CU_ASSERT(st.monitors == 0 && st.workers == 0);
    fix_close(&f);
}

/* {Op, From, To, Reason} into f->x. */
static void exit_frame(fix_t *f, long op, const erlang_pid *from, const erlang_pid *to,
                       const char *reason) {
    ei_x_buff *x = &f->x;
    x->index = 0;
    ei_x_encode_version(x);
    ei_x_encode_tuple_header(x, 4);
    ei_x_encode_long(x, op);
    ei_x_encode_pid(x, from);
    ei_x_encode_pid(x, to);
    ei_x_encode_atom(x, reason);
}

static void test_links_and_exits(void) {
    fix_t f;
    fix_init(&f);
    swarm_worker_t *w = swarm_worker_new(f.h, &cbs, NULL);
    swarm_worker_t *t = swarm_worker_new(f.h, &cbs, NULL);
    erlang_pid wp = *wpid(w), tp = *wpid(t);
    erlang_pid other = pid_on(HOST, 0, 0), dead = pid_on(HOST, 777, 0);
    long op;
    char ctrl[512], msg[256];
    f.m.index = 0;
    /* A link to a dead pid: EXIT noproc back. */
    frame3(&f, SW_DOP_LINK, &other, &dead);
    CU_ASSERT(handle(&f) == 1);
    CU_ASSERT_FATAL(pop_local(&f, &op, ctrl, sizeof ctrl, msg, sizeof msg) == 0);
    CU_ASSERT(op == SW_DOP_EXIT && strstr(ctrl, "noproc}") != NULL);
    /* Links to both; normal exits are ignored; an exit from a process that
     * is not linked is no signal. */
    frame3(&f, SW_DOP_LINK, &other, &wp);
    handle(&f);
    frame3(&f, SW_DOP_LINK, &other, &wp); /* twice: one link */
    handle(&f);
    frame3(&f, SW_DOP_LINK, &other, &tp);
    handle(&f);
    swarm_host_stats_t st;
    swarm_host_stats(f.h, &st);
    CU_ASSERT(st.links == 2);
    exit_frame(&f, SW_DOP_EXIT, &dead, &wp, "boom");
    handle(&f);
    CU_ASSERT(S.terms == 0);
    /* UNLINK_ID takes t's link back and is acknowledged. */
    ei_x_buff *x = &f.x;
    x->index = 0;
    ei_x_encode_version(x);
    ei_x_encode_tuple_header(x, 4);
    ei_x_encode_long(x, SW_DOP_UNLINK_ID);
    ei_x_encode_long(x, 99);
    ei_x_encode_pid(x, &other);
    ei_x_encode_pid(x, &tp);
    CU_ASSERT(handle(&f) == 1);
    CU_ASSERT_FATAL(pop_local(&f, &op, ctrl, sizeof ctrl, msg, sizeof msg) == 0);
    CU_ASSERT(op == SW_DOP_UNLINK_ID_ACK && strncmp(ctrl, "{36, 99, ", 9) == 0);
    swarm_host_stats(f.h, &st);
    CU_ASSERT(st.links == 1);
    /* A trapping worker gets {'EXIT', From, Reason} as a message. */
    frame3(&f, SW_DOP_LINK, &other, &tp);
    handle(&f);
    swarm_worker_trap_exit(t, 1);
    exit_frame(&f, SW_DOP_EXIT, &other, &tp, "boom");
    handle(&f);
    CU_ASSERT(S.infos == 1 && strncmp(S.last, "{'EXIT',", 8) == 0 && strstr(S.last, "boom}"));
    CU_ASSERT(S.terms == 0);
    /* exit/2 normal to a trapping worker: a message; kill: killed anyway. */
    exit_frame(&f, SW_DOP_EXIT2, &other, &tp, "normal");
    handle(&f);
    CU_ASSERT(S.infos == 2 && strstr(S.last, "normal}"));
    exit_frame(&f, SW_DOP_EXIT2, &other, &tp, "kill");
    handle(&f);
    CU_ASSERT(S.terms == 1 && strcmp(S.reason, "killed") == 0);
    CU_ASSERT(sw__host_worker_find(f.h, &tp) == NULL);
    /* The linked one: exit/2 normal ignored, then a link's boom stops it;
     * the link that brought the signal is not told back. */
    exit_frame(&f, SW_DOP_EXIT2, &other, &wp, "normal");
    handle(&f);
    CU_ASSERT(S.terms == 1);
    exit_frame(&f, SW_DOP_EXIT, &other, &wp, "boom");
    handle(&f);
    CU_ASSERT(S.terms == 2 && strcmp(S.reason, "boom") == 0);
    CU_ASSERT(f.h->lhead == NULL);
    swarm_host_stats(f.h, &st);
    CU_ASSERT(st.links == 0 && st.workers == 0);
    fix_close(&f);
}

/* A peer's connection lost: its monitors go, its links are exits
 * `noconnection`. */
static void test_node_down(void) {
    fix_t f;
    fix_init(&f);
    swarm_worker_t *w = swarm_worker_new(f.h, &cbs, NULL);
    swarm_worker_t *t = swarm_worker_new(f.h, &cbs, NULL);
    swarm_worker_t *u = swarm_worker_new(f.h, &cbs, NULL);
    erlang_pid wp = *wpid(w), tp = *wpid(t), up = *wpid(u);
    erlang_pid remote = pid_on(PEER, 5, 0), local = pid_on(HOST, 0, 0);
    swarm_worker_trap_exit(t, 1);
    f.m.index = 0;
    frame3(&f, SW_DOP_LINK, &remote, &wp);
    handle(&f);
    frame3(&f, SW_DOP_LINK, &remote, &tp);
    handle(&f);
    frame3(&f, SW_DOP_LINK, &local, &up); /* a link to another node stays */
    handle(&f);
    mon_frame(&f, SW_DOP_MONITOR_P, &remote, &up, NULL, 1);
    handle(&f);
    mon_frame(&f, SW_DOP_MONITOR_P, &local, &up, NULL, 2);
    handle(&f);
    swarm_host_stats_t st;
    swarm_host_stats(f.h, &st);
    CU_ASSERT(st.links == 3 && st.monitors == 2);
    sw__host_workers_node_down(f.h, PEER);
    CU_ASSERT(S.terms == 1 && strcmp(S.reason, "noconnection") == 0);
    CU_ASSERT(S.infos == 1 && strstr(S.last, "noconnection}") != NULL);
    CU_ASSERT(sw__host_worker_find(f.h, &wp) == NULL && sw__host_worker_find(f.h, &tp) == t);
    swarm_host_stats(f.h, &st);
    CU_ASSERT(st.links == 1 && st.monitors == 1);
    fix_close(&f);
}

/* REG_SEND {6, From, '', Name} of f->m into f->x. */
static void reg_send(fix_t *f, const erlang_pid *from, const char *name) {
    ei_x_buff *x = &f->x;
    x->index = 0;
    ei_x_encode_version(x);
    ei_x_encode_tuple_header(x, 4);
    ei_x_encode_long(x, SW_DOP_REG_SEND);
    ei_x_encode_pid(x, from);
    ei_x_encode_atom(x, "");
    ei_x_encode_atom(x, name);
    ei_x_append_buf(x, f->m.buff, f->m.index);
}

static void test_garbage(void) {
    fix_t f;
    fix_init(&f);
    erlang_pid wp;
    swarm_worker_t *w = fix_worker(&f, &wp);
    swarm_host_stats_t st;
    uint64_t dropped = 0;
    /* Random bytes, with and without a 131 first. */
    unsigned seed = 12345;
    char buf[64];
    for (int i = 0; i < 2000; i++) {
        size_t len = (size_t)(rand_r(&seed) % sizeof buf);
        for (size_t k = 0; k < len; k++) buf[k] = (char)rand_r(&seed);
        if (len && i % 2) buf[0] = (char)131;
        sw__host_worker_frame(f.h, PEER, buf, len);
    }
    /* Every truncation of a good frame. */
    enc_atom(&f.m, "msg");
    frame3(&f, SW_DOP_SEND, NULL, &wp);
    for (int len = 0; len < f.x.index; len++) {
        swarm_host_stats(f.h, &st);
        dropped = st.dropped;
        CU_ASSERT(sw__host_worker_frame(f.h, PEER, f.x.buff, (size_t)len) == 1);
        swarm_host_stats(f.h, &st);
        CU_ASSERT(st.dropped == dropped + 1);
    }
    /* A message to a pid with no worker, and to another node. */
    erlang_pid nobody = pid_on(HOST, 555, 0), elsewhere = pid_on(PEER, 1, 0);
    send_to(&f, &nobody);
    send_to(&f, &elsewhere);
    /* REG_SEND to a name that is not the node's. */
    reg_send(&f, &elsewhere, "rex");
    CU_ASSERT(handle(&f) == 1);
    swarm_host_stats(f.h, &st);
    CU_ASSERT(st.dropped >= dropped + 4);
    /* The swarm server's, net_kernel's and swarm_agent's go on to the
     * dispatcher (sw_dist_handle), uncounted. */
    swarm_host_stats(f.h, &st);
    dropped = st.dropped;
    reg_send(&f, &elsewhere, "net_kernel");
    CU_ASSERT(handle(&f) == 0);
    reg_send(&f, &elsewhere, "swarm");
    CU_ASSERT(handle(&f) == 0);
    reg_send(&f, &elsewhere, "swarm_agent");
    CU_ASSERT(handle(&f) == 0);
    swarm_host_stats(f.h, &st);
    CU_ASSERT(st.dropped == dropped);
    /* The worker got nothing, and lives. */
    CU_ASSERT(S.calls + S.casts + S.infos + S.terms == 0);
    CU_ASSERT(sw__host_worker_find(f.h, &wp) == w);
    fix_close(&f);
}

/* Controls whose tuple is shorter or longer than their op's, with no
 * message after them: dropped and counted, without a read past the frame
 * (each is handled from a heap copy of its exact size, for ASan). */
static void test_control_arity(void) {
    fix_t f;
    fix_init(&f);
    erlang_pid wp;
    swarm_worker_t *w = fix_worker(&f, &wp);
    erlang_pid peer = pid_on(PEER, 7, 0);
    static const long ops[] = {SW_DOP_SEND_TT,  SW_DOP_REG_SEND,    SW_DOP_UNLINK_ID,
                               SW_DOP_EXIT,     SW_DOP_EXIT_TT,     SW_DOP_EXIT2,
                               SW_DOP_EXIT2_TT, SW_DOP_MONITOR_P,   SW_DOP_MONITOR_P_EXIT,
                               SW_DOP_PAYLOAD_EXIT_TT};
    swarm_host_stats_t st;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        for (int extra = 0; extra < 2; extra++) {
            /* {Op, From, To} or {Op, From, To, kill, kill, kill}. */
            ei_x_buff *x = &f.x;
            x->index = 0;
            ei_x_encode_version(x);
            ei_x_encode_tuple_header(x, extra ? 6 : 3);
            ei_x_encode_long(x, ops[i]);
            ei_x_encode_pid(x, &peer);
            ei_x_encode_pid(x, &wp);
            for (int k = 0; k < (extra ? 3 : 0); k++) ei_x_encode_atom(x, "kill");
            char *copy = malloc((size_t)x->index);
            CU_ASSERT_FATAL(copy != NULL);
            memcpy(copy, x->buff, (size_t)x->index);
            swarm_host_stats(f.h, &st);
            uint64_t dropped = st.dropped;
            CU_ASSERT(sw__host_worker_frame(f.h, PEER, copy, (size_t)x->index) == 1);
            free(copy);
            swarm_host_stats(f.h, &st);
            CU_ASSERT(st.dropped == dropped + 1);
        }
    }
    sw__host_poll(f.h);
    CU_ASSERT(S.calls + S.casts + S.infos + S.terms == 0);
    CU_ASSERT(sw__host_worker_find(f.h, &wp) == w);
    fix_close(&f);
}

static void test_stop_inside_callback(void) {
    fix_t f;
    fix_init(&f);
    erlang_pid wp;
    fix_worker(&f, &wp);
    erlang_pid caller = pid_on(HOST, 0, 0);
    S.stop_in_call = 1;
    S.reply_in_call = 1;
    /* Two calls queued locally: the first stops the worker from inside its
     * callback; the second finds no worker. */
    gen_call(&f, &caller, 1, "first");
    frame3(&f, SW_DOP_SEND, NULL, &wp);
    CU_ASSERT(sw__host_route(f.h, HOST, f.x.buff, (size_t)f.x.index, NULL, 0) == SWARM_OK);
    gen_call(&f, &caller, 2, "second");
    frame3(&f, SW_DOP_SEND, NULL, &wp);
    CU_ASSERT(sw__host_route(f.h, HOST, f.x.buff, (size_t)f.x.index, NULL, 0) == SWARM_OK);
    swarm_host_stats_t st;
    swarm_host_stats(f.h, &st);
    uint64_t dropped = st.dropped;
    sw__host_poll(f.h);
    CU_ASSERT(S.calls == 1 && S.terms == 1);
    swarm_host_stats(f.h, &st);
    CU_ASSERT(st.dropped == dropped + 1);
    CU_ASSERT(st.workers == 0);
    /* The reply of the first went out (to the local queue). */
    long op;
    char ctrl[256], msg[256];
    CU_ASSERT_FATAL(pop_local(&f, &op, ctrl, sizeof ctrl, msg, sizeof msg) == 0);
    CU_ASSERT(strcmp(msg, "{1, {echo, first}}") == 0);
    fix_close(&f);
}

/* ---- calls between workers of one host ------------------------------------ */

static void call_done(swarm_worker_t *w, int status, const char *reply, size_t len, void *ud) {
    S.done++;
    S.call_status = status;
    S.call_reply[0] = 0;
    if (reply) print(S.call_reply, sizeof S.call_reply, reply);
}

static void poll_until_done(fix_t *f, int n) {
    for (int i = 0; i < 200 && S.done < n; i++) {
        sw__host_poll(f->h);
        if (S.done < n) uv_run(&f->loop, UV_RUN_NOWAIT);
    }
}

static void test_local_calls(void) {
    fix_t f;
    fix_init(&f);
    swarm_worker_t *a = swarm_worker_new(f.h, &cbs, NULL);
    swarm_worker_t *b = swarm_worker_new(f.h, &cbs, NULL);
    erlang_pid bp = *wpid(b);
    S.reply_in_call = 1;
    enc_atom(&f.m, "ping");
    CU_ASSERT(swarm_call_pid(a, &bp, f.m.buff, (size_t)f.m.index, 1000, call_done, NULL) == SWARM_OK);
    CU_ASSERT(S.done == 0); /* never from inside the call */
    swarm_host_stats_t st;
    swarm_host_stats(f.h, &st);
    CU_ASSERT(st.calls_out == 1);
    poll_until_done(&f, 1);
    CU_ASSERT(S.done == 1 && S.call_status == SWARM_OK);
    CU_ASSERT(strcmp(S.call_reply, "{echo, ping}") == 0);
    sw__host_poll(f.h); /* the demonitor */
    swarm_host_stats(f.h, &st);
    CU_ASSERT(st.calls_out == 0 && st.monitors == 0);
    /* A worker calling itself gets its own call (and answers it). */
    CU_ASSERT(swarm_call_pid(a, wpid(a), f.m.buff, (size_t)f.m.index, 1000, call_done,
                             NULL) == SWARM_OK);
    poll_until_done(&f, 2);
    CU_ASSERT(S.done == 2 && S.call_status == SWARM_OK);
    /* A dead callee: noproc, at once. */
    CU_ASSERT(swarm_worker_stop(b, NULL, 0) == SWARM_OK);
    CU_ASSERT(swarm_call_pid(a, &bp, f.m.buff, (size_t)f.m.index, 1000, call_done, NULL) == SWARM_OK);
    poll_until_done(&f, 3);
    CU_ASSERT(S.done == 3 && S.call_status == SWARM_ENOTFOUND);
    /* A callee that keeps the from handle: the timer ends the call. */
    swarm_worker_t *c = swarm_worker_new(f.h, &cbs, NULL);
    S.reply_in_call = 0;
    CU_ASSERT(swarm_call_pid(a, wpid(c), f.m.buff, (size_t)f.m.index, 20, call_done,
                             NULL) == SWARM_OK);
    for (int i = 0; i < 400 && S.done < 4; i++) {
        sw__host_poll(f.h);
        uv_run(&f.loop, UV_RUN_ONCE);
    }
    CU_ASSERT(S.done == 4 && S.call_status == SWARM_ETIMEDOUT);
    /* The late reply is a plain message to a. */
    CU_ASSERT_FATAL(S.from != NULL);
    CU_ASSERT(swarm_reply(S.from, f.m.buff, (size_t)f.m.index) == SWARM_OK);
    int infos = S.infos;
    sw__host_poll(f.h);
    sw__host_poll(f.h);
    CU_ASSERT(S.infos == infos + 1);
    /* A callee that exits while the call waits: EEXIT with its reason. */
    S.from = NULL;
    CU_ASSERT(swarm_call_pid(a, wpid(c), f.m.buff, (size_t)f.m.index, 1000, call_done,
                             NULL) == SWARM_OK);
    for (int i = 0; i < 10 && !S.from; i++) sw__host_poll(f.h);
    CU_ASSERT_FATAL(S.from != NULL);
    swarm_from_free(S.from);
    enc_atom(&f.m, "crashed");
    CU_ASSERT(swarm_worker_stop(c, f.m.buff, (size_t)f.m.index) == SWARM_OK);
    poll_until_done(&f, 5);
    CU_ASSERT(S.done == 5 && S.call_status == SWARM_EEXIT);
    CU_ASSERT(strcmp(S.call_reply, "crashed") == 0);
    /* Bad arguments: no call, no callback. */
    CU_ASSERT(swarm_call_pid(a, NULL, f.m.buff, (size_t)f.m.index, 0, call_done, NULL) == SWARM_EINVAL);
    CU_ASSERT(swarm_call_pid(a, &bp, "\x83", 1, 0, call_done, NULL) == SWARM_EBADTERM);
    /* A call by name with no such name: ENOTFOUND through done. */
    CU_ASSERT(swarm_call(a, f.m.buff, (size_t)f.m.index, f.m.buff, (size_t)f.m.index, 0, call_done,
                         NULL) == SWARM_OK);
    CU_ASSERT(S.done == 5);
    poll_until_done(&f, 6);
    CU_ASSERT(S.done == 6 && S.call_status == SWARM_ENOTFOUND);
    /* The caller stops while its call waits: ESTOPPED. */
    swarm_worker_t *d = swarm_worker_new(f.h, &cbs, NULL);
    CU_ASSERT(swarm_call_pid(a, wpid(d), f.m.buff, (size_t)f.m.index, 1000, call_done,
                             NULL) == SWARM_OK);
    CU_ASSERT(swarm_worker_stop(a, NULL, 0) == SWARM_OK);
    /* a is valid until the check frees it, and refuses calls. */
    CU_ASSERT(swarm_call_pid(a, &bp, f.m.buff, (size_t)f.m.index, 0, call_done, NULL) == SWARM_ESTOPPED);
    poll_until_done(&f, 7);
    CU_ASSERT(S.done == 7 && S.call_status == SWARM_ESTOPPED);
    sw__host_poll(f.h);
    fix_close(&f);
}

/* ---- stop of the host ------------------------------------------------------ */

static int after_ran, work_status = 1;
static void after_cb(swarm_host_t *h, void *ud) { after_ran++; }
static void work_fn(void *ud) { (void)ud; }
static void work_done(swarm_host_t *h, int status, void *ud) { work_status = status; }

static void test_host_stop(void) {
    fix_t f;
    fix_init(&f);
    swarm_worker_t *a = swarm_worker_new(f.h, &cbs, NULL);
    swarm_worker_t *b = swarm_worker_new(f.h, &cbs, NULL);
    S.reply_in_call = 0;
    enc_atom(&f.m, "ping");
    CU_ASSERT(swarm_call_pid(a, wpid(b), f.m.buff, (size_t)f.m.index, 1000, call_done,
                             NULL) == SWARM_OK);
    sw__host_poll(f.h);
    CU_ASSERT(S.calls == 1 && S.from != NULL);
    after_ran = 0;
    CU_ASSERT(swarm_after(f.h, 10000, after_cb, NULL) == SWARM_OK);
    work_status = 1;
    CU_ASSERT(swarm_work(f.h, work_fn, work_done, NULL) == SWARM_OK);
    swarm_host_stop(f.h, on_stopped, &f);
    swarm_host_stop(f.h, NULL, NULL); /* ignored */
    CU_ASSERT(S.terms == 2 && strcmp(S.reason, "shutdown") == 0);
    CU_ASSERT(S.done == 1 && S.call_status == SWARM_ESTOPPED);
    /* Everything after the stop fails with ESTOPPED. */
    CU_ASSERT(swarm_worker_new(f.h, &cbs, NULL) == NULL);
    CU_ASSERT(swarm_after(f.h, 1, after_cb, NULL) == SWARM_ESTOPPED);
    CU_ASSERT(swarm_work(f.h, work_fn, work_done, NULL) == SWARM_ESTOPPED);
    CU_ASSERT(swarm_reply(S.from, f.m.buff, (size_t)f.m.index) == SWARM_ESTOPPED);
    for (int i = 0; i < 1000 && !f.stopped; i++) uv_run(&f.loop, UV_RUN_ONCE);
    CU_ASSERT(f.stopped);
    CU_ASSERT(after_ran == 0);
    CU_ASSERT(work_status == SWARM_OK || work_status == SWARM_ESTOPPED);
    CU_ASSERT(uv_loop_close(&f.loop) == 0);
    ei_x_free(&f.x);
    ei_x_free(&f.m);
}

static int suite_init(void) {
    if (!getenv("SWARM_LOG")) sw_log_set_level(SW_LOG_ERROR);
    return 0;
}

static void test_stop_host_inside_callback(void) {
    fix_t f;
    fix_init(&f);
    erlang_pid wp;
    fix_worker(&f, &wp);
    erlang_pid caller = pid_on(HOST, 0, 0);
    S.stop_host_in_call = 1;
    S.on_stopped = on_stopped;
    S.stop_ud = &f;
    S.reply_in_call = 1;
    gen_call(&f, &caller, 1, "first");
    send_to(&f, &wp);
    CU_ASSERT(S.calls == 1 && S.terms == 1 && strcmp(S.reason, "shutdown") == 0);
    fix_close(&f); /* the second stop is ignored; the host ends */
}

/* The record of an idle worker and its share of the table stay small. */
static void test_worker_memory(void) {
    fix_t f;
    fix_init(&f);
    CU_ASSERT(sizeof(swarm_worker_t) <= 64);
    enum { N = 10000 };
    for (int i = 0; i < N; i++) CU_ASSERT_FATAL(swarm_worker_new(f.h, &cbs, NULL) != NULL);
    size_t table = f.h->workers.cap * sizeof(sw_htab_slot_t);
    CU_ASSERT(sizeof(swarm_worker_t) + table / N <= 128);
    fix_close(&f);
}

int test_host_suite(void) {
    CU_pSuite s = CU_add_suite("host", suite_init, NULL);
    if (!s) return 1;
    if (!CU_add_test(s, "error names", test_strerror) ||
        !CU_add_test(s, "config checks", test_config) ||
        !CU_add_test(s, "cookie lookup order", test_cookie_order) ||
        !CU_add_test(s, "worker table and pids", test_worker_table) ||
        !CU_add_test(s, "calls, casts, infos, from handles", test_call_cast_info) ||
        !CU_add_test(s, "monitors", test_monitors) ||
        !CU_add_test(s, "links and exit signals", test_links_and_exits) ||
        !CU_add_test(s, "garbage dropped and counted", test_garbage) ||
        !CU_add_test(s, "controls of the wrong arity dropped", test_control_arity) ||
        !CU_add_test(s, "a peer's connection lost", test_node_down) ||
        !CU_add_test(s, "stop inside a callback", test_stop_inside_callback) ||
        !CU_add_test(s, "calls between workers of one host", test_local_calls) ||
        !CU_add_test(s, "host stop", test_host_stop) ||
        !CU_add_test(s, "host stop inside a callback", test_stop_host_inside_callback) ||
        !CU_add_test(s, "memory of idle workers", test_worker_memory))
        return 1;
    return 0;
}
