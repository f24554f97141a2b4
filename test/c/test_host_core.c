/* test_host_core.c - CUnit suite of the registry's and groups' host mode
 * (sw_tracker_set_host, sw_group_set_host): C hosts in the mesh of C nodes.
 *
 * The harness. Up to four nodes inside one process: C nodes a and b (a
 * tracker and a group state each, with their agents' hellos given by the
 * test) and C hosts h1 and h2 (a tracker and a group state in host mode,
 * with a model of the host runtime: it begins the host, and for every node
 * env->members lists it reports that node up, as the runtime does once it
 * is connected to that BEAM node). Each direction of a connection is one
 * FIFO of whole messages; settle() flushes every state, carries out the
 * connects and disconnects the trackers asked for (both ends' conn_up and
 * conn_down), and delivers until nothing is in flight (bounded). What a
 * state sends its agent (or a host itself) is read for the replies to
 * callers: result per request ref.
 *
 * Properties: a host's worker registers a name (owner: a C node) and gets
 * one yes, visible on every node; a host's pid and a C node's process
 * racing for a name get exactly one yes per name, the same winner
 * everywhere; a host's connection going down at a C node takes the host's
 * names and memberships there at once (and back with the next connection);
 * the ring of the C nodes is the same with and without a host; a host
 * finds the whole cluster through the members lists (env->members); two
 * hosts find and dial each other and see each other's entries; a C node
 * refuses {members, ...}; a host hello naming another node is refused; a
 * host with no member answers no_node_available. Random schedules (each
 * step delivers the head of a random queue) with one or two hosts: every
 * request answered once, exactly one yes per free name per round, the
 * winner's entry everywhere; with host links dropped at random (and
 * redialled), every node converges on the same names and groups. */
#include <CUnit/Basic.h>
#include <ei.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group.h"
#include "proto.h"
#include "sim.h"
#include "swarm_proto.h"
#include "tracker.h"

#define HN 4       /* a, b, h1, h2 */
#define H1 2
#define H2 3
#define NAMES 64
#define MAXREF 512
#define MAXMEM 16
#define AGENT_NUM 900
#define CALLER_NUM 1000

typedef struct {
    int alive, host;
    char beam[64], cnode[64];
    sw_tracker_t *t;
    sw_group_t *g;
    sw_tracker_env_t env;
    char result[MAXREF][48]; /* the reply to request ref (empty: none) */
    int replies[MAXREF];
    int adds, dels;          /* agent ops received */
    int synced;              /* {'$sw1', synced} received */
    /* env->members calls (a host), and which were acted on */
    char mem_beam[MAXMEM][64], mem_cnode[MAXMEM][64];
    int mem_done[MAXMEM], nmem, members_calls;
} hnode_t;

static hnode_t nd[HN];
static queue_t q[HN][HN];
static int up[HN][HN];
static struct {
    int from, to, connect;
} pend[64];
static int npend;
static uint64_t now;
static char *names[NAMES];
static size_t nlens[NAMES];

static int node_by_cnode(const char *cnode) {
    for (int i = 0; i < HN; i++)
        if (nd[i].alive && strcmp(nd[i].cnode, cnode) == 0) return i;
    return -1;
}

static erlang_pid hpid(int i, unsigned num) {
    erlang_pid p;
    memset(&p, 0, sizeof p);
    snprintf(p.node, sizeof p.node, "%s", nd[i].beam);
    p.num = num;
    p.creation = 1;
    return p;
}

static const char *nm(int k, size_t *len) {
    if (!names[k]) names[k] = tagged_bin("worker", k, &nlens[k]);
    *len = nlens[k];
    return names[k];
}

/* ---- env ---------------------------------------------------------------- */

static void env_connect(void *ud, const char *cnode) {
    int j = node_by_cnode(cnode);
    if (j < 0 || npend == 64) return;
    pend[npend].from = (int)((hnode_t *)ud - nd);
    pend[npend].to = j;
    pend[npend++].connect = 1;
}

static void env_disconnect(void *ud, const char *cnode) {
    int j = node_by_cnode(cnode);
    if (j < 0 || npend == 64) return;
    pend[npend].from = (int)((hnode_t *)ud - nd);
    pend[npend].to = j;
    pend[npend++].connect = 0;
}

static int env_connected(void *ud, const char *cnode) {
    int j = node_by_cnode(cnode);
    return j >= 0 && up[(hnode_t *)ud - nd][j];
}

static void env_members(void *ud, const char *beam, const char *cnode) {
    hnode_t *n = ud;
    n->members_calls++;
    for (int k = 0; k < n->nmem; k++)
        if (strcmp(n->mem_beam[k], beam) == 0 && strcmp(n->mem_cnode[k], cnode) == 0) return;
    if (n->nmem == MAXMEM) return;
    snprintf(n->mem_beam[n->nmem], 64, "%s", beam);
    snprintf(n->mem_cnode[n->nmem], 64, "%s", cnode);
    n->mem_done[n->nmem++] = 0;
}

/* ---- output ------------------------------------------------------------- */

/* {'$sw1', batch, Ops, Replies}: counts adds and dels, notes results. */
static void read_batch(hnode_t *n, const char *buf, int index) {
    int len, arity;
    if (ei_decode_list_header(buf, &index, &len) != 0) return;
    for (int k = 0; k < len; k++) {
        char op[MAXATOMLEN_UTF8];
        int start = index;
        ei_decode_tuple_header(buf, &index, &arity);
        ei_decode_atom(buf, &index, op);
        n->adds += strcmp(op, "add") == 0;
        n->dels += strcmp(op, "del") == 0;
        index = start;
        ei_skip_term(buf, &index);
    }
    if (len > 0) ei_skip_term(buf, &index);
    if (ei_decode_list_header(buf, &index, &len) != 0) return;
    for (int k = 0; k < len; k++) {
        erlang_pid caller;
        long ref;
        char *res = NULL;
        ei_decode_tuple_header(buf, &index, &arity);
        ei_decode_pid(buf, &index, &caller);
        ei_decode_long(buf, &index, &ref);
        if (ei_s_print_term(&res, buf, &index) < 0 || ref < 0 || ref >= MAXREF) {
            free(res);
            continue;
        }
        snprintf(n->result[ref], sizeof n->result[ref], "%s", res);
        n->replies[ref]++;
        free(res);
    }
}

static void emit_tracker(void *ud, sw_dest_t dest, const char *cnode, const char *buf, size_t len) {
    int i = (int)((hnode_t *)ud - nd);
    if (dest == SW_DEST_PEER) {
        int j = node_by_cnode(cnode);
        if (j >= 0 && up[i][j]) q_push(&q[i][j], buf, len);
        return;
    }
    int index, arity;
    char tag[MAXATOMLEN_UTF8];
    if (dec_envelope(buf, &index, &arity, tag) != 0) return;
    if (strcmp(tag, "batch") == 0) read_batch(&nd[i], buf, index);
    else if (strcmp(tag, "synced") == 0) nd[i].synced++;
}

static void emit_group(void *ud, const char *cnode, const erlang_pid *to, const char *buf,
                       size_t len) {
    int i = (int)((hnode_t *)ud - nd);
    (void)to; /* swarm_groups' batches: not modelled */
    if (!cnode) return;
    int j = node_by_cnode(cnode);
    if (j >= 0 && up[i][j]) q_push(&q[i][j], buf, len);
}

/* ---- the harness --------------------------------------------------------- */

static void link_up(int i, int j) {
    if (up[i][j]) return;
    up[i][j] = up[j][i] = 1;
    sw_tracker_conn_up(nd[i].t, nd[j].cnode);
    sw_group_conn_up(nd[i].g, nd[j].cnode);
    sw_tracker_conn_up(nd[j].t, nd[i].cnode);
    sw_group_conn_up(nd[j].g, nd[i].cnode);
}

static void link_down(int i, int j) {
    if (!up[i][j]) return;
    up[i][j] = up[j][i] = 0;
    q_clear(&q[i][j]);
    q_clear(&q[j][i]);
    sw_tracker_conn_down(nd[i].t, nd[j].cnode);
    sw_group_conn_down(nd[i].g, nd[j].cnode);
    sw_tracker_conn_down(nd[j].t, nd[i].cnode);
    sw_group_conn_down(nd[j].g, nd[i].cnode);
}

/* The host runtime: reports up each node env->members listed. */
static int runtime_step(void) {
    int did = 0;
    for (int i = 0; i < HN; i++) {
        hnode_t *n = &nd[i];
        if (!n->alive || !n->host) continue;
        for (int k = 0; k < n->nmem; k++) {
            if (n->mem_done[k]) continue;
            n->mem_done[k] = 1;
            did = 1;
            if (strcmp(n->mem_beam[k], n->mem_cnode[k]) != 0)
                sw_tracker_peer_up(n->t, n->mem_beam[k], n->mem_cnode[k]);
            sw_group_peer_up(n->g, n->mem_beam[k], n->mem_cnode[k]);
        }
    }
    return did;
}

static void deliver(int i, int j) {
    msg_t *m = q_pop(&q[i][j]);
    int index, arity;
    char tag[MAXATOMLEN_UTF8];
    if (dec_envelope(m->buf, &index, &arity, tag) == 0) {
        if (strcmp(tag, "ops") == 0) sw_tracker_peer_ops(nd[j].t, nd[i].cnode, m->buf, &index);
        else if (strcmp(tag, "gops") == 0) sw_group_peer_ops(nd[j].g, nd[i].cnode, m->buf, &index);
    }
    free(m);
}

/* Runs until nothing is in flight; 1 if it got there. */
static int settle(void) {
    for (int iter = 0; iter < 10000; iter++) {
        int did = 0;
        while (npend > 0) {
            int k = --npend;
            if (pend[k].connect) link_up(pend[k].from, pend[k].to);
            else link_down(pend[k].from, pend[k].to);
            did = 1;
        }
        did |= runtime_step();
        for (int i = 0; i < HN; i++) {
            if (!nd[i].alive) continue;
            sw_tracker_flush(nd[i].t, emit_tracker, &nd[i]);
            sw_group_flush(nd[i].g, emit_group, &nd[i]);
        }
        for (int i = 0; i < HN; i++)
            for (int j = 0; j < HN; j++)
                while (q[i][j].n > 0) {
                    deliver(i, j);
                    did = 1;
                }
        if (!did && npend == 0) return 1;
    }
    return 0;
}

static void tick_all(uint64_t ms) {
    now += ms;
    for (int i = 0; i < HN; i++) {
        if (!nd[i].alive) continue;
        sw_tracker_tick(nd[i].t, now);
        sw_group_tick(nd[i].g, now);
    }
}

static void node_new(int i, const char *beam, const char *cnode, int host) {
    hnode_t *n = &nd[i];
    memset(n, 0, sizeof *n);
    n->alive = 1;
    n->host = host;
    snprintf(n->beam, sizeof n->beam, "%s", beam);
    snprintf(n->cnode, sizeof n->cnode, "%s", cnode);
    n->env.connect = env_connect;
    n->env.disconnect = env_disconnect;
    n->env.connected = env_connected;
    n->env.members = env_members;
    n->t = sw_tracker_new(beam, cnode, &n->env, n);
    n->g = sw_group_new(beam);
    CU_ASSERT_FATAL(n->t != NULL && n->g != NULL);
    sw_group_set_connected(n->g, env_connected, n);
    if (host) {
        sw_tracker_set_host(n->t);
        sw_group_set_host(n->g);
    }
    sw_tracker_tick(n->t, now);
    sw_group_tick(n->g, now);
}

/* A C node (index 0 or 1) whose agent knows the C nodes in peers[0..np). */
static void sidecar_start(int i, const int *peers, int np) {
    node_new(i, beam_name(i), cnode_name(i), 0);
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_empty_list(&x);
    if (np) ei_x_encode_list_header(&x, np);
    for (int k = 0; k < np; k++) {
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, beam_name(peers[k]));
        ei_x_encode_atom(&x, cnode_name(peers[k]));
    }
    ei_x_encode_empty_list(&x);
    erlang_pid agent = hpid(i, AGENT_NUM);
    int index = 0;
    CU_ASSERT_EQUAL(sw_tracker_hello(nd[i].t, &agent, x.buff, &index), 0);
    sw_group_agent_hello(nd[i].g, x.buff, 0);
    /* swarm_groups' ghello: {'$sw1', ghello, Proc, [], Holder} */
    x.index = 0;
    ei_x_encode_version(&x);
    ei_x_encode_tuple_header(&x, 5);
    ei_x_encode_atom(&x, SW_PROTO_TAG);
    ei_x_encode_atom(&x, "ghello");
    erlang_pid proc = hpid(i, AGENT_NUM + 1), holder = hpid(i, AGENT_NUM + 2);
    ei_x_encode_pid(&x, &proc);
    ei_x_encode_empty_list(&x);
    ei_x_encode_pid(&x, &holder);
    int arity;
    char tag[MAXATOMLEN_UTF8];
    CU_ASSERT_EQUAL(dec_envelope(x.buff, &index, &arity, tag), 0);
    CU_ASSERT_EQUAL(sw_group_local(nd[i].g, sw_proto_lookup(tag), arity, x.buff, &index), 0);
    ei_x_free(&x);
}

/* A host that knows C node `seed` (its config's BEAM node): begun, then
 * that node reported up, as the runtime does once connected to it. */
static void host_start(int i, const char *node, int seed) {
    node_new(i, node, node, 1);
    erlang_pid self = hpid(i, 0);
    sw_tracker_host_begin(nd[i].t, &self);
    sw_group_host_begin(nd[i].g, &self);
    if (seed >= 0) {
        sw_tracker_peer_up(nd[i].t, beam_name(seed), cnode_name(seed));
        sw_group_peer_up(nd[i].g, beam_name(seed), cnode_name(seed));
    }
}

static void teardown(void) {
    for (int i = 0; i < HN; i++) {
        for (int j = 0; j < HN; j++) q_clear(&q[i][j]);
        if (nd[i].alive) {
            sw_tracker_free(nd[i].t);
            sw_group_free(nd[i].g);
        }
        memset(&nd[i], 0, sizeof nd[i]);
    }
    memset(up, 0, sizeof up);
    npend = 0;
}

/* a and b, connected and synced; h1 seeded with a (it finds b). */
static void cluster(int with_host) {
    int pa[] = {1}, pb[] = {0};
    now = 1000;
    sidecar_start(0, pa, 1);
    sidecar_start(1, pb, 1);
    tick_all(1000); /* a dials b, which did not exist at a's hello */
    if (with_host) host_start(H1, "h1@127.0.0.1", 0);
    CU_ASSERT_FATAL(settle());
}

/* ---- requests ------------------------------------------------------------ */

static void reg(int i, int ref, int name, const erlang_pid *pid) {
    ei_x_buff r;
    ei_x_new(&r);
    ei_x_encode_long(&r, ref);
    size_t nlen;
    const char *n = nm(name, &nlen);
    erlang_pid caller = hpid(i, CALLER_NUM + (unsigned)ref);
    sw_tracker_register(nd[i].t, &caller, r.buff, (size_t)r.index, n, nlen, pid, 0);
    ei_x_free(&r);
}

static int holds(int i, int name, const erlang_pid *pid) {
    size_t nlen;
    const char *n = nm(name, &nlen);
    erlang_pid got;
    if (!sw_tracker_lookup(nd[i].t, n, nlen, &got)) return 0;
    return pid == NULL || pid_eq(&got, pid);
}

static void join(int i, int group, const erlang_pid *pid) {
    size_t glen;
    char *g = tagged_bin("group", group, &glen);
    ei_x_buff r;
    ei_x_new(&r);
    ei_x_encode_long(&r, 0);
    erlang_pid caller = hpid(i, CALLER_NUM);
    sw_group_join(nd[i].g, &caller, r.buff, (size_t)r.index, g, glen, pid);
    ei_x_free(&r);
    free(g);
}

static int member(int i, int group, const erlang_pid *pid) {
    size_t glen;
    char *g = tagged_bin("group", group, &glen);
    int r = sw_group_is_member(nd[i].g, g, glen, pid);
    free(g);
    return r;
}

/* ---- the tests ------------------------------------------------------------ */

static void test_discovery(void) {
    cluster(1);
    /* Seeded with a, the host learnt b from a's members list, had it
     * reported up, and is connected to both; it lists a and b. */
    CU_ASSERT_TRUE(up[H1][0] && up[H1][1]);
    CU_ASSERT_TRUE(nd[H1].members_calls >= 2);
    int saw_a = 0, saw_b = 0;
    for (int k = 0; k < nd[H1].nmem; k++) {
        saw_a |= strcmp(nd[H1].mem_beam[k], beam_name(0)) == 0 &&
                 strcmp(nd[H1].mem_cnode[k], cnode_name(0)) == 0;
        saw_b |= strcmp(nd[H1].mem_beam[k], beam_name(1)) == 0 &&
                 strcmp(nd[H1].mem_cnode[k], cnode_name(1)) == 0;
        CU_ASSERT_STRING_NOT_EQUAL(nd[H1].mem_beam[k], "h1@127.0.0.1");
    }
    CU_ASSERT_TRUE(saw_a && saw_b);
    CU_ASSERT_EQUAL(sw_tracker_members(nd[H1].t), 2);
    CU_ASSERT_EQUAL(sw_tracker_synced(nd[H1].t), 1);
    CU_ASSERT_EQUAL(nd[H1].synced, 1);
    /* The C nodes keep two members each: the host is in no ring. */
    for (int i = 0; i < 2; i++) {
        sw_tracker_stats_t st;
        sw_tracker_stats(nd[i].t, &st);
        CU_ASSERT_EQUAL(st.members, 2);
        CU_ASSERT_EQUAL(st.bad_ops, 0);
        CU_ASSERT_EQUAL(sw_tracker_members(nd[i].t), 2);
    }
    sw_tracker_stats_t st;
    sw_tracker_stats(nd[H1].t, &st);
    CU_ASSERT_EQUAL(st.members, 2);
    CU_ASSERT_EQUAL(st.bad_ops, 0);
    teardown();
}

static void test_placement_unchanged(void) {
    /* Who owns each name at a, before and after a host joined. */
    int before[NAMES], after[NAMES];
    cluster(0);
    for (int k = 0; k < NAMES; k++) {
        size_t nlen;
        const char *n = nm(k, &nlen);
        before[k] = sw_tracker_takes_direct(nd[0].t, beam_name(1), n, nlen);
    }
    host_start(H1, "h1@127.0.0.1", 0);
    CU_ASSERT_FATAL(settle());
    CU_ASSERT_TRUE(up[H1][0] && up[H1][1]);
    int owned = 0;
    for (int k = 0; k < NAMES; k++) {
        size_t nlen;
        const char *n = nm(k, &nlen);
        after[k] = sw_tracker_takes_direct(nd[0].t, beam_name(1), n, nlen);
        CU_ASSERT_EQUAL(before[k], after[k]);
        /* Nobody takes a host's direct request, nor does a host. */
        CU_ASSERT_EQUAL(sw_tracker_takes_direct(nd[0].t, "h1@127.0.0.1", n, nlen), 0);
        CU_ASSERT_EQUAL(sw_tracker_takes_direct(nd[H1].t, beam_name(0), n, nlen), 0);
        owned += after[k];
    }
    CU_ASSERT_TRUE(owned > 0 && owned < NAMES); /* both C nodes own names */
    teardown();
}

static void test_host_registers(void) {
    cluster(1);
    erlang_pid w = hpid(H1, 7);
    for (int k = 0; k < NAMES; k++) reg(H1, k, k, &w);
    CU_ASSERT_FATAL(settle());
    for (int k = 0; k < NAMES; k++) {
        CU_ASSERT_EQUAL(nd[H1].replies[k], 1);
        CU_ASSERT_STRING_EQUAL(nd[H1].result[k], "yes");
        for (int i = 0; i < 2; i++) CU_ASSERT_TRUE(holds(i, k, &w));
        CU_ASSERT_TRUE(holds(H1, k, &w));
    }
    /* Registered again: no (the name is taken, even for the same pid). */
    reg(H1, NAMES, 0, &w);
    CU_ASSERT_FATAL(settle());
    CU_ASSERT_STRING_EQUAL(nd[H1].result[NAMES], "no");
    /* The host runtime's stream saw its names' adds. */
    CU_ASSERT_TRUE(nd[H1].adds >= NAMES);
    teardown();
}

static void test_race(void) {
    cluster(1);
    erlang_pid w = hpid(H1, 7), p = hpid(0, 3);
    /* Both requests made before anything is delivered but, for half of
     * the names, the host's first request sent on its way (so either
     * request can reach the name's owner first). */
    for (int k = 0; k < NAMES; k++) {
        reg(H1, k, k, &w);
        if (k % 2) {
            sw_tracker_flush(nd[H1].t, emit_tracker, &nd[H1]);
            for (int j = 0; j < 2; j++)
                while (q[H1][j].n > 0) deliver(H1, j);
        }
        reg(0, k, k, &p);
    }
    CU_ASSERT_FATAL(settle());
    int host_wins = 0;
    for (int k = 0; k < NAMES; k++) {
        CU_ASSERT_EQUAL(nd[H1].replies[k], 1);
        CU_ASSERT_EQUAL(nd[0].replies[k], 1);
        int hy = strcmp(nd[H1].result[k], "yes") == 0, ay = strcmp(nd[0].result[k], "yes") == 0;
        CU_ASSERT_EQUAL(hy + ay, 1);
        const erlang_pid *winner = hy ? &w : &p;
        host_wins += hy;
        for (int i = 0; i < 3; i++) CU_ASSERT_TRUE(holds(i, k, winner));
    }
    /* Either may win: both kinds of winner happen over 64 names. */
    CU_ASSERT_TRUE(host_wins > 0 && host_wins < NAMES);
    teardown();
}

static void test_host_conn_down(void) {
    cluster(1);
    erlang_pid w = hpid(H1, 7);
    for (int k = 0; k < 8; k++) reg(H1, k, k, &w);
    join(H1, 1, &w);
    CU_ASSERT_FATAL(settle());
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_TRUE(holds(i, 0, &w));
        CU_ASSERT_TRUE(member(i, 1, &w));
    }
    int dels = nd[0].dels;
    /* a loses its connection to the host: the host's names and
     * memberships go at a at once; b still holds them. */
    link_down(0, H1);
    for (int k = 0; k < 8; k++) {
        CU_ASSERT_FALSE(holds(0, k, NULL));
        CU_ASSERT_TRUE(holds(1, k, &w));
    }
    CU_ASSERT_FALSE(member(0, 1, &w));
    CU_ASSERT_TRUE(member(1, 1, &w));
    CU_ASSERT_FATAL(settle());
    CU_ASSERT_EQUAL(nd[0].dels - dels, 8); /* a's agent was told */
    /* The host dials again (about once a second) and its sync brings them
     * back. */
    tick_all(1000);
    CU_ASSERT_FATAL(settle());
    CU_ASSERT_TRUE(up[0][H1]);
    for (int k = 0; k < 8; k++) CU_ASSERT_TRUE(holds(0, k, &w));
    CU_ASSERT_TRUE(member(0, 1, &w));
    teardown();
}

/* agent_cnode_up at a host (sw_tracker_redial): it dials that node's C
 * node at once, without waiting for its redial tick; an unknown node, a
 * connected one, or a C node's tracker dial nothing. */
static void test_host_redial_now(void) {
    cluster(1);
    erlang_pid w = hpid(H1, 7);
    reg(H1, 0, 0, &w);
    CU_ASSERT_FATAL(settle());
    link_down(0, H1);
    CU_ASSERT_FATAL(settle());
    CU_ASSERT_FALSE(up[0][H1]);
    CU_ASSERT_FALSE(holds(0, 0, NULL));
    sw_tracker_redial(nd[H1].t, "nobody@h");
    sw_tracker_redial(nd[1].t, nd[0].beam); /* a C node's: nothing */
    sw_tracker_redial(nd[H1].t, nd[1].beam); /* connected: nothing */
    CU_ASSERT_EQUAL(npend, 0);
    sw_tracker_redial(nd[H1].t, nd[0].beam);
    CU_ASSERT_EQUAL(npend, 1);
    CU_ASSERT_FATAL(settle());
    CU_ASSERT_TRUE(up[0][H1]);
    CU_ASSERT_TRUE(holds(0, 0, &w));
    teardown();
}

static void test_host_groups(void) {
    cluster(1);
    erlang_pid w = hpid(H1, 7), p = hpid(1, 4);
    join(H1, 2, &w);
    join(1, 2, &p);
    CU_ASSERT_FATAL(settle());
    size_t glen;
    char *g = tagged_bin("group", 2, &glen);
    erlang_pid out[4];
    CU_ASSERT_EQUAL(sw_group_members(nd[H1].g, g, glen, out, 4), 2);
    int saw_w = 0, saw_p = 0;
    for (int k = 0; k < 2; k++) {
        saw_w |= pid_eq(&out[k], &w);
        saw_p |= pid_eq(&out[k], &p);
    }
    CU_ASSERT_TRUE(saw_w && saw_p);
    CU_ASSERT_EQUAL(sw_group_members(nd[H1].g, g, glen, out, 1), 2); /* the total */
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_TRUE(member(i, 2, &w));
        CU_ASSERT_EQUAL(sw_group_count(nd[i].g, g, glen), 2);
    }
    free(g);
    sw_group_stats_t st;
    sw_group_stats(nd[H1].g, &st);
    CU_ASSERT_EQUAL(st.bad_ops, 0);
    CU_ASSERT_EQUAL(sw_group_synced(nd[H1].g), 1);
    teardown();
}

static void test_two_hosts(void) {
    cluster(1);
    host_start(H2, "h2@127.0.0.1", 1);
    CU_ASSERT_FATAL(settle());
    /* Each found the other through a C node's members list; h1, the
     * smaller name, dialled. */
    CU_ASSERT_TRUE(up[H1][H2]);
    CU_ASSERT_TRUE(up[H2][0] && up[H2][1]);
    erlang_pid w1 = hpid(H1, 7), w2 = hpid(H2, 8);
    reg(H1, 0, 0, &w1);
    reg(H2, 0, 1, &w2);
    join(H2, 3, &w2);
    CU_ASSERT_FATAL(settle());
    CU_ASSERT_STRING_EQUAL(nd[H1].result[0], "yes");
    CU_ASSERT_STRING_EQUAL(nd[H2].result[0], "yes");
    for (int i = 0; i < HN; i++) {
        CU_ASSERT_TRUE(holds(i, 0, &w1));
        CU_ASSERT_TRUE(holds(i, 1, &w2));
        CU_ASSERT_TRUE(member(i, 3, &w2));
    }
    CU_ASSERT_EQUAL(sw_tracker_members(nd[H2].t), 2);
    /* h2's connection to h1 drops: h1's names go at h2, and come back
     * when h1 dials again. */
    link_down(H1, H2);
    CU_ASSERT_FALSE(holds(H2, 0, NULL));
    CU_ASSERT_FALSE(member(H1, 3, &w2));
    CU_ASSERT_TRUE(holds(0, 0, &w1));
    tick_all(1000);
    CU_ASSERT_FATAL(settle());
    CU_ASSERT_TRUE(up[H1][H2]);
    CU_ASSERT_TRUE(holds(H2, 0, &w1));
    CU_ASSERT_TRUE(member(H1, 3, &w2));
    for (int i = 0; i < HN; i++) {
        sw_tracker_stats_t st;
        sw_tracker_stats(nd[i].t, &st);
        CU_ASSERT_EQUAL(st.bad_ops, 0);
    }
    teardown();
}

/* {'$sw1', ops, [Op...]} with the ops given as encoded terms. */
static void ops_msg(ei_x_buff *x, const char *tag) {
    x->index = 0;
    ei_x_encode_version(x);
    ei_x_encode_tuple_header(x, 3);
    ei_x_encode_atom(x, SW_PROTO_TAG);
    ei_x_encode_atom(x, tag);
}

static int inject(int to, const char *from_cnode, ei_x_buff *x) {
    int index, arity;
    char tag[MAXATOMLEN_UTF8];
    CU_ASSERT_FATAL(dec_envelope(x->buff, &index, &arity, tag) == 0);
    return sw_tracker_peer_ops(nd[to].t, from_cnode, x->buff, &index);
}

static void test_members_refused_by_cnode(void) {
    cluster(0);
    ei_x_buff x;
    ei_x_new(&x);
    ops_msg(&x, "ops");
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "members");
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "x@127.0.0.1");
    ei_x_encode_atom(&x, "x@127.0.0.1");
    ei_x_encode_empty_list(&x);
    ei_x_encode_empty_list(&x);
    sw_tracker_stats_t st0, st1;
    sw_tracker_stats(nd[0].t, &st0);
    CU_ASSERT_EQUAL(inject(0, cnode_name(1), &x), 1);
    sw_tracker_stats(nd[0].t, &st1);
    CU_ASSERT_EQUAL(st1.bad_ops, st0.bad_ops + 1);
    ei_x_free(&x);
    teardown();
}

static void test_malformed_members_at_host(void) {
    cluster(1);
    int calls = nd[H1].members_calls;
    ei_x_buff x;
    ei_x_new(&x);
    /* {members, [{a, 1}]}, {members, notalist}, {members, [], extra} */
    ops_msg(&x, "ops");
    ei_x_encode_list_header(&x, 3);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "members");
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "a");
    ei_x_encode_long(&x, 1);
    ei_x_encode_empty_list(&x);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "members");
    ei_x_encode_atom(&x, "notalist");
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "members");
    ei_x_encode_empty_list(&x);
    ei_x_encode_atom(&x, "extra");
    ei_x_encode_empty_list(&x);
    sw_tracker_stats_t st0, st1;
    sw_tracker_stats(nd[H1].t, &st0);
    CU_ASSERT_EQUAL(inject(H1, cnode_name(0), &x), 3);
    sw_tracker_stats(nd[H1].t, &st1);
    CU_ASSERT_EQUAL(st1.bad_ops, st0.bad_ops + 3);
    CU_ASSERT_EQUAL(nd[H1].members_calls, calls);
    /* A register request sent to a host is refused: nobody's owner. */
    ops_msg(&x, "ops");
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_tuple_header(&x, 5);
    ei_x_encode_atom(&x, "reg_req");
    size_t nlen;
    const char *n = nm(0, &nlen);
    ei_x_encode_binary(&x, n, (int)nlen);
    erlang_pid p = hpid(0, 3), c = hpid(0, CALLER_NUM);
    ei_x_encode_pid(&x, &p);
    ei_x_encode_pid(&x, &c);
    ei_x_encode_long(&x, 1);
    ei_x_encode_empty_list(&x);
    CU_ASSERT_EQUAL(inject(H1, cnode_name(0), &x), 1);
    CU_ASSERT_FALSE(holds(H1, 0, NULL));
    ei_x_free(&x);
    teardown();
}

static void test_host_hello_checked(void) {
    cluster(0);
    ei_x_buff x;
    ei_x_new(&x);
    sw_tracker_stats_t st0, st1;
    /* {hello, X, host} from a connection named otherwise: a stranger. */
    ops_msg(&x, "ops");
    ei_x_encode_list_header(&x, 2);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "hello");
    ei_x_encode_atom(&x, "h9@127.0.0.1");
    ei_x_encode_atom(&x, "host");
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "sync");
    ei_x_encode_empty_list(&x);
    ei_x_encode_empty_list(&x);
    sw_tracker_stats(nd[0].t, &st0);
    CU_ASSERT_EQUAL(inject(0, "h8@127.0.0.1", &x), 1);
    sw_tracker_stats(nd[0].t, &st1);
    CU_ASSERT_EQUAL(st1.stranger_ops, st0.stranger_ops + 1);
    /* Nor may a host take a C node's BEAM node name: b@ connecting as a
     * host named b@ (whose C node swarm_b is a connected member). */
    ops_msg(&x, "ops");
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "hello");
    ei_x_encode_atom(&x, beam_name(1));
    ei_x_encode_atom(&x, "host");
    ei_x_encode_empty_list(&x);
    sw_tracker_stats(nd[0].t, &st0);
    CU_ASSERT_EQUAL(inject(0, beam_name(1), &x), 1);
    sw_tracker_stats(nd[0].t, &st1);
    CU_ASSERT_EQUAL(st1.stranger_ops, st0.stranger_ops + 1);
    CU_ASSERT_EQUAL(sw_tracker_members(nd[0].t), 2);
    /* A host named like its connection is taken: sync and all. */
    up[0][H1] = 0;
    ops_msg(&x, "ops");
    ei_x_encode_list_header(&x, 2);
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "hello");
    ei_x_encode_atom(&x, "h9@127.0.0.1");
    ei_x_encode_atom(&x, "host");
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "sync");
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_tuple_header(&x, 4);
    size_t nlen;
    const char *n = nm(5, &nlen);
    ei_x_encode_binary(&x, n, (int)nlen);
    erlang_pid w;
    memset(&w, 0, sizeof w);
    snprintf(w.node, sizeof w.node, "h9@127.0.0.1");
    w.num = 1;
    w.creation = 1;
    ei_x_encode_pid(&x, &w);
    ei_x_encode_ulonglong(&x, 1);
    ei_x_encode_atom(&x, "h9@127.0.0.1");
    ei_x_encode_empty_list(&x);
    ei_x_encode_empty_list(&x);
    sw_tracker_stats(nd[0].t, &st0);
    CU_ASSERT_EQUAL(inject(0, "h9@127.0.0.1", &x), 0);
    CU_ASSERT_TRUE(holds(0, 5, &w));
    /* It is no member, and its connection's loss takes its name. */
    CU_ASSERT_EQUAL(sw_tracker_members(nd[0].t), 2);
    sw_tracker_conn_down(nd[0].t, "h9@127.0.0.1");
    CU_ASSERT_FALSE(holds(0, 5, NULL));
    sw_tracker_stats(nd[0].t, &st1);
    CU_ASSERT_EQUAL(st1.bad_ops, st0.bad_ops);
    /* A plain hello naming the host's node from a host-named connection:
     * refused as ever (not swarm_<Beam>). */
    ops_msg(&x, "ops");
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "hello");
    ei_x_encode_atom(&x, "h9@127.0.0.1");
    ei_x_encode_empty_list(&x);
    CU_ASSERT_EQUAL(inject(0, "h9@127.0.0.1", &x), 1);
    ei_x_free(&x);
    teardown();
}

static void test_host_alone(void) {
    now = 1000;
    host_start(H1, "h1@127.0.0.1", -1);
    CU_ASSERT_FATAL(settle());
    CU_ASSERT_EQUAL(sw_tracker_members(nd[H1].t), 0);
    erlang_pid w = hpid(H1, 7);
    reg(H1, 0, 0, &w);
    CU_ASSERT_FATAL(settle());
    CU_ASSERT_STRING_EQUAL(nd[H1].result[0], "{error, no_node_available}");
    CU_ASSERT_FALSE(holds(H1, 0, NULL));
    /* No sync came: not synced, even after the sync timeout. */
    tick_all(20000);
    CU_ASSERT_FATAL(settle());
    CU_ASSERT_EQUAL(sw_tracker_synced(nd[H1].t), 0);
    CU_ASSERT_EQUAL(sw_group_synced(nd[H1].g), 0);
    CU_ASSERT_EQUAL(nd[H1].synced, 0);
    teardown();
}

/* ---- random schedules ------------------------------------------------------ */

static uint64_t rng;
static int ref_name[MAXREF], ref_node[MAXREF]; /* what request ref asked */
static erlang_pid ref_pid[MAXREF];

/* As settle(), but each step delivers the head of a queue picked at random
 * (each connection stays FIFO); with drops set, a link of a host is closed
 * now and then (what it held is lost). 1 once nothing is in flight. */
static int settle_random(int drops) {
    for (long step = 0; step < 200000; step++) {
        while (npend > 0) {
            int k = --npend;
            if (pend[k].connect) link_up(pend[k].from, pend[k].to);
            else link_down(pend[k].from, pend[k].to);
        }
        runtime_step();
        for (int i = 0; i < HN; i++) {
            if (!nd[i].alive) continue;
            sw_tracker_flush(nd[i].t, emit_tracker, &nd[i]);
            sw_group_flush(nd[i].g, emit_group, &nd[i]);
        }
        int cand[HN * HN], nc = 0;
        for (int i = 0; i < HN; i++)
            for (int j = 0; j < HN; j++)
                if (q[i][j].n > 0) cand[nc++] = i * HN + j;
        if (nc == 0) {
            if (npend == 0) return 1;
            continue;
        }
        int c = cand[splitmix(&rng) % (uint64_t)nc];
        int i = c / HN, j = c % HN;
        if (drops && (nd[i].host || nd[j].host) && splitmix(&rng) % 64 == 0) link_down(i, j);
        else deliver(i, j);
    }
    return 0;
}

/* Every live node holds the same pid (or none) for each name, and the same
 * members of each group; no reservation is left. */
static void check_converged(int ngroups) {
    for (int k = 0; k < 16; k++) {
        erlang_pid first;
        int have0 = -1;
        for (int i = 0; i < HN; i++) {
            if (!nd[i].alive) continue;
            size_t nlen;
            const char *n = nm(k, &nlen);
            erlang_pid got;
            int have = sw_tracker_lookup(nd[i].t, n, nlen, &got);
            if (have0 < 0) {
                have0 = have;
                first = got;
            } else {
                CU_ASSERT_EQUAL(have, have0);
                if (have && have0) CU_ASSERT_TRUE(pid_eq(&got, &first));
            }
        }
    }
    for (int gi = 0; gi < ngroups; gi++) {
        size_t glen;
        char *g = tagged_bin("group", gi, &glen);
        long count = -1;
        for (int i = 0; i < HN; i++) {
            if (!nd[i].alive) continue;
            long c = (long)sw_group_count(nd[i].g, g, glen);
            if (count < 0) count = c;
            CU_ASSERT_EQUAL(c, count);
        }
        free(g);
    }
    for (int i = 0; i < HN; i++) {
        if (!nd[i].alive) continue;
        sw_tracker_stats_t st;
        sw_tracker_stats(nd[i].t, &st);
        CU_ASSERT_EQUAL(st.reserved, 0);
        CU_ASSERT_EQUAL(st.bad_ops, 0);
    }
}

/* One seed: a, b, h1 (and h2 for odd seeds). Rounds of concurrent
 * registrations of 16 names by processes of every node, joins, worker
 * deaths and unregisters, delivered in random order. Without drops every
 * name gets exactly one yes per round; with drops of host links (then
 * redialled), the nodes still converge. */
static void random_seed(uint64_t seed, int drops) {
    rng = seed;
    cluster(1);
    int hosts = seed % 2 ? 2 : 1;
    if (hosts == 2) {
        host_start(H2, "h2@127.0.0.1", 1);
        CU_ASSERT_FATAL(settle());
    }
    int nodes[] = {0, 1, H1, H2}, nn = 2 + hosts;
    int ref = 0;
    for (int round = 0; round < 4; round++) {
        int first_ref = ref, was_free[16];
        for (int k = 0; k < 16; k++) was_free[k] = !holds(0, k, NULL);
        for (int k = 0; k < 16; k++) {
            for (int m = 0; m < nn; m++) {
                if (splitmix(&rng) % 2 || ref >= MAXREF) continue;
                int i = nodes[m];
                erlang_pid w = hpid(i, 10 + (unsigned)(splitmix(&rng) % 3) + 10u * (unsigned)round);
                ref_name[ref] = k;
                ref_node[ref] = i;
                ref_pid[ref] = w;
                reg(i, ref++, k, &w);
                if (splitmix(&rng) % 4 == 0) join(i, (int)(splitmix(&rng) % 3), &w);
            }
        }
        CU_ASSERT_FATAL(settle_random(drops));
        if (drops) {
            /* Hosts redial; their syncs heal what the drops left. */
            tick_all(1000);
            CU_ASSERT_FATAL(settle_random(0));
        } else {
            /* Every request answered once; a name free before the round
             * and asked for got exactly one yes, a taken one none; the
             * winner holds it everywhere. */
            for (int k = 0; k < 16; k++) {
                int yes = 0, asked = 0, win = -1;
                for (int r = first_ref; r < ref; r++) {
                    if (ref_name[r] != k) continue;
                    asked++;
                    CU_ASSERT_EQUAL(nd[ref_node[r]].replies[r], 1);
                    if (strcmp(nd[ref_node[r]].result[r], "yes") == 0) {
                        yes++;
                        win = r;
                    }
                }
                CU_ASSERT_EQUAL(yes, asked && was_free[k] ? 1 : 0);
                if (win >= 0)
                    for (int m = 0; m < nn; m++) CU_ASSERT_TRUE(holds(nodes[m], k, &ref_pid[win]));
            }
        }
        check_converged(3);
        /* Some workers die, some names are unregistered, at their homes. */
        for (int m = 0; m < nn; m++) {
            int i = nodes[m];
            erlang_pid w = hpid(i, 10 + (unsigned)(splitmix(&rng) % 3) + 10u * (unsigned)round);
            sw_tracker_pid_down(nd[i].t, &w);
            sw_group_pid_down(nd[i].g, &w);
        }
        CU_ASSERT_FATAL(settle_random(0));
        check_converged(3);
    }
    teardown();
}

static void test_random_schedules(void) {
    for (uint64_t seed = 1; seed <= 60; seed++) random_seed(seed, 0);
}

static void test_random_drops(void) {
    for (uint64_t seed = 1; seed <= 60; seed++) random_seed(seed, 1);
}

static void suite_cleanup_names(void) {
    for (int k = 0; k < NAMES; k++) {
        free(names[k]);
        names[k] = NULL;
    }
}

static int cleanup(void) {
    suite_cleanup_names();
    return 0;
}

int test_host_core_suite(void) {
    CU_pSuite s = CU_add_suite("host_core", NULL, cleanup);
    if (!s) return -1;
    if (!CU_add_test(s, "a host finds the cluster through members lists", test_discovery) ||
        !CU_add_test(s, "a host changes no ring", test_placement_unchanged) ||
        !CU_add_test(s, "a host's worker registers: one yes, seen everywhere", test_host_registers) ||
        !CU_add_test(s, "host and C node race for names: one yes each", test_race) ||
        !CU_add_test(s, "a host's connection down takes its names there", test_host_conn_down) ||
        !CU_add_test(s, "a host's groups and members/1", test_host_groups) ||
        !CU_add_test(s, "agent_cnode_up: a host dials at once", test_host_redial_now) ||
        !CU_add_test(s, "two hosts find and see each other", test_two_hosts) ||
        !CU_add_test(s, "a C node refuses members", test_members_refused_by_cnode) ||
        !CU_add_test(s, "a host counts malformed members ops", test_malformed_members_at_host) ||
        !CU_add_test(s, "a host hello must name its connection", test_host_hello_checked) ||
        !CU_add_test(s, "a host with no member decides nothing", test_host_alone) ||
        !CU_add_test(s, "random schedules: one yes per name, converged", test_random_schedules) ||
        !CU_add_test(s, "random host link drops: converged", test_random_drops))
        return -1;
    return 0;
}
