/* sim_cluster.c - the simulated cluster and its faults; see sim_cluster.h. */
#include "sim_cluster.h"

#include <ei.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "sim_codec.h"
#include "swarm_proto.h"
#include "term.h"

void sc_violation(sc_t *sc, const char *fmt, ...) {
    if (sc->violations++ < sc->show) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "\n  violation: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
    }
}

/* ---- agent -> C node events ---------------------------------------------- */

static void ev_push(sc_node_t *nd, int kind, int arg) {
    sc_ev_t *e = calloc(1, sizeof *e);
    if (!e) abort();
    e->kind = kind;
    e->arg = arg;
    if (nd->aq.tail) nd->aq.tail->next = e;
    else nd->aq.head = e;
    nd->aq.tail = e;
    nd->aq.n++;
}

static sc_ev_t *ev_pop(sc_node_t *nd) {
    sc_ev_t *e = nd->aq.head;
    if (!e) return NULL;
    nd->aq.head = e->next;
    if (!nd->aq.head) nd->aq.tail = NULL;
    nd->aq.n--;
    return e;
}

static void ev_clear(sc_node_t *nd) {
    sc_ev_t *e;
    while ((e = ev_pop(nd)) != NULL) free(e);
}

/* ---- faults: what is in flight is lost ----------------------------------- */

/* A fault: a new phase, not a connected one, and the callers of requests
 * still unanswered may have lost them (they rely on their call timeout). */
static void fault(sc_t *sc) {
    sc->faults++;
    sc->phase++;
    sc->connected = 0;
    for (int r = 0; r < sc->nreq; r++)
        if (!sc->req[sc->req[r].first].done) sc->req[r].exempt = 1;
}

/* ---- requests and replies ------------------------------------------------ */

static void after_call(sc_t *sc);

static int node_of_cnode(const sc_t *sc, const char *cnode) {
    for (int i = 0; i < sc->n; i++)
        if (strcmp(cnode_name(i), cnode) == 0) return i;
    return -1;
}

static int new_copy(sc_t *sc, int kind, int node, int name, sc_pid_t pid, int whereis, int first) {
    if (sc->nreq == SC_MAXREQ) return -1;
    int r = sc->nreq++;
    sc_req_t *q = &sc->req[r];
    memset(q, 0, sizeof *q);
    q->kind = (uint8_t)kind;
    q->node = (uint8_t)node;
    q->name = (int16_t)name;
    q->pid = pid;
    q->whereis = (uint8_t)whereis;
    q->first = first < 0 ? r : first;
    q->phase = first < 0 ? sc->phase : sc->req[first].phase;
    q->rpid = -1;
    /* Made while a fault is in place: its reply may be lost without a link
     * change the caller hears of (see test_sim.c, I3). */
    if (sc->cuts || sc->degraded) q->exempt = 1;
    sc->req[q->first].copies++;
    return r;
}

/* Sends copy r through the caller's own C node, or straight to node
 * `direct`'s C node. */
static void send_copy(sc_t *sc, int r, int direct) {
    sc_req_t *q = &sc->req[r];
    sc_node_t *nd = &sc->nd[q->node];
    if (direct >= 0 && direct != q->node) {
        q_push(&sc->dq[q->node][direct], (const char *)&r, sizeof r);
        return;
    }
    if (!nd->t) { /* its C node is down: the request is lost */
        q->exempt = 1;
        return;
    }
    erlang_pid caller = mkpid(q->node, SC_CALLER_NUM + (unsigned)r);
    char ref[16];
    int rl = 0;
    ei_encode_ulonglong(ref, &rl, (unsigned long long)r);
    size_t nlen, mlen;
    erlang_pid p = sc_epid(q->pid >= 0 ? q->pid : 0);
    if (sc->trace) fprintf(stderr, "request #%d (first #%d) kind %d at %d name %d pid %d%s\n", r, q->first,
                           q->kind, q->node, q->name, q->pid, q->retry ? " retry" : "");
    switch (q->kind) {
    case RQ_REG: {
        const char *nb = sc_name_bytes(q->name, &nlen);
        sw_tracker_register(nd->t, &caller, ref, (size_t)rl, nb, nlen, &p, q->retry);
        break;
    }
    case RQ_UNREG: {
        const char *nb = sc_name_bytes(q->name, &nlen);
        sw_tracker_unregister(nd->t, &caller, ref, (size_t)rl, nb, nlen);
        break;
    }
    case RQ_MFA: {
        const char *nb = sc_name_bytes(q->name, &nlen);
        const char *mb = sc_mfa_bytes(q->name, &mlen);
        sw_tracker_register_mfa(nd->t, &caller, ref, (size_t)rl, nb, nlen, mb, mlen, q->whereis);
        break;
    }
    default: {
        const char *gb = sc_group_bytes(q->name, &nlen);
        if (q->kind == RQ_JOIN) sw_group_join(nd->g, &caller, ref, (size_t)rl, gb, nlen, &p);
        else sw_group_leave(nd->g, &caller, ref, (size_t)rl, gb, nlen, &p);
    }
    }
    after_call(sc);
}

int sc_reg(sc_t *sc, int node, int name, sc_pid_t pid, int direct) {
    int r = new_copy(sc, RQ_REG, node, name, pid, 0, -1);
    if (r >= 0) send_copy(sc, r, direct);
    return r;
}

int sc_reg_mfa(sc_t *sc, int node, int name, int whereis, int direct) {
    int r = new_copy(sc, RQ_MFA, node, name, -1, whereis, -1);
    if (r >= 0) send_copy(sc, r, direct);
    return r;
}

int sc_unreg(sc_t *sc, int node, int name) {
    int r = new_copy(sc, RQ_UNREG, node, name, -1, 0, -1);
    if (r >= 0) send_copy(sc, r, -1);
    return r;
}

int sc_join(sc_t *sc, int node, int group, sc_pid_t pid, int leave) {
    int r = new_copy(sc, leave ? RQ_LEAVE : RQ_JOIN, node, group, pid, 0, -1);
    if (r >= 0) send_copy(sc, r, -1);
    return r;
}

static int copy_of(sc_t *sc, int first, int retry) {
    const sc_req_t *f = &sc->req[first];
    if (f->copies >= SC_MAXCOPIES) return -1;
    int r = new_copy(sc, f->kind, f->node, f->name, f->pid, f->whereis, first);
    if (r < 0) return -1;
    sc->req[r].retry = (uint8_t)(retry && f->kind == RQ_REG);
    send_copy(sc, r, -1);
    return r;
}

int sc_resend(sc_t *sc, int first) { return copy_of(sc, first, 1); }

/* A reply reached the caller of copy r on node `node`. */
static void got_reply(sc_t *sc, int node, const erlang_pid *caller, unsigned long long r,
                      const char *result, sc_pid_t rpid) {
    if (r >= (unsigned long long)sc->nreq) {
        sc_violation(sc, "reply to unknown request %llu", r);
        return;
    }
    sc_req_t *q = &sc->req[r];
    if (q->node != node || caller->num != SC_CALLER_NUM + r || pid_node(caller) != node) {
        sc_violation(sc, "reply of request #%llu reached the wrong caller (node %d)", r, node);
        return;
    }
    if (++q->replies > 1) {
        sc_violation(sc, "request #%llu (kind %d, name %d) answered %d times", r, q->kind, q->name,
                     q->replies);
        return;
    }
    snprintf(q->result, sizeof q->result, "%.23s", result);
    q->rpid = rpid;
    if (sc->trace) fprintf(stderr, "reply #%llu at %d: %s %d\n", r, node, result, rpid);
    if (strcmp(result, "redirect") == 0) {
        /* The owner did not take it: the caller asks its own C node, if
         * this answers its latest copy (swarm:request/6 takes no other
         * answer than a success from an earlier one). */
        int latest = 1;
        for (int c = (int)r + 1; c < sc->nreq; c++) latest &= sc->req[c].first != q->first;
        if (latest) copy_of(sc, q->first, 0);
        return;
    }
    sc->req[q->first].done = 1;
    if (sc->on_reply) sc->on_reply(sc, (int)r);
}

/* ---- the agent model ----------------------------------------------------- */

static void kill_pid(sc_t *sc, sc_pid_t p, int kind) {
    sc_node_t *nd = &sc->nd[p / SC_PIDS];
    int num = p % SC_PIDS;
    if (nd->dead[num] || !nd->beam_up) return;
    if (sc->trace) fprintf(stderr, "%s %d\n", kind == EV_PID_CRASH ? "crash" : "kill", p);
    nd->dead[num] = 1;
    for (int k = 0; k < SC_NAMES; k++)
        if (nd->rep[k] == p) {
            ev_push(nd, kind, p);
            break;
        }
    if (nd->gmon[num]) ev_push(nd, EV_GDOWN, p);
}

void sc_kill(sc_t *sc, sc_pid_t p) { kill_pid(sc, p, EV_PID_DOWN); }

void sc_crash(sc_t *sc, sc_pid_t p) { kill_pid(sc, p, EV_PID_CRASH); }

void sc_leave(sc_t *sc, int i, int mode) {
    sc_node_t *nd = &sc->nd[i];
    if (!nd->beam_up) return;
    if (sc->trace) fprintf(stderr, "leave %d mode %d\n", i, mode);
    fault(sc); /* the members change: owners differ for a while */
    nd->leaving = mode;
    if (!nd->t) return;
    sw_tracker_leave(nd->t, (sw_leave_t)mode, NULL, NULL, 0);
    after_call(sc);
}

static void agent_pending(sc_t *sc, sc_node_t *nd, sc_pending_t *v, int *n, uint64_t id, int name,
                          sc_pid_t pid) {
    if (*n == SC_MAXPEND) {
        sc_violation(sc, "node %d: more than %d starts or handoffs pending", nd->id, SC_MAXPEND);
        return;
    }
    v[*n].id = id;
    v[*n].name = name;
    v[*n].pid = pid;
    (*n)++;
}

/* One op of {'$sw1', batch, Ops, Replies}. */
static int agent_op(sc_t *sc, sc_node_t *nd, const char *buf, int *index) {
    int arity;
    char op[MAXATOMLEN_UTF8];
    erlang_pid ep, ew;
    if (ei_decode_tuple_header(buf, index, &arity) || ei_decode_atom(buf, index, op)) return -1;
    if (strcmp(op, "add") == 0 || strcmp(op, "del") == 0) {
        int k = sc_dec_worker(buf, index);
        if (k < 0 || ei_decode_pid(buf, index, &ep)) return -1;
        if (arity == 4 && ei_skip_term(buf, index)) return -1;
        sc_pid_t p = sc_pid_of(&ep);
        if (op[0] == 'a') {
            nd->rep[k] = p;
            nd->rep_mfa[k] = arity == 4;
            nd->shadow[k] = 1;
            /* The agent monitors a local pid it learns of: a dead one is
             * reported at once. */
            if (p / SC_PIDS == nd->id && sc_proc_dead(sc, p)) ev_push(nd, EV_PID_DOWN, p);
        } else {
            if (nd->rep[k] == p) nd->rep[k] = -1;
            else sc_violation(sc, "node %d: agent told to delete %d -> %d, holds %d", nd->id, k, p, nd->rep[k]);
            nd->shadow[k] = 0;
            if (p / SC_PIDS == nd->id && sc->on_home_del) sc->on_home_del(sc, k, p);
        }
        return 0;
    }
    if (strcmp(op, "start") == 0) {
        unsigned long long id;
        if (ei_decode_ulonglong(buf, index, &id) || ei_skip_term(buf, index)) return -1;
        agent_pending(sc, nd, nd->starts, &nd->nstarts, id, -1, -1);
        return 0;
    }
    if (strcmp(op, "handoff") == 0) {
        int k = sc_dec_namebin(buf, index, 0);
        if (k < 0 || ei_decode_pid(buf, index, &ep)) return -1;
        agent_pending(sc, nd, nd->handoffs, &nd->nhandoffs, 0, k, sc_pid_of(&ep));
        return 0;
    }
    if (strcmp(op, "die") == 0 || strcmp(op, "resolve") == 0) {
        /* The loser of a conflict, or a handed-off process: it exits. */
        /* {die, Pid}, {resolve, Loser, Winner, NameBin} */
        if (ei_decode_pid(buf, index, &ep) || (arity == 4 && (ei_decode_pid(buf, index, &ew) ||
                                                             ei_skip_term(buf, index))))
            return -1;
        sc_pid_t p = sc_pid_of(&ep);
        if (arity == 4) {
            /* A conflict's loser offers its state to the winner: never to
             * a process that got it already by a handoff. */
            sc_pid_t w = sc_pid_of(&ew);
            if (p >= 0 && w >= 0 && sc->nd[w / SC_PIDS].got_state[w % SC_PIDS] == p + 1 &&
                !nd->unsure[p % SC_PIDS])
                sc_violation(sc, "node %d: pid %d's state offered twice to pid %d (handoff, then conflict)",
                             nd->id, p, w);
        }
        if (p / SC_PIDS != nd->id) sc_violation(sc, "node %d told to stop a process of node %d", nd->id, p / SC_PIDS);
        else sc_kill(sc, p);
        return 0;
    }
    if (strcmp(op, "resolve_cast") == 0) {
        /* Only on a resolve_state from a loser's helper: none here. */
        return ei_decode_pid(buf, index, &ep) || ei_skip_term(buf, index) ? -1 : 0;
    }
    if (strcmp(op, "end_handoff") == 0) {
        /* The state is the handed-off pid, as "s<pid>" (answer_handoff). */
        char st[16] = {0};
        long sl = 0;
        int ty, sz, from;
        if (ei_decode_pid(buf, index, &ep) || ei_get_type(buf, index, &ty, &sz) || ty != ERL_BINARY_EXT ||
            sz >= (int)sizeof st || ei_decode_binary(buf, index, st, &sl) || sscanf(st, "s%d", &from) != 1)
            return -1;
        sc_pid_t p = sc_pid_of(&ep);
        if (p / SC_PIDS != nd->id) sc_violation(sc, "node %d given the state of a process of node %d", nd->id, p / SC_PIDS);
        else nd->got_state[p % SC_PIDS] = (int16_t)(from + 1);
        return 0;
    }
    return -1;
}

static void agent_batch(sc_t *sc, sc_node_t *nd, const char *buf, int *index) {
    int n;
    if (ei_decode_list_header(buf, index, &n)) goto bad;
    for (int k = 0; k < n; k++)
        if (agent_op(sc, nd, buf, index)) goto bad;
    if (n && ei_skip_term(buf, index)) goto bad;
    if (ei_decode_list_header(buf, index, &n)) goto bad;
    for (int k = 0; k < n; k++) {
        int arity;
        erlang_pid caller;
        unsigned long long ref;
        char res[24];
        sc_pid_t rpid;
        if (ei_decode_tuple_header(buf, index, &arity) || arity != 3 || ei_decode_pid(buf, index, &caller) ||
            ei_decode_ulonglong(buf, index, &ref) || sc_dec_result(buf, index, res, sizeof res, &rpid))
            goto bad;
        got_reply(sc, nd->id, &caller, ref, res, rpid);
    }
    return;
bad:
    sc_violation(sc, "node %d: malformed batch to the agent", nd->id);
}

/* {links}: every caller of this node still waiting sends its request again. */
static void agent_links(sc_t *sc, sc_node_t *nd) {
    int n = sc->nreq;
    for (int r = 0; r < n; r++) {
        const sc_req_t *q = &sc->req[r];
        if (q->first == r && q->node == nd->id && !q->done) copy_of(sc, r, 1);
    }
}

static void t_emit(void *ud, sw_dest_t dest, const char *cnode, const char *buf, size_t len) {
    sc_node_t *nd = ud;
    sc_t *sc = nd->sc;
    if (sw_term_validate_ext(buf, len) != 0) {
        sc_violation(sc, "node %d emitted a malformed term", nd->id);
        return;
    }
    if (dest == SW_DEST_PEER) {
        int j = node_of_cnode(sc, cnode);
        if (j < 0 || !sc->up[nd->id][j]) {
            sc_violation(sc, "node %d sends to %s over a connection it does not have", nd->id, cnode);
            return;
        }
        if (!sc->cut[nd->id][j]) q_push(&sc->q[nd->id][j], buf, len);
        return;
    }
    if (!nd->beam_up) return;
    int index, arity;
    char tag[MAXATOMLEN_UTF8];
    if (dec_envelope(buf, &index, &arity, tag) != 0) {
        sc_violation(sc, "node %d: message to the agent without envelope", nd->id);
        return;
    }
    if (strcmp(tag, "batch") == 0) {
        agent_batch(sc, nd, buf, &index);
    } else if (strcmp(tag, "synced") == 0) {
        /* end_shadow: what the new C node did not confirm is dropped. */
        if (nd->shadow_on)
            for (int k = 0; k < SC_NAMES; k++)
                if (!nd->shadow[k]) nd->rep[k] = -1;
        nd->shadow_on = 0;
        nd->synced++;
    } else if (strcmp(tag, "links") == 0) {
        agent_links(sc, nd);
    } else if (strcmp(tag, "ring") != 0) {
        sc_violation(sc, "node %d: unknown message %s to the agent", nd->id, tag);
    }
}

/* ---- swarm_groups model -------------------------------------------------- */

static int gbatch(sc_t *sc, sc_node_t *nd, const char *buf, int *index) {
    int n, tup;
    if (ei_decode_list_header(buf, index, &n)) return -1;
    for (int k = 0; k < n; k++) {
        unsigned long ck;
        int m;
        if (ei_decode_tuple_header(buf, index, &tup) || tup != 3) return -1;
        int g = sc_dec_namebin(buf, index, 1);
        if (g < 0 || ei_decode_ulong(buf, index, &ck) || ei_decode_tuple_header(buf, index, &m)) return -1;
        if (ck >= SC_CHUNKS || m > SW_GROUP_CHUNK) return -1;
        nd->chunk_len[g][ck] = m;
        nd->gshadow[g][ck] = 1;
        for (int j = 0; j < m; j++) {
            erlang_pid p;
            if (ei_decode_pid(buf, index, &p)) return -1;
            nd->chunk[g][ck][j] = sc_pid_of(&p);
        }
    }
    if (n && ei_skip_term(buf, index)) return -1;
    if (ei_decode_list_header(buf, index, &n)) return -1;
    for (int k = 0; k < n; k++) {
        char op[MAXATOMLEN_UTF8];
        erlang_pid ep;
        if (ei_decode_tuple_header(buf, index, &tup) || tup != 2 || ei_decode_atom(buf, index, op) ||
            ei_decode_pid(buf, index, &ep))
            return -1;
        if (strcmp(op, "mon") != 0) continue; /* {hello, Holder} */
        sc_pid_t p = sc_pid_of(&ep);
        if (p / SC_PIDS != nd->id) return -1;
        if (sc_proc_dead(sc, p)) ev_push(nd, EV_GDOWN, p); /* the monitor fires at once */
        else nd->gmon[p % SC_PIDS] = 1;
    }
    if (n && ei_skip_term(buf, index)) return -1;
    if (ei_decode_list_header(buf, index, &n)) return -1;
    for (int k = 0; k < n; k++) {
        erlang_pid caller;
        unsigned long long ref;
        char res[MAXATOMLEN_UTF8];
        if (ei_decode_tuple_header(buf, index, &tup) || tup != 3 || ei_decode_pid(buf, index, &caller) ||
            ei_decode_ulonglong(buf, index, &ref) || ei_decode_atom(buf, index, res))
            return -1;
        got_reply(sc, nd->id, &caller, ref, res, -1);
    }
    return 0;
}

static void g_emit(void *ud, const char *cnode, const erlang_pid *to, const char *buf, size_t len) {
    sc_node_t *nd = ud;
    sc_t *sc = nd->sc;
    if (cnode) {
        int j = node_of_cnode(sc, cnode);
        if (j < 0) sc_violation(sc, "groups of node %d send to unknown %s", nd->id, cnode);
        else if (sc->up[nd->id][j] && !sc->cut[nd->id][j]) q_push(&sc->q[nd->id][j], buf, len);
        return;
    }
    if (!nd->beam_up) return;
    int index, arity;
    char tag[MAXATOMLEN_UTF8];
    if (dec_envelope(buf, &index, &arity, tag) != 0) {
        sc_violation(sc, "node %d: message to swarm_groups without envelope", nd->id);
    } else if (strcmp(tag, "gbatch") == 0) {
        if (gbatch(sc, nd, buf, &index) != 0) sc_violation(sc, "node %d: malformed gbatch", nd->id);
    } else if (strcmp(tag, "gsynced") == 0) {
        /* end_shadow: chunks the new C node did not send again are gone. */
        for (int g = 0; nd->gshadow_on && g < SC_GROUPS; g++)
            for (int k = 0; k < SC_CHUNKS; k++)
                if (!nd->gshadow[g][k]) nd->chunk_len[g][k] = 0;
        nd->gshadow_on = 0;
    } else {
        sc_violation(sc, "node %d: unknown message %s to swarm_groups", nd->id, tag);
    }
}

/* ---- env callbacks -------------------------------------------------------- */

static void env_req(sc_node_t *nd, const char *cnode, int connect) {
    sc_t *sc = nd->sc;
    int j = node_of_cnode(sc, cnode);
    if (j < 0 || sc->npend == (int)(sizeof sc->pend / sizeof sc->pend[0])) {
        sc_violation(sc, "node %d: connection request to %s not carried out", nd->id, cnode);
        return;
    }
    sc->pend[sc->npend].from = nd->id;
    sc->pend[sc->npend].to = j;
    sc->pend[sc->npend].connect = connect;
    sc->npend++;
}

static void env_connect(void *ud, const char *cnode) { env_req(ud, cnode, 1); }
static void env_disconnect(void *ud, const char *cnode) { env_req(ud, cnode, 0); }

static int env_connected(void *ud, const char *cnode) {
    sc_node_t *nd = ud;
    int j = node_of_cnode(nd->sc, cnode);
    return j >= 0 && nd->sc->up[nd->id][j];
}

/* A process restarted elsewhere rejoins the old one's groups (group_io.c). */
static void env_restarted(void *ud, const erlang_pid *old_pid, const erlang_pid *new_pid) {
    sc_node_t *nd = ud;
    if (nd->g) sw_group_transfer(nd->g, old_pid, new_pid);
}

/* ---- connections ------------------------------------------------------------ */

static void side_down(sc_t *sc, int i, int j) {
    if (!sc->up[i][j]) return;
    sc->up[i][j] = 0;
    if (sc->nd[i].t) sw_tracker_conn_down(sc->nd[i].t, cnode_name(j));
    if (sc->nd[i].g) sw_group_conn_down(sc->nd[i].g, cnode_name(j));
}

static void close_link(sc_t *sc, int i, int j) {
    if (sc->trace) fprintf(stderr, "link %d-%d closed (%d, %d lost)\n", i, j, sc->q[i][j].n, sc->q[j][i].n);
    q_clear(&sc->q[i][j]);
    q_clear(&sc->q[j][i]);
    side_down(sc, i, j);
    side_down(sc, j, i);
}

static void open_link(sc_t *sc, int i, int j) {
    if (!sc->nd[i].t || !sc->nd[j].t || sc->up[i][j] || sc->up[j][i] || sc->cut[i][j] || sc->cut[j][i]) return;
    if (sc->trace) fprintf(stderr, "link %d-%d up\n", i, j);
    sc->up[i][j] = sc->up[j][i] = 1;
    sw_tracker_conn_up(sc->nd[i].t, cnode_name(j));
    sw_group_conn_up(sc->nd[i].g, cnode_name(j));
    sw_tracker_conn_up(sc->nd[j].t, cnode_name(i));
    sw_group_conn_up(sc->nd[j].g, cnode_name(i));
}

static void flush_all(sc_t *sc) {
    for (int i = 0; i < sc->n; i++) {
        if (sc->nd[i].t) sw_tracker_flush(sc->nd[i].t, t_emit, &sc->nd[i]);
        if (sc->nd[i].g) sw_group_flush(sc->nd[i].g, g_emit, &sc->nd[i]);
    }
}

/* Carries out the connect/disconnect requests of the last call and flushes
 * every node, until no new request comes (bounded). */
static void after_call(sc_t *sc) {
    for (int round = 0; round < 64; round++) {
        flush_all(sc);
        if (!sc->npend) return;
        int n = sc->npend;
        typeof(sc->pend[0]) p[64];
        memcpy(p, sc->pend, (size_t)n * sizeof p[0]);
        sc->npend = 0;
        for (int k = 0; k < n; k++) {
            if (p[k].connect) open_link(sc, p[k].from, p[k].to);
            else close_link(sc, p[k].from, p[k].to);
        }
    }
    sc_violation(sc, "connection requests do not settle");
}

/* ---- the cluster ------------------------------------------------------------ */

sc_t *sc_new(int n, uint64_t seed, unsigned quorum) {
    sc_t *sc = calloc(1, sizeof *sc);
    if (!sc) abort();
    sc->n = n;
    sc->rng = seed;
    sc->now = 1000;
    sc->quorum = quorum;
    for (int i = 0; i < n; i++) {
        sc_node_t *nd = &sc->nd[i];
        nd->sc = sc;
        nd->id = i;
        nd->env.connect = env_connect;
        nd->env.disconnect = env_disconnect;
        nd->env.connected = env_connected;
        nd->env.restarted = env_restarted;
        nd->beam_up = 1;
        nd->next_num = SC_FIRST_STARTED;
        for (int k = 0; k < SC_NAMES; k++) nd->rep[k] = -1;
    }
    return sc;
}

void sc_free(sc_t *sc) {
    for (int i = 0; i < sc->n; i++) {
        sw_tracker_free(sc->nd[i].t);
        sw_group_free(sc->nd[i].g);
        ev_clear(&sc->nd[i]);
        for (int j = 0; j < sc->n; j++) {
            q_clear(&sc->q[i][j]);
            q_clear(&sc->dq[i][j]);
        }
    }
    free(sc);
}

void sc_cnode_start(sc_t *sc, int i) {
    sc_node_t *nd = &sc->nd[i];
    nd->t = sw_tracker_new(beam_name(i), cnode_name(i), &nd->env, nd);
    nd->g = sw_group_new(beam_name(i));
    if (!nd->t || !nd->g) abort();
    sw_group_set_connected(nd->g, env_connected, nd);
    if (sc->quorum) sw_tracker_set_ring(nd->t, sc->quorum, 0);
    sw_tracker_set_restart(nd->t, (sw_restart_t)sc->restart_policy, (unsigned)sc->restart_intensity,
                           1000);
    sw_tracker_tick(nd->t, sc->now);
    sw_group_tick(nd->g, sc->now);
}

void sc_hello(sc_t *sc, int i) { ev_push(&sc->nd[i], EV_HELLO, 0); }

/* The agent's hello and swarm_groups' ghello (sim_codec.h), given to the
 * new C node; the replicas begin their shadow. */
static void do_hello(sc_t *sc, sc_node_t *nd) {
    ei_x_buff x;
    ei_x_new(&x);
    int index = sc_enc_hello(sc, nd, &x);
    int names_at = index;
    erlang_pid agent = mkpid(nd->id, SC_AGENT_NUM);
    /* begin_shadow: the replica is checked against what the C node
     * confirms before synced. */
    nd->shadow_on = 0;
    for (int k = 0; k < SC_NAMES; k++) {
        nd->shadow[k] = 0;
        nd->shadow_on |= nd->rep[k] >= 0;
    }
    if (sw_tracker_hello(nd->t, &agent, x.buff, &index) != 0) sc_violation(sc, "hello refused");
    if (nd->leaving) sw_tracker_leave(nd->t, (sw_leave_t)nd->leaving, NULL, NULL, 0);
    sw_group_agent_hello(nd->g, x.buff, names_at);
    after_call(sc);

    sc_enc_ghello(sc, nd, &x);
    memset(nd->gmon, 0, sizeof nd->gmon);
    memset(nd->gshadow, 0, sizeof nd->gshadow);
    nd->gshadow_on = 1;
    int arity;
    char tag[MAXATOMLEN_UTF8];
    if (dec_envelope(x.buff, &index, &arity, tag) != 0 || sw_group_local(nd->g, sw_proto_lookup(tag), arity, x.buff, &index) != 0)
        sc_violation(sc, "ghello refused");
    ei_x_free(&x);
    after_call(sc);
}

void sc_cnode_crash(sc_t *sc, int i) {
    sc_node_t *nd = &sc->nd[i];
    if (!nd->t) return;
    fault(sc);
    if (sc->trace) fprintf(stderr, "C node %d crashes\n", i);
    for (int j = 0; j < sc->n; j++) {
        if (j == i) continue;
        q_clear(&sc->dq[j][i]);
        sc->up[i][j] = 0;
        q_clear(&sc->q[i][j]);
        q_clear(&sc->q[j][i]);
    }
    sw_tracker_free(nd->t);
    sw_group_free(nd->g);
    /* Known gap: the records by which a new owner tells an old home that
     * a handoff ended (sw_tr_handed_greet) die with its C node; an old
     * home that also lost its connection mid-handoff then takes the new
     * process for a conflict's winner and offers it the state again. */
    memset(nd->got_state, 0, sizeof nd->got_state);
    /* Likewise an old home's records of its moves: a third node's word of
     * the conflict may then come before the new owner's of the end. */
    for (int k = 0; k < SC_PIDS; k++)
        if (nd->moving[k]) nd->unsure[k] = 1;
    nd->t = NULL;
    nd->g = NULL;
    ev_clear(nd);
    for (int j = 0; j < sc->n; j++)
        if (j != i) side_down(sc, j, i);
    after_call(sc);
}

void sc_beam_death(sc_t *sc, int i) {
    sc_node_t *nd = &sc->nd[i];
    if (!nd->beam_up) return;
    sc_cnode_crash(sc, i);
    fault(sc);
    if (sc->trace) fprintf(stderr, "BEAM node %d dies\n", i);
    nd->beam_up = 0;
    nd->nstarts = nd->nhandoffs = 0;
    for (int j = 0; j < sc->n; j++) {
        q_clear(&sc->dq[i][j]);
        nd->known[j] = 0;
        if (j == i || !sc->nd[j].beam_up) continue;
        sc->nd[j].known[i] = 0;
        ev_push(&sc->nd[j], EV_PEER_DOWN, i);
    }
}

void sc_link_drop(sc_t *sc, int i, int j) {
    if (!sc->up[i][j] && !sc->up[j][i]) return;
    fault(sc);
    close_link(sc, i, j);
    after_call(sc);
}

void sc_cut_oneway(sc_t *sc, int i, int j) {
    if (sc->cut[i][j] || !sc->up[i][j] || !sc->up[j][i]) return;
    fault(sc);
    if (sc->trace) fprintf(stderr, "cut %d -> %d\n", i, j);
    sc->cut[i][j] = 1;
    sc->cuts++;
    q_clear(&sc->q[i][j]);
    side_down(sc, j, i);
    after_call(sc);
}

void sc_heal_cuts(sc_t *sc) {
    if (!sc->cuts) return;
    sc->phase++;
    for (int i = 0; i < sc->n; i++)
        for (int j = 0; j < sc->n; j++)
            if (sc->cut[i][j]) {
                sc->cut[i][j] = 0;
                close_link(sc, i, j);
            }
    sc->cuts = 0;
    after_call(sc);
}

void sc_beam_cut(sc_t *sc, int a, int b, int both) {
    if (!sc->nd[a].beam_up || !sc->nd[b].beam_up) return;
    fault(sc);
    if (sc->trace) fprintf(stderr, "BEAM cut %d %s %d\n", a, both ? "<->" : "doesn't see", b);
    if (sc->nd[a].known[b]) {
        sc->nd[a].known[b] = 0;
        ev_push(&sc->nd[a], EV_PEER_DOWN, b);
    }
    if (both && sc->nd[b].known[a]) {
        sc->nd[b].known[a] = 0;
        ev_push(&sc->nd[b], EV_PEER_DOWN, a);
    }
}

void sc_beam_heal(sc_t *sc, int a, int b) {
    if (!sc->nd[a].beam_up || !sc->nd[b].beam_up) return;
    sc->phase++;
    if (!sc->nd[a].known[b]) {
        sc->nd[a].known[b] = 1;
        ev_push(&sc->nd[a], EV_PEER_UP, b);
    }
    if (!sc->nd[b].known[a]) {
        sc->nd[b].known[a] = 1;
        ev_push(&sc->nd[b], EV_PEER_UP, a);
    }
}

/* ---- delivery --------------------------------------------------------------- */

static void deliver_peer(sc_t *sc, int i, int j) {
    msg_t *m = q_pop(&sc->q[i][j]);
    sc_node_t *to = &sc->nd[j];
    int index, arity;
    char tag[MAXATOMLEN_UTF8];
    if (!to->t || !sc->up[j][i]) goto out; /* the receiver closed its side */
    if (dec_envelope(m->buf, &index, &arity, tag) != 0 || arity != 3) {
        sc_violation(sc, "%d -> %d: malformed message", i, j);
        goto out;
    }
    if (sc->trace) {
        char *s = NULL;
        int ix = index;
        if (ei_s_print_term(&s, m->buf, &ix) >= 0) fprintf(stderr, "deliver %d->%d %s %s\n", i, j, tag, s);
        free(s);
    }
    if (strcmp(tag, "ops") == 0) {
        sw_tracker_stats_t a, b;
        sw_tracker_stats(to->t, &a);
        int skipped = sw_tracker_peer_ops(to->t, cnode_name(i), m->buf, &index);
        sw_tracker_stats(to->t, &b);
        if (skipped || b.bad_ops != a.bad_ops)
            sc_violation(sc, "%d -> %d: %d ops refused (%llu bad)", i, j, skipped,
                         (unsigned long long)(b.bad_ops - a.bad_ops));
    } else if (strcmp(tag, "gops") == 0) {
        int skipped = sw_group_peer_ops(to->g, cnode_name(i), m->buf, &index);
        if (skipped) sc_violation(sc, "%d -> %d: %d group ops refused", i, j, skipped);
    } else {
        sc_violation(sc, "%d -> %d: unknown envelope %s", i, j, tag);
    }
out:
    free(m);
    after_call(sc);
}

/* A request a caller on BEAM node c sent straight to C node x (dist.c's
 * handle_reg): taken if sw_tracker_takes_direct, else {Ref, redirect}. */
static void deliver_direct(sc_t *sc, int c, int x) {
    msg_t *m = q_pop(&sc->dq[c][x]);
    int r;
    memcpy(&r, m->buf, sizeof r);
    free(m);
    sc_req_t *q = &sc->req[r];
    sw_tracker_t *t = sc->nd[x].t;
    if (!t || !sc->nd[c].beam_up) { /* lost with the node */
        q->exempt = 1;
        return;
    }
    erlang_pid caller = mkpid(c, SC_CALLER_NUM + (unsigned)r);
    size_t nlen, mlen;
    const char *nb = sc_name_bytes(q->name, &nlen);
    if (!sw_tracker_takes_direct(t, beam_name(c), nb, nlen)) {
        got_reply(sc, c, &caller, (unsigned long long)r, "redirect", -1);
        return;
    }
    char ref[16];
    int rl = 0;
    ei_encode_ulonglong(ref, &rl, (unsigned long long)r);
    sw_tracker_guard_atoms(t, 1);
    if (q->kind == RQ_MFA) {
        const char *mb = sc_mfa_bytes(q->name, &mlen);
        sw_tracker_register_mfa(t, &caller, ref, (size_t)rl, nb, nlen, mb, mlen, q->whereis);
    } else {
        erlang_pid p = sc_epid(q->pid);
        sw_tracker_register(t, &caller, ref, (size_t)rl, nb, nlen, &p, 0);
    }
    sw_tracker_guard_atoms(t, 0);
    after_call(sc);
}

static void deliver_event(sc_t *sc, int i) {
    sc_node_t *nd = &sc->nd[i];
    sc_ev_t *e = ev_pop(nd);
    if (sc->trace) fprintf(stderr, "event %d at %d (%d)\n", e->kind, i, e->arg);
    if (nd->t) {
        erlang_pid p = sc_epid(e->arg);
        switch (e->kind) {
        case EV_PID_DOWN: sw_tracker_pid_down(nd->t, &p); break;
        case EV_PID_CRASH: sw_tracker_pid_exit(nd->t, &p, 1); break;
        case EV_GDOWN: sw_group_pid_down(nd->g, &p); break;
        case EV_PEER_UP:
            sw_tracker_peer_up(nd->t, beam_name(e->arg), cnode_name(e->arg));
            sw_group_peer_up(nd->g, beam_name(e->arg), cnode_name(e->arg));
            break;
        case EV_PEER_DOWN:
            sw_tracker_peer_down(nd->t, beam_name(e->arg));
            sw_group_peer_down(nd->g, beam_name(e->arg));
            break;
        default: do_hello(sc, nd); break;
        }
        after_call(sc);
    }
    free(e);
}

/* The agent answers pending start k: a new process (4 in 5) or an error. */
static void answer_start(sc_t *sc, sc_node_t *nd, int k) {
    uint64_t id = nd->starts[k].id;
    nd->starts[k] = nd->starts[--nd->nstarts];
    if (!nd->t) return; /* the port is gone: the answer is lost */
    char res[64];
    int rl = 0;
    if (splitmix(&sc->rng) % 5 != 0 && nd->next_num < SC_PIDS) {
        erlang_pid ep = mkpid(nd->id, (unsigned)nd->next_num++);
        ei_encode_tuple_header(res, &rl, 2);
        ei_encode_atom(res, &rl, "ok");
        ei_encode_pid(res, &rl, &ep);
        if (sc->trace) fprintf(stderr, "start %llu at %d: pid %u\n", (unsigned long long)id, nd->id, ep.num);
        sw_tracker_started(nd->t, id, &ep, res, (size_t)rl);
    } else {
        ei_encode_tuple_header(res, &rl, 2);
        ei_encode_atom(res, &rl, "error");
        ei_encode_atom(res, &rl, "boom");
        if (sc->trace) fprintf(stderr, "start %llu at %d fails\n", (unsigned long long)id, nd->id);
        sw_tracker_started(nd->t, id, NULL, res, (size_t)rl);
    }
    after_call(sc);
}

/* The agent answers pending handoff k with the process's begin_handoff
 * reply: {resume, State}, restart or ignore (a dead one: restart). */
static void answer_handoff(sc_t *sc, sc_node_t *nd, int k) {
    sc_pending_t h = nd->handoffs[k];
    nd->handoffs[k] = nd->handoffs[--nd->nhandoffs];
    if (!nd->t) return;
    uint64_t x = splitmix(&sc->rng) % 3;
    sw_handoff_t how = sc_proc_dead(sc, h.pid) || x == 0 ? SW_HANDOFF_RESTART
                       : x == 1                        ? SW_HANDOFF_RESUME
                                                       : SW_HANDOFF_IGNORE;
    if (how != SW_HANDOFF_IGNORE && h.pid >= 0) nd->moving[h.pid % SC_PIDS] = 1;
    size_t nl;
    const char *nb = sc_name_bytes(h.name, &nl);
    char state[16]; /* which process's state it is: see agent_op's end_handoff */
    size_t sl = (size_t)snprintf(state, sizeof state, "s%d", h.pid);
    erlang_pid ep = sc_epid(h.pid);
    if (sc->trace) fprintf(stderr, "handoff of %d (name %d) at %d: %d\n", h.pid, h.name, nd->id, how);
    sw_tracker_handoff_result(nd->t, nb, nl, &ep, how, how == SW_HANDOFF_RESUME ? state : NULL,
                              how == SW_HANDOFF_RESUME ? sl : 0);
    after_call(sc);
}

int sc_step(sc_t *sc) {
    enum { PEER, DIRECT, EVENT, START, HANDOFF };
    struct {
        uint8_t kind, i, j;
    } cand[SC_MAXN * SC_MAXN * 2 + SC_MAXN * 3];
    int nc = 0;
    for (int i = 0; i < sc->n; i++) {
        for (int j = 0; j < sc->n; j++) {
            if (sc->q[i][j].n) cand[nc].kind = PEER, cand[nc].i = (uint8_t)i, cand[nc++].j = (uint8_t)j;
            if (sc->dq[i][j].n) cand[nc].kind = DIRECT, cand[nc].i = (uint8_t)i, cand[nc++].j = (uint8_t)j;
        }
        if (sc->nd[i].aq.n) cand[nc].kind = EVENT, cand[nc++].i = (uint8_t)i;
        if (sc->nd[i].nstarts) cand[nc].kind = START, cand[nc++].i = (uint8_t)i;
        if (sc->nd[i].nhandoffs) cand[nc].kind = HANDOFF, cand[nc++].i = (uint8_t)i;
    }
    if (!nc) return 0;
    int k = (int)(splitmix(&sc->rng) % (uint64_t)nc);
    sc_node_t *nd = &sc->nd[cand[k].i];
    switch (cand[k].kind) {
    case PEER: deliver_peer(sc, cand[k].i, cand[k].j); break;
    case DIRECT: deliver_direct(sc, cand[k].i, cand[k].j); break;
    case EVENT: deliver_event(sc, cand[k].i); break;
    case START: answer_start(sc, nd, (int)(splitmix(&sc->rng) % (uint64_t)nd->nstarts)); break;
    default: answer_handoff(sc, nd, (int)(splitmix(&sc->rng) % (uint64_t)nd->nhandoffs)); break;
    }
    sc->steps++;
    return 1;
}

void sc_tick(sc_t *sc, uint64_t dt) {
    sc->now += dt;
    for (int i = 0; i < sc->n; i++) {
        if (sc->nd[i].t) sw_tracker_tick(sc->nd[i].t, sc->now);
        if (sc->nd[i].g) sw_group_tick(sc->nd[i].g, sc->now);
    }
    after_call(sc);
}

int sc_quiet(const sc_t *sc) {
    for (int i = 0; i < sc->n; i++) {
        const sc_node_t *nd = &sc->nd[i];
        if (nd->aq.n || nd->nstarts || nd->nhandoffs) return 0;
        for (int j = 0; j < sc->n; j++)
            if (sc->q[i][j].n || sc->dq[i][j].n) return 0;
    }
    return 1;
}
