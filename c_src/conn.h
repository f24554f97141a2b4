/* conn.h - internals of the network layer shared by node.c and conn.c: the
 * node and connection structs, and the calls between the two files.
 *
 * What it is: private to the network layer (node.h is the public contract).
 * conn.c owns one peer connection once its socket exists: handshake driving,
 * framing, ticks, the write queue, closing. node.c owns identity, the
 * listener, epmd publication, outgoing connection setup (resolve, epmd
 * lookup, TCP connect) and the table of connections with its rules (at most
 * one connection up per peer, simultaneous connect).
 *
 * What it is not: an API for other modules; nothing outside node.c and
 * conn.c includes it (tests excepted).
 *
 * Who calls whom: node.c owns the connections and calls conn.c; conn.c
 * calls node.c only through the hooks node.c gives it (sw__conn_owner_t),
 * so the two files do not depend on each other in a circle.
 *
 * Lifetimes: a node and each of its connections hold libuv handles embedded
 * in their structs; memory is freed only in close callbacks (container_of).
 * n->refs counts everything that must finish before the node may be freed:
 * its own open handles, each connection not yet freed, each getaddrinfo
 * request in flight.
 */
#ifndef SW_CONN_H
#define SW_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "epmd.h"
#include "frame.h"
#include "handshake.h"
#include "node.h"

#define SW_CONTAINER_OF(ptr, type, field) ((type *)((char *)(ptr)-offsetof(type, field)))

/* Connection states. */
typedef enum {
    SW_CS_RESOLVE = 0, /* outgoing: resolving the peer's host */
    SW_CS_EPMD,        /* outgoing: asking the peer host's epmd for the port */
    SW_CS_CONNECT,     /* outgoing: TCP connect in flight */
    SW_CS_HANDSHAKE,   /* handshake running (both directions) */
    SW_CS_UP,          /* authenticated, reported by on_up */
    SW_CS_AWAIT,       /* outgoing attempt given up to a simultaneous incoming
                          connection from the same peer; no socket, only a
                          timer: waits for that connection to come up (then
                          vanishes silently) or fail (then reports
                          on_connect_failed) */
    SW_CS_CLOSING,     /* handles closing; inert */
} sw__conn_state_t;

/* A byte buffer of the write queue. */
typedef struct {
    char *data;
    size_t len, cap;
} sw__obuf_t;

struct sw_conn_s {
    sw_node_t *node;
    uint64_t id;                /* unique within the node, never 0 */
    uint64_t replaces;          /* incoming: id of the up connection to the
                                   same peer we answered "alive" for; it is
                                   replaced when this handshake is done, if
                                   the peer confirmed ("true"). 0: none */
    sw_conn_t *prev, *next;     /* node's list (every conn not yet closing) */
    sw_conn_t *dprev, *dnext;   /* node's flush list, when dirty */
    sw__conn_state_t state;
    int outgoing;
    int closing_local;          /* sw_conn_close(): flush, then on_down(LOCAL) */
    int shutting;               /* closing_local and uv_shutdown requested */
    int dirty;                  /* in the node's flush list */
    int handles;                /* open handles; freed when it drops to 0 */
    int tcp_open, timer_open;
    int dropping;               /* over a backlog limit: sends refused, the
                                   next flush reports on_down(BACKLOG) */

    char peer[SW_MAXNODELEN + 1]; /* target (outgoing) or name from send_name */
    uint32_t peer_hash;
    uint64_t peer_flags;
    uint32_t peer_creation;
    void *data;                 /* sw_conn_set_data */

    uv_tcp_t tcp;
    uv_timer_t timer;           /* setup/handshake deadline, then ticks */
    uv_write_t wreq;
    uv_shutdown_t sreq;
    int writing;                /* wreq in flight (carries wbuf) */

    sw__reader_t rd;
    sw__obuf_t obuf;            /* bytes queued, not yet handed to libuv */
    sw__obuf_t wbuf;            /* bytes of the write in flight */
    uint64_t last_recv, last_send; /* uv_now() of the last read / enqueue */
    uint64_t born;              /* uv_now() at creation */
    uint64_t close_deadline;    /* closing_local: uv_now() the flush ends at */
    uint64_t stall_since;       /* uv_now() since which queued bytes wait
                                   with no byte taken by the socket */
    size_t wq_left;             /* libuv's unwritten bytes of the write in
                                   flight, at the last look */

    sw__hs_t hs;

    /* Outgoing setup. */
    uv_getaddrinfo_t *gai;      /* resolution in flight, or NULL */
    sw__epmd_client_t epmd;     /* port lookup (epmd.open when in use) */
    uv_connect_t creq;
    struct sockaddr_in addr;    /* peer host; port set after the lookup */
    int peer_version;           /* highest dist version from epmd */
};

/* The table's rules as conn.c needs them while a connection is set up and
 * ends (node.c implements them; see its header comment for the rules). */
typedef struct {
    /* Acceptor's status for the peer named in c->hs (simultaneous-connect
     * rule, one connection per peer). May move an outgoing attempt to
     * AWAIT. With a connection up to that peer, answers alive and records
     * it in c->replaces. */
    sw__hs_status_t (*decide)(sw_node_t *n, sw_conn_t *c);
    /* The acceptor handshake c is done (the peer proved the cookie) after
     * the peer confirmed that our connection to it is stale: drops that
     * connection, c->replaces, if it is still up (on_down(SW_DOWN_CLOSED),
     * which may run any callback, even sw_node_free). */
    void (*replace)(sw_node_t *n, sw_conn_t *c);
    /* c finished its handshake. Returns 1 if c is now the peer's
     * connection (the caller reports on_up), 0 if another connection to
     * that peer is already up (the caller closes c). Settles any AWAIT
     * attempt for the peer. */
    int (*conn_up)(sw_node_t *n, sw_conn_t *c);
    /* An incoming handshake whose peer name is known failed: an AWAIT
     * attempt to that peer, if any, fails with err. */
    void (*incoming_failed)(sw_node_t *n, const char *peer, int err);
    /* Drops one reference to n (a connection was freed); frees the node
     * when it was the last and the node is being freed. */
    void (*unref)(sw_node_t *n);
} sw__conn_owner_t;

struct sw_node_s {
    const sw__conn_owner_t *owner; /* node.c's rules, for conn.c */
    uv_loop_t *loop;
    sw_node_cbs_t cbs;
    void *ud;

    char alive[256];
    char host[256];
    char name[SW_MAXNODELEN + 1];
    char cookie[1024];
    char bind_ip[64];
    unsigned tick_ms, timeout_ms, hs_timeout_ms;
    size_t backlog_hard, backlog_soft;
    uint16_t epmd_port;
    uint64_t flags;

    uv_tcp_t listener;
    int listener_open;
    uint16_t port;
    sw__epmd_client_t epmd;     /* registration, kept open */
    uv_timer_t timer;           /* publication deadline */
    uv_prepare_t prep;          /* flush before the loop blocks (node.c
                                   opens and closes it, conn.c runs it) */
    uv_check_t check;           /* flush after each poll (likewise) */
    int flushing_on;            /* prep and check started */

    uint32_t creation;
    int started, published, freeing;
    uint64_t last_id;           /* of the newest connection */

    sw_conn_t *conns;           /* every conn not yet closing */
    sw_conn_t *dirty;           /* conns with queued bytes or a close due */

    sw_node_stats_t stats;
    int refs;
    void (*done)(sw_node_t *n, void *ud);
};

/* ---- conn.c --------------------------------------------------------------- */

/* Allocates a connection (outgoing: state SW_CS_RESOLVE with the setup
 * deadline running; incoming: SW_CS_HANDSHAKE), initialises its tcp and
 * timer handles and links it into the node. peer is copied (NULL for
 * incoming). Returns NULL when out of memory or when a handle cannot be
 * initialised (nothing to clean up). */
sw_conn_t *sw__conn_new(sw_node_t *n, int outgoing, const char *peer);

/* The socket is connected (outgoing) or accepted (incoming): starts the
 * handshake, the reads and the handshake deadline. peer_version is epmd's
 * highest version for an outgoing connection, ignored otherwise. Returns 0,
 * or a libuv error (the caller then fails the connection). */
int sw__conn_begin(sw_conn_t *c, int peer_version);

/* Ends a connection that is not up (setup or handshake failed, or an
 * SW_CS_AWAIT attempt ran out): counts it, logs, reports on_connect_failed
 * for outgoing attempts when report is set, closes. err is a libuv code. */
void sw__conn_fail(sw_conn_t *c, int err, int report);

/* Closes the epmd lookup of an outgoing connection, if open. */
void sw__conn_close_lookup(sw_conn_t *c);

/* Outgoing attempt gives way to an incoming connection from the same peer:
 * closes its socket (and lookup), keeps a fresh deadline, state AWAIT. */
void sw__conn_await(sw_conn_t *c);

/* Reports on_down(why) for an up connection (unless the node is being
 * freed), then closes it without flushing. */
void sw__conn_down(sw_conn_t *c, sw_down_reason_t why);

/* Closes the handles with no callback to the user; the struct is freed when
 * the last one is closed. Idempotent. */
void sw__conn_close_handles(sw_conn_t *c);

/* FNV-1a of a peer name, compared before the name itself. */
uint32_t sw__name_hash(const char *s);

#endif
