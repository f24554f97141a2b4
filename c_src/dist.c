/* dist.c - see dist.h. The frame layout is <<131, Ctrl, 131, Msg>> (no atom
 * cache: we never advertise DFLAG_DIST_HDR_ATOM_CACHE). */
#include "dist.h"

#include <string.h>

#include "log.h"
#include "swarm_proto.h"
#include "term.h"

/* Starts {Ref, Reply} in s->msg: the caller encodes Reply, then sends it
 * with sw_server_send_pid (the reply_* functions below). */
static ei_x_buff *begin_reply(sw_server_t *s, const char *ref, size_t rlen) {
    ei_x_buff *x = &s->msg;
    x->index = 0;
    ei_x_encode_version(x);
    ei_x_encode_tuple_header(x, 2);
    ei_x_append_buf(x, ref, (int)rlen);
    return x;
}

/* {Ref, Atom} to pid `to` (redirect, pong). */
static void reply_atom(sw_server_t *s, const erlang_pid *to, const char *ref, size_t rlen,
                       const char *atom) {
    ei_x_buff *x = begin_reply(s, ref, rlen);
    ei_x_encode_atom(x, atom);
    sw_server_send_pid(s, to, x->buff, (size_t)x->index);
}

/* {Ref, [{Counter, Value}]}: this node's counters, to pid `to`. */
static void reply_stats(sw_server_t *s, const erlang_pid *to, const char *ref, size_t rlen) {
    sw_node_stats_t ns;
    sw_tracker_stats_t ts;
    uint64_t log_written, log_suppressed;
    sw_node_stats(s->node, &ns);
    sw_tracker_stats(s->tracker, &ts);
    sw_log_counts(&log_written, &log_suppressed);
    const sw_counter_t kv[] = {
        {"frames_in", ns.frames_in},         {"frames_out", ns.frames_out},
        {"conns_backlog", ns.conns_backlog}, {"log_lines", log_written},
        {"log_suppressed", log_suppressed},
        {"bad_frames", ns.bad_frames},       {"conns_dropped", ns.conns_dropped},
        {"auth_failed", ns.auth_failed},     {"handshake_failed", ns.handshake_failed},
        {"msgs_in", s->st.msgs_in},          {"unknown_msgs", s->st.unknown_msgs},
        {"bad_ctrl", s->st.bad_ctrl},        {"ignored_ctrl", s->st.ignored_ctrl},
        {"names", ts.names},                 {"pids", ts.pids},
        {"reserved", ts.reserved},           {"bad_ops", ts.bad_ops},
        {"conflicts", ts.conflicts},         {"expired", ts.expired},
        {"members", ts.members},             {"told_to_die", ts.told_to_die},
        {"handoffs", ts.handoffs},           {"redirects", s->st.redirects},
        {"handoffs_failed", ts.handoffs_failed},
        {"stranger_ops", ts.stranger_ops},   {"atoms_refused", ts.atoms_refused},
        {"agent_resyncs", ts.agent_resyncs}, {"unreg_waits", ts.unreg_waits},
        {"synced", (uint64_t)sw_tracker_synced(s->tracker)},
    };
    ei_x_buff *x = begin_reply(s, ref, rlen);
    sw_term_enc_counters(x, kv, sizeof kv / sizeof kv[0]);
    sw_server_send_pid(s, to, x->buff, (size_t)x->index);
}

/* {'$sw1', reg, Caller, Ref, NameBin, Pid} (mfa_req 0) or {'$sw1', reg_mfa,
 * Caller, Ref, NameBin, MFABin, Mode} (mfa_req 1), from a caller on our own
 * BEAM node (from_beam) or, with direct_to_owner, on BEAM node `from`,
 * which takes this node for the name's owner: decided here if it is
 * (sw_tracker_takes_direct), else that caller is told {Ref, redirect},
 * straight back on the connection it came by, and asks its own C node. */
static int handle_reg(sw_server_t *s, const char *from, int from_beam, int mfa_req, int arity,
                      const char *buf, int *index) {
    erlang_pid caller, pid;
    const char *ref, *name, *mfa = NULL;
    size_t rlen, nlen;
    long mfalen = 0;
    char mode[MAXATOMLEN_UTF8];
    int type, size;
    /* reg may carry a seventh element, `retry`: see sw_tracker_register. */
    int retry = !mfa_req && arity == 7;
    if ((mfa_req ? arity != 7 : (arity != 6 && arity != 7)) || ei_decode_pid(buf, index, &caller) ||
        sw_term_dec_raw(buf, index, &ref, &rlen) ||
        sw_term_dec_ext_bin(buf, index, SW_MAX_NAME_BYTES, &name, &nlen))
        return -1;
    if (mfa_req) {
        if (ei_get_type(buf, index, &type, &size) || type != ERL_BINARY_EXT) return -1;
        mfa = buf + *index + 5;
        mfalen = size;
        *index += 5 + size;
        if (ei_decode_atom(buf, index, mode)) return -1;
    } else if (ei_decode_pid(buf, index, &pid)) {
        return -1;
    } else if (retry && (ei_decode_atom(buf, index, mode) || strcmp(mode, "retry") != 0)) {
        return -1;
    }
    if (!from_beam) {
        if (strcmp(caller.node, from) != 0) return -1; /* only its own callers */
        if (!sw_tracker_takes_direct(s->tracker, from, name, nlen)) {
            reply_atom(s, &caller, ref, rlen, "redirect");
            s->st.redirects++;
            return 0;
        }
    }
    /* A caller of another node may name a pid of any node: the node names
     * it brings are not interned at will (see sw_atoms_guard). */
    if (!from_beam) sw_tracker_guard_atoms(s->tracker, 1);
    if (mfa_req)
        sw_tracker_register_mfa(s->tracker, &caller, ref, rlen, name, nlen, mfa, (size_t)mfalen,
                                strcmp(mode, "whereis_or_register") == 0);
    else
        sw_tracker_register(s->tracker, &caller, ref, rlen, name, nlen, &pid, retry);
    sw_tracker_guard_atoms(s->tracker, 0);
    return 0;
}

/* A message for the swarm server. from_beam: it came over the connection to
 * our own BEAM node (agent or local caller); otherwise from a peer C node
 * (or, for reg and reg_mfa, from a caller on another BEAM node). */
static int handle_swarm(sw_server_t *s, const char *from, const char *buf, int *index) {
    int arity;
    char tag[MAXATOMLEN_UTF8];
    int from_beam = strcmp(from, s->beam) == 0;
    if (ei_decode_tuple_header(buf, index, &arity) != 0 || arity < 2) return -1;
    if (ei_decode_atom(buf, index, tag) != 0 || strcmp(tag, SW_PROTO_TAG) != 0) return -1;
    if (ei_decode_atom(buf, index, tag) != 0) return -1;
    s->st.msgs_in++;

    if (!from_beam) {
        if (strcmp(tag, "gops") == 0 && arity == 3) { /* groups: group.c */
            sw_group_peer_ops(s->groups, from, buf, index);
            return 0;
        }
        if (strcmp(tag, "ops") == 0 && arity == 3) {
            sw_tracker_peer_ops(s->tracker, from, buf, index);
            return 0;
        }
        /* direct_to_owner: a caller on another BEAM node. */
        if (strcmp(tag, "reg") == 0) return handle_reg(s, from, 0, 0, arity, buf, index);
        if (strcmp(tag, "reg_mfa") == 0) return handle_reg(s, from, 0, 1, arity, buf, index);
        return -1;
    }
    erlang_pid caller, pid;
    const char *ref, *name;
    size_t rlen, nlen;
    if (strcmp(tag, "reg") == 0) {
        return handle_reg(s, from, 1, 0, arity, buf, index);
    } else if (strcmp(tag, "reg_mfa") == 0) {
        return handle_reg(s, from, 1, 1, arity, buf, index);
    } else if (strcmp(tag, "started") == 0) {
        /* {'$sw1', started, [{Id, Pid | undefined, Result}]} from the agent,
         * which gathers its starters' results into one message. */
        int n, type, size;
        if (arity != 3 || ei_decode_list_header(buf, index, &n)) return -1;
        for (int k = 0; k < n; k++) {
            unsigned long long id;
            int tup;
            const char *res;
            size_t reslen;
            if (ei_decode_tuple_header(buf, index, &tup) || tup != 3 ||
                ei_decode_ulonglong(buf, index, &id) || ei_get_type(buf, index, &type, &size))
                return -1;
            int have_pid = type == ERL_NEW_PID_EXT || type == ERL_PID_EXT;
            if (have_pid ? ei_decode_pid(buf, index, &pid) : sw_term_skip(buf, index)) return -1;
            if (sw_term_dec_raw(buf, index, &res, &reslen)) return -1;
            sw_tracker_started(s->tracker, id, have_pid ? &pid : NULL, res, reslen);
        }
    } else if (strcmp(tag, "handoff") == 0) {
        /* {'$sw1', handoff, NameBin, Pid, restart | ignore | {resume, StateBin}}
         * from a helper of the agent: the process's begin_handoff answer. */
        int type, size, tup;
        char how[MAXATOMLEN_UTF8];
        const char *state = NULL;
        long statelen = 0;
        sw_handoff_t h;
        if (arity != 5 || sw_term_dec_ext_bin(buf, index, SW_MAX_NAME_BYTES, &name, &nlen) ||
            ei_decode_pid(buf, index, &pid) || ei_get_type(buf, index, &type, &size))
            return -1;
        if (type == ERL_SMALL_TUPLE_EXT) {
            if (ei_decode_tuple_header(buf, index, &tup) || tup != 2 || ei_decode_atom(buf, index, how) ||
                strcmp(how, "resume") != 0 || ei_get_type(buf, index, &type, &size) ||
                type != ERL_BINARY_EXT)
                return -1;
            state = buf + *index + 5;
            statelen = size;
            *index += 5 + size;
            h = SW_HANDOFF_RESUME;
        } else {
            if (ei_decode_atom(buf, index, how)) return -1;
            if (strcmp(how, "restart") == 0) h = SW_HANDOFF_RESTART;
            else if (strcmp(how, "ignore") == 0) h = SW_HANDOFF_IGNORE;
            else return -1;
        }
        sw_tracker_handoff_result(s->tracker, name, nlen, &pid, h, state, (size_t)statelen);
    } else if (strcmp(tag, "unreg") == 0) {
        if (arity != 5 || ei_decode_pid(buf, index, &caller) || sw_term_dec_raw(buf, index, &ref, &rlen) ||
            sw_term_dec_ext_bin(buf, index, SW_MAX_NAME_BYTES, &name, &nlen))
            return -1;
        sw_tracker_unregister(s->tracker, &caller, ref, rlen, name, nlen);
    } else if (strcmp(tag, "pid_down") == 0) {
        if (arity != 3 || ei_decode_pid(buf, index, &pid)) return -1;
        sw_tracker_pid_down(s->tracker, &pid);
    } else if (strcmp(tag, "peer_up") == 0) {
        char beam[MAXATOMLEN_UTF8], cnode[MAXATOMLEN_UTF8];
        if (arity != 4 || ei_decode_atom(buf, index, beam) || ei_decode_atom(buf, index, cnode))
            return -1;
        sw_tracker_peer_up(s->tracker, beam, cnode);
        sw_group_peer_up(s->groups, beam, cnode); /* groups */
    } else if (strcmp(tag, "peer_down") == 0) {
        char beam[MAXATOMLEN_UTF8];
        if (arity != 3 || ei_decode_atom(buf, index, beam)) return -1;
        sw_tracker_peer_down(s->tracker, beam);
        sw_group_peer_down(s->groups, beam); /* groups */
    } else if (strcmp(tag, "hello") == 0) {
        if (arity != 5 || ei_decode_pid(buf, index, &pid)) return -1;
        int gi = *index; /* groups: the peer list of the hello */
        if (sw_tracker_hello(s->tracker, &pid, buf, index) != 0) return -1;
        sw_group_agent_hello(s->groups, buf, gi);
        s->agent = pid;
        s->have_agent = 1;
        SW_INFO("agent_hello", "agent=<%u.%u>", pid.num, pid.serial);
    } else if (strcmp(tag, "ping") == 0) {
        /* {'$sw1', ping, Caller, Ref} -> {Ref, pong}: the cheapest round
         * trip through this node (benchmarks' ceiling; liveness checks). */
        if (arity != 4 || ei_decode_pid(buf, index, &caller) || sw_term_dec_raw(buf, index, &ref, &rlen))
            return -1;
        reply_atom(s, &caller, ref, rlen, "pong");
    } else if (strcmp(tag, "stats") == 0) {
        if (arity != 4 || ei_decode_pid(buf, index, &caller) || sw_term_dec_raw(buf, index, &ref, &rlen))
            return -1;
        reply_stats(s, &caller, ref, rlen);
    } else if (tag[0] == 'g') { /* groups: gjoin, gleave, gdown, ghello, ... (group.c) */
        if (sw_group_local(s->groups, tag, arity, buf, index) != 0) return -1;
    } else {
        return -1;
    }
    return 0;
}

/* net_kernel's {'$gen_call', {From, Tag}, {is_auth, Node}}: answer yes, or
 * net_adm:ping from a BEAM node fails. Other net_kernel calls are dropped. */
static int handle_net_kernel(sw_server_t *s, const char *buf, int *index) {
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
    ei_x_buff *x = &s->msg;
    x->index = 0;
    ei_x_encode_version(x);
    ei_x_encode_tuple_header(x, 2);
    ei_x_append_buf(x, tag, (int)tlen);
    ei_x_encode_atom(x, "yes");
    s->st.is_auth++;
    return sw_server_send_pid(s, &from, x->buff, (size_t)x->index) == 0 ? 0 : -1;
}

void sw_dist_handle(sw_server_t *s, const char *from, const char *buf, size_t len) {
    int index = 0, version, arity;
    long op;
    char toname[MAXATOMLEN_UTF8];
    erlang_pid topid, frompid;
    /* ei's decoders trust lengths inside terms, and some of ei recurses:
     * prove both terms fit in the frame and nest at most SW_TERM_MAX_DEPTH
     * levels before any of them runs. */
    int vi = 1;
    if (len < 2 || len > (size_t)INT32_MAX || (unsigned char)buf[0] != 131 ||
        sw_term_validate_depth(buf, len, &vi, SW_TERM_MAX_DEPTH) != 0)
        goto bad_ctrl;
    if ((size_t)vi < len) {
        int mi = vi + 1;
        if ((unsigned char)buf[vi] != 131 ||
            sw_term_validate_depth(buf, len, &mi, SW_TERM_MAX_DEPTH) != 0 || (size_t)mi != len) {
            toname[0] = 0;
            goto bad_msg;
        }
    }
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
        s->st.ignored_ctrl++;
        SW_DEBUG("ignored_control", "from=%s op=%ld", from, op);
        return;
    default:
        s->st.unknown_msgs++;
        SW_WARN("unknown_control", "from=%s op=%ld", from, op);
        return;
    }

    /* The message term follows the control term. */
    if ((size_t)index >= len || ei_decode_version(buf, &index, &version)) goto bad_msg;
    {
        int mindex = index;
        int r;
        if (strcmp(toname, SW_SERVER_NAME) == 0) r = handle_swarm(s, from, buf, &mindex);
        else if (strcmp(toname, "net_kernel") == 0) r = handle_net_kernel(s, buf, &mindex);
        else r = -1;
        if (r != 0 || (size_t)mindex > len) goto bad_msg;
    }
    return;

bad_ctrl:
    s->st.bad_ctrl++;
    SW_WARN("bad_control", "from=%s len=%zu", from, len);
    return;
bad_msg:
    s->st.unknown_msgs++;
    SW_WARN("unknown_message", "from=%s to=%s len=%zu", from, toname, len);
}
