/* test_tracker.c - CUnit suite of tracker.c, run in a deterministic, seeded
 * simulation of 2..5 nodes inside one process.
 *
 * The simulator. Each node is a tracker (its C node), an agent model (its
 * BEAM node's swarm_agent: a replica name -> pid fed by the tracker's
 * batches, the replies its callers received, a monitor of local processes)
 * and a set of processes that are alive or dead. A network holds one FIFO
 * queue per ordered pair of C nodes; sw_tracker_flush's SW_DEST_PEER output
 * is appended to it, and a delivery decodes the {'$sw1', ops, List} envelope
 * and calls sw_tracker_peer_ops on the receiver. The agent's messages to its
 * C node (pid_down, peer_up, peer_down, hello) go through one more FIFO per
 * node. Each step a seeded PRNG picks one non-empty queue and delivers its
 * head: connections interleave arbitrarily but each stays FIFO, as TCP does.
 * The tracker's env->connect/disconnect requests are carried out right after
 * the call that made them (conn_up/conn_down on both ends).
 *
 * Invariants checked after every scenario reaches quiescence (no message in
 * flight): every tracker and every agent replica hold the same name -> pid
 * map, no reservation is left, dead processes hold no name, every request
 * got exactly one reply (when no node died), a `yes` reached a caller only
 * after its node's replica showed the name (read your writes), and the
 * agent stream never deleted what the replica did not hold.
 *
 * Properties: (a) single node register/lookup/unregister; (b) 200 names
 * registered concurrently from 3 nodes: exactly one yes each, same winner
 * everywhere; (c) read-your-writes at the moment a yes arrives, with owner,
 * home and caller on three different nodes; (d) pid_down at the home removes
 * the names everywhere, also for claims still in flight; (e) a BEAM node's
 * death removes its names everywhere, whether the I/O layer drops or still
 * delivers what its C node sent last, and when that C node lingers and dials
 * again; a BEAM partition drops the far side's names and the heal brings them
 * back; (f) a C node restart (with claims in flight) rebuilds from the agent
 * and converges, dead processes' names gone, the survivors' names still
 * removable by kill and unregister; (g) a late joiner gets the whole registry
 * and `synced` (also by peer_down of the awaited peers, or the timeout);
 * (h) 200 seeds of random register/unregister/kill mixes converge with every
 * request answered once, and 2 x 100 seeds mixing in C node crashes/restarts
 * and BEAM partitions converge; (i) malformed ops are counted and skipped;
 * (j) a reservation whose home never answers expires, and the late claim is
 * refused; several expire oldest first, each at its deadline; (k) a pid
 * with hundreds of names, removed by unregister in random order, by its
 * death and by its node's death.
 *
 * Debugging: SW_SIM_SEED=N (with SW_SIM_TRACE=1: every step on stderr) runs
 * only seed N of (h)'s random schedules, SW_SIM_CHURN_SEED=N (and
 * SW_SIM_NO_CUTS=1 for the crash-only kind) one churn schedule;
 * SW_SIM_RANDOM_SEEDS / SW_SIM_CHURN_SEEDS run more seeds. */
#include <CUnit/Basic.h>
#include <ei.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sim.h"
#include "swarm_proto.h"
#include "term.h"
#include "atoms.h"
#include "tracker.h"

#define MAXN SIM_MAXN
#define MAXNAMES 1024
#define MAXPROCS 64       /* worker processes per node: pid nums 1..MAXPROCS-1 */
#define CALLER_NUM 1000   /* callers are pids <CALLER_NUM + k> */
#define AGENT_NUM 999

/* SW_SIM_TRACE=1 in the environment prints every step (for debugging a
 * failing seed). */
static int trace;

static void trace_term(const char *what, const char *buf, int index) {
    char *out = NULL;
    if (!trace) return;
    if (ei_s_print_term(&out, buf, &index) >= 0) fprintf(stderr, "%s %s\n", what, out);
    free(out);
}

/* ---- names and pids ---------------------------------------------------- */

typedef struct {
    char *bytes; /* term_to_binary({worker, I}), with 131 */
    size_t len;
} name_t;

static name_t names[MAXNAMES];

/* NameBin of {worker, I}. */
static const name_t *nm(int i) {
    name_t *n = &names[i];
    if (!n->bytes) n->bytes = tagged_bin("worker", i, &n->len);
    return n;
}

/* The I of a {worker, I} term at buf[*index]; -1 if it is not one. */
static int dec_name_id(const char *buf, int *index) {
    int arity;
    char atom[MAXATOMLEN_UTF8];
    long i;
    if (ei_decode_tuple_header(buf, index, &arity) || arity != 2 || ei_decode_atom(buf, index, atom) ||
        strcmp(atom, "worker") != 0 || ei_decode_long(buf, index, &i) || i < 0 || i >= MAXNAMES)
        return -1;
    return (int)i;
}

/* ---- the simulation ---------------------------------------------------- */

enum { EV_PID_DOWN, EV_PEER_UP, EV_PEER_DOWN, EV_HELLO };

typedef struct ev_s {
    struct ev_s *next;
    int kind;
    erlang_pid pid; /* EV_PID_DOWN */
    int peer;       /* EV_PEER_UP / EV_PEER_DOWN */
} ev_t;

typedef struct {
    ev_t *head, *tail;
    int n;
} evq_t;

/* One request made by a caller: ref = its index. */
enum { REQ_REG, REQ_UNREG };
typedef struct {
    int kind, node, name;
    erlang_pid pid, caller;
    int replies;
    char result[16];
    long issued_at; /* sim->adds when the request was made */
} req_t;

typedef struct {
    int present;
    erlang_pid pid;
    int shadow; /* noted since the last hello (swarm_agent's shadow table) */
} rentry_t;

typedef struct sim_s sim_t;

typedef struct {
    sim_t *sim;
    int id;
    sw_tracker_t *t; /* NULL while the C node is down */
    sw_tracker_env_t env;
    int beam_up;     /* the BEAM node (and its agent) runs */
    int known[MAXN]; /* peers this agent knows to run swarm */
    /* agent model */
    rentry_t rep[MAXNAMES];
    int shadow_on;
    int synced_msgs;
    int links_msgs;  /* {links}: a peer connection went or came */
    int batches;
    long last_add[MAXNAMES]; /* sim->adds at the last add of each name */
    int bad_dels;  /* a del the replica did not hold: the stream is inconsistent */
    int ryw_fail;  /* a yes before the replica showed the name */
    int drops;     /* {drop, ...}: caller rows refused (optimistic mode) */
    int told[MAXPROCS]; /* {die, Pid} per process num */
    /* processes: dead[num] */
    unsigned char dead[MAXPROCS];
    evq_t aq; /* agent -> C node */
} node_t;

enum { LINK_DOWN = 0, LINK_UP, LINK_DRAIN };

struct sim_s {
    int n;
    node_t nd[MAXN];
    int link[MAXN][MAXN]; /* symmetric */
    queue_t q[MAXN][MAXN];
    struct {
        int from, to, connect;
    } pend[256];
    int npend;
    uint64_t rng;
    uint64_t now;
    req_t *reqs;
    int nreqs, reqcap;
    long steps;
    /* Options. late: env->disconnect lets what is already queued in both
     * directions arrive before conn_down (an I/O layer that reads what came
     * before the FIN) instead of dropping it. strict_ryw: a yes requires the
     * replica to hold exactly that pid when the batch is applied (for
     * scenarios without deletes). Otherwise the replica must have shown the
     * pair at some point at or before the reply, or have moved past it: an
     * add of that name applied after the request was made (the process died
     * and another took the name, and that news came by another connection
     * before the home's; the home's older add is then rightly ignored). */
    int late;
    int strict_ryw;
    int no_ryw; /* read-your-writes not checked (views change: failure mode 1) */
    /* (name, pid) pairs ever added, per node, for the weak read-your-writes
     * check. */
    struct {
        int node, name;
        erlang_pid pid;
    } *added;
    int nadded, addcap;
    long adds; /* adds applied by all agents so far */
};

static node_t *node_by_cnode(sim_t *s, const char *cnode) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(cnode_name(i), cnode) == 0) return &s->nd[i];
    return NULL;
}

static void ev_push(node_t *nd, int kind, const erlang_pid *pid, int peer) {
    ev_t *e = calloc(1, sizeof *e);
    e->kind = kind;
    if (pid) e->pid = *pid;
    e->peer = peer;
    if (nd->aq.tail) nd->aq.tail->next = e;
    else nd->aq.head = e;
    nd->aq.tail = e;
    nd->aq.n++;
}

static ev_t *ev_pop(node_t *nd) {
    ev_t *e = nd->aq.head;
    if (!e) return NULL;
    nd->aq.head = e->next;
    if (!nd->aq.head) nd->aq.tail = NULL;
    nd->aq.n--;
    return e;
}

static void ev_clear(node_t *nd) {
    ev_t *e;
    while ((e = ev_pop(nd)) != NULL) free(e);
}

/* ---- env callbacks: recorded, carried out after the call returns ------- */

static void env_connect(void *ud, const char *cnode) {
    node_t *nd = ud;
    sim_t *s = nd->sim;
    node_t *to = node_by_cnode(s, cnode);
    CU_ASSERT_PTR_NOT_NULL_FATAL(to);
    CU_ASSERT_FATAL(s->npend < 256);
    s->pend[s->npend].from = nd->id;
    s->pend[s->npend].to = to->id;
    s->pend[s->npend].connect = 1;
    s->npend++;
}

static void env_disconnect(void *ud, const char *cnode) {
    node_t *nd = ud;
    sim_t *s = nd->sim;
    node_t *to = node_by_cnode(s, cnode);
    CU_ASSERT_PTR_NOT_NULL_FATAL(to);
    CU_ASSERT_FATAL(s->npend < 256);
    s->pend[s->npend].from = nd->id;
    s->pend[s->npend].to = to->id;
    s->pend[s->npend].connect = 0;
    s->npend++;
}

static int env_connected(void *ud, const char *cnode) {
    node_t *nd = ud;
    node_t *to = node_by_cnode(nd->sim, cnode);
    return to && nd->sim->link[nd->id][to->id] == LINK_UP;
}

/* ---- the agent model --------------------------------------------------- */

static void note_added(sim_t *s, int node, int name, const erlang_pid *pid) {
    for (int i = s->nadded - 1; i >= 0; i--)
        if (s->added[i].node == node && s->added[i].name == name && pid_eq(&s->added[i].pid, pid))
            return;
    if (s->nadded == s->addcap) {
        s->addcap = s->addcap ? 2 * s->addcap : 256;
        s->added = realloc(s->added, (size_t)s->addcap * sizeof *s->added);
    }
    s->added[s->nadded].node = node;
    s->added[s->nadded].name = name;
    s->added[s->nadded].pid = *pid;
    s->nadded++;
}

static int was_added(const sim_t *s, int node, int name, const erlang_pid *pid) {
    for (int i = 0; i < s->nadded; i++)
        if (s->added[i].node == node && s->added[i].name == name && pid_eq(&s->added[i].pid, pid))
            return 1;
    return 0;
}

static int proc_dead(const sim_t *s, const erlang_pid *p) {
    int n = pid_node(p);
    if (n < 0 || n >= s->n) return 1;
    if (!s->nd[n].beam_up) return 1;
    return p->num < MAXPROCS && s->nd[n].dead[p->num];
}

/* {'$sw1', batch, Ops, Replies}: ops first, then replies, as swarm_agent
 * does. Adds of local pids are monitored: a dead one is reported at once. */
static void agent_batch(node_t *nd, const char *buf, int *index) {
    sim_t *s = nd->sim;
    int n;
    char atom[MAXATOMLEN_UTF8];
    CU_ASSERT_FATAL(ei_decode_list_header(buf, index, &n) == 0);
    for (int k = 0; k < n; k++) {
        int arity;
        erlang_pid pid;
        CU_ASSERT_FATAL(ei_decode_tuple_header(buf, index, &arity) == 0 && (arity == 2 || arity == 3));
        CU_ASSERT_FATAL(ei_decode_atom(buf, index, atom) == 0);
        if (arity == 2) {
            /* {die, Pid}: a conflict's loser (optimistic mode) is told. */
            CU_ASSERT_FATAL(strcmp(atom, "die") == 0 && ei_decode_pid(buf, index, &pid) == 0);
            CU_ASSERT_EQUAL(pid_node(&pid), nd->id);
            nd->told[pid.num % MAXPROCS]++;
            continue;
        }
        int id = dec_name_id(buf, index);
        CU_ASSERT_FATAL(id >= 0);
        CU_ASSERT_FATAL(ei_decode_pid(buf, index, &pid) == 0);
        rentry_t *r = &nd->rep[id];
        if (strcmp(atom, "add") == 0) {
            r->present = 1;
            r->pid = pid;
            r->shadow = 1;
            note_added(s, nd->id, id, &pid);
            nd->last_add[id] = ++s->adds;
            if (pid_node(&pid) == nd->id && proc_dead(s, &pid)) ev_push(nd, EV_PID_DOWN, &pid, 0);
        } else if (strcmp(atom, "drop") == 0) {
            /* A caller's own row (optimistic mode) the C node refused. */
            if (r->present && pid_eq(&r->pid, &pid)) r->present = 0;
            nd->drops++;
        } else {
            CU_ASSERT_FATAL(strcmp(atom, "del") == 0);
            /* ets:delete_object({Name, Pid}) */
            if (r->present && pid_eq(&r->pid, &pid)) r->present = 0;
            else nd->bad_dels++;
            r->shadow = 0;
        }
    }
    if (n) CU_ASSERT_FATAL(ei_skip_term(buf, index) == 0);
    CU_ASSERT_FATAL(ei_decode_list_header(buf, index, &n) == 0);
    for (int k = 0; k < n; k++) {
        int arity;
        erlang_pid caller;
        unsigned long long ref;
        CU_ASSERT_FATAL(ei_decode_tuple_header(buf, index, &arity) == 0 && arity == 3);
        CU_ASSERT_FATAL(ei_decode_pid(buf, index, &caller) == 0);
        CU_ASSERT_FATAL(ei_decode_ulonglong(buf, index, &ref) == 0);
        CU_ASSERT_FATAL(ei_decode_atom(buf, index, atom) == 0);
        CU_ASSERT_FATAL(ref < (unsigned long long)s->nreqs);
        req_t *q = &s->reqs[ref];
        /* The reply reaches the caller's own node, for the right caller. */
        CU_ASSERT_EQUAL(q->node, nd->id);
        CU_ASSERT(pid_eq(&q->caller, &caller));
        q->replies++;
        CU_ASSERT_FATAL(strlen(atom) < sizeof q->result);
        memcpy(q->result, atom, strlen(atom) + 1);
        if (q->kind == REQ_REG && strcmp(atom, "yes") == 0) {
            const rentry_t *r = &nd->rep[q->name];
            int ok = s->strict_ryw ? r->present && pid_eq(&r->pid, &q->pid)
                                   : was_added(s, nd->id, q->name, &q->pid) ||
                                         nd->last_add[q->name] > q->issued_at;
            if (!ok && !s->no_ryw) {
                nd->ryw_fail++;
                fprintf(stderr, "\n  yes to request #%llu (name %d -> <%s.%u>) before node %d's replica showed it\n",
                        ref, q->name, q->pid.node, q->pid.num, nd->id);
            }
        }
    }
    nd->batches++;
}

/* {'$sw1', ring, [Beam]}: the ring's members, for swarm_ring's mirror:
 * distinct BEAM node names in ascending order, this node's among them. */
static void agent_ring(node_t *nd, const char *buf, int *index) {
    int n, self = 0;
    char prev[MAXATOMLEN_UTF8] = "", atom[MAXATOMLEN_UTF8];
    CU_ASSERT_FATAL(ei_decode_list_header(buf, index, &n) == 0);
    CU_ASSERT(n >= 1);
    for (int k = 0; k < n; k++) {
        CU_ASSERT_FATAL(ei_decode_atom(buf, index, atom) == 0);
        CU_ASSERT(strcmp(prev, atom) < 0);
        self |= strcmp(atom, beam_name(nd->id)) == 0;
        memcpy(prev, atom, sizeof prev);
    }
    CU_ASSERT(self);
}

/* {'$sw1', synced}: swarm_agent's end_shadow drops what the new C node did
 * not confirm. */
static void agent_synced(node_t *nd) {
    nd->synced_msgs++;
    if (nd->shadow_on) {
        for (int i = 0; i < MAXNAMES; i++)
            if (nd->rep[i].present && !nd->rep[i].shadow) nd->rep[i].present = 0;
        nd->shadow_on = 0;
    }
}

static void emit(void *ud, sw_dest_t dest, const char *cnode, const char *buf, size_t len) {
    node_t *nd = ud;
    sim_t *s = nd->sim;
    /* Whatever the tracker emits is one well-formed term. */
    CU_ASSERT_FATAL(sw_term_validate_ext(buf, len) == 0);
    if (dest == SW_DEST_PEER) {
        node_t *to = node_by_cnode(s, cnode);
        CU_ASSERT_PTR_NOT_NULL_FATAL(to);
        /* The tracker only emits on a connection it believes up. */
        CU_ASSERT(s->link[nd->id][to->id] != LINK_DOWN);
        if (s->link[nd->id][to->id] == LINK_UP) q_push(&s->q[nd->id][to->id], buf, len);
        return;
    }
    CU_ASSERT_PTR_NULL(cnode);
    if (!nd->beam_up) return;
    int index, arity;
    char atom[MAXATOMLEN_UTF8];
    CU_ASSERT_FATAL(dec_envelope(buf, &index, &arity, atom) == 0);
    if (trace) {
        char what[64];
        snprintf(what, sizeof what, "agent %d gets", nd->id);
        trace_term(what, buf, 1);
    }
    if (arity == 4 && strcmp(atom, "batch") == 0) agent_batch(nd, buf, &index);
    else if (arity == 2 && strcmp(atom, "synced") == 0) agent_synced(nd);
    else if (arity == 3 && strcmp(atom, "ring") == 0) agent_ring(nd, buf, &index);
    else if (arity == 2 && strcmp(atom, "links") == 0) nd->links_msgs++;
    else CU_FAIL_FATAL("unknown message to the agent");
}

/* ---- C nodes and links ------------------------------------------------- */

static void link_close(sim_t *s, int i, int j) {
    if (trace) fprintf(stderr, "link %d-%d down (%d, %d queued dropped)\n", i, j, s->q[i][j].n, s->q[j][i].n);
    s->link[i][j] = s->link[j][i] = LINK_DOWN;
    q_clear(&s->q[i][j]);
    q_clear(&s->q[j][i]);
    if (s->nd[i].t) sw_tracker_conn_down(s->nd[i].t, cnode_name(j));
    if (s->nd[j].t) sw_tracker_conn_down(s->nd[j].t, cnode_name(i));
}

static void flush_all(sim_t *s) {
    for (int i = 0; i < s->n; i++)
        if (s->nd[i].t) sw_tracker_flush(s->nd[i].t, emit, &s->nd[i]);
}

/* Carries out the connect/disconnect requests the last call made, then
 * flushes every tracker. */
static void after_call(sim_t *s) {
    for (;;) {
        for (int k = 0; k < s->npend; k++) {
            int i = s->pend[k].from, j = s->pend[k].to;
            if (s->pend[k].connect) {
                if (s->link[i][j] != LINK_DOWN || !s->nd[i].t || !s->nd[j].t) continue;
                CU_ASSERT(s->q[i][j].n == 0 && s->q[j][i].n == 0);
                if (trace) fprintf(stderr, "link %d-%d up\n", i, j);
                s->link[i][j] = s->link[j][i] = LINK_UP;
                sw_tracker_conn_up(s->nd[i].t, cnode_name(j));
                sw_tracker_conn_up(s->nd[j].t, cnode_name(i));
            } else if (s->link[i][j] != LINK_DOWN) {
                /* conn.c stops committing what it reads once asked to
                 * close: what is still queued towards us is dropped. */
                if (s->late) s->link[i][j] = s->link[j][i] = LINK_DRAIN;
                else link_close(s, i, j);
            }
        }
        /* Requests made while carrying these out are appended: loop. */
        int done = s->npend;
        flush_all(s);
        if (s->npend == done) {
            s->npend = 0;
            break;
        }
        memmove(s->pend, s->pend + done, (size_t)(s->npend - done) * sizeof s->pend[0]);
        s->npend -= done;
    }
    /* Draining links whose queues are empty are closed now. */
    for (int i = 0; i < s->n; i++)
        for (int j = i + 1; j < s->n; j++)
            if (s->link[i][j] == LINK_DRAIN && s->q[i][j].n == 0 && s->q[j][i].n == 0) {
                link_close(s, i, j);
                flush_all(s);
            }
}

static void cnode_start(sim_t *s, int i) {
    node_t *nd = &s->nd[i];
    CU_ASSERT_PTR_NULL_FATAL(nd->t);
    nd->t = sw_tracker_new(beam_name(i), cnode_name(i), &nd->env, nd);
    CU_ASSERT_PTR_NOT_NULL_FATAL(nd->t);
    sw_tracker_tick(nd->t, s->now);
}

/* The C node dies: in-flight bytes it already sent still arrive (the link
 * drains towards the survivors), what was sent to it is lost. */
static void cnode_crash(sim_t *s, int i) {
    node_t *nd = &s->nd[i];
    sw_tracker_free(nd->t);
    nd->t = NULL;
    ev_clear(nd);
    for (int j = 0; j < s->n; j++) {
        if (j == i || s->link[i][j] == LINK_DOWN) continue;
        q_clear(&s->q[j][i]);
        s->link[i][j] = s->link[j][i] = LINK_DRAIN;
    }
    after_call(s);
}

/* The agent's hello: [{NameBin, Pid}] of live local processes its replica
 * holds, then [{Beam, CNode}] of the peers it knows. */
static void agent_hello(sim_t *s, int i) {
    node_t *nd = &s->nd[i];
    ei_x_buff x;
    ei_x_new(&x);
    int cnt = 0;
    for (int k = 0; k < MAXNAMES; k++) {
        const rentry_t *r = &nd->rep[k];
        if (r->present && pid_node(&r->pid) == i && !proc_dead(s, &r->pid)) cnt++;
    }
    if (cnt) ei_x_encode_list_header(&x, cnt);
    for (int k = 0; k < MAXNAMES; k++) {
        const rentry_t *r = &nd->rep[k];
        if (!r->present || pid_node(&r->pid) != i || proc_dead(s, &r->pid)) continue;
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_binary(&x, nm(k)->bytes, (int)nm(k)->len);
        ei_x_encode_pid(&x, &r->pid);
    }
    ei_x_encode_empty_list(&x);
    cnt = 0;
    for (int k = 0; k < s->n; k++) cnt += nd->known[k] && k != i;
    if (cnt) ei_x_encode_list_header(&x, cnt);
    for (int k = 0; k < s->n; k++) {
        if (!nd->known[k] || k == i) continue;
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, beam_name(k));
        ei_x_encode_atom(&x, cnode_name(k));
    }
    ei_x_encode_empty_list(&x);
    /* swarm_agent's begin_shadow: a non-empty replica is checked against
     * what the new C node confirms before synced. */
    nd->shadow_on = 0;
    for (int k = 0; k < MAXNAMES; k++) {
        nd->rep[k].shadow = 0;
        nd->shadow_on |= nd->rep[k].present;
    }
    erlang_pid agent = mkpid(i, AGENT_NUM);
    int index = 0;
    CU_ASSERT_EQUAL(sw_tracker_hello(nd->t, &agent, x.buff, &index), 0);
    CU_ASSERT_EQUAL(index, x.index);
    ei_x_free(&x);
    after_call(s);
}

static sim_t *sim_new(int n, uint64_t seed) {
    sim_t *s = calloc(1, sizeof *s);
    s->n = n;
    s->rng = seed;
    s->now = 1000;
    for (int i = 0; i < n; i++) {
        node_t *nd = &s->nd[i];
        nd->sim = s;
        nd->id = i;
        nd->env.connect = env_connect;
        nd->env.disconnect = env_disconnect;
        nd->env.connected = env_connected;
        nd->beam_up = 1;
    }
    return s;
}

static void sim_free(sim_t *s) {
    for (int i = 0; i < s->n; i++) {
        sw_tracker_free(s->nd[i].t);
        ev_clear(&s->nd[i]);
        for (int j = 0; j < s->n; j++) q_clear(&s->q[i][j]);
    }
    free(s->reqs);
    free(s->added);
    free(s);
}

/* ---- delivery ---------------------------------------------------------- */

static void deliver_peer(sim_t *s, int i, int j) {
    msg_t *m = q_pop(&s->q[i][j]);
    node_t *to = &s->nd[j];
    if (to->t) {
        int index, arity;
        char atom[MAXATOMLEN_UTF8];
        CU_ASSERT_FATAL(sw_term_validate_ext(m->buf, m->len) == 0);
        CU_ASSERT_FATAL(dec_envelope(m->buf, &index, &arity, atom) == 0 && arity == 3);
        CU_ASSERT_FATAL(strcmp(atom, "ops") == 0);
        if (trace) {
            char what[64];
            snprintf(what, sizeof what, "deliver %d->%d", i, j);
            trace_term(what, m->buf, index);
        }
        /* The tracker's own output is never malformed (ops from a
         * connection the receiver already counts as down are ignored, not
         * counted). */
        sw_tracker_stats_t before, after;
        sw_tracker_stats(to->t, &before);
        int skipped = sw_tracker_peer_ops(to->t, cnode_name(i), m->buf, &index);
        sw_tracker_stats(to->t, &after);
        CU_ASSERT_EQUAL(after.bad_ops, before.bad_ops);
        if (s->link[i][j] == LINK_UP) CU_ASSERT_EQUAL(skipped, 0);
    }
    free(m);
    after_call(s);
}

static void deliver_event(sim_t *s, int i) {
    node_t *nd = &s->nd[i];
    ev_t *e = ev_pop(nd);
    if (trace) fprintf(stderr, "event %d at %d (pid <%s.%u>, peer %d)\n", e->kind, i, e->pid.node, e->pid.num, e->peer);
    if (nd->t) {
        switch (e->kind) {
        case EV_PID_DOWN: sw_tracker_pid_down(nd->t, &e->pid); break;
        case EV_PEER_UP: sw_tracker_peer_up(nd->t, beam_name(e->peer), cnode_name(e->peer)); break;
        case EV_PEER_DOWN: sw_tracker_peer_down(nd->t, beam_name(e->peer)); break;
        default: free(e); agent_hello(s, i); return;
        }
    }
    free(e);
    after_call(s);
}

/* Delivers one message chosen at random among the non-empty queues.
 * Returns 0 when nothing is in flight. */
static int step(sim_t *s) {
    int cand[MAXN * MAXN + MAXN][2], nc = 0;
    for (int i = 0; i < s->n; i++) {
        for (int j = 0; j < s->n; j++)
            if (s->q[i][j].n) {
                cand[nc][0] = i;
                cand[nc][1] = j;
                nc++;
            }
        if (s->nd[i].aq.n) {
            cand[nc][0] = i;
            cand[nc][1] = -1;
            nc++;
        }
    }
    if (!nc) return 0;
    int k = (int)(splitmix(&s->rng) % (uint64_t)nc);
    if (cand[k][1] < 0) deliver_event(s, cand[k][0]);
    else deliver_peer(s, cand[k][0], cand[k][1]);
    s->steps++;
    return 1;
}

/* Delivers until nothing is in flight. */
static void run(sim_t *s) {
    long guard = 0;
    while (step(s)) CU_ASSERT_FATAL(++guard < 10000000);
}

static void tick_all(sim_t *s, uint64_t dt) {
    s->now += dt;
    for (int i = 0; i < s->n; i++)
        if (s->nd[i].t) sw_tracker_tick(s->nd[i].t, s->now);
    after_call(s);
}

/* Runs to quiescence, then lets a second of time pass (re-dials) and runs
 * again, a few times. */
static void settle(sim_t *s) {
    for (int k = 0; k < 3; k++) {
        run(s);
        tick_all(s, 1000);
    }
    run(s);
}

/* ---- requests ---------------------------------------------------------- */

static int new_req(sim_t *s, int kind, int node, int name, const erlang_pid *pid) {
    if (s->nreqs == s->reqcap) {
        s->reqcap = s->reqcap ? 2 * s->reqcap : 256;
        s->reqs = realloc(s->reqs, (size_t)s->reqcap * sizeof *s->reqs);
    }
    req_t *q = &s->reqs[s->nreqs];
    memset(q, 0, sizeof *q);
    q->kind = kind;
    q->node = node;
    q->name = name;
    if (pid) q->pid = *pid;
    q->caller = mkpid(node, CALLER_NUM + (unsigned)s->nreqs);
    q->issued_at = s->adds;
    return s->nreqs++;
}

static void enc_ref(ei_x_buff *x, int ref) {
    x->index = 0;
    ei_x_encode_ulonglong(x, (unsigned long long)ref);
}

/* register_name({worker, name}, pid) called on node `node`. Returns the
 * request index. */
static int reg(sim_t *s, int node, int name, const erlang_pid *pid) {
    int r = new_req(s, REQ_REG, node, name, pid);
    if (trace) fprintf(stderr, "reg #%d at %d: name %d -> <%s.%u>\n", r, node, name, pid->node, pid->num);
    ei_x_buff x;
    ei_x_new(&x);
    enc_ref(&x, r);
    sw_tracker_register(s->nd[node].t, &s->reqs[r].caller, x.buff, (size_t)x.index, nm(name)->bytes,
                        nm(name)->len, pid, 0);
    ei_x_free(&x);
    after_call(s);
    return r;
}

/* The same request again, as a caller sends it after a link dropped while
 * it waited (a new request index, so its own reply is counted). */
static int reg_retry(sim_t *s, int node, int name, const erlang_pid *pid) {
    int r = new_req(s, REQ_REG, node, name, pid);
    ei_x_buff x;
    ei_x_new(&x);
    enc_ref(&x, r);
    sw_tracker_register(s->nd[node].t, &s->reqs[r].caller, x.buff, (size_t)x.index, nm(name)->bytes,
                        nm(name)->len, pid, 1);
    ei_x_free(&x);
    after_call(s);
    return r;
}

static int unreg(sim_t *s, int node, int name) {
    int r = new_req(s, REQ_UNREG, node, name, NULL);
    if (trace) fprintf(stderr, "unreg #%d at %d: name %d\n", r, node, name);
    ei_x_buff x;
    ei_x_new(&x);
    enc_ref(&x, r);
    sw_tracker_unregister(s->nd[node].t, &s->reqs[r].caller, x.buff, (size_t)x.index,
                          nm(name)->bytes, nm(name)->len);
    ei_x_free(&x);
    after_call(s);
    return r;
}

/* A process dies: its agent's monitor fires if the replica holds a name of
 * it (and again whenever an add of it arrives later). */
static void kill_proc(sim_t *s, int node, unsigned num) {
    node_t *nd = &s->nd[node];
    erlang_pid p = mkpid(node, num);
    if (trace) fprintf(stderr, "kill <%s.%u>\n", p.node, num);
    nd->dead[num] = 1;
    for (int k = 0; k < MAXNAMES; k++)
        if (nd->rep[k].present && pid_eq(&nd->rep[k].pid, &p)) {
            ev_push(nd, EV_PID_DOWN, &p, 0);
            break;
        }
}

/* ---- checks ------------------------------------------------------------ */

/* The tracker's view of a name: 1 and *pid, or 0. */
static int tlook(sim_t *s, int node, int name, erlang_pid *pid) {
    return sw_tracker_lookup(s->nd[node].t, nm(name)->bytes, nm(name)->len, pid);
}

/* After quiescence: all live trackers and the replicas of live BEAM nodes
 * beside them agree on names [0, nnames); no reservation is left; no dead
 * process holds a name; the agent streams were consistent. Returns the
 * number of disagreements (also asserted). */
static int check_converged(sim_t *s, int nnames, const char *ctx) {
    int bad = 0;
    int ref = -1;
    for (int i = 0; i < s->n; i++)
        if (s->nd[i].t && s->nd[i].beam_up) {
            ref = i;
            break;
        }
    CU_ASSERT_FATAL(ref >= 0);
    for (int k = 0; k < nnames; k++) {
        erlang_pid want;
        int has = tlook(s, ref, k, &want);
        if (has && proc_dead(s, &want)) {
            if (bad++ < 5) fprintf(stderr, "\n  %s: name %d held by dead pid <%s.%u>\n", ctx, k, want.node, want.num);
        }
        for (int i = 0; i < s->n; i++) {
            node_t *nd = &s->nd[i];
            if (!nd->t || !nd->beam_up) continue;
            erlang_pid p;
            int h = tlook(s, i, k, &p);
            if (h != has || (h && !pid_eq(&p, &want))) {
                if (bad++ < 5)
                    fprintf(stderr, "\n  %s: name %d: tracker %d says %d <%s.%u>, tracker %d says %d <%s.%u>\n",
                            ctx, k, ref, has, has ? want.node : "", has ? want.num : 0, i, h,
                            h ? p.node : "", h ? p.num : 0);
            }
            const rentry_t *r = &nd->rep[k];
            if (r->present != has || (has && !pid_eq(&r->pid, &want))) {
                if (bad++ < 5)
                    fprintf(stderr, "\n  %s: name %d: replica %d says %d <%s.%u>, tracker %d says %d\n", ctx,
                            k, i, r->present, r->present ? r->pid.node : "", r->present ? r->pid.num : 0,
                            ref, has);
            }
        }
    }
    for (int i = 0; i < s->n; i++) {
        node_t *nd = &s->nd[i];
        if (!nd->t) continue;
        sw_tracker_stats_t st;
        sw_tracker_stats(nd->t, &st);
        if (st.reserved != 0) {
            bad++;
            fprintf(stderr, "\n  %s: node %d still holds %llu reservations\n", ctx, i,
                    (unsigned long long)st.reserved);
        }
        /* The tracker holds nothing beyond the names checked. */
        uint64_t held = 0;
        for (int k = 0; k < nnames; k++) held += tlook(s, i, k, NULL);
        if (st.names != held) {
            bad++;
            fprintf(stderr, "\n  %s: node %d counts %llu names, holds %llu\n", ctx, i,
                    (unsigned long long)st.names, (unsigned long long)held);
        }
        if (nd->beam_up && (nd->bad_dels || nd->ryw_fail)) {
            bad++;
            fprintf(stderr, "\n  %s: node %d: %d inconsistent dels, %d yes before the replica showed it\n",
                    ctx, i, nd->bad_dels, nd->ryw_fail);
        }
        CU_ASSERT_FALSE(sw_tracker_pending(nd->t));
    }
    CU_ASSERT_EQUAL(bad, 0);
    return bad;
}

/* Every request got exactly one reply. */
static int check_all_replied(sim_t *s, const char *ctx) {
    int bad = 0;
    for (int r = 0; r < s->nreqs; r++)
        if (s->reqs[r].replies != 1) {
            if (bad++ < 5)
                fprintf(stderr, "\n  %s: request %d (%s name %d from node %d) got %d replies\n", ctx, r,
                        s->reqs[r].kind == REQ_REG ? "reg" : "unreg", s->reqs[r].name, s->reqs[r].node,
                        s->reqs[r].replies);
        }
    CU_ASSERT_EQUAL(bad, 0);
    return bad;
}

/* A cluster of n nodes, every agent knowing every other, synced. */
static sim_t *cluster(int n, uint64_t seed) {
    sim_t *s = sim_new(n, seed);
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < n; k++) s->nd[i].known[k] = 1;
        cnode_start(s, i);
    }
    for (int i = 0; i < n; i++) agent_hello(s, i);
    run(s);
    for (int i = 0; i < n; i++) {
        CU_ASSERT(sw_tracker_synced(s->nd[i].t));
        CU_ASSERT_EQUAL(s->nd[i].synced_msgs, 1);
        for (int j = 0; j < n; j++)
            if (i != j) CU_ASSERT_EQUAL(s->link[i][j], LINK_UP);
    }
    return s;
}

/* ---- (a) single node ---------------------------------------------------- */

static void test_single_node(void) {
    sim_t *s = sim_new(1, 1);
    s->strict_ryw = 1;
    cnode_start(s, 0);
    CU_ASSERT_FALSE(sw_tracker_synced(s->nd[0].t));
    agent_hello(s, 0);
    /* No peers to wait for: synced at once. */
    CU_ASSERT(sw_tracker_synced(s->nd[0].t));
    CU_ASSERT_EQUAL(s->nd[0].synced_msgs, 1);

    erlang_pid p1 = mkpid(0, 1), p2 = mkpid(0, 2), got;
    int r1 = reg(s, 0, 1, &p1);
    CU_ASSERT_EQUAL(s->reqs[r1].replies, 1);
    CU_ASSERT_STRING_EQUAL(s->reqs[r1].result, "yes");
    CU_ASSERT(tlook(s, 0, 1, &got) && pid_eq(&got, &p1));
    CU_ASSERT(s->nd[0].rep[1].present && pid_eq(&s->nd[0].rep[1].pid, &p1));
    /* Taken: no, and nothing changes. */
    int r2 = reg(s, 0, 1, &p2);
    CU_ASSERT_STRING_EQUAL(s->reqs[r2].result, "no");
    CU_ASSERT(tlook(s, 0, 1, &got) && pid_eq(&got, &p1));
    /* One pid, several names. */
    int r3 = reg(s, 0, 2, &p1);
    CU_ASSERT_STRING_EQUAL(s->reqs[r3].result, "yes");
    /* A pid on a node that does not run swarm: refused. */
    erlang_pid far = mkpid(3, 1);
    int r4 = reg(s, 0, 3, &far);
    CU_ASSERT_STRING_EQUAL(s->reqs[r4].result, "no");
    CU_ASSERT_FALSE(tlook(s, 0, 3, NULL));
    sw_tracker_stats_t st;
    sw_tracker_stats(s->nd[0].t, &st);
    CU_ASSERT_EQUAL(st.names, 2);
    CU_ASSERT_EQUAL(st.pids, 1);

    /* Unregister: ok, gone from tracker and replica; unknown names are ok. */
    int r5 = unreg(s, 0, 1);
    CU_ASSERT_STRING_EQUAL(s->reqs[r5].result, "ok");
    CU_ASSERT_FALSE(tlook(s, 0, 1, NULL));
    CU_ASSERT_FALSE(s->nd[0].rep[1].present);
    int r6 = unreg(s, 0, 77);
    CU_ASSERT_STRING_EQUAL(s->reqs[r6].result, "ok");
    /* Free again: p2 can take it. */
    int r7 = reg(s, 0, 1, &p2);
    CU_ASSERT_STRING_EQUAL(s->reqs[r7].result, "yes");
    /* pid_down removes all of a pid's names. */
    kill_proc(s, 0, 1);
    run(s);
    CU_ASSERT_FALSE(tlook(s, 0, 2, NULL));
    CU_ASSERT(tlook(s, 0, 1, &got) && pid_eq(&got, &p2));
    sw_tracker_stats(s->nd[0].t, &st);
    CU_ASSERT_EQUAL(st.names, 1);
    CU_ASSERT_EQUAL(st.pids, 1);
    check_all_replied(s, "single");
    check_converged(s, 100, "single");
    sim_free(s);
}

/* ---- (b, c) concurrent registrations ----------------------------------- */

/* 200 names, each registered from all 3 nodes with a pid of that node, all
 * requests made before any delivery. */
static void concurrent_round(uint64_t seed) {
    enum { NAMES = 200 };
    sim_t *s = cluster(3, seed);
    s->strict_ryw = 1;
    int req[NAMES][3];
    for (int k = 0; k < NAMES; k++)
        for (int i = 0; i < 3; i++) {
            erlang_pid p = mkpid(i, 1 + (unsigned)(k % (MAXPROCS - 1)));
            req[k][i] = reg(s, i, k, &p);
        }
    run(s);
    int fails = 0;
    for (int k = 0; k < NAMES; k++) {
        int yes = 0, winner = -1;
        for (int i = 0; i < 3; i++) {
            const req_t *q = &s->reqs[req[k][i]];
            if (q->replies == 1 && strcmp(q->result, "yes") == 0) {
                yes++;
                winner = i;
            }
        }
        if (yes != 1) {
            if (fails++ < 5) fprintf(stderr, "\n  seed %llu: name %d got %d yes\n", (unsigned long long)seed, k, yes);
            continue;
        }
        erlang_pid p;
        CU_ASSERT(tlook(s, 0, k, &p) && pid_eq(&p, &s->reqs[req[k][winner]].pid));
    }
    CU_ASSERT_EQUAL(fails, 0);
    check_all_replied(s, "concurrent");
    check_converged(s, NAMES, "concurrent");
    /* (c) read your writes: counted by the agent model at every yes. */
    for (int i = 0; i < 3; i++) CU_ASSERT_EQUAL(s->nd[i].ryw_fail, 0);
    sim_free(s);
}

static void test_concurrent_register(void) {
    for (uint64_t seed = 1; seed <= 5; seed++) concurrent_round(seed);
}

/* (c) read your writes, with callers registering pids of other nodes (so
 * that owner, home and caller are three different nodes) in 4- and 5-node
 * clusters. */
static void test_read_your_writes(void) {
    for (uint64_t seed = 1; seed <= 20; seed++) {
        int n = 3 + (int)(seed % 3);
        sim_t *s = cluster(n, seed * 77);
        s->strict_ryw = 1;
        uint64_t r = seed;
        for (int k = 0; k < 150; k++) {
            int caller = (int)(splitmix(&r) % (uint64_t)n);
            int home = (int)(splitmix(&r) % (uint64_t)n);
            erlang_pid p = mkpid(home, 1 + (unsigned)(splitmix(&r) % 20));
            reg(s, caller, (int)(splitmix(&r) % 60), &p);
            for (int d = (int)(splitmix(&r) % 4); d > 0; d--) step(s);
        }
        run(s);
        for (int i = 0; i < n; i++) {
            CU_ASSERT_EQUAL(s->nd[i].ryw_fail, 0);
            CU_ASSERT_EQUAL(s->nd[i].bad_dels, 0);
        }
        /* Exactly one yes per name: no deletes here, so a name is won once. */
        int yes[60] = {0};
        for (int q = 0; q < s->nreqs; q++) yes[s->reqs[q].name] += strcmp(s->reqs[q].result, "yes") == 0;
        for (int k = 0; k < 60; k++) CU_ASSERT(yes[k] <= 1);
        check_all_replied(s, "ryw");
        check_converged(s, 60, "ryw");
        sim_free(s);
    }
}

/* ---- (d) pid_down at the home ------------------------------------------ */

static void test_pid_down(void) {
    for (uint64_t seed = 1; seed <= 10; seed++) {
        sim_t *s = cluster(3, seed);
        erlang_pid p = mkpid(1, 5), q = mkpid(1, 6);
        /* p gets names 0..9 registered from every node; q gets 10..14. */
        for (int k = 0; k < 10; k++) reg(s, k % 3, k, &p);
        for (int k = 10; k < 15; k++) reg(s, k % 3, k, &q);
        run(s);
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 15; k++) CU_ASSERT(tlook(s, i, k, NULL));
        /* p dies while more registrations of it are in flight (their claims
         * reach the home after its pid_down; the agent's monitor of an add
         * of a dead pid reports it again). */
        for (int k = 15; k < 20; k++) reg(s, k % 3, k, &p);
        kill_proc(s, 1, 5);
        run(s);
        for (int i = 0; i < 3; i++) {
            for (int k = 0; k < 10; k++) CU_ASSERT_FALSE(tlook(s, i, k, NULL));
            for (int k = 15; k < 20; k++) CU_ASSERT_FALSE(tlook(s, i, k, NULL));
            for (int k = 10; k < 15; k++) CU_ASSERT(tlook(s, i, k, NULL));
            sw_tracker_stats_t st;
            sw_tracker_stats(s->nd[i].t, &st);
            CU_ASSERT_EQUAL(st.pids, 1);
        }
        check_all_replied(s, "pid_down");
        check_converged(s, 20, "pid_down");
        sim_free(s);
    }
}

/* ---- (e) a BEAM node dies ----------------------------------------------- */

/* Registers names for pids of every node, then node `victim` dies (its BEAM
 * node and its C node) while more registrations, including of its pids,
 * are in flight. The survivors' agents report peer_down at random moments
 * relative to the dead C node's last messages. */
static void node_death_round(uint64_t seed, int late) {
    int n = 3 + (int)(seed % 2);
    sim_t *s = cluster(n, seed);
    s->late = late;
    int victim = 1;
    uint64_t r = seed * 31;
    for (int k = 0; k < 40; k++) {
        erlang_pid p = mkpid(k % n, 1 + (unsigned)(k % 7));
        reg(s, (int)(splitmix(&r) % (uint64_t)n), k, &p);
    }
    run(s);
    for (int k = 40; k < 80; k++) {
        erlang_pid p = mkpid(k % n, 1 + (unsigned)(k % 7));
        reg(s, (int)(splitmix(&r) % (uint64_t)n), k, &p);
        if (k % 3 == 0) step(s);
    }
    /* The victim's own C node emits its last batch, then the node dies. */
    s->nd[victim].beam_up = 0;
    cnode_crash(s, victim);
    for (int i = 0; i < n; i++) {
        if (i == victim) continue;
        s->nd[i].known[victim] = 0;
        ev_push(&s->nd[i], EV_PEER_DOWN, NULL, victim);
    }
    settle(s);
    int leftovers = 0;
    for (int i = 0; i < n; i++) {
        if (i == victim) continue;
        for (int k = 0; k < 80; k++) {
            erlang_pid p;
            if (tlook(s, i, k, &p) && pid_node(&p) == victim) leftovers++;
            if (s->nd[i].rep[k].present && pid_node(&s->nd[i].rep[k].pid) == victim) leftovers++;
        }
    }
    if (leftovers)
        fprintf(stderr, "\n  seed %llu (%s): %d names of the dead node survive\n", (unsigned long long)seed,
                late ? "late delivery" : "drop on close", leftovers);
    CU_ASSERT_EQUAL(leftovers, 0);
    /* Names of the survivors' pids registered before the death: all there. */
    for (int k = 0; k < 40; k++) {
        if (k % n == victim) continue;
        for (int i = 0; i < n; i++)
            if (i != victim) CU_ASSERT(tlook(s, i, k, NULL));
    }
    check_converged(s, 80, late ? "death/late" : "death");
    /* The survivors still work together. */
    for (int k = 100; k < 110; k++) {
        erlang_pid p = mkpid(k % n == victim ? 0 : k % n, 20);
        reg(s, 0, k, &p);
    }
    settle(s);
    check_converged(s, 110, "after death");
    sim_free(s);
}

static void test_node_death(void) {
    for (uint64_t seed = 1; seed <= 40; seed++) node_death_round(seed, 0);
}

/* Same, when the I/O layer still delivers what reached it before the FIN
 * after the tracker asked to disconnect. */
static void test_node_death_late_delivery(void) {
    for (uint64_t seed = 1; seed <= 40; seed++) node_death_round(seed, 1);
}

/* The dead BEAM node's C node lingers and dials again after peer_down (its
 * name is the smallest, and it has not seen its stdin close yet). Its sync
 * must not bring the dead node's names back. */
static void test_node_death_redial(void) {
    sim_t *s = cluster(3, 5);
    int victim = 0; /* swarm_a dials everyone */
    for (int k = 0; k < 30; k++) {
        erlang_pid p = mkpid(k % 3, 1 + (unsigned)(k % 5));
        reg(s, k % 3, k, &p);
    }
    run(s);
    s->nd[victim].beam_up = 0;
    for (int i = 1; i < 3; i++) {
        s->nd[i].known[victim] = 0;
        ev_push(&s->nd[i], EV_PEER_DOWN, NULL, victim);
    }
    run(s);
    for (int i = 1; i < 3; i++) CU_ASSERT_EQUAL(s->link[i][victim], LINK_DOWN);
    /* swarm_a's redial timer fires, twice. */
    int leftovers = 0;
    for (int round = 0; round < 2; round++) {
        s->now += 1000;
        sw_tracker_tick(s->nd[victim].t, s->now);
        after_call(s);
        run(s);
        for (int i = 1; i < 3; i++)
            for (int k = 0; k < 30; k++) {
                erlang_pid p;
                if (tlook(s, i, k, &p) && pid_node(&p) == victim) leftovers++;
            }
    }
    /* Then swarm_a exits. */
    cnode_crash(s, victim);
    settle(s);
    for (int i = 1; i < 3; i++)
        for (int k = 0; k < 30; k++) {
            erlang_pid p;
            if (tlook(s, i, k, &p) && pid_node(&p) == victim) leftovers++;
        }
    if (leftovers) fprintf(stderr, "\n  redial after peer_down: %d names of the dead node came back\n", leftovers);
    CU_ASSERT_EQUAL(leftovers, 0);
    check_converged(s, 30, "redial");
    sim_free(s);
}

/* The BEAM nodes are cut apart (each side's agent reports the other down)
 * while every process lives; then they see each other again (peer_up on
 * both sides, in random order with everything else). Each side drops the
 * other's names meanwhile; after the heal everything is back everywhere. */
static void test_partition_heal(void) {
    for (uint64_t seed = 1; seed <= 20; seed++) {
        int n = 3 + (int)(seed % 3);
        sim_t *s = cluster(n, seed);
        for (int k = 0; k < 40; k++) {
            erlang_pid p = mkpid(k % n, 1 + (unsigned)(k % 5));
            reg(s, (k * 3) % n, k, &p);
        }
        run(s);
        int cut = (int)(seed % (uint64_t)n); /* alone on its side */
        for (int i = 0; i < n; i++) {
            if (i == cut) continue;
            ev_push(&s->nd[i], EV_PEER_DOWN, NULL, cut);
            ev_push(&s->nd[cut], EV_PEER_DOWN, NULL, i);
        }
        settle(s);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < 40; k++) {
                erlang_pid p;
                int h = tlook(s, i, k, &p);
                /* Each side holds exactly the names of its own side. */
                int same_side = (k % n == cut) == (i == cut);
                CU_ASSERT_EQUAL(h, same_side);
            }
        for (int i = 0; i < n; i++) {
            if (i == cut) continue;
            ev_push(&s->nd[i], EV_PEER_UP, NULL, cut);
            ev_push(&s->nd[cut], EV_PEER_UP, NULL, i);
        }
        settle(s);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < 40; k++) CU_ASSERT(tlook(s, i, k, NULL));
        check_converged(s, 40, "heal");
        sim_free(s);
    }
}

/* The heal as the I/O layer often orders it: the dialling side (the smaller
 * name) hears that the other BEAM node is back first and dials at once;
 * the other side, still counting that node down, hangs up. When its own
 * peer_up comes, it dials back at once, not a redial tick later. */
static void test_heal_dial_back(void) {
    sim_t *s = cluster(2, 7);
    CU_ASSERT_FATAL(strcmp(cnode_name(0), cnode_name(1)) < 0);
    for (int k = 0; k < 10; k++) {
        erlang_pid p = mkpid(k % 2, 1 + (unsigned)k);
        reg(s, k % 2, k, &p);
    }
    run(s);
    ev_push(&s->nd[0], EV_PEER_DOWN, NULL, 1);
    ev_push(&s->nd[1], EV_PEER_DOWN, NULL, 0);
    run(s);
    CU_ASSERT_EQUAL(s->link[0][1], LINK_DOWN);
    ev_push(&s->nd[0], EV_PEER_UP, NULL, 1);
    deliver_event(s, 0);
    CU_ASSERT_EQUAL(s->link[0][1], LINK_DOWN); /* dialled, and hung up on */
    ev_push(&s->nd[1], EV_PEER_UP, NULL, 0);
    deliver_event(s, 1);
    CU_ASSERT_EQUAL(s->link[0][1], LINK_UP); /* dialled back, no tick */
    run(s);
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 10; k++) CU_ASSERT(tlook(s, i, k, NULL));
    check_converged(s, 10, "dial back");
    sim_free(s);
}

/* ---- (f) C node restart ------------------------------------------------ */

static void restart_round(uint64_t seed) {
    int n = 3 + (int)(seed % 3);
    sim_t *s = cluster(n, seed);
    int victim = (int)(seed % (uint64_t)n);
    uint64_t r = seed * 13;
    /* Names for pids everywhere, decided by owners everywhere (several
     * decisions per name over time, so stamps on the peers are not 1). */
    for (int round = 0; round < 3; round++) {
        for (int k = 0; k < 60; k++) {
            erlang_pid p = mkpid((int)(splitmix(&r) % (uint64_t)n), 1 + (unsigned)(k % 10));
            reg(s, (int)(splitmix(&r) % (uint64_t)n), k, &p);
        }
        run(s);
        if (round < 2)
            for (int k = 0; k < 60; k += 2) unreg(s, (int)(splitmix(&r) % (uint64_t)n), k);
        run(s);
    }
    check_converged(s, 60, "before restart");

    /* The C node crashes with registrations in flight (claims to it, its
     * adds to others, requests it owns); while it is down one local process
     * dies (its agent's pid_down is lost with the C node) and a peer
     * unregisters one of its own names. */
    for (int k = 60; k < 80; k++) {
        erlang_pid p = mkpid((int)(splitmix(&r) % (uint64_t)n), 1 + (unsigned)(k % 10));
        reg(s, (int)(splitmix(&r) % (uint64_t)n), k, &p);
        if (k % 4 == 0) step(s);
    }
    cnode_crash(s, victim);
    run(s);
    /* Claims that were waiting on it are given up at once, not left to
     * expire. */
    for (int i = 0; i < n; i++) {
        sw_tracker_stats_t st;
        if (!s->nd[i].t) continue;
        sw_tracker_stats(s->nd[i].t, &st);
        CU_ASSERT_EQUAL(st.reserved, 0);
    }
    s->nd[victim].dead[3] = 1;
    int other = (victim + 1) % n;
    int gone_name = -1;
    for (int k = 0; k < 60 && gone_name < 0; k++) {
        erlang_pid p;
        if (tlook(s, other, k, &p) && pid_node(&p) == other) gone_name = k;
    }
    if (gone_name >= 0) unreg(s, other, gone_name);
    run(s);

    /* It comes back: the agent says hello from its replica. */
    cnode_start(s, victim);
    agent_hello(s, victim);
    settle(s);
    check_converged(s, 80, "after restart");
    CU_ASSERT_EQUAL(s->nd[victim].synced_msgs, 2);
    erlang_pid dead = mkpid(victim, 3);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 80; k++) {
            erlang_pid p;
            if (tlook(s, i, k, &p)) CU_ASSERT_FALSE(pid_eq(&p, &dead));
        }
    if (gone_name >= 0) CU_ASSERT_FALSE(tlook(s, victim, gone_name, NULL));

    /* Names that survived the restart stay controllable: killing a process
     * of the restarted node, and unregistering one of its names from a
     * peer, remove them everywhere. */
    int killed = 0, unregd = -1;
    for (int k = 0; k < 80; k++) {
        erlang_pid p;
        if (!tlook(s, victim, k, &p) || pid_node(&p) != victim) continue;
        if (p.num == 4 && !killed) {
            kill_proc(s, victim, 4);
            killed = 1;
        } else if (p.num != 4 && unregd < 0) {
            unregd = k;
            unreg(s, other, k);
        }
    }
    settle(s);
    erlang_pid four = mkpid(victim, 4);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 80; k++) {
            erlang_pid p;
            if (tlook(s, i, k, &p)) CU_ASSERT_FALSE(pid_eq(&p, &four));
            if (k == unregd) CU_ASSERT_FALSE(tlook(s, i, k, NULL));
        }
    check_converged(s, 80, "after restart + ops");
    sim_free(s);
}

static void test_cnode_restart(void) {
    for (uint64_t seed = 1; seed <= 30; seed++) restart_round(seed);
}

/* ---- (g) late joiner --------------------------------------------------- */

static void test_late_join(void) {
    for (uint64_t seed = 1; seed <= 20; seed++) {
        int n = 2 + (int)(seed % 3); /* 2..4 nodes, then one more */
        sim_t *s = cluster(n, seed);
        for (int k = 0; k < 50; k++) {
            erlang_pid p = mkpid(k % n, 1 + (unsigned)(k % 9));
            reg(s, (k * 7) % n, k, &p);
        }
        run(s);
        /* Node `n` (name order: after every other one, or seed-dependent
         * position via its index) joins: its agent says hello while the
         * others' agents learn of it, in random order. */
        int j = n;
        s->n = n + 1;
        node_t *nd = &s->nd[j];
        nd->sim = s;
        nd->id = j;
        nd->env.connect = env_connect;
        nd->env.disconnect = env_disconnect;
        nd->env.connected = env_connected;
        nd->beam_up = 1;
        for (int k = 0; k <= n; k++) nd->known[k] = 1;
        cnode_start(s, j);
        ev_push(nd, EV_HELLO, NULL, 0);
        for (int i = 0; i < n; i++) {
            s->nd[i].known[j] = 1;
            ev_push(&s->nd[i], EV_PEER_UP, NULL, j);
        }
        /* Registrations keep coming meanwhile. */
        for (int k = 50; k < 60; k++) {
            erlang_pid p = mkpid(k % n, 1);
            reg(s, k % n, k, &p);
            step(s);
        }
        run(s);
        CU_ASSERT(sw_tracker_synced(nd->t));
        CU_ASSERT_EQUAL(nd->synced_msgs, 1);
        for (int k = 0; k < 50; k++) CU_ASSERT(nd->rep[k].present);
        check_all_replied(s, "late join");
        check_converged(s, 60, "late join");
        /* And it takes part: registrations from it work. */
        erlang_pid p = mkpid(j, 2);
        int q = reg(s, j, 70, &p);
        run(s);
        CU_ASSERT_STRING_EQUAL(s->reqs[q].result, "yes");
        check_converged(s, 71, "late join + reg");
        sim_free(s);
    }
}

/* The joiner is told of peers that never answer: synced still comes, from
 * the sync timeout. */
static void test_sync_timeout(void) {
    sim_t *s = sim_new(2, 9);
    s->nd[0].known[1] = 1;
    cnode_start(s, 0);
    agent_hello(s, 0); /* node 1's C node does not exist */
    run(s);
    CU_ASSERT_FALSE(sw_tracker_synced(s->nd[0].t));
    tick_all(s, 9000);
    CU_ASSERT_FALSE(sw_tracker_synced(s->nd[0].t));
    tick_all(s, 1000);
    CU_ASSERT(sw_tracker_synced(s->nd[0].t));
    CU_ASSERT_EQUAL(s->nd[0].synced_msgs, 1);
    /* peer_down of an awaited peer also ends the wait. */
    sim_t *s2 = sim_new(3, 9);
    s2->nd[0].known[1] = s2->nd[0].known[2] = 1;
    cnode_start(s2, 0);
    agent_hello(s2, 0);
    ev_push(&s2->nd[0], EV_PEER_DOWN, NULL, 1);
    run(s2);
    CU_ASSERT_FALSE(sw_tracker_synced(s2->nd[0].t));
    ev_push(&s2->nd[0], EV_PEER_DOWN, NULL, 2);
    run(s2);
    CU_ASSERT(sw_tracker_synced(s2->nd[0].t));
    CU_ASSERT_EQUAL(s2->nd[0].synced_msgs, 1);
    sim_free(s);
    sim_free(s2);
}

/* ---- (h) random schedules ---------------------------------------------- */

static void random_round(uint64_t seed) {
    enum { NAMES = 24, PROCS = 6 };
    int n = 2 + (int)(seed % 4);
    sim_t *s = cluster(n, seed);
    uint64_t r = seed ^ 0xabcdef;
    int ops = 60 + (int)(splitmix(&r) % 60);
    while (ops > 0) {
        if (splitmix(&r) % 3 != 0) {
            if (step(s)) continue;
        }
        ops--;
        int node = (int)(splitmix(&r) % (uint64_t)n);
        int name = (int)(splitmix(&r) % NAMES);
        uint64_t what = splitmix(&r) % 10;
        if (what < 6) {
            int home = (int)(splitmix(&r) % (uint64_t)n);
            erlang_pid p = mkpid(home, 1 + (unsigned)(splitmix(&r) % PROCS));
            reg(s, node, name, &p);
        } else if (what < 9) {
            unreg(s, node, name);
        } else {
            kill_proc(s, node, 1 + (unsigned)(splitmix(&r) % PROCS));
        }
    }
    run(s);
    char ctx[64];
    snprintf(ctx, sizeof ctx, "random seed %llu n=%d", (unsigned long long)seed, n);
    check_all_replied(s, ctx);
    check_converged(s, NAMES, ctx);
    sim_free(s);
}

static void test_random_schedules(void) {
    const char *only = getenv("SW_SIM_SEED");
    if (only) {
        trace = getenv("SW_SIM_TRACE") != NULL;
        random_round(strtoull(only, NULL, 10));
        trace = 0;
        return;
    }
    const char *many = getenv("SW_SIM_RANDOM_SEEDS"); /* default 200 */
    uint64_t seeds = many ? strtoull(many, NULL, 10) : 200;
    for (uint64_t seed = 1; seed <= seeds; seed++) random_round(seed);
}

/* Random schedules with churn: besides register/unregister/kill, C nodes
 * crash and restart and (if cuts) BEAM nodes are cut off and healed, at
 * random moments. After everything is healed and restarted and the cluster
 * is quiet, every tracker and replica agree and no dead process holds a
 * name. Not checked here, by design: replies (requests in flight to a node
 * that crashes are lost), one yes per name and read-your-writes (while
 * views differ two owners may both say yes, or a just restarted owner may
 * say yes before the sync that holds the name reached it; the larger stamp
 * then wins and the other yes is overridden: tracker.c's failure mode 1). */
static void churn_round(uint64_t seed, int cuts) {
    enum { NAMES = 24, PROCS = 6 };
    int n = 3 + (int)(seed % 3);
    if (trace) fprintf(stderr, "=== churn seed %llu\n", (unsigned long long)seed);
    sim_t *s = cluster(n, seed);
    s->no_ryw = 1;
    uint64_t r = seed ^ 0x5eed;
    int cut = -1, crashed = -1;
    for (int ops = 150; ops > 0;) {
        if (splitmix(&r) % 3 != 0 && step(s)) continue;
        ops--;
        int node = (int)(splitmix(&r) % (uint64_t)n);
        uint64_t what = splitmix(&r) % 100;
        if (what < 50) {
            if (!s->nd[node].t) continue;
            erlang_pid p = mkpid((int)(splitmix(&r) % (uint64_t)n), 1 + (unsigned)(splitmix(&r) % PROCS));
            reg(s, node, (int)(splitmix(&r) % NAMES), &p);
        } else if (what < 70) {
            if (!s->nd[node].t) continue;
            unreg(s, node, (int)(splitmix(&r) % NAMES));
        } else if (what < 80) {
            kill_proc(s, node, 1 + (unsigned)(splitmix(&r) % PROCS));
        } else if (what < 90) {
            if (crashed < 0) {
                crashed = node;
                if (trace) fprintf(stderr, "crash C node %d\n", node);
                cnode_crash(s, node);
            } else {
                if (trace) fprintf(stderr, "restart C node %d\n", crashed);
                cnode_start(s, crashed);
                ev_push(&s->nd[crashed], EV_HELLO, NULL, 0);
                crashed = -1;
            }
        } else if (cuts) {
            if (cut < 0) {
                cut = node;
                if (trace) fprintf(stderr, "cut BEAM node %d off\n", node);
                for (int i = 0; i < n; i++) {
                    if (i == cut) continue;
                    s->nd[i].known[cut] = s->nd[cut].known[i] = 0;
                    ev_push(&s->nd[i], EV_PEER_DOWN, NULL, cut);
                    ev_push(&s->nd[cut], EV_PEER_DOWN, NULL, i);
                }
            } else {
                if (trace) fprintf(stderr, "heal BEAM node %d\n", cut);
                for (int i = 0; i < n; i++) {
                    if (i == cut) continue;
                    s->nd[i].known[cut] = s->nd[cut].known[i] = 1;
                    ev_push(&s->nd[i], EV_PEER_UP, NULL, cut);
                    ev_push(&s->nd[cut], EV_PEER_UP, NULL, i);
                }
                cut = -1;
            }
        }
    }
    if (cut >= 0)
        for (int i = 0; i < n; i++) {
            if (i == cut) continue;
            s->nd[i].known[cut] = s->nd[cut].known[i] = 1;
            ev_push(&s->nd[i], EV_PEER_UP, NULL, cut);
            ev_push(&s->nd[cut], EV_PEER_UP, NULL, i);
        }
    if (crashed >= 0) {
        cnode_start(s, crashed);
        ev_push(&s->nd[crashed], EV_HELLO, NULL, 0);
    }
    for (int k = 0; k < 8; k++) {
        run(s);
        tick_all(s, 1000);
    }
    run(s);
    char ctx[64];
    snprintf(ctx, sizeof ctx, "churn seed %llu n=%d", (unsigned long long)seed, n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (i != j && s->link[i][j] != LINK_UP) {
                fprintf(stderr, "\n  %s: link %d-%d not up\n", ctx, i, j);
                CU_FAIL("link not up after heal");
            }
    check_converged(s, NAMES, ctx);
    sim_free(s);
}

static void test_churn_schedules(void) {
    const char *only = getenv("SW_SIM_CHURN_SEED");
    if (only) {
        trace = getenv("SW_SIM_TRACE") != NULL;
        churn_round(strtoull(only, NULL, 10), getenv("SW_SIM_NO_CUTS") == NULL);
        trace = 0;
        return;
    }
    /* SW_SIM_CHURN_SEEDS=N runs N seeds of each kind (default 100). */
    const char *many = getenv("SW_SIM_CHURN_SEEDS");
    uint64_t seeds = many ? strtoull(many, NULL, 10) : 100;
    for (uint64_t seed = 1; seed <= seeds; seed++) churn_round(seed, 1);
    for (uint64_t seed = 1; seed <= seeds; seed++) churn_round(seed, 0);
}

/* ---- (i) malformed ops ------------------------------------------------- */

static void enc_entry(ei_x_buff *x, const char *op, const char *nb, size_t nlen, const erlang_pid *p,
                      unsigned long long c, const char *origin) {
    ei_x_encode_tuple_header(x, 5);
    ei_x_encode_atom(x, op);
    ei_x_encode_binary(x, nb, (int)nlen);
    ei_x_encode_pid(x, p);
    ei_x_encode_ulonglong(x, c);
    ei_x_encode_atom(x, origin);
}

static int peer_ops(sim_t *s, int to, int from, ei_x_buff *x) {
    int index = 0;
    CU_ASSERT_FATAL(sw_term_validate(x->buff, (size_t)x->index, &index) == 0);
    index = 0;
    int bad = sw_tracker_peer_ops(s->nd[to].t, cnode_name(from), x->buff, &index);
    after_call(s);
    return bad;
}

static void test_malformed_ops(void) {
    sim_t *s = cluster(3, 3);
    erlang_pid pb = mkpid(1, 1), pa = mkpid(0, 1);
    for (int k = 0; k < 5; k++) reg(s, 1, k, &pb);
    run(s);
    sw_tracker_stats_t before, after;
    sw_tracker_stats(s->nd[0].t, &before);

    const name_t *n9 = nm(9), *n10 = nm(10);
    ei_x_buff x;
    ei_x_new(&x);
    int nops = 0, nbad = 0;
#define OP(bad) (nops++, nbad += (bad))
    ei_x_encode_list_header(&x, 36);
    ei_x_encode_long(&x, 42); OP(1);
    ei_x_encode_atom(&x, "add"); OP(1);
    ei_x_encode_tuple_header(&x, 0); OP(1);
    ei_x_encode_tuple_header(&x, 1); ei_x_encode_atom(&x, "add"); OP(1);
    ei_x_encode_tuple_header(&x, 2); ei_x_encode_long(&x, 1); ei_x_encode_long(&x, 2); OP(1);
    ei_x_encode_tuple_header(&x, 3); ei_x_encode_atom(&x, "frobnicate"); ei_x_encode_long(&x, 1);
    ei_x_encode_long(&x, 2); OP(1);
    /* add with arity 4 */
    ei_x_encode_tuple_header(&x, 4); ei_x_encode_atom(&x, "add");
    ei_x_encode_binary(&x, n9->bytes, (int)n9->len); ei_x_encode_pid(&x, &pb); ei_x_encode_long(&x, 1); OP(1);
    /* bad NameBins: no 131, bad term inside, trailing bytes, too short,
     * not a binary */
    enc_entry(&x, "add", "\x61\x01", 2, &pb, 1, beam_name(1)); OP(1);
    enc_entry(&x, "add", "\x83\xc8\x00", 3, &pb, 1, beam_name(1)); OP(1);
    enc_entry(&x, "add", "\x83\x61\x01\x61\x02", 5, &pb, 1, beam_name(1)); OP(1);
    enc_entry(&x, "add", "\x83", 1, &pb, 1, beam_name(1)); OP(1);
    enc_entry(&x, "add", "\x83\x52\x00", 3, &pb, 1, beam_name(1)); OP(1);
    ei_x_encode_tuple_header(&x, 5); ei_x_encode_atom(&x, "add"); ei_x_encode_string(&x, "worker");
    ei_x_encode_pid(&x, &pb); ei_x_encode_long(&x, 1); ei_x_encode_atom(&x, beam_name(1)); OP(1);
    /* add and del of pids that do not live on the sender's node (the home
     * originates them, nobody else) */
    enc_entry(&x, "add", n10->bytes, n10->len, &pa, 900, beam_name(1)); OP(1);
    enc_entry(&x, "del", nm(0)->bytes, nm(0)->len, &pa, 1, beam_name(1)); OP(1);
    /* a valid add in the middle: applied */
    enc_entry(&x, "add", n9->bytes, n9->len, &pb, 500, beam_name(1)); OP(0);
    /* not a pid; negative counter; origin not an atom */
    ei_x_encode_tuple_header(&x, 5); ei_x_encode_atom(&x, "add");
    ei_x_encode_binary(&x, n10->bytes, (int)n10->len); ei_x_encode_atom(&x, "notapid");
    ei_x_encode_long(&x, 1); ei_x_encode_atom(&x, beam_name(1)); OP(1);
    ei_x_encode_tuple_header(&x, 5); ei_x_encode_atom(&x, "add");
    ei_x_encode_binary(&x, n10->bytes, (int)n10->len); ei_x_encode_pid(&x, &pb);
    ei_x_encode_long(&x, -1); ei_x_encode_atom(&x, beam_name(1)); OP(1);
    ei_x_encode_tuple_header(&x, 5); ei_x_encode_atom(&x, "del");
    ei_x_encode_binary(&x, n10->bytes, (int)n10->len); ei_x_encode_pid(&x, &pb);
    ei_x_encode_long(&x, 1); ei_x_encode_binary(&x, "b", 1); OP(1);
    /* sync: not a list; an entry of another node's pid (all of it
     * refused, nothing dropped); a malformed entry; wrong arity */
    ei_x_encode_tuple_header(&x, 2); ei_x_encode_atom(&x, "sync"); ei_x_encode_atom(&x, "x"); OP(1);
    ei_x_encode_tuple_header(&x, 2); ei_x_encode_atom(&x, "sync"); ei_x_encode_list_header(&x, 1);
    ei_x_encode_tuple_header(&x, 4); ei_x_encode_binary(&x, n10->bytes, (int)n10->len);
    ei_x_encode_pid(&x, &pa); ei_x_encode_long(&x, 7); ei_x_encode_atom(&x, beam_name(1));
    ei_x_encode_empty_list(&x); OP(1);
    ei_x_encode_tuple_header(&x, 2); ei_x_encode_atom(&x, "sync"); ei_x_encode_list_header(&x, 1);
    ei_x_encode_tuple_header(&x, 3); ei_x_encode_long(&x, 1); ei_x_encode_long(&x, 1); ei_x_encode_long(&x, 1);
    ei_x_encode_empty_list(&x); OP(1);
    ei_x_encode_tuple_header(&x, 3); ei_x_encode_atom(&x, "sync"); ei_x_encode_empty_list(&x);
    ei_x_encode_empty_list(&x); OP(1);
    /* reg_req, claim, claim_nack, reply, unreg_req with wrong arities or
     * fields */
    ei_x_encode_tuple_header(&x, 4); ei_x_encode_atom(&x, "reg_req");
    ei_x_encode_binary(&x, n10->bytes, (int)n10->len); ei_x_encode_pid(&x, &pb); ei_x_encode_pid(&x, &pb); OP(1);
    ei_x_encode_tuple_header(&x, 5); ei_x_encode_atom(&x, "reg_req");
    ei_x_encode_binary(&x, n10->bytes, (int)n10->len); ei_x_encode_pid(&x, &pb); ei_x_encode_long(&x, 3);
    ei_x_encode_long(&x, 1); OP(1);
    ei_x_encode_tuple_header(&x, 7); ei_x_encode_atom(&x, "claim");
    for (int k = 0; k < 6; k++) ei_x_encode_long(&x, k);
    OP(1);
    ei_x_encode_tuple_header(&x, 8); ei_x_encode_atom(&x, "claim");
    ei_x_encode_binary(&x, n10->bytes, (int)n10->len); ei_x_encode_pid(&x, &pa);
    ei_x_encode_long(&x, 3); ei_x_encode_atom(&x, beam_name(1)); ei_x_encode_long(&x, 0) /* CcBeam */;
    ei_x_encode_pid(&x, &pb); ei_x_encode_long(&x, 1); OP(1);
    ei_x_encode_tuple_header(&x, 3); ei_x_encode_atom(&x, "claim_nack");
    ei_x_encode_binary(&x, n10->bytes, (int)n10->len); ei_x_encode_long(&x, 3); OP(1);
    ei_x_encode_tuple_header(&x, 4); ei_x_encode_atom(&x, "reply"); ei_x_encode_long(&x, 1);
    ei_x_encode_long(&x, 1); ei_x_encode_atom(&x, "yes"); OP(1);
    /* (a reply's Result may be any term: an arity error instead) */
    ei_x_encode_tuple_header(&x, 3); ei_x_encode_atom(&x, "reply"); ei_x_encode_pid(&x, &pa);
    ei_x_encode_long(&x, 1); OP(1);
    ei_x_encode_tuple_header(&x, 4); ei_x_encode_atom(&x, "unreg_req"); ei_x_encode_binary(&x, "", 0);
    ei_x_encode_pid(&x, &pb); ei_x_encode_long(&x, 1); OP(1);
    ei_x_encode_tuple_header(&x, 3); ei_x_encode_atom(&x, "unreg_req");
    ei_x_encode_binary(&x, n10->bytes, (int)n10->len); ei_x_encode_pid(&x, &pb); OP(1);
    /* hello naming ourselves, or not an atom */
    ei_x_encode_tuple_header(&x, 2); ei_x_encode_atom(&x, "hello"); ei_x_encode_atom(&x, beam_name(0)); OP(1);
    ei_x_encode_tuple_header(&x, 2); ei_x_encode_atom(&x, "hello"); ei_x_encode_long(&x, 1); OP(1);
    /* a tag longer than any op name */
    ei_x_encode_tuple_header(&x, 1);
    ei_x_encode_atom(&x, "a_very_long_tag_that_is_no_op_at_all_and_goes_on_and_on"); OP(1);
    /* the last op is valid and applied */
    enc_entry(&x, "add", n10->bytes, n10->len, &pb, 501, beam_name(1)); OP(0);
    ei_x_encode_empty_list(&x);
#undef OP
    CU_ASSERT_EQUAL(nops, 36);
    int bad = peer_ops(s, 0, 1, &x);
    CU_ASSERT_EQUAL(bad, nbad);
    sw_tracker_stats(s->nd[0].t, &after);
    CU_ASSERT_EQUAL(after.bad_ops - before.bad_ops, (uint64_t)nbad);
    erlang_pid got;
    CU_ASSERT(tlook(s, 0, 9, &got) && pid_eq(&got, &pb));
    CU_ASSERT(tlook(s, 0, 10, &got) && pid_eq(&got, &pb));
    /* The refused syncs dropped nothing. */
    for (int k = 0; k < 5; k++) CU_ASSERT(tlook(s, 0, k, NULL));
    /* Not a list at all; an empty list; an unknown sender. */
    x.index = 0;
    ei_x_encode_atom(&x, "ops");
    CU_ASSERT(peer_ops(s, 0, 1, &x) > 0);
    x.index = 0;
    ei_x_encode_empty_list(&x);
    CU_ASSERT_EQUAL(peer_ops(s, 0, 1, &x), 0);
    sw_tracker_stats(s->nd[0].t, &after);
    CU_ASSERT_EQUAL(after.bad_ops - before.bad_ops, (uint64_t)nbad + 1);
    x.index = 0;
    ei_x_encode_list_header(&x, 1);
    enc_entry(&x, "add", nm(11)->bytes, nm(11)->len, &pb, 502, beam_name(1));
    ei_x_encode_empty_list(&x);
    int index = 0;
    CU_ASSERT(sw_tracker_peer_ops(s->nd[0].t, "stranger@127.0.0.1", x.buff, &index) != 0);
    CU_ASSERT_FALSE(tlook(s, 0, 11, NULL));
    ei_x_free(&x);

    /* The cluster keeps working. Names 9 and 10 exist only at node 0 (they
     * were injected): the home (node 1) never originated them, so they are
     * not checked for agreement. */
    for (int k = 20; k < 40; k++) {
        erlang_pid p = mkpid(k % 3, 2);
        reg(s, (k + 1) % 3, k, &p);
    }
    run(s);
    for (int k = 20; k < 40; k++)
        for (int i = 0; i < 3; i++) CU_ASSERT(tlook(s, i, k, NULL));
    check_all_replied(s, "malformed");
    sim_free(s);
}

/* Nodes that are not swarm peers: a connection whose first ops are not a
 * hello naming the BEAM node its own name implies is refused whole (and
 * becomes no peer: nothing is sent to it, nothing is kept for it); a hello
 * naming another node (impersonation) changes nothing; a stranger that does
 * say a valid hello is a peer until its connection goes, then forgotten;
 * pids of nodes never heard of intern at most SW_ATOMS_BUDGET node names. */
static void test_strangers(void) {
    sim_t *s = cluster(3, 5);
    erlang_pid pc = mkpid(2, 1);
    for (int k = 0; k < 5; k++) reg(s, 2, k, &pc);
    run(s);
    sw_tracker_t *t = s->nd[0].t;
    sw_tracker_stats_t st0, st;
    sw_tracker_stats(t, &st0);
    CU_ASSERT_EQUAL(st0.members, 3);
    ei_x_buff x;
    ei_x_new(&x);
    int index;
    /* 1. A remote shell's connection: ops without hello. */
    sw_tracker_conn_up(t, "remsh1@127.0.0.1");
    CU_ASSERT_FALSE(sw_tracker_pending(t));
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "sync");
    ei_x_encode_empty_list(&x);
    ei_x_encode_empty_list(&x);
    index = 0;
    CU_ASSERT(sw_tracker_peer_ops(t, "remsh1@127.0.0.1", x.buff, &index) != 0);
    sw_tracker_conn_down(t, "remsh1@127.0.0.1");
    /* 2. Impersonation: a swarm-named stranger says it is c's node. */
    x.index = 0;
    ei_x_encode_list_header(&x, 2);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "hello");
    ei_x_encode_atom(&x, beam_name(2));
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "sync");
    ei_x_encode_empty_list(&x);
    ei_x_encode_empty_list(&x);
    sw_tracker_conn_up(t, "swarm_p9@127.0.0.1");
    index = 0;
    CU_ASSERT(sw_tracker_peer_ops(t, "swarm_p9@127.0.0.1", x.buff, &index) != 0);
    /* ... and the same from node b's own connection: the hello is refused
     * (counted), the sync that follows speaks for b alone. */
    sw_tracker_stats(t, &st);
    uint64_t bad = st.bad_ops;
    CU_ASSERT_EQUAL(peer_ops(s, 0, 1, &x), 1);
    sw_tracker_stats(t, &st);
    CU_ASSERT_EQUAL(st.bad_ops, bad + 1);
    CU_ASSERT_EQUAL(st.stranger_ops, st0.stranger_ops + 2);
    for (int k = 0; k < 5; k++) CU_ASSERT(tlook(s, 0, k, NULL));
    CU_ASSERT_EQUAL(st.members, 3);
    /* 3. A stranger with a valid hello: a peer (a ring member), until its
     * connection goes. */
    x.index = 0;
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "hello");
    ei_x_encode_atom(&x, "p9@127.0.0.1");
    ei_x_encode_empty_list(&x);
    index = 0;
    CU_ASSERT_EQUAL(sw_tracker_peer_ops(t, "swarm_p9@127.0.0.1", x.buff, &index), 0);
    sw_tracker_stats(t, &st);
    CU_ASSERT_EQUAL(st.members, 4);
    sw_tracker_conn_down(t, "swarm_p9@127.0.0.1");
    sw_tracker_stats(t, &st);
    CU_ASSERT_EQUAL(st.members, 3);
    /* 4. Pids of 200 nodes nobody reported, from a real peer: refused
     * beyond the budget. */
    x.index = 0;
    ei_x_encode_list_header(&x, 200);
    for (int k = 0; k < 200; k++) {
        erlang_pid fake = mkpid(1, 1);
        snprintf(fake.node, sizeof fake.node, "fake%d@127.0.0.1", k);
        enc_entry(&x, "add", nm(30)->bytes, nm(30)->len, &fake, 1, beam_name(1));
    }
    ei_x_encode_empty_list(&x);
    sw_tracker_stats(t, &st0);
    index = 0;
    CU_ASSERT_EQUAL(sw_tracker_peer_ops(t, cnode_name(1), x.buff, &index), 200);
    sw_tracker_stats(t, &st);
    CU_ASSERT(st.atoms_refused >= st0.atoms_refused + 200 - SW_ATOMS_BUDGET);
    ei_x_free(&x);
    /* The cluster keeps working. */
    for (int k = 10; k < 20; k++) {
        erlang_pid p = mkpid(k % 3, 3);
        reg(s, (k + 2) % 3, k, &p);
    }
    run(s);
    for (int k = 10; k < 20; k++)
        for (int i = 0; i < 3; i++) CU_ASSERT(tlook(s, i, k, NULL));
    sim_free(s);
}

/* Requests sent again after a link dropped: a register whose first attempt
 * committed answers yes (from the owner, and from the home when the owner
 * had not heard of the entry), for that pid only; an unregister whose home
 * is not connected is not answered (`ok` would be a lie) and goes through
 * when sent again once the link is back; the agent hears of every link
 * that went or came. */
static void test_retries(void) {
    sim_t *s = cluster(3, 11);
    erlang_pid pb = mkpid(1, 7), pc = mkpid(2, 7);
    for (int k = 0; k < 12; k++) {
        int r = reg(s, k % 3, 60 + k, &pb);
        run(s);
        CU_ASSERT_STRING_EQUAL(s->reqs[r].result, "yes");
        for (int i = 0; i < 3; i++) {
            r = reg_retry(s, i, 60 + k, &pb);
            run(s);
            CU_ASSERT_STRING_EQUAL(s->reqs[r].result, "yes");
            r = reg_retry(s, i, 60 + k, &pc);
            run(s);
            CU_ASSERT_STRING_EQUAL(s->reqs[r].result, "no");
        }
        /* A plain second register of the same pid is still `no`. */
        r = reg(s, (k + 1) % 3, 60 + k, &pb);
        run(s);
        CU_ASSERT_STRING_EQUAL(s->reqs[r].result, "no");
    }
    int links = s->nd[0].links_msgs;
    link_close(s, 0, 1);
    flush_all(s);
    CU_ASSERT(s->nd[0].links_msgs > links);
    int r = unreg(s, 0, 60);
    CU_ASSERT_EQUAL(s->reqs[r].replies, 0);
    sw_tracker_stats_t st;
    sw_tracker_stats(s->nd[0].t, &st);
    CU_ASSERT_EQUAL(st.unreg_waits, 1);
    s->reqs[r].replies = 1; /* (left unanswered on purpose) */
    links = s->nd[0].links_msgs;
    settle(s); /* node 0 dials node 1 again */
    CU_ASSERT(s->nd[0].links_msgs > links);
    r = unreg(s, 0, 60);
    run(s);
    CU_ASSERT_STRING_EQUAL(s->reqs[r].result, "ok");
    for (int i = 0; i < 3; i++) CU_ASSERT_FALSE(tlook(s, i, 60, NULL));
    check_all_replied(s, "retries");
    sim_free(s);
}

/* Two entries of one name with equal stamps (a restarted origin's clock
 * repeats counters) reach two nodes in opposite orders: both keep the same
 * one (the larger pid), not the one that came last. */
static void test_equal_stamps(void) {
    sim_t *s = cluster(4, 8);
    erlang_pid pb = mkpid(1, 1), pc = mkpid(2, 1), got;
    ei_x_buff xb, xc;
    ei_x_new(&xb);
    ei_x_new(&xc);
    ei_x_encode_list_header(&xb, 1);
    enc_entry(&xb, "add", nm(5)->bytes, nm(5)->len, &pb, 7, beam_name(3));
    ei_x_encode_empty_list(&xb);
    ei_x_encode_list_header(&xc, 1);
    enc_entry(&xc, "add", nm(5)->bytes, nm(5)->len, &pc, 7, beam_name(3));
    ei_x_encode_empty_list(&xc);
    CU_ASSERT_EQUAL(peer_ops(s, 0, 1, &xb), 0);
    CU_ASSERT_EQUAL(peer_ops(s, 0, 2, &xc), 0);
    CU_ASSERT_EQUAL(peer_ops(s, 3, 2, &xc), 0);
    CU_ASSERT_EQUAL(peer_ops(s, 3, 1, &xb), 0);
    run(s);
    CU_ASSERT(tlook(s, 0, 5, &got) && pid_eq(&got, &pc));
    CU_ASSERT(tlook(s, 3, 5, &got) && pid_eq(&got, &pc));
    sw_tracker_stats_t st;
    sw_tracker_stats(s->nd[0].t, &st);
    CU_ASSERT_EQUAL(st.conflicts, 1);
    ei_x_free(&xb);
    ei_x_free(&xc);
    sim_free(s);
}

/* ---- (j) reservation expiry -------------------------------------------- */

static void test_reservation_expiry(void) {
    sim_t *s = cluster(3, 4);
    erlang_pid pb = mkpid(1, 1), pc = mkpid(2, 1);
    /* Find a name node 0 owns: registering it for a pid of node 1 leaves a
     * reservation at node 0 and a claim on its way to node 1. */
    int name = -1, r1 = -1;
    sw_tracker_stats_t st;
    for (int k = 0; k < 100 && name < 0; k++) {
        int q = reg(s, 0, k, &pb);
        sw_tracker_stats(s->nd[0].t, &st);
        if (st.reserved == 1) {
            name = k;
            r1 = q;
        } else {
            run(s);
        }
    }
    CU_ASSERT_FATAL(name >= 0);
    CU_ASSERT_EQUAL(s->q[0][1].n, 1);
    /* The home never answers: the claim is lost. */
    msg_t *claim = q_pop(&s->q[0][1]);
    CU_ASSERT_FALSE(tlook(s, 0, name, NULL));
    /* Meanwhile the name is taken. */
    int r2 = reg(s, 2, name, &pc);
    run(s);
    CU_ASSERT_STRING_EQUAL(s->reqs[r2].result, "no");
    /* Not before the timeout... */
    tick_all(s, SW_CLAIM_TIMEOUT_MS - 1);
    sw_tracker_stats(s->nd[0].t, &st);
    CU_ASSERT_EQUAL(st.reserved, 1);
    CU_ASSERT_EQUAL(st.expired, 0);
    /* ... then it expires and frees the name. */
    tick_all(s, 1);
    sw_tracker_stats(s->nd[0].t, &st);
    CU_ASSERT_EQUAL(st.reserved, 0);
    CU_ASSERT_EQUAL(st.expired, 1);
    CU_ASSERT_EQUAL(s->reqs[r1].replies, 0); /* the first caller is never answered */
    int r3 = reg(s, 2, name, &pc);
    run(s);
    CU_ASSERT_STRING_EQUAL(s->reqs[r3].result, "yes");
    erlang_pid got;
    CU_ASSERT(tlook(s, 1, name, &got) && pid_eq(&got, &pc));

    /* The lost claim shows up after all (a home that was only slow): the
     * home refuses it, the name stays with the later registration. */
    int index, arity;
    char atom[MAXATOMLEN_UTF8];
    CU_ASSERT_FATAL(dec_envelope(claim->buf, &index, &arity, atom) == 0);
    CU_ASSERT_EQUAL(sw_tracker_peer_ops(s->nd[1].t, cnode_name(0), claim->buf, &index), 0);
    free(claim);
    after_call(s);
    run(s);
    CU_ASSERT_EQUAL(s->reqs[r1].replies, 1);
    CU_ASSERT_STRING_EQUAL(s->reqs[r1].result, "no");
    for (int i = 0; i < 3; i++) CU_ASSERT(tlook(s, i, name, &got) && pid_eq(&got, &pc));
    check_converged(s, 100, "expiry");
    sim_free(s);
}

/* ---- suite ------------------------------------------------------------- */

static int suite_init(void) {
    sw_log_set_level(SW_LOG_ERROR);
    return 0;
}

static int suite_cleanup(void) {
    for (int i = 0; i < MAXNAMES; i++) {
        free(names[i].bytes);
        names[i].bytes = NULL;
    }
    sw_log_set_level(SW_LOG_INFO);
    return 0;
}

/* Many names per pid: a pid's entries live in a set in the pid index that
 * grows and shrinks. Names registered from every node for two pids of node
 * 1 (and one of node 2), removed in a random order by unregister (at the
 * home and elsewhere), then by the pid's death and by its node's death;
 * every node agrees and counts the pids right at each stage. */
static void test_many_names_per_pid(void) {
    for (uint64_t seed = 1; seed <= 3; seed++) {
        enum { NAMES = 600 };
        sim_t *s = cluster(3, seed);
        erlang_pid p = mkpid(1, 5), q = mkpid(1, 6), r = mkpid(2, 7);
        for (int k = 0; k < NAMES; k++) reg(s, k % 3, k, k < 400 ? &p : k < 500 ? &q : &r);
        run(s);
        sw_tracker_stats_t st;
        for (int i = 0; i < 3; i++) {
            sw_tracker_stats(s->nd[i].t, &st);
            CU_ASSERT_EQUAL(st.names, NAMES);
            CU_ASSERT_EQUAL(st.pids, 3);
            for (int k = 0; k < NAMES; k++) CU_ASSERT(tlook(s, i, k, NULL));
        }
        /* Unregister 390 of p's 400 names in a random order, from every
         * node: the set shrinks down to 10 entries. */
        int order[400];
        for (int k = 0; k < 400; k++) order[k] = k;
        uint64_t rs = seed * 31;
        for (int k = 399; k > 0; k--) {
            int j = (int)(splitmix(&rs) % (uint64_t)(k + 1));
            int x = order[k];
            order[k] = order[j];
            order[j] = x;
        }
        for (int k = 0; k < 390; k++) {
            unreg(s, k % 3, order[k]);
            if (k % 7 == 0) run(s);
        }
        run(s);
        for (int i = 0; i < 3; i++) {
            sw_tracker_stats(s->nd[i].t, &st);
            CU_ASSERT_EQUAL(st.names, NAMES - 390);
            CU_ASSERT_EQUAL(st.pids, 3);
            for (int k = 0; k < 400; k++) CU_ASSERT_EQUAL(tlook(s, i, order[k], NULL), k >= 390);
        }
        check_converged(s, NAMES, "many_names");
        /* Down to one name, then none: the pid leaves the index. */
        for (int k = 390; k < 399; k++) unreg(s, 0, order[k]);
        run(s);
        for (int i = 0; i < 3; i++) {
            sw_tracker_stats(s->nd[i].t, &st);
            CU_ASSERT_EQUAL(st.pids, 3);
        }
        kill_proc(s, 1, 5);
        run(s);
        for (int i = 0; i < 3; i++) {
            sw_tracker_stats(s->nd[i].t, &st);
            CU_ASSERT_EQUAL(st.pids, 2);
            CU_ASSERT_EQUAL(st.names, 200);
            CU_ASSERT_FALSE(tlook(s, i, order[399], NULL));
        }
        check_all_replied(s, "many_names");
        /* q's 100 names go with its node; r's stay. */
        s->nd[1].beam_up = 0;
        cnode_crash(s, 1);
        for (int i = 0; i < 3; i += 2) {
            s->nd[i].known[1] = 0;
            ev_push(&s->nd[i], EV_PEER_DOWN, NULL, 1);
        }
        settle(s);
        for (int i = 0; i < 3; i += 2) {
            sw_tracker_stats(s->nd[i].t, &st);
            CU_ASSERT_EQUAL(st.pids, 1);
            CU_ASSERT_EQUAL(st.names, 100);
            for (int k = 400; k < NAMES; k++) CU_ASSERT_EQUAL(tlook(s, i, k, NULL), k >= 500);
        }
        check_converged(s, NAMES, "many_names");
        sim_free(s);
    }
}

/* Several reservations at once, their claims lost: they expire oldest
 * first, each at its own deadline, and leave no trace; later ones reuse
 * the freed records. */
static void test_reservations_fifo(void) {
    sim_t *s = cluster(3, 9);
    erlang_pid pb = mkpid(1, 1);
    sw_tracker_stats_t st;
    /* Names node 0 owns, for a pid of node 1: a reservation each. */
    int owned[8], n = 0;
    for (int k = 0; k < 200 && n < 8; k++) {
        sw_tracker_stats(s->nd[0].t, &st);
        uint64_t before = st.reserved;
        reg(s, 0, k, &pb);
        sw_tracker_stats(s->nd[0].t, &st);
        if (st.reserved == before + 1) {
            owned[n++] = k;
            /* Lose the claim; a tick between them staggers the deadlines. */
            CU_ASSERT_FATAL(s->q[0][1].n == 1);
            free(q_pop(&s->q[0][1]));
            tick_all(s, 100);
        } else {
            run(s);
        }
    }
    CU_ASSERT_FATAL(n == 8);
    sw_tracker_stats(s->nd[0].t, &st);
    CU_ASSERT_EQUAL(st.reserved, 8);
    /* The first reservation was made at t0, the last at t0 + 700 ms; after
     * timeout - 700 + 250 more ms, the first three (and only they) are gone. */
    tick_all(s, SW_CLAIM_TIMEOUT_MS - 800 + 250);
    sw_tracker_stats(s->nd[0].t, &st);
    CU_ASSERT_EQUAL(st.expired, 3);
    CU_ASSERT_EQUAL(st.reserved, 5);
    for (int k = 0; k < 3; k++) {
        int r = reg(s, 2, owned[k], &pb);
        run(s);
        CU_ASSERT_STRING_EQUAL(s->reqs[r].result, "yes");
    }
    for (int k = 3; k < 8; k++) {
        int r = reg(s, 2, owned[k], &pb);
        run(s);
        CU_ASSERT_STRING_EQUAL(s->reqs[r].result, "no");
    }
    tick_all(s, 1000);
    sw_tracker_stats(s->nd[0].t, &st);
    CU_ASSERT_EQUAL(st.expired, 8);
    CU_ASSERT_EQUAL(st.reserved, 0);
    for (int k = 3; k < 8; k++) {
        int r = reg(s, 2, owned[k], &pb);
        run(s);
        CU_ASSERT_STRING_EQUAL(s->reqs[r].result, "yes");
    }
    check_converged(s, 200, "resv_fifo");
    sim_free(s);
}

/* ---- (m) optimistic register_name/2 ----------------------------------- */

/* register_name({worker, name}, pid) in optimistic mode on pid's node: the
 * caller writes its replica row if the replica does not show the name
 * (ets:insert_new) and returns; its C node hears of it afterwards. Returns
 * 1 for the caller's yes. */
static int reg_opt(sim_t *s, int name, const erlang_pid *pid) {
    node_t *nd = &s->nd[pid_node(pid)];
    rentry_t *r = &nd->rep[name];
    if (r->present) return 0;
    r->present = 1;
    r->pid = *pid;
    sw_tracker_register_opt(nd->t, nm(name)->bytes, nm(name)->len, pid);
    after_call(s);
    return 1;
}

/* A caller's yes is committed and replicated; a name its C node knew taken
 * refuses it (the row dropped, the process told); two nodes deciding one
 * name at once both say yes, and every node ends with one of them, the
 * other told {swarm, die} by its home; exits and unregister as usual. */
static void test_optimistic(void) {
    enum { NAMES = 60 };
    for (uint64_t seed = 1; seed <= 10; seed++) {
        sim_t *s = cluster(3, seed);
        for (int i = 0; i < 3; i++) sw_tracker_set_optimistic(s->nd[i].t, 1);
        erlang_pid p1 = mkpid(0, 1), got;
        CU_ASSERT(reg_opt(s, 0, &p1));
        settle(s);
        for (int i = 0; i < 3; i++) CU_ASSERT(tlook(s, i, 0, &got) && pid_eq(&got, &p1));
        /* Known taken at node 1's C node, not yet in its replica (the
         * add on its way to the agent, applied once the caller is done). */
        erlang_pid q = mkpid(1, 2);
        rentry_t pending = s->nd[1].rep[0];
        s->nd[1].rep[0].present = 0;
        CU_ASSERT(reg_opt(s, 0, &q));
        settle(s);
        CU_ASSERT_EQUAL(s->nd[1].drops, 1);
        CU_ASSERT_EQUAL(s->nd[1].told[2], 1);
        CU_ASSERT_FALSE(s->nd[1].rep[0].present); /* the caller's row went */
        s->nd[1].rep[0] = pending;
        for (int i = 0; i < 3; i++) CU_ASSERT(tlook(s, i, 0, &got) && pid_eq(&got, &p1));
        /* Names 1..NAMES-1 from two nodes each, before any delivery. */
        int both = 0;
        for (int k = 1; k < NAMES; k++) {
            erlang_pid a = mkpid(k % 3, 3 + (unsigned)(k % 20)), b = mkpid((k + 1) % 3, 3 + (unsigned)(k % 20));
            both += reg_opt(s, k, &a) && reg_opt(s, k, &b);
        }
        CU_ASSERT_EQUAL(both, NAMES - 1);
        settle(s);
        check_converged(s, NAMES, "optimistic");
        int losers = 0;
        for (int k = 1; k < NAMES; k++) {
            erlang_pid w;
            CU_ASSERT_FATAL(tlook(s, 0, k, &w));
            /* The one that lost was told, on its node. */
            erlang_pid a = mkpid(k % 3, 3 + (unsigned)(k % 20)), b = mkpid((k + 1) % 3, 3 + (unsigned)(k % 20));
            CU_ASSERT(pid_eq(&w, &a) || pid_eq(&w, &b));
            (void)a;
        }
        for (int i = 0; i < 3; i++)
            for (int num = 3; num < 23; num++) losers += s->nd[i].told[num];
        CU_ASSERT_EQUAL(losers, NAMES - 1);
        /* Exits and unregister still remove names everywhere. */
        kill_proc(s, 0, 1);
        settle(s);
        for (int i = 0; i < 3; i++) CU_ASSERT_FALSE(tlook(s, i, 0, NULL));
        check_converged(s, NAMES, "optimistic exits");
        sim_free(s);
    }
}

int test_tracker_suite(void) {
    CU_pSuite s = CU_add_suite("tracker", suite_init, suite_cleanup);
    if (!s) return -1;
    if (!CU_add_test(s, "(a) single node register/lookup/unregister", test_single_node) ||
        !CU_add_test(s, "(b) 3 nodes x 200 names concurrently: one yes each", test_concurrent_register) ||
        !CU_add_test(s, "(c) read your writes", test_read_your_writes) ||
        !CU_add_test(s, "(d) pid_down at the home", test_pid_down) ||
        !CU_add_test(s, "(e) BEAM node death", test_node_death) ||
        !CU_add_test(s, "(e) BEAM node death, late delivery", test_node_death_late_delivery) ||
        !CU_add_test(s, "(e) BEAM node death, C node redials", test_node_death_redial) ||
        !CU_add_test(s, "(e) BEAM partition and heal", test_partition_heal) ||
        !CU_add_test(s, "(e) heal: a C node hung up on dials back at its peer_up", test_heal_dial_back) ||
        !CU_add_test(s, "(f) C node restart", test_cnode_restart) ||
        !CU_add_test(s, "(g) late joiner", test_late_join) ||
        !CU_add_test(s, "(g) synced by timeout or peer_down", test_sync_timeout) ||
        !CU_add_test(s, "(h) 200 random schedules", test_random_schedules) ||
        !CU_add_test(s, "(h) 2x100 random schedules with crashes (and partitions)", test_churn_schedules) ||
        !CU_add_test(s, "(i) malformed ops", test_malformed_ops) ||
        !CU_add_test(s, "(i) strangers, impersonators, unknown nodes", test_strangers) ||
        !CU_add_test(s, "(l) requests sent again after a link dropped", test_retries) ||
        !CU_add_test(s, "conflict with equal stamps", test_equal_stamps) ||
        !CU_add_test(s, "(j) reservation expiry", test_reservation_expiry) ||
        !CU_add_test(s, "(j) reservations expire oldest first", test_reservations_fifo) ||
        !CU_add_test(s, "(k) many names per pid", test_many_names_per_pid) ||
        !CU_add_test(s, "(m) optimistic register_name/2", test_optimistic))
        return -1;
    return 0;
}
