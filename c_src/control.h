/* control.h - the control channel between a C node and the BEAM node that
 * started it as a port program: frames <<Len:32/big, Body:Len>> read from
 * one fd (stdin) and written to another (stdout), as the BEAM's
 * {packet, 4} port option frames them.
 *
 * What it is: a reader that cuts the input into whole frames (each handed
 * on contiguous, up to a settable maximum length; the buffer grows with the
 * bytes that arrive, not with a length header, and shrinks back after a
 * large frame), and a writer whose frames leave through a libuv write
 * queue, so that a large frame (a registry batch for a node without
 * distribution) never blocks the loop while the BEAM reads it. Frames
 * leave in the order they were written.
 * What it is not: a codec. It does not look inside a frame: the server
 * (server.c) decides what the configuration, the requests and the replies
 * are.
 *
 * Threads: the loop thread only. */
#ifndef SW_CONTROL_H
#define SW_CONTROL_H

#include <stddef.h>
#include <uv.h>

/* Largest frame accepted before any was handed on (the configuration). */
#define SW_CONTROL_FIRST_MAX (1u << 20)
/* Bytes queued for writing beyond which the channel gives up: the BEAM's
 * port driver reads whatever arrives, so only a BEAM that no longer runs
 * lets this many bytes wait. */
#define SW_CONTROL_OUT_MAX (512u * 1024u * 1024u)
/* A read buffer above this size shrinks back once it is consumed. */
#define SW_CONTROL_SHRINK_AT (4u * 1024u * 1024u)

typedef struct sw_control_s sw_control_t;

/* One whole frame (body, len bytes; borrowed until the callback returns).
 * The callback may call sw_control_close. */
typedef void (*sw_control_frame_cb)(sw_control_t *c, const char *body, size_t len, void *ud);
/* The channel ended: err is UV_EOF (input closed), UV_E2BIG (a frame over
 * the maximum, or more than SW_CONTROL_OUT_MAX bytes queued), or another
 * libuv error of a read or a write. Called once; no frame callback
 * follows. */
typedef void (*sw_control_end_cb)(sw_control_t *c, int err, void *ud);

struct sw_control_s {
    uv_pipe_t in, out;
    char *buf;            /* read buffer, owned */
    size_t len, cap;      /* bytes buffered, allocated */
    size_t max;           /* largest frame accepted */
    size_t queued;        /* bytes in the write queue */
    int ended, closing, out_open;
    sw_control_frame_cb on_frame;
    sw_control_end_cb on_end;
    void *ud;
};

/* Caller-owned storage: starts reading in_fd and makes out_fd the write
 * side, both on `loop`. The first frame may be SW_CONTROL_FIRST_MAX bytes
 * long (see sw_control_set_max). Returns 0, or a libuv error; either way
 * the caller closes the channel with sw_control_close when done. */
int sw_control_init(sw_control_t *c, uv_loop_t *loop, int in_fd, int out_fd,
                    sw_control_frame_cb on_frame, sw_control_end_cb on_end, void *ud);

/* Sets the largest frame accepted from now on. */
void sw_control_set_max(sw_control_t *c, size_t max);

/* Queues one frame whose body is head (hlen bytes) followed by tail (tlen
 * bytes; either may be empty), both copied before return. What the pipe
 * takes at once is written at once; the rest leaves as the BEAM reads.
 * Returns 0, or a negative libuv error: UV_ENOMEM, UV_EPIPE once the
 * channel is closing or ended, UV_E2BIG when SW_CONTROL_OUT_MAX would be
 * exceeded (the channel then ends, see sw_control_end_cb). */
int sw_control_write(sw_control_t *c, const char *head, size_t hlen, const char *tail,
                     size_t tlen);

/* Bytes queued and not yet taken by the pipe. */
size_t sw_control_queued(const sw_control_t *c);

/* Stops reading, drops queued frames and closes both handles (the loop
 * finishes closing them). Idempotent. The buffer is freed here. */
void sw_control_close(sw_control_t *c);

#endif
