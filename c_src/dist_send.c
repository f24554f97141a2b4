/* dist_send.c - see dist_send.h. A frame leaves as
 * <<112, 131, Ctrl, 131, Msg>> (node.h adds the length): SEND's control is
 * {2, '', ToPid}, REG_SEND's {6, FromPid, '', ToName}. */
#include "dist_send.h"

#include <string.h>

int sw_dist_out_init(sw_dist_out_t *o) {
    memset(o, 0, sizeof *o);
    return ei_x_new(&o->ctrl) == 0 ? 0 : -1;
}

void sw_dist_out_close(sw_dist_out_t *o) {
    ei_x_free(&o->ctrl);
    o->node = NULL;
}

int sw_dist_send_pid(sw_dist_out_t *o, const erlang_pid *to, const char *msg, size_t len) {
    if (o->local) return o->local(o->local_ud, to, msg, len);
    if (!o->node) return -1;
    sw_conn_t *c = sw_node_find(o->node, to->node);
    if (!c) return -1;
    ei_x_buff *x = &o->ctrl;
    x->index = 0;
    ei_x_encode_version(x);
    ei_x_encode_tuple_header(x, 3);
    ei_x_encode_long(x, SW_DOP_SEND);
    ei_x_encode_atom(x, "");
    ei_x_encode_pid(x, to);
    return sw_conn_send(c, x->buff, (size_t)x->index, msg, len);
}

int sw_dist_send_reg(sw_dist_out_t *o, const char *cnode, const char *to, const char *msg,
                     size_t len) {
    if (!o->node) return -1;
    sw_conn_t *c = sw_node_find(o->node, cnode);
    if (!c) return -1;
    ei_x_buff *x = &o->ctrl;
    x->index = 0;
    ei_x_encode_version(x);
    ei_x_encode_tuple_header(x, 4);
    ei_x_encode_long(x, SW_DOP_REG_SEND);
    ei_x_encode_pid(x, &o->self);
    ei_x_encode_atom(x, "");
    ei_x_encode_atom(x, to);
    return sw_conn_send(c, x->buff, (size_t)x->index, msg, len);
}
