/* group_io.c - see group_io.h. */
#include "group_io.h"

#include "log.h"
#include "swarm_proto.h"

static void emit(void *ud, const char *cnode, const erlang_pid *to, const char *buf, size_t len) {
    sw_dist_out_t *out = ud;
    int r = to ? sw_dist_send_pid(out, to, buf, len)
               : sw_dist_send_reg(out, cnode, SW_SERVER_NAME, buf, len);
    if (r != 0)
        SW_WARN("send_failed", "module=group to=%s bytes=%zu", to ? "swarm_groups" : cnode, len);
}

void sw_group_io_restarted(sw_group_t *g, const erlang_pid *old_pid, const erlang_pid *new_pid) {
    if (!g) return;
    int n = sw_group_transfer(g, old_pid, new_pid);
    if (n > 0) SW_DEBUG("groups_rejoined", "groups=%d pid=<%u.%u>", n, new_pid->num, new_pid->serial);
}

void sw_group_io_flush(sw_group_t *g, sw_dist_out_t *out) {
    if (g && sw_group_pending(g)) sw_group_flush(g, emit, out);
}
