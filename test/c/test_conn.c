/* test_conn.c - CUnit suites of the network layer.
 * (The frame reader alone, without sockets, is test_frame.c.)
 *
 * "conn_net": whole nodes (node.c, conn.c, handshake.c, epmd.c) on one loop
 * in this process, published in a fake epmd served by the test itself (so
 * the suite needs no epmd and runs under ASan and valgrind): connect and
 * exchange frames, simultaneous connect, wrong cookie, unknown peers and bad
 * names, garbage and half messages from raw sockets, ticks and the tick
 * timeout, handshake timeout, replacement of a stale connection (alive),
 * flush on close, a 10 MB frame, throughput, freeing with live connections.
 * Every test ends with uv_loop_close() == 0: no handle left behind.
 */
#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "frame.h"
#include "handshake.h"
#include "log.h"
#include "node.h"

/* A small seeded generator for test data. */
static uint64_t rng_state;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* ======================================================================
 * Network tests: environment, fake epmd, raw sockets
 * ====================================================================== */

typedef struct fcli_s fcli_t;
typedef struct {
    uv_tcp_t srv;
    uint16_t port;
    struct {
        char name[256];
        uint16_t port;
        fcli_t *owner;
    } regs[32];
    uint32_t creation;
    fcli_t *clients;
    int lookups;
    int mute_lookups; /* lookups are read and never answered (a lost SYN's
                         effect: an attempt that hangs before its handshake) */
} fepmd_t;

struct fcli_s {
    uv_tcp_t tcp;
    fepmd_t *e;
    fcli_t *next, *prev;
    uint8_t in[1024];
    size_t inlen;
    uint8_t out[600];
    uv_write_t w;
    int close_after_write;
    int closing;
};

typedef struct {
    uv_loop_t loop;
    uv_timer_t waker; /* keeps uv_run(ONCE) from sleeping long */
    fepmd_t epmd;
} env_t;

static void f_closed(uv_handle_t *h) {
    fcli_t *c = h->data;
    free(c);
}

static void f_close(fcli_t *c) {
    if (c->closing) return;
    c->closing = 1;
    fepmd_t *e = c->e;
    for (size_t i = 0; i < sizeof e->regs / sizeof e->regs[0]; i++)
        if (e->regs[i].owner == c) e->regs[i].owner = NULL, e->regs[i].name[0] = '\0';
    if (c->prev) c->prev->next = c->next;
    else e->clients = c->next;
    if (c->next) c->next->prev = c->prev;
    uv_close((uv_handle_t *)&c->tcp, f_closed);
}

static void f_written(uv_write_t *w, int status) {
    fcli_t *c = w->data;
    if (c->close_after_write) f_close(c);
}

static void f_reply(fcli_t *c, size_t n, int close_after) {
    c->close_after_write = close_after;
    uv_buf_t b = uv_buf_init((char *)c->out, (unsigned)n);
    c->w.data = c;
    if (uv_write(&c->w, (uv_stream_t *)&c->tcp, &b, 1, f_written) < 0) f_close(c);
}

static void f_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
    fcli_t *c = h->data;
    b->base = (char *)c->in + c->inlen;
    b->len = sizeof c->in - c->inlen;
}

static void f_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    fcli_t *c = s->data;
    fepmd_t *e = c->e;
    if (n < 0) {
        f_close(c);
        return;
    }
    c->inlen += (size_t)n;
    if (c->inlen < 2) return;
    size_t L = ((size_t)c->in[0] << 8) | c->in[1];
    if (c->inlen < 2 + L || L < 1) return;
    uint8_t *q = c->in + 2;
    if (q[0] == 120 && L >= 13) {
        size_t nl = ((size_t)q[9] << 8) | q[10];
        char name[256];
        memcpy(name, q + 11, nl);
        name[nl] = '\0';
        int taken = 0, slot = -1;
        for (int i = 0; i < 32; i++) {
            if (e->regs[i].name[0] && strcmp(e->regs[i].name, name) == 0) taken = 1;
            if (!e->regs[i].name[0] && slot < 0) slot = i;
        }
        uint32_t cr = taken ? 0 : ++e->creation;
        if (!taken) {
            snprintf(e->regs[slot].name, sizeof e->regs[slot].name, "%s", name);
            e->regs[slot].port = (uint16_t)((q[1] << 8) | q[2]);
            e->regs[slot].owner = c;
        }
        uint8_t r[6] = {118, (uint8_t)taken, (uint8_t)(cr >> 24), (uint8_t)(cr >> 16),
                        (uint8_t)(cr >> 8), (uint8_t)cr};
        memcpy(c->out, r, 6);
        f_reply(c, 6, 0);
    } else if (q[0] == 122) {
        e->lookups++;
        if (e->mute_lookups) return;
        char name[256];
        memcpy(name, q + 1, L - 1);
        name[L - 1] = '\0';
        int i;
        for (i = 0; i < 32; i++)
            if (e->regs[i].name[0] && strcmp(e->regs[i].name, name) == 0) break;
        if (i == 32) {
            c->out[0] = 119;
            c->out[1] = 1;
            f_reply(c, 2, 1);
            return;
        }
        size_t nl = strlen(name);
        uint8_t *o = c->out;
        o[0] = 119, o[1] = 0, o[2] = (uint8_t)(e->regs[i].port >> 8), o[3] = (uint8_t)e->regs[i].port;
        o[4] = 72, o[5] = 0, o[6] = 0, o[7] = 6, o[8] = 0, o[9] = 5;
        o[10] = (uint8_t)(nl >> 8), o[11] = (uint8_t)nl;
        memcpy(o + 12, name, nl);
        o[12 + nl] = 0, o[13 + nl] = 0;
        f_reply(c, 14 + nl, 1);
    } else {
        f_close(c);
    }
}

static void f_conn(uv_stream_t *srv, int status) {
    fepmd_t *e = srv->data;
    if (status < 0) return;
    fcli_t *c = calloc(1, sizeof *c);
    c->e = e;
    uv_tcp_init(srv->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0) {
        c->closing = 1;
        uv_close((uv_handle_t *)&c->tcp, f_closed);
        return;
    }
    c->next = e->clients;
    if (e->clients) e->clients->prev = c;
    e->clients = c;
    uv_read_start((uv_stream_t *)&c->tcp, f_alloc, f_read);
}

static void waker_cb(uv_timer_t *t) {}

static void env_init(env_t *e) {
    memset(e, 0, sizeof *e);
    CU_ASSERT_FATAL(uv_loop_init(&e->loop) == 0);
    uv_timer_init(&e->loop, &e->waker);
    uv_timer_start(&e->waker, waker_cb, 1, 1);
    uv_tcp_init(&e->loop, &e->epmd.srv);
    e->epmd.srv.data = &e->epmd;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    CU_ASSERT_FATAL(uv_tcp_bind(&e->epmd.srv, (struct sockaddr *)&a, 0) == 0);
    CU_ASSERT_FATAL(uv_listen((uv_stream_t *)&e->epmd.srv, 64, f_conn) == 0);
    int l = sizeof a;
    uv_tcp_getsockname(&e->epmd.srv, (struct sockaddr *)&a, &l);
    e->epmd.port = ntohs(a.sin_port);
}

#define RUN_UNTIL(env, cond, ms)                                                    \
    do {                                                                            \
        uv_update_time(&(env)->loop);                                               \
        uint64_t dl_ = uv_now(&(env)->loop) + (ms);                                 \
        while (!(cond) && uv_now(&(env)->loop) < dl_) uv_run(&(env)->loop, UV_RUN_ONCE); \
    } while (0)

static void env_close(env_t *e) {
    while (e->epmd.clients) f_close(e->epmd.clients);
    uv_close((uv_handle_t *)&e->epmd.srv, NULL);
    uv_close((uv_handle_t *)&e->waker, NULL);
    /* Everything must be closing by now; a bounded drain, then the check
     * that nothing was left behind. */
    for (int i = 0; i < 1000 && uv_run(&e->loop, UV_RUN_NOWAIT); i++) usleep(1000);
    CU_ASSERT_EQUAL(uv_loop_close(&e->loop), 0);
}

/* ---- test nodes ---------------------------------------------------------- */

typedef struct {
    sw_node_t *n;
    int started, start_err;
    int ups, downs;
    sw_down_reason_t last_down;
    sw_conn_t *conn;
    int failed, fail_err;
    char fail_name[SW_MAXNODELEN + 1];
    size_t frames;
    uint32_t next_seq;
    int seq_bad;
    size_t last_len;
    uint64_t last_sum;
    int freed;
    int up_seq, down_seq; /* event_clock at the last on_up / on_down */
} tnode_t;

/* Orders the callbacks of all test nodes. */
static int event_clock;

static void t_started(sw_node_t *n, int err, void *ud) {
    tnode_t *t = ud;
    t->started++;
    t->start_err = err;
}
static void t_up(sw_node_t *n, sw_conn_t *c, void *ud) {
    tnode_t *t = ud;
    t->ups++;
    t->conn = c;
    t->up_seq = ++event_clock;
}
static void t_down(sw_node_t *n, sw_conn_t *c, sw_down_reason_t why, void *ud) {
    tnode_t *t = ud;
    t->downs++;
    t->down_seq = ++event_clock;
    t->last_down = why;
    if (t->conn == c) t->conn = NULL;
}
static void t_failed(sw_node_t *n, const char *name, int err, void *ud) {
    tnode_t *t = ud;
    t->failed++;
    t->fail_err = err;
    snprintf(t->fail_name, sizeof t->fail_name, "%s", name);
}
/* Frames of the tests carry a 4-byte sequence number as "control". */
static void t_frame(sw_node_t *n, sw_conn_t *c, const char *buf, size_t len, void *ud) {
    tnode_t *t = ud;
    t->frames++;
    t->last_len = len;
    if (len >= 4) {
        uint32_t seq = ((uint32_t)(unsigned char)buf[0] << 24) |
                       ((uint32_t)(unsigned char)buf[1] << 16) |
                       ((uint32_t)(unsigned char)buf[2] << 8) | (unsigned char)buf[3];
        if (seq != t->next_seq) t->seq_bad++;
        t->next_seq = seq + 1;
    }
    if (len > 1000) {
        uint64_t s = 0;
        for (size_t i = 0; i < len; i++) s = s * 31 + (unsigned char)buf[i];
        t->last_sum = s;
    }
}
static void t_freed(sw_node_t *n, void *ud) {
    tnode_t *t = ud;
    t->freed = 1;
}

static const sw_node_cbs_t t_cbs = {.on_started = t_started,
                                    .on_up = t_up,
                                    .on_frame = t_frame,
                                    .on_down = t_down,
                                    .on_connect_failed = t_failed};

static void mk_node_cfg(env_t *e, tnode_t *t, const char *alive, const char *cookie,
                        unsigned tick, unsigned timeout, unsigned hs, uint16_t epmd_port) {
    memset(t, 0, sizeof *t);
    sw_node_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.alive = alive;
    cfg.host = "127.0.0.1";
    cfg.cookie = cookie;
    cfg.tick_ms = tick;
    cfg.timeout_ms = timeout;
    cfg.handshake_timeout_ms = hs;
    cfg.epmd_port = epmd_port;
    t->n = sw_node_new(&e->loop, &cfg, &t_cbs, t);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t->n);
    CU_ASSERT_EQUAL_FATAL(sw_node_start(t->n), 0);
    RUN_UNTIL(e, t->started, 3000);
}

static void mk_node(env_t *e, tnode_t *t, const char *alive, const char *cookie) {
    mk_node_cfg(e, t, alive, cookie, 0, 0, 2000, e->epmd.port);
    CU_ASSERT_EQUAL(t->started, 1);
    CU_ASSERT_EQUAL(t->start_err, 0);
    CU_ASSERT_NOT_EQUAL(sw_node_creation(t->n), 0);
    CU_ASSERT_NOT_EQUAL(sw_node_port(t->n), 0);
}

static void free_node(env_t *e, tnode_t *t) {
    if (!t->n) return;
    sw_node_free(t->n, t_freed);
    RUN_UNTIL(e, t->freed, 3000);
    CU_ASSERT(t->freed);
    t->n = NULL;
}

static int count_conns(sw_node_t *n) {
    int k = 0;
    for (sw_conn_t *c = n->conns; c; c = c->next) k++;
    return k;
}

static sw_node_stats_t stats(tnode_t *t) {
    sw_node_stats_t s;
    sw_node_stats(t->n, &s);
    return s;
}

static void send_seq(sw_conn_t *c, uint32_t seq, size_t pad) {
    char ctrl[4] = {(char)(seq >> 24), (char)(seq >> 16), (char)(seq >> 8), (char)seq};
    static char padding[256];
    CU_ASSERT_EQUAL(sw_conn_send(c, ctrl, 4, pad ? padding : NULL, pad), 0);
}

/* ---- raw sockets --------------------------------------------------------- */

typedef struct {
    int fd;
    uint8_t in[65536];
    size_t inlen;
    int closed;
    sw__hs_t hs;
    int hs_result;
    int ticks;
    uint64_t last_io;  /* uv_now() of the last raw_keepalive / raw_slow_read */
    size_t read_total; /* bytes taken by raw_slow_read */
} raw_t;

/* SO_RCVBUF of the next raw_connect (0: the system's). */
static int raw_rcvbuf;

static void raw_connect(raw_t *r, uint16_t port) {
    memset(r, 0, sizeof *r);
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    CU_ASSERT_FATAL(r->fd >= 0);
    if (raw_rcvbuf) setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &raw_rcvbuf, sizeof raw_rcvbuf);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* A loopback connect completes in the kernel's backlog, before the node
     * accepts; no loop iteration needed. */
    CU_ASSERT_FATAL(connect(r->fd, (struct sockaddr *)&a, sizeof a) == 0);
    fcntl(r->fd, F_SETFL, fcntl(r->fd, F_GETFL) | O_NONBLOCK);
}

static void raw_send(raw_t *r, const void *p, size_t n) {
    const char *q = p;
    while (n) {
        ssize_t w = send(r->fd, q, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EAGAIN) continue;
        if (w <= 0) return;
        q += w;
        n -= (size_t)w;
    }
}

static void raw_poll(raw_t *r) {
    while (!r->closed && r->inlen < sizeof r->in) {
        ssize_t n = recv(r->fd, r->in + r->inlen, sizeof r->in - r->inlen, MSG_DONTWAIT);
        if (n > 0) r->inlen += (size_t)n;
        else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) r->closed = 1;
        else break;
    }
}

static void raw_close(raw_t *r) {
    if (r->fd >= 0) close(r->fd);
    r->fd = -1;
}

/* One step of a raw initiator handshake: feed what arrived, send what the
 * machine produced. */
static int raw_hs_step(raw_t *r) {
    raw_poll(r);
    while (r->hs_result == SW_HS_MORE && r->inlen >= 2) {
        size_t l = ((size_t)r->in[0] << 8) | r->in[1];
        if (r->inlen < 2 + l) break;
        r->hs_result = sw__hs_input(&r->hs, r->in + 2, l);
        memmove(r->in, r->in + 2 + l, r->inlen - 2 - l);
        r->inlen -= 2 + l;
        if (r->hs.outlen) raw_send(r, r->hs.out, r->hs.outlen);
        r->hs.outlen = 0;
    }
    if (r->closed && r->hs_result == SW_HS_MORE) r->hs_result = SW_HS_FAILED;
    return r->hs_result != SW_HS_MORE;
}

static void raw_handshake(env_t *e, raw_t *r, tnode_t *peer, const char *our_name,
                          const char *cookie) {
    raw_connect(r, sw_node_port(peer->n));
    sw__hs_init(&r->hs, 1, our_name, cookie, SW_DFLAGS_OURS, 5, 0xABCDEF, NULL, NULL);
    char peer_name[SW_MAXNODELEN + 1];
    snprintf(peer_name, sizeof peer_name, "%s", sw_node_name(peer->n));
    CU_ASSERT_FATAL(sw__hs_start(&r->hs, peer_name, 6) == 0);
    raw_send(r, r->hs.out, r->hs.outlen);
    r->hs.outlen = 0;
    RUN_UNTIL(e, raw_hs_step(r), 3000);
}

/* Counts the ticks among the dist frames received by a raw client. */
static void raw_count_ticks(raw_t *r) {
    raw_poll(r);
    size_t off = 0;
    while (r->inlen - off >= 4) {
        size_t l = ((size_t)r->in[off] << 24) | ((size_t)r->in[off + 1] << 16) |
                   ((size_t)r->in[off + 2] << 8) | r->in[off + 3];
        if (r->inlen - off < 4 + l) break;
        if (l == 0) r->ticks++;
        off += 4 + l;
    }
    memmove(r->in, r->in + off, r->inlen - off);
    r->inlen -= off;
}

/* ======================================================================
 * Network tests
 * ====================================================================== */

/* A node with write-queue limits (and the usual test epmd). */
static void mk_node_limits(env_t *e, tnode_t *t, const char *alive, unsigned tick,
                           unsigned timeout, size_t hard, size_t soft) {
    memset(t, 0, sizeof *t);
    sw_node_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.alive = alive;
    cfg.host = "127.0.0.1";
    cfg.cookie = "c";
    cfg.tick_ms = tick;
    cfg.timeout_ms = timeout;
    cfg.handshake_timeout_ms = 2000;
    cfg.epmd_port = e->epmd.port;
    cfg.backlog_hard = hard;
    cfg.backlog_soft = soft;
    t->n = sw_node_new(&e->loop, &cfg, &t_cbs, t);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t->n);
    CU_ASSERT_EQUAL_FATAL(sw_node_start(t->n), 0);
    RUN_UNTIL(e, t->started, 3000);
    CU_ASSERT_EQUAL_FATAL(t->start_err, 0);
}

/* A raw peer that completes its handshake with t and then reads only when
 * told to. Its receive buffer and t's send buffer are made tiny, so the
 * kernel holds a few KB, not megabytes, of what t sends. */
static void raw_deaf_peer(env_t *e, raw_t *r, tnode_t *t, const char *name) {
    int ups = t->ups;
    raw_rcvbuf = 2048;
    raw_handshake(e, r, t, name, "c");
    raw_rcvbuf = 0;
    CU_ASSERT_EQUAL_FATAL(r->hs_result, SW_HS_DONE);
    RUN_UNTIL(e, t->ups == ups + 1, 2000);
    CU_ASSERT_EQUAL_FATAL(t->ups, ups + 1);
    int v = 2048;
    uv_send_buffer_size((uv_handle_t *)&t->conn->tcp, &v);
    uv_update_time(&e->loop);
    r->last_io = uv_now(&e->loop);
}

/* Every 50 ms, a tick from the raw peer, so it is not silent. */
static void raw_keepalive(env_t *e, raw_t *r) {
    if (uv_now(&e->loop) - r->last_io < 50) return;
    r->last_io = uv_now(&e->loop);
    static const uint8_t tick[4] = {0, 0, 0, 0};
    raw_send(r, tick, sizeof tick);
}

/* Every 10 ms, reads what is there (up to 16 KB) and sends a tick: a slow
 * but live reader. */
static void raw_slow_read(env_t *e, raw_t *r) {
    if (uv_now(&e->loop) - r->last_io < 10) return;
    r->last_io = uv_now(&e->loop);
    char buf[4096];
    for (size_t got = 0; got < 16384;) {
        ssize_t n = recv(r->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0) break;
        got += (size_t)n;
        r->read_total += (size_t)n;
    }
    static const uint8_t tick[4] = {0, 0, 0, 0};
    raw_send(r, tick, sizeof tick);
}

static void test_net_connect_frames(void) {
    env_t e;
    env_init(&e);
    tnode_t a, b;
    mk_node(&e, &a, "alpha", "cookie");
    mk_node(&e, &b, "beta", "cookie");
    CU_ASSERT_STRING_EQUAL(sw_node_name(a.n), "alpha@127.0.0.1");
    CU_ASSERT_EQUAL(sw_node_connect(a.n, "beta@127.0.0.1"), 0);
    CU_ASSERT_EQUAL(sw_node_connect(a.n, "beta@127.0.0.1"), 1); /* attempt exists */
    RUN_UNTIL(&e, a.ups && b.ups, 3000);
    CU_ASSERT_EQUAL_FATAL(a.ups, 1);
    CU_ASSERT_EQUAL_FATAL(b.ups, 1);
    CU_ASSERT_EQUAL(sw_node_connect(a.n, "beta@127.0.0.1"), 1); /* connection exists */
    CU_ASSERT_EQUAL(sw_node_connect(b.n, "alpha@127.0.0.1"), 1);
    CU_ASSERT_PTR_EQUAL(sw_node_find(a.n, "beta@127.0.0.1"), a.conn);
    CU_ASSERT_PTR_NULL(sw_node_find(a.n, "gamma@127.0.0.1"));
    CU_ASSERT_STRING_EQUAL(sw_conn_peer(a.conn), "beta@127.0.0.1");
    CU_ASSERT_STRING_EQUAL(sw_conn_peer(b.conn), "alpha@127.0.0.1");
    CU_ASSERT_EQUAL(sw_conn_peer_creation(a.conn), sw_node_creation(b.n));
    CU_ASSERT_EQUAL(sw_conn_peer_creation(b.conn), sw_node_creation(a.n));
    CU_ASSERT_EQUAL(sw_conn_flags(a.conn) & SW_DFLAGS_MANDATORY_25, SW_DFLAGS_MANDATORY_25);
    CU_ASSERT_EQUAL(sw_conn_flags(a.conn) & SW_DFLAG_PUBLISHED, 0); /* hidden */
    int x;
    CU_ASSERT_PTR_NULL(sw_conn_get_data(a.conn));
    sw_conn_set_data(a.conn, &x);
    CU_ASSERT_PTR_EQUAL(sw_conn_get_data(a.conn), &x);

    for (uint32_t i = 0; i < 100; i++) send_seq(a.conn, i, i % 7);
    CU_ASSERT(sw_conn_queued(a.conn) > 0);
    for (uint32_t i = 0; i < 50; i++) send_seq(b.conn, i, 3);
    RUN_UNTIL(&e, b.frames == 100 && a.frames == 50, 3000);
    CU_ASSERT_EQUAL(b.frames, 100);
    CU_ASSERT_EQUAL(a.frames, 50);
    CU_ASSERT_EQUAL(a.seq_bad + b.seq_bad, 0);
    CU_ASSERT_EQUAL(sw_conn_queued(a.conn), 0);
    CU_ASSERT_EQUAL(sw_conn_send(a.conn, NULL, 0, NULL, 0), UV_EINVAL);
    sw_node_stats_t sa = stats(&a), sb = stats(&b);
    CU_ASSERT_EQUAL(sa.frames_out, 100);
    CU_ASSERT_EQUAL(sa.frames_in, 50);
    CU_ASSERT_EQUAL(sb.frames_in, 100);
    CU_ASSERT_EQUAL(sa.handshake_ok, 1);
    CU_ASSERT_EQUAL(sb.handshake_ok, 1);
    CU_ASSERT_EQUAL(sa.handshake_failed + sb.handshake_failed, 0);
    CU_ASSERT(sa.bytes_out > 0 && sb.bytes_in >= sa.bytes_out - 100);
    CU_ASSERT_EQUAL(e.epmd.lookups, 1);

    free_node(&e, &a);
    RUN_UNTIL(&e, b.downs, 3000);
    CU_ASSERT_EQUAL(b.downs, 1);
    CU_ASSERT_EQUAL(b.last_down, SW_DOWN_CLOSED);
    CU_ASSERT_EQUAL(a.downs, 0); /* freeing reports nothing */
    free_node(&e, &b);
    env_close(&e);
}

static void simultaneous_once(const char *an, const char *bn) {
    env_t e;
    env_init(&e);
    tnode_t a, b;
    mk_node(&e, &a, an, "c");
    mk_node(&e, &b, bn, "c");
    char aname[64], bname[64];
    snprintf(aname, sizeof aname, "%s@127.0.0.1", an);
    snprintf(bname, sizeof bname, "%s@127.0.0.1", bn);
    CU_ASSERT_EQUAL(sw_node_connect(a.n, bname), 0);
    CU_ASSERT_EQUAL(sw_node_connect(b.n, aname), 0);
    RUN_UNTIL(&e, a.ups && b.ups && count_conns(a.n) == 1 && count_conns(b.n) == 1, 3000);
    CU_ASSERT_EQUAL(a.ups, 1);
    CU_ASSERT_EQUAL(b.ups, 1);
    CU_ASSERT_EQUAL(a.failed + b.failed, 0);
    CU_ASSERT_EQUAL(count_conns(a.n), 1);
    CU_ASSERT_EQUAL(count_conns(b.n), 1);
    /* The two ends are one TCP connection. */
    if (a.conn && b.conn) {
        struct sockaddr_in la, pb;
        int l1 = sizeof la, l2 = sizeof pb;
        uv_tcp_getsockname(&a.conn->tcp, (struct sockaddr *)&la, &l1);
        uv_tcp_getpeername(&b.conn->tcp, (struct sockaddr *)&pb, &l2);
        CU_ASSERT_EQUAL(la.sin_port, pb.sin_port);
        sw_node_stats_t sa = stats(&a), sb = stats(&b);
        /* Both attempts started in the same loop iteration: they crossed. */
        CU_ASSERT(sa.simultaneous + sb.simultaneous >= 1);
        CU_ASSERT_EQUAL(sa.handshake_ok, 1);
        CU_ASSERT_EQUAL(sb.handshake_ok, 1);
        send_seq(a.conn, 0, 0);
        send_seq(b.conn, 0, 0);
        RUN_UNTIL(&e, a.frames && b.frames, 2000);
        CU_ASSERT_EQUAL(a.frames, 1);
        CU_ASSERT_EQUAL(b.frames, 1);
    }
    free_node(&e, &a);
    free_node(&e, &b);
    env_close(&e);
}

static void test_net_simultaneous(void) {
    for (int i = 0; i < 5; i++) {
        simultaneous_once("aaa", "bbb"); /* initiator of the smaller name loses */
        simultaneous_once("zzz", "bbb");
    }
}

static void test_net_wrong_cookie(void) {
    env_t e;
    env_init(&e);
    tnode_t a, b, c;
    mk_node(&e, &a, "a", "one");
    mk_node(&e, &b, "b", "two");
    CU_ASSERT_EQUAL(sw_node_connect(a.n, "b@127.0.0.1"), 0);
    RUN_UNTIL(&e, a.failed, 3000);
    CU_ASSERT_EQUAL(a.failed, 1);
    CU_ASSERT_EQUAL(a.fail_err, UV_EACCES);
    CU_ASSERT_STRING_EQUAL(a.fail_name, "b@127.0.0.1");
    RUN_UNTIL(&e, stats(&b).handshake_failed == 1, 1000);
    CU_ASSERT_EQUAL(stats(&b).auth_failed, 1);
    CU_ASSERT_EQUAL(stats(&b).handshake_failed, 1);
    CU_ASSERT_EQUAL(a.ups + b.ups, 0);
    /* The other way round: b checks a's ack and refuses it. */
    CU_ASSERT_EQUAL(sw_node_connect(b.n, "a@127.0.0.1"), 0);
    RUN_UNTIL(&e, b.failed, 3000);
    CU_ASSERT_EQUAL(b.failed, 1);
    CU_ASSERT_EQUAL(b.fail_err, UV_EACCES);
    RUN_UNTIL(&e, stats(&a).auth_failed == 1, 1000);
    CU_ASSERT_EQUAL(stats(&a).auth_failed, 1); /* a checked b's digest */
    /* b keeps working for the right cookie. */
    mk_node(&e, &c, "c", "two");
    CU_ASSERT_EQUAL(sw_node_connect(c.n, "b@127.0.0.1"), 0);
    RUN_UNTIL(&e, c.ups && b.ups, 3000);
    CU_ASSERT_EQUAL(c.ups, 1);
    CU_ASSERT_EQUAL(b.ups, 1);
    free_node(&e, &a);
    free_node(&e, &b);
    free_node(&e, &c);
    env_close(&e);
}

static void test_net_connect_errors(void) {
    env_t e;
    env_init(&e);
    tnode_t a, b;
    mk_node(&e, &a, "a", "c");
    mk_node(&e, &b, "b", "c");
    CU_ASSERT_EQUAL(sw_node_connect(a.n, "noat"), UV_EINVAL);
    CU_ASSERT_EQUAL(sw_node_connect(a.n, "x@"), UV_EINVAL);
    CU_ASSERT_EQUAL(sw_node_connect(a.n, "@x"), UV_EINVAL);
    CU_ASSERT_EQUAL(sw_node_connect(a.n, "a@127.0.0.1"), UV_EINVAL); /* ourselves */
    /* Unknown to epmd. */
    CU_ASSERT_EQUAL(sw_node_connect(a.n, "nobody@127.0.0.1"), 0);
    RUN_UNTIL(&e, a.failed, 3000);
    CU_ASSERT_EQUAL(a.failed, 1);
    CU_ASSERT_EQUAL(a.fail_err, UV_ENOENT);
    /* Through the resolver: b is found, but answers with its real name,
     * b@127.0.0.1, not the b@localhost we called. */
    CU_ASSERT_EQUAL(sw_node_connect(a.n, "b@localhost"), 0);
    RUN_UNTIL(&e, a.failed == 2, 5000);
    CU_ASSERT_EQUAL(a.failed, 2);
    CU_ASSERT_EQUAL(a.fail_err, UV_EINVAL);
    CU_ASSERT_STRING_EQUAL(a.fail_name, "b@localhost");
    CU_ASSERT_EQUAL(a.ups, 0);
    /* A node that is not started cannot connect. */
    tnode_t z;
    memset(&z, 0, sizeof z);
    sw_node_config_t cfg = {.alive = "z", .host = "127.0.0.1", .cookie = "c",
                            .epmd_port = e.epmd.port};
    z.n = sw_node_new(&e.loop, &cfg, &t_cbs, &z);
    CU_ASSERT_EQUAL(sw_node_connect(z.n, "a@127.0.0.1"), UV_EAGAIN);
    free_node(&e, &z); /* never started: done still comes from the loop */
    free_node(&e, &a);
    free_node(&e, &b);
    env_close(&e);
}

static void test_net_bad_config_and_publish(void) {
    env_t e;
    env_init(&e);
    sw_node_config_t cfg = {.alive = "a", .host = "127.0.0.1", .cookie = "c"};
    cfg.alive = NULL;
    CU_ASSERT_PTR_NULL(sw_node_new(&e.loop, &cfg, &t_cbs, NULL));
    cfg.alive = "a@b";
    CU_ASSERT_PTR_NULL(sw_node_new(&e.loop, &cfg, &t_cbs, NULL));
    cfg.alive = "a";
    cfg.cookie = NULL;
    CU_ASSERT_PTR_NULL(sw_node_new(&e.loop, &cfg, &t_cbs, NULL));
    char host[300];
    memset(host, 'h', sizeof host - 1);
    host[sizeof host - 1] = '\0';
    cfg.cookie = "c";
    cfg.host = host;
    CU_ASSERT_PTR_NULL(sw_node_new(&e.loop, &cfg, &t_cbs, NULL));

    /* epmd not there. */
    tnode_t a, b, b2;
    mk_node_cfg(&e, &a, "a", "c", 0, 0, 2000, 1);
    CU_ASSERT_EQUAL(a.started, 1);
    CU_ASSERT_EQUAL(a.start_err, UV_ECONNREFUSED);
    CU_ASSERT_EQUAL(sw_node_creation(a.n), 0);
    free_node(&e, &a);
    /* Name taken. */
    mk_node(&e, &b, "b", "c");
    mk_node_cfg(&e, &b2, "b", "c", 0, 0, 2000, e.epmd.port);
    CU_ASSERT_EQUAL(b2.start_err, UV_EADDRINUSE);
    free_node(&e, &b2);
    free_node(&e, &b);
    env_close(&e);
}

static void test_net_garbage(void) {
    env_t e;
    env_init(&e);
    tnode_t a, b;
    mk_node_cfg(&e, &b, "b", "c", 0, 0, 3000, e.epmd.port);
    raw_t r;

    /* An HTTP request: its first two bytes make a length above the
     * handshake limit. */
    raw_connect(&r, sw_node_port(b.n));
    raw_send(&r, "GET / HTTP/1.0\r\n\r\n", 18);
    RUN_UNTIL(&e, (raw_poll(&r), r.closed), 2000);
    CU_ASSERT(r.closed);
    raw_close(&r);

    /* A well-framed message that is not a send_name. */
    raw_connect(&r, sw_node_port(b.n));
    raw_send(&r, "\0\3xyz", 5);
    RUN_UNTIL(&e, (raw_poll(&r), r.closed), 2000);
    CU_ASSERT(r.closed);
    raw_close(&r);

    /* Half a send_name, then gone. */
    raw_connect(&r, sw_node_port(b.n));
    uint8_t name[SW_HS_ENC_MAX];
    int nl = sw__hs_enc_name(name, 6, SW_DFLAGS_OURS, 1, "raw@127.0.0.1");
    raw_send(&r, name, (size_t)nl / 2);
    raw_close(&r);
    RUN_UNTIL(&e, stats(&b).handshake_failed == 3, 2000);
    CU_ASSERT_EQUAL(stats(&b).handshake_failed, 3);

    /* A name without the mandatory flags: told not_allowed. */
    raw_connect(&r, sw_node_port(b.n));
    nl = sw__hs_enc_name(name, 6, SW_DFLAG_EXTENDED_REFERENCES, 1, "raw@127.0.0.1");
    raw_send(&r, name, (size_t)nl);
    RUN_UNTIL(&e, (raw_poll(&r), r.closed), 2000);
    CU_ASSERT(r.closed);
    CU_ASSERT(r.inlen >= 2 + 12 && memcmp(r.in + 2, "snot_allowed", 12) == 0);
    raw_close(&r);
    CU_ASSERT_EQUAL(b.ups, 0);

    /* b still accepts a real node. */
    mk_node(&e, &a, "a", "c");
    CU_ASSERT_EQUAL(sw_node_connect(a.n, "b@127.0.0.1"), 0);
    RUN_UNTIL(&e, a.ups && b.ups, 3000);
    CU_ASSERT_EQUAL(b.ups, 1);
    free_node(&e, &a);
    free_node(&e, &b);
    env_close(&e);
}

static void test_net_raw_frames(void) {
    env_t e;
    env_init(&e);
    tnode_t b;
    mk_node(&e, &b, "b", "c");
    raw_t r;
    raw_handshake(&e, &r, &b, "raw@127.0.0.1", "c");
    CU_ASSERT_EQUAL_FATAL(r.hs_result, SW_HS_DONE);
    RUN_UNTIL(&e, b.ups, 1000);
    CU_ASSERT_EQUAL_FATAL(b.ups, 1);
    CU_ASSERT_EQUAL(sw_conn_peer_creation(b.conn), 5);

    /* A frame whose first byte is not 112: counted, dropped, the
     * connection stays and the next frame is read. */
    static const uint8_t bad[] = {0, 0, 0, 3, 7, 1, 2};
    static const uint8_t good[] = {0, 0, 0, 5, 112, 0, 0, 0, 0};
    static const uint8_t tick[] = {0, 0, 0, 0};
    raw_send(&r, bad, sizeof bad);
    raw_send(&r, tick, sizeof tick);
    raw_send(&r, good, sizeof good);
    RUN_UNTIL(&e, b.frames == 1, 2000);
    CU_ASSERT_EQUAL(b.frames, 1);
    CU_ASSERT_EQUAL(b.last_len, 4);
    CU_ASSERT_EQUAL(stats(&b).bad_frames, 1);
    CU_ASSERT_EQUAL(stats(&b).ticks_in, 1);
    CU_ASSERT_EQUAL(b.downs, 0);
    /* Half a frame, then the peer leaves: just a down. */
    static const uint8_t half[] = {0, 0, 0, 10, 112, 1, 2};
    raw_send(&r, half, sizeof half);
    raw_close(&r);
    RUN_UNTIL(&e, b.downs, 2000);
    CU_ASSERT_EQUAL(b.downs, 1);
    CU_ASSERT_EQUAL(b.last_down, SW_DOWN_CLOSED);
    CU_ASSERT_EQUAL(b.frames, 1);

    /* An oversized length closes the connection. */
    raw_handshake(&e, &r, &b, "raw@127.0.0.1", "c");
    CU_ASSERT_EQUAL_FATAL(r.hs_result, SW_HS_DONE);
    RUN_UNTIL(&e, b.ups == 2, 1000);
    static const uint8_t huge[] = {0xFF, 0xFF, 0xFF, 0xFF, 112};
    raw_send(&r, huge, sizeof huge);
    RUN_UNTIL(&e, b.downs == 2 && (raw_poll(&r), r.closed), 2000);
    CU_ASSERT_EQUAL(b.downs, 2);
    CU_ASSERT_EQUAL(b.last_down, SW_DOWN_PROTOCOL);
    CU_ASSERT_EQUAL(stats(&b).conns_dropped, 1);
    CU_ASSERT(r.closed);
    raw_close(&r);

    /* A raw client with the wrong cookie: refused, counted. */
    raw_handshake(&e, &r, &b, "raw@127.0.0.1", "wrong");
    CU_ASSERT_EQUAL(r.hs_result, SW_HS_FAILED);
    CU_ASSERT_EQUAL(stats(&b).auth_failed, 1);
    raw_close(&r);
    free_node(&e, &b);
    env_close(&e);
}

static void test_net_replace_stale(void) {
    env_t e;
    env_init(&e);
    tnode_t a, b;
    mk_node(&e, &a, "a", "c");
    mk_node(&e, &b, "b", "c");
    CU_ASSERT_EQUAL(sw_node_connect(a.n, "b@127.0.0.1"), 0);
    RUN_UNTIL(&e, a.ups && b.ups, 3000);
    CU_ASSERT_EQUAL_FATAL(b.ups, 1);
    /* "a restarted": a new incarnation with a's name connects while b still
     * holds the old connection. b answers alive, the newcomer says true, the
     * old connection goes down before the new one comes up. */
    raw_t r;
    raw_handshake(&e, &r, &b, "a@127.0.0.1", "c");
    CU_ASSERT_EQUAL(r.hs_result, SW_HS_DONE);
    RUN_UNTIL(&e, b.ups == 2 && a.downs == 1, 2000);
    CU_ASSERT_EQUAL(b.downs, 1);
    CU_ASSERT_EQUAL(b.last_down, SW_DOWN_CLOSED);
    CU_ASSERT_EQUAL(b.ups, 2);
    CU_ASSERT(b.down_seq < b.up_seq); /* old down, then new up */
    CU_ASSERT_EQUAL(a.downs, 1);
    CU_ASSERT_EQUAL(count_conns(b.n), 1);
    CU_ASSERT_EQUAL(sw_conn_peer_creation(sw_node_find(b.n, "a@127.0.0.1")), 5);
    raw_close(&r);
    free_node(&e, &a);
    free_node(&e, &b);
    env_close(&e);
}

/* A newcomer claiming the name of a peer whose connection is up gets
 * "alive" and may answer "true", but the live connection stays until the
 * newcomer proves the cookie: a wrong digest, or leaving after "true",
 * changes nothing; the right digest replaces it (old down, then new up). */
static void test_net_replace_needs_auth(void) {
    env_t e;
    env_init(&e);
    tnode_t a, b;
    mk_node(&e, &a, "a", "c");
    mk_node(&e, &b, "b", "c");
    CU_ASSERT_EQUAL(sw_node_connect(a.n, "b@127.0.0.1"), 0);
    RUN_UNTIL(&e, a.ups && b.ups, 3000);
    CU_ASSERT_EQUAL_FATAL(b.ups, 1);
    sw_conn_t *old = b.conn;

    /* Without the cookie: alive, true, challenge, wrong digest. */
    raw_t r;
    raw_handshake(&e, &r, &b, "a@127.0.0.1", "wrong");
    CU_ASSERT_EQUAL(r.hs_result, SW_HS_FAILED);
    CU_ASSERT_EQUAL(r.hs.state, SW_HS_ST_I_ACK); /* it got as far as the reply */
    RUN_UNTIL(&e, stats(&b).auth_failed == 1, 2000);
    CU_ASSERT_EQUAL(stats(&b).auth_failed, 1);
    raw_close(&r);

    /* Says true, then leaves before any digest. */
    raw_connect(&r, sw_node_port(b.n));
    uint8_t name[SW_HS_ENC_MAX];
    int nl = sw__hs_enc_name(name, 6, SW_DFLAGS_OURS, 9, "a@127.0.0.1");
    raw_send(&r, name, (size_t)nl);
    RUN_UNTIL(&e, (raw_poll(&r), r.closed || r.inlen >= 8), 2000);
    CU_ASSERT_FATAL(r.inlen >= 8 && memcmp(r.in, "\0\6salive", 8) == 0);
    raw_send(&r, "\0\5strue", 7);
    RUN_UNTIL(&e, (raw_poll(&r), r.closed || r.inlen > 8), 2000);
    CU_ASSERT(r.inlen > 8 && r.in[10] == 'N'); /* the challenge came */
    raw_close(&r);
    RUN_UNTIL(&e, stats(&b).handshake_failed == 2, 2000);
    CU_ASSERT_EQUAL(stats(&b).handshake_failed, 2);

    /* The old link is untouched and still carries frames. */
    CU_ASSERT_EQUAL(b.downs + a.downs, 0);
    CU_ASSERT_EQUAL(b.ups, 1);
    CU_ASSERT_PTR_EQUAL(sw_node_find(b.n, "a@127.0.0.1"), old);
    if (a.conn) send_seq(a.conn, 0, 0);
    RUN_UNTIL(&e, b.frames == 1, 2000);
    CU_ASSERT_EQUAL(b.frames, 1);

    /* With the cookie: the old one goes down, then the new one is up. */
    raw_handshake(&e, &r, &b, "a@127.0.0.1", "c");
    CU_ASSERT_EQUAL(r.hs_result, SW_HS_DONE);
    RUN_UNTIL(&e, b.ups == 2 && b.downs == 1 && a.downs == 1, 2000);
    CU_ASSERT_EQUAL(b.downs, 1);
    CU_ASSERT_EQUAL(b.last_down, SW_DOWN_CLOSED);
    CU_ASSERT_EQUAL(b.ups, 2);
    CU_ASSERT(b.down_seq < b.up_seq);
    CU_ASSERT_EQUAL(a.downs, 1);
    CU_ASSERT_EQUAL(count_conns(b.n), 1);
    CU_ASSERT_EQUAL(sw_conn_peer_creation(sw_node_find(b.n, "a@127.0.0.1")), 5);
    raw_close(&r);
    free_node(&e, &a);
    free_node(&e, &b);
    env_close(&e);
}

/* A peer that does not read, against the hard limit (1 MiB here): one
 * frame larger than the limit into an empty queue is taken; the next
 * frame behind it is refused and the connection dropped (reported from the
 * loop, not from inside the send); small frames piling up are refused once
 * the queue would pass the limit. */
static void test_net_backlog_hard(void) {
    env_t e;
    env_init(&e);
    tnode_t b;
    const size_t hard = 1u << 20;
    mk_node_limits(&e, &b, "b", 0, 0, hard, SIZE_MAX);
    raw_t r;
    raw_deaf_peer(&e, &r, &b, "deaf@127.0.0.1");
    sw_conn_t *c = b.conn;
    char ctrl[4] = {0, 0, 0, 0};
    CU_ASSERT_EQUAL(sw_conn_queued(c), 0);
    const size_t L = 2 * hard;
    char *big = calloc(1, L);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    CU_ASSERT_EQUAL(sw_conn_send(c, ctrl, 4, big, L), 0);
    free(big);
    RUN_UNTIL(&e, b.downs, 200); /* flushes; nothing is expected to happen */
    CU_ASSERT_EQUAL(b.downs, 0);
    CU_ASSERT_PTR_EQUAL(sw_node_find(b.n, "deaf@127.0.0.1"), c);
    CU_ASSERT(sw_conn_queued(c) > hard); /* the kernel took only a little */
    CU_ASSERT_EQUAL(sw_conn_send(c, ctrl, 4, NULL, 0), UV_ENOBUFS);
    CU_ASSERT_EQUAL(sw_conn_send(c, ctrl, 4, NULL, 0), UV_ENOTCONN);
    CU_ASSERT_PTR_NULL(sw_node_find(b.n, "deaf@127.0.0.1"));
    CU_ASSERT_EQUAL(stats(&b).conns_backlog, 1);
    CU_ASSERT_EQUAL(b.downs, 0);
    RUN_UNTIL(&e, b.downs, 2000);
    CU_ASSERT_EQUAL(b.downs, 1);
    CU_ASSERT_EQUAL(b.last_down, SW_DOWN_BACKLOG);
    raw_close(&r);

    raw_deaf_peer(&e, &r, &b, "deaf2@127.0.0.1");
    c = b.conn;
    static char pad[10000];
    const size_t flen = 4 + 1 + sizeof ctrl + sizeof pad;
    size_t sent = 0;
    int rc = 0;
    for (int i = 0; i < 5000 && rc == 0; i++) {
        rc = sw_conn_send(c, ctrl, 4, pad, sizeof pad);
        if (rc == 0) sent += flen;
        if (rc == 0 && i % 20 == 19) uv_run(&e.loop, UV_RUN_NOWAIT); /* flush */
    }
    CU_ASSERT_EQUAL(rc, UV_ENOBUFS);
    /* Refused with at least hard - one frame queued; what the kernel took
     * on top is small. */
    CU_ASSERT(sent + flen > hard);
    CU_ASSERT(sent < hard + 512u * 1024u);
    RUN_UNTIL(&e, b.downs == 2, 2000);
    CU_ASSERT_EQUAL(b.downs, 2);
    CU_ASSERT_EQUAL(b.last_down, SW_DOWN_BACKLOG);
    CU_ASSERT_EQUAL(stats(&b).conns_backlog, 2);
    raw_close(&r);
    free_node(&e, &b);
    env_close(&e);
}

/* The soft limit (256 KiB here, timeout 400 ms): a peer that keeps ticking
 * but reads nothing while 1 MB waits is dropped after the timeout (as
 * backlog, not tick timeout); a peer that reads slowly (a few KB every
 * 10 ms), so that more than the soft limit stays queued for longer than the
 * timeout while bytes keep leaving, is not. */
static void test_net_backlog_soft(void) {
    env_t e;
    env_init(&e);
    tnode_t b;
    mk_node_limits(&e, &b, "b", 50, 400, SIZE_MAX, 256u * 1024u);
    raw_t r;
    raw_deaf_peer(&e, &r, &b, "deaf@127.0.0.1");
    static char pad[10000];
    char ctrl[4] = {0, 0, 0, 0};
    for (int i = 0; i < 100; i++) CU_ASSERT_EQUAL(sw_conn_send(b.conn, ctrl, 4, pad, sizeof pad), 0);
    uv_update_time(&e.loop);
    uint64_t t0 = uv_now(&e.loop);
    RUN_UNTIL(&e, (raw_keepalive(&e, &r), b.downs), 3000);
    uint64_t waited = uv_now(&e.loop) - t0;
    CU_ASSERT_EQUAL(b.downs, 1);
    CU_ASSERT_EQUAL(b.last_down, SW_DOWN_BACKLOG);
    CU_ASSERT(waited >= 390 && waited < 2000);
    CU_ASSERT_EQUAL(stats(&b).conns_backlog, 1);
    raw_close(&r);

    raw_deaf_peer(&e, &r, &b, "slow@127.0.0.1");
    for (int i = 0; i < 60; i++) CU_ASSERT_EQUAL(sw_conn_send(b.conn, ctrl, 4, pad, sizeof pad), 0);
    const size_t total = 60 * (4 + 1 + sizeof ctrl + sizeof pad);
    uv_update_time(&e.loop);
    t0 = uv_now(&e.loop);
    RUN_UNTIL(&e, (raw_slow_read(&e, &r), r.read_total >= total || b.downs > 1), 20000);
    waited = uv_now(&e.loop) - t0;
    CU_ASSERT_EQUAL(b.downs, 1);
    CU_ASSERT(r.read_total >= total); /* and maybe a tick of b after the data */
    CU_ASSERT(waited >= 800); /* the queue did outlast the timeout */
    CU_ASSERT_EQUAL(stats(&b).conns_backlog, 1);
    raw_close(&r);
    free_node(&e, &b);
    env_close(&e);
}

static void test_net_ticks(void) {
    env_t e;
    env_init(&e);
    tnode_t a, b;
    mk_node_cfg(&e, &a, "a", "c", 20, 200, 2000, e.epmd.port);
    mk_node_cfg(&e, &b, "b", "c", 20, 200, 2000, e.epmd.port);
    CU_ASSERT_EQUAL(sw_node_connect(a.n, "b@127.0.0.1"), 0);
    RUN_UNTIL(&e, a.ups && b.ups, 3000);
    CU_ASSERT_FATAL(a.ups && b.ups);
    /* Idle for 10 tick periods: ticks flow both ways, nobody times out. */
    uv_update_time(&e.loop);
    uint64_t t0 = uv_now(&e.loop);
    RUN_UNTIL(&e, uv_now(&e.loop) - t0 >= 400 || a.downs || b.downs, 1000);
    CU_ASSERT_EQUAL(a.downs + b.downs, 0);
    CU_ASSERT(stats(&a).ticks_out >= 5);
    CU_ASSERT(stats(&b).ticks_in >= 5);
    CU_ASSERT(stats(&b).ticks_out >= 5);

    /* A peer that goes silent is declared down after the timeout. */
    raw_t r;
    raw_handshake(&e, &r, &b, "raw@127.0.0.1", "c");
    CU_ASSERT_EQUAL_FATAL(r.hs_result, SW_HS_DONE);
    uv_update_time(&e.loop);
    t0 = uv_now(&e.loop);
    RUN_UNTIL(&e, (raw_count_ticks(&r), r.closed), 2000);
    uint64_t waited = uv_now(&e.loop) - t0;
    CU_ASSERT(r.closed);
    CU_ASSERT(r.ticks >= 3); /* b ticked while waiting */
    CU_ASSERT(waited >= 150 && waited < 1000);
    CU_ASSERT_EQUAL(b.downs, 1);
    CU_ASSERT_EQUAL(b.last_down, SW_DOWN_TICK);
    raw_close(&r);
    free_node(&e, &a);
    free_node(&e, &b);
    env_close(&e);
}

static void test_net_handshake_timeout(void) {
    env_t e;
    env_init(&e);
    tnode_t b;
    mk_node_cfg(&e, &b, "b", "c", 0, 0, 150, e.epmd.port);
    raw_t r;
    raw_connect(&r, sw_node_port(b.n));
    uv_update_time(&e.loop);
    uint64_t t0 = uv_now(&e.loop);
    RUN_UNTIL(&e, (raw_poll(&r), r.closed), 2000);
    CU_ASSERT(r.closed);
    CU_ASSERT(uv_now(&e.loop) - t0 >= 140);
    CU_ASSERT_EQUAL(stats(&b).handshake_failed, 1);
    raw_close(&r);
    free_node(&e, &b);
    env_close(&e);
}

static void test_net_close_flushes(void) {
    env_t e;
    env_init(&e);
    tnode_t a, b;
    mk_node(&e, &a, "a", "c");
    mk_node(&e, &b, "b", "c");
    CU_ASSERT_EQUAL(sw_node_connect(a.n, "b@127.0.0.1"), 0);
    RUN_UNTIL(&e, a.ups && b.ups, 3000);
    CU_ASSERT_FATAL(a.ups && b.ups);
    sw_conn_t *c = a.conn;
    for (uint32_t i = 0; i < 20000; i++) send_seq(c, i, 32);
    sw_conn_close(c);
    CU_ASSERT_EQUAL(sw_conn_send(c, "x", 1, NULL, 0), UV_ENOTCONN);
    CU_ASSERT_PTR_NULL(sw_node_find(a.n, "b@127.0.0.1"));
    CU_ASSERT_EQUAL(a.downs, 0); /* asynchronous */
    RUN_UNTIL(&e, a.downs && b.downs, 5000);
    CU_ASSERT_EQUAL(b.frames, 20000);
    CU_ASSERT_EQUAL(b.seq_bad, 0);
    CU_ASSERT_EQUAL(a.downs, 1);
    CU_ASSERT_EQUAL(a.last_down, SW_DOWN_LOCAL);
    CU_ASSERT_EQUAL(b.downs, 1);
    CU_ASSERT_EQUAL(b.last_down, SW_DOWN_CLOSED);
    /* And the peers can connect again. */
    CU_ASSERT_EQUAL(sw_node_connect(b.n, "a@127.0.0.1"), 0);
    RUN_UNTIL(&e, a.ups == 2 && b.ups == 2, 3000);
    CU_ASSERT_EQUAL(a.ups, 2);
    free_node(&e, &a);
    free_node(&e, &b);
    env_close(&e);
}

/* A connection closed by us while its peer is silent (a partition) goes
 * down by the tick rule, not after the whole flush deadline: until it is
 * gone, no new connection to that peer is dialled. */
static void test_net_close_silent_peer(void) {
    env_t e;
    env_init(&e);
    tnode_t b;
    mk_node_cfg(&e, &b, "b", "c", 20, 200, 3000, e.epmd.port);
    raw_t r;
    raw_handshake(&e, &r, &b, "raw@127.0.0.1", "c");
    CU_ASSERT_EQUAL_FATAL(r.hs_result, SW_HS_DONE);
    RUN_UNTIL(&e, b.conn != NULL, 1000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b.conn);
    sw_conn_close(b.conn);
    uv_update_time(&e.loop);
    uint64_t t0 = uv_now(&e.loop);
    RUN_UNTIL(&e, b.downs, 4000);
    uint64_t waited = uv_now(&e.loop) - t0;
    CU_ASSERT_EQUAL(b.downs, 1);
    CU_ASSERT_EQUAL(b.last_down, SW_DOWN_LOCAL);
    CU_ASSERT(waited < 1500); /* the tick timeout (200 ms), not the deadline (3000) */
    raw_close(&r);
    free_node(&e, &b);
    env_close(&e);
}

/* An attempt that hangs before its handshake (here: epmd never answers
 * the lookup) is not waited for once it is SW_DIAL_STALE_MS old: the next
 * sw_node_connect drops it silently and begins afresh. */
static void test_net_dial_stale(void) {
    env_t e;
    env_init(&e);
    tnode_t a, b;
    mk_node(&e, &a, "a", "c");
    mk_node(&e, &b, "b", "c");
    e.epmd.mute_lookups = 1;
    CU_ASSERT_EQUAL(sw_node_connect(a.n, "b@127.0.0.1"), 0);
    RUN_UNTIL(&e, e.epmd.lookups == 1, 1000);
    CU_ASSERT_EQUAL(e.epmd.lookups, 1);
    /* Young: the attempt stands. */
    CU_ASSERT_EQUAL(sw_node_connect(a.n, "b@127.0.0.1"), 1);
    CU_ASSERT_EQUAL(stats(&a).dials_restarted, 0);
    uv_update_time(&e.loop);
    uint64_t t0 = uv_now(&e.loop);
    RUN_UNTIL(&e, uv_now(&e.loop) - t0 >= SW_DIAL_STALE_MS + 50, SW_DIAL_STALE_MS + 1000);
    CU_ASSERT_EQUAL(a.ups + a.failed, 0);
    /* Stale: dropped without on_connect_failed, a new attempt connects. */
    e.epmd.mute_lookups = 0;
    CU_ASSERT_EQUAL(sw_node_connect(a.n, "b@127.0.0.1"), 0);
    CU_ASSERT_EQUAL(stats(&a).dials_restarted, 1);
    RUN_UNTIL(&e, a.ups && b.ups, 3000);
    CU_ASSERT_EQUAL(a.ups, 1);
    CU_ASSERT_EQUAL(b.ups, 1);
    CU_ASSERT_EQUAL(a.failed, 0);
    CU_ASSERT_EQUAL(count_conns(a.n), 1);
    free_node(&e, &a);
    free_node(&e, &b);
    env_close(&e);
}

static void test_net_big_frame(void) {
    env_t e;
    env_init(&e);
    tnode_t a, b;
    mk_node(&e, &a, "a", "c");
    mk_node(&e, &b, "b", "c");
    CU_ASSERT_EQUAL(sw_node_connect(a.n, "b@127.0.0.1"), 0);
    RUN_UNTIL(&e, a.ups && b.ups, 3000);
    CU_ASSERT_FATAL(a.ups && b.ups);
    const size_t L = 10u * 1024u * 1024u;
    char *big = malloc(L);
    rng_state = 42;
    for (size_t i = 0; i < L; i++) big[i] = (char)rnd();
    char ctrl[4] = {0, 0, 0, 0};
    CU_ASSERT_EQUAL(sw_conn_send(a.conn, ctrl, 4, big, L), 0);
    send_seq(a.conn, 1, 0);
    uint64_t want = 0;
    for (size_t i = 0; i < 4; i++) want = want * 31 + 0;
    for (size_t i = 0; i < L; i++) want = want * 31 + (unsigned char)big[i];
    free(big);
    RUN_UNTIL(&e, b.frames == 2, 10000);
    CU_ASSERT_EQUAL(b.frames, 2);
    CU_ASSERT_EQUAL(b.seq_bad, 0);
    CU_ASSERT_EQUAL(b.last_sum, want);
    free_node(&e, &a);
    free_node(&e, &b);
    env_close(&e);
}

/* Sends N frames in batches of `batch` per loop iteration (an idle
 * handle), as the registry would, and measures until the last arrives. */
typedef struct {
    uv_idle_t idle;
    tnode_t *from;
    uint32_t sent, total, batch;
} pump_t;

static void pump_cb(uv_idle_t *h) {
    pump_t *p = SW_CONTAINER_OF(h, pump_t, idle);
    for (uint32_t i = 0; i < p->batch && p->sent < p->total; i++) send_seq(p->from->conn, p->sent++, 36);
    if (p->sent == p->total) uv_idle_stop(h);
}

static void throughput(uint32_t total, uint32_t batch) {
    env_t e;
    env_init(&e);
    tnode_t a, b;
    mk_node(&e, &a, "a", "c");
    mk_node(&e, &b, "b", "c");
    CU_ASSERT_EQUAL(sw_node_connect(a.n, "b@127.0.0.1"), 0);
    RUN_UNTIL(&e, a.ups && b.ups, 3000);
    CU_ASSERT_FATAL(a.ups && b.ups);
    pump_t p = {.from = &a, .total = total, .batch = batch};
    uv_idle_init(&e.loop, &p.idle);
    uv_idle_start(&p.idle, pump_cb);
    uint64_t t0 = uv_hrtime();
    RUN_UNTIL(&e, b.frames == total, 60000);
    uint64_t ns = uv_hrtime() - t0;
    CU_ASSERT_EQUAL(b.frames, total);
    CU_ASSERT_EQUAL(b.seq_bad, 0);
    sw_node_stats_t sa = stats(&a);
    fprintf(stderr, "\n    throughput: %u frames (49 bytes on the wire), %u per loop iteration: "
                    "%.0f frames/s, %.1f MB/s ",
            total, batch, total / (ns / 1e9), sa.bytes_out / (ns / 1e9) / 1e6);
    uv_close((uv_handle_t *)&p.idle, NULL);
    free_node(&e, &a);
    free_node(&e, &b);
    env_close(&e);
}

static void test_net_throughput(void) {
    const char *env = getenv("SW_TEST_FRAMES");
    uint32_t n = env ? (uint32_t)atoi(env) : 200000;
    throughput(n, 1000);
    throughput(n / 10, 1);
}

static void test_net_free_busy(void) {
    env_t e;
    env_init(&e);
    tnode_t a, b;
    mk_node(&e, &a, "a", "c");
    mk_node(&e, &b, "b", "c");
    CU_ASSERT_EQUAL(sw_node_connect(a.n, "b@127.0.0.1"), 0);
    RUN_UNTIL(&e, a.ups && b.ups, 3000);
    for (uint32_t i = 0; i < 1000; i++) send_seq(a.conn, i, 200);
    /* Attempts in every setup stage, then free at once. */
    CU_ASSERT_EQUAL(sw_node_connect(a.n, "x@localhost"), 0);   /* resolving */
    CU_ASSERT_EQUAL(sw_node_connect(a.n, "y@127.0.0.1"), 0);   /* epmd lookup */
    raw_t r;
    raw_connect(&r, sw_node_port(a.n));                       /* handshake */
    sw_node_free(a.n, t_freed);
    sw_node_free(b.n, t_freed);
    RUN_UNTIL(&e, a.freed && b.freed, 5000);
    CU_ASSERT(a.freed && b.freed);
    CU_ASSERT_EQUAL(a.downs + b.downs + a.failed + b.failed, 0);
    raw_close(&r);
    env_close(&e);
}

/* The network tests provoke warnings on purpose (garbage, bad cookies...):
 * show only errors unless SWARM_LOG asks for more. */
static sw_log_level_t saved_level;
static int quiet_init(void) {
    saved_level = SW_LOG_ERROR;
    for (int l = SW_LOG_ERROR; l >= SW_LOG_DEBUG; l--)
        if (sw_log_enabled((sw_log_level_t)l)) saved_level = (sw_log_level_t)l;
    if (!getenv("SWARM_LOG")) sw_log_set_level(SW_LOG_ERROR);
    return 0;
}
static int quiet_clean(void) {
    sw_log_set_level(saved_level);
    return 0;
}

int test_conn_suite(void) {
    CU_pSuite s = CU_add_suite("conn_net", quiet_init, quiet_clean);
    if (!s) return -1;
    if (!CU_add_test(s, "connect, frames both ways, accessors", test_net_connect_frames) ||
        !CU_add_test(s, "simultaneous connect gives one connection", test_net_simultaneous) ||
        !CU_add_test(s, "wrong cookie refused, node keeps working", test_net_wrong_cookie) ||
        !CU_add_test(s, "unknown peer, bad names, name mismatch", test_net_connect_errors) ||
        !CU_add_test(s, "bad config, epmd down, name taken", test_net_bad_config_and_publish) ||
        !CU_add_test(s, "garbage and half handshakes", test_net_garbage) ||
        !CU_add_test(s, "bad frame, tick, half frame, oversized", test_net_raw_frames) ||
        !CU_add_test(s, "restarted peer replaces stale connection", test_net_replace_stale) ||
        !CU_add_test(s, "replacement only after the newcomer authenticated",
                     test_net_replace_needs_auth) ||
        !CU_add_test(s, "ticks and tick timeout", test_net_ticks) ||
        !CU_add_test(s, "write queue: hard limit", test_net_backlog_hard) ||
        !CU_add_test(s, "write queue: soft limit, slow reader kept", test_net_backlog_soft) ||
        !CU_add_test(s, "handshake timeout", test_net_handshake_timeout) ||
        !CU_add_test(s, "close flushes queued frames", test_net_close_flushes) ||
        !CU_add_test(s, "close of a silent peer ends by the tick rule", test_net_close_silent_peer) ||
        !CU_add_test(s, "a stale attempt is begun afresh", test_net_dial_stale) ||
        !CU_add_test(s, "10 MB frame", test_net_big_frame) ||
        !CU_add_test(s, "throughput", test_net_throughput) ||
        !CU_add_test(s, "free with connections and attempts in flight", test_net_free_busy))
        return -1;
    return 0;
}
