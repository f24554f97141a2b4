/* node.c - the node's identity and presence: configuration, the listening
 * socket, publication in epmd, accepting connections, setting up outgoing
 * ones (resolve the host, ask its epmd for the port, connect), and the table
 * of connections with its two rules. See node.h for the contract.
 *
 * What it is not: the per-connection machinery (handshake driving, frames,
 * ticks, writes, the flush of write queues) is conn.c, which reaches the
 * rules below only through the hooks of sw__conn_owner_t; the message
 * formats are handshake.c and epmd.c.
 *
 * The rules of the table, which give "at most one connection up per peer":
 *   1. An incoming handshake naming a peer that has a connection up is
 *      answered "alive". The initiator answers "true" only when it has no
 *      connection to us, i.e. ours is stale (the peer restarted). The old
 *      connection is kept until the newcomer is authenticated (its digest
 *      checked): only then does the old one go down, and the new one comes
 *      up right after. A newcomer that fails (wrong cookie, silence, a
 *      closed socket) leaves the old connection untouched, so a client
 *      without the cookie cannot cut a live link by claiming its name.
 *   2. Simultaneous connect: an incoming handshake from P while our own
 *      attempt to P is under way. The protocol's rule compares the names:
 *      if P's name is greater, P's attempt wins (we answer ok_simultaneous
 *      and our attempt waits in state AWAIT for P's to finish); otherwise we
 *      answer nok and P's attempt waits for ours. Both ends apply the same
 *      comparison, so exactly one of the two attempts survives. An AWAIT
 *      attempt reports the fate of the surviving connection (on_up came from
 *      that connection, or on_connect_failed), so every sw_node_connect()
 *      that returned 0 gets exactly one answer.
 *   3. Last guard: a handshake that completes while the peer already has a
 *      connection up (two incoming attempts from one peer raced) is closed.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "conn.h"
#include "log.h"

#define LISTEN_BACKLOG 128

typedef struct {
    uv_getaddrinfo_t req; /* req.data: the conn, or NULL once it gave up */
    sw_node_t *node;
} gai_t;

static int same_peer(const sw_conn_t *c, const char *peer, uint32_t h) {
    return c->peer_hash == h && strcmp(c->peer, peer) == 0;
}

static sw__hs_status_t rule_decide(sw_node_t *n, sw_conn_t *c);
static void rule_replace(sw_node_t *n, sw_conn_t *c);
static int rule_conn_up(sw_node_t *n, sw_conn_t *c);
static void rule_incoming_failed(sw_node_t *n, const char *peer, int err);
static void node_unref(sw_node_t *n);

/* What conn.c may ask of this file. */
static const sw__conn_owner_t owner = {rule_decide, rule_replace, rule_conn_up,
                                       rule_incoming_failed, node_unref};

/* ---- lifetime ------------------------------------------------------------ */

static void node_unref(sw_node_t *n) {
    if (--n->refs > 0 || !n->freeing) return;
    if (n->done) n->done(n, n->ud);
    OPENSSL_cleanse(n->cookie, sizeof n->cookie);
    free(n);
}

static void on_node_handle_closed(uv_handle_t *h) { node_unref(h->data); }
static void on_reg_closed(uv_handle_t *h) {
    node_unref(SW_CONTAINER_OF(h, sw_node_t, epmd.tcp));
}

sw_node_t *sw_node_new(uv_loop_t *loop, const sw_node_config_t *cfg, const sw_node_cbs_t *cbs,
                       void *ud) {
    if (!loop || !cfg || !cfg->alive || !cfg->host || !cfg->cookie) return NULL;
    size_t al = strlen(cfg->alive), hl = strlen(cfg->host), cl = strlen(cfg->cookie);
    if (al == 0 || al > 255 || strchr(cfg->alive, '@')) return NULL;
    if (hl == 0 || hl > 255 || al + 1 + hl > SW_MAXNODELEN) return NULL;
    if (cl >= sizeof ((sw_node_t *)0)->cookie) return NULL;
    if (cfg->bind_ip && strlen(cfg->bind_ip) >= sizeof ((sw_node_t *)0)->bind_ip) return NULL;

    sw_node_t *n = calloc(1, sizeof *n);
    if (!n) return NULL;

    /* libuv writes sockets with writev(), which raises SIGPIPE when the peer
     * has reset the connection; at its default disposition that kills the
     * process. A broken peer must only end its connection, so unless the
     * program chose a disposition itself, ignore the signal (the write then
     * fails with EPIPE and the connection goes down). */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        sa.sa_handler = SIG_IGN;
        sa.sa_flags = 0;
        sigemptyset(&sa.sa_mask);
        (void)sigaction(SIGPIPE, &sa, NULL);
    }

    n->owner = &owner;
    n->loop = loop;
    if (cbs) n->cbs = *cbs;
    n->ud = ud;
    memcpy(n->alive, cfg->alive, al + 1);
    memcpy(n->host, cfg->host, hl + 1);
    memcpy(n->cookie, cfg->cookie, cl + 1);
    memcpy(n->name, n->alive, al);
    n->name[al] = '@';
    memcpy(n->name + al + 1, n->host, hl + 1);
    n->tick_ms = cfg->tick_ms ? cfg->tick_ms : 15000;
    n->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 4 * n->tick_ms;
    n->hs_timeout_ms = cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms : 7000;
    n->backlog_hard = cfg->backlog_hard ? cfg->backlog_hard : SW_NODE_BACKLOG_HARD;
    n->backlog_soft = cfg->backlog_soft ? cfg->backlog_soft : SW_NODE_BACKLOG_SOFT;
    n->epmd_port = cfg->epmd_port;
    if (!n->epmd_port) {
        const char *e = getenv("ERL_EPMD_PORT");
        long p = e ? strtol(e, NULL, 10) : 0;
        n->epmd_port = (p > 0 && p < 65536) ? (uint16_t)p : 4369;
    }
    struct sockaddr_in probe;
    const char *bind = cfg->bind_ip;
    if (!bind) bind = (hl < sizeof n->bind_ip && uv_ip4_addr(n->host, 0, &probe) == 0) ? n->host : "0.0.0.0";
    memcpy(n->bind_ip, bind, strlen(bind) + 1); /* length checked above */
    n->flags = SW_DFLAGS_OURS | cfg->extra_flags;

    /* These three never fail on Unix (they only fill the structs); they
     * exist from the start so that sw_node_free() always has something to
     * close, and so always calls done from the loop. */
    uv_timer_init(loop, &n->timer);
    uv_prepare_init(loop, &n->prep);
    uv_check_init(loop, &n->check);
    n->timer.data = n->prep.data = n->check.data = n;
    n->refs = 3;
    return n;
}

/* ---- publication --------------------------------------------------------- */

static void report_started(sw_node_t *n, int err) {
    if (n->freeing || !n->cbs.on_started) return;
    n->cbs.on_started(n, err, n->ud);
}

static void publish_failed(sw_node_t *n, int err) {
    uv_timer_stop(&n->timer);
    sw__epmd_client_close(&n->epmd, on_reg_closed);
    SW_ERROR("publish_failed", "name=%s epmd_port=%u error=%s", n->name, (unsigned)n->epmd_port,
             uv_err_name(err));
    report_started(n, err);
}

static void on_publish_timeout(uv_timer_t *t) {
    sw_node_t *n = SW_CONTAINER_OF(t, sw_node_t, timer);
    if (!n->published) publish_failed(n, UV_ETIMEDOUT);
}

static void on_reg(sw__epmd_client_t *cl, int status, const uint8_t *buf, size_t len) {
    sw_node_t *n = SW_CONTAINER_OF(cl, sw_node_t, epmd);
    if (n->published) {
        /* Anything after the answer is unexpected; the end of the
         * connection means epmd forgot us (it died or was killed). The node
         * keeps its connections and creation; new peers cannot find it. */
        if (status < 0) {
            SW_WARN("epmd_lost", "name=%s error=%s", n->name, uv_err_name(status));
            sw__epmd_client_close(&n->epmd, on_reg_closed);
        }
        return;
    }
    if (status < 0) {
        publish_failed(n, status == UV_EOF ? UV_ECONNRESET : status);
        return;
    }
    int result;
    uint32_t creation;
    int k = sw__epmd_dec_alive2(buf, len, &result, &creation);
    if (k == 0) return;
    if (k < 0 || (result == 0 && creation == 0)) {
        publish_failed(n, UV_EPROTO);
        return;
    }
    if (result != 0) {
        SW_ERROR("name_taken", "name=%s epmd_result=%d", n->name, result);
        publish_failed(n, UV_EADDRINUSE);
        return;
    }
    uv_timer_stop(&n->timer);
    n->creation = creation;
    n->published = 1;
    SW_DEBUG("published", "name=%s port=%u creation=%u", n->name, (unsigned)n->port,
            (unsigned)creation);
    report_started(n, 0);
}

static void on_connection(uv_stream_t *server, int status);

int sw_node_start(sw_node_t *n) {
    if (n->started || n->freeing) return UV_EALREADY;
    struct sockaddr_in a, ea;
    int r = uv_ip4_addr(n->bind_ip, 0, &a);
    if (r < 0) return r;
    uv_ip4_addr("127.0.0.1", n->epmd_port, &ea);
    uint8_t req[SW_EPMD_REQ_MAX];
    int reqlen = sw__epmd_enc_alive2(req, 0, SW_EPMD_NODE_HIDDEN, n->alive);
    if (reqlen < 0) return UV_EINVAL;

    r = uv_tcp_init(n->loop, &n->listener);
    if (r < 0) return r;
    n->listener.data = n;
    n->listener_open = 1;
    n->refs++;
    n->started = 1;
    if ((r = uv_tcp_bind(&n->listener, (const struct sockaddr *)&a, 0)) < 0 ||
        (r = uv_listen((uv_stream_t *)&n->listener, LISTEN_BACKLOG, on_connection)) < 0)
        goto fail;
    struct sockaddr_in bound;
    int blen = sizeof bound;
    if ((r = uv_tcp_getsockname(&n->listener, (struct sockaddr *)&bound, &blen)) < 0) goto fail;
    n->port = ntohs(bound.sin_port);

    /* The port is known only now: rebuild the request with it. */
    reqlen = sw__epmd_enc_alive2(req, n->port, SW_EPMD_NODE_HIDDEN, n->alive);
    r = sw__epmd_client_start(&n->epmd, n->loop, (const struct sockaddr *)&ea, req,
                              (size_t)reqlen, on_reg);
    if (n->epmd.open) n->refs++;
    if (r < 0) goto fail;
    uv_timer_start(&n->timer, on_publish_timeout, n->hs_timeout_ms, 0);
    SW_DEBUG("listening", "name=%s ip=%s port=%u", n->name, n->bind_ip, (unsigned)n->port);
    return 0;

fail:
    sw__epmd_client_close(&n->epmd, on_reg_closed);
    n->listener_open = 0;
    uv_close((uv_handle_t *)&n->listener, on_node_handle_closed);
    n->port = 0;
    return r;
}

/* ---- accessors ----------------------------------------------------------- */

const char *sw_node_name(const sw_node_t *n) { return n->name; }
uint32_t sw_node_creation(const sw_node_t *n) { return n->creation; }
uint16_t sw_node_port(const sw_node_t *n) { return n->port; }
void sw_node_stats(const sw_node_t *n, sw_node_stats_t *out) { *out = n->stats; }

sw_conn_t *sw_node_find(sw_node_t *n, const char *peer) {
    uint32_t h = sw__name_hash(peer);
    for (sw_conn_t *c = n->conns; c; c = c->next)
        if (c->state == SW_CS_UP && !c->closing_local && !c->dropping && same_peer(c, peer, h))
            return c;
    return NULL;
}

/* ---- accepting ----------------------------------------------------------- */

static void on_connection(uv_stream_t *server, int status) {
    sw_node_t *n = server->data;
    if (status < 0) {
        SW_WARN("accept_error", "error=%s", uv_err_name(status));
        return;
    }
    if (n->freeing) return;
    sw_conn_t *c = sw__conn_new(n, 0, NULL);
    if (!c) {
        SW_ERROR("accept_error", "error=ENOMEM");
        return;
    }
    int r = uv_accept(server, (uv_stream_t *)&c->tcp);
    if (r == 0 && !n->published) r = UV_EAGAIN; /* no creation to send yet */
    if (r == 0) r = sw__conn_begin(c, 0);
    if (r < 0) sw__conn_fail(c, r, 0);
}

/* ---- the table's rules ----------------------------------------------------- */

static sw__hs_status_t rule_decide(sw_node_t *n, sw_conn_t *c) {
    snprintf(c->peer, sizeof c->peer, "%s", c->hs.peer_name);
    c->peer_hash = sw__name_hash(c->peer);
    if (strcmp(c->peer, n->name) == 0) return SW_HS_STATUS_NOT_ALLOWED;
    sw_conn_t *up = NULL, *pending = NULL;
    for (sw_conn_t *o = n->conns; o; o = o->next) {
        if (o == c || !same_peer(o, c->peer, c->peer_hash)) continue;
        if (o->state == SW_CS_UP) up = o;
        else if (o->outgoing && o->state < SW_CS_UP) pending = o;
    }
    if (up) {
        c->replaces = up->id;
        return SW_HS_STATUS_ALIVE;
    }
    if (pending) {
        if (strcmp(c->peer, n->name) > 0) {
            n->stats.simultaneous++;
            SW_DEBUG("simultaneous_connect", "peer=%s result=ok_simultaneous", c->peer);
            sw__conn_await(pending);
            return SW_HS_STATUS_OK_SIMULTANEOUS;
        }
        return SW_HS_STATUS_NOK;
    }
    return SW_HS_STATUS_OK;
}

static void rule_replace(sw_node_t *n, sw_conn_t *c) {
    for (sw_conn_t *o = n->conns; o; o = o->next) {
        if (o->id == c->replaces && o->state == SW_CS_UP) {
            SW_DEBUG("conn_replaced", "peer=%s reason=peer_restarted", c->peer);
            sw__conn_down(o, SW_DOWN_CLOSED);
            return;
        }
    }
}

static int rule_conn_up(sw_node_t *n, sw_conn_t *c) {
    for (sw_conn_t *o = n->conns; o; o = o->next)
        if (o != c && o->state == SW_CS_UP && same_peer(o, c->peer, c->peer_hash)) return 0;
    /* Attempts of ours to the same peer are answered by this connection's
     * on_up: they vanish without a callback. */
    sw_conn_t *o = n->conns;
    while (o) {
        sw_conn_t *next = o->next;
        if (o != c && o->outgoing && o->state != SW_CS_UP && same_peer(o, c->peer, c->peer_hash))
            sw__conn_close_handles(o);
        o = next;
    }
    return 1;
}

static void rule_incoming_failed(sw_node_t *n, const char *peer, int err) {
    uint32_t h = sw__name_hash(peer);
    for (sw_conn_t *o = n->conns; o; o = o->next) {
        if (o->state == SW_CS_AWAIT && same_peer(o, peer, h)) {
            sw__conn_fail(o, err, 1);
            return;
        }
    }
}

/* ---- connecting ---------------------------------------------------------- */

static void on_connected(uv_connect_t *req, int status) {
    sw_conn_t *c = SW_CONTAINER_OF(req, sw_conn_t, creq);
    if (c->state != SW_CS_CONNECT) return; /* cancelled by a close or AWAIT */
    if (status < 0) {
        sw__conn_fail(c, status, 1);
        return;
    }
    int r = sw__conn_begin(c, c->peer_version);
    if (r < 0) sw__conn_fail(c, r, 1);
}

static void on_port(sw__epmd_client_t *cl, int status, const uint8_t *buf, size_t len) {
    sw_conn_t *c = SW_CONTAINER_OF(cl, sw_conn_t, epmd);
    if (c->state != SW_CS_EPMD) return;
    sw__epmd_port_t p;
    int k = status == 0 ? sw__epmd_dec_port2(buf, len, &p) : -1;
    if (k == 0) return;
    sw__conn_close_lookup(c);
    if (k < 0) {
        sw__conn_fail(c, status < 0 && status != UV_EOF ? status : UV_EPROTO, 1);
        return;
    }
    if (p.result != 0) {
        sw__conn_fail(c, UV_ENOENT, 1);
        return;
    }
    c->addr.sin_port = htons(p.port);
    c->peer_version = p.high;
    c->state = SW_CS_CONNECT;
    int r = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&c->addr, on_connected);
    if (r < 0) sw__conn_fail(c, r, 1);
}

/* Asks the peer host's epmd for the port of the peer's alive name. */
static int start_lookup(sw_conn_t *c) {
    sw_node_t *n = c->node;
    char alive[256];
    const char *at = strchr(c->peer, '@');
    size_t al = (size_t)(at - c->peer);
    if (al >= sizeof alive) return UV_EINVAL;
    memcpy(alive, c->peer, al);
    alive[al] = '\0';
    uint8_t req[SW_EPMD_REQ_MAX];
    int len = sw__epmd_enc_port2(req, alive);
    if (len < 0) return UV_EINVAL;
    struct sockaddr_in ea = c->addr;
    ea.sin_port = htons(n->epmd_port);
    c->state = SW_CS_EPMD;
    return sw__epmd_client_start(&c->epmd, n->loop, (const struct sockaddr *)&ea, req,
                                 (size_t)len, on_port);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
    gai_t *g = SW_CONTAINER_OF(req, gai_t, req);
    sw_node_t *n = g->node;
    sw_conn_t *c = req->data;
    if (c) {
        c->gai = NULL;
        int r = status;
        if (r == 0) {
            r = UV_EAI_NONAME;
            for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                if (ai->ai_family == AF_INET && ai->ai_addrlen >= sizeof c->addr) {
                    memcpy(&c->addr, ai->ai_addr, sizeof c->addr);
                    r = start_lookup(c);
                    break;
                }
            }
        }
        if (r < 0) sw__conn_fail(c, r, 1);
    }
    uv_freeaddrinfo(res);
    free(g);
    node_unref(n);
}

int sw_node_connect(sw_node_t *n, const char *peer) {
    size_t pl = peer ? strlen(peer) : 0;
    if (!peer || !sw__hs_valid_name(peer, pl) || strcmp(peer, n->name) == 0) return UV_EINVAL;
    if (!n->published || n->freeing) return UV_EAGAIN;
    uint32_t h = sw__name_hash(peer);
    for (sw_conn_t *c = n->conns; c; c = c->next) {
        if (!same_peer(c, peer, h) || (c->state != SW_CS_UP && !c->outgoing)) continue;
        int stale = c->outgoing && c->state < SW_CS_HANDSHAKE &&
                    uv_now(n->loop) - c->born >= SW_DIAL_STALE_MS;
        if (stale) {
            /* See node.h: begin afresh. Closing takes it out of the table
             * at once. */
            n->stats.dials_restarted++;
            SW_INFO("dial_restarted", "peer=%s stage=%s", peer,
                    c->state == SW_CS_CONNECT ? "connect" : "lookup");
            sw__conn_close_handles(c);
            break;
        }
        return 1;
    }

    sw_conn_t *c = sw__conn_new(n, 1, peer);
    if (!c) return UV_ENOMEM;
    const char *host = strchr(c->peer, '@') + 1;
    int r;
    if (uv_ip4_addr(host, 0, &c->addr) == 0) {
        r = start_lookup(c);
    } else {
        gai_t *g = calloc(1, sizeof *g);
        if (!g) {
            r = UV_ENOMEM;
        } else {
            struct addrinfo hints;
            memset(&hints, 0, sizeof hints);
            hints.ai_family = AF_INET; /* inet_tcp distribution is IPv4 */
            hints.ai_socktype = SOCK_STREAM;
            g->node = n;
            g->req.data = c;
            r = uv_getaddrinfo(n->loop, &g->req, on_resolved, host, NULL, &hints);
            if (r < 0) {
                free(g);
            } else {
                c->gai = &g->req;
                n->refs++;
            }
        }
    }
    if (r < 0) {
        /* A call that fails never calls back: close quietly. */
        sw__conn_close_handles(c);
        return r;
    }
    SW_DEBUG("connecting", "peer=%s", peer);
    return 0;
}

/* ---- freeing ------------------------------------------------------------- */

void sw_node_free(sw_node_t *n, void (*done)(sw_node_t *n, void *ud)) {
    if (n->freeing) return;
    n->freeing = 1;
    n->done = done;
    while (n->conns) sw__conn_close_handles(n->conns);
    if (n->listener_open) {
        n->listener_open = 0;
        uv_close((uv_handle_t *)&n->listener, on_node_handle_closed);
    }
    sw__epmd_client_close(&n->epmd, on_reg_closed);
    uv_close((uv_handle_t *)&n->timer, on_node_handle_closed);
    uv_close((uv_handle_t *)&n->prep, on_node_handle_closed);
    uv_close((uv_handle_t *)&n->check, on_node_handle_closed);
}
