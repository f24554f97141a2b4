/* control.c - see control.h. */
#include "control.h"

#include <stdlib.h>
#include <string.h>

/* Room the reader always offers, and the step of its growth. */
#define MIN_READ 65536u

typedef struct {
    uv_write_t req;
    sw_control_t *c;
    size_t len;
    char data[]; /* <<Len:32, Head, Tail>> */
} wreq_t;

static void end(sw_control_t *c, int err) {
    if (c->ended || c->closing) return;
    c->ended = 1;
    uv_read_stop((uv_stream_t *)&c->in);
    c->on_end(c, err, c->ud);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
    sw_control_t *c = h->data;
    (void)hint;
    if (c->cap - c->len < MIN_READ / 2) {
        /* Grow by what has arrived (doubling), never by what a length
         * header announces. */
        size_t cap = c->cap ? c->cap * 2 : MIN_READ;
        char *nb = realloc(c->buf, cap);
        if (!nb) {
            b->base = NULL;
            b->len = 0;
            return;
        }
        c->buf = nb;
        c->cap = cap;
    }
    b->base = c->buf + c->len;
    b->len = c->cap - c->len;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
    sw_control_t *c = st->data;
    (void)b;
    if (n == UV_ENOBUFS) return; /* out of memory: read again later */
    if (n < 0) {
        end(c, (int)n);
        return;
    }
    c->len += (size_t)n;
    size_t off = 0;
    while (!c->ended && !c->closing && c->len - off >= 4) {
        const unsigned char *p = (const unsigned char *)c->buf + off;
        size_t flen = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
        if (flen > c->max) {
            end(c, UV_E2BIG);
            return;
        }
        if (c->len - off - 4 < flen) break;
        const char *body = c->buf + off + 4;
        off += 4 + flen;
        c->on_frame(c, body, flen, c->ud);
    }
    if (c->closing) return; /* the buffer is gone */
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
    if (c->cap > SW_CONTROL_SHRINK_AT && c->len < MIN_READ / 2) {
        char *nb = realloc(c->buf, MIN_READ);
        if (nb) {
            c->buf = nb;
            c->cap = MIN_READ;
        }
    }
}

int sw_control_init(sw_control_t *c, uv_loop_t *loop, int in_fd, int out_fd,
                    sw_control_frame_cb on_frame, sw_control_end_cb on_end, void *ud) {
    memset(c, 0, sizeof *c);
    c->max = SW_CONTROL_FIRST_MAX;
    c->on_frame = on_frame;
    c->on_end = on_end;
    c->ud = ud;
    uv_pipe_init(loop, &c->in, 0);
    uv_pipe_init(loop, &c->out, 0);
    c->in.data = c;
    c->out.data = c;
    int r = uv_pipe_open(&c->in, in_fd);
    if (r == 0) r = uv_read_start((uv_stream_t *)&c->in, on_alloc, on_read);
    if (r == 0) r = uv_pipe_open(&c->out, out_fd);
    if (r == 0) c->out_open = 1;
    return r;
}

void sw_control_set_max(sw_control_t *c, size_t max) { c->max = max; }

static void on_written(uv_write_t *req, int status) {
    wreq_t *w = (wreq_t *)req;
    sw_control_t *c = w->c;
    c->queued -= w->len;
    free(w);
    if (status < 0 && status != UV_ECANCELED) end(c, status);
}

int sw_control_write(sw_control_t *c, const char *head, size_t hlen, const char *tail,
                     size_t tlen) {
    if (c->ended || c->closing || !c->out_open) return UV_EPIPE;
    size_t len = hlen + tlen;
    if (len > UINT32_MAX) return UV_E2BIG;
    if (c->queued + len + 4 > SW_CONTROL_OUT_MAX) {
        end(c, UV_E2BIG);
        return UV_E2BIG;
    }
    wreq_t *w = malloc(sizeof *w + 4 + len);
    if (!w) return UV_ENOMEM;
    w->c = c;
    w->len = 4 + len;
    unsigned char *p = (unsigned char *)w->data;
    p[0] = (unsigned char)(len >> 24);
    p[1] = (unsigned char)(len >> 16);
    p[2] = (unsigned char)(len >> 8);
    p[3] = (unsigned char)len;
    if (hlen) memcpy(w->data + 4, head, hlen);
    if (tlen) memcpy(w->data + 4 + hlen, tail, tlen);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)(4 + len));
    /* libuv writes at once what the pipe takes; the rest waits in the
     * stream's queue, in order behind earlier frames. */
    int r = uv_write(&w->req, (uv_stream_t *)&c->out, &b, 1, on_written);
    if (r != 0) {
        free(w);
        return r;
    }
    c->queued += w->len;
    return 0;
}

size_t sw_control_queued(const sw_control_t *c) { return c->queued; }

void sw_control_close(sw_control_t *c) {
    if (c->closing) return;
    c->closing = 1;
    if (!uv_is_closing((uv_handle_t *)&c->in)) uv_close((uv_handle_t *)&c->in, NULL);
    if (!uv_is_closing((uv_handle_t *)&c->out)) uv_close((uv_handle_t *)&c->out, NULL);
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
}
