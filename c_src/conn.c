/* conn.c - one distribution connection once its socket exists: driving the
 * handshake, cutting frames, ticks, the write queue, closing.
 *
 * What it is not: it does not decide which connection to a peer wins
 * (node.c, asked through n->owner), does not set up outgoing sockets
 * (node.c) and does not decode terms (dist.c). It keeps the node's list of
 * connections and its flush list, which the rules of node.c read.
 *
 * Reads go straight into the frame reader's buffer (frame.c), so a frame is
 * never copied before on_frame sees it. Writes are queued in obuf; the node's
 * prepare/check handles flush obuf once per loop iteration, so the many small
 * frames the registry sends in one iteration leave in one write(2). The flush
 * first tries a plain non-blocking write (uv_try_write): usually the socket
 * takes everything, and that costs one system call, with no write request,
 * no epoll_ctl and no extra loop iteration for its callback. Only the part
 * the socket did not take becomes a uv_write; while that write is in flight,
 * new frames gather in obuf and go out when it completes, so bytes always
 * leave in the order they were queued.
 *
 * The write queue is bounded (node.h, backlog_hard/backlog_soft). A drop
 * decided inside sw_conn_send() only marks the connection: the send may run
 * inside a callback of the layer above (a tracker flushing its outboxes),
 * which must not see on_down re-enter it; the next flush of the node, from
 * the loop, reports it. Progress of a write in flight is seen through
 * libuv's count of its unwritten bytes, so a large write that a slow peer
 * drains steadily is not taken for a stall.
 */
#include "conn.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define OBUF_MIN (16u * 1024u)
#define OBUF_SHRINK_AT (4u * 1024u * 1024u)

static void on_timer(uv_timer_t *t);
static void conn_flush(sw_conn_t *c);

/* ---- the node's lists -------------------------------------------------- */

uint32_t sw__name_hash(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Removes c from the node's list and flush list (once, when c starts
 * closing). */
static void unlink_conn(sw_node_t *n, sw_conn_t *c) {
    if (c->prev) c->prev->next = c->next;
    else if (n->conns == c) n->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    if (c->dirty) {
        if (c->dprev) c->dprev->dnext = c->dnext;
        else n->dirty = c->dnext;
        if (c->dnext) c->dnext->dprev = c->dprev;
        c->dprev = c->dnext = NULL;
        c->dirty = 0;
    }
}

/* ---- memory ------------------------------------------------------------ */

static void conn_free(sw_conn_t *c) {
    sw_node_t *n = c->node;
    sw__reader_free(&c->rd);
    free(c->obuf.data);
    free(c->wbuf.data);
    free(c);
    n->owner->unref(n);
}

static void handle_closed(sw_conn_t *c) {
    if (--c->handles == 0) conn_free(c);
}
static void on_tcp_closed(uv_handle_t *h) { handle_closed(SW_CONTAINER_OF(h, sw_conn_t, tcp)); }
static void on_timer_closed(uv_handle_t *h) {
    handle_closed(SW_CONTAINER_OF(h, sw_conn_t, timer));
}
static void on_epmd_closed(uv_handle_t *h) {
    handle_closed(SW_CONTAINER_OF(h, sw_conn_t, epmd.tcp));
}

static int obuf_reserve(sw__obuf_t *b, size_t more) {
    if (b->cap - b->len >= more) return 0;
    size_t ncap = b->cap ? b->cap * 2 : OBUF_MIN;
    if (ncap < b->len + more) ncap = b->len + more;
    char *nd = realloc(b->data, ncap);
    if (!nd) return UV_ENOMEM;
    b->data = nd;
    b->cap = ncap;
    return 0;
}

sw_conn_t *sw__conn_new(sw_node_t *n, int outgoing, const char *peer) {
    sw_conn_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->node = n;
    c->id = ++n->last_id;
    c->outgoing = outgoing;
    c->state = outgoing ? SW_CS_RESOLVE : SW_CS_HANDSHAKE;
    if (peer) {
        snprintf(c->peer, sizeof c->peer, "%s", peer);
        c->peer_hash = sw__name_hash(c->peer);
    }
    sw__reader_init(&c->rd, 2, SW_HS_MSG_MAX);

    /* Linked and referenced first, so that a failure below goes through the
     * ordinary close path. */
    c->next = n->conns;
    if (n->conns) n->conns->prev = c;
    n->conns = c;
    n->refs++;

    if (uv_timer_init(n->loop, &c->timer) < 0) {
        sw__conn_close_handles(c);
        return NULL;
    }
    c->timer_open = 1;
    c->handles++;
    if (uv_tcp_init(n->loop, &c->tcp) < 0) {
        sw__conn_close_handles(c);
        return NULL;
    }
    c->tcp_open = 1;
    c->handles++;
    c->born = c->last_recv = c->last_send = uv_now(n->loop);
    /* One deadline for resolution, lookup and connect; the handshake gets
     * a fresh one when it starts (as OTP resets its setup timer). */
    if (outgoing) uv_timer_start(&c->timer, on_timer, n->hs_timeout_ms, 0);
    return c;
}

void sw__conn_close_handles(sw_conn_t *c) {
    if (c->state == SW_CS_CLOSING) return;
    sw_node_t *n = c->node;
    c->state = SW_CS_CLOSING;
    unlink_conn(n, c);
    if (c->gai) {
        /* The request owns itself: its callback sees data == NULL, frees it
         * and drops its node reference. */
        c->gai->data = NULL;
        uv_cancel((uv_req_t *)c->gai);
        c->gai = NULL;
    }
    sw__conn_close_lookup(c);
    if (c->tcp_open) {
        c->tcp_open = 0;
        uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
    }
    if (c->timer_open) {
        c->timer_open = 0;
        uv_close((uv_handle_t *)&c->timer, on_timer_closed);
    }
    if (c->handles == 0) {
        /* Only when no handle was ever initialised (a failure inside
         * sw__conn_new): nothing in libuv refers to c, it can go now. */
        conn_free(c);
    }
}

/* ---- endings ----------------------------------------------------------- */

static const char *dir(const sw_conn_t *c) { return c->outgoing ? "out" : "in"; }

void sw__conn_fail(sw_conn_t *c, int err, int report) {
    sw_node_t *n = c->node;
    if (c->state == SW_CS_CLOSING) return;
    if (c->state == SW_CS_UP) {
        sw__conn_down(c, SW_DOWN_ERROR);
        return;
    }
    n->stats.handshake_failed++;
    SW_WARN("connect_failed", "peer=%s dir=%s stage=%s error=%s", c->peer[0] ? c->peer : "?",
            dir(c), c->state != SW_CS_HANDSHAKE ? "setup"
                    : sw__hs_state_name(c->hs.state == SW_HS_ST_FAILED ? c->hs.failed_in
                                                                        : c->hs.state),
            uv_err_name(err));
    int was_outgoing = c->outgoing;
    char peer[SW_MAXNODELEN + 1];
    memcpy(peer, c->peer, sizeof peer);
    /* Close first: a callback that reconnects at once must not find this
     * attempt still in the table. */
    sw__conn_close_handles(c);
    if (!was_outgoing && peer[0]) n->owner->incoming_failed(n, peer, err);
    if (was_outgoing && report && !n->freeing && n->cbs.on_connect_failed)
        n->cbs.on_connect_failed(n, peer, err, n->ud);
}

void sw__conn_close_lookup(sw_conn_t *c) {
    /* The epmd handle is counted when its close starts; its close callback
     * is what gives the count back. */
    if (sw__epmd_client_close(&c->epmd, on_epmd_closed)) c->handles++;
}

void sw__conn_await(sw_conn_t *c) {
    sw_node_t *n = c->node;
    if (c->gai) {
        c->gai->data = NULL;
        uv_cancel((uv_req_t *)c->gai);
        c->gai = NULL;
    }
    sw__conn_close_lookup(c);
    if (c->tcp_open) {
        c->tcp_open = 0;
        uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
    }
    sw__reader_free(&c->rd);
    c->obuf.len = 0;
    c->state = SW_CS_AWAIT;
    SW_DEBUG("connect_await", "peer=%s", c->peer);
    uv_timer_start(&c->timer, on_timer, n->hs_timeout_ms, 0);
}

void sw__conn_down(sw_conn_t *c, sw_down_reason_t why) {
    sw_node_t *n = c->node;
    if (c->state != SW_CS_UP) {
        sw__conn_close_handles(c);
        return;
    }
    if (c->closing_local) why = SW_DOWN_LOCAL;
    if (why == SW_DOWN_PROTOCOL) n->stats.conns_dropped++;
    static const char *names[] = {"closed", "error", "tick_timeout", "protocol", "local",
                                  "backlog"};
    SW_DEBUG("conn_down", "peer=%s dir=%s reason=%s", c->peer, dir(c), names[why]);
    /* Closed before the callback: the conn leaves the table, so on_down may
     * reconnect to the same peer; its memory lives until the close
     * callbacks, after on_down returns. */
    sw__conn_close_handles(c);
    if (!n->freeing && n->cbs.on_down) n->cbs.on_down(n, c, why, n->ud);
}

/* A socket error or EOF. */
static void conn_lost(sw_conn_t *c, int err) {
    if (c->state == SW_CS_UP) {
        sw__conn_down(c, err == UV_EOF ? SW_DOWN_CLOSED : SW_DOWN_ERROR);
        return;
    }
    if (c->state == SW_CS_HANDSHAKE && c->outgoing && c->hs.state == SW_HS_ST_I_ACK) {
        /* The acceptor checks our digest and hangs up when it is wrong;
         * that is the only reason a BEAM closes at this point. */
        SW_WARN("auth_rejected", "peer=%s hint=cookie_mismatch", c->peer);
        err = UV_EACCES;
    } else if (err == UV_EOF) {
        err = UV_ECONNRESET;
    }
    sw__conn_fail(c, err, 1);
}

/* ---- writing ----------------------------------------------------------- */

static void on_shutdown(uv_shutdown_t *req, int status) {
    sw_conn_t *c = SW_CONTAINER_OF(req, sw_conn_t, sreq);
    if (c->state == SW_CS_UP) sw__conn_down(c, SW_DOWN_LOCAL);
}

/* Empties a buffer whose bytes have all left; frees its memory when a big
 * burst made it larger than OBUF_SHRINK_AT, so that one large frame does not
 * pin its size for the connection's life. */
static void obuf_done(sw__obuf_t *b) {
    b->len = 0;
    if (b->cap > OBUF_SHRINK_AT) {
        free(b->data);
        b->data = NULL;
        b->cap = 0;
    }
}

/* The uv_write of the bytes in wbuf (the tail of a flush the socket did not
 * take at once) completed: count them, then flush what gathered meanwhile. */
static void on_write(uv_write_t *req, int status) {
    sw_conn_t *c = SW_CONTAINER_OF(req, sw_conn_t, wreq);
    sw_node_t *n = c->node;
    c->writing = 0;
    if (status < 0) {
        c->wbuf.len = 0;
        if (c->dropping) conn_flush(c); /* reports the drop, not the error */
        else if (c->state == SW_CS_UP || c->state == SW_CS_HANDSHAKE) conn_lost(c, status);
        return;
    }
    n->stats.bytes_out += c->wbuf.len;
    c->stall_since = uv_now(n->loop);
    obuf_done(&c->wbuf);
    conn_flush(c);
}

/* Sends what obuf holds, unless a uv_write is still in flight (then its
 * callback calls us again, so bytes never overtake each other). One
 * uv_try_write first: what the socket takes is done (counted in bytes_out,
 * obuf emptied); the rest, or everything when the socket is full
 * (UV_EAGAIN) or reports an error, is handed to uv_write from where the
 * try stopped, and obuf and wbuf swap so new frames gather in the other
 * buffer. An error of the try is not acted on here: uv_write meets it again
 * and reports it through on_write, exactly as without the try (only
 * uv_write refusing the request at once closes the connection here).
 * wbuf.len is always the number of bytes in flight, so sw_conn_queued()
 * stays exact. Then, for a local close whose bytes have all left, requests
 * the shutdown (FIN). */
static void conn_flush(sw_conn_t *c) {
    if (c->dropping) {
        if (c->state == SW_CS_UP) sw__conn_down(c, SW_DOWN_BACKLOG);
        return;
    }
    if (!c->tcp_open || (c->state != SW_CS_UP && c->state != SW_CS_HANDSHAKE)) return;
    if (!c->writing && c->obuf.len > 0) {
        uv_buf_t b;
        b.base = c->obuf.data;
        b.len = c->obuf.len;
        size_t done = 0;
        int w = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (w > 0) {
            done = (size_t)w;
            c->node->stats.bytes_out += done;
            c->stall_since = uv_now(c->node->loop);
        }
        if (done == c->obuf.len) {
            obuf_done(&c->obuf);
        } else {
            sw__obuf_t t = c->wbuf;
            c->wbuf = c->obuf;
            c->obuf = t;
            c->wbuf.len -= done;
            b.base = c->wbuf.data + done;
            b.len = c->wbuf.len;
            int r = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
            if (r < 0) {
                c->wbuf.len = 0;
                conn_lost(c, r);
                return;
            }
            c->writing = 1;
            c->wq_left = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
        }
    }
    if (c->closing_local && !c->shutting && !c->writing && c->obuf.len == 0 &&
        c->state == SW_CS_UP) {
        /* Everything is in the kernel: send FIN behind it, and report the
         * close when libuv confirms the shutdown. */
        c->shutting = 1;
        if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) < 0)
            sw__conn_down(c, SW_DOWN_LOCAL);
    }
}

/* Hands queued bytes of every dirty connection to libuv and completes
 * pending local closes; stops the node's prepare and check handles once
 * nothing is left to flush. */
static void flush_all(sw_node_t *n) {
    /* A callback run by a flush may mark more connections dirty; they are
     * pushed at the head and taken in the same pass. */
    while (n->dirty) {
        sw_conn_t *c = n->dirty;
        n->dirty = c->dnext;
        if (n->dirty) n->dirty->dprev = NULL;
        c->dnext = c->dprev = NULL;
        c->dirty = 0;
        conn_flush(c);
    }
    if (!n->dirty && n->flushing_on) {
        uv_prepare_stop(&n->prep);
        uv_check_stop(&n->check);
        n->flushing_on = 0;
    }
}
static void on_prep(uv_prepare_t *p) { flush_all(SW_CONTAINER_OF(p, sw_node_t, prep)); }
static void on_check(uv_check_t *c) { flush_all(SW_CONTAINER_OF(c, sw_node_t, check)); }

/* Marks c for flushing in this loop iteration. */
static void mark_dirty(sw_node_t *n, sw_conn_t *c) {
    if (c->dirty) return;
    c->dirty = 1;
    c->dprev = NULL;
    c->dnext = n->dirty;
    if (n->dirty) n->dirty->dprev = c;
    n->dirty = c;
    if (!n->flushing_on) {
        uv_prepare_start(&n->prep, on_prep);
        uv_check_start(&n->check, on_check);
        n->flushing_on = 1;
    }
}

static int enqueue(sw_conn_t *c, const void *p, size_t len) {
    if (obuf_reserve(&c->obuf, len)) return UV_ENOMEM;
    if (sw_conn_queued(c) == 0) c->stall_since = uv_now(c->node->loop);
    memcpy(c->obuf.data + c->obuf.len, p, len);
    c->obuf.len += len;
    mark_dirty(c->node, c);
    return 0;
}

/* Moves what the handshake produced to the write queue. */
static int hs_drain(sw_conn_t *c) {
    int r = 0;
    if (c->hs.outlen) r = enqueue(c, c->hs.out, c->hs.outlen);
    c->hs.outlen = 0;
    return r;
}

/* The peer does not read: refuse further frames, discard what is queued
 * (the bytes in flight stay with libuv until the close cancels them), count
 * and log once. The connection goes down at the next flush (or at once,
 * by the caller, from a timer). */
static void backlog_drop(sw_conn_t *c, const char *limit, size_t queued, size_t bound) {
    sw_node_t *n = c->node;
    c->dropping = 1;
    n->stats.conns_backlog++;
    SW_WARN("backlog_exceeded", "peer=%s limit=%s queued=%zu bound=%zu stalled_ms=%llu "
            "action=dropped", c->peer, limit, queued, bound,
            (unsigned long long)(uv_now(n->loop) - c->stall_since));
    free(c->obuf.data);
    c->obuf.data = NULL;
    c->obuf.len = c->obuf.cap = 0;
    mark_dirty(n, c);
}

int sw_conn_send(sw_conn_t *c, const char *ctrl, size_t clen, const char *msg, size_t mlen) {
    sw_node_t *n = c->node;
    if (c->state != SW_CS_UP || c->closing_local || c->dropping || n->freeing) return UV_ENOTCONN;
    if (!ctrl || clen == 0) return UV_EINVAL;
    if (!msg) mlen = 0;
    size_t flen = 1 + clen + mlen;
    if (flen < clen || flen > UINT32_MAX) return UV_E2BIG;
    size_t queued = sw_conn_queued(c);
    if (queued > 0 && (queued > n->backlog_hard || 4 + flen > n->backlog_hard - queued)) {
        backlog_drop(c, "hard", queued + 4 + flen, n->backlog_hard);
        return UV_ENOBUFS;
    }
    if (obuf_reserve(&c->obuf, 4 + flen)) return UV_ENOMEM;
    if (queued == 0) c->stall_since = uv_now(n->loop);
    unsigned char *p = (unsigned char *)c->obuf.data + c->obuf.len;
    p[0] = (unsigned char)(flen >> 24);
    p[1] = (unsigned char)(flen >> 16);
    p[2] = (unsigned char)(flen >> 8);
    p[3] = (unsigned char)flen;
    p[4] = 112;
    memcpy(p + 5, ctrl, clen);
    if (mlen) memcpy(p + 5 + clen, msg, mlen);
    c->obuf.len += 4 + flen;
    n->stats.frames_out++;
    c->last_send = uv_now(n->loop);
    mark_dirty(n, c);
    return 0;
}

size_t sw_conn_queued(const sw_conn_t *c) { return c->obuf.len + c->wbuf.len; }

/* Arms the timer of a closing connection: at its flush deadline, or
 * sooner when the peer has been silent for the tick timeout (the rule that
 * drops a connection that is not closing). Returns 0, or 1 when either
 * has passed already. */
static int close_arm(sw_conn_t *c) {
    sw_node_t *n = c->node;
    uint64_t now = uv_now(n->loop);
    uint64_t silent_until = c->last_recv + n->timeout_ms;
    uint64_t at = c->close_deadline < silent_until ? c->close_deadline : silent_until;
    if (at <= now) return 1;
    uv_timer_start(&c->timer, on_timer, at - now, 0);
    return 0;
}

void sw_conn_close(sw_conn_t *c) {
    if (c->state != SW_CS_UP || c->closing_local || c->dropping) return;
    c->closing_local = 1;
    /* Bound the flush: a peer that does not read must not keep us waiting,
     * and one that went silent (a partition) must not keep the connection
     * in the table longer than the tick rule would have: while it is
     * there, no new connection to that peer is dialled. */
    c->close_deadline = uv_now(c->node->loop) + c->node->hs_timeout_ms;
    /* Silent too long already: down from the loop, not here (the caller
     * may be a callback of the layer above, which on_down must not
     * re-enter). */
    if (close_arm(c)) uv_timer_start(&c->timer, on_timer, 1, 0);
    mark_dirty(c->node, c);
}

/* ---- timers ------------------------------------------------------------ */

static void arm_tick(sw_conn_t *c) {
    sw_node_t *n = c->node;
    uint64_t now = uv_now(n->loop);
    uint64_t t1 = c->last_send + n->tick_ms, t2 = c->last_recv + n->timeout_ms;
    uint64_t at = t1 < t2 ? t1 : t2;
    uv_timer_start(&c->timer, on_timer, at > now ? at - now : 1, 0);
}

static void tick(sw_conn_t *c) {
    sw_node_t *n = c->node;
    uint64_t now = uv_now(n->loop);
    if (c->dropping) {
        sw__conn_down(c, SW_DOWN_BACKLOG);
        return;
    }
    if (now - c->last_recv >= n->timeout_ms) {
        SW_WARN("tick_timeout", "peer=%s silent_ms=%llu", c->peer,
                (unsigned long long)(now - c->last_recv));
        sw__conn_down(c, SW_DOWN_TICK);
        return;
    }
    if (c->writing) {
        /* libuv writes a request in pieces as the socket takes them: fewer
         * unwritten bytes than at the last look is progress. */
        size_t left = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
        if (left < c->wq_left) c->stall_since = now;
        c->wq_left = left;
    }
    size_t queued = sw_conn_queued(c);
    if (queued > n->backlog_soft && now - c->stall_since >= n->timeout_ms) {
        backlog_drop(c, "soft", queued, n->backlog_soft);
        sw__conn_down(c, SW_DOWN_BACKLOG);
        return;
    }
    if (now - c->last_send >= n->tick_ms) {
        /* Bytes still queued will reach the peer anyway; a tick then adds
         * nothing (as OTP does: no tick while a write is pending). */
        if (c->obuf.len == 0 && !c->writing) {
            static const char zero[4] = {0, 0, 0, 0};
            if (enqueue(c, zero, 4) == 0) n->stats.ticks_out++;
        }
        c->last_send = now;
    }
    arm_tick(c);
}

static void on_timer(uv_timer_t *t) {
    sw_conn_t *c = SW_CONTAINER_OF(t, sw_conn_t, timer);
    switch (c->state) {
    case SW_CS_UP:
        if (c->closing_local) {
            if (close_arm(c) == 0) return; /* the peer spoke meanwhile */
            SW_WARN("close_flush_timeout", "peer=%s queued=%zu", c->peer, sw_conn_queued(c));
            sw__conn_down(c, SW_DOWN_LOCAL);
        } else {
            tick(c);
        }
        return;
    case SW_CS_CLOSING:
        return;
    default:
        sw__conn_fail(c, UV_ETIMEDOUT, 1);
        return;
    }
}

/* ---- reading ----------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    sw_conn_t *c = SW_CONTAINER_OF(h, sw_conn_t, tcp);
    char *p;
    size_t len;
    if (sw__reader_space(&c->rd, &p, &len)) {
        buf->base = NULL;
        buf->len = 0; /* libuv then reports UV_ENOBUFS */
        return;
    }
    buf->base = p;
    buf->len = len;
}

static void frames(sw_conn_t *c) {
    sw_node_t *n = c->node;
    /* Each callback may close this connection or free the node; the loop
     * re-checks before every frame. The buffer stays valid until the next
     * read, which cannot happen during this loop. */
    while (c->state == SW_CS_UP && !c->closing_local && !c->dropping && !n->freeing) {
        const char *body;
        size_t len;
        switch (sw__reader_next(&c->rd, &body, &len)) {
        case SW_FRAME_NONE:
            return;
        case SW_FRAME_TICK:
            n->stats.ticks_in++;
            break;
        case SW_FRAME_MSG:
            n->stats.frames_in++;
            if (n->cbs.on_frame) n->cbs.on_frame(n, c, body, len, n->ud);
            break;
        case SW_FRAME_BAD: {
            /* Dropped: the length is trusted, so the stream stays in step.
             * The log's per-event limit keeps a broken peer from flooding
             * it. */
            uint64_t k = ++n->stats.bad_frames;
            SW_WARN("bad_frame", "peer=%s first_byte=%u len=%zu action=dropped total=%llu",
                    c->peer, (unsigned)(unsigned char)body[0], len, (unsigned long long)k);
            break;
        }
        case SW_FRAME_TOOBIG:
            SW_WARN("frame_too_big", "peer=%s len=%zu max=%u", c->peer, len,
                    (unsigned)SW_NODE_MAX_FRAME);
            sw__conn_down(c, SW_DOWN_PROTOCOL);
            return;
        }
    }
}

static int hs_errno(sw__hs_err_t e) {
    switch (e) {
    case SW_HS_ERR_AUTH: return UV_EACCES;
    case SW_HS_ERR_FLAGS: return UV_EPROTONOSUPPORT;
    case SW_HS_ERR_NAME: return UV_EINVAL;
    case SW_HS_ERR_NOT_ALLOWED: return UV_EPERM;
    case SW_HS_ERR_NOK: return UV_EALREADY;
    default: return UV_EPROTO;
    }
}

static void hs_failed(sw_conn_t *c) {
    sw_node_t *n = c->node;
    sw__hs_err_t e = c->hs.err;
    /* A last status for the peer ("nok", "not_allowed") goes out with one
     * best-effort non-blocking write: the connection closes right after. */
    if (c->hs.outlen || c->obuf.len) {
        uv_buf_t b[2];
        b[0].base = c->obuf.data;
        b[0].len = c->obuf.len;
        b[1].base = (char *)c->hs.out;
        b[1].len = c->hs.outlen;
        if (!c->writing) (void)uv_try_write((uv_stream_t *)&c->tcp, b[0].len ? b : b + 1,
                                            b[0].len ? 2 : 1);
        c->hs.outlen = 0;
        c->obuf.len = 0;
    }
    if (e == SW_HS_ERR_NOK) {
        /* The simultaneous-connect rule, not an error: either we refused
         * the peer's attempt (ours goes on) or the peer refused ours (its
         * own attempt will reach us). */
        n->stats.simultaneous++;
        SW_DEBUG("simultaneous_connect", "peer=%s dir=%s result=nok", c->peer, dir(c));
        if (c->outgoing) sw__conn_await(c);
        else sw__conn_close_handles(c);
        return;
    }
    if (e == SW_HS_ERR_AUTH) {
        n->stats.auth_failed++;
        SW_WARN("auth_failed", "peer=%s dir=%s", c->peer[0] ? c->peer : c->hs.peer_name, dir(c));
    }
    SW_DEBUG("handshake_error", "peer=%s stage=%s error=%s", c->peer,
             sw__hs_state_name(c->hs.failed_in), sw__hs_strerror(e));
    sw__conn_fail(c, hs_errno(e), 1);
}

static void went_up(sw_conn_t *c) {
    sw_node_t *n = c->node;
    if (c->replaces && c->hs.stale_confirmed) {
        /* The peer restarted and has now proved the cookie: its stale
         * connection goes down first, so the layer above sees on_down of
         * the old incarnation before on_up of the new one. on_down may
         * have freed the node, which closed c too. */
        n->owner->replace(n, c);
        if (c->state != SW_CS_HANDSHAKE || n->freeing) return;
    }
    c->peer_flags = c->hs.peer_flags;
    c->peer_creation = c->hs.peer_creation;
    sw__reader_set_mode(&c->rd, 4, SW_NODE_MAX_FRAME);
    if (!n->owner->conn_up(n, c)) {
        /* Another connection to this peer came up first (two incoming
         * handshakes from one peer raced); keep that one. */
        SW_DEBUG("conn_duplicate", "peer=%s dir=%s action=closed", c->peer, dir(c));
        sw__conn_close_handles(c);
        return;
    }
    c->state = SW_CS_UP;
    n->stats.handshake_ok++;
    c->last_recv = c->last_send = uv_now(n->loop);
    arm_tick(c);
    SW_DEBUG("conn_up", "peer=%s dir=%s creation=%u flags=0x%llx", c->peer, dir(c),
            (unsigned)c->peer_creation, (unsigned long long)c->peer_flags);
    if (!n->freeing && n->cbs.on_up) n->cbs.on_up(n, c, n->ud);
}

static void handshake(sw_conn_t *c) {
    sw_node_t *n = c->node;
    while (c->state == SW_CS_HANDSHAKE && !n->freeing) {
        const char *body;
        size_t len;
        sw__frame_kind_t k = sw__reader_next(&c->rd, &body, &len);
        if (k == SW_FRAME_NONE) return;
        if (k != SW_FRAME_MSG) {
            SW_WARN("handshake_garbage", "peer=%s dir=%s len=%zu", c->peer[0] ? c->peer : "?",
                    dir(c), len);
            c->hs.err = SW_HS_ERR_PROTO;
            c->hs.failed_in = c->hs.state;
            hs_failed(c);
            return;
        }
        sw__hs_result_t r = sw__hs_input(&c->hs, (const uint8_t *)body, len);
        if (r == SW_HS_FAILED) {
            hs_failed(c);
            return;
        }
        if (hs_drain(c)) {
            sw__conn_fail(c, UV_ENOMEM, 1);
            return;
        }
        if (r == SW_HS_DONE) went_up(c);
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    sw_conn_t *c = SW_CONTAINER_OF(s, sw_conn_t, tcp);
    sw_node_t *n = c->node;
    if (c->state != SW_CS_UP && c->state != SW_CS_HANDSHAKE) return;
    if (c->dropping) return; /* goes down at the next flush */
    if (nread < 0) {
        if (c->state == SW_CS_UP && c->closing_local) {
            /* The peer answered our FIN, or left: the flush is over. */
            if (!c->writing && c->obuf.len == 0) sw__conn_down(c, SW_DOWN_LOCAL);
            else uv_read_stop(s);
            return;
        }
        conn_lost(c, (int)nread);
        return;
    }
    if (nread == 0) return;
    n->stats.bytes_in += (uint64_t)nread;
    /* Closing: what the peer still sends is read (so that our close is a
     * FIN, not a reset) but not committed, hence dropped; it still shows
     * the peer alive (the close's tick bound, close_arm). */
    if (c->closing_local) {
        c->last_recv = uv_now(n->loop);
        return;
    }
    sw__reader_commit(&c->rd, (size_t)nread);
    c->last_recv = uv_now(n->loop);
    if (c->state == SW_CS_HANDSHAKE) handshake(c);
    if (c->state == SW_CS_UP) frames(c);
}

/* ---- start ------------------------------------------------------------- */

static sw__hs_status_t hs_decide(sw__hs_t *hs, void *ud) {
    sw_conn_t *c = ud;
    return c->node->owner->decide(c->node, c);
}

int sw__conn_begin(sw_conn_t *c, int peer_version) {
    sw_node_t *n = c->node;
    uint32_t challenge;
    if (RAND_bytes((unsigned char *)&challenge, sizeof challenge) != 1) return UV_EIO;
    c->state = SW_CS_HANDSHAKE;
    (void)uv_tcp_nodelay(&c->tcp, 1); /* we coalesce ourselves */
    sw__hs_init(&c->hs, c->outgoing, n->name, n->cookie, n->flags, n->creation, challenge,
                hs_decide, c);
    if (c->outgoing && sw__hs_start(&c->hs, c->peer, peer_version)) return UV_EINVAL;
    int r = hs_drain(c);
    if (r) return r;
    c->last_recv = uv_now(n->loop);
    uv_timer_start(&c->timer, on_timer, n->hs_timeout_ms, 0);
    return uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* ---- accessors --------------------------------------------------------- */

const char *sw_conn_peer(const sw_conn_t *c) { return c->peer; }
uint64_t sw_conn_flags(const sw_conn_t *c) { return c->peer_flags; }
uint32_t sw_conn_peer_creation(const sw_conn_t *c) { return c->peer_creation; }
void sw_conn_set_data(sw_conn_t *c, void *data) { c->data = data; }
void *sw_conn_get_data(const sw_conn_t *c) { return c->data; }
