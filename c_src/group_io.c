/* group_io.c - see group_io.h. */
#include "group_io.h"

#include "log.h"
#include "swarm_proto.h"

static void emit(void *ud, const char *cnode, const erlang_pid *to, const char *buf, size_t len) {
    sw_server_t *s = ud;
    int r = to ? sw_server_send_pid(s, to, buf, len)
               : sw_server_send_reg(s, cnode, SW_SERVER_NAME, buf, len);
    if (r != 0)
        SW_WARN("send_failed", "module=group to=%s bytes=%zu", to ? "swarm_groups" : cnode, len);
}

void sw_group_io_restarted(void *ud, const erlang_pid *old_pid, const erlang_pid *new_pid) {
    sw_server_t *s = ud;
    if (!s->groups) return;
    int n = sw_group_transfer(s->groups, old_pid, new_pid);
    if (n > 0) SW_INFO("groups_rejoined", "groups=%d pid=<%u.%u>", n, new_pid->num, new_pid->serial);
}

void sw_group_io_flush(sw_server_t *s) {
    if (s->groups && sw_group_pending(s->groups)) sw_group_flush(s->groups, emit, s);
}
