/* node.h - the C node's presence in an Erlang cluster: identity, listening
 * socket, epmd registration, the distribution handshake (both directions) and
 * the set of live connections.
 *
 * What it is: the network layer. It turns sockets into authenticated
 * distribution connections and delivers each received frame, whole, to a
 * callback. It answers ticks and sends its own. Everything runs on one libuv
 * loop; nothing here blocks (epmd publication at start included: it is
 * asynchronous and reported through on_started).
 *
 * What it is not: it does not decode Erlang terms beyond the frame header and
 * it keeps no registry state. dist.c decodes control messages; tracker.c holds
 * the registry.
 *
 * Handshake: written here (not ei's blocking ei_accept/ei_connect, which use
 * select() and break on fds >= 1024). Protocol version 6 (OTP 23+ "N"
 * messages), with the version-5 "n" form accepted from peers that send it
 * (and sent to peers whose epmd entry says version 5).
 * Flags advertised (hidden node, no atom cache, no fragments; monitors only by extra_flags):
 * EXTENDED_REFERENCES | EXTENDED_PIDS_PORTS | FUN_TAGS | NEW_FUN_TAGS |
 * NEW_FLOATS | BIT_BINARIES | EXPORT_PTR_TAG | MAP_TAG | UTF8_ATOMS |
 * BIG_CREATION | HANDSHAKE_23, plus MANDATORY_25_DIGEST (OTP 25's shorthand
 * for that same set, which OTP 27+ requires of its peers), plus the config's
 * extra_flags. A peer lacking any
 * mandatory OTP 25 flag (and not sending the shorthand) is refused. The
 * cookie digest is MD5(cookie ++ decimal(challenge)); a wrong digest closes
 * the connection (logged, counted), never crashes.
 *
 * After the handshake a frame is <<Len:32/big, Body:Len>>; Len == 0 is a tick.
 * Body starts with 112 ('p', pass-through), then the control term and the
 * optional message term, each with its 131 version byte. Frames up to
 * SW_NODE_MAX_FRAME are accepted; larger ones close the connection.
 */
#ifndef SW_NODE_H
#define SW_NODE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define SW_NODE_MAX_FRAME (256u * 1024u * 1024u)
#define SW_MAXNODELEN 256 /* "alive@host", bytes, without NUL */

typedef struct sw_node_s sw_node_t;
typedef struct sw_conn_s sw_conn_t;

/* Why a connection went down (argument of on_down). */
typedef enum {
    SW_DOWN_CLOSED = 0,  /* peer closed the socket (EOF) */
    SW_DOWN_ERROR,       /* socket error */
    SW_DOWN_TICK,        /* nothing received for the tick timeout */
    SW_DOWN_PROTOCOL,    /* malformed frame header or oversized frame */
    SW_DOWN_LOCAL,       /* sw_conn_close() was called */
    SW_DOWN_BACKLOG,     /* the peer did not read: write queue over a limit
                            (see sw_node_config_t backlog_hard/soft) */
} sw_down_reason_t;

/* Counters kept by the node; read them with sw_node_stats(). */
typedef struct {
    uint64_t frames_in, frames_out, ticks_in, ticks_out;
    uint64_t bytes_in, bytes_out;
    uint64_t handshake_ok, handshake_failed, auth_failed;
    uint64_t bad_frames;     /* frames whose first byte is not 112, etc. */
    uint64_t conns_dropped;  /* connections closed for protocol errors */
    /* Simultaneous connects resolved by the name rule (statuses nok /
     * ok_simultaneous sent or nok received). Not counted as failures. */
    uint64_t simultaneous;
    /* Connections dropped because their peer did not read (write queue
     * over backlog_hard, or over backlog_soft without progress). */
    uint64_t conns_backlog;
    /* Stale outgoing attempts dropped and begun afresh by sw_node_connect. */
    uint64_t dials_restarted;
} sw_node_stats_t;

typedef struct {
    /* The node started listening and is published in epmd (err == 0), or
     * could not (err < 0: a libuv error code or SW_E*); called once. */
    void (*on_started)(sw_node_t *n, int err, void *ud);
    /* A connection finished its handshake (either direction). The peer's
     * name is sw_conn_peer(c). If a live connection to the same peer already
     * exists, the new one is refused, or, when the peer confirms that it
     * restarted and then proves the cookie, replaces it (on_down of the old
     * one first), so at most one connection per peer name is ever up. */
    void (*on_up)(sw_node_t *n, sw_conn_t *c, void *ud);
    /* One non-tick frame. buf points at the body after the 112 byte (so at
     * the control term's 131), len its length. Borrowed: valid only during
     * the call. */
    void (*on_frame)(sw_node_t *n, sw_conn_t *c, const char *buf, size_t len, void *ud);
    /* A connection that had been reported up went down. The conn pointer is
     * invalid after this returns. SW_DOWN_CLOSED is also reported when the
     * peer restarted and its new incarnation replaced this (stale)
     * connection: once the newcomer has proved the cookie, the old one goes
     * down, then the new one comes up. */
    void (*on_down)(sw_node_t *n, sw_conn_t *c, sw_down_reason_t why, void *ud);
    /* An outgoing sw_node_connect() attempt failed before on_up (epmd has no
     * such node, connection refused, handshake refused...). name borrowed.
     * err: UV_ENOENT no such name in epmd; UV_ETIMEDOUT setup
     * or handshake deadline; UV_EACCES bad cookie (our check, or the peer
     * closed right after our challenge_reply); UV_EPERM status not_allowed;
     * UV_EPROTONOSUPPORT peer lacks mandatory flags; UV_EPROTO malformed
     * handshake or epmd answer; UV_EINVAL the peer answered with another
     * name; resolver (UV_EAI_*) and socket errors as libuv reports them. A
     * simultaneous connect lost to the peer's own attempt is not a failure:
     * the result is the on_up (or on_connect_failed) of that incoming
     * connection. */
    void (*on_connect_failed)(sw_node_t *n, const char *name, int err, void *ud);
} sw_node_cbs_t;

typedef struct {
    const char *alive;   /* e.g. "swarm_a"; copied */
    const char *host;    /* e.g. "127.0.0.1" or "myhost"; copied */
    const char *cookie;  /* copied; never logged */
    const char *bind_ip; /* NULL: host if it is a literal IPv4 address, else 0.0.0.0 */
    unsigned tick_ms;    /* interval of our ticks; 0: 15000 (net_ticktime 60) */
    unsigned timeout_ms; /* silence before a peer is declared down; 0: 4 * tick_ms */
    unsigned handshake_timeout_ms; /* 0: 7000 */
    uint16_t epmd_port;  /* 0: 4369, or ERL_EPMD_PORT from the environment */
    /* Bounds of a connection's write queue (bytes queued and not yet taken
     * by the socket), as redis's client-output-buffer-limit: a peer that
     * does not read cannot make us hold unbounded memory. A connection is
     * dropped (on_down(SW_DOWN_BACKLOG), counted in conns_backlog, logged
     * once) when
     *   - a frame is queued behind others and the queue would pass
     *     backlog_hard (a frame into an empty queue is always taken, so one
     *     large message, e.g. a full registry sync, is never refused), or
     *   - more than backlog_soft stays queued while the socket takes no byte
     *     for timeout_ms (the tick timeout).
     * 0: the defaults, SW_NODE_BACKLOG_HARD and SW_NODE_BACKLOG_SOFT;
     * SIZE_MAX: no limit. */
    size_t backlog_hard;
    size_t backlog_soft;
    /* Distribution flags advertised on top of the set above (SW_DFLAG_*
     * of handshake.h), e.g. DIST_MONITOR | DIST_MONITOR_NAME | UNLINK_ID
     * for a node that hosts processes: BEAM nodes then send it MONITOR_P,
     * DEMONITOR_P, LINK, UNLINK_ID and EXIT controls for its pids, which it
     * must answer as a process would. 0 for a sidecar. */
    uint64_t extra_flags;
} sw_node_config_t;

/* The defaults. Hard: redis's for pub/sub clients; a backlog beyond it
 * means the peer stopped reading (a burst to a slow but live peer that
 * crosses it costs a reconnect, and the resync that follows every link
 * loss). Soft: redis's soft pub/sub limit. */
#define SW_NODE_BACKLOG_HARD ((size_t)32 * 1024 * 1024)
#define SW_NODE_BACKLOG_SOFT ((size_t)8 * 1024 * 1024)

/* Allocates a node on `loop`. Copies the config strings. Returns NULL on bad
 * config (missing alive/host/cookie, name longer than SW_MAXNODELEN) or out of
 * memory. Does no I/O. cbs and ud are borrowed for the node's life.
 * If SIGPIPE is at its default disposition, sets it to ignored
 * (process-wide; a disposition chosen by the program is left alone), since
 * libuv's socket writes raise it when a peer resets its connection. */
sw_node_t *sw_node_new(uv_loop_t *loop, const sw_node_config_t *cfg,
                       const sw_node_cbs_t *cbs, void *ud);

/* Binds and listens (ephemeral port), then registers the name in epmd over a
 * connection kept open for the node's life (epmd drops the name when it
 * closes). Reports through on_started. Returns 0 if started, < 0 if it could
 * not even begin (then on_started is not called). */
int sw_node_start(sw_node_t *n);

/* The TCP port the node listens on (0 before sw_node_start). */
uint16_t sw_node_port(const sw_node_t *n);

/* "alive@host" of this node. */
const char *sw_node_name(const sw_node_t *n);
/* Creation assigned by epmd (32-bit, never 0 once started). */
uint32_t sw_node_creation(const sw_node_t *n);

/* Starts an outgoing connection to "alive@host": asks that host's epmd for
 * the port, connects, runs the handshake. Result via on_up or
 * on_connect_failed. Returns 0 if the attempt began, 1 if a connection or an
 * attempt to that peer already exists (nothing new is started), < 0 on bad
 * name (UV_EINVAL; our own name is a bad name), UV_EAGAIN before the
 * node is published (on_started(0) not yet called: there is no creation to
 * send), UV_ENOMEM. peer is copied. An attempt still resolving, asking
 * epmd or connecting (no handshake yet) SW_DIAL_STALE_MS or more after it
 * began is stale: a SYN lost to a partition waits seconds for the kernel's
 * next retransmission, long after the network is back. A new call then
 * drops it silently (no on_connect_failed) and begins afresh (returns 0):
 * the new attempt's answer is the one both calls get. */
#define SW_DIAL_STALE_MS 1000u
int sw_node_connect(sw_node_t *n, const char *peer);

/* The live (handshake done) connection to peer, or NULL (also while it is
 * closing or being dropped). */
sw_conn_t *sw_node_find(sw_node_t *n, const char *peer);

/* Queues a frame <<Len:32, 112, Ctrl, Msg>> for sending. ctrl (with its 131
 * version byte) is required; msg (with 131) may be NULL/0 for control-only
 * messages. Data are copied before return. Returns 0, or < 0 if the
 * connection is closing. Never blocks; the write queue is bounded by the
 * node's backlog limits (sw_node_config_t) and its size is readable with
 * sw_conn_queued(). Frames queued during one loop iteration leave in one
 * write. Errors: UV_ENOBUFS this frame would pass
 * backlog_hard: the frame is refused, the queue discarded and the
 * connection is being dropped (on_down(SW_DOWN_BACKLOG) follows from the
 * loop, never from inside this call); UV_ENOTCONN closing, being dropped
 * or down; UV_EINVAL no ctrl; UV_E2BIG frame above 4 GB; UV_ENOMEM. */
int sw_conn_send(sw_conn_t *c, const char *ctrl, size_t clen, const char *msg, size_t mlen);

/* Bytes queued but not yet written. */
size_t sw_conn_queued(const sw_conn_t *c);

/* Peer node name ("alive@host"), valid while the connection lives. */
const char *sw_conn_peer(const sw_conn_t *c);

/* Peer's distribution flags and creation from the handshake. */
uint64_t sw_conn_flags(const sw_conn_t *c);
uint32_t sw_conn_peer_creation(const sw_conn_t *c);

/* User pointer slot for the layer above (initially NULL). */
void sw_conn_set_data(sw_conn_t *c, void *data);
void *sw_conn_get_data(const sw_conn_t *c);

/* Closes the connection: pending writes are flushed if possible, then
 * on_down(SW_DOWN_LOCAL) is called (once, asynchronously, from the loop). */
void sw_conn_close(sw_conn_t *c);

/* Snapshot of the counters. */
void sw_node_stats(const sw_node_t *n, sw_node_stats_t *out);

/* Closes every connection, the listener and the epmd connection, then calls
 * done(n) from the loop; the node is freed after done returns. on_down is not
 * called for connections closed this way. */
void sw_node_free(sw_node_t *n, void (*done)(sw_node_t *n, void *ud));

#endif
