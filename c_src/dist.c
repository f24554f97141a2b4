/* dist.c - see dist.h. The frame layout is <<131, Ctrl, 131, Msg>> (no atom
 * cache: we never advertise DFLAG_DIST_HDR_ATOM_CACHE). */
#include "dist.h"

#include <string.h>

#include "log.h"
#include "proto.h"
#include "swarm_proto.h"
#include "term.h"
#include "tracker_msg.h"

int sw_dist_init(sw_dist_t *d, sw_dist_out_t *out, sw_tracker_t *t, sw_group_t *g,
                 const char *beam) {
    memset(d, 0, sizeof *d);
    if (ei_x_new(&d->msg) != 0) return -1;
    d->out = out;
    d->tracker = t;
    d->groups = g;
    d->beam = beam;
    return 0;
}

void sw_dist_close(sw_dist_t *d) { ei_x_free(&d->msg); }

/* ---- replies ----------------------------------------------------------- */

/* Starts {Ref, Reply} in d->msg: the caller encodes Reply, then sends it
 * with send_reply. */
static ei_x_buff *begin_reply(sw_dist_t *d, const char *ref, size_t rlen) {
    ei_x_buff *x = &d->msg;
    x->index = 0;
    ei_x_encode_version(x);
    ei_x_encode_tuple_header(x, 2);
    ei_x_append_buf(x, ref, (int)rlen);
    return x;
}

/* A reply whose caller's node is not connected (any more) is lost, as any
 * message to a node that is gone. */
static int send_reply(sw_dist_t *d, const erlang_pid *to) {
    return sw_dist_send_pid(d->out, to, d->msg.buff, (size_t)d->msg.index);
}

/* {Ref, Atom} to pid `to` (redirect, pong); atom is a table entry. */
static void reply_atom(sw_dist_t *d, const erlang_pid *to, const char *ref, size_t rlen, int atom) {
    sw_proto_encode(begin_reply(d, ref, rlen), atom);
    send_reply(d, to);
}

/* {Ref, [{Counter, Value}]}: this node's counters, to pid `to`. */
static void reply_stats(sw_dist_t *d, const erlang_pid *to, const char *ref, size_t rlen) {
    sw_node_stats_t ns;
    sw_tracker_stats_t ts;
    uint64_t log_written, log_suppressed;
    memset(&ns, 0, sizeof ns);
    if (d->out->node) sw_node_stats(d->out->node, &ns);
    sw_tracker_stats(d->tracker, &ts);
    sw_log_counts(&log_written, &log_suppressed);
    const sw_counter_t kv[] = {
        {"frames_in", ns.frames_in},         {"frames_out", ns.frames_out},
        {"conns_backlog", ns.conns_backlog}, {"log_lines", log_written},
        {"log_suppressed", log_suppressed}, {"dials_restarted", ns.dials_restarted},
        {"bad_frames", ns.bad_frames},       {"conns_dropped", ns.conns_dropped},
        {"auth_failed", ns.auth_failed},     {"handshake_failed", ns.handshake_failed},
        {"msgs_in", d->st.msgs_in},          {"unknown_msgs", d->st.unknown_msgs},
        {"bad_ctrl", d->st.bad_ctrl},        {"ignored_ctrl", d->st.ignored_ctrl},
        {"names", ts.names},                 {"pids", ts.pids},
        {"reserved", ts.reserved},           {"bad_ops", ts.bad_ops},
        {"conflicts", ts.conflicts},         {"expired", ts.expired},
        {"members", ts.members},             {"told_to_die", ts.told_to_die},
        {"handoffs", ts.handoffs},           {"redirects", d->st.redirects},
        {"handoffs_failed", ts.handoffs_failed},
        {"stranger_ops", ts.stranger_ops},   {"atoms_refused", ts.atoms_refused},
        {"agent_resyncs", ts.agent_resyncs}, {"unreg_waits", ts.unreg_waits},
        {"quorum_stops", ts.quorum_stops},   {"restarts", ts.restarts},
        {"restarts_given_up", ts.restarts_given_up},
        {"opt_commits", ts.opt_commits},     {"opt_refused", ts.opt_refused},
        {"synced", (uint64_t)sw_tracker_synced(d->tracker)},
    };
    sw_term_enc_counters(begin_reply(d, ref, rlen), kv, sizeof kv / sizeof kv[0]);
    send_reply(d, to);
}

/* ---- the env of tracker_msg.c ---------------------------------------- */

static void on_redirect(void *ud, const erlang_pid *caller, const char *ref, size_t rlen) {
    sw_dist_t *d = ud;
    reply_atom(d, caller, ref, rlen, SW_MSG_REDIRECT);
    d->st.redirects++;
}

static void on_agent_hello(void *ud, const erlang_pid *agent, const char *buf, int names_index) {
    sw_dist_t *d = ud;
    sw_group_agent_hello(d->groups, buf, names_index);
    d->agent = *agent;
    d->have_agent = 1;
    SW_DEBUG("agent_hello", "agent=<%u.%u>", agent->num, agent->serial);
}

static void on_peer_up(void *ud, const char *beam, const char *cnode) {
    sw_dist_t *d = ud;
    sw_group_peer_up(d->groups, beam, cnode);
}

static void on_peer_down(void *ud, const char *beam) {
    sw_dist_t *d = ud;
    sw_group_peer_down(d->groups, beam);
}

/* ---- dispatch ---------------------------------------------------------- */

/* {'$sw1', ping, Caller, Ref} -> {Ref, pong}: the cheapest round trip
 * through this node, from its own BEAM node (the watchdog; the benchmarks'
 * floor) or from any other (the benchmarks' ceiling of a round trip to a
 * name's owner), whose Caller must then live on the sending node, as a
 * direct reg's (no node makes this one send to a third). */
static int handle_ping(sw_dist_t *d, const char *from, int arity, const char *buf, int *index) {
    erlang_pid caller;
    const char *ref;
    size_t rlen;
    if (arity != 4 || ei_decode_pid(buf, index, &caller) || sw_term_dec_raw(buf, index, &ref, &rlen))
        return -1;
    if (strcmp(from, d->beam) != 0 && strcmp(caller.node, from) != 0) return -1;
    reply_atom(d, &caller, ref, rlen, SW_MSG_PONG);
    return 0;
}

/* A message for the swarm server, {'$sw1', Tag, ...}. From our own BEAM
 * node: the agent, its helpers, swarm_groups and local callers. From any
 * other node: a peer C node's op lists, a ping, or (reg, reg_mfa) a
 * caller on another BEAM node asking the name's owner directly. Tags of the groups'
 * family ('g' first) that are not theirs go to the groups as well, which
 * count them among their malformed messages. */
static int handle_swarm(sw_dist_t *d, const char *from, const char *buf, int *index) {
    int arity;
    char tag[MAXATOMLEN_UTF8];
    const sw_tracker_msg_env_t env = {d, on_redirect, on_agent_hello, on_peer_up, on_peer_down};
    if (ei_decode_tuple_header(buf, index, &arity) != 0 || arity < 2) return -1;
    if (ei_decode_atom(buf, index, tag) != 0 || strcmp(tag, SW_PROTO_TAG) != 0) return -1;
    /* The tag is looked up where it lies; its text is decoded only for
     * the rare tag that is not in the table. */
    int tag_at = *index;
    int m = sw_proto_decode(buf, index);
    if (m == -2) return -1;
    d->st.msgs_in++;

    if (strcmp(from, d->beam) != 0) {
        switch (m) {
        case SW_MSG_GOPS:
            if (arity != 3) return -1;
            sw_group_peer_ops(d->groups, from, buf, index);
            return 0;
        case SW_MSG_OPS:
            if (arity != 3) return -1;
            sw_tracker_peer_ops(d->tracker, from, buf, index);
            return 0;
        case SW_MSG_PING:
            return handle_ping(d, from, arity, buf, index);
        default:
            return sw_tracker_msg_direct(d->tracker, &env, from, m, arity, buf, index);
        }
    }
    if (sw_tracker_msg_is_local(m)) return sw_tracker_msg_local(d->tracker, &env, m, arity, buf, index);
    erlang_pid caller;
    const char *ref;
    size_t rlen;
    switch (m) {
    case SW_MSG_PING:
        return handle_ping(d, from, arity, buf, index);
    case SW_MSG_STATS:
        /* {'$sw1', stats, Caller, Ref} -> {Ref, [{Counter, Int}]} */
        if (arity != 4 || ei_decode_pid(buf, index, &caller) || sw_term_dec_raw(buf, index, &ref, &rlen))
            return -1;
        reply_stats(d, &caller, ref, rlen);
        return 0;
    case SW_MSG_GJOIN:
    case SW_MSG_GLEAVE:
    case SW_MSG_GDOWN:
    case SW_MSG_GHELLO:
    case SW_MSG_GTRANSFER:
    case SW_MSG_GSTATS:
        return sw_group_local(d->groups, m, arity, buf, index);
    default:
        if (ei_decode_atom(buf, &tag_at, tag) != 0) return -1;
        if (tag[0] == 'g') return sw_group_local(d->groups, m, arity, buf, index);
        return -1;
    }
}

/* net_kernel's {'$gen_call', {From, Tag}, {is_auth, Node}}: answer yes, or
 * net_adm:ping from a BEAM node fails. Other net_kernel calls are dropped. */
static int handle_net_kernel(sw_dist_t *d, const char *peer, const char *buf, int *index) {
    (void)peer;
    int arity;
    char atom[MAXATOMLEN_UTF8];
    erlang_pid from;
    const char *tag;
    size_t tlen;
    if (ei_decode_tuple_header(buf, index, &arity) || arity != 3) return -1;
    if (ei_decode_atom(buf, index, atom) || strcmp(atom, "$gen_call") != 0) return -1;
    if (ei_decode_tuple_header(buf, index, &arity) || arity != 2) return -1;
    if (ei_decode_pid(buf, index, &from) || sw_term_dec_raw(buf, index, &tag, &tlen)) return -1;
    if (ei_decode_tuple_header(buf, index, &arity) || arity != 2) return -1;
    if (ei_decode_atom(buf, index, atom) || strcmp(atom, "is_auth") != 0) return -1;
    ei_x_encode_atom(begin_reply(d, tag, tlen), "yes");
    d->st.is_auth++;
    return send_reply(d, &from) == 0 ? 0 : -1;
}

/* On a C host, to swarm_agent: {'$sw1', agent_cnode_up, Beam} from Beam's
 * own agent (Beam == from), whose C node (re)started: dial it now. */
static int handle_agent(sw_dist_t *d, const char *from, const char *buf, int *index) {
    int arity;
    char atom[MAXATOMLEN_UTF8];
    if (ei_decode_tuple_header(buf, index, &arity) || arity != 3) return -1;
    if (ei_decode_atom(buf, index, atom) || strcmp(atom, SW_PROTO_TAG) != 0) return -1;
    if (sw_proto_decode(buf, index) != SW_MSG_AGENT_CNODE_UP) return -1;
    if (ei_decode_atom(buf, index, atom) || strcmp(atom, from) != 0) return -1;
    sw_tracker_redial(d->tracker, from);
    return 0;
}

/* The registered names this node answers to, and their handlers: a
 * REG_SEND to any other name is dropped (counted in unknown_msgs). */
typedef int (*name_handler_t)(sw_dist_t *d, const char *from, const char *buf, int *index);
static const struct {
    const char *name;
    name_handler_t handle;
} names[] = {
    {SW_SERVER_NAME, handle_swarm},
    {"net_kernel", handle_net_kernel},
    {"swarm_agent", handle_agent},
};

static name_handler_t name_handler(const char *name) {
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i].name) == 0) return names[i].handle;
    return NULL;
}

int sw_dist_takes_name(const char *name) { return name_handler(name) != NULL; }

int sw_dist_frame_check(const char *buf, size_t len, int *msg_at) {
    /* ei's decoders trust lengths inside terms, and some of ei recurses:
     * prove both terms fit in the frame and nest at most SW_TERM_MAX_DEPTH
     * levels before any of them runs. */
    int vi = 1;
    if (len < 2 || len > (size_t)INT32_MAX || (unsigned char)buf[0] != 131 ||
        sw_term_validate_depth(buf, len, &vi, SW_TERM_MAX_DEPTH) != 0)
        return -1;
    if ((size_t)vi < len) {
        int mi = vi + 1;
        if ((unsigned char)buf[vi] != 131 ||
            sw_term_validate_depth(buf, len, &mi, SW_TERM_MAX_DEPTH) != 0 || (size_t)mi != len)
            return -2;
    }
    *msg_at = vi;
    return 0;
}

void sw_dist_handle(sw_dist_t *d, const char *from, const char *buf, size_t len) {
    int msg_at;
    switch (sw_dist_frame_check(buf, len, &msg_at)) {
    case 0:
        sw_dist_handle_checked(d, from, buf, len);
        return;
    case -1:
        d->st.bad_ctrl++;
        SW_WARN("bad_control", "from=%s len=%zu", from, len);
        return;
    default:
        d->st.unknown_msgs++;
        SW_WARN("unknown_message", "from=%s to= len=%zu", from, len);
        return;
    }
}

void sw_dist_handle_local(sw_dist_t *d, const char *buf, size_t len) {
    int vi = 1, index = 1;
    if (len < 2 || len > (size_t)INT32_MAX || (unsigned char)buf[0] != 131 ||
        sw_term_validate_depth(buf, len, &vi, SW_TERM_MAX_DEPTH) != 0 || (size_t)vi != len ||
        handle_swarm(d, d->beam, buf, &index) != 0 || (size_t)index > len) {
        d->st.unknown_msgs++;
        SW_WARN("unknown_message", "from=%s to=%s len=%zu", d->beam, SW_SERVER_NAME, len);
    }
}

void sw_dist_handle_checked(sw_dist_t *d, const char *from, const char *buf, size_t len) {
    int index = 0, version, arity;
    long op;
    char toname[MAXATOMLEN_UTF8];
    erlang_pid topid, frompid;
    toname[0] = 0;
    if (ei_decode_version(buf, &index, &version) || ei_decode_tuple_header(buf, &index, &arity) ||
        arity < 1 || ei_decode_long(buf, &index, &op))
        goto bad_ctrl;

    switch (op) {
    case SW_DOP_SEND:
    case SW_DOP_SEND_TT:
        /* {2, Unused, ToPid}: only our server's pid exists here. */
        if (sw_term_skip(buf, &index) || ei_decode_pid(buf, &index, &topid)) goto bad_ctrl;
        if (op == SW_DOP_SEND_TT && sw_term_skip(buf, &index)) goto bad_ctrl;
        strcpy(toname, SW_SERVER_NAME);
        break;
    case SW_DOP_REG_SEND:
    case SW_DOP_REG_SEND_TT:
        /* {6, FromPid, Unused, ToName} */
        if (ei_decode_pid(buf, &index, &frompid) || sw_term_skip(buf, &index) ||
            ei_decode_atom(buf, &index, toname))
            goto bad_ctrl;
        if (op == SW_DOP_REG_SEND_TT && sw_term_skip(buf, &index)) goto bad_ctrl;
        break;
    case SW_DOP_LINK:
    case SW_DOP_UNLINK:
    case SW_DOP_EXIT:
    case SW_DOP_EXIT2:
    case SW_DOP_EXIT_TT:
    case SW_DOP_EXIT2_TT:
    case SW_DOP_MONITOR_P:
    case SW_DOP_DEMONITOR_P:
    case SW_DOP_MONITOR_P_EXIT:
    case SW_DOP_GROUP_LEADER:
    case SW_DOP_UNLINK_ID:
    case SW_DOP_UNLINK_ID_ACK:
    case SW_DOP_PAYLOAD_EXIT:
    case SW_DOP_PAYLOAD_EXIT_TT:
    case SW_DOP_PAYLOAD_EXIT2:
    case SW_DOP_PAYLOAD_EXIT2_TT:
    case SW_DOP_PAYLOAD_MONITOR_P_EXIT:
        d->st.ignored_ctrl++;
        SW_DEBUG("ignored_control", "from=%s op=%ld", from, op);
        return;
    default:
        d->st.unknown_msgs++;
        SW_WARN("unknown_control", "from=%s op=%ld", from, op);
        return;
    }

    /* The message term follows the control term. */
    if ((size_t)index >= len || ei_decode_version(buf, &index, &version)) goto bad_msg;
    {
        int mindex = index;
        name_handler_t handle = name_handler(toname);
        int r = handle ? handle(d, from, buf, &mindex) : -1;
        if (r != 0 || (size_t)mindex > len) goto bad_msg;
    }
    return;

bad_ctrl:
    d->st.bad_ctrl++;
    SW_WARN("bad_control", "from=%s len=%zu", from, len);
    return;
bad_msg:
    d->st.unknown_msgs++;
    SW_WARN("unknown_message", "from=%s to=%s len=%zu", from, toname, len);
}
