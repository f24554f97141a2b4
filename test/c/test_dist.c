/* test_dist.c - CUnit suite of the dispatcher (dist.c) on a registry and
 * groups without network (the sender has no node, so replies are dropped,
 * but where a test catches them through the out's local sink):
 * which part each {'$sw1', Tag, ...} reaches, by tag and by the connection
 * it came by, seen through the counters of the dispatcher, the registry
 * and the groups. */
#include <CUnit/Basic.h>
#include <ei.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "dist_send.h"
#include "group.h"
#include "log.h"
#include "swarm_proto.h"
#include "tracker.h"

#define BEAM "a@127.0.0.1"
#define CNODE "swarm_a@127.0.0.1"
#define OTHER "b@127.0.0.1"

typedef struct {
    sw_dist_out_t out;
    sw_dist_t d;
    sw_tracker_t *t;
    sw_group_t *g;
    sw_tracker_env_t env;
    ei_x_buff x;
} fix_t;

static erlang_pid pid_on(const char *node, unsigned num) {
    erlang_pid p;
    memset(&p, 0, sizeof p);
    strcpy(p.node, node);
    p.num = num;
    p.creation = 1;
    return p;
}

static void fix_init(fix_t *f) {
    memset(f, 0, sizeof *f);
    if (!getenv("SWARM_LOG")) sw_log_set_level(SW_LOG_ERROR);
    CU_ASSERT_FATAL(sw_dist_out_init(&f->out) == 0);
    f->t = sw_tracker_new(BEAM, CNODE, &f->env, f);
    f->g = sw_group_new(BEAM);
    CU_ASSERT_FATAL(f->t && f->g);
    CU_ASSERT_FATAL(sw_dist_init(&f->d, &f->out, f->t, f->g, BEAM) == 0);
    ei_x_new(&f->x);
}

static void fix_close(fix_t *f) {
    ei_x_free(&f->x);
    sw_dist_close(&f->d);
    sw_tracker_free(f->t);
    sw_group_free(f->g);
    sw_dist_out_close(&f->out);
}

/* Starts a frame {6, From, '', swarm}, then {'$sw1', tag, ...} of arity
 * `arity` (NULL tag: the envelope alone, the caller adds the rest). */
static ei_x_buff *frame(fix_t *f, const char *from_node, const char *tag, int arity) {
    erlang_pid from = pid_on(from_node, 5);
    ei_x_buff *x = &f->x;
    x->index = 0;
    ei_x_encode_version(x);
    ei_x_encode_tuple_header(x, 4);
    ei_x_encode_long(x, SW_DOP_REG_SEND);
    ei_x_encode_pid(x, &from);
    ei_x_encode_atom(x, "");
    ei_x_encode_atom(x, SW_SERVER_NAME);
    ei_x_encode_version(x);
    ei_x_encode_tuple_header(x, arity);
    ei_x_encode_atom(x, SW_PROTO_TAG);
    if (tag) ei_x_encode_atom(x, tag);
    return x;
}

static void feed(fix_t *f, const char *conn_peer) {
    sw_dist_handle(&f->d, conn_peer, f->x.buff, (size_t)f->x.index);
}

static uint64_t group_bad(fix_t *f) {
    sw_group_stats_t gs;
    sw_group_stats(f->g, &gs);
    return gs.bad_msgs;
}

/* {Caller, Ref} elements of a request. */
static void caller_ref(ei_x_buff *x, const char *node) {
    erlang_pid c = pid_on(node, 7);
    ei_x_encode_pid(x, &c);
    ei_x_encode_long(x, 42);
}

static void test_local_tags(void) {
    fix_t f;
    fix_init(&f);
    /* The agent's hello reaches the tracker, which records the agent. */
    ei_x_buff *x = frame(&f, BEAM, "hello", 5);
    erlang_pid agent = pid_on(BEAM, 9);
    ei_x_encode_pid(x, &agent);
    ei_x_encode_empty_list(x);
    ei_x_encode_empty_list(x);
    feed(&f, BEAM);
    CU_ASSERT(f.d.have_agent && f.d.agent.num == 9);
    CU_ASSERT(f.d.st.msgs_in == 1 && f.d.st.unknown_msgs == 0);
    /* ping and stats are answered here (the replies find no connection). */
    caller_ref(frame(&f, BEAM, "ping", 4), BEAM);
    feed(&f, BEAM);
    caller_ref(frame(&f, BEAM, "stats", 4), BEAM);
    feed(&f, BEAM);
    CU_ASSERT(f.d.st.msgs_in == 3 && f.d.st.unknown_msgs == 0);
    /* A group tag reaches the groups: gdown of a pid nobody knows is fine. */
    erlang_pid p = pid_on(BEAM, 11);
    ei_x_encode_pid(frame(&f, BEAM, "gdown", 3), &p);
    feed(&f, BEAM);
    CU_ASSERT(f.d.st.unknown_msgs == 0 && group_bad(&f) == 0);
    /* pid_down and peer_down reach the tracker (and the groups). */
    ei_x_encode_pid(frame(&f, BEAM, "pid_down", 3), &p);
    feed(&f, BEAM);
    ei_x_encode_atom(frame(&f, BEAM, "peer_down", 3), OTHER);
    feed(&f, BEAM);
    CU_ASSERT(f.d.st.msgs_in == 6 && f.d.st.unknown_msgs == 0);
    fix_close(&f);
}

static void test_unknown_and_malformed(void) {
    fix_t f;
    fix_init(&f);
    /* A g-tag that is not the groups' still goes to them (bad_msgs), and
     * is unknown here; so is gops from our own BEAM node. */
    ei_x_encode_long(frame(&f, BEAM, "gunknown", 3), 1);
    feed(&f, BEAM);
    CU_ASSERT(f.d.st.unknown_msgs == 1 && group_bad(&f) == 1);
    ei_x_encode_empty_list(frame(&f, BEAM, "gops", 3));
    feed(&f, BEAM);
    CU_ASSERT(f.d.st.unknown_msgs == 2 && group_bad(&f) == 2);
    /* ops from our own BEAM node, and a tag of the table that is no local
     * message (yes), are unknown; the groups never see them. */
    ei_x_encode_empty_list(frame(&f, BEAM, "ops", 3));
    feed(&f, BEAM);
    ei_x_encode_long(frame(&f, BEAM, "yes", 3), 1);
    feed(&f, BEAM);
    CU_ASSERT(f.d.st.unknown_msgs == 4 && group_bad(&f) == 2);
    CU_ASSERT(f.d.st.msgs_in == 4);
    /* reg whose seventh element is not retry is malformed. */
    ei_x_buff *x = frame(&f, BEAM, "reg", 7);
    caller_ref(x, BEAM);
    ei_x_encode_binary(x, "\x83\x64\x00\x01n", 5);
    erlang_pid p = pid_on(BEAM, 12);
    ei_x_encode_pid(x, &p);
    ei_x_encode_atom(x, "confirm");
    feed(&f, BEAM);
    CU_ASSERT(f.d.st.unknown_msgs == 5);
    /* A tag that is not an atom, and another envelope: not counted in. */
    ei_x_encode_long(frame(&f, BEAM, NULL, 2), 3);
    feed(&f, BEAM);
    CU_ASSERT(f.d.st.unknown_msgs == 6 && f.d.st.msgs_in == 5);
    /* Peer C nodes may send only ops, gops, ping and direct reg / reg_mfa. */
    caller_ref(frame(&f, "swarm_b@127.0.0.1", "stats", 4), "swarm_b@127.0.0.1");
    feed(&f, "swarm_b@127.0.0.1");
    CU_ASSERT(f.d.st.unknown_msgs == 7);
    /* A control that is not a tuple. */
    f.x.index = 0;
    ei_x_encode_version(&f.x);
    ei_x_encode_atom(&f.x, "junk");
    feed(&f, BEAM);
    CU_ASSERT(f.d.st.bad_ctrl == 1);
    fix_close(&f);
}

/* A direct register request from a caller of another BEAM node must name a
 * caller of that node. */
static void test_direct_reg(void) {
    fix_t f;
    fix_init(&f);
    ei_x_buff *x = frame(&f, OTHER, "reg", 6);
    caller_ref(x, BEAM); /* not a process of OTHER */
    ei_x_encode_binary(x, "\x83\x64\x00\x01n", 5);
    erlang_pid p = pid_on(OTHER, 12);
    ei_x_encode_pid(x, &p);
    feed(&f, OTHER);
    CU_ASSERT(f.d.st.unknown_msgs == 1 && f.d.st.redirects == 0);
    fix_close(&f);
}

/* The replies a ping test captures (through the out's local sink). */
typedef struct {
    int n;
    erlang_pid to[4];
    int pong[4];
} pongs_t;

static int capture(void *ud, const erlang_pid *to, const char *msg, size_t len) {
    pongs_t *p = ud;
    int i = 0, arity;
    long ref;
    char atom[MAXATOMLEN];
    if (p->n >= 4) return -1;
    p->to[p->n] = *to;
    p->pong[p->n] = ei_decode_version(msg, &i, NULL) == 0 && ei_decode_tuple_header(msg, &i, &arity) == 0 &&
                    arity == 2 && ei_decode_long(msg, &i, &ref) == 0 && ref == 42 &&
                    ei_decode_atom(msg, &i, atom) == 0 && strcmp(atom, "pong") == 0 && (size_t)i == len;
    p->n++;
    return 0;
}

/* A ping is answered {Ref, pong} from our BEAM node, from a peer C node
 * and from another BEAM node; from another node only for a caller of that
 * node, and only in its 4-tuple form. */
static void test_ping_from_any_node(void) {
    fix_t f;
    pongs_t got = {0};
    fix_init(&f);
    f.out.local = capture;
    f.out.local_ud = &got;
    const char *from[] = {BEAM, "swarm_b@127.0.0.1", OTHER};
    for (int k = 0; k < 3; k++) {
        caller_ref(frame(&f, from[k], "ping", 4), from[k]);
        feed(&f, from[k]);
    }
    CU_ASSERT(got.n == 3 && f.d.st.unknown_msgs == 0 && f.d.st.msgs_in == 3);
    for (int k = 0; k < got.n && k < 3; k++)
        CU_ASSERT(got.pong[k] && strcmp(got.to[k].node, from[k]) == 0);
    /* A caller of a third node, and a ping of another arity: refused. */
    caller_ref(frame(&f, OTHER, "ping", 4), BEAM);
    feed(&f, OTHER);
    ei_x_encode_long(frame(&f, OTHER, "ping", 3), 1);
    feed(&f, OTHER);
    CU_ASSERT(got.n == 3 && f.d.st.unknown_msgs == 2);
    fix_close(&f);
}

int test_dist_suite(void) {
    CU_pSuite s = CU_add_suite("dist", NULL, NULL);
    if (!s) return 1;
    if (!CU_add_test(s, "local tags reach their part", test_local_tags) ||
        !CU_add_test(s, "unknown and malformed messages", test_unknown_and_malformed) ||
        !CU_add_test(s, "direct reg from a stranger's caller", test_direct_reg) ||
        !CU_add_test(s, "ping from any node", test_ping_from_any_node))
        return 1;
    return 0;
}
