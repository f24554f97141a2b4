/* tracker_msg.c - see tracker_msg.h. Each decoder reads the elements after
 * the tag in order, branches once to -1 on anything unexpected, and calls
 * the tracker only once the whole message is decoded (started excepted: its
 * entries are independent and applied one by one). */
#include "tracker_msg.h"

#include <string.h>

#include "proto.h"
#include "swarm_proto.h"
#include "term.h"

/* A binary's bytes in place: *p at its first byte, *len its size. */
static int dec_bin_in_place(const char *buf, int *index, const char **p, long *len) {
    int type, size;
    if (ei_get_type(buf, index, &type, &size) || type != ERL_BINARY_EXT) return -1;
    *p = buf + *index + 5;
    *len = size;
    *index += 5 + size;
    return 0;
}

/* {'$sw1', reg, Caller, Ref, NameBin, Pid} or with a seventh element,
 * `retry` (see sw_tracker_register); {'$sw1', reg_mfa, Caller, Ref,
 * NameBin, MFABin, register | whereis_or_register}. from: NULL for a caller
 * of our own BEAM node, else that caller's node (direct_to_owner). */
static int reg(sw_tracker_t *t, const sw_tracker_msg_env_t *env, const char *from, int m,
               int arity, const char *buf, int *index) {
    erlang_pid caller, pid;
    const char *ref, *name, *mfa = NULL;
    size_t rlen, nlen;
    long mfalen = 0;
    int mfa_req = m == SW_MSG_REG_MFA, mode = -1;
    int retry = !mfa_req && arity == 7;
    if ((mfa_req ? arity != 7 : (arity != 6 && arity != 7)) || ei_decode_pid(buf, index, &caller) ||
        sw_term_dec_raw(buf, index, &ref, &rlen) ||
        sw_term_dec_ext_bin(buf, index, SW_MAX_NAME_BYTES, &name, &nlen))
        return -1;
    if (mfa_req) {
        /* Any mode other than whereis_or_register is register. */
        if (dec_bin_in_place(buf, index, &mfa, &mfalen) || (mode = sw_proto_decode(buf, index)) == -2)
            return -1;
    } else if (ei_decode_pid(buf, index, &pid)) {
        return -1;
    } else if (retry && sw_proto_decode(buf, index) != SW_MSG_RETRY) {
        return -1;
    }
    if (from) {
        if (strcmp(caller.node, from) != 0) return -1; /* only its own callers */
        if (!sw_tracker_takes_direct(t, from, name, nlen)) {
            env->redirect(env->ud, &caller, ref, rlen);
            return 0;
        }
        /* A caller of another node may name a pid of any node: the node
         * names it brings are not interned at will (see sw_atoms_guard). */
        sw_tracker_guard_atoms(t, 1);
    }
    if (mfa_req)
        sw_tracker_register_mfa(t, &caller, ref, rlen, name, nlen, mfa, (size_t)mfalen,
                                mode == SW_MSG_WHEREIS_OR_REGISTER);
    else
        sw_tracker_register(t, &caller, ref, rlen, name, nlen, &pid, retry);
    sw_tracker_guard_atoms(t, 0);
    return 0;
}

/* {'$sw1', started, [{Id, Pid | undefined, Result}]} from the agent, which
 * gathers its starters' results into one message. */
static int started(sw_tracker_t *t, int arity, const char *buf, int *index) {
    int n, type, size;
    if (arity != 3 || ei_decode_list_header(buf, index, &n)) return -1;
    for (int k = 0; k < n; k++) {
        unsigned long long id;
        int tup;
        erlang_pid pid;
        const char *res;
        size_t reslen;
        if (ei_decode_tuple_header(buf, index, &tup) || tup != 3 ||
            ei_decode_ulonglong(buf, index, &id) || ei_get_type(buf, index, &type, &size))
            return -1;
        int have_pid = type == ERL_NEW_PID_EXT || type == ERL_PID_EXT;
        if (have_pid ? ei_decode_pid(buf, index, &pid) : sw_term_skip(buf, index)) return -1;
        if (sw_term_dec_raw(buf, index, &res, &reslen)) return -1;
        sw_tracker_started(t, id, have_pid ? &pid : NULL, res, reslen);
    }
    return 0;
}

/* {'$sw1', handoff, NameBin, Pid, restart | ignore | {resume, StateBin}}
 * from a helper of the agent: the process's begin_handoff answer. */
static int handoff(sw_tracker_t *t, int arity, const char *buf, int *index) {
    int type, size, tup;
    const char *name, *state = NULL;
    size_t nlen;
    long statelen = 0;
    erlang_pid pid;
    sw_handoff_t h;
    if (arity != 5 || sw_term_dec_ext_bin(buf, index, SW_MAX_NAME_BYTES, &name, &nlen) ||
        ei_decode_pid(buf, index, &pid) || ei_get_type(buf, index, &type, &size))
        return -1;
    if (type == ERL_SMALL_TUPLE_EXT) {
        if (ei_decode_tuple_header(buf, index, &tup) || tup != 2 ||
            sw_proto_decode(buf, index) != SW_MSG_RESUME ||
            dec_bin_in_place(buf, index, &state, &statelen))
            return -1;
        h = SW_HANDOFF_RESUME;
    } else {
        switch (sw_proto_decode(buf, index)) {
        case SW_MSG_RESTART: h = SW_HANDOFF_RESTART; break;
        case SW_MSG_IGNORE: h = SW_HANDOFF_IGNORE; break;
        default: return -1;
        }
    }
    sw_tracker_handoff_result(t, name, nlen, &pid, h, state, (size_t)statelen);
    return 0;
}

int sw_tracker_msg_is_local(int m) {
    switch (m) {
    case SW_MSG_REG:
    case SW_MSG_REG_MFA:
    case SW_MSG_REG_OPT:
    case SW_MSG_RESOLVE_STATE:
    case SW_MSG_UNREG:
    case SW_MSG_STARTED:
    case SW_MSG_HANDOFF:
    case SW_MSG_PID_DOWN:
    case SW_MSG_PEER_UP:
    case SW_MSG_PEER_DOWN:
    case SW_MSG_HELLO:
    case SW_MSG_LEAVING:
    case SW_MSG_REJOIN:
    case SW_MSG_MOVE:
        return 1;
    default:
        return 0;
    }
}

int sw_tracker_msg_local(sw_tracker_t *t, const sw_tracker_msg_env_t *env, int m, int arity,
                         const char *buf, int *index) {
    erlang_pid caller, pid;
    const char *ref, *name;
    size_t rlen, nlen;
    char beam[MAXATOMLEN_UTF8], cnode[MAXATOMLEN_UTF8];
    switch (m) {
    case SW_MSG_REG:
    case SW_MSG_REG_MFA:
        return reg(t, env, NULL, m, arity, buf, index);
    case SW_MSG_REG_OPT:
        /* {'$sw1', reg_opt, NameBin, Pid} */
        if (arity != 4 || sw_term_dec_ext_bin(buf, index, SW_MAX_NAME_BYTES, &name, &nlen) ||
            ei_decode_pid(buf, index, &pid))
            return -1;
        sw_tracker_register_opt(t, name, nlen, &pid);
        return 0;
    case SW_MSG_RESOLVE_STATE: {
        /* {'$sw1', resolve_state, NameBin, Winner, StateBin} */
        const char *state;
        long slen;
        if (arity != 5 || sw_term_dec_ext_bin(buf, index, SW_MAX_NAME_BYTES, &name, &nlen) ||
            ei_decode_pid(buf, index, &pid) || dec_bin_in_place(buf, index, &state, &slen))
            return -1;
        sw_tracker_resolve_state(t, name, nlen, &pid, state, (size_t)slen);
        return 0;
    }
    case SW_MSG_STARTED:
        return started(t, arity, buf, index);
    case SW_MSG_HANDOFF:
        return handoff(t, arity, buf, index);
    case SW_MSG_UNREG:
        /* {'$sw1', unreg, Caller, Ref, NameBin} */
        if (arity != 5 || ei_decode_pid(buf, index, &caller) || sw_term_dec_raw(buf, index, &ref, &rlen) ||
            sw_term_dec_ext_bin(buf, index, SW_MAX_NAME_BYTES, &name, &nlen))
            return -1;
        sw_tracker_unregister(t, &caller, ref, rlen, name, nlen);
        return 0;
    case SW_MSG_PID_DOWN:
        /* {'$sw1', pid_down, Pid} or {'$sw1', pid_down, Pid, crash} */
        if ((arity != 3 && arity != 4) || ei_decode_pid(buf, index, &pid) ||
            (arity == 4 && sw_proto_decode(buf, index) != SW_MSG_CRASH))
            return -1;
        sw_tracker_pid_exit(t, &pid, arity == 4);
        return 0;
    case SW_MSG_LEAVING: {
        /* {'$sw1', leaving, Caller, Ref, handoff | stop} */
        int mode;
        if (arity != 5 || ei_decode_pid(buf, index, &caller) || sw_term_dec_raw(buf, index, &ref, &rlen) ||
            (mode = sw_proto_decode(buf, index)) == -2 || (mode != SW_MSG_HANDOFF && mode != SW_MSG_STOP))
            return -1;
        sw_tracker_leave(t, mode == SW_MSG_STOP ? SW_LEAVE_STOP : SW_LEAVE_HANDOFF, &caller, ref, rlen);
        return 0;
    }
    case SW_MSG_REJOIN:
        /* {'$sw1', rejoin, Caller, Ref} */
        if (arity != 4 || ei_decode_pid(buf, index, &caller) || sw_term_dec_raw(buf, index, &ref, &rlen))
            return -1;
        sw_tracker_leave(t, SW_LEAVE_NONE, &caller, ref, rlen);
        return 0;
    case SW_MSG_MOVE: {
        /* {'$sw1', move, Caller, Ref, NameBin, StateBin} */
        const char *state;
        long statelen;
        if (arity != 6 || ei_decode_pid(buf, index, &caller) || sw_term_dec_raw(buf, index, &ref, &rlen) ||
            sw_term_dec_ext_bin(buf, index, SW_MAX_NAME_BYTES, &name, &nlen) ||
            dec_bin_in_place(buf, index, &state, &statelen))
            return -1;
        sw_tracker_move(t, &caller, ref, rlen, name, nlen, state, (size_t)statelen);
        return 0;
    }
    case SW_MSG_PEER_UP:
        /* {'$sw1', peer_up, BeamNode, CNode} */
        if (arity != 4 || ei_decode_atom(buf, index, beam) || ei_decode_atom(buf, index, cnode))
            return -1;
        sw_tracker_peer_up(t, beam, cnode);
        env->peer_up(env->ud, beam, cnode);
        return 0;
    case SW_MSG_PEER_DOWN:
        /* {'$sw1', peer_down, BeamNode} */
        if (arity != 3 || ei_decode_atom(buf, index, beam)) return -1;
        sw_tracker_peer_down(t, beam);
        env->peer_down(env->ud, beam);
        return 0;
    case SW_MSG_HELLO: {
        /* {'$sw1', hello, Agent, Names, Peers} */
        if (arity != 5 || ei_decode_pid(buf, index, &pid)) return -1;
        int names = *index;
        if (sw_tracker_hello(t, &pid, buf, index) != 0) return -1;
        env->agent_hello(env->ud, &pid, buf, names);
        return 0;
    }
    default:
        return -1;
    }
}

int sw_tracker_msg_direct(sw_tracker_t *t, const sw_tracker_msg_env_t *env, const char *from,
                          int m, int arity, const char *buf, int *index) {
    if (m != SW_MSG_REG && m != SW_MSG_REG_MFA) return -1;
    return reg(t, env, from, m, arity, buf, index);
}
