/* epmd.c - epmd request/answer codecs and the one-request TCP client; see
 * epmd.h. Written from the erts "Distribution Protocol" documentation. */
#include "epmd.h"

#include <string.h>

static void put16(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static uint32_t get16(const uint8_t *p) { return ((uint32_t)p[0] << 8) | p[1]; }

static int valid_alive(const char *alive, size_t *nl) {
    *nl = strlen(alive);
    return *nl >= 1 && *nl <= 255 && !memchr(alive, '@', *nl);
}

int sw__epmd_enc_alive2(uint8_t *out, uint16_t port, uint8_t node_type, const char *alive) {
    size_t nl;
    if (!valid_alive(alive, &nl)) return -1;
    uint8_t *b = out + 2;
    b[0] = 120;
    put16(b + 1, port);
    b[3] = node_type;
    b[4] = 0;          /* protocol: tcp/ipv4 */
    put16(b + 5, 6);   /* highest version */
    put16(b + 7, 5);   /* lowest version */
    put16(b + 9, (uint32_t)nl);
    memcpy(b + 11, alive, nl);
    put16(b + 11 + nl, 0); /* no extra */
    size_t len = 13 + nl;
    put16(out, (uint32_t)len);
    return (int)(len + 2);
}

int sw__epmd_dec_alive2(const uint8_t *in, size_t len, int *result, uint32_t *creation) {
    if (len < 1) return 0;
    if (in[0] == 118) {
        if (len < 6) return 0;
        *result = in[1];
        *creation = ((uint32_t)in[2] << 24) | ((uint32_t)in[3] << 16) | ((uint32_t)in[4] << 8) |
                    in[5];
        return 6;
    }
    if (in[0] == 121) {
        if (len < 4) return 0;
        *result = in[1];
        *creation = get16(in + 2);
        return 4;
    }
    return -1;
}

int sw__epmd_enc_port2(uint8_t *out, const char *alive) {
    size_t nl;
    if (!valid_alive(alive, &nl)) return -1;
    out[2] = 122;
    memcpy(out + 3, alive, nl);
    put16(out, (uint32_t)(nl + 1));
    return (int)(nl + 3);
}

int sw__epmd_dec_port2(const uint8_t *in, size_t len, sw__epmd_port_t *out) {
    if (len < 1) return 0;
    if (in[0] != 119) return -1;
    if (len < 2) return 0;
    memset(out, 0, sizeof *out);
    out->result = in[1];
    if (out->result != 0) return 2;
    if (len < 12) return 0;
    out->port = (uint16_t)get16(in + 2);
    out->node_type = in[4];
    out->protocol = in[5];
    out->high = (uint16_t)get16(in + 6);
    out->low = (uint16_t)get16(in + 8);
    size_t nl = get16(in + 10);
    if (nl > 255) return -1;
    if (len < 12 + nl + 2) return 0;
    size_t el = get16(in + 12 + nl);
    if (len < 14 + nl + el) return 0;
    memcpy(out->name, in + 12, nl);
    out->name[nl] = '\0';
    return (int)(14 + nl + el);
}

/* ---- client ------------------------------------------------------------ */

static void report(sw__epmd_client_t *c, int status) {
    if (c->done || !c->open) return;
    if (status < 0) c->done = 1;
    c->cb(c, status, c->resp, c->resplen);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    sw__epmd_client_t *c = h->data;
    buf->base = (char *)c->resp + c->resplen;
    buf->len = sizeof c->resp - c->resplen;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    sw__epmd_client_t *c = s->data;
    if (nread < 0) {
        uv_read_stop(s);
        report(c, (int)nread);
        return;
    }
    c->resplen += (size_t)nread;
    if (c->resplen == sizeof c->resp) {
        /* A full buffer that the owner did not accept as an answer is
         * garbage; stop here instead of reading without bound. */
        uv_read_stop(s);
        report(c, 0);
        report(c, UV_EPROTO);
        return;
    }
    if (nread > 0) report(c, 0);
}

static void on_write(uv_write_t *w, int status) {
    sw__epmd_client_t *c = w->data;
    if (status < 0) report(c, status);
}

static void on_connect(uv_connect_t *req, int status) {
    sw__epmd_client_t *c = req->data;
    if (status < 0) {
        report(c, status);
        return;
    }
    if (!c->open) return;
    uv_buf_t b = uv_buf_init((char *)c->req, (unsigned)c->reqlen);
    int r = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (r == 0) r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (r < 0) report(c, r);
}

int sw__epmd_client_start(sw__epmd_client_t *c, uv_loop_t *loop, const struct sockaddr *addr,
                          const uint8_t *req, size_t len, sw__epmd_cb cb) {
    if (len > sizeof c->req) return UV_EINVAL;
    memcpy(c->req, req, len);
    c->reqlen = len;
    c->resplen = 0;
    c->cb = cb;
    c->done = 0;
    c->open = 0;
    int r = uv_tcp_init(loop, &c->tcp);
    if (r < 0) return r;
    c->tcp.data = c;
    c->creq.data = c;
    c->wreq.data = c;
    c->open = 1;
    /* On a synchronous failure the handle stays open: the owner's usual
     * sw__epmd_client_close() releases it, so there is one cleanup path. */
    return uv_tcp_connect(&c->creq, &c->tcp, addr, on_connect);
}

int sw__epmd_client_close(sw__epmd_client_t *c, uv_close_cb close_cb) {
    if (!c->open) return 0;
    c->open = 0;
    uv_close((uv_handle_t *)&c->tcp, close_cb);
    return 1;
}
