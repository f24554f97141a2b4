/* test_group.c - CUnit suite of group.c, run in a deterministic, seeded
 * simulation of up to 4 nodes inside one process.
 *
 * The simulator. Each node is a group state (its C node) and a model of its
 * swarm_groups process: the replica (per group, the chunks last received),
 * the monitors it holds, the replies its callers received, and whether it
 * got gsynced. A network holds one FIFO queue per ordered pair of nodes;
 * sw_group_flush's peer output is appended to it, and a delivery decodes the
 * {'$sw1', gops, List} envelope and calls sw_group_peer_ops on the receiver.
 * What swarm_groups sends to its C node (gdown when a monitored pid dies)
 * goes through one more FIFO per node. Each step a seeded PRNG picks one
 * non-empty queue and delivers its head: connections interleave arbitrarily
 * but each stays FIFO, as TCP does.
 *
 * Invariants checked at quiescence: every node's group state equals what the
 * homes hold for their own pids; every replica (the union of its chunks)
 * equals its node's state, with no pid twice (checked after every batch); every local member is
 * monitored and nothing else is; no dead pid is a member anywhere.
 *
 * Properties (one test each): (a) one node: join, leave, idempotence,
 * monitors, replies; (b) joins and leaves for remote pids: the reply comes
 * after the caller's replica shows the change; (c) a member's death removes
 * it everywhere; (d) a BEAM node's death removes its members everywhere,
 * late ops from it are ignored, and sw_group_transfer gives the groups of a
 * vanished pid to a new one; (e) after a disconnection the home's sync is
 * authoritative; (f) a C node restart rebuilds from swarm_groups' hello and
 * converges, members that died meanwhile gone; (g) a 300-member group over
 * several chunks stays exact through leaves from the middle, and no member
 * ever moves to another chunk; (h) 150 seeds of
 * random join/leave/kill mixes converge; (i) malformed and misrouted peer
 * ops are counted and change nothing; (j) malformed local messages are
 * refused; (k) gsynced after the peers' syncs, or after the timeout. */
#include <CUnit/Basic.h>
#include <ei.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group.h"
#include "log.h"
#include "proto.h"
#include "sim.h"
#include "swarm_proto.h"

#define MAXN 4
#define MAXG 8
#define MAXP 128     /* pids per node: nums 1..MAXP-1 */
#define MAXCH 64     /* chunks per group in the replica model */
#define CALLER_NUM 5000
#define MAXREQ 4096

/* ---- names and pids ---------------------------------------------------- */

typedef struct {
    char *bytes; /* term_to_binary({group, I}), with 131 */
    int len;
} gname_t;

static gname_t gnames[MAXG];

static const gname_t *gn(int i) {
    gname_t *n = &gnames[i];
    if (!n->bytes) {
        size_t len;
        n->bytes = tagged_bin("group", i, &len);
        n->len = (int)len;
    }
    return n;
}

static int gindex(const char *bin, long len) {
    for (int i = 0; i < MAXG; i++)
        if (gn(i)->len == len && memcmp(gn(i)->bytes, bin, (size_t)len) == 0) return i;
    return -1;
}

/* A pid as one int: node * MAXP + num (worker pids only). */
static int pid_id(const erlang_pid *p) { return pid_node(p) * MAXP + (int)p->num; }

/* ---- the simulation ---------------------------------------------------- */

typedef struct {
    int kind; /* 0 join, 1 leave */
    int node, group, pid;
    int replies;
    char result[32];
    int ryw_ok; /* replica matched at reply time */
} req_t;

typedef struct sim_s sim_t;

typedef struct {
    sim_t *sim;
    int id;
    sw_group_t *g; /* NULL while the C node is down */
    int beam_up;
    int dead[MAXP];
    /* swarm_groups model: the chunks */
    int have_chunk[MAXG][MAXCH];
    int chunk_len[MAXG][MAXCH];
    int chunk[MAXG][MAXCH][SW_GROUP_CHUNK];
    int mon[MAXP];
    int double_mons; /* monitor requests for a pid already monitored */
    int where[MAXG][MAXN * MAXP]; /* chunk + 1 a pid was in at the last batch end */
    int moved;                    /* a pid changed chunks between two batch ends */
    int dups;                     /* a pid in two chunks at a batch end */
    int gsynced;
    int batches;
    queue_t down; /* gdown messages to the C node (pid nums) */
} node_t;

struct sim_s {
    int n;
    uint64_t seed;
    node_t nodes[MAXN];
    queue_t net[MAXN][MAXN]; /* net[from][to] */
    req_t reqs[MAXREQ];
    int nreq;
    int check_ryw;
    uint64_t now;
};

static int node_by_cnode(const char *cnode) {
    for (int i = 0; i < MAXN; i++)
        if (strcmp(cnode, cnode_name(i)) == 0) return i;
    return -1;
}

static void push_down(node_t *nd, int num) {
    char b[sizeof(int)];
    memcpy(b, &num, sizeof num);
    q_push(&nd->down, b, sizeof b);
}

/* As members/1 reads it: the group's chunks. */
static int replica_has(const node_t *nd, int g, int pid) {
    for (int k = 0; k < MAXCH; k++) {
        if (!nd->have_chunk[g][k]) continue;
        for (int i = 0; i < nd->chunk_len[g][k]; i++)
            if (nd->chunk[g][k][i] == pid) return 1;
    }
    return 0;
}

/* swarm_groups: applies {'$sw1', gbatch, Chunks, Mons, Replies}. */
static void agent_batch(node_t *nd, const char *buf, int *index) {
    int n, tup;
    CU_ASSERT_FATAL(ei_decode_list_header(buf, index, &n) == 0);
    for (int i = 0; i < n; i++) {
        char bin[256];
        long blen;
        unsigned long k;
        int m;
        CU_ASSERT_FATAL(ei_decode_tuple_header(buf, index, &tup) == 0 && tup == 3);
        CU_ASSERT_FATAL(ei_decode_binary(buf, index, bin, &blen) == 0);
        CU_ASSERT_FATAL(ei_decode_ulong(buf, index, &k) == 0);
        CU_ASSERT_FATAL(ei_decode_tuple_header(buf, index, &m) == 0);
        int g = gindex(bin, blen);
        CU_ASSERT_FATAL(g >= 0 && k < MAXCH && m <= SW_GROUP_CHUNK);
        nd->have_chunk[g][k] = m > 0;
        nd->chunk_len[g][k] = m;
        for (int j = 0; j < m; j++) {
            erlang_pid p;
            CU_ASSERT_FATAL(ei_decode_pid(buf, index, &p) == 0);
            nd->chunk[g][k][j] = pid_id(&p);
        }
    }
    if (n > 0) ei_skip_term(buf, index);
    CU_ASSERT_FATAL(ei_decode_list_header(buf, index, &n) == 0);
    for (int i = 0; i < n; i++) {
        char op[MAXATOMLEN_UTF8];
        erlang_pid p;
        CU_ASSERT_FATAL(ei_decode_tuple_header(buf, index, &tup) == 0 && tup == 2);
        CU_ASSERT_FATAL(ei_decode_atom(buf, index, op) == 0 && ei_decode_pid(buf, index, &p) == 0);
        CU_ASSERT_FATAL(pid_node(&p) == nd->id);
        if (strcmp(op, "hello") == 0) {
            /* {hello, Holder}: the requests that follow are for that new
             * holder (the sim resets mon[] at the hello itself). */
            CU_ASSERT(p.num == 998);
            continue;
        }
        /* swarm_groups keeps no table of its monitors: a pid must be
         * asked for once, and never unmonitored. */
        CU_ASSERT(strcmp(op, "mon") == 0);
        if (nd->mon[p.num]) {
            nd->double_mons++;
        } else if (nd->dead[p.num]) {
            push_down(nd, (int)p.num); /* monitor of a dead pid fires */
        } else {
            nd->mon[p.num] = 1;
        }
    }
    if (n > 0) ei_skip_term(buf, index);
    CU_ASSERT_FATAL(ei_decode_list_header(buf, index, &n) == 0);
    for (int i = 0; i < n; i++) {
        erlang_pid caller;
        long ref;
        char res[MAXATOMLEN_UTF8];
        CU_ASSERT_FATAL(ei_decode_tuple_header(buf, index, &tup) == 0 && tup == 3);
        CU_ASSERT_FATAL(ei_decode_pid(buf, index, &caller) == 0 && ei_decode_long(buf, index, &ref) == 0);
        int type, size;
        ei_get_type(buf, index, &type, &size);
        if (type == ERL_LIST_EXT) { /* stats */
            ei_skip_term(buf, index);
            continue;
        }
        CU_ASSERT_FATAL(ei_decode_atom(buf, index, res) == 0);
        CU_ASSERT_FATAL(ref >= 0 && ref < nd->sim->nreq);
        req_t *r = &nd->sim->reqs[ref];
        CU_ASSERT(pid_node(&caller) == nd->id && r->node == nd->id);
        r->replies++;
        snprintf(r->result, sizeof r->result, "%.31s", res);
        int has = replica_has(nd, r->group, r->pid);
        r->ryw_ok = r->kind == 0 ? has : !has;
    }
    if (n > 0) ei_skip_term(buf, index);
    nd->batches++;
    /* After each batch: no pid twice; a pid that stays never changes chunk
     * (the tests that check `moved` never make a pid leave and rejoin). */
    for (int g = 0; g < MAXG; g++) {
        static int now[MAXN * MAXP];
        memset(now, 0, sizeof now);
        for (int k = 0; k < MAXCH; k++) {
            if (!nd->have_chunk[g][k]) continue;
            for (int i = 0; i < nd->chunk_len[g][k]; i++) {
                int p = nd->chunk[g][k][i];
                if (now[p]) nd->dups++;
                now[p] = k + 1;
            }
        }
        for (int p = 0; p < MAXN * MAXP; p++) {
            if (now[p] && nd->where[g][p] && now[p] != nd->where[g][p]) nd->moved++;
            nd->where[g][p] = now[p];
        }
    }
}

static void emit(void *ud, const char *cnode, const erlang_pid *to, const char *buf, size_t len) {
    node_t *nd = ud;
    if (cnode) {
        int j = node_by_cnode(cnode);
        CU_ASSERT_FATAL(j >= 0 && j != nd->id);
        q_push(&nd->sim->net[nd->id][j], buf, len);
        return;
    }
    CU_ASSERT_FATAL(to != NULL);
    int index, arity;
    char atom[MAXATOMLEN_UTF8];
    CU_ASSERT_FATAL(dec_envelope(buf, &index, &arity, atom) == 0);
    if (strcmp(atom, "gsynced") == 0) {
        nd->gsynced++;
        return;
    }
    CU_ASSERT_FATAL(strcmp(atom, "gbatch") == 0 && arity == 5);
    agent_batch(nd, buf, &index);
    CU_ASSERT((size_t)index == len);
}

static void flush_all(sim_t *s) {
    for (int i = 0; i < s->n; i++)
        if (s->nodes[i].g) sw_group_flush(s->nodes[i].g, emit, &s->nodes[i]);
}

/* Sends a local message {'$sw1', Tag, ...} built by the caller (x holds
 * the whole term); returns sw_group_local's result. */
static int local(node_t *nd, ei_x_buff *x) {
    int index, arity;
    char tag[MAXATOMLEN_UTF8];
    CU_ASSERT_FATAL(dec_envelope(x->buff, &index, &arity, tag) == 0);
    return sw_group_local(nd->g, sw_proto_lookup(tag), arity, x->buff, &index);
}

static void hello_from(node_t *nd, int with_replica) {
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 5);
    ei_x_encode_atom(&x, SW_PROTO_TAG);
    ei_x_encode_atom(&x, "ghello");
    erlang_pid proc = mkpid(nd->id, 999);
    ei_x_encode_pid(&x, &proc);
    if (with_replica) {
        /* The live local members the replica holds, one item per chunk. */
        int items = 0;
        for (int g = 0; g < MAXG; g++)
            for (int k = 0; k < MAXCH; k++) {
                int n = 0;
                for (int i = 0; nd->have_chunk[g][k] && i < nd->chunk_len[g][k]; i++) {
                    int p = nd->chunk[g][k][i];
                    n += p / MAXP == nd->id && !nd->dead[p % MAXP];
                }
                items += n > 0;
            }
        if (items) ei_x_encode_list_header(&x, items);
        for (int g = 0; g < MAXG; g++)
            for (int k = 0; k < MAXCH; k++) {
                if (!nd->have_chunk[g][k]) continue;
                int n = 0;
                for (int i = 0; i < nd->chunk_len[g][k]; i++) {
                    int p = nd->chunk[g][k][i];
                    n += p / MAXP == nd->id && !nd->dead[p % MAXP];
                }
                if (!n) continue;
                ei_x_encode_tuple_header(&x, 2);
                ei_x_encode_binary(&x, gn(g)->bytes, gn(g)->len);
                ei_x_encode_list_header(&x, n);
                for (int i = 0; i < nd->chunk_len[g][k]; i++) {
                    int p = nd->chunk[g][k][i];
                    if (p / MAXP != nd->id || nd->dead[p % MAXP]) continue;
                    erlang_pid ep = mkpid(nd->id, (unsigned)(p % MAXP));
                    ei_x_encode_pid(&x, &ep);
                }
                ei_x_encode_empty_list(&x);
            }
    }
    ei_x_encode_empty_list(&x);
    erlang_pid holder = mkpid(nd->id, 998);
    ei_x_encode_pid(&x, &holder);
    CU_ASSERT(local(nd, &x) == 0);
    ei_x_free(&x);
    memset(nd->mon, 0, sizeof nd->mon);
}

static void connect_pair(sim_t *s, int i, int j) {
    sw_group_conn_up(s->nodes[i].g, cnode_name(j));
    sw_group_conn_up(s->nodes[j].g, cnode_name(i));
}

static void disconnect_pair(sim_t *s, int i, int j) {
    if (s->nodes[i].g) sw_group_conn_down(s->nodes[i].g, cnode_name(j));
    if (s->nodes[j].g) sw_group_conn_down(s->nodes[j].g, cnode_name(i));
    q_clear(&s->net[i][j]);
    q_clear(&s->net[j][i]);
}

static void sim_init(sim_t *s, int n, uint64_t seed) {
    memset(s, 0, sizeof *s);
    s->n = n;
    s->seed = seed;
    for (int i = 0; i < n; i++) {
        node_t *nd = &s->nodes[i];
        nd->sim = s;
        nd->id = i;
        nd->beam_up = 1;
        nd->g = sw_group_new(beam_name(i));
        CU_ASSERT_FATAL(nd->g != NULL);
        for (int j = 0; j < n; j++)
            if (j != i) sw_group_peer_up(nd->g, beam_name(j), cnode_name(j));
        hello_from(nd, 0);
    }
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) connect_pair(s, i, j);
    flush_all(s);
}

static void sim_free(sim_t *s) {
    for (int i = 0; i < s->n; i++) {
        sw_group_free(s->nodes[i].g);
        q_clear(&s->nodes[i].down);
        for (int j = 0; j < s->n; j++) q_clear(&s->net[i][j]);
    }
}

/* Delivers one queued message (peer or gdown), chosen by the PRNG. Returns
 * 0 when nothing is in flight. */
static int step(sim_t *s) {
    int cand[MAXN * MAXN + MAXN], nc = 0;
    for (int i = 0; i < s->n; i++) {
        for (int j = 0; j < s->n; j++)
            if (s->net[i][j].n) cand[nc++] = i * MAXN + j;
        if (s->nodes[i].down.n && s->nodes[i].g) cand[nc++] = MAXN * MAXN + i;
    }
    if (!nc) return 0;
    int c = cand[splitmix(&s->seed) % (uint64_t)nc];
    if (c >= MAXN * MAXN) {
        node_t *nd = &s->nodes[c - MAXN * MAXN];
        msg_t *m = q_pop(&nd->down);
        int num;
        memcpy(&num, m->buf, sizeof num);
        free(m);
        erlang_pid p = mkpid(nd->id, (unsigned)num);
        sw_group_pid_down(nd->g, &p);
    } else {
        int i = c / MAXN, j = c % MAXN;
        msg_t *m = q_pop(&s->net[i][j]);
        if (s->nodes[j].g) {
            int index, arity;
            char a[MAXATOMLEN_UTF8];
            CU_ASSERT_FATAL(dec_envelope(m->buf, &index, &arity, a) == 0);
            CU_ASSERT(strcmp(a, "gops") == 0 && arity == 3);
            CU_ASSERT(sw_group_peer_ops(s->nodes[j].g, cnode_name(i), m->buf, &index) == 0);
        }
        free(m);
    }
    flush_all(s);
    return 1;
}

static void run(sim_t *s) {
    for (int k = 0; k < 1000000 && step(s); k++) {
    }
}

/* A join or leave of worker pid `num` on node `home` for group g, made by a
 * caller on node n. Returns the request number. */
static int request(sim_t *s, int n, int kind, int g, int home, int num) {
    CU_ASSERT_FATAL(s->nreq < MAXREQ);
    int id = s->nreq++;
    req_t *r = &s->reqs[id];
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->node = n;
    r->group = g;
    r->pid = home * MAXP + num;
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 6);
    ei_x_encode_atom(&x, SW_PROTO_TAG);
    ei_x_encode_atom(&x, kind == 0 ? "gjoin" : "gleave");
    erlang_pid caller = mkpid(n, CALLER_NUM + (unsigned)id);
    ei_x_encode_pid(&x, &caller);
    ei_x_encode_long(&x, id);
    ei_x_encode_binary(&x, gn(g)->bytes, gn(g)->len);
    erlang_pid p = mkpid(home, (unsigned)num);
    ei_x_encode_pid(&x, &p);
    CU_ASSERT(local(&s->nodes[n], &x) == 0);
    ei_x_free(&x);
    flush_all(s);
    return id;
}

/* Process num on node h dies; its swarm_groups reports it if monitored. */
static void kill_pid(sim_t *s, int h, int num) {
    node_t *nd = &s->nodes[h];
    nd->dead[num] = 1;
    if (nd->mon[num]) {
        nd->mon[num] = 0;
        push_down(nd, num);
    }
}

static int is_member(node_t *nd, int g, int pid) {
    erlang_pid p = mkpid(pid / MAXP, (unsigned)(pid % MAXP));
    return sw_group_is_member(nd->g, gn(g)->bytes, (size_t)gn(g)->len, &p);
}

/* Checks the invariants of the header comment on the nodes that are up. */
static int check_converged(sim_t *s, const char *ctx) {
    int bad = 0;
    for (int g = 0; g < MAXG; g++)
        for (int h = 0; h < s->n; h++) {
            if (!s->nodes[h].beam_up) continue;
            for (int num = 1; num < MAXP; num++) {
                int pid = h * MAXP + num;
                int truth = s->nodes[h].g && is_member(&s->nodes[h], g, pid);
                if (truth && s->nodes[h].dead[num]) {
                    if (bad++ < 5) printf("\n  %s: dead pid %d in group %d at its home\n", ctx, pid, g);
                }
                for (int n = 0; n < s->n; n++) {
                    node_t *nd = &s->nodes[n];
                    if (!nd->g || !nd->beam_up) continue;
                    int st = is_member(nd, g, pid), rep = replica_has(nd, g, pid);
                    if (st != truth || rep != truth) {
                        if (bad++ < 5)
                            printf("\n  %s: group %d pid %d: home %d says %d, node %d state %d replica %d\n",
                                   ctx, g, pid, h, truth, n, st, rep);
                    }
                }
                /* A member is monitored at its home (a pid that left every
                 * group may stay monitored until it dies). */
                if (s->nodes[h].g && truth && !s->nodes[h].mon[num] && !s->nodes[h].dead[num] &&
                    bad++ < 5)
                    printf("\n  %s: pid %d a member of group %d, not monitored\n", ctx, pid, g);
            }
        }
    for (int n = 0; n < s->n; n++)
        if (s->nodes[n].double_mons && bad++ < 5)
            printf("\n  %s: node %d asked %d times to monitor a pid it monitors\n", ctx, n,
                   s->nodes[n].double_mons);
    /* No pid twice in a replica, and counts agree. */
    for (int n = 0; n < s->n; n++) {
        node_t *nd = &s->nodes[n];
        if (!nd->g || !nd->beam_up) continue;
        for (int g = 0; g < MAXG; g++) {
            int total = 0;
            static char seen[MAXN * MAXP];
            memset(seen, 0, sizeof seen);
            for (int k = 0; k < MAXCH; k++) {
                if (!nd->have_chunk[g][k]) continue;
                for (int i = 0; i < nd->chunk_len[g][k]; i++) {
                    int p = nd->chunk[g][k][i];
                    if (seen[p]++ && bad++ < 5) printf("\n  %s: node %d group %d pid %d twice\n", ctx, n, g, p);
                    total++;
                }
            }
            if ((size_t)total != sw_group_count(nd->g, gn(g)->bytes, (size_t)gn(g)->len) && bad++ < 5)
                printf("\n  %s: node %d group %d replica %d members, state %zu\n", ctx, n, g, total,
                       sw_group_count(nd->g, gn(g)->bytes, (size_t)gn(g)->len));
        }
    }
    return bad;
}

/* ---- tests ------------------------------------------------------------- */

static void test_single_node(void) {
    sim_t *s = calloc(1, sizeof *s);
    sim_init(s, 1, 1);
    node_t *a = &s->nodes[0];
    int r1 = request(s, 0, 0, 0, 0, 5);
    int r2 = request(s, 0, 0, 0, 0, 5); /* again */
    int r3 = request(s, 0, 0, 1, 0, 5);
    run(s);
    CU_ASSERT(s->reqs[r1].replies == 1 && strcmp(s->reqs[r1].result, "ok") == 0 && s->reqs[r1].ryw_ok);
    CU_ASSERT(s->reqs[r2].replies == 1 && s->reqs[r2].ryw_ok && s->reqs[r3].ryw_ok);
    CU_ASSERT(sw_group_count(a->g, gn(0)->bytes, (size_t)gn(0)->len) == 1);
    CU_ASSERT(a->mon[5] == 1);
    sw_group_stats_t st;
    sw_group_stats(a->g, &st);
    CU_ASSERT(st.memberships == 2 && st.pids == 1 && st.groups == 2);
    int r4 = request(s, 0, 1, 0, 0, 5);
    int r5 = request(s, 0, 1, 0, 0, 5);
    int r6 = request(s, 0, 1, 2, 0, 7); /* never joined, unknown group */
    run(s);
    CU_ASSERT(s->reqs[r4].ryw_ok && s->reqs[r5].ryw_ok && s->reqs[r6].replies == 1);
    CU_ASSERT(a->mon[5] == 1); /* still in group 1 */
    request(s, 0, 1, 1, 0, 5);
    run(s);
    /* No group left, but still monitored (and known) until it dies. */
    CU_ASSERT(a->mon[5] == 1);
    sw_group_stats(a->g, &st);
    CU_ASSERT(st.memberships == 0 && st.pids == 1 && st.groups == 0);
    /* Joining again asks for no second monitor (check_converged counts). */
    request(s, 0, 0, 3, 0, 5);
    run(s);
    request(s, 0, 1, 3, 0, 5);
    run(s);
    CU_ASSERT(check_converged(s, "single") == 0);
    kill_pid(s, 0, 5);
    run(s);
    sw_group_stats(a->g, &st);
    CU_ASSERT(st.memberships == 0 && st.pids == 0 && st.groups == 0);
    /* A pid that left every group, then swarm_groups restarts (a new one
     * monitors nothing): the pid is forgotten; members are monitored anew,
     * once; the forgotten pid's rejoin asks for its monitor again. */
    request(s, 0, 0, 0, 0, 6);
    request(s, 0, 0, 0, 0, 7);
    run(s);
    request(s, 0, 1, 0, 0, 6);
    run(s);
    sw_group_stats(a->g, &st);
    CU_ASSERT(st.pids == 2 && a->mon[6] == 1 && a->mon[7] == 1);
    hello_from(a, 1);
    flush_all(s);
    run(s);
    sw_group_stats(a->g, &st);
    CU_ASSERT(st.pids == 1 && a->mon[6] == 0 && a->mon[7] == 1);
    request(s, 0, 0, 0, 0, 6);
    run(s);
    CU_ASSERT(a->mon[6] == 1);
    CU_ASSERT(check_converged(s, "single, after a new swarm_groups") == 0);
    sim_free(s);
    free(s);
}

static void test_remote_ryw(void) {
    sim_t *s = calloc(1, sizeof *s);
    sim_init(s, 3, 2);
    int ids[60];
    for (int i = 0; i < 60; i++) ids[i] = request(s, i % 3, 0, i % 4, (i + 1) % 3, 1 + i / 3);
    run(s);
    for (int i = 0; i < 60; i++)
        CU_ASSERT(s->reqs[ids[i]].replies == 1 && strcmp(s->reqs[ids[i]].result, "ok") == 0 &&
                  s->reqs[ids[i]].ryw_ok);
    CU_ASSERT(check_converged(s, "remote joins") == 0);
    for (int i = 0; i < 60; i += 2) ids[i] = request(s, (i + 2) % 3, 1, i % 4, (i + 1) % 3, 1 + i / 3);
    run(s);
    for (int i = 0; i < 60; i += 2) CU_ASSERT(s->reqs[ids[i]].replies == 1 && s->reqs[ids[i]].ryw_ok);
    CU_ASSERT(check_converged(s, "remote leaves") == 0);
    /* A pid of a node nobody knows: refused at once. */
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 6);
    ei_x_encode_atom(&x, SW_PROTO_TAG);
    ei_x_encode_atom(&x, "gjoin");
    erlang_pid caller = mkpid(0, CALLER_NUM), stranger = mkpid(0, 3);
    strcpy(stranger.node, "stranger@127.0.0.1");
    ei_x_encode_pid(&x, &caller);
    ei_x_encode_long(&x, s->nreq);
    s->reqs[s->nreq++].node = 0;
    ei_x_encode_binary(&x, gn(0)->bytes, gn(0)->len);
    ei_x_encode_pid(&x, &stranger);
    CU_ASSERT(local(&s->nodes[0], &x) == 0);
    ei_x_free(&x);
    flush_all(s);
    CU_ASSERT(strcmp(s->reqs[s->nreq - 1].result, "home_unreachable") == 0);
    sim_free(s);
    free(s);
}

static void test_pid_down(void) {
    sim_t *s = calloc(1, sizeof *s);
    sim_init(s, 3, 3);
    for (int h = 0; h < 3; h++)
        for (int num = 1; num <= 10; num++)
            for (int g = 0; g < 3; g++) request(s, (h + g) % 3, 0, g, h, num);
    run(s);
    CU_ASSERT(check_converged(s, "before deaths") == 0);
    kill_pid(s, 1, 3);
    kill_pid(s, 2, 7);
    kill_pid(s, 0, 10);
    run(s);
    CU_ASSERT(check_converged(s, "after deaths") == 0);
    for (int n = 0; n < 3; n++) CU_ASSERT(!is_member(&s->nodes[n], 0, 1 * MAXP + 3));
    /* A dead pid that joins is removed as soon as it is monitored. */
    request(s, 1, 0, 4, 2, 7);
    run(s);
    for (int n = 0; n < 3; n++) CU_ASSERT(!is_member(&s->nodes[n], 4, 2 * MAXP + 7));
    CU_ASSERT(check_converged(s, "dead join") == 0);
    sim_free(s);
    free(s);
}

static void test_node_down_transfer(void) {
    sim_t *s = calloc(1, sizeof *s);
    sim_init(s, 3, 4);
    for (int h = 0; h < 3; h++)
        for (int num = 1; num <= 8; num++) request(s, 0, 0, num % 3, h, num);
    request(s, 1, 0, 5, 2, 1); /* pid 2.1 in groups 1 and 5 */
    run(s);
    CU_ASSERT(check_converged(s, "before node down") == 0);
    /* Node 2 goes down: an op of its is still in flight to node 0. */
    request(s, 2, 0, 6, 2, 2);
    CU_ASSERT(s->net[2][0].n > 0);
    s->nodes[2].beam_up = 0;
    for (int n = 0; n < 2; n++) sw_group_peer_down(s->nodes[n].g, beam_name(2));
    flush_all(s);
    /* The late message is dropped by the disconnection; if it had been
     * delivered, node 0 would ignore it: deliver it by hand. */
    msg_t *m = q_pop(&s->net[2][0]);
    int index, arity;
    char a[MAXATOMLEN_UTF8];
    CU_ASSERT_FATAL(dec_envelope(m->buf, &index, &arity, a) == 0);
    sw_group_peer_ops(s->nodes[0].g, cnode_name(2), m->buf, &index);
    free(m);
    flush_all(s);
    CU_ASSERT(!is_member(&s->nodes[0], 6, 2 * MAXP + 2));
    disconnect_pair(s, 0, 2);
    disconnect_pair(s, 1, 2);
    sw_group_free(s->nodes[2].g);
    s->nodes[2].g = NULL;
    run(s);
    CU_ASSERT(check_converged(s, "after node down") == 0);
    for (int n = 0; n < 2; n++)
        for (int num = 1; num <= 8; num++) CU_ASSERT(!is_member(&s->nodes[n], num % 3, 2 * MAXP + num));
    sw_group_stats_t st;
    sw_group_stats(s->nodes[0].g, &st);
    CU_ASSERT(st.parked == 8);
    /* The restarted process 2.1 is now 0.50 (transfer asked on node 1, so
     * forwarded to node 0, the new pid's home). */
    erlang_pid old = mkpid(2, 1), nw = mkpid(0, 50);
    CU_ASSERT(sw_group_transfer(s->nodes[1].g, &old, &nw) == 0);
    flush_all(s);
    run(s);
    for (int n = 0; n < 2; n++) {
        CU_ASSERT(is_member(&s->nodes[n], 1, 0 * MAXP + 50));
        CU_ASSERT(is_member(&s->nodes[n], 5, 0 * MAXP + 50));
    }
    CU_ASSERT(s->nodes[0].mon[50] == 1);
    /* A live pid's groups are given too; it keeps them. */
    erlang_pid live = mkpid(1, 4), nw2 = mkpid(0, 51);
    CU_ASSERT(sw_group_transfer(s->nodes[0].g, &live, &nw2) == 1);
    flush_all(s);
    run(s);
    CU_ASSERT(is_member(&s->nodes[1], 1, 0 * MAXP + 51) && is_member(&s->nodes[1], 1, 1 * MAXP + 4));
    CU_ASSERT(check_converged(s, "after transfer") == 0);
    /* Parked memberships are forgotten after the parking window. */
    sw_group_tick(s->nodes[0].g, 31000);
    sw_group_tick(s->nodes[0].g, 62000);
    sw_group_stats(s->nodes[0].g, &st);
    CU_ASSERT(st.parked == 0);
    erlang_pid old2 = mkpid(2, 2), nw3 = mkpid(0, 52);
    CU_ASSERT(sw_group_transfer(s->nodes[0].g, &old2, &nw3) == 0);
    sim_free(s);
    free(s);
}

static void test_resync(void) {
    sim_t *s = calloc(1, sizeof *s);
    sim_init(s, 3, 5);
    for (int num = 1; num <= 20; num++) request(s, 1, 0, 0, 1, num);
    run(s);
    disconnect_pair(s, 0, 1);
    /* While 0 and 1 are apart, 1 changes its members. */
    for (int num = 1; num <= 10; num++) request(s, 1, 1, 0, 1, num);
    for (int num = 21; num <= 25; num++) request(s, 2, 0, 0, 1, num);
    kill_pid(s, 1, 15);
    run(s);
    CU_ASSERT(is_member(&s->nodes[0], 0, 1 * MAXP + 3)); /* stale until the sync */
    connect_pair(s, 0, 1);
    flush_all(s);
    run(s);
    CU_ASSERT(check_converged(s, "after resync") == 0);
    CU_ASSERT(!is_member(&s->nodes[0], 0, 1 * MAXP + 3) && is_member(&s->nodes[0], 0, 1 * MAXP + 22));
    sim_free(s);
    free(s);
}

static void test_cnode_restart(void) {
    sim_t *s = calloc(1, sizeof *s);
    sim_init(s, 3, 6);
    for (int h = 0; h < 3; h++)
        for (int num = 1; num <= 12; num++) request(s, (h + 1) % 3, 0, num % 4, h, num);
    run(s);
    CU_ASSERT(check_converged(s, "before restart") == 0);
    /* Node 0's C node dies alone; one of its members dies meanwhile. */
    disconnect_pair(s, 0, 1);
    disconnect_pair(s, 0, 2);
    sw_group_free(s->nodes[0].g);
    s->nodes[0].g = NULL;
    s->nodes[0].dead[4] = 1;
    s->nodes[0].mon[4] = 0;
    q_clear(&s->nodes[0].down);
    s->nodes[0].g = sw_group_new(beam_name(0));
    node_t *a = &s->nodes[0];
    for (int j = 1; j < 3; j++) sw_group_peer_up(a->g, beam_name(j), cnode_name(j));
    /* Peers connect before swarm_groups' hello: they get our hello only. */
    connect_pair(s, 0, 1);
    flush_all(s);
    hello_from(a, 1);
    connect_pair(s, 0, 2);
    flush_all(s);
    CU_ASSERT(a->gsynced == 1); /* the first one, at the initial start */
    run(s);
    CU_ASSERT(a->gsynced == 2);
    CU_ASSERT(check_converged(s, "after restart") == 0);
    for (int n = 0; n < 3; n++) CU_ASSERT(!is_member(&s->nodes[n], 0, 0 * MAXP + 4));
    CU_ASSERT(is_member(&s->nodes[2], 1, 0 * MAXP + 5));
    sim_free(s);
    free(s);
}

static void test_big_group(void) {
    sim_t *s = calloc(1, sizeof *s);
    sim_init(s, 3, 7);
    for (int num = 1; num <= 100; num++)
        for (int h = 0; h < 3; h++) request(s, (h + num) % 3, 0, 3, h, num);
    run(s);
    CU_ASSERT(sw_group_count(s->nodes[0].g, gn(3)->bytes, (size_t)gn(3)->len) == 300);
    CU_ASSERT(check_converged(s, "big group full") == 0);
    uint64_t seed = 99;
    for (int k = 0; k < 200; k++) {
        int h = (int)(splitmix(&seed) % 3), num = 1 + (int)(splitmix(&seed) % 100);
        if (splitmix(&seed) % 4 == 0) kill_pid(s, h, num);
        else request(s, (int)(splitmix(&seed) % 3), 1, 3, h, num);
        if (k % 7 == 0) step(s);
    }
    run(s);
    CU_ASSERT(check_converged(s, "big group leaves") == 0);
    for (int n = 0; n < 3; n++) CU_ASSERT(s->nodes[n].moved == 0 && s->nodes[n].dups == 0);
    sim_free(s);
    free(s);
}

static void test_random_schedules(void) {
    int failures = 0;
    for (uint64_t seed = 1; seed <= 150; seed++) {
        sim_t *s = calloc(1, sizeof *s);
        int n = 2 + (int)(seed % 3);
        sim_init(s, n, seed * 7919);
        uint64_t r = seed;
        for (int k = 0; k < 300; k++) {
            int op = (int)(splitmix(&r) % 10);
            int h = (int)(splitmix(&r) % (uint64_t)n), num = 1 + (int)(splitmix(&r) % 30);
            int g = (int)(splitmix(&r) % 4), caller = (int)(splitmix(&r) % (uint64_t)n);
            if (op < 6) request(s, caller, 0, g, h, num);
            else if (op < 9) request(s, caller, 1, g, h, num);
            else kill_pid(s, h, num);
            int steps = (int)(splitmix(&r) % 4);
            for (int i = 0; i < steps; i++) step(s);
        }
        run(s);
        char ctx[64];
        snprintf(ctx, sizeof ctx, "seed %llu n=%d", (unsigned long long)seed, n);
        int bad = check_converged(s, ctx);
        for (int i = 0; i < s->nreq; i++)
            if (s->reqs[i].replies != 1) bad++;
        for (int i = 0; i < n; i++) bad += s->nodes[i].dups;
        if (bad) failures++;
        sim_free(s);
        free(s);
    }
    CU_ASSERT_EQUAL(failures, 0);
}

/* Sends a gops envelope with the given op list body (count elements). */
static int send_ops(sim_t *s, int from, int to, void (*build)(ei_x_buff *x)) {
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, SW_PROTO_TAG);
    ei_x_encode_atom(&x, "gops");
    build(&x);
    int index, arity;
    char a[MAXATOMLEN_UTF8];
    CU_ASSERT_FATAL(dec_envelope(x.buff, &index, &arity, a) == 0);
    int bad = sw_group_peer_ops(s->nodes[to].g, cnode_name(from), x.buff, &index);
    ei_x_free(&x);
    flush_all(s);
    return bad;
}

static void build_garbage(ei_x_buff *x) {
    erlang_pid mine = mkpid(0, 9), foreign = mkpid(2, 9);
    ei_x_encode_list_header(x, 9);
    ei_x_encode_atom(x, "garbage");
    ei_x_encode_tuple_header(x, 1);
    ei_x_encode_atom(x, "join");
    ei_x_encode_tuple_header(x, 3); /* join of a pid whose home is not the sender */
    ei_x_encode_atom(x, "join");
    ei_x_encode_binary(x, gn(0)->bytes, gn(0)->len);
    ei_x_encode_pid(x, &foreign);
    ei_x_encode_tuple_header(x, 3); /* a GroupBin that is not a term */
    ei_x_encode_atom(x, "join");
    ei_x_encode_binary(x, "\x83\x64\x00\x09xx", 6);
    ei_x_encode_pid(x, &mine);
    ei_x_encode_tuple_header(x, 2); /* a sync listing foreign pids */
    ei_x_encode_atom(x, "sync");
    ei_x_encode_list_header(x, 1);
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_binary(x, gn(0)->bytes, gn(0)->len);
    ei_x_encode_list_header(x, 1);
    ei_x_encode_pid(x, &foreign);
    ei_x_encode_empty_list(x);
    ei_x_encode_empty_list(x);
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom(x, "down");
    ei_x_encode_long(x, 7);
    ei_x_encode_tuple_header(x, 3); /* transfer to a pid that is not ours */
    ei_x_encode_atom(x, "transfer");
    ei_x_encode_pid(x, &mine);
    ei_x_encode_pid(x, &mine);
    ei_x_encode_tuple_header(x, 4);
    ei_x_encode_atom(x, "unknown_op");
    ei_x_encode_long(x, 1);
    ei_x_encode_long(x, 2);
    ei_x_encode_long(x, 3);
    ei_x_encode_tuple_header(x, 3); /* one good op at the end still applies */
    ei_x_encode_atom(x, "join");
    ei_x_encode_binary(x, gn(1)->bytes, gn(1)->len);
    ei_x_encode_pid(x, &mine);
    ei_x_encode_empty_list(x);
}

static void build_not_a_list(ei_x_buff *x) { ei_x_encode_atom(x, "nope"); }

static void test_malformed_ops(void) {
    sim_t *s = calloc(1, sizeof *s);
    sim_init(s, 3, 8);
    run(s);
    sw_group_stats_t before, after;
    sw_group_stats(s->nodes[1].g, &before);
    CU_ASSERT(send_ops(s, 0, 1, build_garbage) == 8);
    CU_ASSERT(send_ops(s, 0, 1, build_not_a_list) == 1);
    sw_group_stats(s->nodes[1].g, &after);
    CU_ASSERT(after.bad_ops == before.bad_ops + 9);
    CU_ASSERT(after.memberships == 1);
    CU_ASSERT(is_member(&s->nodes[1], 1, 0 * MAXP + 9));
    CU_ASSERT(!is_member(&s->nodes[1], 0, 2 * MAXP + 9));
    /* From a C node that is not connected: ignored. */
    CU_ASSERT(send_ops(s, 3, 1, build_garbage) == 1);
    sim_free(s);
    free(s);
}

static void test_malformed_local(void) {
    sim_t *s = calloc(1, sizeof *s);
    sim_init(s, 1, 9);
    node_t *a = &s->nodes[0];
    erlang_pid p = mkpid(0, 1);
    const char *tags[] = {"gjoin", "gleave", "gdown", "ghello", "gtransfer", "gstats", "gwhat"};
    int bad = 0;
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
        ei_x_buff x;
        ei_x_new_with_version(&x);
        ei_x_encode_tuple_header(&x, 4);
        ei_x_encode_atom(&x, SW_PROTO_TAG);
        ei_x_encode_atom(&x, tags[i]);
        ei_x_encode_atom(&x, "not_a_pid");
        ei_x_encode_pid(&x, &p);
        bad += local(a, &x) != 0;
        ei_x_free(&x);
    }
    /* ghello whose list holds a non-term GroupBin: refused, nothing changes. */
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 5);
    ei_x_encode_atom(&x, SW_PROTO_TAG);
    ei_x_encode_atom(&x, "ghello");
    ei_x_encode_pid(&x, &p);
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_binary(&x, "\x83", 1);
    ei_x_encode_empty_list(&x);
    ei_x_encode_empty_list(&x);
    bad += local(a, &x) != 0;
    ei_x_free(&x);
    CU_ASSERT(bad == 8);
    sw_group_stats_t st;
    sw_group_stats(a->g, &st);
    CU_ASSERT(st.bad_msgs == 8 && st.memberships == 0);
    /* gstats works. */
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 4);
    ei_x_encode_atom(&x, SW_PROTO_TAG);
    ei_x_encode_atom(&x, "gstats");
    ei_x_encode_pid(&x, &p);
    ei_x_encode_long(&x, 0);
    s->nreq = 1;
    CU_ASSERT(local(a, &x) == 0);
    ei_x_free(&x);
    int batches = a->batches;
    flush_all(s);
    CU_ASSERT(a->batches == batches + 1);
    sim_free(s);
    free(s);
}

static void test_synced(void) {
    sim_t *s = calloc(1, sizeof *s);
    sim_init(s, 3, 10);
    run(s);
    for (int n = 0; n < 3; n++) CU_ASSERT(s->nodes[n].gsynced == 1 && sw_group_synced(s->nodes[n].g));
    /* A restarted node whose peer never answers: gsynced by timeout. */
    disconnect_pair(s, 0, 1);
    disconnect_pair(s, 0, 2);
    sw_group_free(s->nodes[0].g);
    node_t *a = &s->nodes[0];
    a->g = sw_group_new(beam_name(0));
    for (int j = 1; j < 3; j++) sw_group_peer_up(a->g, beam_name(j), cnode_name(j));
    sw_group_tick(a->g, 1000);
    hello_from(a, 1);
    connect_pair(s, 0, 1);
    flush_all(s);
    run(s);
    CU_ASSERT(a->gsynced == 1 && !sw_group_synced(a->g)); /* node 2 awaited */
    sw_group_tick(a->g, 5000);
    flush_all(s);
    CU_ASSERT(a->gsynced == 1);
    sw_group_tick(a->g, 11001);
    flush_all(s);
    CU_ASSERT(a->gsynced == 2);
    /* And by the awaited peer going down. */
    hello_from(a, 1);
    flush_all(s);
    CU_ASSERT(a->gsynced == 2);
    sw_group_peer_down(a->g, beam_name(2));
    flush_all(s);
    CU_ASSERT(a->gsynced == 3);
    sim_free(s);
    free(s);
}

static int suite_init(void) {
    sw_log_set_level(SW_LOG_ERROR);
    return 0;
}

static int suite_cleanup(void) {
    for (int i = 0; i < MAXG; i++) {
        free(gnames[i].bytes);
        gnames[i].bytes = NULL;
    }
    return 0;
}

int test_group_suite(void) {
    CU_pSuite s = CU_add_suite("group", suite_init, suite_cleanup);
    if (!s) return -1;
    if (!CU_add_test(s, "(a) one node: join, leave, idempotence, monitors", test_single_node) ||
        !CU_add_test(s, "(b) remote joins/leaves: read your writes", test_remote_ryw) ||
        !CU_add_test(s, "(c) a member's death", test_pid_down) ||
        !CU_add_test(s, "(d) node down, late ops, transfer", test_node_down_transfer) ||
        !CU_add_test(s, "(e) resync after a disconnection", test_resync) ||
        !CU_add_test(s, "(f) C node restart", test_cnode_restart) ||
        !CU_add_test(s, "(g) 300-member group", test_big_group) ||
        !CU_add_test(s, "(h) 150 random schedules", test_random_schedules) ||
        !CU_add_test(s, "(i) malformed peer ops", test_malformed_ops) ||
        !CU_add_test(s, "(j) malformed local messages", test_malformed_local) ||
        !CU_add_test(s, "(k) gsynced", test_synced))
        return -1;
    return 0;
}
