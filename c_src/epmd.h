/* epmd.h - the Erlang Port Mapper Daemon protocol: the codecs of the two
 * requests this node makes (ALIVE2 to publish itself, PORT_PLEASE2 to find a
 * peer), and a small non-blocking client that sends one request over TCP and
 * hands every received chunk to a callback.
 *
 * What it is: the codecs are pure functions (testable without sockets); the
 * client is a libuv TCP handle embedded in its owner's struct.
 *
 * What it is not: no policy. Whether the registration connection is kept,
 * what a failed lookup means, and all timeouts belong to node.c.
 *
 * Wire formats (big-endian; requests carry a 2-byte length, answers not):
 *   ALIVE2_REQ     120 PortNo:16 NodeType:8 Protocol:8 HighestVersion:16
 *                  LowestVersion:16 Nlen:16 Name Elen:16 Extra
 *   ALIVE2_X_RESP  118 Result:8 Creation:32   (epmd of OTP 23+)
 *   ALIVE2_RESP    121 Result:8 Creation:16   (older epmd)
 *   PORT_PLEASE2_REQ 122 Name
 *   PORT2_RESP     119 Result:8 [PortNo:16 NodeType:8 Protocol:8
 *                  HighestVersion:16 LowestVersion:16 Nlen:16 Name Elen:16
 *                  Extra]   (the bracket only when Result == 0)
 */
#ifndef SW_EPMD_H
#define SW_EPMD_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define SW_EPMD_NODE_HIDDEN 72 /* 'H' */
#define SW_EPMD_NODE_NORMAL 77 /* 'M' */
#define SW_EPMD_REQ_MAX 600    /* largest request we build, length included */
#define SW_EPMD_RESP_MAX 1024  /* largest answer we accept */

/* ---- codecs ------------------------------------------------------------ */

/* Builds ALIVE2_REQ (with its length) for the short name alive (1..255
 * bytes) listening on port, protocol tcp/ipv4, versions 5..6. out must have
 * SW_EPMD_REQ_MAX bytes. Returns the bytes written, or -1 on a bad name. */
int sw__epmd_enc_alive2(uint8_t *out, uint16_t port, uint8_t node_type, const char *alive);

/* Parses an ALIVE2_X_RESP or ALIVE2_RESP. Returns the bytes it used (> 0),
 * 0 if more bytes are needed, -1 if it is neither. *result is epmd's result
 * byte (0 = registered); *creation the creation (16-bit form widened). */
int sw__epmd_dec_alive2(const uint8_t *in, size_t len, int *result, uint32_t *creation);

/* Builds PORT_PLEASE2_REQ (with its length) for the short name alive. out
 * must have SW_EPMD_REQ_MAX bytes. Returns the bytes written or -1. */
int sw__epmd_enc_port2(uint8_t *out, const char *alive);

typedef struct {
    int result;              /* 0: found; the fields below are then set */
    uint16_t port;
    uint8_t node_type, protocol;
    uint16_t high, low;      /* distribution versions the node speaks */
    char name[256];          /* short name as registered, NUL-terminated */
} sw__epmd_port_t;

/* Parses a PORT2_RESP. Returns the bytes used (> 0), 0 if more are needed,
 * -1 if malformed. */
int sw__epmd_dec_port2(const uint8_t *in, size_t len, sw__epmd_port_t *out);

/* ---- client ------------------------------------------------------------ */

typedef struct sw__epmd_client_s sw__epmd_client_t;

/* status 0: new bytes arrived; buf/len is everything received so far (the
 * parser is re-run on the whole). status < 0: the connection failed or
 * ended (UV_EOF when epmd closed it); buf/len is still what was received.
 * Never called after sw__epmd_client_close(). */
typedef void (*sw__epmd_cb)(sw__epmd_client_t *c, int status, const uint8_t *buf, size_t len);

struct sw__epmd_client_s {
    uv_tcp_t tcp;            /* embedded; its close callback is the owner's */
    uv_connect_t creq;
    uv_write_t wreq;
    uint8_t req[SW_EPMD_REQ_MAX];
    size_t reqlen;
    uint8_t resp[SW_EPMD_RESP_MAX];
    size_t resplen;
    sw__epmd_cb cb;
    int open;                /* tcp initialised and not yet closing */
    int done;                /* cb reported a final status */
    void *data;              /* owner's pointer */
};

/* Initialises c->tcp on loop and starts connecting to addr (epmd's address
 * and port); once connected sends req (len bytes, copied, at most
 * SW_EPMD_REQ_MAX) and reads, reporting through cb. Returns 0, or a libuv
 * error (then cb never runs). Whatever it returns, the owner releases the
 * client with sw__epmd_client_close(), which knows whether a handle was
 * created. */
int sw__epmd_client_start(sw__epmd_client_t *c, uv_loop_t *loop, const struct sockaddr *addr,
                          const uint8_t *req, size_t len, sw__epmd_cb cb);

/* Closes the connection; close_cb(&c->tcp) runs from the loop (the owner
 * recovers itself with container_of). No further cb. Safe to call when the
 * client is not open: then nothing happens and close_cb is not called;
 * returns 1 if a close was started, 0 if not. */
int sw__epmd_client_close(sw__epmd_client_t *c, uv_close_cb close_cb);

#endif
